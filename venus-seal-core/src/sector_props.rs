//! Property tests over random event and failure sequences.

use proptest::prelude::*;

use crate::manager::AllocatedSector;
use crate::retry::{RetryDecision, RetryPolicy, RetryState};
use crate::sector::{Event, EventKind, SectorRecord, SectorState, TRANSITIONS};
use crate::stage::{Opaque, Pc2Output, PersistOutput, Proof};
use crate::{
    ActorId, CommD, CommR, FailureLevel, Randomness, SealProof, SectorId, SectorNumber, Seed,
    Ticket,
};

fn event(kind: u8) -> Event {
    let opaque = || Opaque::encode(&kind).unwrap();
    match kind % 16 {
        0 => Event::Allocated(AllocatedSector {
            id: SectorId::new(ActorId(1000), SectorNumber(1)),
            proof_type: SealProof::StackedDrg2KiBV1_1,
        }),
        1 => Event::DealsAcquired(vec![]),
        2 => Event::PiecesAdded(vec![]),
        3 => Event::TreeDBuilt(CommD([1; 32])),
        4 => Event::TicketAssigned(Ticket {
            ticket: Randomness([2; 32]),
            epoch: 1,
        }),
        5 => Event::Pc1Done(opaque()),
        6 => Event::Pc2Done(Pc2Output {
            comm_r: CommR([3; 32]),
            comm_d: CommD([1; 32]),
        }),
        7 => Event::PreCommitSubmitted,
        8 => Event::PreCommitLanded,
        9 => Event::Persisted(PersistOutput {
            instance: "s".into(),
            clean_sealing_location: true,
        }),
        10 => Event::SeedAssigned(Seed {
            seed: Randomness([4; 32]),
            epoch: 2,
        }),
        11 => Event::C1Done(opaque()),
        12 => Event::C2Done(Proof { proof: vec![5] }),
        13 => Event::ProofSubmitted,
        14 => Event::Finished,
        _ => Event::Aborted("x".into()),
    }
}

fn order(s: SectorState) -> usize {
    SectorState::ALL.iter().position(|x| *x == s).unwrap()
}

proptest! {
    /// Whatever events arrive, in whatever order: an accepted event moves
    /// the sector exactly one step along the table (or to Aborted), a
    /// refused one changes nothing, so no durable step is ever skipped and
    /// the state never goes backwards.
    #[test]
    fn no_step_is_skipped_and_no_state_goes_back(kinds in proptest::collection::vec(0u8..32, 0..200)) {
        let mut rec = SectorRecord::new(1);
        let mut visited = vec![rec.state];
        for k in kinds {
            let before = rec.clone();
            let ev = event(k);
            let kind = ev.kind();
            match rec.apply(ev) {
                Ok(next) => {
                    if kind == EventKind::Abort {
                        prop_assert_eq!(next, SectorState::Aborted);
                        prop_assert!(!before.state.is_terminal());
                    } else {
                        prop_assert_eq!(order(next), order(before.state) + 1, "one step at a time");
                        prop_assert!(TRANSITIONS.contains(&(before.state, kind, next)));
                    }
                    visited.push(next);
                }
                Err(_) => prop_assert_eq!(&rec, &before, "a refused event changes nothing"),
            }
        }
        // Visited states are the table's prefix, possibly ending in Aborted.
        let forward: Vec<_> = visited.iter().copied().filter(|s| *s != SectorState::Aborted).collect();
        for (i, s) in forward.iter().enumerate() {
            prop_assert_eq!(order(*s), i);
        }
        // Outputs needed later are present once their state is reached.
        if rec.state >= SectorState::TicketAssigned && rec.state != SectorState::Aborted {
            prop_assert!(rec.ticket.is_some());
        }
        if rec.state >= SectorState::PC2Done && rec.state != SectorState::Aborted {
            prop_assert!(rec.pc1_output.is_some() && rec.pc2_output.is_some());
        }
    }

    /// Temporary failures are retried exactly `max_retries` times in a row,
    /// then escalated to Permanent; other levels are never retried.
    #[test]
    fn temporary_escalates_after_exactly_max_retries(
        max_retries in 0u32..10,
        levels in proptest::collection::vec(0u8..4, 1..40),
    ) {
        let policy = RetryPolicy { recover_interval: std::time::Duration::from_secs(1), max_retries };
        let mut state = RetryState::default();
        let mut temporaries_in_a_row = 0;
        for l in levels {
            let level = [FailureLevel::Temporary, FailureLevel::Permanent, FailureLevel::Critical, FailureLevel::Abort][l as usize];
            let decision = policy.decide(&mut state, level);
            match level {
                FailureLevel::Temporary => {
                    temporaries_in_a_row += 1;
                    if temporaries_in_a_row <= max_retries {
                        prop_assert!(matches!(decision, RetryDecision::RetryAfter(_)));
                    } else {
                        prop_assert_eq!(decision, RetryDecision::Park(FailureLevel::Permanent));
                        break; // the sector is parked
                    }
                }
                FailureLevel::Permanent | FailureLevel::Critical => {
                    prop_assert_eq!(decision, RetryDecision::Park(level));
                    break;
                }
                FailureLevel::Abort => {
                    prop_assert_eq!(decision, RetryDecision::Abort);
                    break;
                }
            }
        }
    }
}
