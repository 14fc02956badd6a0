//! The HS256 key that signs and verifies tokens.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

/// How many random bytes [`Secret::generate`] makes (as Lotus does).
pub const SECRET_LEN: usize = 32;

/// The HMAC key of a node's tokens. Its `Debug` output never shows the
/// key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    bytes: Vec<u8>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.bytes.len())
    }
}

/// A secret file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Reading the file failed (permissions, I/O).
    #[error("cannot read the token secret {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// There is no file: the service that owns the secret creates it when
    /// it first starts ([`Secret::load_or_create`]); a command that only
    /// reads ([`Secret::load`]) never does.
    #[error("the token secret {} does not exist: start the service once to create it, or check the path", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Creating the file or its directory failed.
    #[error("cannot create the token secret {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a secret: fix or remove it (removing it
    /// invalidates every token made with it).
    #[error("the token secret {} is invalid: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Secret {
    /// A fresh secret of [`SECRET_LEN`] random bytes.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self { bytes }
    }

    /// A secret from its key bytes (a Lotus node's `auth-jwt-private` key,
    /// a venus-auth secret).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
        }
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Reads the secret stored at `path` (one line of hex), or, when there
    /// is no file, generates one and stores it there, creating the parent
    /// directories; the file is created with mode 0600 on Unix.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self, SecretError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(SecretError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Reads the secret stored at `path` (one line of hex) and never
    /// creates anything: a missing file is [`SecretError::Missing`], naming
    /// it. For commands that only read (printing a token, calling an API),
    /// which must not leave a fresh secret that the running service does
    /// not know.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SecretError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SecretError::Missing {
                path: path.to_path_buf(),
            }),
            Err(source) => Err(SecretError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Self, SecretError> {
        let invalid = |reason: String| SecretError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let hex_text = text.trim();
        if hex_text.is_empty() {
            return Err(invalid("the file is empty".into()));
        }
        let bytes =
            hex::decode(hex_text).map_err(|e| invalid(format!("expected one line of hex: {e}")))?;
        if bytes.len() < 16 {
            return Err(invalid(format!(
                "{} bytes is too short for a key (at least 16)",
                bytes.len()
            )));
        }
        warn_if_readable_by_others(path);
        Ok(Self { bytes })
    }

    fn create(path: &Path) -> Result<Self, SecretError> {
        let create_err = |source| SecretError::Create {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(create_err)?;
        }
        let secret = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = match options.open(path) {
            Ok(f) => f,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                return Self::parse(path, &text);
            }
            Err(e) => return Err(create_err(e)),
        };
        writeln!(file, "{}", hex::encode(&secret.bytes))
            .and_then(|()| file.sync_all())
            .map_err(create_err)?;
        tracing::info!(path = %path.display(), "created a new token secret");
        Ok(secret)
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the token secret is readable by other users: chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_never_creates_and_reads_what_load_or_create_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/admin.secret");
        let e = Secret::load(&path).unwrap_err();
        assert!(matches!(e, SecretError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("sub/admin.secret"), "{e}");
        assert!(!dir.path().join("sub").exists(), "load created a folder");
        let made = Secret::load_or_create(&path).unwrap();
        assert_eq!(Secret::load(&path).unwrap(), made);
    }
}
