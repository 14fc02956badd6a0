//! Unit tests of the ext protocol pieces: wire lines, config, command
//! lines, the pool's choice, and the serve loop over in-memory pipes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use venus_seal_core::stage::{Opaque, Pc1, Proof, SectorPaths, TreeD, TreeDOutput, C2};
use venus_seal_core::testing::FakeExecutor;
use venus_seal_core::{
    ActorId, CommD, Failure, FailureLevel, PaddedPieceSize, PieceInfo, Randomness, SealProof,
    SectorId, SectorNumber, StageError, Ticket,
};

use super::command::Launch;
use super::config::check_cpuset;
use super::pool::{pick, Load};
use super::wire::truncate;
use super::*;

// ---- wire format ----

pub(crate) fn pc1_task() -> Pc1 {
    Pc1 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(7)),
        paths: SectorPaths::under("/seal/s-t01000-7"),
        ticket: Ticket {
            ticket: Randomness([1; 32]),
            epoch: 42,
        },
        pieces: vec![PieceInfo {
            size: PaddedPieceSize(2048),
            cid: CommD([0; 32]),
        }],
    }
}

/// The exact lines a PC1 exchange puts on the pipes. The envelope keys
/// (`id`, `task`, `err_msg`, `output`) are damocles' (`vc-processors`
/// `core::ext::{Request, Response}`); the task body is this project's
/// `Pc1` (damocles' own PC1 task uses other field names), and the output
/// is the proving library's PC1 output carried as an opaque value.
#[test]
fn pc1_request_and_response_lines() {
    let request = Request {
        id: 7,
        task: pc1_task(),
    };
    let line = serde_json::to_string(&request).unwrap();
    let expected = concat!(
        r#"{"id":7,"task":{"proof":5,"sector":{"Miner":1000,"Number":7},"#,
        r#""paths":{"staged":"/seal/s-t01000-7/staged","sealed":"/seal/s-t01000-7/sealed","cache":"/seal/s-t01000-7/cache"},"#,
        r#""ticket":{"Ticket":"0101010101010101010101010101010101010101010101010101010101010101","Epoch":42},"#,
        r#""pieces":[{"Size":2048,"PieceCID":{"/":"baga6ea4seaqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}]}}"#
    );
    assert_eq!(line, expected);
    let back: Request<Pc1> = serde_json::from_str(expected).unwrap();
    assert_eq!(back, request);

    let output = r#"{"registered_proof":"StackedDrg2KiBV1_1","labels":{"StackedDrg2KiBV1":{"labels":[]}},"comm_d":[0,1,2]}"#;
    let ok = format!(r#"{{"id":7,"err_msg":null,"output":{output}}}"#);
    let parsed: Response<Opaque> = serde_json::from_str(&ok).unwrap();
    assert_eq!(parsed.id, 7);
    assert_eq!(parsed.err_msg, None);
    assert_eq!(parsed.output.as_ref().unwrap().as_json(), output);
    assert_eq!(serde_json::to_string(&parsed).unwrap(), ok);

    let failed =
        r#"{"id":7,"err_msg":"[permanent] computation failed: pc1: bad ticket","output":null}"#;
    let parsed: Response<Opaque> = serde_json::from_str(failed).unwrap();
    assert!(parsed.output.is_none());
    assert_eq!(
        level_of_err_msg(parsed.err_msg.as_deref().unwrap()),
        (
            FailureLevel::Permanent,
            "computation failed: pc1: bad ticket"
        )
    );
    assert_eq!(serde_json::to_string(&parsed).unwrap(), failed);
}

/// The exact lines of a C2 exchange (see the PC1 test for what is
/// damocles' and what is ours): the C1 output rides as an opaque value, the
/// proof comes back base64.
#[test]
fn c2_request_and_response_lines() {
    let c1_output = r#"{"registered_proof":"StackedDrg2KiBV1_1","vanilla_proofs":[],"comm_r":[1],"comm_d":[2]}"#;
    let request = Request {
        id: 12,
        task: C2 {
            proof: SealProof::StackedDrg2KiBV1_1,
            sector: SectorId::new(ActorId(1000), SectorNumber(7)),
            c1_output: Opaque::from_json(c1_output.to_string()).unwrap(),
        },
    };
    let line = serde_json::to_string(&request).unwrap();
    let expected = format!(
        r#"{{"id":12,"task":{{"proof":5,"sector":{{"Miner":1000,"Number":7}},"c1_output":{c1_output}}}}}"#
    );
    assert_eq!(line, expected);
    let back: Request<C2> = serde_json::from_str(&expected).unwrap();
    assert_eq!(back, request);

    let ok = r#"{"id":12,"err_msg":null,"output":{"Proof":"AAECAw=="}}"#;
    let parsed: Response<Proof> = serde_json::from_str(ok).unwrap();
    assert_eq!(
        parsed,
        Response::ok(
            12,
            Proof {
                proof: vec![0, 1, 2, 3]
            }
        )
    );
    assert_eq!(serde_json::to_string(&parsed).unwrap(), ok);

    // A damocles child's free-text error: Temporary.
    let failed = r#"{"id":12,"err_msg":"GPU out of memory","output":null}"#;
    let parsed: Response<Proof> = serde_json::from_str(failed).unwrap();
    assert_eq!(
        level_of_err_msg(parsed.err_msg.as_deref().unwrap()).0,
        FailureLevel::Temporary
    );
}

#[test]
fn ready_line_is_damocles() {
    assert_eq!(ready_line("pc1"), "pc1 processor ready");
    assert_eq!(ready_line("tree_d"), "tree_d processor ready");
}

#[test]
fn every_level_but_abort_survives_err_msg() {
    for level in [
        FailureLevel::Temporary,
        FailureLevel::Permanent,
        FailureLevel::Critical,
    ] {
        let response = Response::<()>::failed(1, &Failure::new(level, "why"));
        assert_eq!(
            level_of_err_msg(response.err_msg.as_deref().unwrap()),
            (level, "why")
        );
    }
    // A child cannot make the worker delete a sector: Permanent, and the
    // message still says what it asked for.
    let response = Response::<()>::failed(1, &Failure::new(FailureLevel::Abort, "why"));
    assert_eq!(
        level_of_err_msg(response.err_msg.as_deref().unwrap()),
        (FailureLevel::Permanent, "[abort] why")
    );
    assert_eq!(
        level_of_err_msg("[bogus] x"),
        (FailureLevel::Temporary, "[bogus] x")
    );
}

#[test]
fn truncate_cuts_on_char_boundaries() {
    assert_eq!(truncate("short\n", 10), "short");
    assert_eq!(truncate("abcdef", 3), "abc…");
    assert_eq!(truncate("ééé", 3), "é…");
}

// ---- config and command line ----

#[test]
fn config_defaults_and_refusals() {
    let cfg: ExtProcessorConfig = serde_json::from_str(r#"{"bin": "proc"}"#).unwrap();
    assert_eq!(cfg, ExtProcessorConfig::new("proc"));
    assert_eq!(cfg.ready_timeout, Duration::from_secs(60));
    assert_eq!(cfg.task_timeout, None);
    assert!(cfg.auto_restart && cfg.inherit_envs);

    let cfg: ExtProcessorConfig = serde_json::from_str(
        r#"{"bin": "proc", "ready_timeout": "500ms", "task_timeout": "2h", "auto_restart": false,
            "inherit_envs": false, "numa_preferred": 1}"#,
    )
    .unwrap();
    assert_eq!(cfg.ready_timeout, Duration::from_millis(500));
    assert_eq!(cfg.task_timeout, Some(Duration::from_secs(7200)));
    assert_eq!(cfg.numa_preferred, Some(1));
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(
        serde_json::from_str::<ExtProcessorConfig>(&json).unwrap(),
        cfg
    );

    let err = serde_json::from_str::<ExtProcessorConfig>(r#"{"bin": "p", "cpu_set": "0"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cpu_set"), "{err}");
    let err = serde_json::from_str::<ExtProcessorConfig>(
        r#"{"bin": "p", "task_timeout": "5 fortnights"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("5 fortnights"), "{err}");
}

#[test]
fn cpusets() {
    for ok in ["0", "0-3", "0-3,8", " 1 , 4-5 "] {
        assert!(check_cpuset(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a", "3-1", "0-", "1,,2", "-1"] {
        assert!(check_cpuset(bad).is_err(), "{bad:?}");
    }
}

fn tools(present: &'static [&'static str]) -> impl Fn(&str) -> Option<PathBuf> {
    move |name| {
        present
            .contains(&name)
            .then(|| PathBuf::from(format!("/usr/bin/{name}")))
    }
}

#[test]
fn command_lines() {
    let mut cfg = ExtProcessorConfig::new("/opt/pc1");
    cfg.args = vec!["--fast".into()];
    let plain = Launch::build("p", &cfg, tools(&[])).unwrap();
    assert_eq!(plain.display(), "/opt/pc1 --fast");

    cfg.cpuset = Some("0-3,8".into());
    cfg.numa_preferred = Some(1);
    let both = Launch::build("p", &cfg, tools(&["taskset", "numactl"])).unwrap();
    assert_eq!(
        both.display(),
        "/usr/bin/taskset -c 0-3,8 /usr/bin/numactl --preferred=1 /opt/pc1 --fast"
    );
    // No numactl: a warning, and the child runs without the preference.
    let no_numa = Launch::build("p", &cfg, tools(&["taskset"])).unwrap();
    assert_eq!(
        no_numa.display(),
        "/usr/bin/taskset -c 0-3,8 /opt/pc1 --fast"
    );
    // No taskset: refused, saying what is missing.
    let err = Launch::build("p", &cfg, tools(&["numactl"])).unwrap_err();
    assert!(matches!(err, ExtConfigError::TasksetMissing { .. }));
    assert!(err.to_string().contains("taskset"), "{err}");

    cfg.cpuset = Some("4-2".into());
    let err = Launch::build("p", &cfg, tools(&["taskset"])).unwrap_err();
    assert!(err.to_string().contains("descending"), "{err}");
}

#[test]
fn processors_are_named_and_checked() {
    let p = ExtProcessorExecutor::<Pc1>::new(ExtProcessorConfig::new("/opt/bin/my-pc1")).unwrap();
    assert_eq!(p.name(), "pc1:my-pc1");
    let mut cfg = ExtProcessorConfig::new("x");
    cfg.name = Some("gpu0".into());
    cfg.locks = vec!["gpu".into()];
    let mut other = ExtProcessorConfig::new("y");
    other.locks = vec!["gpu".into(), "disk".into()];
    let pool = ExtProcessorPool::<C2>::new([cfg, other]).unwrap();
    let names: Vec<_> = pool.processors().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["gpu0", "c2:y#1"]);
    assert_eq!(pool.locks(), ["disk", "gpu"]);

    let mut zero = ExtProcessorConfig::new("x");
    zero.concurrent = Some(0);
    assert!(matches!(
        ExtProcessorExecutor::<C2>::new(zero).unwrap_err(),
        ExtConfigError::ZeroConcurrent { .. }
    ));
    assert!(matches!(
        ExtProcessorPool::<C2>::new([]).unwrap_err(),
        ExtConfigError::NoProcessors { stage: "c2" }
    ));
}

/// Both executors work as `dyn Executor`.
fn _assert_dyn(p: ExtProcessorExecutor<Pc1>, pool: ExtProcessorPool<C2>) {
    let _: venus_seal_core::DynExecutor<Pc1> = std::sync::Arc::new(p);
    let _: venus_seal_core::DynExecutor<C2> = std::sync::Arc::new(pool);
}

// ---- the pool's choice ----

fn load(in_flight: usize, concurrent: Option<usize>, dead: bool) -> Load {
    Load {
        in_flight,
        concurrent,
        dead,
    }
}

#[test]
fn pool_picks_least_loaded_live_processor() {
    assert_eq!(
        pick(&[load(0, Some(1), false), load(0, Some(1), false)]),
        Some(0)
    );
    assert_eq!(
        pick(&[load(1, Some(1), false), load(0, Some(1), false)]),
        Some(1)
    );
    // 2 of 4 beats 1 of 1.
    assert_eq!(
        pick(&[load(1, Some(1), false), load(2, Some(4), false)]),
        Some(1)
    );
    // Equal ratios: fewer tasks wins.
    assert_eq!(
        pick(&[load(2, Some(4), false), load(1, Some(2), false)]),
        Some(1)
    );
    // Unlimited counts as empty; among them, fewer tasks wins.
    assert_eq!(
        pick(&[load(1, Some(4), false), load(3, None, false)]),
        Some(1)
    );
    assert_eq!(
        pick(&[load(0, Some(4), false), load(3, None, false)]),
        Some(0)
    );
    assert_eq!(pick(&[load(3, None, false), load(2, None, false)]), Some(1));
    // Dead ones are skipped, even if idle.
    assert_eq!(
        pick(&[load(0, None, true), load(5, Some(1), false)]),
        Some(1)
    );
    assert_eq!(pick(&[load(0, None, true)]), None);
}

// ---- the serve loop ----

fn tree_d(name: &str) -> TreeD {
    TreeD {
        proof: SealProof::StackedDrg2KiBV1_1,
        staged: PathBuf::from(name),
        cache: PathBuf::from("/cache"),
        pieces: vec![],
    }
}

/// A fake tree_d whose CommD is the staged path's length in every byte,
/// failing (Permanent) for `bad`.
fn fake_tree_d() -> std::sync::Arc<FakeExecutor<TreeD>> {
    let fake = FakeExecutor::new(|t: &TreeD| TreeDOutput {
        comm_d: CommD([t.staged.as_os_str().len() as u8; 32]),
    });
    fake.fail_if(|t: &TreeD| {
        (t.staged.as_os_str() == "bad").then(|| StageError::Computation("no data".into()))
    });
    fake
}

#[tokio::test]
async fn serve_answers_concurrently_and_reports_failures() {
    let fake = fake_tree_d();
    fake.set_latency(Duration::from_millis(300));
    let (parent_in, child_out) = tokio::io::duplex(1 << 16);
    let (child_in, mut parent_out) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve::<TreeD, _>(fake.clone(), child_in, child_out));
    let mut lines = BufReader::new(parent_in).lines();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "tree_d processor ready"
    );

    let started = Instant::now();
    for (id, name) in [(1, "a"), (2, "bbb"), (3, "bad")] {
        let line = serde_json::to_string(&Request {
            id,
            task: tree_d(name),
        })
        .unwrap();
        parent_out
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    // A request whose task does not parse, with and without an id.
    parent_out
        .write_all(b"{\"id\": 9, \"task\": {\"staged\": 5}}\nnot json at all\n")
        .await
        .unwrap();
    parent_out.shutdown().await.unwrap();

    let mut answers = std::collections::BTreeMap::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let r: Response<TreeDOutput> = serde_json::from_str(&line).unwrap();
        answers.insert(r.id, r);
    }
    server.await.unwrap().unwrap();
    // Three 300 ms tasks ran at once.
    assert!(
        started.elapsed() < Duration::from_millis(850),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.max_running(), 3);
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[&1].output.unwrap().comm_d, CommD([1; 32]));
    assert_eq!(answers[&2].output.unwrap().comm_d, CommD([3; 32]));
    let (level, msg) = level_of_err_msg(answers[&3].err_msg.as_deref().unwrap());
    assert_eq!(level, FailureLevel::Permanent);
    assert!(msg.contains("no data"), "{msg}");
    let (level, msg) = level_of_err_msg(answers[&9].err_msg.as_deref().unwrap());
    assert_eq!(level, FailureLevel::Permanent);
    assert!(msg.contains("malformed tree_d request"), "{msg}");
}
