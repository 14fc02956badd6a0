//! The sealing state machine: states, events, one transition table, and
//! the durable record of a sector.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Failure, ParseError};
use crate::manager::{AllocatedSector, DealInfo};
use crate::retry::RetryState;
use crate::stage::{Opaque, Pc2Output, PersistOutput, Proof};
use crate::types::commitment::CommD;
use crate::types::piece::PieceInfo;
use crate::types::randomness::{Seed, Ticket};

macro_rules! states {
    ($($state:ident),* $(,)?) => {
        /// Where a sector is in sealing. Each state is durable: everything
        /// the next step needs is in the [`SectorRecord`]. States compare
        /// in sealing order (`Aborted` last).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum SectorState { $(
            #[doc = concat!("`", stringify!($state), "`")]
            $state,
        )* }

        impl SectorState {
            /// Every state in sealing order (`Aborted` last).
            pub const ALL: &'static [SectorState] = &[$(SectorState::$state),*];

            /// The state's name.
            pub fn name(self) -> &'static str {
                match self { $(SectorState::$state => stringify!($state),)* }
            }
        }

        impl FromStr for SectorState {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $(stringify!($state) => Ok(SectorState::$state),)*
                    _ => Err(ParseError::new("sector state", s, "expected a state name like PC1Done")),
                }
            }
        }
    };
}

states!(
    Empty,
    Allocated,
    DealsAcquired,
    PiecesAdded,
    TreeDBuilt,
    TicketAssigned,
    PC1Done,
    PC2Done,
    PreCommitSubmitted,
    PreCommitLanded,
    Persisted,
    SeedAssigned,
    C1Done,
    C2Done,
    ProofSubmitted,
    Finished,
    Aborted,
);

impl fmt::Display for SectorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SectorState {
    /// Whether the sector is done, one way or the other.
    pub fn is_terminal(self) -> bool {
        matches!(self, SectorState::Finished | SectorState::Aborted)
    }

    /// The step that moves a sector out of this state, if any.
    pub fn next_step(self) -> Option<EventKind> {
        TRANSITIONS
            .iter()
            .find(|(from, event, _)| *from == self && *event != EventKind::Abort)
            .map(|(_, event, _)| *event)
    }
}

/// What happened to a sector; each carries the output it makes durable.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The manager allocated the sector.
    Allocated(AllocatedSector),
    /// Deals acquired (empty for CC).
    DealsAcquired(Vec<DealInfo>),
    /// Pieces written to the staged file.
    PiecesAdded(Vec<PieceInfo>),
    /// The data tree is built.
    TreeDBuilt(CommD),
    /// The ticket is drawn.
    TicketAssigned(Ticket),
    /// PC1 finished.
    Pc1Done(Opaque),
    /// PC2 finished.
    Pc2Done(Pc2Output),
    /// The manager took the pre-commit.
    PreCommitSubmitted,
    /// The pre-commit landed on chain.
    PreCommitLanded,
    /// The sealed files are persisted.
    Persisted(PersistOutput),
    /// The seed is drawn.
    SeedAssigned(Seed),
    /// C1 finished.
    C1Done(Opaque),
    /// C2 finished.
    C2Done(Proof),
    /// The manager took the proof.
    ProofSubmitted,
    /// The prove-commit landed; the sector is done.
    Finished,
    /// The sector was given up.
    Aborted(String),
}

