//! One method per sector state: the step that state calls for.
//!
//! [`Sealer::step`] dispatches on the record's state. Each step reads what
//! it needs from the record (a missing field is Critical: the record
//! contradicts its state), calls the manager or a stage executor, and
//! answers the event to apply ([`Outcome::Done`]) or how long to wait
//! before asking again ([`Outcome::Wait`]). No step changes the record: the
//! run loop applies the event and saves it. A step whose stage leaves
//! files makes them durable before it answers, so they are on disk before
//! the record that says they hold its output.
//!
//! | state                | step                | event                |
//! |----------------------|---------------------|----------------------|
//! | `Empty`              | `allocate`          | `Allocated`          |
//! | `Allocated`          | `acquire_deals`     | `DealsAcquired`      |
//! | `DealsAcquired`      | `add_pieces`        | `PiecesAdded`        |
//! | `PiecesAdded`        | `build_tree_d`      | `TreeDBuilt`         |
//! | `TreeDBuilt`         | `assign_ticket`     | `TicketAssigned`     |
//! | `TicketAssigned`     | `pc1`               | `Pc1Done`            |
//! | `PC1Done`            | `pc2`               | `Pc2Done`            |
//! | `PC2Done`            | `submit_pre_commit` | `PreCommitSubmitted` |
//! | `PreCommitSubmitted` | `poll_pre_commit`   | `PreCommitLanded`    |
//! | `PreCommitLanded`    | `persist`          | `Persisted`          |
//! | `Persisted`          | `wait_seed`         | `SeedAssigned`       |
//! | `SeedAssigned`       | `c1`                | `C1Done`             |
//! | `C1Done`             | `c2`                | `C2Done`             |
//! | `C2Done`             | `submit_proof`      | `ProofSubmitted`     |
//! | `ProofSubmitted`     | `poll_proof`        | `Finished`           |

use std::path::Path;
use std::time::Duration;

use super::{Outcome, Sealer};
use crate::error::{Failure, FailureLevel, Leveled, ManagerError};
use crate::manager::{
    AllocateSpec, OnChainState, PollStateResponse, PreCommitOnChainInfo, SubmitResult,
};
use crate::sector::{Event, SectorRecord, SectorState};
use crate::stage::{AddPieces, Pc1, Pc2, Persist, SectorPaths, SynthInputs, TreeD, C1, C2};
use crate::types::ids::SectorId;
use crate::types::proof::SealProof;

impl Sealer {
    /// Performs the step `rec`'s state calls for. Its files live under
    /// `dir`, laid out as `paths`.
    pub(super) async fn step(
        &self,
        rec: &SectorRecord,
        dir: &Path,
        paths: &SectorPaths,
    ) -> Result<Outcome, Failure> {
        match rec.state {
            SectorState::Empty => self.allocate(rec).await,
            SectorState::Allocated => self.acquire_deals(rec).await,
            SectorState::DealsAcquired => self.add_pieces(rec, dir, paths).await,
            SectorState::PiecesAdded => self.build_tree_d(rec, paths).await,
            SectorState::TreeDBuilt => self.assign_ticket(rec).await,
            SectorState::TicketAssigned => self.pc1(rec, paths).await,
            SectorState::PC1Done => self.pc2(rec, paths).await,
            SectorState::PC2Done => self.submit_pre_commit(rec).await,
            SectorState::PreCommitSubmitted => self.poll_pre_commit(rec).await,
            SectorState::PreCommitLanded => self.persist(rec, paths).await,
            SectorState::Persisted => self.wait_seed(rec).await,
            SectorState::SeedAssigned => self.c1(rec, paths).await,
            SectorState::C1Done => self.c2(rec).await,
            SectorState::C2Done => self.submit_proof(rec).await,
            SectorState::ProofSubmitted => self.poll_proof(rec, dir).await,
            SectorState::Finished | SectorState::Aborted => {
                unreachable!("the run loop stops at terminal states")
            }
        }
    }

    /// `Empty`: asks the manager for a sector, with the job's saved
    /// allocation key (the same sector again after a crash); waits a poll
    /// interval when it has none to give.
    async fn allocate(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let spec = AllocateSpec {
            allocation_key: rec.allocation_key.clone(),
            ..self.config.allocate.clone()
        };
        let allocated = self.manager.allocate_sector(spec).await.map_err(fail)?;
        match allocated {
            Some(s) => Ok(Outcome::Done(Event::Allocated(s))),
            None => Ok(Outcome::Wait(self.config.poll_interval)),
        }
    }

