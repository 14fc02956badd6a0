//! The console in a real headless browser: Debian's `chromium` driven by
//! `chromedriver` through fantoccini (WebDriver). A sector manager built
//! from its config (embedded devnet, `[alerts]`, `[console]`) serves a
//! worker assembled from library parts (the core's fake stages, whose C2
//! is held at a gate, so the sector waits in C2 until the test lets it
//! go); the worker's admin API shares the manager's secret and the console
//! holds an admin token for it.
//!
//! The operator's day, in the browser: pages without a token land on the
//! login; a read token sees the sector but no action; an admin logs in,
//! watches the sector reach C2 on the pipeline page, pauses it from its
//! page (the confirmation accepted), sees it paused on the worker, resumes
//! it, and sees it finalized once the gate opens; the worker goes quiet and
//! the `worker_silent` alert fires on the alerts page, then resolves when
//! it pings again. Screenshots of each page are saved under
//! `target/tmp/console-screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's
//! `chromium` and `chromium-driver`; `.ci/run` installs them). Without
//! them the test says so and passes, unless `VENUS_SEAL_REQUIRE_BROWSER=1`
//! (set by `.ci/run`), which makes it fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::sync::watch;
use venus_seal::chain::testing::FakeProofVerifier;
use venus_seal::core::engine::limits::{Limits, StageLimit};
use venus_seal::core::engine::{Engine, Location};
use venus_seal::core::stage::{Proof, C2};
use venus_seal::core::testing::fake_stage_executors;
use venus_seal::core::{DynExecutor, Executor, MemoryPieceStore, MemorySectorStore};
use venus_seal::core::{Sealer, SealerConfig, StageError};
use venus_seal::rpc::{serve_admin, ManagerClient, Permission, Secret, WorkerInfo};
use venus_seal::sector_manager::{ManagerService, SectorManagerConfig};

mod support;
use support::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// C2 held until the gate opens; counts how often it was entered.
#[derive(Debug)]
struct GatedC2 {
    inner: DynExecutor<C2>,
    open: watch::Sender<bool>,
    entered: AtomicUsize,
}

#[async_trait]
impl Executor<C2> for GatedC2 {
    async fn execute(&self, task: C2) -> Result<Proof, StageError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
        self.inner.execute(task).await
    }
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(log: &Path) -> Self {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session, as the machine's notes say it must start
/// on a closed network (no background connections).
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("no browser session: {e}"),
        }
    }
}

struct Shots(PathBuf);

impl Shots {
    async fn take(&self, c: &Client, name: &str) {
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(self.0.join(format!("{name}.png")), png).expect("screenshot saved");
    }
}

