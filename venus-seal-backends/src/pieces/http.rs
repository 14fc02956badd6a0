//! [`HttpPieceStore`]: pieces from an HTTP server (`GET <base>/piece/<cid>`),
//! such as the manager's piece proxy or a Boost/Lotus market node, or from
//! droplet's piece service (`GET <origin>/resource?resource-id=<cid>`).

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{Response, StatusCode, Url};
use tokio::sync::mpsc;
use venus_seal_core::{PieceCid, PieceReader, PieceStore, PieceStoreError};

use super::config::redact;
use super::reader::{channel, Chunk};

/// How often a stream that dropped mid-piece is resumed by default.
pub const DEFAULT_RESUMES: u32 = 5;

/// How long connecting to the server may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may stay silent by default, waiting for its answer
/// or between two reads of the body: a server that stalls mid-piece fails
/// the read (and the stream is resumed by range) instead of holding the
/// sector forever. A whole piece may take as long as it needs.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Pieces at `GET <base>/piece/<cid>` on an HTTP server.
///
/// * **Auth**: an optional bearer token (`Authorization: Bearer <jwt>`),
///   e.g. a `read` token of the sector manager whose piece proxy it
///   fetches from. A 401 or 403 is [`PieceStoreError::Io`] with kind
///   `PermissionDenied` (Critical: the sector parks until an operator
///   fixes the token), naming the URL and the server's reason.
/// * **Redirects** are followed (up to 10). The token is not sent to
///   another host (reqwest drops `Authorization` across origins), so a
///   redirect to a pre-signed URL works and leaks nothing.
/// * **Resuming**: a connection that drops mid-piece is reopened with
///   `Range: bytes=<offset>-` from the byte reached, at most
///   [`with_resumes`](Self::with_resumes) times in a row without
///   progress; a server that ignores the range (answers 200) has the
///   bytes already delivered skipped.
/// * **Timeouts**: connecting may take [`DEFAULT_CONNECT_TIMEOUT`] and the
///   server may stay silent [`DEFAULT_READ_TIMEOUT`] (waiting for its
///   answer, or mid-body) before the request fails; a stalled body is
///   resumed like a dropped one. See [`with_timeouts`](Self::with_timeouts).
/// * **Errors**: 404 is [`PieceStoreError::NotFound`]; 5xx, other
///   statuses, connection failures and timeouts are
///   [`PieceStoreError::Transport`] (Temporary), naming the piece. Messages
///   name the URL with any password or query redacted, and quote at most
///   4 KiB of an error answer's body.
#[derive(Clone)]
pub struct HttpPieceStore {
    base: Url,
    layout: Layout,
    token: Option<String>,
    client: reqwest::Client,
    resumes: u32,
    resume_delay: Duration,
}

/// Where a piece's URL puts its CID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `<base>/piece/<cid>`.
    PieceSegment,
    /// droplet: `<base>/resource?resource-id=<cid>`.
    DropletResource,
}

impl std::fmt::Debug for HttpPieceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPieceStore")
            .field("base", &redact(&self.base))
            .field("layout", &self.layout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("resumes", &self.resumes)
            .finish()
    }
}

impl HttpPieceStore {
    /// A store fetching `<base>/piece/<cid>` (`base` may carry a path
    /// prefix: `http://host/market` fetches `http://host/market/piece/<cid>`).
    pub fn new(base: Url) -> Self {
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self {
            base,
            layout: Layout::PieceSegment,
            token: None,
            client: client(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT),
            resumes: DEFAULT_RESUMES,
            resume_delay: Duration::from_millis(500),
        }
    }

    /// A store fetching from `base`, which must be an `http://` or
    /// `https://` URL.
    ///
    /// ```
    /// use venus_seal_backends::pieces::HttpPieceStore;
    /// assert!(HttpPieceStore::parse("http://manager:1790").is_ok());
    /// assert!(HttpPieceStore::parse("manager:1790").is_err());
    /// ```
    pub fn parse(base: &str) -> Result<Self, super::PieceConfigError> {
        Ok(Self::new(super::config::http_url(base)?))
    }

