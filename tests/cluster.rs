//! The cluster as processes: one sector-manager process (embedded devnet,
//! two miner actors, its state in SQLite or PostgreSQL) and two worker
//! processes, each sealing a real 2KiB sector for its own miner over
//! authenticated JSON-RPC. The manager is SIGKILLed while the workers are
//! sealing and started again; the workers ride it out (Temporary errors,
//! retried) and both sectors are proven on the devnet; the manager then
//! proves them by WindowPoSt in their deadlines from the store the workers
//! persisted them to, and the devnet records no fault. On day two the
//! operator commands list the sectors by expiration, extend one (it lands
//! on the devnet) and dry-run a termination (nothing sent).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use venus_seal::backends::params::ParameterCache;
use venus_seal::backends::LocalProofVerifier;
use venus_seal::chain::{DevnetChain, DevnetConfig, DevnetMiner};
use venus_seal::core::{ActorId, ChainClient, SealProof, SectorNumber};

mod support;
use support::{free_port, log_file, strip_ansi, tail};

const MINERS: [ActorId; 2] = [ActorId(1000), ActorId(1001)];
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

struct Cluster {
    worker_bin: PathBuf,
    manager_bin: PathBuf,
    dir: tempfile::TempDir,
    rpc_port: u16,
}

impl Cluster {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write_manager_config(&self, store: &str) -> PathBuf {
        let d = self.dir.path().display();
        let text = format!(
            r#"
[rpc]
listen = "127.0.0.1:{port}"
secret_file = "{d}/manager/rpc.secret"

[chain]
kind = "embedded-devnet"
block_time = "100ms"
pre_commit_challenge_delay = 30
# 20 s deadlines: a 2KiB WindowPoSt takes seconds on a loaded machine.
proving_period = 800
proving_deadlines = 4
state_dir = "{d}/manager"

{store}

[proving]
stores = ["{d}/w0/store", "{d}/w1/store"]

[[miners]]
id = "f01000"
proof = "StackedDrg2KiBV1_1"
numbers = {{ start = 1, end = 100 }}

[[miners]]
id = "f01001"
proof = "StackedDrg2KiBV1_1"
numbers = {{ start = 1001, end = 1100 }}
[miners.pre_commit_batch]
threshold = 2
max_wait = "2s"
"#,
            port = self.rpc_port
        );
        let text = text.replace("STATE", &format!("{d}/manager"));
        let path = self.path("manager.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn start_manager(&self, config: &Path) -> Child {
        let child = Command::new(&self.manager_bin)
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log_file(&self.path("manager.log")))
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", self.rpc_port).parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the manager never listened:\n{}",
                tail(&self.path("manager.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    fn worker_token(&self, config: &Path) -> PathBuf {
        let token = support::output_of(
            Command::new(&self.manager_bin)
                .args(["token", "--perm", "write", "--name", "cluster-test"])
                .arg("--config")
                .arg(config),
        );
        let path = self.path("worker.token");
        std::fs::write(&path, token).unwrap();
        path
    }

    fn start_worker(&self, n: usize, miner: ActorId, token: &Path) -> Child {
        let d = self.dir.path().join(format!("w{n}"));
        std::fs::create_dir_all(&d).unwrap();
        let d = d.display();
        let text = format!(
            r#"
[worker]
name = "worker-{n}"
state_db = "{d}/state.db"
max_sectors = 1

[admin]
listen = "127.0.0.1:{admin}"
secret_file = "{d}/admin.secret"

[manager]
kind = "remote"
url = "http://127.0.0.1:{rpc}"
token_file = "{token}"
proof = "StackedDrg2KiBV1_1"
miners = ["{miner}"]

[retry]
recover_interval = "1s"
max_retries = 60
poll_interval = "200ms"

[[sealing]]
path = "{d}/sealing"
slots = 1

[[persist]]
name = "store-{n}"
path = "{d}/store"
"#,
            admin = free_port(),
            rpc = self.rpc_port,
            token = token.display(),
        );
        let config = self.path(&format!("worker-{n}.toml"));
        std::fs::write(&config, text).unwrap();
        Command::new(&self.worker_bin)
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log_file(&self.path(&format!("worker-{n}.log"))))
            .spawn()
            .unwrap()
    }

