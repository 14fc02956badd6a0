//! Every damocles ext body against the golden fixtures in
//! `tests/fixtures/damocles/ext/` (written from damocles' `vc-processors`
//! struct definitions, not from this project's types; the README there
//! names the upstream file and commit). For each stage: the parent writes
//! the fixture task and reads the fixture output; the child reads the
//! fixture task (or refuses it, naming what damocles' task lacks) and
//! writes the fixture output.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use venus_seal_core::proving::{
    PoStProof, PoStSector, ProvingSector, SectorFiles, SnapEncodeOutput, UnsealRequest,
    WindowPoStOutput,
};
use venus_seal_core::stage::{
    AddPieces, Opaque, Pc1, Pc2, Pc2Output, PieceSource, SectorPaths, SnapEncode, SnapProve, Stage,
    TreeD, Unseal, WindowPoSt, WinningPoSt, C2,
};
use venus_seal_core::{
    ActorId, CommD, CommR, PaddedPieceSize, PieceInfo, Randomness, SealProof, SectorId,
    SectorNumber, Ticket,
};

use super::*;
use crate::ext::{ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal_core::Leveled;

const DIR: &str = "/seal/s-t01000-7";
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/damocles/ext")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim_end()
        .to_string()
}

fn value(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// `body` is the fixture, field for field (order and formatting aside).
fn assert_is_fixture(body: &str, name: &str) {
    assert_eq!(value(body), value(&fixture(name)), "{name}");
}

/// The fixture task parses as damocles' struct `T` and writes back the
/// same JSON: the struct has damocles' fields, no more, no fewer.
fn assert_struct_matches<T: DeserializeOwned + Serialize>(name: &str) {
    let parsed: T = serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_is_fixture(&serde_json::to_string(&parsed).unwrap(), name);
}

fn sector() -> SectorId {
    SectorId::new(ActorId(1000), SectorNumber(7))
}

fn zero(padded: u64) -> CommD {
    CommD(crate::pieces::zero_commitment(padded))
}

/// The parent writes `task` as the fixture `<stage>.task`.
fn parent_writes<S: Stage>(task: &S) {
    assert_is_fixture(
        task_to_damocles(task).unwrap().get(),
        &format!("{}.task", S::NAME),
    );
}

/// The child reads the fixture task as `task` and writes `output` as the
/// fixture output.
fn child_serves<S: Stage + PartialEq>(task: &S, output: &S::Output) {
    let read: S = task_from_damocles(&fixture(&format!("{}.task", S::NAME))).unwrap();
    assert!(read == *task, "{}: the child read another task", S::NAME);
    assert_is_fixture(
        output_to_damocles::<S>(output).unwrap().get(),
        &format!("{}.output", S::NAME),
    );
}

/// The child refuses the fixture task, naming `missing`.
fn child_refuses<S: Stage>(missing: &str) {
    let e = task_from_damocles::<S>(&fixture(&format!("{}.task", S::NAME))).unwrap_err();
    assert!(e.contains(missing), "{}: {e}", S::NAME);
    let e = child_check::<S>().unwrap_err();
    assert!(e.contains(missing), "{}: {e}", S::NAME);
}

#[test]
fn add_pieces() {
    let task = AddPieces {
        proof: PROOF,
        sector: sector(),
        pieces: vec![
            PieceSource::File {
                path: "/pieces/deal-1.car".into(),
                unpadded_size: 900,
                expected: Some(PieceInfo {
                    size: PaddedPieceSize(1024),
                    cid: CommD([5; 32]),
                }),
            },
            PieceSource::Zero {
                size: PaddedPieceSize(1024),
            },
        ],
        staged: format!("{DIR}/staged").into(),
    };
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("add_pieces.output")).unwrap();
    assert_eq!(
        out,
        [
            PieceInfo {
                size: PaddedPieceSize(1024),
                cid: CommD([5; 32])
            },
            PieceInfo {
                size: PaddedPieceSize(1024),
                cid: zero(1024)
            }
        ]
    );
    assert_struct_matches::<DamoclesAddPieces>("add_pieces.task");
    child_refuses::<AddPieces>("names no sector");
}

