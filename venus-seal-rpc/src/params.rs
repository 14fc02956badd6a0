//! Reading a method's params, the errors a server answers for params it
//! cannot read, and registering a method whose params are one tuple.

use std::future::Future;
use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{IntoResponse, RpcModule};
use serde::de::DeserializeOwned;

use crate::{codes, RpcError};

/// An "invalid params" error saying `message`.
pub(crate) fn invalid_params(message: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INVALID_PARAMS, message, None::<()>)
}

/// The "invalid params" error for params that are not `expected` (e.g.
/// `[job, reason]`), `e` saying why.
pub(crate) fn not_expected(expected: &str, e: &ErrorObjectOwned) -> ErrorObjectOwned {
    invalid_params(format!("expected params {expected}: {}", e.message()))
}

/// `params` read as `T` (a tuple), or the error naming the `expected`
/// params.
pub(crate) fn parse<T: DeserializeOwned>(
    params: &Params<'_>,
    expected: &str,
) -> Result<T, ErrorObjectOwned> {
    params.parse().map_err(|e| not_expected(expected, &e))
}

/// Registers `method` on `module`: its params read as `P` (a tuple; the
/// error names the `expected` params), then answered by `handler` with
/// the module's context.
pub(crate) fn register<C, P, R, F, Fut>(
    module: &mut RpcModule<C>,
    method: &'static str,
    expected: &'static str,
    handler: F,
) -> Result<(), RpcError>
where
    C: Send + Sync + 'static,
    P: DeserializeOwned + Send,
    F: Fn(Arc<C>, P) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ErrorObjectOwned>> + Send,
    Result<R, ErrorObjectOwned>: IntoResponse + 'static,
{
    module
        .register_async_method(method, move |params, ctx, _| {
            let handler = handler.clone();
            async move { handler(ctx, parse(&params, expected)?).await }
        })
        .map(drop)
        .map_err(|e| RpcError::Register(e.to_string()))
}
