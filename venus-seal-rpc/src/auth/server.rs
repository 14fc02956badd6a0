//! Serving a JSON-RPC module behind token auth.

use std::collections::HashMap;
use std::net::SocketAddr;

use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::RpcModule;

use super::{BearerAuthLayer, Permission, PermissionLayer, Secret};
use crate::manager::{PieceRedirect, PieceRedirectLayer};
use crate::RpcError;

/// Concurrent connections a server accepts before answering HTTP 429.
pub const MAX_CONNECTIONS: u32 = 4096;

/// Serves `module` on `addr` behind [`BearerAuthLayer`] and a
/// [`PermissionLayer`] enforcing `permissions` (a method `module` does not
/// serve is -32601 for any valid token); returns the bound address
/// (useful with port 0) and the handle that stops the server.
pub async fn serve_with_auth<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    secret: Secret,
    permissions: HashMap<&'static str, Permission>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    serve_with_auth_and_pieces(addr, module, secret, permissions, PieceRedirect::None).await
}

/// [`serve_with_auth`], answering damocles-worker's untokened
/// `GET /piecestore/<cid>` with a redirect to `pieces` (see
/// [`crate::manager::piecestore`]).
pub async fn serve_with_auth_and_pieces<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    secret: Secret,
    permissions: HashMap<&'static str, Permission>,
    pieces: PieceRedirect,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let server = Server::builder()
        // jsonrpsee's default (100) refuses a busy cluster's workers with
        // HTTP 429; a connection costs little.
        .set_config(
            jsonrpsee::server::ServerConfig::builder()
                .max_connections(MAX_CONNECTIONS)
                .build(),
        )
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer(PieceRedirectLayer(pieces))
                .layer(BearerAuthLayer::new(secret)),
        )
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer(PermissionLayer::new(permissions).served(module.method_names())),
        )
        .build(addr)
        .await
        .map_err(|source| RpcError::Bind { addr, source })?;
    let local = server
        .local_addr()
        .map_err(|source| RpcError::Bind { addr, source })?;
    let handle = server.start(module);
    tracing::info!(addr = %local, "JSON-RPC server listening");
    Ok((local, handle))
}
