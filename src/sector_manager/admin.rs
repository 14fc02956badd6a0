//! The operators' side: the admin API the manager serves beside the worker
//! API, and what the operator commands call to reach it.

use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_chain::manager::{LifecycleError, PoStScheduleError, ReadinessPolicy};
use venus_seal_chain::LocalSectorManager;
use venus_seal_chain::WindowPoStScheduler;
use venus_seal_core::lifecycle::{ExpiringSectors, LifecyclePlan};
use venus_seal_core::manager::DealInfo;
use venus_seal_core::rebuild::{RebuildJob, RebuildOrigin};
use venus_seal_core::unseal::UnsealJob;
use venus_seal_core::ChainError;
use venus_seal_core::{
    ActorId, ChainEpoch, ManagerError, PieceCid, Randomness, SealProof, SectorId, SectorNumber,
};
use venus_seal_rpc::manager::WorkerPingInfo;
use venus_seal_rpc::manager_admin::{
    AdminError, DeadlineReads, DealQueueStatus, ManagerAdminApi, ManagerAdminClient,
    RebuildJobEntry, SectorReadTime, SimulatedPartitionPoSt, SimulatedWindowPoSt, UnsealJobEntry,
};
use venus_seal_rpc::Permission;

use super::secret::read_secret;
use super::SectorManagerConfig;
use crate::runtime::ApiArgs;

/// The manager's operator methods (`Venus.Admin.*`): the deal queue,
/// refusing deals that no sector of the named miner can hold, and sector
/// aborts.
#[derive(Debug)]
pub struct ManagerAdmin {
    manager: Arc<LocalSectorManager>,
    miners: Vec<(ActorId, SealProof)>,
    proving: Option<(Arc<WindowPoStScheduler>, ReadinessPolicy)>,
}

impl ManagerAdmin {
    /// The admin API of `manager`, which serves `miners` (each with the
    /// proof its new sectors are sealed with).
    pub fn new(manager: Arc<LocalSectorManager>, miners: Vec<(ActorId, SealProof)>) -> Self {
        Self {
            manager,
            miners,
            proving: None,
        }
    }

    /// WindowPoSt dry runs (`Venus.Admin.CheckDeadline`) read through
    /// `scheduler`, judged by `policy` (its slow-read threshold and
    /// budget; every sector is read whatever its sample).
    pub fn with_proving(
        mut self,
        scheduler: Arc<WindowPoStScheduler>,
        policy: ReadinessPolicy,
    ) -> Self {
        self.proving = Some((scheduler, policy));
        self
    }

    /// Why `deal` cannot be queued for `miner` (any miner when `None`), if
    /// it cannot.
    fn refusal(&self, miner: Option<ActorId>, deal: &DealInfo) -> Option<String> {
        let size = deal.piece.size.0;
        let fits = |proof: &SealProof| size <= proof.sector_size().0;
        match miner {
            Some(m) => match self.miners.iter().find(|(id, _)| *id == m) {
                None => Some(format!("miner {m} is not served by this manager")),
                Some((_, proof)) if !fits(proof) => Some(format!(
                    "a {size}-byte piece does not fit the {} sectors of {m}",
                    proof.sector_size()
                )),
                Some(_) => None,
            },
            None if !self.miners.iter().any(|(_, p)| fits(p)) => {
                Some(format!("a {size}-byte piece fits no miner's sectors"))
            }
            None => None,
        }
    }
}