    /// `Allocated`: asks the manager for the sector's deals (none for a
    /// committed-capacity sector).
    async fn acquire_deals(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let id = sector_id(rec)?;
        let deals = self
            .manager
            .acquire_deals(id, self.config.deals)
            .await
            .map_err(fail)?;
        Ok(Outcome::Done(Event::DealsAcquired(deals)))
    }

    /// `DealsAcquired`: fetches the deals' pieces next to the sector and
    /// writes them into the staged file; deals larger than the sector are
    /// Abort.
    async fn add_pieces(
        &self,
        rec: &SectorRecord,
        dir: &Path,
        paths: &SectorPaths,
    ) -> Result<Outcome, Failure> {
        let proof = proof_type(rec)?;
        let id = sector_id(rec)?;
        let total: u64 = rec.deals.iter().map(|d| d.piece.size.0).sum();
        if total > proof.sector_size().0 {
            return Err(Failure::new(
                FailureLevel::Abort,
                format!(
                    "deals need {total} bytes but a {} sector holds {}",
                    proof.sector_size(),
                    proof.sector_size().0
                ),
            ));
        }
        let sources = self.fetch_pieces(&rec.deals, dir).await?;
        let task = AddPieces {
            proof,
            sector: id,
            pieces: sources,
            staged: paths.staged.clone(),
        };
        let pieces = self
            .executors
            .add_pieces
            .execute(task)
            .await
            .map_err(fail)?;
        super::files::remove_pieces(&rec.deals, dir).await;
        // The staged file and its directory, and the sector's directory in
        // its location (created with the first piece).
        let location: Vec<&Path> = dir.parent().into_iter().collect();
        self.make_durable(&[&paths.staged], &location).await?;
        Ok(Outcome::Done(Event::PiecesAdded(pieces)))
    }

    /// `PiecesAdded`: builds tree-d over the staged file.
    async fn build_tree_d(
        &self,
        rec: &SectorRecord,
        paths: &SectorPaths,
    ) -> Result<Outcome, Failure> {
        let proof = proof_type(rec)?;
        let task = TreeD {
            proof,
            staged: paths.staged.clone(),
            cache: paths.cache.clone(),
            pieces: rec.pieces.clone(),
        };
        let out = self.executors.tree_d.execute(task).await.map_err(fail)?;
        self.make_durable(&[&paths.cache], &[]).await?;
        Ok(Outcome::Done(Event::TreeDBuilt(out.comm_d)))
    }

    /// `TreeDBuilt`: asks the manager for the ticket.
    async fn assign_ticket(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let id = sector_id(rec)?;
        let ticket = self.manager.assign_ticket(id).await.map_err(fail)?;
        Ok(Outcome::Done(Event::TicketAssigned(ticket)))
    }

    /// `TicketAssigned`: PC1.
    async fn pc1(&self, rec: &SectorRecord, paths: &SectorPaths) -> Result<Outcome, Failure> {
        let task = Pc1 {
            proof: proof_type(rec)?,
            sector: sector_id(rec)?,
            paths: paths.clone(),
            ticket: need(rec, rec.ticket, "ticket")?,
            pieces: rec.pieces.clone(),
        };
        let out = self.executors.pc1.execute(task).await.map_err(fail)?;
        self.make_durable(&[&paths.sealed, &paths.cache], &[])
            .await?;
        Ok(Outcome::Done(Event::Pc1Done(out)))
    }

    /// `PC1Done`: PC2, which rewrites the sealed file in place (see
    /// [`prepare_pc2`](Sealer::prepare_pc2)). The marker it leaves stays:
    /// the sealed file holds PC2's output from now on.
    async fn pc2(&self, rec: &SectorRecord, paths: &SectorPaths) -> Result<Outcome, Failure> {
        self.prepare_pc2(paths).await.map_err(fail)?;
        let proof = proof_type(rec)?;
        let synthetic = match proof.is_synthetic() {
            true => Some(SynthInputs {
                ticket: need(rec, rec.ticket, "ticket")?,
                pieces: rec.pieces.clone(),
            }),
            false => None,
        };
        let task = Pc2 {
            proof,
            sector: sector_id(rec)?,
            paths: paths.clone(),
            pc1_output: need(rec, rec.pc1_output.clone(), "PC1 output")?,
            synthetic,
        };
        let out = self.executors.pc2.execute(task).await.map_err(fail)?;
        self.make_durable(&[&paths.sealed, &paths.cache], &[])
            .await?;
        Ok(Outcome::Done(Event::Pc2Done(out)))
    }

