//! [`StageCase`]s for the sealing stages (add_pieces, tree_d, pc1, pc2,
//! c1, c2) of one committed-capacity sector: each task factory runs the
//! stages before it on the executors given, so a stage's inputs are what
//! the real pipeline would hand it.
//!
//! Refusals every executor must make are built in (a corrupt output of the
//! stage before is Permanent); executors that read the sector's files add
//! [`SealingCases::with_file_checks`] (a missing input file is `Missing`,
//! Permanent; a piece larger than the sector is `InvalidTask`, Abort).

use std::path::Path;

use super::executor::StageCase;
use crate::error::FailureLevel;
use crate::sealer::StageExecutors;
use crate::stage::{AddPieces, Opaque, Pc1, Pc2, PieceSource, SectorPaths, Stage, TreeD, C1, C2};
use crate::types::ids::{ActorId, SectorId, SectorNumber};
use crate::types::piece::PaddedPieceSize;
use crate::types::proof::SealProof;
use crate::types::randomness::{Randomness, Seed, Ticket};

/// The sealing stages' cases; run each with
/// [`executor`](super::executor::executor).
#[derive(Debug)]
pub struct SealingCases {
    /// add_pieces
    pub add_pieces: StageCase<AddPieces>,
    /// tree_d
    pub tree_d: StageCase<TreeD>,
    /// pc1
    pub pc1: StageCase<Pc1>,
    /// pc2 (restores the sealed file before a re-run, as the engine does)
    pub pc2: StageCase<Pc2>,
    /// c1
    pub c1: StageCase<C1>,
    /// c2
    pub c2: StageCase<C2>,
}

const SECTOR: SectorId = SectorId {
    miner: ActorId(1000),
    number: SectorNumber(7),
};
const TICKET: Ticket = Ticket {
    ticket: Randomness([3; 32]),
    epoch: 100,
};
const SEED: Seed = Seed {
    seed: Randomness([5; 32]),
    epoch: 300,
};

fn add_pieces_task(proof: SealProof, dir: &Path) -> AddPieces {
    AddPieces {
        proof,
        sector: SECTOR,
        pieces: vec![],
        staged: SectorPaths::under(dir).staged,
    }
}

async fn run<S: Stage>(exec: &crate::DynExecutor<S>, task: S) -> S::Output {
    exec.execute(task)
        .await
        .unwrap_or_else(|e| panic!("preparing a {} task: {e}", S::NAME))
}

async fn tree_d_task(execs: &StageExecutors, proof: SealProof, dir: &Path) -> TreeD {
    let pieces = run(&execs.add_pieces, add_pieces_task(proof, dir)).await;
    let paths = SectorPaths::under(dir);
    TreeD {
        proof,
        staged: paths.staged,
        cache: paths.cache,
        pieces,
    }
}

async fn pc1_task(execs: &StageExecutors, proof: SealProof, dir: &Path) -> Pc1 {
    let tree_d = tree_d_task(execs, proof, dir).await;
    let pieces = tree_d.pieces.clone();
    run(&execs.tree_d, tree_d).await;
    Pc1 {
        proof,
        sector: SECTOR,
        paths: SectorPaths::under(dir),
        ticket: TICKET,
        pieces,
    }
}

async fn pc2_task(execs: &StageExecutors, proof: SealProof, dir: &Path) -> (Pc2, Pc1) {
    let pc1 = pc1_task(execs, proof, dir).await;
    let pc1_output = run(&execs.pc1, pc1.clone()).await;
    let task = Pc2 {
        proof,
        sector: SECTOR,
        paths: pc1.paths.clone(),
        pc1_output,
        synthetic: None,
    };
    (task, pc1)
}

async fn c1_task(execs: &StageExecutors, proof: SealProof, dir: &Path) -> C1 {
    let (pc2, pc1) = pc2_task(execs, proof, dir).await;
    let pc2_output = run(&execs.pc2, pc2).await;
    C1 {
        proof,
        sector: SECTOR,
        paths: pc1.paths,
        ticket: TICKET,
        seed: SEED,
        pc2_output,
        pieces: pc1.pieces,
    }
}

async fn c2_task(execs: &StageExecutors, proof: SealProof, dir: &Path) -> C2 {
    let c1 = c1_task(execs, proof, dir).await;
    let c1_output = run(&execs.c1, c1).await;
    C2 {
        proof,
        sector: SECTOR,
        c1_output,
    }
}

