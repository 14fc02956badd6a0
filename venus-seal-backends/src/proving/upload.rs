//! Unsealing to an HTTP upload: [`unseal_to_http`] reads a piece back out
//! of its sealed sector and `PUT`s (or `POST`s) it to a URL.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, Method, StatusCode, Url};
use venus_seal_core::proving::{ProvingError, UnsealRequest};
use venus_seal_core::stage::Unseal;
use venus_seal_core::Executor;

use crate::pieces::redact;

/// Pieces up to this many bytes are read into memory before the upload
/// by default; larger ones are streamed from the temporary file.
pub const DEFAULT_MEMORY_LIMIT: u64 = 16 << 20;

/// The HTTP method an [`HttpDestination`] uploads with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UploadMethod {
    /// `PUT` the bytes at the URL (object stores, pre-signed URLs).
    #[default]
    Put,
    /// `POST` the bytes to the URL.
    Post,
}

impl UploadMethod {
    fn http(self) -> Method {
        match self {
            UploadMethod::Put => Method::PUT,
            UploadMethod::Post => Method::POST,
        }
    }
}

/// Where [`unseal_to_http`] sends the unsealed bytes: a URL, the method,
/// an optional bearer token and where to hold the bytes meanwhile.
///
/// The body is `application/octet-stream` with a `Content-Length`. The
/// token is never shown by `Debug` or in errors, and errors show the URL
/// with any password or query (e.g. a pre-signed URL's signature)
/// redacted.
#[derive(Clone)]
pub struct HttpDestination {
    url: Url,
    method: UploadMethod,
    token: Option<String>,
    client: reqwest::Client,
    memory_limit: u64,
    spool_dir: Option<PathBuf>,
}

impl fmt::Debug for HttpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDestination")
            .field("url", &redact(&self.url))
            .field("method", &self.method)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("memory_limit", &self.memory_limit)
            .field("spool_dir", &self.spool_dir)
            .finish()
    }
}

impl HttpDestination {
    /// `PUT` to `url`, without a token.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            method: UploadMethod::Put,
            token: None,
            client: reqwest::Client::new(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            spool_dir: None,
        }
    }

    /// `PUT` to `url`, which must be an `http://` or `https://` URL.
    ///
    /// ```
    /// use venus_seal_backends::proving::HttpDestination;
    /// assert!(HttpDestination::parse("http://market:8080/upload/1").is_ok());
    /// assert!(HttpDestination::parse("ftp://market/upload").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, ProvingError> {
        let parsed = Url::parse(url).map_err(|e| {
            ProvingError::InvalidRequest(format!("upload destination {url:?} is not a URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ProvingError::InvalidRequest(format!(
                "upload destination {} is not an http:// or https:// URL",
                redact(&parsed)
            )));
        }
        Ok(Self::new(parsed))
    }

    /// Uploads with `method` instead of `PUT`.
    pub fn with_method(mut self, method: UploadMethod) -> Self {
        self.method = method;
        self
    }

    /// Sends `token` as `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into().trim().to_string());
        self
    }

    /// Uses `client` (timeouts, proxies, TLS roots) instead of a default one.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// Reads pieces of up to `bytes` into memory before the upload
    /// (default [`DEFAULT_MEMORY_LIMIT`]); larger ones are streamed from
    /// the temporary file the executor wrote.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Creates the temporary files in `dir` (default: the system's
    /// temporary directory). Each is unlinked once the unseal executor
    /// has written it and vanishes when the upload ends, even if the
    /// process dies then.
    pub fn with_spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// The URL uploaded to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn error(&self, status: Option<StatusCode>, message: String) -> ProvingError {
        ProvingError::Upload {
            url: redact(&self.url),
            status: status.map(|s| s.as_u16()),
            message,
        }
    }
}

/// The unsealed bytes, waiting for the upload.
enum Spool {
    Memory(Vec<u8>),
    File(std::fs::File, u64),
}

/// Unseals `request` with the [`Unseal`] stage on `unsealer` into a
/// temporary file, then uploads the bytes to `destination` (read into
/// memory first when they fit its memory limit). Nothing is sent unless
/// the whole range was unsealed, so the destination never receives a
/// partial piece from a failed unseal. Returns the bytes uploaded.
///
/// Errors: the executor's own ([`ProvingError::Stage`]);
/// [`ProvingError::Io`] for the temporary file; [`ProvingError::Upload`]
/// naming the (redacted) URL and the status when the destination cannot
/// be reached or does not answer 2xx (its level says whether to retry).
pub async fn unseal_to_http(
    unsealer: &dyn Executor<Unseal>,
    request: &UnsealRequest,
    destination: &HttpDestination,
) -> Result<u64, ProvingError> {
    let spool = spool(unsealer, request, destination).await?;
    let (len, body) = match spool {
        Spool::Memory(bytes) => (bytes.len() as u64, Body::from(bytes)),
        Spool::File(file, len) => (len, Body::from(tokio::fs::File::from_std(file))),
    };
    let method = destination.method.http();
    let mut http = destination
        .client
        .request(method.clone(), destination.url.clone())
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .body(body);
    if let Some(token) = &destination.token {
        http = http.bearer_auth(token);
    }
    let response = http.send().await.map_err(|e| {
        destination.error(
            e.status(),
            format!("{method} of {len} bytes failed: {}", e.without_url()),
        )
    })?;
    let status = response.status();
    if status.is_success() {
        tracing::debug!(
            sector = %request.sector,
            url = %redact(&destination.url),
            bytes = len,
            "unsealed range uploaded"
        );
        return Ok(len);
    }
    let reason = response.text().await.unwrap_or_default();
    let reason: String = reason.trim().chars().take(300).collect();
    let advice = match (status, &destination.token) {
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, None) => {
            " (the request carried no token: configure one with HttpDestination::with_token)"
        }
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(_)) => " (the token was refused)",
        _ => "",
    };
    Err(destination.error(
        Some(status),
        format!("{method} of {len} bytes answered {status}{advice}: {reason}"),
    ))
}

/// Unseals `request` into a temporary file in the destination's spool
/// directory (the executor needs a path); the name is unlinked as soon as
/// the executor is done, so the bytes vanish when the upload ends, even if
/// the process dies. Small ranges are read into memory.
async fn spool(
    unsealer: &dyn Executor<Unseal>,
    request: &UnsealRequest,
    destination: &HttpDestination,
) -> Result<Spool, ProvingError> {
    let dir = destination
        .spool_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let io = |source| ProvingError::Io {
        path: dir.clone(),
        source,
    };
    let named = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    unsealer
        .execute(Unseal {
            request: request.clone(),
            output: named.path().to_path_buf(),
        })
        .await?;
    let limit = destination.memory_limit;
    tokio::task::spawn_blocking(move || read_back(named, limit, &dir))
        .await
        .map_err(|e| ProvingError::Proof {
            what: format!("reading the unsealed range of {} back", request.sector),
            message: format!("panicked: {e}"),
        })?
}

/// Opens what the executor wrote and drops its name; reads it into memory
/// when it is at most `limit` bytes.
fn read_back(
    named: tempfile::NamedTempFile,
    limit: u64,
    dir: &std::path::Path,
) -> Result<Spool, ProvingError> {
    let io = |source| ProvingError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut file = named.reopen().map_err(io)?;
    drop(named);
    let len = file.metadata().map_err(io)?.len();
    if len <= limit {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes).map_err(io)?;
        return Ok(Spool::Memory(bytes));
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Spool::File(file, len))
}

#[cfg(test)]
mod tests;