/// The kind of an [`Event`], the key of the transition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum EventKind {
    Allocate,
    AcquireDeals,
    AddPieces,
    BuildTreeD,
    AssignTicket,
    Pc1,
    Pc2,
    SubmitPreCommit,
    LandPreCommit,
    Persist,
    AssignSeed,
    C1,
    C2,
    SubmitProof,
    Finish,
    Abort,
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Allocated(_) => EventKind::Allocate,
            Event::DealsAcquired(_) => EventKind::AcquireDeals,
            Event::PiecesAdded(_) => EventKind::AddPieces,
            Event::TreeDBuilt(_) => EventKind::BuildTreeD,
            Event::TicketAssigned(_) => EventKind::AssignTicket,
            Event::Pc1Done(_) => EventKind::Pc1,
            Event::Pc2Done(_) => EventKind::Pc2,
            Event::PreCommitSubmitted => EventKind::SubmitPreCommit,
            Event::PreCommitLanded => EventKind::LandPreCommit,
            Event::Persisted(_) => EventKind::Persist,
            Event::SeedAssigned(_) => EventKind::AssignSeed,
            Event::C1Done(_) => EventKind::C1,
            Event::C2Done(_) => EventKind::C2,
            Event::ProofSubmitted => EventKind::SubmitProof,
            Event::Finished => EventKind::Finish,
            Event::Aborted(_) => EventKind::Abort,
        }
    }
}

use EventKind as K;
use SectorState as S;

/// The transition table: `(from, event, to)`. Abort is allowed from every
/// non-terminal state and is handled separately.
pub const TRANSITIONS: &[(SectorState, EventKind, SectorState)] = &[
    (S::Empty, K::Allocate, S::Allocated),
    (S::Allocated, K::AcquireDeals, S::DealsAcquired),
    (S::DealsAcquired, K::AddPieces, S::PiecesAdded),
    (S::PiecesAdded, K::BuildTreeD, S::TreeDBuilt),
    (S::TreeDBuilt, K::AssignTicket, S::TicketAssigned),
    (S::TicketAssigned, K::Pc1, S::PC1Done),
    (S::PC1Done, K::Pc2, S::PC2Done),
    (S::PC2Done, K::SubmitPreCommit, S::PreCommitSubmitted),
    (S::PreCommitSubmitted, K::LandPreCommit, S::PreCommitLanded),
    (S::PreCommitLanded, K::Persist, S::Persisted),
    (S::Persisted, K::AssignSeed, S::SeedAssigned),
    (S::SeedAssigned, K::C1, S::C1Done),
    (S::C1Done, K::C2, S::C2Done),
    (S::C2Done, K::SubmitProof, S::ProofSubmitted),
    (S::ProofSubmitted, K::Finish, S::Finished),
];

/// The state `event` leads to from `from`, or `None` if the table forbids it.
pub fn transition(from: SectorState, event: EventKind) -> Option<SectorState> {
    if event == EventKind::Abort {
        return (!from.is_terminal()).then_some(SectorState::Aborted);
    }
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}

/// An event the state machine refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {event:?} is not allowed in state {state}")]
pub struct TransitionError {
    /// The sector's state.
    pub state: SectorState,
    /// The refused event.
    pub event: EventKind,
}

/// Everything durable about a sector: its state and every stage output the
/// next steps need. Persisted whole after every transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SectorRecord {
    /// The worker-local job id (stable before a sector number exists).
    pub job: u64,
    /// The state.
    pub state: SectorState,
    /// The sector, once allocated.
    pub sector: Option<AllocatedSector>,
    /// Deals in the sector.
    pub deals: Vec<DealInfo>,
    /// Pieces in the staged file (deals and fillers).
    pub pieces: Vec<PieceInfo>,
    /// CommD from tree_d.
    pub comm_d: Option<CommD>,
    /// The ticket.
    pub ticket: Option<Ticket>,
    /// The PC1 output.
    pub pc1_output: Option<Opaque>,
    /// The PC2 output.
    pub pc2_output: Option<Pc2Output>,
    /// Where the files were persisted.
    pub persisted: Option<PersistOutput>,
    /// The seed.
    pub seed: Option<Seed>,
    /// The C1 output.
    pub c1_output: Option<Opaque>,
    /// The proof.
    pub proof: Option<Proof>,
    /// Why it was aborted.
    pub abort_reason: Option<String>,
    /// The last failure, cleared by the next successful step.
    pub failure: Option<Failure>,
    /// Retries spent on the current step.
    pub retry: RetryState,
    /// Parked by a failure or an operator: the engine leaves it alone.
    pub paused: bool,
    /// The job's directory in its sealing location.
    #[serde(default)]
    pub location: Option<std::path::PathBuf>,
    /// Unix seconds of the last change.
    #[serde(default)]
    pub updated_at: Option<u64>,
    /// The key the job asks the manager for its sector with
    /// ([`AllocateSpec::allocation_key`](crate::manager::AllocateSpec::allocation_key)),
    /// saved with the new job before it asks: asking again after a crash
    /// gets the same sector. `None` (a record of an earlier release): the
    /// request carries no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_key: Option<String>,
}