    /// A store fetching from droplet's (venus-market's) piece service,
    /// `GET <base>/resource?resource-id=<cid>` (droplet `rpc/piece_storage_server.go`;
    /// damocles-manager's `PieceResourceURL` builds the same URL on the
    /// market API's origin). droplet answers 404 for an unknown piece, 302
    /// to a piece in S3 storage (followed), and otherwise the whole piece
    /// with its `Content-Length`, ignoring `Range` (a resumed stream skips
    /// what it already read). Give it droplet's token
    /// ([`with_token`](Self::with_token)) when droplet checks tokens.
    ///
    /// ```
    /// use venus_seal_backends::pieces::HttpPieceStore;
    /// let store = HttpPieceStore::droplet("http://droplet:41235".parse().unwrap());
    /// let cid = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy".parse().unwrap();
    /// assert_eq!(
    ///     store.piece_url(&cid).as_str(),
    ///     "http://droplet:41235/resource?resource-id=baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
    /// );
    /// ```
    pub fn droplet(base: Url) -> Self {
        Self {
            layout: Layout::DropletResource,
            ..Self::new(base)
        }
    }

    /// Sends `token` as `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into().trim().to_string());
        self
    }

    /// Resumes a dropped stream at most `resumes` times in a row without
    /// progress (default [`DEFAULT_RESUMES`]), waiting `delay` times the
    /// attempt number before each.
    pub fn with_resumes(mut self, resumes: u32, delay: Duration) -> Self {
        self.resumes = resumes;
        self.resume_delay = delay;
        self
    }

    /// Fails a request whose connection takes longer than `connect`, or
    /// whose server stays silent longer than `read` (before answering or
    /// between two reads of the body). Replaces the client (see
    /// [`with_client`](Self::with_client)).
    pub fn with_timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.client = client(connect, read);
        self
    }

    /// Uses `client` (timeouts, proxies, TLS roots) instead of a default
    /// one. Give it a connect and a read timeout: without them a stalled
    /// server holds the sector forever.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The URL of a piece.
    pub fn piece_url(&self, cid: &PieceCid) -> Url {
        match self.layout {
            Layout::PieceSegment => self
                .base
                .join(&format!("piece/{cid}"))
                .expect("a CID is a valid path segment"),
            Layout::DropletResource => {
                let mut url = self
                    .base
                    .join("resource")
                    .expect("a fixed path segment joins");
                url.query_pairs_mut()
                    .clear()
                    .append_pair("resource-id", &cid.to_string());
                url
            }
        }
    }

    fn transport(url: &Url, what: impl std::fmt::Display) -> PieceStoreError {
        PieceStoreError::Transport(format!("{}: {what}", redact(url)))
    }

    /// Sends `method` for the piece, from `offset` when above 0, and
    /// classifies a refusal.
    async fn request(
        &self,
        method: reqwest::Method,
        cid: &PieceCid,
        offset: u64,
    ) -> Result<Response, PieceStoreError> {
        let url = self.piece_url(cid);
        let mut req = self.client.request(method.clone(), url.clone());
        if offset > 0 {
            req = req.header(RANGE, format!("bytes={offset}-"));
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| {
            Self::transport(
                &url,
                format!("{method} of piece {cid} failed: {}", describe(e)),
            )
        })?;
        let status = resp.status();
        if status.is_success() || (offset > 0 && status == StatusCode::RANGE_NOT_SATISFIABLE) {
            return Ok(resp);
        }
        let reason = crate::http_body::error_text(resp).await;
        Err(match status {
            StatusCode::NOT_FOUND => {
                PieceStoreError::NotFound(format!("{cid} (404 from {})", redact(&url)))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                PieceStoreError::Io(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "piece store {} refused {} ({status}): {reason}{}",
                        redact(&url),
                        if self.token.is_some() {
                            "the token"
                        } else {
                            "a request without a token"
                        },
                        if self.token.is_some() {
                            ""
                        } else {
                            " (configure a token)"
                        }
                    ),
                ))
            }
            _ => Self::transport(&url, format!("{method} answered {status}: {reason}")),
        })
    }

    /// Opens the piece at `offset`: the response and how many of its first
    /// bytes to skip (a server ignoring `Range` sends all of them), or
    /// `None` when the piece ends before `offset` (416).
    async fn open(
        &self,
        cid: &PieceCid,
        offset: u64,
    ) -> Result<Option<(Response, u64)>, PieceStoreError> {
        let resp = self.request(reqwest::Method::GET, cid, offset).await?;
        if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(None);
        }
        if offset == 0 || resp.status() == StatusCode::OK {
            return Ok(Some((resp, offset)));
        }
        // 206: the range must start where we asked.
        let start = resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        match start {
            Some(start) if start == offset => Ok(Some((resp, 0))),
            other => Err(Self::transport(
                &self.piece_url(cid),
                format!("asked for bytes from {offset}, got a range starting at {other:?}"),
            )),
        }
    }
}

