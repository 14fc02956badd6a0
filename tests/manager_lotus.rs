//! The sector-manager process on `[chain] kind = "lotus"`, against a fake
//! full node (and a fake venus-messager) served by this test.
//!
//! The manager checks the node at start, draws tickets from the node's
//! randomness as Lotus does (tag 5, head − 900, the miner's address as
//! entropy), and sends a pre-commit carrying its deposit through the
//! node's mpool or through the messager, with their own tokens. A miner
//! whose sector size on chain is not its proof's, and a node that does not
//! answer, stop it at start, saying why. `sectors abort` reaches the
//! sector's worker at its next poll. SIGTERM stops it cleanly.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use venus_seal::core::manager::{AllocateSpec, OnChainState, PreCommitOnChainInfo, SubmitResult};
use venus_seal::core::{ActorId, CommD, CommR, SectorId, SectorManager, SectorNumber};
use venus_seal::rpc::ManagerClient;

mod support;
use support::{free_port, log_file, manager_bin, output_of, strip_ansi, tail};

const TIPSET: &str = "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4";
const MESSAGE_CID: &str = "bafy2bzacebbpdegvr3i4cosewthysg5xkxpqfn2wfcz6mv2hmoktwbdxkax4s";
const HEAD: i64 = 2000;
/// 32 bytes of 7, base64.
const RANDOMNESS: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
/// The CBOR byte string of the address f01000 (protocol 0, leb128 1000).
const F01000_CBOR: &str = "QwDoBw==";
const DEPOSIT: &str = "42000000000000000";

/// (Authorization header, method, params) of every call the fakes saw.
type Seen = (Option<String>, String, Value);

/// A full node at `/rpc/v1` and a venus-messager at `/rpc/v0`, answering
/// what the manager asks with fixed, Lotus-shaped answers.
#[derive(Clone)]
struct FakeNode {
    sector_size: u64,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeNode {
    /// The answer to `method`, or go-jsonrpc's error: code 1 for an error
    /// the handler returned, -32601 for a method it does not serve.
    fn answer(&self, method: &str, params: &Value) -> Result<Value, (i32, String)> {
        Ok(match method {
            "Filecoin.ChainHead" => json!({"Cids": [{"/": TIPSET}], "Blocks": [], "Height": HEAD}),
            "Filecoin.StateNetworkVersion" => json!(24),
            "Filecoin.StateMinerInfo" => json!({
                "Owner": "f0100", "Worker": "f0101", "ControlAddresses": ["f0102"],
                "SectorSize": self.sector_size, "WindowPoStProofType": 5
            }),
            "Filecoin.StateGetRandomnessFromTickets" | "Filecoin.StateGetRandomnessFromBeacon" => {
                json!(RANDOMNESS)
            }
            "Filecoin.StateSectorPreCommitInfo" | "Filecoin.StateSectorGetInfo" => Value::Null,
            "Filecoin.StateMinerPreCommitDepositForPower" => json!(DEPOSIT),
            "Filecoin.MpoolPushMessage" => json!({"Message": params[0], "CID": {"/": MESSAGE_CID}}),
            "Filecoin.StateSearchMsg" => Value::Null,
            "Message.PushMessageWithId" => params[0].clone(),
            // Like venus-messager: a uid is known once pushed under it.
            "Message.GetMessageByUid" => {
                let pushed = self
                    .seen("Message.PushMessageWithId")
                    .iter()
                    .any(|(_, _, p)| p[0] == params[0]);
                if !pushed {
                    // sophon-messager's gorm error, returned by the handler.
                    return Err((1, "record not found".into()));
                }
                json!({"ID": params[0], "State": 2})
            }
            other => return Err((-32601, format!("method '{other}' not found"))),
        })
    }

    fn seen(&self, method: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m, _)| m == method)
            .cloned()
            .collect()
    }
}

async fn handle(
    State(node): State<FakeNode>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Json<Value> {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let method = req["method"].as_str().unwrap_or_default().to_string();
    let params = req["params"].clone();
    node.seen
        .lock()
        .unwrap()
        .push((auth, method.clone(), params.clone()));
    Json(match node.answer(&method, &params) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": req["id"], "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": message}})
        }
    })
}