#[test]
fn add_pieces_checks_what_damocles_cannot() {
    let deal = |size: u64, cid: u8| PieceSource::File {
        path: "/p".into(),
        unpadded_size: 100,
        expected: Some(PieceInfo {
            size: PaddedPieceSize(size),
            cid: CommD([cid; 32]),
        }),
    };
    let mut task = AddPieces {
        proof: PROOF,
        sector: sector(),
        pieces: vec![deal(128, 5), deal(256, 6)],
        staged: "/s".into(),
    };
    // damocles writes no alignment padding: a 256-byte piece at 128.
    let e = task_to_damocles(&task).unwrap_err().to_string();
    assert!(
        e.contains("piece 1 (256 bytes padded) would start at padded offset 128"),
        "{e}"
    );
    task.pieces = vec![deal(256, 6), deal(128, 5)];
    let piece = |size: u64, cid: [u8; 32]| {
        format!(
            r#"{{"commitment":{},"size":{}}}"#,
            value(&serde_json::to_string(&cid).unwrap()),
            size / 128 * 127
        )
    };
    let answer = |a: String, b: String| format!("[{a},{b}]");
    // The rest of the 2KiB sector is filled with zero pieces, smallest first.
    let out =
        output_from_damocles(&task, &answer(piece(256, [6; 32]), piece(128, [5; 32]))).unwrap();
    let sizes: Vec<u64> = out.iter().map(|p| p.size.0).collect();
    assert_eq!(sizes, [256, 128, 128, 512, 1024]);
    assert_eq!(out[4].cid, zero(1024));
    // A commitment other than the deal's, a size other than the task's,
    // a piece missing: each named.
    let e =
        output_from_damocles(&task, &answer(piece(256, [6; 32]), piece(128, [9; 32]))).unwrap_err();
    assert!(e.contains("piece 1 has commitment"), "{e}");
    let e =
        output_from_damocles(&task, &answer(piece(256, [6; 32]), piece(256, [5; 32]))).unwrap_err();
    assert!(
        e.contains("piece 1 is 256 bytes padded, the task's is 128"),
        "{e}"
    );
    let e = output_from_damocles(&task, &format!("[{}]", piece(256, [6; 32]))).unwrap_err();
    assert!(e.contains("1 pieces for a task of 2"), "{e}");
    // A CC sector: damocles answers one zero piece of the whole sector.
    task.pieces.clear();
    let out = output_from_damocles(&task, &format!("[{}]", piece(2048, zero(2048).0))).unwrap();
    assert_eq!(
        out,
        [PieceInfo {
            size: PaddedPieceSize(2048),
            cid: zero(2048)
        }]
    );
    // The piece file forms damocles knows, `url` included.
    let url: DamoclesPieceFile =
        serde_json::from_str(r#"{"url":"http://m/piecestore/x"}"#).unwrap();
    assert_eq!(url, DamoclesPieceFile::Url("http://m/piecestore/x".into()));
}

fn tree_d_task() -> TreeD {
    TreeD {
        proof: PROOF,
        staged: format!("{DIR}/staged").into(),
        cache: format!("{DIR}/cache").into(),
        pieces: vec![],
    }
}

/// damocles' TreeD answers `true`; the CommD is this side's computation.
/// (Before, only a CommD was read: `true` was a corrupt output.)
#[test]
fn tree_d_answers_true_and_the_commd_is_computed_here() {
    let task = tree_d_task();
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("tree_d.output")).unwrap();
    assert_eq!(out.comm_d, zero(2048));
    // The revision that answers the CommD: read when it matches.
    let out = output_from_damocles(&task, &fixture("tree_d.commitment.output")).unwrap();
    assert_eq!(out.comm_d, zero(2048));
    let other = serde_json::to_string(&[3u8; 32]).unwrap();
    let e = output_from_damocles(&task, &other).unwrap_err();
    assert!(e.contains("does not match"), "{e}");
    let e = output_from_damocles(&task, "false").unwrap_err();
    assert!(e.contains("built no tree"), "{e}");
    assert_struct_matches::<DamoclesTreeD>("tree_d.task");
    child_refuses::<TreeD>("carries no pieces");
}

