//! What the sector manager remembers of each sector.

use serde::{Deserialize, Serialize};

use crate::chain::{MessageId, SendUid};
use crate::manager::{DealInfo, PreCommitOnChainInfo, StateReport};
use crate::stage::Proof;
use crate::types::ids::ChainEpoch;
use crate::types::proof::SealProof;
use crate::types::randomness::{Seed, Ticket};

/// One attempt to send a submission: the uid it is pushed under, saved
/// before the push so that a manager that died during the push recovers
/// that same attempt (the node or messager answers with the message it
/// already took) instead of sending a second message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAttempt {
    /// The uid of the push (shared by every sector of the batch).
    pub uid: SendUid,
    /// Which attempt of this submission it is (1 for the first).
    pub number: u32,
}

/// A submission the manager took, and the message that carries it.
///
/// A submission is *queued* until a batch carries it: no message, not
/// failed, not found on chain. A batcher claims it (`sending_since`) while
/// it sends; a claim older than [`Submitted::STALE_CLAIM_SECS`] belongs to
/// a batcher that died and is taken over. A queued submission with an
/// [`attempt`](Self::attempt) may already be on its way: it is sent again
/// only under that uid, with the other sectors of that attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Submitted<T> {
    /// What the worker submitted.
    pub content: T,
    /// The message that carries it (`None` while queued).
    pub message: Option<MessageId>,
    /// A batcher has been sending it since this time (Unix seconds).
    #[serde(default)]
    pub sending_since: Option<u64>,
    /// Why the last attempt to send it failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Sending failed for good (the node refused the message): the worker
    /// sees `PermFailed` and may resubmit with `reset`.
    #[serde(default)]
    pub failed: bool,
    /// It was found on chain without a recorded message (sent by a manager
    /// that crashed before saving the message id).
    #[serde(default)]
    pub found_on_chain: bool,
    /// Nothing is sent for it: a non-interactive PoRep sector's pre-commit
    /// (its proof's message carries it), landed as soon as recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_message: bool,
    /// How many times the manager queued it again after its message
    /// failed on chain.
    #[serde(default)]
    pub resends: u32,
    /// The current attempt: being pushed (no `message` yet) or the one
    /// that sent `message`.
    #[serde(default)]
    pub attempt: Option<SendAttempt>,
    /// How many attempts were made (each with its own uid).
    #[serde(default)]
    pub attempts: u32,
    /// The head when `message` was recorded (a message pending for too
    /// many epochs after it is replaced with a higher fee).
    #[serde(default)]
    pub sent_epoch: Option<ChainEpoch>,
}

impl<T> Submitted<T> {
    /// A claim older than this many seconds is taken over.
    pub const STALE_CLAIM_SECS: u64 = 300;

    /// A message that failed on chain is sent again at most this many
    /// times before the worker is told.
    pub const MAX_RESENDS: u32 = 3;

    /// A new submission, queued for the next batch.
    pub fn queued(content: T) -> Self {
        Self {
            content,
            message: None,
            sending_since: None,
            last_error: None,
            failed: false,
            found_on_chain: false,
            no_message: false,
            resends: 0,
            attempt: None,
            attempts: 0,
            sent_epoch: None,
        }
    }

    /// The attempt pushed (or being pushed) without a recorded message:
    /// a batcher died or lost the push's answer. It is recovered under
    /// the same uid.
    pub fn unfinished_attempt(&self) -> Option<&SendAttempt> {
        self.attempt.as_ref().filter(|_| self.is_queued())
    }

    /// Starts a new attempt under `uid` (saved before the push).
    pub fn begin_attempt(&mut self, uid: SendUid) {
        self.attempts += 1;
        self.attempt = Some(SendAttempt {
            uid,
            number: self.attempts,
        });
    }

    /// A submission nothing is sent for (see [`no_message`](Self::no_message)).
    pub fn without_message(content: T) -> Self {
        Self {
            no_message: true,
            ..Self::queued(content)
        }
    }

    /// Waiting for a batch (claimed or not).
    pub fn is_queued(&self) -> bool {
        self.message.is_none() && !self.failed && !self.found_on_chain && !self.no_message
    }

    /// Queued and not claimed by a live batcher at `now` (Unix seconds).
    pub fn is_claimable(&self, now: u64) -> bool {
        self.is_queued()
            && self
                .sending_since
                .is_none_or(|t| now.saturating_sub(t) >= Self::STALE_CLAIM_SECS)
    }
}