    /// `PC2Done`: hands the pre-commit to the manager.
    async fn submit_pre_commit(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let sector = need(rec, rec.sector, "sector")?;
        let pc2 = need(rec, rec.pc2_output, "PC2 output")?;
        let info = PreCommitOnChainInfo {
            comm_r: pc2.comm_r,
            comm_d: pc2.comm_d,
            ticket: need(rec, rec.ticket, "ticket")?,
            deals: rec.deals.iter().map(|d| d.id).collect(),
        };
        let resp = self
            .manager
            .submit_pre_commit(sector, info, false)
            .await
            .map_err(fail)?;
        submitted(resp.res, resp.desc, "pre-commit")?;
        Ok(Outcome::Done(Event::PreCommitSubmitted))
    }

    /// `PreCommitSubmitted`: asks the manager whether the pre-commit
    /// landed.
    async fn poll_pre_commit(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let id = sector_id(rec)?;
        let resp = self.manager.poll_pre_commit_state(id).await.map_err(fail)?;
        self.landed(resp, "pre-commit", Event::PreCommitLanded)
    }

    /// `PreCommitLanded`: copies the sealed files to persistent storage
    /// and tells the manager where they are.
    async fn persist(&self, rec: &SectorRecord, paths: &SectorPaths) -> Result<Outcome, Failure> {
        let sector = need(rec, rec.sector, "sector")?;
        let task = Persist {
            proof: sector.proof_type,
            sector: sector.id,
            paths: paths.clone(),
            update: false,
        };
        let out = self.executors.persist.execute(task).await.map_err(fail)?;
        let ok = self
            .manager
            .submit_persisted(sector.id, out.instance.clone())
            .await
            .map_err(fail)?;
        if !ok {
            return Err(fail(ManagerError::Rejected(format!(
                "manager refused the persisted files at {}",
                out.instance
            ))));
        }
        if sector.proof_type.is_synthetic() {
            // C1 reads the synthetic proofs PC2 wrote, not the layers: free
            // them now rather than after the seed wait (FIP-0059). Not in
            // PC2 itself: a PC2 re-run after a crash reads them.
            super::files::free_sdr_layers(&paths.cache).await;
        }
        Ok(Outcome::Done(Event::Persisted(out)))
    }

    /// `Persisted`: asks the manager for the seed, waiting as long as it
    /// says (at most a poll interval) when it is not drawn yet.
    async fn wait_seed(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        // The proof type comes from the durable record, so it is sent after
        // a restart too (damocles' manager needs it with the request).
        let sector = need(rec, rec.sector, "sector")?;
        let resp = self.manager.wait_seed(sector).await.map_err(fail)?;
        match (resp.should_wait, resp.seed) {
            (false, Some(seed)) => Ok(Outcome::Done(Event::SeedAssigned(seed))),
            // The manager's delay is an estimate from its idea of the block
            // time (a devnet's sub-second epochs read as 100 ms each; real
            // epochs vary): wait at most one poll interval before asking
            // again.
            _ => Ok(Outcome::Wait(
                resp.delay
                    .min(self.config.poll_interval)
                    .max(Duration::from_millis(1)),
            )),
        }
    }

    /// `SeedAssigned`: C1.
    async fn c1(&self, rec: &SectorRecord, paths: &SectorPaths) -> Result<Outcome, Failure> {
        let task = C1 {
            proof: proof_type(rec)?,
            sector: sector_id(rec)?,
            paths: paths.clone(),
            ticket: need(rec, rec.ticket, "ticket")?,
            seed: need(rec, rec.seed, "seed")?,
            pc2_output: need(rec, rec.pc2_output, "PC2 output")?,
            pieces: rec.pieces.clone(),
        };
        let out = self.executors.c1.execute(task).await.map_err(fail)?;
        Ok(Outcome::Done(Event::C1Done(out)))
    }

    /// `C1Done`: C2, the SNARK.
    async fn c2(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let task = C2 {
            proof: proof_type(rec)?,
            sector: sector_id(rec)?,
            c1_output: need(rec, rec.c1_output.clone(), "C1 output")?,
        };
        let out = self.executors.c2.execute(task).await.map_err(fail)?;
        Ok(Outcome::Done(Event::C2Done(out)))
    }

