//! `GET /piecestore/<cid>` on the worker API's origin, as damocles-worker
//! fetches deal pieces.
//!
//! damocles-manager registers its piece-store proxy at `/piecestore/`
//! (`damocles-manager/dep/const.go` `HTTPEndpointPiecestore`) beside its
//! JSON-RPC handler; its `pkg/piecestore/proxy.go` `handleGet`
//! (ipfs-force-community/damocles commit
//! 0cf9e1b4597fd882521f413e2f2beae624f3e673) takes `<cid>` or
//! `<cid>.car`, streams a piece it holds in a local store, and otherwise
//! answers `302 Found` to the market's `PieceResourceURL`
//! (`<market>/resource?resource-id=<cid>`, `pkg/market/market.go`). The
//! worker asks without a token and sends its `piece_token` as
//! `Authorization: Bearer` only to the redirect's target
//! (vc-processors 0.2.1 `src/builtin/processors/piece/fetcher/http.rs`
//! `PieceHttpFetcher::open`; damocles-worker's `ProxyPieceStore`, which
//! joins `/piecestore/` to the manager's RPC origin, does the same).
//!
//! This manager holds no pieces on its RPC listener, so it always
//! redirects: to its own piece proxy (`[pieces]`, which checks the token)
//! or to droplet's resource endpoint (`[market]`). The redirect reveals
//! nothing a token would protect: the target checks the token.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HOST, LOCATION};
use http::{Method, StatusCode};
use jsonrpsee::server::{HttpBody, HttpResponse};

/// The path damocles-worker fetches pieces under.
pub const PIECESTORE_PATH: &str = "/piecestore/";

/// Where `GET /piecestore/<cid>` sends a damocles worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PieceRedirect {
    /// Nowhere: the path is not served (the JSON-RPC server answers it).
    #[default]
    None,
    /// To this manager's piece proxy, `http://<host>:<port>/piece/<cid>`:
    /// its listen address, or, where it listens on every interface, the
    /// host the worker reached the worker API at, with the proxy's port.
    Proxy(SocketAddr),
    /// To droplet's piece resource endpoint,
    /// `<origin>/resource?resource-id=<cid>`, as damocles-manager
    /// redirects to its market's.
    Market(String),
}

impl PieceRedirect {
    /// Droplet at `url` (its JSON-RPC URL; only the scheme and authority
    /// are kept, `ws` read as `http`, as damocles-manager does).
    pub fn market(url: &str) -> Result<Self, String> {
        let u: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let scheme = match u.scheme_str() {
            Some("ws") => "http",
            Some("wss") => "https",
            Some(s) => s,
            None => return Err(format!("{url}: no scheme")),
        };
        let host = u.host().ok_or_else(|| format!("{url}: no host"))?;
        let origin = match u.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Self::Market(origin))
    }

    /// The redirect target for `name` (`<cid>` or `<cid>.car`) asked at
    /// `host` (the request's `Host` header); `None` when not served.
    pub fn location(&self, name: &str, host: Option<&str>) -> Option<String> {
        let cid = name.strip_suffix(".car").unwrap_or(name);
        match self {
            Self::None => None,
            Self::Proxy(addr) => {
                let ip = if addr.ip().is_unspecified() {
                    // The Host header, without its port (an IPv6 literal
                    // keeps its brackets).
                    let host = host.unwrap_or("127.0.0.1");
                    match host.rsplit_once(':') {
                        Some((h, port)) if !h.is_empty() && port.parse::<u16>().is_ok() => {
                            h.to_string()
                        }
                        _ => host.to_string(),
                    }
                } else {
                    match addr {
                        SocketAddr::V4(a) => a.ip().to_string(),
                        SocketAddr::V6(a) => format!("[{}]", a.ip()),
                    }
                };
                Some(format!("http://{ip}:{}/piece/{cid}", addr.port()))
            }
            Self::Market(origin) => Some(format!("{origin}/resource?resource-id={cid}")),
        }
    }
}

/// A [`tower::Layer`] for the worker API's HTTP middleware answering
/// `GET /piecestore/<cid>` with `302 Found` to [`PieceRedirect`]'s target,
/// before any token is checked; every other request passes through.
#[derive(Clone, Debug, Default)]
pub struct PieceRedirectLayer(pub PieceRedirect);

impl<S> tower::Layer<S> for PieceRedirectLayer {
    type Service = PieceRedirectService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PieceRedirectService {
            inner,
            redirect: self.0.clone(),
        }
    }
}

/// The service [`PieceRedirectLayer`] makes.
#[derive(Clone, Debug)]
pub struct PieceRedirectService<S> {
    inner: S,
    redirect: PieceRedirect,
}

impl<S, B> tower::Service<http::Request<B>> for PieceRedirectService<S>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let name = (req.method() == Method::GET)
            .then(|| req.uri().path().strip_prefix(PIECESTORE_PATH))
            .flatten()
            .map(|n| n.trim_matches('/'));
        if let Some(name) = name {
            let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
            let response = match self.redirect.location(name, host) {
                _ if name.is_empty() || name.contains('/') => text(
                    StatusCode::BAD_REQUEST,
                    format!("no piece cid in {}", req.uri()),
                ),
                Some(location) => {
                    tracing::debug!(piece = name, %location, "piecestore: redirecting");
                    let mut r = text(StatusCode::FOUND, format!("see {location}\n"));
                    if let Ok(value) = location.parse() {
                        r.headers_mut().insert(LOCATION, value);
                    }
                    r
                }
                None => text(
                    StatusCode::NOT_FOUND,
                    "this sector manager serves no pieces: configure [pieces] or [market]"
                        .to_string(),
                ),
            };
            return Box::pin(async move { Ok(response) });
        }
        Box::pin(self.inner.call(req))
    }
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    let mut r = HttpResponse::new(HttpBody::from(body));
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq";

    #[test]
    fn targets_follow_damocles_and_the_listen_address() {
        assert_eq!(PieceRedirect::None.location(CID, Some("m:1789")), None);
        let proxy = PieceRedirect::Proxy("0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            proxy.location(&format!("{CID}.car"), Some("manager.lan:1789")),
            Some(format!("http://manager.lan:9000/piece/{CID}"))
        );
        assert_eq!(
            proxy.location(CID, Some("[::1]:1789")),
            Some(format!("http://[::1]:9000/piece/{CID}"))
        );
        let fixed = PieceRedirect::Proxy("10.0.0.5:9000".parse().unwrap());
        assert_eq!(
            fixed.location(CID, Some("manager.lan:1789")),
            Some(format!("http://10.0.0.5:9000/piece/{CID}"))
        );
        // damocles-manager pkg/market/market.go: ws → http, path dropped.
        let market = PieceRedirect::market("ws://droplet:41235/rpc/v0").unwrap();
        assert_eq!(
            market.location(CID, None),
            Some(format!("http://droplet:41235/resource?resource-id={CID}"))
        );
        assert!(PieceRedirect::market("not a url").is_err());
    }
}
