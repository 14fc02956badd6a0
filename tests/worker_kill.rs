//! Kill tests: a real worker process (venus-seal-worker) sealing a real 2KiB
//! sector is SIGKILLed at several points, restarted each time, and the
//! sector still finishes with a proof the devnet verifies. Each point is
//! reached deterministically: the worker's test hooks write a marker file
//! and hang at a stage boundary, or the admin API shows the sector waiting
//! for its seed (a 10 s window polled every 50 ms).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use venus_seal::backends::params::ParameterCache;
use venus_seal::backends::LocalProofVerifier;
use venus_seal::chain::{DevnetChain, DevnetConfig, DevnetMiner};
use venus_seal::core::{
    ActorId, ChainClient, SealProof, SectorNumber, SectorState, SectorStore, SqliteSectorStore,
};
use venus_seal::rpc::{AdminClient, Permission, Secret};

mod support;
use support::{count_lines, devnet_worker_config, free_port};

struct Rig {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Rig {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write_config(&self, testing: &str) -> PathBuf {
        let d = self.dir.path().display();
        let extra = format!(
            "[[persist]]\nname = \"store-0\"\npath = \"{d}/store\"\n\n\
             [testing]\nmarker_dir = \"{d}/markers\"\nstage_log = \"{d}/stages.log\"\n{testing}"
        );
        let text = devnet_worker_config(self.dir.path(), "kill-test", self.port, 100, &extra);
        let path = self.path("worker.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn start(&self, testing: &str) -> Child {
        let config = self.write_config(testing);
        let _ = std::fs::remove_dir_all(self.path("markers"));
        Command::new(&self.bin)
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.path("worker.log"))
                    .unwrap(),
            ))
            .spawn()
            .unwrap()
    }

    fn stage_count(&self, stage: &str) -> usize {
        count_lines(&self.path("stages.log"), stage)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path("worker.log")).unwrap_or_default();
        log.lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn wait_for(
    what: &str,
    rig: &Rig,
    child: &mut Child,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "worker exited ({status}) while waiting for {what}:\n{}",
                rig.log_tail()
            );
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}:\n{}",
            rig.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_at_marker(rig: &Rig, testing: &str, marker: &str) {
    let mut child = rig.start(testing);
    let path = rig.path("markers").join(marker);
    wait_for(marker, rig, &mut child, Duration::from_secs(300), || {
        path.exists()
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

async fn state_of_job_1(rig: &Rig) -> SectorState {
    let store = SqliteSectorStore::open(rig.path("state.db")).await.unwrap();
    store.load_all().await.unwrap()[0].state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_survives_sigkill_at_every_stage_and_the_sector_verifies() {
    let rig = Rig {
        bin: support::worker_bin(),
        dir: tempfile::tempdir().unwrap(),
        port: free_port(),
    };

    // 1. Mid-PC1: PC1 has written its layers but its output is not durable.
    kill_at_marker(&rig, r#"pause_after = ["pc1"]"#, "after-pc1");
    assert_eq!(state_of_job_1(&rig).await, SectorState::TicketAssigned);

    // 2. Mid-PC2: PC2 has rewritten the sealed file in place; a restart
    //    must restore it from the staged copy before PC2 runs again.
    kill_at_marker(&rig, r#"pause_after = ["pc2"]"#, "after-pc2");
    assert_eq!(state_of_job_1(&rig).await, SectorState::PC1Done);
    assert_eq!(
        rig.stage_count("pc1"),
        2,
        "PC1 re-ran once: its output was not durable"
    );

    // 3. After PC2: pre-committed, about to copy to the persistent store.
    kill_at_marker(&rig, r#"pause_before = ["persist"]"#, "before-persist");
    assert_eq!(state_of_job_1(&rig).await, SectorState::PreCommitLanded);

    // 4. Waiting for the seed, seen through the admin API (which also
    //    refuses a missing or read-only token to steer).
    let mut child = rig.start("");
    let secret = Secret::load_or_create(rig.path("admin.secret")).unwrap();
    let url = format!("http://127.0.0.1:{}", rig.port);
    let reader =
        AdminClient::new(url.clone(), Some(&secret.token(Permission::Read, None))).unwrap();
    let start = Instant::now();
    loop {
        if let Ok(list) = reader.list().await {
            if list
                .first()
                .is_some_and(|s| s.state == SectorState::Persisted)
            {
                break;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("worker exited ({status}):\n{}", rig.log_tail());
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never saw Persisted:\n{}",
            rig.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = reader.pause(1).await.unwrap_err();
    assert!(err.to_string().contains("needs admin"), "{err}");
    let anonymous = AdminClient::new(url, None).unwrap();
    let err = anonymous.list().await.unwrap_err();
    assert!(err.to_string().contains("missing token"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();

    // 5. Mid-C2 (C1 durable, C2 started).
    kill_at_marker(&rig, r#"pause_before = ["c2"]"#, "before-c2");
    assert_eq!(state_of_job_1(&rig).await, SectorState::C1Done);

    // 6. Let it finish: max_sectors = 1, so the worker exits when done.
    let mut child = rig.start("");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(400),
            "worker did not finish:\n{}",
            rig.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "worker failed:\n{}", rig.log_tail());
    assert_eq!(state_of_job_1(&rig).await, SectorState::Finished);
    assert_eq!(
        rig.stage_count("pc1"),
        2,
        "PC1 never re-ran after a crash in PC2 or later"
    );
    assert_eq!(rig.stage_count("pc2"), 2);

    // The devnet (restored from its state file) holds the sector proven:
    // its proof was verified for real when the prove-commit executed.
    let params = Arc::new(ParameterCache::from_env());
    let chain = DevnetChain::open(
        DevnetConfig {
            miners: vec![DevnetMiner {
                id: ActorId(1000),
                allowed_proofs: vec![SealProof::StackedDrg2KiBV1_1],
            }],
            state_file: Some(rig.path("devnet/devnet.json")),
            ..DevnetConfig::default()
        },
        Arc::new(LocalProofVerifier::with_parameters(params)),
    )
    .unwrap();
    let sector = chain.sector(ActorId(1000), SectorNumber(1)).await.unwrap();
    assert!(sector.is_some(), "sector 1 is proven on the devnet");
    // The replica was copied to the persistent store and the sealing
    // location cleaned.
    assert!(rig.path("store/sealed/s-t01000-1").exists());
    assert!(rig.path("store/cache/s-t01000-1/p_aux").exists());
    let left: Vec<_> = std::fs::read_dir(rig.path("sealing/job-1"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !Path::new(&rig.path("sealing/job-1")).exists(),
        "sealing location not cleaned: {left:?}\n{}",
        rig.log_tail()
    );
}