    /// Runs `venus-seal-sector-manager sectors <args> --config <config>`
    /// (an admin token signed from the config's secret) and answers its
    /// stdout; it must succeed.
    fn sectors_command(&self, config: &Path, args: &[&str]) -> String {
        let out = Command::new(&self.manager_bin)
            .arg("sectors")
            .args(args)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "sectors {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn logs(&self) -> String {
        format!(
            "--- manager\n{}\n--- worker 0\n{}\n--- worker 1\n{}",
            tail(&self.path("manager.log")),
            tail(&self.path("worker-0.log")),
            tail(&self.path("worker-1.log")),
        )
    }
}

/// Runs the whole scenario with the manager's `[store]` section `store`.
async fn two_workers_one_manager_survive_a_manager_restart(store: &str) {
    let worker_bin = support::worker_bin();
    let cluster = Cluster {
        worker_bin,
        manager_bin: support::manager_bin(),
        dir: tempfile::tempdir().unwrap(),
        rpc_port: free_port(),
    };
    let config = cluster.write_manager_config(store);
    let mut manager = cluster.start_manager(&config);
    let token = cluster.worker_token(&config);
    let mut workers: Vec<Child> = MINERS
        .iter()
        .enumerate()
        .map(|(n, miner)| cluster.start_worker(n, *miner, &token))
        .collect();

    // Both workers hold a ticket: they are sealing. Kill the manager hard.
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(cluster.path("manager.log")).unwrap_or_default();
        if log.matches("ticket assigned").count() >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the workers never got tickets:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    manager.kill().unwrap(); // SIGKILL: no chance to save anything more
    manager.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut manager = cluster.start_manager(&config);

    // Both workers finish their one sector and exit 0.
    let start = Instant::now();
    let mut done = [false, false];
    while done.iter().any(|d| !d) {
        for (n, w) in workers.iter_mut().enumerate() {
            if let Some(status) = w.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "worker {n} failed ({status}):\n{}",
                    cluster.logs()
                );
                done[n] = true;
            }
        }
        if let Some(status) = manager.try_wait().unwrap() {
            panic!("the manager exited ({status}):\n{}", cluster.logs());
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the sectors never finished:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The manager proves both sectors in their deadlines from the stores
    // the workers persisted them to (an 800-epoch proving period: 80 s).
    let start = Instant::now();
    loop {
        let log =
            strip_ansi(&std::fs::read_to_string(cluster.path("manager.log")).unwrap_or_default());
        let proven = |miner: &str| {
            log.lines().any(|l| {
                l.contains("WindowPoSt submitted")
                    && l.contains(&format!("miner={miner}"))
                    && l.contains("proven=1")
            })
        };
        if proven("f01000") && proven("f01001") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the sectors were never proven by WindowPoSt:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(cluster.path("manager.log")).unwrap();
    assert!(
        log.contains("manager state opened") && log.matches("manager state opened").count() == 2,
        "the manager ran twice:\n{}",
        cluster.logs()
    );
    // Day two, through the operator commands on the sealed sectors:
    // list f01000's sectors by expiration, extend sector 1, and dry-run a
    // termination of f01001's sector (nothing sent).
    let sectors = |args: &[&str]| cluster.sectors_command(&config, args);
    let listed = sectors(&[
        "expiring",
        "--miner",
        "f01000",
        "--within-epochs",
        "100000000",
    ]);
    let expiration = listed
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&"1")).then(|| cols[1].parse::<i64>().unwrap())
        })
        .unwrap_or_else(|| panic!("sector 1 not listed:\n{listed}"));
    let extended_to = expiration + 1000;
    let to = extended_to.to_string();
    let sent = sectors(&[
        "extend",
        "--miner",
        "f01000",
        "--sectors",
        "1",
        "--new-expiration",
        &to,
    ]);
    assert!(
        sent.contains("deadline") && sent.contains("in message"),
        "{sent}"
    );
    let dry = sectors(&["terminate", "--miner", "f01001", "--sectors", "1001,1002"]);
    assert!(
        dry.contains("sectors 1001")
            && dry.contains("left out: sector 1002")
            && dry.contains("nothing sent"),
        "{dry}"
    );
    let start = Instant::now();
    while !sectors(&[
        "expiring",
        "--miner",
        "f01000",
        "--within-epochs",
        "100000000",
    ])
    .contains(&to)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the extension never landed:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // SIGTERM: a clean stop that saves the devnet.
    let pid = manager.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = manager.wait().unwrap();
    assert!(status.success(), "the manager's SIGTERM exit: {status}");

    // The devnet the manager ran holds both sectors, proven, one per
    // miner, numbered from each miner's range.
    let params = Arc::new(ParameterCache::from_env());
    let chain = DevnetChain::open(
        DevnetConfig {
            state_file: Some(cluster.path("manager/devnet.json")),
            ..DevnetConfig::with_miners(
                MINERS
                    .iter()
                    .map(|id| DevnetMiner {
                        id: *id,
                        allowed_proofs: vec![PROOF],
                    })
                    .collect(),
            )
        },
        Arc::new(LocalProofVerifier::with_parameters(params)),
    )
    .unwrap();
    for (miner, first) in MINERS.iter().zip([1, 1001]) {
        let sector = chain.sector(*miner, SectorNumber(first)).await.unwrap();
        assert!(
            sector.is_some(),
            "miner {miner} sector {first} is not proven:\n{}",
            cluster.logs()
        );
        // The extension stays; the dry-run termination sent nothing.
        if *miner == ActorId(1000) {
            assert_eq!(sector.unwrap().expiration, extended_to);
        }
        // Its WindowPoSt landed: no fault recorded.
        assert_eq!(
            chain.faults(*miner).unwrap(),
            vec![],
            "miner {miner} has faults:\n{}",
            cluster.logs()
        );
    }
}

