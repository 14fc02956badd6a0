//! The local executor's stages on real 2KiB data, short of C2 (which needs
//! Groth parameters; the end-to-end test covers it).

use std::path::Path;

use venus_seal_backends::{piece_commitment, LocalExecutor};
use venus_seal_core::stage::{AddPieces, Opaque, Pc1, Pc2, PieceSource, SectorPaths, TreeD, C1};
use venus_seal_core::{
    ActorId, CommD, Executor, FailureLevel, Leveled, PaddedPieceSize, Randomness, SealProof,
    SectorId, SectorNumber, Seed, StageError, Ticket,
};

const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
const ZERO_2KIB: &str = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy";

fn sector() -> SectorId {
    SectorId::new(ActorId(1000), SectorNumber(1))
}

fn ticket() -> Ticket {
    Ticket {
        ticket: Randomness([3; 32]),
        epoch: 10,
    }
}

fn add(pieces: Vec<PieceSource>, dir: &Path) -> AddPieces {
    AddPieces {
        proof: PROOF,
        sector: sector(),
        pieces,
        staged: SectorPaths::under(dir).staged,
    }
}

fn data_piece(dir: &Path, len: usize) -> (PieceSource, venus_seal_core::PieceInfo) {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let path = dir.join("piece.bin");
    std::fs::write(&path, &bytes).unwrap();
    let info = piece_commitment(PROOF, &bytes[..], len as u64).unwrap();
    (
        PieceSource::File {
            path,
            unpadded_size: len as u64,
            expected: Some(info),
        },
        info,
    )
}

#[tokio::test]
async fn cc_sector_runs_through_c1() {
    let dir = tempfile::tempdir().unwrap();
    let paths = SectorPaths::under(dir.path());
    let exec = LocalExecutor::new();

    let pieces = exec.execute(add(vec![], dir.path())).await.unwrap();
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0].size, PaddedPieceSize(2048));
    assert_eq!(
        pieces[0].cid.to_string(),
        ZERO_2KIB,
        "CC sector is one zero piece"
    );

    let tree = TreeD {
        proof: PROOF,
        staged: paths.staged.clone(),
        cache: paths.cache.clone(),
        pieces: pieces.clone(),
    };
    let comm_d = exec.execute(tree).await.unwrap().comm_d;
    assert_eq!(comm_d.to_string(), ZERO_2KIB);

    let pc1 = Pc1 {
        proof: PROOF,
        sector: sector(),
        paths: paths.clone(),
        ticket: ticket(),
        pieces: pieces.clone(),
    };
    let pc1_output = exec.execute(pc1).await.unwrap();
    let pc2 = Pc2 {
        proof: PROOF,
        sector: sector(),
        paths: paths.clone(),
        pc1_output,
        synthetic: None,
    };
    let pc2_output = exec.execute(pc2).await.unwrap();
    assert_eq!(pc2_output.comm_d, comm_d);
    assert!(pc2_output.comm_r.to_string().starts_with("bagboea4b5abc"));

    let c1 = C1 {
        proof: PROOF,
        sector: sector(),
        paths: paths.clone(),
        ticket: ticket(),
        seed: Seed {
            seed: Randomness([9; 32]),
            epoch: 30,
        },
        pc2_output,
        pieces,
    };
    exec.execute(c1.clone()).await.unwrap();

    // A deleted cache file is reported by name, Permanent.
    std::fs::remove_file(paths.cache.join("p_aux")).unwrap();
    let err = exec.execute(c1).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent);
    assert!(err.to_string().contains("p_aux"), "{err}");
}

#[tokio::test]
async fn data_piece_is_placed_with_a_filler() {
    let dir = tempfile::tempdir().unwrap();
    let (source, info) = data_piece(dir.path(), 1000);
    assert_eq!(info.size, PaddedPieceSize(1024));
    let exec = LocalExecutor::new();
    let pieces = exec.execute(add(vec![source], dir.path())).await.unwrap();
    assert_eq!(pieces.len(), 2);
    assert_eq!(pieces[0], info);
    assert_eq!(pieces[1].size, PaddedPieceSize(1024), "zero filler");
    let paths = SectorPaths::under(dir.path());
    let tree = TreeD {
        proof: PROOF,
        staged: paths.staged.clone(),
        cache: paths.cache,
        pieces,
    };
    let comm_d = exec.execute(tree).await.unwrap().comm_d;
    assert_ne!(comm_d.to_string(), ZERO_2KIB);
}

#[tokio::test]
async fn a_piece_larger_than_the_sector_is_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![1u8; 5000]).unwrap();
    let source = PieceSource::File {
        path,
        unpadded_size: 5000,
        expected: None,
    };
    let err = LocalExecutor::new()
        .execute(add(vec![source], dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, StageError::InvalidTask(_)), "{err:?}");
    assert_eq!(err.level(), FailureLevel::Abort);
    assert!(
        err.to_string().contains("larger than the 2KiB sector"),
        "{err}"
    );

    let err = piece_commitment(PROOF, &[0u8; 3000][..], 3000).unwrap_err();
    assert!(
        err.to_string().contains("larger than the 2KiB sector"),
        "{err}"
    );
}

#[tokio::test]
async fn a_piece_that_does_not_match_its_cid_is_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = data_piece(dir.path(), 1000);
    let PieceSource::File {
        path,
        unpadded_size,
        expected,
    } = source
    else {
        unreachable!()
    };
    let mut wrong = expected.unwrap();
    wrong.cid = CommD([5; 32]);
    let source = PieceSource::File {
        path,
        unpadded_size,
        expected: Some(wrong),
    };
    let err = LocalExecutor::new()
        .execute(add(vec![source], dir.path()))
        .await
        .unwrap_err();
    assert_eq!(err.level(), FailureLevel::Abort);
    assert!(
        err.to_string().contains("does not match its PieceCID"),
        "{err}"
    );
}

#[tokio::test]
async fn corrupt_staged_file_and_stage_outputs_are_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let paths = SectorPaths::under(dir.path());
    let exec = LocalExecutor::new();
    let pieces = exec.execute(add(vec![], dir.path())).await.unwrap();

    let mut bytes = std::fs::read(&paths.staged).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&paths.staged, &bytes).unwrap();
    let tree = TreeD {
        proof: PROOF,
        staged: paths.staged.clone(),
        cache: paths.cache.clone(),
        pieces,
    };
    let err = exec.execute(tree).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent);
    assert!(
        err.to_string().contains("does not hold its pieces"),
        "{err}"
    );

    let pc2 = Pc2 {
        proof: PROOF,
        sector: sector(),
        paths: paths.clone(),
        pc1_output: Opaque::from_json("{\"registered_proof\": 12}".into()).unwrap(),
        synthetic: None,
    };
    std::fs::write(&paths.sealed, [0u8; 2048]).unwrap();
    let err = exec.execute(pc2).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Permanent);
    assert!(err.to_string().contains("corrupt PC1 output"), "{err}");
}

#[tokio::test]
async fn missing_staged_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let paths = SectorPaths::under(dir.path().join("nowhere"));
    let pc1 = Pc1 {
        proof: PROOF,
        sector: sector(),
        paths,
        ticket: ticket(),
        pieces: vec![],
    };
    let err = LocalExecutor::new().execute(pc1).await.unwrap_err();
    assert!(err.to_string().contains("staged file"), "{err}");
    assert_eq!(err.level(), FailureLevel::Permanent);
}
