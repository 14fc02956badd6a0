//! The proving stages over the ext protocol: a WindowPoSt round trip
//! through the serve loop, and the by-name dispatch of every stage.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use venus_seal_core::proving::{
    PoStProof, PoStSector, ProvingSector, SectorFiles, SkippedSector, WindowPoStOutput,
};
use venus_seal_core::stage::{
    AddPieces, CheckProvable, Pc1, Pc2, SnapEncode, SnapProve, Stage, TreeD, Unseal, WindowPoSt,
    WinningPoSt, C1, C2,
};
use venus_seal_core::testing::FakeExecutor;
use venus_seal_core::{
    ActorId, CommR, Executor, FailureLevel, Randomness, SealProof, SectorNumber, StageError,
};

use super::{serve, serve_named, BodyFormat, SERVED_STAGES};
use crate::ext::{level_of_err_msg, Request, Response};

fn window_post(partition: u64, sectors: u64) -> WindowPoSt {
    WindowPoSt {
        miner: ActorId(1000),
        deadline: 3,
        partition,
        randomness: Randomness([9; 32]),
        sectors: (1..=sectors)
            .map(|n| ProvingSector {
                sector: PoStSector {
                    number: SectorNumber(n),
                    seal_proof: SealProof::StackedDrg2KiBV1_1,
                    comm_r: CommR([n as u8; 32]),
                    sector_key: None,
                },
                files: SectorFiles {
                    sealed: PathBuf::from(format!("/store/{n}/sealed")),
                    cache: PathBuf::from(format!("/store/{n}/cache")),
                },
            })
            .collect(),
    }
}

/// Proves every sector but the even ones (skipped), with the partition
/// and the randomness in the proof bytes.
fn prove(t: &WindowPoSt) -> WindowPoStOutput {
    let (even, odd): (Vec<_>, Vec<_>) = t.sectors.iter().partition(|s| s.sector.number.0 % 2 == 0);
    WindowPoStOutput {
        proofs: vec![PoStProof {
            post_proof: 15,
            proof: vec![t.partition as u8, t.randomness.0[0]],
        }],
        proven: odd.iter().map(|s| s.sector.number).collect(),
        skipped: even
            .iter()
            .map(|s| SkippedSector {
                number: s.sector.number,
                reason: format!("{} is gone", s.files.sealed.display()),
            })
            .collect(),
    }
}

/// A WindowPoSt task crosses the pipe as JSON, runs on the serving side's
/// executor and its output (proofs, proven and skipped sectors) comes
/// back intact; a failure keeps its level.
#[tokio::test]
async fn a_window_post_round_trips_through_the_serve_loop() {
    let fake = FakeExecutor::new(prove);
    fake.fail_if(|t: &WindowPoSt| {
        (t.partition == 9).then(|| StageError::Unavailable("GPU lost".into()))
    });
    let (parent_in, child_out) = tokio::io::duplex(1 << 16);
    let (child_in, mut parent_out) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve::<WindowPoSt, _>(fake.clone(), child_in, child_out));
    let mut lines = BufReader::new(parent_in).lines();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "window_post processor ready"
    );
    let tasks = [(1, window_post(0, 4)), (2, window_post(9, 1))];
    for (id, task) in &tasks {
        let line = serde_json::to_string(&Request {
            id: *id,
            task: task.clone(),
        })
        .unwrap();
        parent_out
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    parent_out.shutdown().await.unwrap();
    let mut answers = std::collections::BTreeMap::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let r: Response<WindowPoStOutput> = serde_json::from_str(&line).unwrap();
        answers.insert(r.id, r);
    }
    server.await.unwrap().unwrap();

    let output = answers[&1].output.clone().expect("an output");
    assert_eq!(output, prove(&tasks[0].1));
    assert_eq!(output.proven, [SectorNumber(1), SectorNumber(3)]);
    assert_eq!(output.skipped[1].reason, "/store/4/sealed is gone");
    assert_eq!(output.proofs[0].proof, [0, 9]);
    let (level, msg) = level_of_err_msg(answers[&2].err_msg.as_deref().unwrap());
    assert_eq!(level, FailureLevel::Temporary);
    assert!(msg.contains("GPU lost"), "{msg}");
    assert_eq!(fake.calls(), 2);
}

/// Refuses every task, naming its stage.
#[derive(Clone, Copy, Debug)]
struct Refuses;

macro_rules! refuses {
    ($($stage:ty),*) => {$(
        #[async_trait]
        impl Executor<$stage> for Refuses {
            async fn execute(&self, _: $stage) -> Result<<$stage as Stage>::Output, StageError> {
                Err(StageError::Unavailable(<$stage>::NAME.into()))
            }
        }
    )*};
}

refuses!(
    AddPieces,
    TreeD,
    Pc1,
    Pc2,
    C1,
    C2,
    WindowPoSt,
    WinningPoSt,
    CheckProvable,
    SnapEncode,
    SnapProve,
    Unseal
);

/// Serves `stage` by name with its input already closed: the ready line,
/// or the refusal.
async fn serve_by_name(stage: &str, format: BodyFormat) -> std::io::Result<String> {
    let (parent_in, child_out) = tokio::io::duplex(1 << 10);
    let (child_in, mut parent_out) = tokio::io::duplex(1 << 10);
    parent_out.shutdown().await.unwrap();
    serve_named(stage, Refuses, format, child_in, child_out).await?;
    let mut lines = BufReader::new(parent_in).lines();
    Ok(lines.next_line().await.unwrap().unwrap_or_default())
}

#[tokio::test]
async fn every_stage_is_served_by_its_name() {
    assert_eq!(
        &SERVED_STAGES[6..],
        [
            "window_post",
            "winning_post",
            "check_provable",
            "snap_encode",
            "snap_prove",
            "unseal"
        ]
    );
    for stage in SERVED_STAGES {
        assert_eq!(
            serve_by_name(stage, BodyFormat::Native).await.unwrap(),
            format!("{stage} processor ready")
        );
    }
    let err = serve_by_name("pc3", BodyFormat::Native).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("window_post"), "{err}");
    // A damocles child serves pc1, c2 and unseal only (and nothing
    // without the `proofs` feature).
    let err = serve_by_name("window_post", BodyFormat::Damocles)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    #[cfg(feature = "proofs")]
    for stage in ["pc1", "c2", "unseal"] {
        assert_eq!(
            serve_by_name(stage, BodyFormat::Damocles).await.unwrap(),
            format!("{stage} processor ready")
        );
    }
}
