//! [`StageCase`]s for the proving stages (window_post, winning_post,
//! check_provable, unseal, snap_encode) and [`post_contract`], the checks
//! of what their outputs mean.
//!
//! Every case needs sealed sectors: a [`SectorFixture`] makes them, either
//! by running add_pieces to pc2 of a committed-capacity sector on the
//! executors given ([`SectorFixture::sealed_by`]: the executor under test
//! itself, or the core's fakes for the fake PoSt executors), or by any
//! closure the caller brings ([`SectorFixture::new`]). The fixture also
//! says how to make a sealed sector unprovable (by default its sealed file
//! is removed; a fake that reads no files marks it faulty instead).
//!
//! The documented behaviour each case checks:
//!
//! * **window_post** skips an unprovable sector, reported in
//!   [`WindowPoStOutput::skipped`](crate::proving::WindowPoStOutput) with
//!   its reason, and proves the rest: never an error for the partition
//!   ([`post_contract`]);
//! * **check_provable** reports exactly the unprovable sectors
//!   ([`post_contract`]);
//! * **winning_post** fails when a challenged sector cannot be proven
//!   (a proof failure: `Computation`, Permanent);
//! * **unseal** of a range past the sector is a wrong request
//!   (`InvalidTask`, Abort: `ProvingError::InvalidRequest`); the bytes of a
//!   committed-capacity sector unseal to zeros ([`post_contract`]);
//! * **snap_encode** of staged data shorter than the sector is a wrong
//!   request (`InvalidTask`, Abort) ([`snap_encode_case`]);
//! * the proofs verify with the verifier of the same family, and not
//!   against other randomness ([`post_contract`]).
//!
//! * **snap_prove** of an encoding whose updated replica is gone fails
//!   Permanent ([`snap_prove_case`]; it needs the empty-sector-update
//!   Groth16 parameters, about 21 minutes to generate at 2KiB on 2 cores,
//!   so the backends run it in an ignored test).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::executor::{BoxFuture, StageCase};
use super::scratch::Scratch;
use crate::error::FailureLevel;
use crate::executor::Executor;
use crate::proving::{
    PoStSector, ProvingSector, SectorFiles, UnsealRequest, WindowPoStVerifyInfo,
    WinningPoStVerifyInfo,
};
use crate::sealer::StageExecutors;
use crate::stage::{
    AddPieces, CheckProvable, Pc1, Pc2, SectorPaths, SnapEncode, SnapProve, Stage, TreeD, Unseal,
    WindowPoSt, WinningPoSt,
};
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{ActorId, SectorId, SectorNumber};
use crate::types::piece::{PaddedPieceSize, PieceInfo};
use crate::types::proof::SealProof;
use crate::types::randomness::{Randomness, Ticket};
use crate::verify::ProofVerifier;

/// The miner every fixture sector belongs to.
pub const MINER: ActorId = ActorId(1000);

const TICKET: Ticket = Ticket {
    ticket: Randomness([3; 32]),
    epoch: 100,
};
const CHALLENGE: Randomness = Randomness([9; 32]);

/// A sealed committed-capacity sector: what proving it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSector {
    /// The sector.
    pub id: SectorId,
    /// Its seal proof.
    pub proof: SealProof,
    /// Its replica commitment.
    pub comm_r: CommR,
    /// Its data commitment.
    pub comm_d: CommD,
    /// The ticket it was sealed with.
    pub ticket: Randomness,
    /// Its replica and cache.
    pub files: SectorFiles,
}

impl SealedSector {
    /// The sector as the chain holds it.
    pub fn post_sector(&self) -> PoStSector {
        PoStSector {
            number: self.id.number,
            seal_proof: self.proof,
            comm_r: self.comm_r,
            sector_key: None,
        }
    }

    /// The sector as a PoSt task carries it.
    pub fn proving(&self) -> ProvingSector {
        ProvingSector {
            sector: self.post_sector(),
            files: self.files.clone(),
        }
    }
}

type SealFn = dyn Fn(PathBuf, SectorId) -> BoxFuture<SealedSector> + Send + Sync;
type BreakFn = dyn Fn(&ProvingSector) + Send + Sync;

/// Makes sealed sectors for the proving cases, and makes them unprovable.
#[derive(Clone)]
pub struct SectorFixture {
    seal: Arc<SealFn>,
    break_sector: Arc<BreakFn>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for SectorFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SectorFixture")
            .field("next", &self.next)
            .finish()
    }
}

