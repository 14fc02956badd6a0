//! The JSON-RPC layer: refuses each call the caller's token does not allow.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use jsonrpsee::server::middleware::rpc::{
    Batch, BatchEntry, BatchEntryErr, MethodResponse, Notification, Request, RpcServiceT,
};
use jsonrpsee::types::ErrorObjectOwned;

use super::{AuthError, AuthOutcome, Permission};
use crate::codes;

/// A [`tower::Layer`] for a jsonrpsee server's RPC middleware
/// (`set_rpc_middleware(RpcServiceBuilder::new().layer(..))`) that checks
/// every call, batch entries included, against a method → permission
/// table. Methods missing from the table need [`Permission::Admin`];
/// with [`PermissionLayer::served`], a method the server does not serve
/// at all passes with any valid token, so the server answers it with
/// -32601 (method not found) rather than a permission refusal.
///
/// It reads the [`AuthOutcome`] that [`BearerAuthLayer`](super::BearerAuthLayer)
/// stored; without that layer every call is refused as
/// [`AuthError::Missing`]. Refusals are JSON-RPC errors:
/// [`codes::INVALID_TOKEN`] with the [`AuthError`] message, or
/// [`codes::PERMISSION_DENIED`] with
/// `permission denied: <method> needs <perm>, token allows <perm>`.
#[derive(Clone, Debug)]
pub struct PermissionLayer {
    table: Arc<HashMap<&'static str, Permission>>,
    served: Option<Arc<HashSet<&'static str>>>,
}

impl PermissionLayer {
    /// Enforces `table` (method name → the permission it needs).
    pub fn new(table: HashMap<&'static str, Permission>) -> Self {
        Self {
            table: Arc::new(table),
            served: None,
        }
    }

    /// Lets a call to a method outside `served` (the module's method
    /// names) through with any valid token, to be answered -32601.
    pub fn served(mut self, served: impl IntoIterator<Item = &'static str>) -> Self {
        self.served = Some(Arc::new(served.into_iter().collect()));
        self
    }
}

impl<S> tower::Layer<S> for PermissionLayer {
    type Service = PermissionCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PermissionCheck {
            inner,
            table: self.table.clone(),
            served: self.served.clone(),
        }
    }
}

/// The service [`PermissionLayer`] makes.
#[derive(Clone, Debug)]
pub struct PermissionCheck<S> {
    inner: S,
    table: Arc<HashMap<&'static str, Permission>>,
    served: Option<Arc<HashSet<&'static str>>>,
}

impl<S> PermissionCheck<S> {
    fn check(&self, req: &Request<'_>) -> Result<(), ErrorObjectOwned> {
        let method = req.method_name();
        let unknown = self.served.as_ref().is_some_and(|s| !s.contains(method));
        let needed = match self.table.get(method) {
            Some(p) => *p,
            // Any valid token: the server answers "method not found".
            None if unknown => Permission::Read,
            None => Permission::Admin,
        };
        match req.extensions().get::<AuthOutcome>() {
            Some(AuthOutcome(Ok(caller))) if caller.permission >= needed => Ok(()),
            Some(AuthOutcome(Ok(caller))) => {
                tracing::debug!(method, %needed, allowed = %caller.permission, name = ?caller.name, "permission denied");
                Err(ErrorObjectOwned::owned(
                    codes::PERMISSION_DENIED,
                    format!(
                        "permission denied: {method} needs {needed}, token allows {}",
                        caller.permission
                    ),
                    None::<()>,
                ))
            }
            Some(AuthOutcome(Err(e))) => Err(token_refused(e)),
            None => Err(token_refused(&AuthError::Missing)),
        }
    }
}

fn token_refused(e: &AuthError) -> ErrorObjectOwned {
    tracing::debug!(error = %e, "token refused");
    ErrorObjectOwned::owned(codes::INVALID_TOKEN, e.to_string(), None::<()>)
}

impl<S> RpcServiceT for PermissionCheck<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let denied = self.check(&req).err();
        let inner = self.inner.clone();
        async move {
            match denied {
                Some(err) => MethodResponse::error(req.id, err),
                None => inner.call(req).await,
            }
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            let denied = match entry {
                Ok(BatchEntry::Call(req)) => self.check(req).err().map(|e| (req.id.clone(), e)),
                _ => None,
            };
            if let Some((id, err)) = denied {
                *entry = Err(BatchEntryErr::new(id, err));
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        // jsonrpsee runs no method for a notification: nothing to guard.
        self.inner.notification(n)
    }
}