#[test]
fn pc1() {
    let task = Pc1 {
        proof: PROOF,
        sector: sector(),
        paths: SectorPaths::under(DIR),
        ticket: Ticket {
            ticket: Randomness([1; 32]),
            epoch: 0,
        },
        pieces: vec![PieceInfo {
            size: PaddedPieceSize(2048),
            cid: zero(2048),
        }],
    };
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("pc1.output")).unwrap();
    assert_is_fixture(out.as_json(), "pc1.output");
    child_serves(&task, &out);
    assert_struct_matches::<DamoclesPc1>("pc1.task");
}

#[test]
fn pc2() {
    let task = Pc2 {
        proof: PROOF,
        sector: sector(),
        paths: SectorPaths::under(DIR),
        pc1_output: Opaque::from_json(fixture("pc1.output")).unwrap(),
        synthetic: None,
    };
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("pc2.output")).unwrap();
    assert_eq!(
        out,
        Pc2Output {
            comm_r: CommR([3; 32]),
            comm_d: CommD([4; 32])
        }
    );
    assert_struct_matches::<DamoclesPc2>("pc2.task");
    child_refuses::<Pc2>("names no sector");
}

#[test]
fn c2() {
    // The C1 output as the fixture writes it (a `Value` would sort keys).
    #[derive(serde::Deserialize)]
    struct Raw {
        c1out: Box<serde_json::value::RawValue>,
    }
    let c1out = serde_json::from_str::<Raw>(&fixture("c2.task"))
        .unwrap()
        .c1out
        .get()
        .to_string();
    let task = C2 {
        proof: PROOF,
        sector: sector(),
        c1_output: Opaque::from_json(c1out).unwrap(),
    };
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("c2.output")).unwrap();
    assert_eq!(out.proof, [9, 8, 7]);
    child_serves(&task, &out);
    assert_struct_matches::<DamoclesC2>("c2.task");
}

/// The PC1 and C1 outputs in the fixtures are filecoin-proofs-api's own
/// types: 19.1 (this project) reads them and writes them back unchanged.
/// 18.1 (damocles) declares the same types (README: the diff), so the
/// opaque outputs cross in both directions.
#[test]
fn pc1_and_c1_outputs_are_the_proving_library_types() {
    use filecoin_proofs_api::seal::{SealCommitPhase1Output, SealPreCommitPhase1Output};
    let pc1 = fixture("pc1.output");
    let parsed: SealPreCommitPhase1Output = serde_json::from_str(&pc1).unwrap();
    assert_is_fixture(&serde_json::to_string(&parsed).unwrap(), "pc1.output");
    let c1 = value(&fixture("c2.task"))["c1out"].clone();
    let parsed: SealCommitPhase1Output = serde_json::from_value(c1.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), c1);
}

fn snap_encode_task() -> SnapEncode {
    SnapEncode {
        sector: sector(),
        seal_proof: PROOF,
        sector_key: SectorFiles {
            sealed: format!("{DIR}/sealed").into(),
            cache: format!("{DIR}/cache").into(),
        },
        update: SectorFiles {
            sealed: format!("{DIR}/update").into(),
            cache: format!("{DIR}/update-cache").into(),
        },
        staged_data: format!("{DIR}/staged-update").into(),
        pieces: vec![PieceInfo {
            size: PaddedPieceSize(2048),
            cid: CommD([5; 32]),
        }],
    }
}