#[async_trait]
impl ManagerAdminApi for ManagerAdmin {
    async fn add_deal(&self, miner: Option<ActorId>, deal: DealInfo) -> Result<(), AdminError> {
        if let Some(why) = self.refusal(miner, &deal) {
            return Err(AdminError::Invalid(why));
        }
        self.manager
            .add_deal(miner, deal)
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))
    }

    async fn status(&self) -> Result<DealQueueStatus, AdminError> {
        let queued = self
            .manager
            .queued_deals()
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(DealQueueStatus { queued })
    }

    async fn abort_sector(&self, sector: SectorId, reason: String) -> Result<(), AdminError> {
        self.manager
            .request_abort(sector, reason)
            .await
            .map_err(manager_error)
    }

    async fn resend_sector(&self, sector: SectorId) -> Result<String, AdminError> {
        self.manager
            .force_resend(sector)
            .await
            .map_err(manager_error)
    }

    async fn sectors_expiring(
        &self,
        miner: ActorId,
        within: ChainEpoch,
    ) -> Result<ExpiringSectors, AdminError> {
        self.manager
            .sectors_expiring(miner, within)
            .await
            .map_err(lifecycle_error)
    }

    async fn extend_sectors(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        new_expiration: ChainEpoch,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError> {
        self.manager
            .extend_sectors(miner, &sectors, new_expiration, dry_run)
            .await
            .map_err(lifecycle_error)
    }

    async fn terminate_sectors(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError> {
        self.manager
            .terminate_sectors(miner, &sectors, dry_run)
            .await
            .map_err(lifecycle_error)
    }

    async fn request_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        dest: String,
    ) -> Result<UnsealJob, AdminError> {
        self.manager
            .request_unseal(sector, piece, dest)
            .await
            .map_err(manager_error)
    }

    async fn check_deadline(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<DeadlineReads, AdminError> {
        let scheduler = self.prover(miner, deadline)?;
        let policy = &self.proving.as_ref().expect("checked by prover").1;
        let r = scheduler
            .check_deadline_reads(miner, deadline, policy)
            .await
            .map_err(post_error)?;
        let ms = millis;
        Ok(DeadlineReads {
            miner: r.miner,
            deadline: r.deadline,
            opens: r.opens,
            closes: r.closes,
            partitions: r.partitions,
            sectors: r.sectors,
            reads: r
                .reads
                .iter()
                .map(|read| SectorReadTime {
                    number: read.number,
                    took_ms: ms(read.took),
                    unreadable: read.unreadable.clone(),
                })
                .collect(),
            predicted_ms: ms(r.predicted),
            allowed_ms: ms(r.allowed),
            slow: r.slow.clone(),
        })
    }

    async fn simulate_window_post(
        &self,
        miner: ActorId,
        deadline: u64,
        randomness: Option<Randomness>,
    ) -> Result<SimulatedWindowPoSt, AdminError> {
        let scheduler = self.prover(miner, deadline)?;
        let sim = scheduler
            .simulate_window_post(miner, deadline, randomness)
            .await
            .map_err(post_error)?;
        Ok(SimulatedWindowPoSt {
            miner: sim.miner,
            deadline: sim.deadline,
            randomness: sim.randomness,
            partitions: sim
                .partitions
                .into_iter()
                .map(|p| SimulatedPartitionPoSt {
                    index: p.index,
                    proven: p.proven,
                    skipped: p
                        .skipped
                        .into_iter()
                        .map(|s| (s.number, s.reason))
                        .collect(),
                    took_ms: millis(p.took),
                    proof_bytes: p.proof_bytes,
                })
                .collect(),
            took_ms: millis(sim.took),
        })
    }

    async fn request_rebuild(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<RebuildJob, AdminError> {
        self.manager
            .request_rebuild(sector, RebuildOrigin::Operator, reason)
            .await
            .map_err(manager_error)
    }

    async fn rebuild_jobs(&self) -> Result<Vec<RebuildJobEntry>, AdminError> {
        let jobs = self
            .manager
            .rebuild_jobs()
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(jobs
            .into_iter()
            .map(|(sector, job)| RebuildJobEntry { sector, job })
            .collect())
    }

    async fn request_snap_up(
        &self,
        sector: SectorId,
    ) -> Result<venus_seal_core::snapup::SnapUpJob, AdminError> {
        self.manager
            .request_snap_up(sector, venus_seal_core::snapup::SnapUpOrigin::Operator)
            .await
            .map_err(manager_error)
    }

    async fn cancel_snap_up(
        &self,
        sector: SectorId,
        reason: String,
    ) -> Result<venus_seal_core::snapup::SnapUpJob, AdminError> {
        self.manager
            .cancel_snap_up(sector, reason)
            .await
            .map_err(manager_error)
    }

    async fn snap_up_jobs(
        &self,
    ) -> Result<Vec<venus_seal_rpc::manager_admin::SnapUpJobEntry>, AdminError> {
        let jobs = self
            .manager
            .snap_up_jobs()
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(jobs
            .into_iter()
            .map(|(sector, job)| venus_seal_rpc::manager_admin::SnapUpJobEntry { sector, job })
            .collect())
    }

    async fn snap_up_candidates(
        &self,
        miner: ActorId,
        min_remaining_epochs: i64,
    ) -> Result<Vec<SectorNumber>, AdminError> {
        let policy = crate::chain::manager::SnapUpPolicy {
            min_remaining_epochs,
            ..Default::default()
        };
        self.manager
            .snap_up_candidates(miner, &policy)
            .await
            .map_err(manager_error)
    }

    async fn unseal_jobs(&self) -> Result<Vec<UnsealJobEntry>, AdminError> {
        let jobs = self
            .manager
            .unseal_jobs()
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(jobs
            .into_iter()
            .map(|(sector, job)| UnsealJobEntry { sector, job })
            .collect())
    }
}

impl ManagerAdmin {
    /// The WindowPoSt scheduler, for a miner this manager serves; refused
    /// naming why otherwise.
    fn prover(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<&Arc<WindowPoStScheduler>, AdminError> {
        let Some((scheduler, _)) = &self.proving else {
            return Err(AdminError::Invalid(format!(
                "this manager does not prove WindowPoSt ([proving] is not configured): \
                 nothing to do for {miner} deadline {deadline}"
            )));
        };
        if !self.miners.iter().any(|(m, _)| *m == miner) {
            return Err(AdminError::Invalid(format!(
                "miner {miner} is not served by this manager"
            )));
        }
        Ok(scheduler)
    }
}

/// A request the manager refused is the operator's mistake (invalid
/// params, saying why); the rest is the manager's failure.
fn manager_error(e: ManagerError) -> AdminError {
    match e {
        ManagerError::Rejected(why) => AdminError::Invalid(why),
        other => AdminError::Internal(other.to_string()),
    }
}

/// A duration in whole milliseconds (saturating).
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A deadline that does not exist is the operator's mistake; the rest is
/// the manager's failure.
fn post_error(e: PoStScheduleError) -> AdminError {
    match e {
        PoStScheduleError::Chain {
            source: ChainError::Rejected(why),
            ..
        } => AdminError::Invalid(why),
        other => AdminError::Internal(other.to_string()),
    }
}

/// The operator's mistakes are invalid params; the chain's failures are
/// the manager's.
fn lifecycle_error(e: LifecycleError) -> AdminError {
    match e {
        LifecycleError::Chain(e) => AdminError::Internal(e.to_string()),
        other => AdminError::Invalid(other.to_string()),
    }
}

/// A client of a running manager's admin API, where `args` says
/// ([`ApiArgs::endpoint`]): at `--api` (default: the `rpc.listen` of the
/// `--config` file) with `--token` (default: an admin token signed with the
/// config's `rpc.secret_file`, recorded as made by `name`). Reads the config
/// and the secret; creates nothing, so a missing secret is an error.
pub fn admin_client(args: &ApiArgs, name: &str) -> anyhow::Result<ManagerAdminClient> {
    let (url, token) = args.endpoint(
        |path| {
            let c = SectorManagerConfig::load(path)?;
            Ok((c.rpc.listen, c.rpc.secret_file, "rpc.secret_file"))
        },
        name,
    )?;
    Ok(ManagerAdminClient::new(url, token.as_deref())?)
}

/// A JWT with permission `perm` for the manager's API, signed with the
/// config's `rpc.secret_file` and recorded as made for `name`. Creates
/// nothing: the secret must exist (the manager makes it at its first
/// start).
pub fn worker_token(
    config: &SectorManagerConfig,
    perm: Permission,
    name: &str,
) -> anyhow::Result<String> {
    Ok(read_secret("rpc.secret_file", &config.rpc.secret_file)?.token(perm, Some(name)))
}

/// The workers' last pings as a table for operators (`workers`): name,
/// address, version, the slot counts damocles' summary carries and how
/// long ago each pinged (at `now_unix`), oldest first so that a worker gone
/// quiet is on top; `never-seen` workers are not known at all.
pub fn workers_table(workers: &[WorkerPingInfo], now_unix: i64) -> String {
    let mut rows: Vec<&WorkerPingInfo> = workers.iter().collect();
    rows.sort_by_key(|w| (w.last_ping, w.info.name.clone()));
    let mut out = format!(
        "{:<20} {:<22} {:<10} {:>7} {:>5} {:>7} {:>7} {:>6} {:>6}  LAST PING\n",
        "NAME", "DEST", "VERSION", "THREADS", "EMPTY", "RUNNING", "WAITING", "PAUSED", "ERRORS"
    );
    for w in rows {
        let s = &w.info.summary;
        let ago = (now_unix - w.last_ping).max(0) as u64;
        out.push_str(&format!(
            "{:<20} {:<22} {:<10} {:>7} {:>5} {:>7} {:>7} {:>6} {:>6}  {} ago\n",
            w.info.name,
            w.info.dest,
            w.info.version,
            s.threads,
            s.empty,
            s.running,
            s.waiting,
            s.paused,
            s.errors,
            humantime::format_duration(std::time::Duration::from_secs(ago)),
        ));
    }
    if workers.is_empty() {
        out.push_str("(no worker has pinged this manager since it started)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config_in(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("manager.toml");
        std::fs::write(
            &path,
            "[rpc]\nlisten = \"127.0.0.1:1789\"\nsecret_file = \"secret/rpc.secret\"\n\
             [chain]\nkind = \"embedded-devnet\"\nblock_time = \"1s\"\nstate_dir = \"state\"\n\
             [[miners]]\nid = \"f01000\"\nproof = \"StackedDrg2KiBV1_1\"\n",
        )
        .unwrap();
        path
    }

    #[test]
    fn reading_commands_create_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_in(dir.path());
        let config = SectorManagerConfig::load(&path).unwrap();
        let e = format!(
            "{:#}",
            worker_token(&config, Permission::Write, "w").unwrap_err()
        );
        assert!(
            e.contains("rpc.secret_file") && e.contains("does not exist"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            admin_client(&ApiArgs::with_config(&path), "cli").unwrap_err()
        );
        assert!(e.contains("does not exist"), "{e}");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "only the config: no secret, no state");
        for relative in ["secret", "state"] {
            assert!(
                !Path::new(relative).exists(),
                "{relative} made in the current directory"
            );
        }

        // With the secret the manager made (beside the config, not in the
        // current directory), both work.
        let secret =
            venus_seal_rpc::Secret::load_or_create(dir.path().join("secret/rpc.secret")).unwrap();
        let token = worker_token(&config, Permission::Write, "w").unwrap();
        let caller = secret.verify_caller(&token).unwrap();
        assert_eq!(caller.permission, Permission::Write);
        assert_eq!(caller.name.as_deref(), Some("w"));
        admin_client(&ApiArgs::with_config(&path), "cli").unwrap();
        admin_client(
            &ApiArgs::new(Some("http://127.0.0.1:1".into()), Some("t".into()), None),
            "cli",
        )
        .unwrap();
        let e = admin_client(&ApiArgs::default(), "cli")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--api"), "{e}");
    }
}
