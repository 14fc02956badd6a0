//! The HTTP layer: verifies the bearer token once per HTTP request.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::{AuthError, Caller, Secret};

/// What [`BearerAuth`] found, stored in the request extensions for
/// [`PermissionLayer`](super::PermissionLayer) and for method handlers
/// (jsonrpsee hands HTTP extensions on to each call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthOutcome(pub Result<Caller, AuthError>);

/// Reads `Authorization: Bearer <jwt>` from `headers` and verifies the
/// token with `secret`.
pub fn authenticate(secret: &Secret, headers: &HeaderMap) -> Result<Caller, AuthError> {
    let value = headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the Authorization header is not ASCII text".into()))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| AuthError::Malformed("expected `Authorization: Bearer <jwt>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed(format!(
            "expected `Authorization: Bearer <jwt>`, got scheme {scheme:?}"
        )));
    }
    secret.verify_caller(token.trim())
}

/// A [`tower::Layer`] for a jsonrpsee server's HTTP middleware
/// (`Server::builder().set_http_middleware(ServiceBuilder::new().layer(..))`)
/// that verifies each request's bearer token and inserts an [`AuthOutcome`]
/// into its extensions. It refuses nothing itself.
#[derive(Clone, Debug)]
pub struct BearerAuthLayer {
    secret: Arc<Secret>,
}

impl BearerAuthLayer {
    /// Verifies tokens with `secret`.
    pub fn new(secret: Secret) -> Self {
        Self {
            secret: Arc::new(secret),
        }
    }
}

impl<S> tower::Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::new(inner, Admission::Token(self.secret.clone()))
    }
}

/// How a [`BearerAuth`] finds each request's caller.
#[derive(Clone, Debug)]
pub(super) enum Admission {
    /// Verifies the request's bearer token with the secret.
    Token(Arc<Secret>),
    /// Admits every request as this caller (a listener that has already
    /// checked the client's address).
    Trusted(Caller),
}

impl Admission {
    fn outcome(&self, headers: &HeaderMap) -> AuthOutcome {
        AuthOutcome(match self {
            Self::Token(secret) => authenticate(secret, headers),
            Self::Trusted(caller) => Ok(caller.clone()),
        })
    }
}

/// The service [`BearerAuthLayer`] makes (and the trusted listener's
/// layer, which admits every request without a token).
#[derive(Clone, Debug)]
pub struct BearerAuth<S> {
    inner: S,
    admission: Admission,
}

impl<S> BearerAuth<S> {
    /// `inner`, each request's caller found as `admission` says.
    pub(super) fn new(inner: S, admission: Admission) -> Self {
        Self { inner, admission }
    }
}

impl<S, B> tower::Service<http::Request<B>> for BearerAuth<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let outcome = self.admission.outcome(req.headers());
        req.extensions_mut().insert(outcome);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Permission;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn header_forms() {
        let secret = Secret::generate();
        let token = secret.token(Permission::Read, None);
        assert_eq!(
            authenticate(&secret, &HeaderMap::new()),
            Err(AuthError::Missing)
        );
        assert_eq!(
            authenticate(&secret, &headers(&format!("bearer {token}")))
                .unwrap()
                .permission,
            Permission::Read
        );
        for bad in [token.as_str(), "Basic dXNlcjpwYXNz", "Bearer"] {
            assert!(
                matches!(
                    authenticate(&secret, &headers(bad)),
                    Err(AuthError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }
}