/// Loads the console's `path` until its page contains `needle` (within
/// `secs` seconds).
async fn until(c: &Client, console: &str, path: &str, needle: &str, secs: u64) -> String {
    let url = format!("{console}{path}");
    let url = url.as_str();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        c.goto(url).await.expect("page loads");
        let page = c.source().await.expect("page source");
        if page.contains(needle) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never showed {needle:?}; last page:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Types `token` into the login page and submits it.
async fn submit_token(c: &Client, console: &str, token: &str) {
    c.goto(&format!("{console}/login")).await.unwrap();
    let field = c.find(Locator::Id("token")).await.unwrap();
    field.send_keys(token).await.unwrap();
    let button = c.find(Locator::Id("login")).await.unwrap();
    button.click().await.unwrap();
}

async fn log_in(c: &Client, console: &str, token: &str) {
    submit_token(c, console, token).await;
    until_at(c, "/").await;
}

/// Waits (up to 10 s) for the browser to be at `path`.
async fn until_at(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        if Instant::now() > deadline {
            let page = c.source().await.unwrap_or_default();
            panic!("the browser is at {url}, not {path}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_out(c: &Client) {
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until_at(c, "/login").await;
}

/// Waits (up to 10 s) for the sector page's note (what the last action
/// did) to say `needle`.
async fn note_says(c: &Client, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let said = match c.find(Locator::Id("note")).await {
            Ok(note) => note.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if said.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the note never said {needle:?}: {said:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks `button` (whose form asks for a confirmation) and accepts it.
async fn confirm_click(c: &Client, button: &str) {
    c.find(Locator::Id(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.accept_alert()
        .await
        .expect("the action asks for a confirmation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_watches_pauses_and_resumes_a_sector_and_sees_an_alert() {
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        let why = format!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing (apt install chromium chromium-driver)"
        );
        assert!(
            std::env::var_os("VENUS_SEAL_REQUIRE_BROWSER").is_none(),
            "VENUS_SEAL_REQUIRE_BROWSER is set but {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shots = Shots(Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"));
    std::fs::create_dir_all(&shots.0).unwrap();

    // The manager, from its config; the worker's admin API shares its
    // secret, and the console holds an admin token for it.
    let secret = Secret::load_or_create(dir.path().join("rpc.secret")).unwrap();
    std::fs::write(
        dir.path().join("worker-admin.token"),
        secret.token(Permission::Admin, Some("console")),
    )
    .unwrap();
    let mut config = SectorManagerConfig::parse(
        r#"
[rpc]
listen = "127.0.0.1:0"
secret_file = "rpc.secret"

[chain]
kind = "embedded-devnet"
block_time = "100ms"
pre_commit_challenge_delay = 3
state_dir = "manager"

[[miners]]
id = "f01000"
proof = "StackedDrg2KiBV1_1"

[alerts]
every = "1s"
worker_silent_after = "3s"
store_min_free_gib = 0

[console]
listen = "127.0.0.1:0"
worker_token_file = "worker-admin.token"
"#,
    )
    .unwrap();
    config.resolve_paths(dir.path());
    let manager = ManagerService::new(config)
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .expect("the manager starts");
    let console = format!(
        "http://{}",
        manager.console_addr().expect("[console] serves")
    );

    // The worker: fake stages, C2 held at the gate.
    let client = Arc::new(
        ManagerClient::new(
            format!("http://{}", manager.addr()),
            Some(&secret.token(Permission::Write, Some("worker-1"))),
        )
        .unwrap(),
    );
    let (mut executors, _fakes) = fake_stage_executors();
    let gate = Arc::new(GatedC2 {
        inner: executors.c2.clone(),
        open: watch::channel(false).0,
        entered: AtomicUsize::new(0),
    });
    // C2 limited to one at a time: its load rides in the worker's pings.
    let limits = Limits::new(
        std::collections::BTreeMap::from([(
            "c2".to_string(),
            StageLimit {
                concurrent: Some(1),
                ..StageLimit::default()
            },
        )]),
        std::collections::BTreeMap::new(),
    );
    executors.c2 = Arc::new(limits.wrap::<C2, _>(gate.clone()));
    let records = Arc::new(MemorySectorStore::default());
    let sealer = Sealer::new(
        client.clone(),
        Arc::new(MemoryPieceStore::default()),
        executors,
        records.clone(),
        SealerConfig {
            instance: "worker-1".into(),
            poll_interval: Duration::from_millis(100),
            ..SealerConfig::default()
        },
    );
    let engine = Engine::new(
        sealer,
        records,
        vec![Location {
            path: dir.path().join("seal"),
            slots: 1,
        }],
    )
    .with_max_sectors(1);
    let handle = engine.handle();
    let (admin_addr, admin) = serve_admin(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(engine.handle()),
        secret.clone(),
    )
    .await
    .unwrap();
    let info = WorkerInfo {
        name: "worker-1".into(),
        dest: admin_addr.to_string(),
        version: "test".into(),
        ..WorkerInfo::default()
    };
    let ping = |interval| {
        venus_seal::worker::ping::spawn(
            client.clone(),
            handle.clone(),
            info.clone(),
            1,
            Some(limits.clone()),
            interval,
        )
    };
    let pinging = ping(Duration::from_millis(300));
    let sealing = tokio::spawn(engine.run(std::future::pending::<()>()));

    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let c = browser(&driver, &dir.path().join("profile")).await;

    // No token: every page sends to the login.
    c.goto(&format!("{console}/pipeline")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    shots.take(&c, "login").await;
    submit_token(&c, &console, "not-a-token").await;
    let refused = c.wait().for_element(Locator::Id("login-error")).await;
    let refused = refused.expect("the login says why").text().await.unwrap();
    assert!(refused.contains("invalid token"), "{refused}");

    // A read token sees the sector, and no action.
    log_in(
        &c,
        &console,
        &secret.token(Permission::Read, Some("viewer")),
    )
    .await;
    let page = until(&c, &console, "/pipeline", "s-t01000-", 30).await;
    assert!(page.contains("viewer (read)"), "who is logged in shows");
    let sector = "/sectors/1000/1";
    c.goto(&format!("{console}{sector}")).await.unwrap();
    assert!(
        c.find(Locator::Id("pause")).await.is_err(),
        "no pause button for read"
    );
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("Log in with an admin token"));
    log_out(&c).await;
    c.goto(&format!("{console}{sector}")).await.unwrap();
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/login",
        "logged out"
    );

    // An admin watches it reach C2 (the manager has handed its seed).
    log_in(&c, &console, &secret.token(Permission::Admin, Some("ops"))).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gate.entered.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the sector never reached C2");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The worker reports every transition: the sector shows in C1Done
    // (its C2 held), and the history has the worker's steps.
    let page = until(&c, &console, "/pipeline", ">C1Done", 10).await;
    assert!(page.contains("worker-1"), "{page}");
    shots.take(&c, "pipeline").await;
    // The worker's stages on the workers page: C2 held, one of one.
    let page = until(&c, &console, "/workers", "of 1 running", 10).await;
    assert!(page.contains("c2 <span class=\"meter\""), "{page}");

    // Pause it from its page: the worker parks it.
    c.goto(&format!("{console}{sector}")).await.unwrap();
    confirm_click(&c, "pause").await;
    note_says(&c, "paused on worker-1").await;
    let list = handle.list().await.unwrap();
    assert!(
        list.iter().any(|s| s.paused),
        "the worker holds it paused: {list:?}"
    );
    shots.take(&c, "sector-paused").await;

    // Resume it, let C2 through: it is finalized.
    confirm_click(&c, "resume").await;
    note_says(&c, "resumed on worker-1").await;
    gate.open.send_replace(true);
    let page = until(&c, &console, sector, "Finalized", 60).await;
    assert!(
        page.contains("ProofSent") && page.contains("TicketAssigned"),
        "the history shows the manager's steps"
    );
    assert!(
        page.contains("PC2Done") && page.contains("C1Done"),
        "and every transition the worker reported"
    );
    assert!(
        page.contains("PauseRequested")
            && page.contains("ResumeRequested")
            && page.contains("by the console (ops)"),
        "and who asked for the pause and resume"
    );
    assert!(
        page.contains("paused by the operator (worker admin API)")
            && page.contains("resumed by the operator (worker admin API)"),
        "and the worker's own report of them"
    );
    shots.take(&c, "sector-finalized").await;
    until(&c, &console, "/pipeline", "Finalized", 10).await;
    shots.take(&c, "pipeline-finalized").await;

    // The worker goes quiet: the alert fires, then resolves.
    pinging.abort();
    until(&c, &console, "/alerts", "worker_silent", 20).await;
    assert!(c.find(Locator::Id("firing")).await.is_ok());
    c.goto(&format!("{console}/")).await.unwrap();
    let overview = c.source().await.unwrap();
    assert!(
        overview.contains("worker-1") && overview.contains("check the worker process"),
        "{overview}"
    );
    shots.take(&c, "overview-alert").await;
    let pinging = ping(Duration::from_millis(300));
    let page = until(&c, &console, "/alerts", "Nothing fires", 20).await;
    assert!(
        page.contains("id=\"resolved\"") && page.contains("worker_silent"),
        "{page}"
    );
    shots.take(&c, "alerts-resolved").await;
    for page in ["workers", "chain", "proving", "storage"] {
        c.goto(&format!("{console}/{page}")).await.unwrap();
        shots.take(&c, page).await;
    }

    c.close().await.unwrap();
    pinging.abort();
    let _ = admin.stop();
    sealing.abort();
    manager.stop().await;
    assert!(
        gate.entered.load(Ordering::SeqCst) >= 2,
        "C2 ran again after the resume"
    );
    eprintln!("screenshots in {}", shots.0.display());
}