fn remove_sealed_file(sector: &ProvingSector) {
    std::fs::remove_file(&sector.files.sealed).expect("removing the sealed file");
}

impl SectorFixture {
    /// A fixture whose `seal(dir, id)` returns sector `id` sealed, its
    /// files under `dir` (a fresh, empty directory); unprovable sectors
    /// lose their sealed file.
    pub fn new<F, Fut>(seal: F) -> Self
    where
        F: Fn(PathBuf, SectorId) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = SealedSector> + Send + 'static,
    {
        Self {
            seal: Arc::new(move |dir, id| Box::pin(seal(dir, id))),
            break_sector: Arc::new(remove_sealed_file),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Sectors of `proof` sealed (add_pieces to pc2, no pieces) by
    /// `execs`.
    pub fn sealed_by(execs: &StageExecutors, proof: SealProof) -> Self {
        let execs = execs.clone();
        Self::new(move |dir, id| {
            let execs = execs.clone();
            async move { seal_cc(&execs, proof, id, &dir).await }
        })
    }

    /// Makes a sector unprovable with `break_sector` instead of removing
    /// its sealed file (a fake PoSt executor that reads no files marks it
    /// faulty).
    pub fn breaking_with(
        mut self,
        break_sector: impl Fn(&ProvingSector) + Send + Sync + 'static,
    ) -> Self {
        self.break_sector = Arc::new(break_sector) as Arc<BreakFn>;
        self
    }

    /// A fresh sealed sector (a new number each call), its files under
    /// `dir`.
    pub async fn seal(&self, dir: &Path) -> SealedSector {
        let number = SectorNumber(self.next.fetch_add(1, Ordering::SeqCst));
        (self.seal)(dir.to_path_buf(), SectorId::new(MINER, number)).await
    }

    /// Makes `sector` unprovable.
    pub fn break_sector(&self, sector: &ProvingSector) {
        (self.break_sector)(sector)
    }
}

async fn run<S: Stage>(exec: &crate::DynExecutor<S>, task: S) -> S::Output {
    exec.execute(task)
        .await
        .unwrap_or_else(|e| panic!("sealing a sector to prove, {}: {e}", S::NAME))
}

/// Seals a committed-capacity sector on `execs`: add_pieces (none),
/// tree_d, pc1, pc2.
async fn seal_cc(
    execs: &StageExecutors,
    proof: SealProof,
    sector: SectorId,
    dir: &Path,
) -> SealedSector {
    let paths = SectorPaths::under(dir);
    let staged = paths.staged.clone();
    let task = AddPieces {
        proof,
        sector,
        pieces: vec![],
        staged: staged.clone(),
    };
    let pieces = run(&execs.add_pieces, task).await;
    let cache = paths.cache.clone();
    let (ticket, sealed) = (TICKET, paths.sealed.clone());
    let tree_d = TreeD {
        proof,
        staged,
        cache: cache.clone(),
        pieces: pieces.clone(),
    };
    run(&execs.tree_d, tree_d).await;
    let pc1 = Pc1 {
        proof,
        sector,
        paths: paths.clone(),
        ticket,
        pieces,
    };
    let pc1_output = run(&execs.pc1, pc1).await;
    let pc2 = Pc2 {
        proof,
        sector,
        paths,
        pc1_output,
        synthetic: None,
    };
    let out = run(&execs.pc2, pc2).await;
    SealedSector {
        id: sector,
        proof,
        comm_r: out.comm_r,
        comm_d: out.comm_d,
        ticket: ticket.ticket,
        files: SectorFiles { sealed, cache },
    }
}

/// The proving stages' cases; run each with
/// [`executor`](super::executor::executor), and [`post_contract`] once.
#[derive(Debug)]
pub struct ProvingCases {
    /// window_post of one sector
    pub window_post: StageCase<WindowPoSt>,
    /// winning_post of one sector; refuses an unprovable one (Permanent)
    pub winning_post: StageCase<WinningPoSt>,
    /// check_provable of one sector
    pub check_provable: StageCase<CheckProvable>,
    /// unseal of the first 127 bytes; refuses a range past the sector
    /// (Abort)
    pub unseal: StageCase<Unseal>,
}

/// Cases over sectors from `fixture`.
pub fn proving_cases(fixture: &SectorFixture) -> ProvingCases {
    let f = fixture.clone();
    let window_post = StageCase::new(move |dir| {
        let f = f.clone();
        async move {
            let sector = f.seal(&dir).await;
            WindowPoSt {
                miner: MINER,
                deadline: 0,
                partition: 0,
                randomness: CHALLENGE,
                sectors: vec![sector.proving()],
            }
        }
    });
    let f = fixture.clone();
    let check_provable = StageCase::new(move |dir| {
        let f = f.clone();
        async move {
            CheckProvable {
                miner: MINER,
                sectors: vec![f.seal(&dir).await.proving()],
            }
        }
    });
    ProvingCases {
        window_post,
        winning_post: winning_post_case(fixture),
        check_provable,
        unseal: unseal_case(fixture),
    }
}

fn winning_post_case(fixture: &SectorFixture) -> StageCase<WinningPoSt> {
    let f = fixture.clone();
    let broken = fixture.clone();
    StageCase::new(move |dir| {
        let f = f.clone();
        async move {
            WinningPoSt {
                miner: MINER,
                randomness: CHALLENGE,
                sectors: vec![f.seal(&dir).await.proving()],
            }
        }
    })
    .refuses(
        "a challenged sector that cannot be proven",
        FailureLevel::Permanent,
        move |task| {
            broken.break_sector(&task.sectors[0]);
            task
        },
    )
}

fn unseal_request(sector: &SealedSector, offset: u64, len: u64) -> UnsealRequest {
    UnsealRequest {
        sector: sector.id,
        seal_proof: sector.proof,
        files: sector.files.clone(),
        comm_d: sector.comm_d,
        ticket: sector.ticket,
        offset,
        len,
    }
}

fn unseal_case(fixture: &SectorFixture) -> StageCase<Unseal> {
    let f = fixture.clone();
    StageCase::new(move |dir| {
        let f = f.clone();
        async move {
            let sector = f.seal(&dir).await;
            Unseal {
                request: unseal_request(&sector, 0, 127),
                output: dir.join("unsealed"),
            }
        }
    })
    .refuses("a range past the sector", FailureLevel::Abort, |mut t| {
        t.request.offset = t.request.seal_proof.sector_size().unpadded();
        t
    })
}

/// A snap_encode case: the deal data (zeros, one full-sector piece)
/// encoded into a sector from `fixture`; refuses staged data shorter than
/// the sector (Abort).
pub fn snap_encode_case(fixture: &SectorFixture) -> StageCase<SnapEncode> {
    let f = fixture.clone();
    StageCase::new(move |dir| {
        let f = f.clone();
        async move { snap_encode_task(&f, &dir).await.0 }
    })
    .refuses(
        "staged data shorter than the sector",
        FailureLevel::Abort,
        |t| {
            std::fs::write(&t.staged_data, [0u8; 128]).expect("shortening the deal data");
            t
        },
    )
}

/// A sector sealed by `fixture` under `dir` and the snap_encode task of
/// deal data (zeros, one full-sector piece) into it; the sector's CommR.
async fn snap_encode_task(fixture: &SectorFixture, dir: &Path) -> (SnapEncode, CommR) {
    let sector = fixture.seal(dir).await;
    let size = sector.proof.sector_size().0;
    let staged_data = dir.join("deal-data");
    std::fs::write(&staged_data, vec![0u8; size as usize]).expect("writing the deal data");
    let task = SnapEncode {
        sector: sector.id,
        seal_proof: sector.proof,
        sector_key: sector.files.clone(),
        update: SectorFiles {
            sealed: dir.join("update"),
            cache: dir.join("update-cache"),
        },
        staged_data,
        pieces: vec![PieceInfo {
            size: PaddedPieceSize(size),
            cid: sector.comm_d,
        }],
    };
    (task, sector.comm_r)
}

/// A snap_prove case: a sector from `fixture` encoded with deal data by
/// `encoder` (as in [`snap_encode_case`]), then proven; refuses a task
/// whose updated replica is gone (Permanent: the encoding must be redone).
/// Needs the empty-sector-update Groth16 parameters.
pub fn snap_prove_case(
    fixture: &SectorFixture,
    encoder: Arc<dyn Executor<SnapEncode>>,
) -> StageCase<SnapProve> {
    let f = fixture.clone();
    StageCase::new(move |dir| {
        let (f, encoder) = (f.clone(), encoder.clone());
        async move {
            let (encode, comm_r_old) = snap_encode_task(&f, &dir).await;
            let encoded = encoder
                .execute(encode.clone())
                .await
                .expect("encoding the snap-up");
            SnapProve {
                encode,
                encoded,
                comm_r_old,
            }
        }
    })
    .refuses(
        "the updated replica is gone",
        FailureLevel::Permanent,
        |t| {
            std::fs::remove_file(&t.encode.update.sealed).expect("removing the updated replica");
            t
        },
    )
}

/// The proving executors of one family and the verifier that checks
/// their proofs.
#[derive(Clone, Copy)]
pub struct Provers<'a> {
    /// Runs window_post.
    pub window_post: &'a dyn Executor<WindowPoSt>,
    /// Runs winning_post.
    pub winning_post: &'a dyn Executor<WinningPoSt>,
    /// Runs check_provable.
    pub check_provable: &'a dyn Executor<CheckProvable>,
    /// Runs unseal.
    pub unseal: &'a dyn Executor<Unseal>,
    /// Checks the PoSt proofs.
    pub verifier: &'a dyn ProofVerifier,
}

impl std::fmt::Debug for Provers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provers")
            .field("window_post", &self.window_post)
            .field("winning_post", &self.winning_post)
            .field("check_provable", &self.check_provable)
            .field("unseal", &self.unseal)
            .finish_non_exhaustive()
    }
}

