//! Errors of starting a server.

use std::net::SocketAddr;

/// A server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The listening socket could not be bound (address in use, no
    /// permission): choose another address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Two methods were registered under one name (a programming error).
    #[error("cannot register the RPC methods: {0}")]
    Register(String),
}