/// PC2 rewrites the sealed file in place: before a re-run the engine
/// restores it from the staged copy.
fn restore_sealed(task: &Pc2) {
    if task.paths.staged.exists() {
        std::fs::copy(&task.paths.staged, &task.paths.sealed)
            .expect("restoring the sealed file from the staged copy");
    }
}

fn corrupt() -> Opaque {
    Opaque::encode(&"not a stage output").expect("a string encodes")
}

/// Cases for sealing a committed-capacity sector of `proof`, preparing
/// each stage's inputs with `execs` (the executor under test itself, or
/// any other that makes compatible outputs).
pub fn sealing_cases(execs: &StageExecutors, proof: SealProof) -> SealingCases {
    let e = execs.clone();
    let tree_d = StageCase::new(move |dir| {
        let e = e.clone();
        async move { tree_d_task(&e, proof, &dir).await }
    });
    let e = execs.clone();
    let pc1 = StageCase::new(move |dir| {
        let e = e.clone();
        async move { pc1_task(&e, proof, &dir).await }
    });
    let e = execs.clone();
    let pc2 = StageCase::new(move |dir| {
        let e = e.clone();
        async move { pc2_task(&e, proof, &dir).await.0 }
    })
    .before_rerun(restore_sealed)
    .refuses("a corrupt PC1 output", FailureLevel::Permanent, |mut t| {
        t.pc1_output = corrupt();
        t
    });
    let e = execs.clone();
    let c1 = StageCase::new(move |dir| {
        let e = e.clone();
        async move { c1_task(&e, proof, &dir).await }
    });
    let e = execs.clone();
    let c2 = StageCase::new(move |dir| {
        let e = e.clone();
        async move { c2_task(&e, proof, &dir).await }
    })
    .refuses("a corrupt C1 output", FailureLevel::Permanent, |mut t| {
        t.c1_output = corrupt();
        t
    });
    SealingCases {
        add_pieces: StageCase::new(move |dir| async move { add_pieces_task(proof, &dir) }),
        tree_d,
        pc1,
        pc2,
        c1,
        c2,
    }
}

impl SealingCases {
    /// Expects every Abort refusal at `level` ([`StageCase::abort_as`]).
    pub fn abort_as(self, level: FailureLevel) -> Self {
        Self {
            add_pieces: self.add_pieces.abort_as(level),
            tree_d: self.tree_d.abort_as(level),
            pc1: self.pc1.abort_as(level),
            pc2: self.pc2.abort_as(level),
            c1: self.c1.abort_as(level),
            c2: self.c2.abort_as(level),
        }
    }

    /// Adds the refusals of executors that read the sector's files: a
    /// missing piece file or staged file is `Missing` (Permanent), a
    /// missing sealed file too, and a piece larger than the sector is
    /// `InvalidTask` (Abort).
    pub fn with_file_checks(mut self) -> Self {
        self.add_pieces = self
            .add_pieces
            .refuses("a missing piece file", FailureLevel::Permanent, |mut t| {
                t.pieces = vec![PieceSource::File {
                    path: t.staged.with_file_name("no-such-piece"),
                    unpadded_size: 127,
                    expected: None,
                }];
                t
            })
            .refuses(
                "a piece larger than the sector",
                FailureLevel::Abort,
                |mut t| {
                    let size = t.proof.sector_size().0;
                    t.pieces = vec![PieceSource::Zero {
                        size: PaddedPieceSize(size * 2),
                    }];
                    t
                },
            );
        self.tree_d = self
            .tree_d
            .refuses("a missing staged file", FailureLevel::Permanent, |t| {
                std::fs::remove_file(&t.staged).expect("removing the staged file");
                t
            });
        self.pc1 = self
            .pc1
            .refuses("a missing staged file", FailureLevel::Permanent, |t| {
                std::fs::remove_file(&t.paths.staged).expect("removing the staged file");
                t
            });
        self.pc2 = self
            .pc2
            .refuses("a missing sealed file", FailureLevel::Permanent, |t| {
                std::fs::remove_file(&t.paths.sealed).expect("removing the sealed file");
                t
            });
        self.c1 = self
            .c1
            .refuses("a missing sealed file", FailureLevel::Permanent, |t| {
                std::fs::remove_file(&t.paths.sealed).expect("removing the sealed file");
                t
            });
        self
    }
}