/// A client that gives up on a connection after `connect` and on a
/// silent server after `read`.
fn client(connect: Duration, read: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .read_timeout(read)
        .build()
        // What `reqwest::Client::new()` does too: only a TLS backend that
        // cannot start fails here.
        .expect("the HTTP client (TLS backend) cannot be initialized")
}

/// A reqwest error with its causes (`error decoding response body:
/// operation timed out`), without the URL (the caller names it redacted).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[async_trait]
impl PieceStore for HttpPieceStore {
    async fn get(&self, cid: &PieceCid) -> Result<PieceReader, PieceStoreError> {
        self.get_range(cid, 0).await
    }

    async fn size(&self, cid: &PieceCid) -> Result<u64, PieceStoreError> {
        // droplet answers HEAD with 405: its size comes from a GET.
        if self.layout == Layout::PieceSegment {
            let resp = self.request(reqwest::Method::HEAD, cid, 0).await?;
            if let Some(len) = content_length(&resp) {
                return Ok(len);
            }
        }
        let Some((resp, _)) = self.open(cid, 0).await? else {
            return Ok(0);
        };
        match content_length(&resp) {
            Some(len) => Ok(len),
            None => {
                let mut reader = self.stream(cid, resp, 0, 0);
                Ok(tokio::io::copy(&mut reader, &mut tokio::io::sink()).await?)
            }
        }
    }

    async fn get_range(&self, cid: &PieceCid, offset: u64) -> Result<PieceReader, PieceStoreError> {
        match self.open(cid, offset).await? {
            Some((resp, skip)) => Ok(self.stream(cid, resp, offset, skip)),
            // Nothing from `offset` on: the piece is shorter.
            None => Ok(Box::pin(tokio::io::empty())),
        }
    }
}

impl HttpPieceStore {
    fn stream(&self, cid: &PieceCid, resp: Response, offset: u64, skip: u64) -> PieceReader {
        let (tx, reader) = channel();
        let end = content_length(&resp).map(|len| offset - skip + len);
        tokio::spawn(self.clone().pump(*cid, resp, offset, skip, end, tx));
        Box::pin(reader)
    }

    /// Forwards the body, resuming by range when the connection drops.
    /// `end` is where the piece ends when the server said so.
    async fn pump(
        self,
        cid: PieceCid,
        mut resp: Response,
        mut offset: u64,
        mut skip: u64,
        end: Option<u64>,
        tx: mpsc::Sender<Chunk>,
    ) {
        let mut failures = 0u32;
        loop {
            let why = match resp.chunk().await {
                Ok(Some(mut bytes)) => {
                    let dropped = skip.min(bytes.len() as u64);
                    skip -= dropped;
                    bytes::Buf::advance(&mut bytes, dropped as usize);
                    if bytes.is_empty() {
                        continue;
                    }
                    offset += bytes.len() as u64;
                    failures = 0;
                    if tx.send(Ok(Some(bytes))).await.is_err() {
                        return; // the reader went away
                    }
                    continue;
                }
                Ok(None) if end.is_none_or(|end| offset >= end) => {
                    let _ = tx.send(Ok(None)).await;
                    return;
                }
                Ok(None) => "the body ended early".to_string(),
                Err(e) => describe(e),
            };
            match self.reopen(&cid, offset, why, &mut failures).await {
                Ok((r, s)) => {
                    resp = r;
                    skip = s;
                }
                Err(e) => {
                    let _ = tx.send(Err(io::Error::other(e))).await;
                    return;
                }
            }
        }
    }