/// The manager's record of one sector (venus-seal-chain's
/// `LocalSectorManager::sector_status` reports it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SectorStatus {
    /// The proof type it was allocated with.
    pub proof_type: SealProof,
    /// The deals handed to it (`None`: not asked yet).
    pub deals: Option<Vec<DealInfo>>,
    /// The ticket handed out.
    pub ticket: Option<Ticket>,
    /// The pre-commit taken.
    pub pre_commit: Option<Submitted<PreCommitOnChainInfo>>,
    /// Where the worker persisted the sector.
    pub persisted_at: Option<String>,
    /// The seed handed out.
    pub seed: Option<Seed>,
    /// The proof taken.
    pub proof: Option<Submitted<Proof>>,
    /// The worker's last state report.
    pub last_report: Option<StateReport>,
    /// The worker reported the sector finalized.
    pub finalized: bool,
    /// The worker gave the sector up, for this reason.
    pub aborted: Option<String>,
    /// The operator asked the worker to give the sector up, for this
    /// reason (answered to its next state report or poll).
    #[serde(default)]
    pub abort_requested: Option<String>,
    /// What happened to it, oldest first: the worker's state reports and
    /// the manager's own steps (at most [`SectorStatus::HISTORY_CAP`];
    /// a record written before history was kept reads as empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<SectorEvent>,
    /// Its unseal jobs, one per piece (see [`crate::unseal`]); kept once
    /// done or failed, for the operator to read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseal: Vec<crate::unseal::UnsealJob>,
    /// Its rebuild job, if one was ever asked for (the last one: a new
    /// request replaces a job done or given up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<crate::rebuild::RebuildJob>,
    /// Its snap-up job, if one was ever asked for (the last one: a new
    /// request replaces a job given up). While it is open, the sector's
    /// [`deals`](Self::deals) are the ones being put into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snap_up: Option<crate::snapup::SnapUpJob>,
}

/// One entry of a sector's [`SectorStatus::history`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorEvent {
    /// When, in Unix seconds.
    pub at: u64,
    /// The worker that reported it (empty for the manager's own steps).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub worker: String,
    /// The state it left (empty for the manager's own steps).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prev: String,
    /// The state it is in after it (for the manager's own steps, the
    /// step: `PreCommitSent`, `ProofSent`, `AbortRequested`, …).
    pub next: String,
    /// The event, or what the manager did, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The failure reported with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::error::Failure>,
}

impl SectorEvent {
    /// A step of the manager's own (no worker, no previous state) at
    /// `at`.
    pub fn manager(at: u64, next: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            at,
            worker: String::new(),
            prev: String::new(),
            next: next.into(),
            detail: detail.into(),
            failure: None,
        }
    }
}

impl SectorStatus {
    /// A freshly allocated sector of `proof_type`.
    pub fn new(proof_type: SealProof) -> Self {
        Self {
            proof_type,
            deals: None,
            ticket: None,
            pre_commit: None,
            persisted_at: None,
            seed: None,
            proof: None,
            last_report: None,
            finalized: false,
            aborted: None,
            abort_requested: None,
            history: Vec::new(),
            unseal: Vec::new(),
            rebuild: None,
            snap_up: None,
        }
    }

    /// The most entries [`history`](Self::history) keeps: past it, the
    /// oldest after the first are dropped (a sector retried all night
    /// keeps how it started and its latest steps).
    pub const HISTORY_CAP: usize = 200;

    /// Appends `event` to the history, dropping the second-oldest entry
    /// when it is full.
    pub fn record(&mut self, event: SectorEvent) {
        if self.history.len() >= Self::HISTORY_CAP {
            self.history.remove(1);
        }
        self.history.push(event);
    }

    /// Where the sector is, in one word, as the manager knows it:
    /// `Aborted`, `Finalized`; the state its worker last reported (every
    /// transition, and where it parked); else, for a worker that reports
    /// nothing, the furthest step it took with the manager
    /// (`ProofSubmitted`, `SeedAssigned`, `Persisted`, `PreCommitSubmitted`,
    /// `TicketAssigned`, `DealsAcquired`, `Allocated`).
    pub fn pipeline_state(&self) -> &str {
        if self.aborted.is_some() {
            return "Aborted";
        }
        if self.finalized {
            return "Finalized";
        }
        if let Some(r) = &self.last_report {
            return r.state_change.next.as_str();
        }
        if self.proof.is_some() {
            "ProofSubmitted"
        } else if self.seed.is_some() {
            "SeedAssigned"
        } else if self.persisted_at.is_some() {
            "Persisted"
        } else if self.pre_commit.is_some() {
            "PreCommitSubmitted"
        } else if self.ticket.is_some() {
            "TicketAssigned"
        } else if self.deals.is_some() {
            "DealsAcquired"
        } else {
            "Allocated"
        }
    }

    /// Whether a pre-commit, a proof or a snap-up proof waits for a
    /// batch.
    pub fn has_queued_submission(&self) -> bool {
        self.pre_commit.as_ref().is_some_and(Submitted::is_queued)
            || self.proof.as_ref().is_some_and(Submitted::is_queued)
            || self
                .snap_up
                .as_ref()
                .is_some_and(crate::snapup::SnapUpJob::has_queued_submission)
    }
}
