//! The Lotus / venus-auth permission ladder, HS256 tokens and the server
//! layers that enforce them.
//!
//! A token is a JWT signed with HS256 by a [`Secret`]; its claims are
//! Lotus' `{"Allow": ["read", "write", "sign", "admin"]}`, optionally with a
//! `"name"` (venus-auth sets one) and an `"exp"` (validated when present).
//! Its effective [`Permission`] is the highest one it allows.
//!
//! On a server, [`BearerAuthLayer`] (HTTP) verifies the `Authorization:
//! Bearer <jwt>` header and [`PermissionLayer`] (JSON-RPC) refuses every
//! call the token does not allow; see [`crate::codes`] for the error codes.
//! [`serve_with_auth`] serves any module behind both.
//!
//! ```
//! use venus_seal_rpc::{Permission, Secret};
//!
//! let secret = Secret::generate();
//! let token = secret.token(Permission::Write, Some("operator"));
//! assert_eq!(secret.verify(&token).unwrap(), Permission::Write);
//! ```

mod http_layer;
mod permission;
mod rpc_layer;
mod secret;
mod server;
mod token;
mod trusted;

pub use http_layer::{authenticate, AuthOutcome, BearerAuth, BearerAuthLayer};
pub use permission::{Permission, UnknownPermission};
pub use rpc_layer::{PermissionCheck, PermissionLayer};
pub use secret::{Secret, SecretError, SECRET_LEN};
pub use server::{serve_with_auth, serve_with_auth_and_pieces, MAX_CONNECTIONS};
pub use token::{AuthError, Caller, EXPIRY_LEEWAY};
pub use trusted::{
    serve_trusted, serve_trusted_with_pieces, Network, TrustedNetworks, TRUSTED_CALLER,
};