    /// `C2Done`: hands the proof to the manager.
    async fn submit_proof(&self, rec: &SectorRecord) -> Result<Outcome, Failure> {
        let id = sector_id(rec)?;
        let proof = need(rec, rec.proof.clone(), "proof")?;
        let resp = self
            .manager
            .submit_proof(id, proof, false)
            .await
            .map_err(fail)?;
        submitted(resp.res, resp.desc, "proof")?;
        Ok(Outcome::Done(Event::ProofSubmitted))
    }

    /// `ProofSubmitted`: asks the manager whether the proof landed; once it
    /// has, reports the sector finalized and, when the replica lives in the
    /// persistent store, cleans the sealing location `dir`.
    async fn poll_proof(&self, rec: &SectorRecord, dir: &Path) -> Result<Outcome, Failure> {
        let id = sector_id(rec)?;
        let resp = self.manager.poll_proof_state(id).await.map_err(fail)?;
        let outcome = self.landed(resp, "prove-commit", Event::Finished)?;
        if matches!(outcome, Outcome::Done(_)) {
            self.manager.report_finalized(id).await.map_err(fail)?;
            // The replica lives in the persistent store now.
            if rec
                .persisted
                .as_ref()
                .is_some_and(|p| p.clean_sealing_location)
            {
                if let Err(e) = tokio::fs::remove_dir_all(dir).await {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not clean the sealing location");
                }
            }
        }
        Ok(outcome)
    }

    /// What the manager's answer about a message (`what`) means: `event`
    /// once it landed, a poll interval's wait while it is on its way, else
    /// a failure of the level the answer calls for.
    fn landed(
        &self,
        resp: PollStateResponse,
        what: &str,
        event: Event,
    ) -> Result<Outcome, Failure> {
        let desc = resp.desc.unwrap_or_default();
        match resp.state {
            OnChainState::Landed => Ok(Outcome::Done(event)),
            OnChainState::Pending | OnChainState::Packed => {
                Ok(Outcome::Wait(self.config.poll_interval))
            }
            OnChainState::NotFound | OnChainState::Failed => Err(Failure::new(
                FailureLevel::Temporary,
                format!("{what} not on chain yet ({:?}): {desc}", resp.state),
            )),
            OnChainState::PermFailed => Err(Failure::new(
                FailureLevel::Permanent,
                format!("{what} failed on chain: {desc}"),
            )),
            OnChainState::ShouldAbort => Err(Failure::new(
                FailureLevel::Abort,
                format!("manager says to abort after the {what}: {desc}"),
            )),
        }
    }
}

/// What the manager's answer to a submission (`what`) means: nothing to do
/// when it took it, else a failure of the level the answer calls for.
fn submitted(res: SubmitResult, desc: Option<String>, what: &str) -> Result<(), Failure> {
    let desc = desc.unwrap_or_default();
    match res {
        SubmitResult::Accepted | SubmitResult::DuplicateSubmit => Ok(()),
        SubmitResult::MismatchedSubmission | SubmitResult::Rejected => Err(Failure::new(
            FailureLevel::Abort,
            format!("manager rejected the {what} ({res:?}): {desc}"),
        )),
        SubmitResult::FilesMissed => Err(Failure::new(
            FailureLevel::Permanent,
            format!("manager says files are missing for the {what}: {desc}"),
        )),
    }
}

/// The failure an error stands for, at the level it carries.
fn fail<E: Leveled>(e: E) -> Failure {
    Failure::from_error(&e)
}

/// `value`, or the Critical failure of a record that lacks `what` although
/// its state says it has it.
fn need<T>(rec: &SectorRecord, value: Option<T>, what: &str) -> Result<T, Failure> {
    value.ok_or_else(|| {
        Failure::new(
            FailureLevel::Critical,
            format!("sector record in state {} lacks its {what}", rec.state),
        )
    })
}

/// The sector's id, which every state after `Empty` has.
fn sector_id(rec: &SectorRecord) -> Result<SectorId, Failure> {
    need(rec, rec.sector.map(|s| s.id), "sector id")
}

/// The sector's proof type, which every state after `Empty` has.
fn proof_type(rec: &SectorRecord) -> Result<SealProof, Failure> {
    need(rec, rec.sector.map(|s| s.proof_type), "proof type")
}