impl SectorRecord {
    /// A new, empty job.
    pub fn new(job: u64) -> Self {
        Self {
            job,
            state: SectorState::Empty,
            sector: None,
            deals: Vec::new(),
            pieces: Vec::new(),
            comm_d: None,
            ticket: None,
            pc1_output: None,
            pc2_output: None,
            persisted: None,
            seed: None,
            c1_output: None,
            proof: None,
            abort_reason: None,
            failure: None,
            retry: RetryState::default(),
            paused: false,
            location: None,
            updated_at: None,
            allocation_key: None,
        }
    }

    /// Applies `event` if the transition table allows it, storing its
    /// output. A refused event changes nothing.
    pub fn apply(&mut self, event: Event) -> Result<SectorState, TransitionError> {
        let next = transition(self.state, event.kind()).ok_or(TransitionError {
            state: self.state,
            event: event.kind(),
        })?;
        match event {
            Event::Allocated(s) => self.sector = Some(s),
            Event::DealsAcquired(d) => self.deals = d,
            Event::PiecesAdded(p) => self.pieces = p,
            Event::TreeDBuilt(c) => self.comm_d = Some(c),
            Event::TicketAssigned(t) => self.ticket = Some(t),
            Event::Pc1Done(o) => self.pc1_output = Some(o),
            Event::Pc2Done(o) => self.pc2_output = Some(o),
            Event::Persisted(at) => self.persisted = Some(at),
            Event::SeedAssigned(s) => self.seed = Some(s),
            Event::C1Done(o) => self.c1_output = Some(o),
            Event::C2Done(p) => self.proof = Some(p),
            Event::Aborted(reason) => self.abort_reason = Some(reason),
            Event::PreCommitSubmitted
            | Event::PreCommitLanded
            | Event::ProofSubmitted
            | Event::Finished => {}
        }
        self.state = next;
        self.failure = None;
        self.retry = RetryState::default();
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_one_straight_line_through_every_state() {
        let mut state = SectorState::Empty;
        let mut seen = vec![state];
        while let Some(step) = state.next_step() {
            state = transition(state, step).unwrap();
            seen.push(state);
        }
        assert_eq!(state, SectorState::Finished);
        let expected: Vec<_> = SectorState::ALL
            .iter()
            .copied()
            .filter(|s| *s != SectorState::Aborted)
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn skipping_a_step_is_refused_and_changes_nothing() {
        let mut rec = SectorRecord::new(1);
        let before = rec.clone();
        let err = rec.apply(Event::PreCommitLanded).unwrap_err();
        assert_eq!(err.state, SectorState::Empty);
        assert_eq!(rec, before);
    }

    #[test]
    fn abort_from_anywhere_but_terminal() {
        for s in SectorState::ALL {
            let allowed = transition(*s, EventKind::Abort);
            assert_eq!(allowed.is_some(), !s.is_terminal(), "{s}");
        }
    }

    #[test]
    fn state_names_parse() {
        for s in SectorState::ALL {
            assert_eq!(s.name().parse::<SectorState>().unwrap(), *s);
        }
        assert!("Sealing".parse::<SectorState>().is_err());
    }
}