#[test]
fn snap_encode() {
    let task = snap_encode_task();
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("snap_encode.output")).unwrap();
    assert_eq!(
        out,
        SnapEncodeOutput {
            comm_r_new: CommR([10; 32]),
            comm_d_new: CommD([5; 32])
        }
    );
    assert_struct_matches::<DamoclesSnapEncode>("snap_encode.task");
    assert_struct_matches::<DamoclesSnapEncodeOutput>("snap_encode.output");
    child_refuses::<SnapEncode>("names no sector and no seal proof");
}

fn snap_prove_task() -> SnapProve {
    SnapProve {
        encode: snap_encode_task(),
        encoded: SnapEncodeOutput {
            comm_r_new: CommR([10; 32]),
            comm_d_new: CommD([5; 32]),
        },
        comm_r_old: CommR([3; 32]),
    }
}

/// damocles' snap_prove carries the vanilla partition proofs: the parent
/// makes them from the task's files (here the fixture's stand-ins), the
/// child refuses the task (it names no files to prove).
#[test]
fn snap_prove() {
    let task = snap_prove_task();
    let body = snap_prove_to_damocles(&task, vec![vec![1, 2, 3], vec![4, 5]]);
    assert_is_fixture(&serde_json::to_string(&body).unwrap(), "snap_prove.task");
    let out = output_from_damocles(&task, &fixture("snap_prove.output")).unwrap();
    assert_eq!(out.proof, [7, 7, 7]);
    assert_struct_matches::<DamoclesSnapProve>("snap_prove.task");
    child_refuses::<SnapProve>("carries vanilla proofs");
}

/// Without the replicas there are no vanilla proofs: the task is not sent
/// and the error names what could not be made, Permanent as the local
/// prover's own proof failure (`ProvingError::Proof`).
#[tokio::test(flavor = "multi_thread")]
async fn snap_prove_without_its_files_is_not_sent() {
    let e = task_to_damocles(&snap_prove_task()).unwrap_err();
    assert_eq!(e.level(), venus_seal_core::FailureLevel::Permanent, "{e}");
    assert!(
        e.to_string()
            .contains("cannot make the vanilla partition proofs of"),
        "{e}"
    );
}

fn proving_sector(number: u64, comm_r: u8) -> ProvingSector {
    let dir = format!("/seal/s-t01000-{number}");
    ProvingSector {
        sector: PoStSector {
            number: SectorNumber(number),
            seal_proof: PROOF,
            comm_r: CommR([comm_r; 32]),
            sector_key: None,
        },
        files: SectorFiles {
            sealed: format!("{dir}/sealed").into(),
            cache: format!("{dir}/cache").into(),
        },
    }
}

/// The challenge randomness; its last byte's top two bits are cleared on
/// the wire (the fixture's seed ends in 5).
fn randomness() -> Randomness {
    let mut r = [5; 32];
    r[31] = 0xc5;
    Randomness(r)
}

fn window_post_task() -> WindowPoSt {
    WindowPoSt {
        miner: ActorId(1000),
        deadline: 3,
        partition: 0,
        randomness: randomness(),
        sectors: vec![proving_sector(7, 3), proving_sector(8, 9)],
    }
}

#[test]
fn window_post() {
    let task = window_post_task();
    parent_writes(&task);
    let proof: Vec<u8> = (0..16).collect();
    let out = output_from_damocles(&task, &fixture("window_post.output")).unwrap();
    assert_eq!(
        out,
        WindowPoStOutput {
            // The chain's number of WindowPoSt 2KiB.
            proofs: vec![PoStProof {
                post_proof: 10,
                proof
            }],
            proven: vec![SectorNumber(7), SectorNumber(8)],
            skipped: vec![],
        }
    );
    // Faults: damocles gives no proofs; the faulty sector is skipped.
    let out = output_from_damocles(&task, &fixture("window_post.faults.output")).unwrap();
    assert!(out.proofs.is_empty() && out.proven.is_empty(), "{out:?}");
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(out.skipped[0].number, SectorNumber(8));
    assert_struct_matches::<DamoclesWindowPoSt>("window_post.task");
    assert_struct_matches::<DamoclesWindowPoStOutput>("window_post.output");
    child_refuses::<WindowPoSt>("no deadline, no partition and no seal proof");
}

