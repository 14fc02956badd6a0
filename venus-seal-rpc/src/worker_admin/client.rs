//! Calling a worker's admin API.

use jsonrpsee::rpc_params;
use venus_seal_core::{SectorState, SectorSummary};

use super::methods;
use crate::client::RpcClient;
use crate::ClientError;

/// A client of a worker's admin API.
///
/// ```no_run
/// # async fn demo() -> Result<(), venus_seal_rpc::ClientError> {
/// use venus_seal_rpc::AdminClient;
///
/// let client = AdminClient::new("http://127.0.0.1:3456", Some("eyJhbGci…"))?;
/// for sector in client.list().await? {
///     println!("{} {}", sector.job, sector.state);
/// }
/// client.pause(7).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AdminClient {
    rpc: RpcClient,
}

impl AdminClient {
    /// A client of the worker at `url` (`http://host:port`), sending
    /// `token` as a bearer token when given.
    pub fn new(url: impl Into<String>, token: Option<&str>) -> Result<Self, ClientError> {
        let rpc = RpcClient::new(url, token)?;
        Ok(Self { rpc })
    }

    /// The worker's URL.
    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// Every sector the worker knows (`Venus.Admin.List`, read).
    pub async fn list(&self) -> Result<Vec<SectorSummary>, ClientError> {
        self.rpc.call(methods::LIST, rpc_params![]).await
    }

    /// Parks job `job` (`Venus.Admin.Pause`, admin).
    pub async fn pause(&self, job: u64) -> Result<(), ClientError> {
        self.rpc.call(methods::PAUSE, rpc_params![job]).await
    }

    /// Un-parks job `job`, optionally moving it to `state` first
    /// (`Venus.Admin.Resume`, admin).
    pub async fn resume(&self, job: u64, state: Option<SectorState>) -> Result<(), ClientError> {
        let state = state.map(|s| s.name());
        self.rpc
            .call(methods::RESUME, rpc_params![job, state])
            .await
    }

    /// Gives job `job` up (`Venus.Admin.Abort`, admin).
    pub async fn abort(&self, job: u64, reason: &str) -> Result<(), ClientError> {
        self.rpc
            .call(methods::ABORT, rpc_params![job, reason])
            .await
    }
}