    /// Reopens the piece at `offset` after the stream failed with `why`,
    /// waiting longer each time; gives up after `resumes` attempts without
    /// progress, or at once on an answer that is not a transport failure.
    async fn reopen(
        &self,
        cid: &PieceCid,
        offset: u64,
        mut why: String,
        failures: &mut u32,
    ) -> Result<(Response, u64), PieceStoreError> {
        let url = self.piece_url(cid);
        loop {
            *failures += 1;
            if *failures > self.resumes {
                return Err(Self::transport(
                    &url,
                    format!(
                        "connection lost at byte {offset} of piece {cid} ({why}); gave up after {} resumes",
                        self.resumes
                    ),
                ));
            }
            tracing::warn!(url = %redact(&url), offset, attempt = *failures, error = %why, "piece stream dropped: resuming by range");
            tokio::time::sleep(self.resume_delay * *failures).await;
            match self.open(cid, offset).await {
                Ok(Some(opened)) => return Ok(opened),
                Ok(None) => {
                    return Err(Self::transport(
                        &url,
                        format!("the server now says piece {cid} ends before byte {offset}"),
                    ))
                }
                Err(PieceStoreError::Transport(e)) => why = e,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::AsyncReadExt;
    use venus_seal_core::CommD;

    use super::*;

    /// A server answering every connection with `head` and then nothing,
    /// holding the connection open.
    async fn stalling_server(head: &'static [u8]) -> Url {
        let addr = venus_seal_core::testing::stalling_server(head).await;
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    fn cid() -> PieceCid {
        CommD([3; 32])
    }

    /// The store, its read timeout short, one resume.
    fn store(url: Url) -> HttpPieceStore {
        HttpPieceStore::new(url)
            .with_timeouts(Duration::from_secs(2), Duration::from_millis(300))
            .with_resumes(1, Duration::from_millis(10))
    }

    #[tokio::test]
    async fn a_body_that_stalls_mid_piece_fails_naming_the_piece() {
        let url =
            stalling_server(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789").await;
        let started = Instant::now();
        let mut reader = store(url).get(&cid()).await.unwrap();
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut got))
            .await
            .expect("a stalled body must fail, not hang");
        let err = read.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(got, b"0123456789");
        assert!(err.contains(&format!("piece {}", cid())), "{err}");
        assert!(err.contains("at byte 10"), "{err}");
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("gave up after 1 resumes"), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_transport_error() {
        let url = stalling_server(b"").await;
        let err = tokio::time::timeout(Duration::from_secs(20), store(url).size(&cid()))
            .await
            .expect("a silent server must fail, not hang")
            .unwrap_err();
        assert!(matches!(err, PieceStoreError::Transport(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("of piece {}", cid())), "{text}");
        assert!(text.contains("timed out"), "{text}");
    }

    #[tokio::test]
    async fn an_endless_error_body_is_cut_not_buffered() {
        let url = stalling_server(Box::leak(
            format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n{}",
                1u64 << 30,
                "e".repeat(64 << 10)
            )
            .into_bytes()
            .into_boxed_slice(),
        ))
        .await;
        // No read timeout: only the limit ends the read.
        let store = HttpPieceStore::new(url)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(3600));
        let err = tokio::time::timeout(Duration::from_secs(20), store.get(&cid()))
            .await
            .expect("the error body is read only up to its limit")
            .err()
            .expect("a 503 is an error");
        let text = err.to_string();
        assert!(matches!(err, PieceStoreError::Transport(_)), "{text}");
        assert!(text.contains("503"), "{text}");
        assert!(text.contains("truncated at 4096 bytes"), "{text}");
        assert!(text.len() < 5000, "{} bytes quoted", text.len());
    }
}
