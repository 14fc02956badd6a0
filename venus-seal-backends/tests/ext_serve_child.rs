//! Both halves of the ext protocol together: an ExtProcessorExecutor whose
//! child is this very test binary running `serve_stdio` over a fake tree_d
//! executor (the `child_entry` test below does nothing unless started as
//! that child).

use std::path::PathBuf;
use std::time::Duration;

use venus_seal_backends::ext::{serve_stdio, ExtProcessorConfig, ExtProcessorExecutor};
// damocles' bodies: the `proofs` feature.
#[cfg(feature = "proofs")]
use venus_seal_backends::ext::{serve_stdio_damocles, BodyFormat};
#[cfg(feature = "proofs")]
use venus_seal_core::stage::{Opaque, Proof, C2};
use venus_seal_core::stage::{TreeD, TreeDOutput};
use venus_seal_core::testing::FakeExecutor;
#[cfg(feature = "proofs")]
use venus_seal_core::{ActorId, SectorId, SectorNumber};
use venus_seal_core::{CommD, Executor, FailureLevel, Leveled, SealProof, StageError};

/// Set in the child's environment.
const CHILD_ENV: &str = "VENUS_SEAL_EXT_TEST_CHILD";

fn tree_d(staged: &str) -> TreeD {
    TreeD {
        proof: SealProof::StackedDrg2KiBV1_1,
        staged: PathBuf::from(staged),
        cache: PathBuf::from("/cache"),
        pieces: vec![],
    }
}

/// The child: serves tree_d on stdin/stdout until stdin closes. CommD is
/// the staged path's length in every byte; `bad` fails Permanent, `gone`
/// fails Temporary.
#[test]
fn child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let fake = FakeExecutor::new(|t: &TreeD| TreeDOutput {
        comm_d: CommD([t.staged.as_os_str().len() as u8; 32]),
    });
    fake.set_latency(Duration::from_millis(100));
    fake.fail_if(|t: &TreeD| match t.staged.to_str() {
        Some("bad") => Some(StageError::Computation("no data".into())),
        Some("gone") => Some(StageError::Unavailable("network down".into())),
        _ => None,
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(serve_stdio::<TreeD, _>(fake));
    // Exit before the test harness prints anything more on stdout.
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}

/// The damocles child: serves c2 with damocles' bodies. The proof is the
/// miner and sector number; sector 13 fails Permanent.
#[cfg(feature = "proofs")]
#[test]
fn damocles_child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let fake = FakeExecutor::new(|t: &C2| Proof {
        proof: vec![(t.sector.miner.0 % 256) as u8, t.sector.number.0 as u8],
    });
    fake.fail_if(|t: &C2| {
        (t.sector.number.0 == 13).then(|| StageError::Computation("unlucky".into()))
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(serve_stdio_damocles::<C2, _>(fake));
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}

/// This test binary as a child running the test `entry`.
fn self_child(entry: &str) -> ExtProcessorConfig {
    let mut cfg = ExtProcessorConfig::new(std::env::current_exe().unwrap());
    cfg.name = Some("self".into());
    // Quiet, so the harness prints only whole lines ("running 1 test")
    // before the test runs: skipped as lines before the ready line.
    cfg.args = [entry, "--exact", "--nocapture", "--test-threads=1", "-q"]
        .map(String::from)
        .to_vec();
    cfg.envs.insert(CHILD_ENV.into(), "1".into());
    cfg.ready_timeout = Duration::from_secs(10);
    cfg
}

/// Both translations across a process boundary: the parent writes damocles'
/// C2 bodies, the child reads them as this project's C2 and answers with
/// damocles' `{"proof": [...]}`.
#[cfg(feature = "proofs")]
#[tokio::test]
async fn damocles_bodies_over_a_real_child() {
    let mut cfg = self_child("damocles_child_entry");
    cfg.format = BodyFormat::Damocles;
    let p = ExtProcessorExecutor::<C2>::new(cfg).unwrap();
    let c2 = |number| C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(number)),
        c1_output: Opaque::from_json(r#"{"registered_proof":"StackedDrg2KiBV1_1"}"#.into())
            .unwrap(),
    };
    let (a, b, bad) = tokio::join!(p.execute(c2(7)), p.execute(c2(8)), p.execute(c2(13)));
    assert_eq!(a.unwrap().proof, vec![(1000 % 256) as u8, 7]);
    assert_eq!(b.unwrap().proof, vec![(1000 % 256) as u8, 8]);
    let bad = bad.unwrap_err();
    assert_eq!(bad.level(), FailureLevel::Permanent, "{bad}");
    assert!(bad.to_string().contains("unlucky"), "{bad}");
    assert_eq!(p.starts(), 1);
}

#[tokio::test]
async fn executor_and_serve_loop_over_a_real_child() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let p = ExtProcessorExecutor::<TreeD>::new(self_child("child_entry")).unwrap();

    let (a, b, bad, gone) = tokio::join!(
        p.execute(tree_d("a")),
        p.execute(tree_d("bbbb")),
        p.execute(tree_d("bad")),
        p.execute(tree_d("gone")),
    );
    assert_eq!(a.unwrap().comm_d, CommD([1; 32]));
    assert_eq!(b.unwrap().comm_d, CommD([4; 32]));
    let bad = bad.unwrap_err();
    assert_eq!(bad.level(), FailureLevel::Permanent, "{bad}");
    assert!(bad.to_string().contains("no data"), "{bad}");
    let gone = gone.unwrap_err();
    assert_eq!(gone.level(), FailureLevel::Temporary, "{gone}");
    assert!(gone.to_string().contains("network down"), "{gone}");
    assert_eq!(p.starts(), 1);
}
