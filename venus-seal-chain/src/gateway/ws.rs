//! A go-jsonrpc websocket: the handshake with a bearer token, text frames
//! in and out. Frames are read on their own task (soketto's receive is not
//! cancel-safe) and arrive on a channel that closes when the socket does.

use futures_util::io::{AsyncRead, AsyncWrite};
use serde_json::Value;
use soketto::handshake::client::{Client, Header, ServerResponse};
use soketto::{Data, Receiver, Sender};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// The largest frame accepted (a `ComputeProof` of many sectors is a few
/// hundred KiB).
const MAX_MESSAGE: usize = 16 << 20;

/// Where a gateway listens: `ws://HOST:PORT/PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `HOST:PORT` (port 80 when the URL has none).
    pub authority: String,
    /// The path with its query, `/rpc/v2` by default.
    pub resource: String,
}

impl WsUrl {
    /// Parses `ws://HOST[:PORT][/PATH]` (`http://` is taken as `ws://`);
    /// `wss://` is refused: put a TLS-terminating proxy in front.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                if url.starts_with("wss://") || url.starts_with("https://") {
                    format!("{url}: TLS (wss://) is not supported; reach the gateway over ws:// (a local TLS-terminating proxy)")
                } else {
                    format!("{url}: expected ws://HOST:PORT/rpc/v2")
                }
            })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/rpc/v2"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(WsUrl {
            authority,
            resource: path.to_string(),
        })
    }
}

/// The sending half of an open socket.
pub(crate) type WsSender = Sender<Compat<TcpStream>>;

/// Connects and upgrades, sending `Authorization: Bearer <token>` (and the
/// API namespace header venus-shared's client sends). Returns the sender
/// and the channel the received JSON frames arrive on.
pub(crate) async fn connect(
    url: &WsUrl,
    token: Option<&str>,
    namespace: &str,
) -> Result<(WsSender, Frames), String> {
    let tcp = TcpStream::connect(&url.authority)
        .await
        .map_err(|e| format!("connecting to {}: {e}", url.authority))?;
    let _ = tcp.set_nodelay(true);
    let host = url.authority.clone();
    let mut client = Client::new(tcp.compat(), &host, &url.resource);
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![Header {
        name: "X-Venus-API-Namespace",
        value: namespace.as_bytes(),
    }];
    if let Some(b) = &bearer {
        headers.push(Header {
            name: "Authorization",
            value: b.as_bytes(),
        });
    }
    client.set_headers(&headers);
    match client
        .handshake()
        .await
        .map_err(|e| format!("websocket handshake with {}: {e}", url.authority))?
    {
        ServerResponse::Accepted { .. } => {}
        ServerResponse::Redirect {
            status_code,
            location,
        } => {
            return Err(format!(
                "websocket handshake with {}{}: redirected ({status_code}) to {location}",
                url.authority, url.resource
            ))
        }
        ServerResponse::Rejected { status_code } => {
            return Err(format!(
                "websocket handshake with {}{}: rejected with HTTP {status_code}{}",
                url.authority,
                url.resource,
                if status_code == 401 {
                    " (check the token)"
                } else {
                    ""
                }
            ))
        }
    }
    let mut builder = client.into_builder();
    builder.set_max_message_size(MAX_MESSAGE);
    let (sender, receiver) = builder.finish();
    Ok((sender, spawn_reader(receiver)))
}

/// The frames received on a socket. Dropping it stops the reading task,
/// which closes the socket once its sender is dropped too.
#[derive(Debug)]
pub(crate) struct Frames {
    rx: mpsc::Receiver<Value>,
    reader: tokio::task::JoinHandle<()>,
}

impl Frames {
    /// The next frame; `None` once the socket failed or closed.
    pub(crate) async fn recv(&mut self) -> Option<Value> {
        self.rx.recv().await
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads frames into a channel until the socket fails or closes; a frame
/// that is not JSON ends the connection (go-jsonrpc does the same).
pub(crate) fn spawn_reader<T>(mut receiver: Receiver<T>) -> Frames
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match receiver.receive_data(&mut buf).await {
                Ok(Data::Text(_) | Data::Binary(_)) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "websocket closed");
                    return;
                }
            }
            match serde_json::from_slice::<Value>(&buf) {
                Ok(v) => {
                    if tx.send(v).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "websocket frame is not JSON: closing");
                    return;
                }
            }
        }
    });
    Frames { rx, reader }
}

/// Sends one JSON frame.
pub(crate) async fn send<T>(sender: &mut Sender<T>, frame: &Value) -> Result<(), String>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    sender
        .send_text(frame.to_string())
        .await
        .map_err(|e| format!("websocket send: {e}"))?;
    sender
        .flush()
        .await
        .map_err(|e| format!("websocket flush: {e}"))
}

#[cfg(test)]
mod tests {
    use super::WsUrl;

    #[test]
    fn urls() {
        let u = WsUrl::parse("ws://10.0.0.1:45132/rpc/v2").unwrap();
        assert_eq!(u.authority, "10.0.0.1:45132");
        assert_eq!(u.resource, "/rpc/v2");
        assert_eq!(WsUrl::parse("ws://gw:45132").unwrap().resource, "/rpc/v2");
        assert_eq!(WsUrl::parse("ws://gw/rpc/v1").unwrap().authority, "gw:80");
        assert!(WsUrl::parse("wss://gw:1/rpc/v2")
            .unwrap_err()
            .contains("TLS"));
        assert!(WsUrl::parse("gw:1").is_err());
    }
}
