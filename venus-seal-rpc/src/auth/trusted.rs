//! The worker API for peers that cannot send a token (damocles-worker
//! sends no `Authorization` header): a separate listener that serves its
//! module without tokens, only to clients whose address is in an
//! allowlist of networks. JWT stays the default listener; this one is
//! opt-in, and a bind other than loopback needs its networks named.
//!
//! Every client allowed in calls as [`TRUSTED_CALLER`] (write, never
//! admin); any other client is answered HTTP 403 and disconnected before
//! its request is read.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{serve_with_graceful_shutdown, stop_channel, ServerHandle};
use jsonrpsee::RpcModule;
use tokio::io::AsyncWriteExt;

use super::http_layer::Admission;
use super::{BearerAuth, Caller, Permission, PermissionLayer};
use crate::RpcError;

/// The `name` every trusted-network call is made under.
pub const TRUSTED_CALLER: &str = "trusted-network";

/// One network: an address and a prefix length (`10.0.0.0/24`,
/// `fd00::/8`; a bare address is the one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network like 10.0.0.0/24"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The client networks a trusted listener serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedNetworks(Vec<Network>);

impl TrustedNetworks {
    /// Parses each entry (`10.0.0.0/24`, `10.0.0.7`, `fd00::/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// `127.0.0.0/8` and `::1`: what a loopback bind serves when no
    /// network is named.
    pub fn loopback() -> Self {
        Self(vec![
            Network {
                addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Network {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ])
    }

    /// Whether no network is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a client at `ip` is served.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The networks a listener on `listen` serves: these, or loopback when
    /// none are named and `listen` is loopback. `networks_key` names the
    /// config key in the error for a non-loopback bind with none named.
    pub fn for_listener(self, listen: SocketAddr, networks_key: &str) -> Result<Self, String> {
        match (self.is_empty(), listen.ip().is_loopback()) {
            (false, _) => Ok(self),
            (true, true) => Ok(Self::loopback()),
            (true, false) => Err(format!(
                "{networks_key} is empty but the listener binds {listen}, which is not loopback: \
                 name the client networks that may call the worker API without a token \
                 (e.g. [\"10.0.0.0/24\"])"
            )),
        }
    }
}

impl fmt::Display for TrustedNetworks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(Network::to_string).collect();
        write!(f, "[{}]", list.join(", "))
    }
}

/// A [`tower::Layer`] that lets every request in as [`TRUSTED_CALLER`]
/// with `permission` (the listener has already checked the client's
/// address).
#[derive(Clone, Debug)]
struct TrustedCallerLayer(Permission);

impl<S> tower::Layer<S> for TrustedCallerLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let caller = Caller {
            permission: self.0,
            name: Some(TRUSTED_CALLER.to_string()),
        };
        BearerAuth::new(inner, Admission::Trusted(caller))
    }
}

/// Serves `module` on `addr` without tokens to clients in `networks`
/// (each call with `permission`, checked against `permissions` as on the
/// token listener); any other client gets HTTP 403. Refused when
/// `networks` is empty (see [`TrustedNetworks::for_listener`]). Logs the
/// listener and its networks at start-up.
pub async fn serve_trusted<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    networks: TrustedNetworks,
    permission: Permission,
    permissions: std::collections::HashMap<&'static str, Permission>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    serve_trusted_with_pieces(
        addr,
        module,
        networks,
        permission,
        permissions,
        crate::manager::PieceRedirect::None,
    )
    .await
}

/// [`serve_trusted`], answering damocles-worker's `GET /piecestore/<cid>`
/// (from clients in `networks`) with a redirect to `pieces` (see
/// [`crate::manager::piecestore`]).
pub async fn serve_trusted_with_pieces<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    networks: TrustedNetworks,
    permission: Permission,
    permissions: std::collections::HashMap<&'static str, Permission>,
    pieces: crate::manager::PieceRedirect,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    if networks.is_empty() {
        return Err(RpcError::Register(format!(
            "the tokenless listener on {addr} names no client network"
        )));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RpcError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| RpcError::Bind { addr, source })?;
    let served = module.method_names().collect::<Vec<_>>();
    let builder = jsonrpsee::server::Server::builder()
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer(crate::manager::PieceRedirectLayer(pieces))
                .layer(TrustedCallerLayer(permission)),
        )
        .set_rpc_middleware(
            RpcServiceBuilder::new().layer(PermissionLayer::new(permissions).served(served)),
        )
        .to_service_builder();
    let methods: jsonrpsee::Methods = module.into();
    let (stop, handle) = stop_channel();
    let networks = Arc::new(networks);
    tracing::warn!(
        addr = %local,
        networks = %networks,
        ?permission,
        "worker API WITHOUT tokens for clients in these networks (any host there can seal as a worker)"
    );
    tokio::spawn(async move {
        let stopped = stop.clone().shutdown();
        tokio::pin!(stopped);
        loop {
            let (mut sock, peer) = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "tokenless listener: accept failed");
                        continue;
                    }
                },
            };
            if !networks.allows(peer.ip()) {
                tracing::warn!(%peer, networks = %networks, "tokenless listener: client refused");
                tokio::spawn(async move {
                    let why = format!(
                        "client {} is not in this listener's allowed networks\n",
                        peer.ip()
                    );
                    let answer = format!(
                        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
                        why.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
                continue;
            }
            let svc = builder.clone().build(methods.clone(), stop.clone());
            let stopped = stop.clone().shutdown();
            tokio::spawn(async move {
                if let Err(e) = serve_with_graceful_shutdown(sock, svc, stopped).await {
                    tracing::debug!(%peer, error = %e, "tokenless listener: connection ended");
                }
            });
        }
    });
    Ok((local, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_match() {
        let n = TrustedNetworks::parse(&["10.0.0.0/24", "192.168.1.7", "fd00::/8"]).unwrap();
        assert!(n.allows("10.0.0.200".parse().unwrap()));
        assert!(!n.allows("10.0.1.1".parse().unwrap()));
        assert!(n.allows("192.168.1.7".parse().unwrap()));
        assert!(!n.allows("192.168.1.8".parse().unwrap()));
        assert!(n.allows("fd12::1".parse().unwrap()));
        assert!(n.allows("::ffff:10.0.0.3".parse().unwrap()));
        assert!(TrustedNetworks::parse(&["0.0.0.0/0"])
            .unwrap()
            .allows("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "ten", "10.0.0.0/x"] {
            let err = TrustedNetworks::parse(&[bad]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn a_non_loopback_bind_needs_named_networks() {
        let none = TrustedNetworks::default();
        let err = none
            .clone()
            .for_listener("0.0.0.0:1790".parse().unwrap(), "rpc.trusted.networks")
            .unwrap_err();
        assert!(err.contains("rpc.trusted.networks is empty"), "{err}");
        assert!(err.contains("0.0.0.0:1790"), "{err}");
        let lo = none
            .for_listener("127.0.0.1:1790".parse().unwrap(), "k")
            .unwrap();
        assert_eq!(lo, TrustedNetworks::loopback());
    }
}
