//! Both halves of the ext protocol together: an ExtProcessorExecutor whose
//! child is this very test binary running `serve_stdio` over a fake tree_d
//! executor (the `child_entry` test below does nothing unless started as
//! that child).

use std::path::PathBuf;
use std::time::Duration;

use venus_seal_backends::ext::{serve_stdio, ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal_core::stage::{TreeD, TreeDOutput};
use venus_seal_core::testing::FakeExecutor;
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

#[tokio::test]
async fn executor_and_serve_loop_over_a_real_child() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut cfg = ExtProcessorConfig::new(std::env::current_exe().unwrap());
    cfg.name = Some("self".into());
    // Quiet, so the harness prints only whole lines ("running 1 test")
    // before the test runs: skipped as lines before the ready line.
    cfg.args = [
        "child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    cfg.envs.insert(CHILD_ENV.into(), "1".into());
    cfg.ready_timeout = Duration::from_secs(10);
    let p = ExtProcessorExecutor::<TreeD>::new(cfg).unwrap();

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