/// A fake node whose miner has `sector_size`-byte sectors, served; it
/// and its URL.
async fn serve(sector_size: u64) -> (FakeNode, String) {
    let node = FakeNode {
        sector_size,
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/rpc/v1", post(handle))
        .route("/rpc/v0", post(handle))
        .with_state(node.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (node, format!("http://{addr}"))
}

struct Manager {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Manager {
    fn new() -> Self {
        Self {
            bin: manager_bin(),
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes the config for a node at `node_url` (and `extra` appended
    /// to `[chain]`); its path.
    fn config(&self, node_url: &str, extra: &str) -> PathBuf {
        std::fs::write(self.path("node.token"), "node-token\n").unwrap();
        std::fs::write(self.path("messager.token"), "messager-token\n").unwrap();
        let d = self.dir.path().display();
        let text = format!(
            r#"
[rpc]
listen = "127.0.0.1:{port}"
secret_file = "{d}/rpc.secret"

[chain]
kind = "lotus"
url = "{node_url}"
token_file = "{d}/node.token"
from = "f3sender"
state_dir = "{d}/state"
{extra}

[[miners]]
id = "f01000"
proof = "StackedDrg2KiBV1_1"
"#,
            port = self.port
        );
        let path = self.path("manager.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn start(&self, config: &Path) -> Child {
        Command::new(&self.bin)
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log_file(&self.path("manager.log")))
            .spawn()
            .unwrap()
    }

    fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(self.path("manager.log")).unwrap_or_default())
    }

    /// Waits until the manager listens; panics if it exits first.
    fn wait_listening(&self, child: &mut Child) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the manager exited ({status}):\n{}",
                    tail(&self.path("manager.log"))
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(900),
                "the manager never listened:\n{}",
                tail(&self.path("manager.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the manager to exit on its own.
    fn wait_exit(&self, child: &mut Child) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(900) {
                let _ = child.kill();
                panic!(
                    "the manager did not exit:\n{}",
                    tail(&self.path("manager.log"))
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn client(&self, config: &Path) -> ManagerClient {
        let token = output_of(
            Command::new(&self.bin)
                .args(["token", "--perm", "write", "--config"])
                .arg(config),
        );
        ManagerClient::new(
            format!("http://127.0.0.1:{}", self.port),
            Some(token.trim()),
        )
        .unwrap()
    }

    /// SIGTERM, then the exit status.
    fn terminate(&self, mut child: Child) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait_exit(&mut child)
    }
}

/// Allocates a sector, takes its ticket and submits its pre-commit through
/// `manager`; the pre-commit goes out at once (no batching configured).
async fn pre_commit_one(manager: &ManagerClient) {
    let sector = manager
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector number");
    assert_eq!(sector.id.miner, ActorId(1000));
    let ticket = manager.assign_ticket(sector.id).await.unwrap();
    assert_eq!(
        ticket.epoch,
        HEAD - 900,
        "ticket at head − SealRandomnessLookback"
    );
    assert_eq!(ticket.ticket.0, [7; 32], "the node's randomness");
    let info = PreCommitOnChainInfo {
        comm_r: CommR([1; 32]),
        comm_d: CommD([2; 32]),
        ticket,
        deals: vec![],
    };
    let r = manager
        .submit_pre_commit(sector, info, false)
        .await
        .unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
}

/// Waits until `node` has seen `method`; its calls.
async fn wait_for_call(node: &FakeNode, method: &str, manager: &Manager) -> Vec<Seen> {
    let start = Instant::now();
    loop {
        let seen = node.seen(method);
        if !seen.is_empty() {
            return seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{method} never came:\n{}",
            manager.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_node_tickets_are_the_nodes_and_pre_commits_carry_their_deposit() {
    let (node, url) = serve(2048).await;
    let m = Manager::new();
    let config = m.config(&url, "");
    let mut child = m.start(&config);
    m.wait_listening(&mut child);
    let log = m.log();
    assert!(log.contains("miner found on chain"), "{log}");
    assert!(log.contains("full node reached"), "{log}");

    pre_commit_one(&m.client(&config)).await;
    let pushed = wait_for_call(&node, "Filecoin.MpoolPushMessage", &m).await;
    let (auth, _, params) = &pushed[0];
    assert_eq!(auth.as_deref(), Some("Bearer node-token"));
    let msg = &params[0];
    assert_eq!(msg["To"], "f01000");
    assert_eq!(msg["From"], "f3sender");
    assert_eq!(msg["Method"], 28, "PreCommitSectorBatch2");
    assert_eq!(msg["Value"], DEPOSIT, "the deposit rides on the message");

    // The ticket was drawn as Lotus draws it, and checked again on submit.
    let draws = node.seen("Filecoin.StateGetRandomnessFromTickets");
    assert_eq!(draws.len(), 2, "{draws:?}");
    for (auth, _, p) in &draws {
        assert_eq!(auth.as_deref(), Some("Bearer node-token"));
        assert_eq!(p[0], 5, "DomainSeparationTag SealRandomness");
        assert_eq!(p[1], HEAD - 900);
        assert_eq!(p[2], F01000_CBOR, "entropy: the CBOR of the miner address");
    }
    let deposits = node.seen("Filecoin.StateMinerPreCommitDepositForPower");
    assert_eq!(deposits[0].2[0], "f01000");
    assert_eq!(
        deposits[0].2[2],
        json!([{"/": TIPSET}]),
        "priced at the head"
    );
    assert!(node.seen("Message.PushMessageWithId").is_empty());

    // An operator gives the sector up from the command line: its worker
    // hears it at its next poll.
    output_of(
        Command::new(&m.bin)
            .args(["sectors", "abort", "--miner", "f01000", "--number", "1"])
            .args(["--reason", "disk replaced", "--config"])
            .arg(&config),
    );
    let polled = m
        .client(&config)
        .poll_pre_commit_state(SectorId::new(ActorId(1000), SectorNumber(1)))
        .await
        .unwrap();
    assert_eq!(polled.state, OnChainState::ShouldAbort);
    assert!(polled.desc.unwrap().contains("disk replaced"));

    let status = m.terminate(child);
    assert!(status.success(), "{status}:\n{}", m.log());
    assert!(m.log().contains("sector manager stopped"), "{}", m.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_messager_the_messages_go_there_with_its_token() {
    let (node, url) = serve(2048).await;
    let m = Manager::new();
    let d = m.dir.path().display();
    let config = m.config(
        &url,
        &format!("[chain.messager]\nurl = \"{url}\"\ntoken_file = \"{d}/messager.token\""),
    );
    let mut child = m.start(&config);
    m.wait_listening(&mut child);
    pre_commit_one(&m.client(&config)).await;
    let pushed = wait_for_call(&node, "Message.PushMessageWithId", &m).await;
    let (auth, _, params) = &pushed[0];
    assert_eq!(auth.as_deref(), Some("Bearer messager-token"));
    assert!(
        params[0].as_str().is_some_and(|uid| uid.len() == 36),
        "a uuid: {params}"
    );
    assert_eq!(params[1]["Value"], DEPOSIT);
    assert_eq!(params[1]["Method"], 28);
    assert!(node.seen("Filecoin.MpoolPushMessage").is_empty());
    let status = m.terminate(child);
    assert!(status.success(), "{status}:\n{}", m.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_of_another_sector_size_stops_the_manager_at_start() {
    let (_node, url) = serve(34359738368).await;
    let m = Manager::new();
    let config = m.config(&url, "");
    let mut child = m.start(&config);
    let status = m.wait_exit(&mut child);
    assert!(!status.success());
    let log = m.log();
    assert!(
        log.contains("miner f01000 has 34359738368-byte sectors on chain")
            && log.contains("StackedDrg2KiBV1_1"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_answer_stops_the_manager_at_start() {
    let m = Manager::new();
    let config = m.config(&format!("http://127.0.0.1:{}", free_port()), "");
    let mut child = m.start(&config);
    let status = m.wait_exit(&mut child);
    assert!(!status.success());
    let log = m.log();
    assert!(
        log.contains("chain.url") && log.contains("ChainHead"),
        "{log}"
    );

    // And a missing token file is named before any call.
    std::fs::remove_file(m.path("node.token")).unwrap();
    let config = std::fs::read_to_string(&config).unwrap();
    let config_path = m.path("manager.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = m.start(&config_path);
    assert!(!m.wait_exit(&mut child).success());
    assert!(m.log().contains("chain.token_file"), "{}", m.log());
}

/// `token` and `deals list` only read: run from another folder with a
/// config whose paths are relative (to the config's folder), they create
/// no secret and no state anywhere, and say the secret is missing; once
/// the manager's secret exists beside the config, `token` signs with it.
#[test]
fn reading_commands_from_another_folder_create_nothing() {
    let m = Manager::new();
    let absolute = std::fs::read_to_string(m.config("http://127.0.0.1:1", "")).unwrap();
    let relative = absolute.replace(&format!("{}/", m.dir.path().display()), "");
    assert_ne!(absolute, relative);
    let config = m.path("manager.toml");
    std::fs::write(&config, relative).unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing(m.dir.path());
    let elsewhere = tempfile::tempdir().unwrap();
    for args in [&["token", "--config"][..], &["deals", "list", "--config"]] {
        let out = Command::new(&m.bin)
            .args(args)
            .arg(&config)
            .current_dir(elsewhere.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("rpc.secret_file") && stderr.contains("does not exist"),
            "{args:?}: {stderr}"
        );
        assert!(listing(elsewhere.path()).is_empty(), "{args:?} wrote here");
        assert_eq!(listing(m.dir.path()), before, "{args:?} wrote there");
    }

    let secret = venus_seal::rpc::Secret::load_or_create(m.path("rpc.secret")).unwrap();
    let token = output_of(
        Command::new(&m.bin)
            .args(["token", "--perm", "write", "--config"])
            .arg(&config)
            .current_dir(elsewhere.path()),
    );
    assert_eq!(
        secret.verify(token.trim()).unwrap(),
        venus_seal::rpc::Permission::Write
    );
    assert!(listing(elsewhere.path()).is_empty());
}