/// What the proving outputs mean, over two sectors from `fixture`, one of
/// them made unprovable: check_provable reports exactly that one; a
/// WindowPoSt of both skips it (with a reason) and proves the other, and
/// the verifier accepts that proof for the proven sector and refuses it
/// against other randomness; a WinningPoSt of the healthy one verifies;
/// the first bytes of the (committed-capacity) sector unseal to zeros.
/// Panics on the first deviation.
pub async fn post_contract(provers: Provers<'_>, fixture: &SectorFixture) {
    let scratch = Scratch::new("post_contract");
    let good = fixture.seal(&scratch.subdir("good")).await;
    let bad = fixture.seal(&scratch.subdir("bad")).await;
    fixture.break_sector(&bad.proving());
    let both = vec![good.proving(), bad.proving()];

    let skipped = provers
        .check_provable
        .execute(CheckProvable {
            miner: MINER,
            sectors: both.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("check_provable with an unprovable sector failed: {e}"));
    let numbers: Vec<_> = skipped.iter().map(|s| s.number).collect();
    assert_eq!(
        numbers,
        [bad.id.number],
        "check_provable must report exactly the unprovable sector"
    );
    assert!(!skipped[0].reason.is_empty(), "check_provable: no reason");

    let out = provers
        .window_post
        .execute(WindowPoSt {
            miner: MINER,
            deadline: 0,
            partition: 0,
            randomness: CHALLENGE,
            sectors: both,
        })
        .await
        .unwrap_or_else(|e| panic!("window_post must skip an unprovable sector, not fail: {e}"));
    assert_eq!(out.proven, [good.id.number], "window_post: proven sectors");
    let skipped: Vec<_> = out.skipped.iter().map(|s| s.number).collect();
    assert_eq!(skipped, [bad.id.number], "window_post: skipped sectors");
    assert!(!out.skipped[0].reason.is_empty(), "window_post: no reason");
    let mut info = WindowPoStVerifyInfo {
        miner: MINER,
        randomness: CHALLENGE,
        sectors: vec![good.post_sector()],
        proofs: out.proofs,
    };
    assert_eq!(
        provers.verifier.verify_window_post(&info).ok(),
        Some(true),
        "the WindowPoSt of the proven sector does not verify"
    );
    info.randomness = Randomness([10; 32]);
    assert_eq!(
        provers.verifier.verify_window_post(&info).ok(),
        Some(false),
        "the WindowPoSt verifies against other randomness"
    );

    let proofs = provers
        .winning_post
        .execute(WinningPoSt {
            miner: MINER,
            randomness: CHALLENGE,
            sectors: vec![good.proving()],
        })
        .await
        .unwrap_or_else(|e| panic!("winning_post of a healthy sector failed: {e}"));
    let info = WinningPoStVerifyInfo {
        miner: MINER,
        randomness: CHALLENGE,
        sectors: vec![good.post_sector()],
        proofs,
    };
    assert_eq!(
        provers.verifier.verify_winning_post(&info).ok(),
        Some(true),
        "the WinningPoSt does not verify"
    );

    let output = scratch.subdir("unseal").join("unsealed");
    let written = provers
        .unseal
        .execute(Unseal {
            request: unseal_request(&good, 0, 254),
            output: output.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("unseal of a healthy sector failed: {e}"));
    assert_eq!(written, 254, "unseal: bytes written");
    let bytes = std::fs::read(&output).expect("reading the unsealed file");
    assert_eq!(bytes, vec![0u8; 254], "a CC sector must unseal to zeros");
}
