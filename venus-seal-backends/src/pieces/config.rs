//! [`PieceStoreConfig`]: a piece store chosen in a binary's config file.

//!
//! This file needs only serde, thiserror and url (the fuzz targets compile
//! it on its own); building the stores is in `build.rs`.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

/// Which piece store to use, as a `[pieces]` config section reads it
/// (`kind = "local" | "http" | "droplet" | "object"`; unknown keys
/// refused).
///
/// ```
/// use venus_seal_backends::pieces::PieceStoreConfig;
/// let c: PieceStoreConfig = serde_json::from_str(
///     r#"{"kind": "http", "url": "http://manager:1790", "token_file": "piece.token"}"#,
/// ).unwrap();
/// c.check().unwrap();
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum PieceStoreConfig {
    /// Files `<cid>` or `<cid>.car` in these directories, searched in
    /// order.
    Local {
        /// At least one directory.
        dirs: Vec<PathBuf>,
    },
    /// `GET <url>/piece/<cid>`, e.g. the sector manager's piece proxy.
    Http {
        /// `http://` or `https://` base URL.
        url: String,
        /// A file holding the bearer token (JWT) to send, if the server
        /// needs one (the manager's proxy needs `read`).
        #[serde(default)]
        token_file: Option<PathBuf>,
        /// Resumes of a dropped stream without progress (default 5).
        #[serde(default)]
        resumes: Option<u32>,
    },
    /// droplet's (venus-market's) piece service:
    /// `GET <url>/resource?resource-id=<cid>` ([`HttpPieceStore::droplet`](super::HttpPieceStore::droplet)).
    Droplet {
        /// droplet's API origin, `http://` or `https://`, e.g.
        /// `http://droplet:41235`.
        url: String,
        /// A file holding a droplet token (venus-auth JWT), if droplet
        /// checks tokens on its piece service.
        #[serde(default)]
        token_file: Option<PathBuf>,
        /// Resumes of a dropped stream without progress (default 5).
        #[serde(default)]
        resumes: Option<u32>,
    },
    /// An object store: `s3://bucket/prefix` (backends feature `s3`;
    /// settings from `AWS_*` environment variables), `file:///dir`,
    /// `memory:///`. Objects `<prefix>/<cid>` or `<prefix>/<cid>.car`.
    Object {
        /// The store's URL.
        url: String,
    },
}

/// A [`PieceStoreConfig`] that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PieceConfigError {
    /// `dirs` is empty.
    #[error("dirs: give at least one directory holding pieces")]
    NoDirs,
    /// `url` does not parse or has the wrong scheme.
    #[error("url {url:?}: {reason}")]
    BadUrl {
        /// The URL as written (an HTTP URL's password is not shown).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// `token_file` cannot be read, or is empty.
    #[error("token_file {}: {reason}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl PieceStoreConfig {
    /// The token file of an HTTP or droplet store, for resolving relative
    /// paths.
    pub fn token_file_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            PieceStoreConfig::Http { token_file, .. }
            | PieceStoreConfig::Droplet { token_file, .. } => token_file.as_mut(),
            PieceStoreConfig::Local { .. } | PieceStoreConfig::Object { .. } => None,
        }
    }

    /// Checks what can be checked without touching the machine or the
    /// network.
    pub fn check(&self) -> Result<(), PieceConfigError> {
        match self {
            PieceStoreConfig::Local { dirs } if dirs.is_empty() => Err(PieceConfigError::NoDirs),
            PieceStoreConfig::Local { .. } => Ok(()),
            PieceStoreConfig::Http { url, .. } | PieceStoreConfig::Droplet { url, .. } => {
                http_url(url).map(drop)
            }
            PieceStoreConfig::Object { url } => object_url(url).map(drop),
        }
    }
}

/// `url` as it may be logged: no password, no query values.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("<redacted>"));
    }
    if shown.query().is_some() {
        shown.set_query(Some("<redacted>"));
    }
    shown.to_string()
}

/// `url` parsed, with one of `schemes` (`want` says which in words).
fn parse_url(url: &str, schemes: &[&str], want: &str) -> Result<Url, PieceConfigError> {
    let bad = |reason: String| PieceConfigError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL ({e}): {want}")))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(PieceConfigError::BadUrl {
            url: redact(&parsed),
            reason: want.to_string(),
        });
    }
    Ok(parsed)
}

pub(crate) fn http_url(url: &str) -> Result<Url, PieceConfigError> {
    parse_url(
        url,
        &["http", "https"],
        "an HTTP piece store needs an http:// or https:// URL",
    )
}

fn object_url(url: &str) -> Result<Url, PieceConfigError> {
    let parsed = parse_url(
        url,
        &["s3", "s3a", "file", "memory"],
        "an object store URL starts with s3://, file:// or memory://",
    )?;
    if parsed.scheme().starts_with("s3") && !cfg!(feature = "s3") {
        return Err(PieceConfigError::BadUrl {
            url: url.to_string(),
            reason: "S3 needs venus-seal-backends built with the `s3` feature".into(),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PieceStoreConfig, String> {
        let c: PieceStoreConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
        c.check().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn bad_configs_name_what_is_wrong() {
        for (json, needle) in [
            (r#"{"kind": "local", "dirs": []}"#, "dirs"),
            (r#"{"kind": "local", "dir": ["/x"]}"#, "dir"),
            (r#"{"kind": "ftp", "url": "x"}"#, "ftp"),
            (r#"{"kind": "http", "url": "manager:1790"}"#, "http://"),
            (r#"{"kind": "http", "url": "not a url"}"#, "not a URL"),
            (r#"{"kind": "object", "url": "http://x/y"}"#, "s3://"),
            (r#"{"kind": "droplet", "url": "droplet:41235"}"#, "http://"),
            (
                r#"{"kind": "droplet", "url": "http://d", "dirs": []}"#,
                "dirs",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
        parse(r#"{"kind": "object", "url": "memory:///"}"#).unwrap();
        parse(r#"{"kind": "droplet", "url": "http://droplet:41235", "token_file": "t"}"#).unwrap();
        parse(r#"{"kind": "local", "dirs": ["/a", "/b"]}"#).unwrap();
    }

    #[test]
    fn a_missing_or_empty_token_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let c = PieceStoreConfig::Http {
            url: "http://127.0.0.1:1".into(),
            token_file: Some(path.clone()),
            resumes: None,
        };
        let err = c.build().unwrap_err().to_string();
        assert!(
            err.contains("token_file") && err.contains(&path.display().to_string()),
            "{err}"
        );
        std::fs::write(&path, "\n").unwrap();
        let err = c.build().unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
