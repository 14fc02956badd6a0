//! The worker's admin JSON-RPC API: list, pause, resume and abort sector
//! jobs.
//!
//! | method | params | result | needs |
//! | --- | --- | --- | --- |
//! | `Venus.Admin.List` | `[]` | `[SectorSummary]` | read |
//! | `Venus.Admin.Pause` | `[job]` | `null` | admin |
//! | `Venus.Admin.Resume` | `[job, state or null]` | `null` | admin |
//! | `Venus.Admin.Abort` | `[job, reason]` | `null` | admin |
//!
//! `state` is a [`SectorState`] name such as `"PC1Done"`; a bad one is an
//! invalid-params error (-32602) naming it. Engine refusals map to the
//! codes in [`crate::codes`] with the engine's message (`no sector job 7`).

mod client;
mod server;

use std::collections::HashMap;

use async_trait::async_trait;
use venus_seal_core::engine::ControlError;
use venus_seal_core::{EngineHandle, SectorState, SectorSummary};

use crate::Permission;

pub use client::AdminClient;
pub use server::{admin_module, serve_admin};

/// The method names.
pub mod methods {
    /// `Venus.Admin.List` (read).
    pub const LIST: &str = "Venus.Admin.List";
    /// `Venus.Admin.Pause` (admin).
    pub const PAUSE: &str = "Venus.Admin.Pause";
    /// `Venus.Admin.Resume` (admin).
    pub const RESUME: &str = "Venus.Admin.Resume";
    /// `Venus.Admin.Abort` (admin).
    pub const ABORT: &str = "Venus.Admin.Abort";
}

/// The permission each admin method needs.
pub fn admin_permissions() -> HashMap<&'static str, Permission> {
    HashMap::from([
        (methods::LIST, Permission::Read),
        (methods::PAUSE, Permission::Admin),
        (methods::RESUME, Permission::Admin),
        (methods::ABORT, Permission::Admin),
    ])
}

/// What the admin API steers: implemented for [`EngineHandle`]; tests
/// serve a fake.
#[async_trait]
pub trait AdminApi: Send + Sync + 'static {
    /// Every sector the worker knows, finished ones included.
    async fn list(&self) -> Result<Vec<SectorSummary>, ControlError>;
    /// Parks the job where it is.
    async fn pause(&self, job: u64) -> Result<(), ControlError>;
    /// Un-parks the job, optionally moving it to `state` first.
    async fn resume(&self, job: u64, state: Option<SectorState>) -> Result<(), ControlError>;
    /// Gives the sector up.
    async fn abort(&self, job: u64, reason: String) -> Result<(), ControlError>;
}

#[async_trait]
impl AdminApi for EngineHandle {
    async fn list(&self) -> Result<Vec<SectorSummary>, ControlError> {
        EngineHandle::list(self).await
    }

    async fn pause(&self, job: u64) -> Result<(), ControlError> {
        EngineHandle::pause(self, job).await
    }

    async fn resume(&self, job: u64, state: Option<SectorState>) -> Result<(), ControlError> {
        EngineHandle::resume(self, job, state).await
    }

    async fn abort(&self, job: u64, reason: String) -> Result<(), ControlError> {
        EngineHandle::abort(self, job, reason).await
    }
}

fn _assert_dyn(_: std::sync::Arc<dyn AdminApi>) {}
