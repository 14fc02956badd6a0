//! venus-seal-rpc: the JSON-RPC plumbing of venus-seal — Lotus-style JWT
//! authentication and the worker's admin API.
//!
//! * [`auth`]: the permission ladder ([`Permission`]: read < write < sign <
//!   admin), the HS256 [`Secret`] that signs and verifies Lotus-compatible
//!   tokens (`{"Allow": ["read", "write", …]}`), and the two server layers
//!   that enforce them on a jsonrpsee server ([`auth::serve_with_auth`]
//!   serves any module behind them).
//! * [`worker_admin`]: the worker's operator API (`Venus.Admin.List`, `Pause`,
//!   `Resume`, `Abort`) behind the small [`AdminApi`] trait, served by
//!   [`serve_admin`] and called through [`AdminClient`].
//! * [`manager_admin`]: the sector manager's operator methods: deal intake
//!   (`Venus.Admin.AddDeal`, `Venus.Admin.DealQueue`) and sector aborts
//!   (`Venus.Admin.AbortSector`) behind the small
//!   [`manager_admin::ManagerAdminApi`] trait, served beside the worker API by
//!   [`manager::ManagerServer::admin`] and called through
//!   [`manager_admin::ManagerAdminClient`].
//! * [`manager`]: the worker-facing sector manager API (`Venus.*`, as
//!   damocles names it): [`serve_manager`] and [`ManagerClient`], which
//!   implements `SectorManager` so a worker uses a remote manager through
//!   the same trait.
//! * [`codes`]: the JSON-RPC error codes every server here answers with.
//! * [`client`]: an authenticated jsonrpsee [`HttpClient`](jsonrpsee::http_client::HttpClient)
//!   and the [`ClientError`] that tells "unreachable" from "refused" from
//!   "the command failed".
//!
//! # Design rationale
//!
//! * **Auth failures are JSON-RPC errors, not HTTP 401.** Lotus answers a
//!   bad token with HTTP 401 and a text body; a jsonrpsee client drops that
//!   body and reports only "Request rejected `401`". Here every refusal is a
//!   JSON-RPC error with HTTP 200, so the caller always sees the reason:
//!   [`codes::INVALID_TOKEN`] (-32002) for a missing, malformed, forged or
//!   expired token and [`codes::PERMISSION_DENIED`] (-32001) for a valid
//!   token that allows too little. The client still maps a plain HTTP 401
//!   (a Lotus node) to [`ClientError::Unauthenticated`].
//! * **Two layers, one decision each.** An HTTP [`tower`] layer
//!   ([`auth::BearerAuthLayer`]) reads the `Authorization` header once per
//!   request and stores the outcome in the request extensions; an RPC layer
//!   ([`auth::PermissionLayer`]) checks each call (batch entries included)
//!   against a method → [`Permission`] table in which unknown methods need
//!   `admin`.
//! * **Every call needs a token.** Unlike a Lotus node, which answers `read`
//!   methods anonymously, a worker's admin API refuses calls without a
//!   token: its sector list is nobody else's business.
//! * **The engine stays behind a trait.** This crate knows the engine only
//!   through [`AdminApi`], implemented for [`venus_seal_core::EngineHandle`];
//!   tests serve a fake.
#![warn(missing_docs, missing_debug_implementations)]

pub mod auth;
pub mod client;
pub mod codes;
mod error;
pub mod manager_admin;
mod params;
pub mod worker_admin;

pub use auth::{AuthError, Caller, Permission, Secret, SecretError};
pub use client::{http_client, ClientError};
pub use error::RpcError;
pub use worker_admin::{serve_admin, AdminApi, AdminClient};

pub mod manager;

pub use manager::{manager_module, serve_manager, ManagerClient, WorkerInfo};