#[test]
fn post_outputs_are_checked() {
    let task = window_post_task();
    let e = output_from_damocles(&task, r#"{"proofs":[],"faults":[9]}"#).unwrap_err();
    assert!(e.contains("fault 9 is not a sector of the task"), "{e}");
    let e = output_from_damocles(&task, r#"{"proofs":[],"faults":[]}"#).unwrap_err();
    assert!(e.contains("neither proofs nor faults"), "{e}");
    let e = output_from_damocles(&task, r#"{"proofs":["AA=="],"faults":[7]}"#).unwrap_err();
    assert!(e.contains("both proofs and faults"), "{e}");
    let e = output_from_damocles(&task, r#"{"proofs":["not base64!"],"faults":[]}"#).unwrap_err();
    assert!(e.contains("not damocles' window_post output"), "{e}");
    // damocles' task has one proof type: mixed sectors are refused.
    let mut mixed = window_post_task();
    mixed.sectors[1].sector.seal_proof = SealProof::StackedDrg8MiBV1_1;
    let e = task_to_damocles(&mixed).unwrap_err().to_string();
    assert!(e.contains("the sectors mix"), "{e}");
}

#[test]
fn winning_post() {
    let task = WinningPoSt {
        miner: ActorId(1000),
        randomness: randomness(),
        sectors: vec![proving_sector(7, 3)],
    };
    parent_writes(&task);
    let out = output_from_damocles(&task, &fixture("winning_post.output")).unwrap();
    assert_eq!(
        out,
        [PoStProof {
            post_proof: 0,
            proof: (0..16).collect()
        }]
    );
    assert_struct_matches::<DamoclesWinningPoSt>("winning_post.task");
    assert_struct_matches::<DamoclesWinningPoStOutput>("winning_post.output");
    let e = output_from_damocles(&task, r#"{"proofs":[]}"#).unwrap_err();
    assert!(e.contains("no proofs"), "{e}");
    child_refuses::<WinningPoSt>("names no seal proof");
}

#[test]
fn unseal() {
    let task = Unseal {
        request: UnsealRequest {
            sector: sector(),
            seal_proof: PROOF,
            files: SectorFiles {
                sealed: format!("{DIR}/sealed").into(),
                cache: format!("{DIR}/cache").into(),
            },
            comm_d: CommD([4; 32]),
            ticket: Randomness([1; 32]),
            offset: 1016,
            len: 1016,
        },
        output: "/unsealed/s-t01000-7".into(),
    };
    parent_writes(&task);
    assert_eq!(
        output_from_damocles(&task, &fixture("unseal.output")).unwrap(),
        1016
    );
    child_serves(&task, &1016);
    assert_struct_matches::<DamoclesUnseal>("unseal.task");
}

/// Every stage a parent can send in damocles' format has a fixture above,
/// and a processor can be built for it.
#[test]
fn damocles_format_builds_for_every_stage_with_a_body() {
    fn builds<S: Stage>() {
        let mut cfg = ExtProcessorConfig::new("/bin/true");
        cfg.format = BodyFormat::Damocles;
        assert!(ExtProcessorExecutor::<S>::new(cfg).is_ok(), "{}", S::NAME);
    }
    builds::<AddPieces>();
    builds::<TreeD>();
    builds::<Pc1>();
    builds::<Pc2>();
    builds::<C2>();
    builds::<SnapEncode>();
    builds::<SnapProve>();
    builds::<WindowPoSt>();
    builds::<WinningPoSt>();
    builds::<Unseal>();
}