/// On PostgreSQL where one is given (`VENUS_SEAL_TEST_POSTGRES`; CI
/// always gives one), on SQLite otherwise: one cluster, not one per store,
/// because four real seals at once on CI's two cores cost about three
/// minutes. The manager's SQLite store across a restart is also tested in
/// process (`venus-seal-chain` `manager::restart_tests`, the crash matrix);
/// `VENUS_SEAL_CLUSTER_STORE=sqlite` picks SQLite here even with a server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_survives_a_manager_restart() {
    let server = std::env::var("VENUS_SEAL_TEST_POSTGRES").ok();
    let forced = std::env::var("VENUS_SEAL_CLUSTER_STORE").ok();
    assert!(
        matches!(forced.as_deref(), None | Some("postgres" | "sqlite")),
        "VENUS_SEAL_CLUSTER_STORE is {forced:?}: say postgres or sqlite"
    );
    let store = match (server, forced.as_deref()) {
        (Some(server), None | Some("postgres")) => {
            let url = venus_seal::chain::testing::create_postgres_database(&server).await;
            eprintln!("cluster: the manager's store is PostgreSQL");
            format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"")
        }
        (None, Some("postgres")) => {
            panic!("VENUS_SEAL_CLUSTER_STORE=postgres but VENUS_SEAL_TEST_POSTGRES is not set")
        }
        (server, _) => {
            assert!(
                server.is_some()
                    || std::env::var("VENUS_SEAL_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "VENUS_SEAL_REQUIRE_POSTGRES=1 but VENUS_SEAL_TEST_POSTGRES is not set"
            );
            eprintln!("cluster: the manager's store is SQLite");
            "[store]\nkind = \"sqlite\"\npath = \"STATE/manager.db\"".to_string()
        }
    };
    two_workers_one_manager_survive_a_manager_restart(&store).await;
}
