//! Core hot paths: state transitions and commitment parsing.
//!
//! `cargo bench --bench core`; CI runs it in quick mode
//! (`cargo bench --bench core -- --quick`).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use venus_seal_core::sector::{transition, EventKind, SectorState};
use venus_seal_core::CommD;

fn transitions(c: &mut Criterion) {
    c.bench_function("walk the sealing table", |b| {
        b.iter(|| {
            let mut state = SectorState::Empty;
            while let Some(step) = state.next_step() {
                state = transition(black_box(state), step).unwrap();
            }
            assert_eq!(state, SectorState::Finished);
            black_box(transition(state, EventKind::Abort))
        })
    });
}

fn commitments(c: &mut Criterion) {
    let s = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy";
    c.bench_function("parse and print a PieceCID", |b| {
        b.iter(|| black_box(s).parse::<CommD>().unwrap().to_string())
    });
}

criterion_group!(benches, transitions, commitments);
criterion_main!(benches);
