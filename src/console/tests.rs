//! The console over HTTP, against a manager on the devnet: who may look,
//! who may act, and what each page shows.

use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use venus_seal_chain::testing::FakeProofVerifier;
use venus_seal_chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    PoStExecutors, WindowPoStScheduler,
};
use venus_seal_core::chain::MessageFee;
use venus_seal_core::manager::{
    AllocateSpec, PreCommitOnChainInfo, SectorStateChange, StateReport, SubmitResult,
    WorkerIdentifier,
};
use venus_seal_core::{
    ActorId, CommD, CommR, Failure, FailureLevel, MessageSender, SealProof, SectorId,
    SectorManager, TokenAmount,
};
use venus_seal_rpc::manager::{PersistStores, WorkerPings};
use venus_seal_rpc::{Permission, Secret};

use super::{Console, ConsoleParts, COOKIE};
use crate::alerts::AlertBoard;

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

struct Served {
    url: String,
    manager_chain: Arc<DevnetChain>,
    secret: Secret,
    manager: Arc<LocalSectorManager>,
    pings: WorkerPings,
    http: reqwest::Client,
}

async fn serve() -> Served {
    serve_with(|_| None).await
}

/// A console whose WindowPoSt scheduler `post` makes on the devnet.
async fn serve_with(
    post: impl FnOnce(&Arc<DevnetChain>) -> Option<Arc<WindowPoStScheduler>>,
) -> Served {
    serve_full(post, |chain| chain.clone(), PersistStores::new(Vec::new())).await
}

/// A console whose manager sends through what `sender` makes of the
/// devnet.
async fn serve_full(
    post: impl FnOnce(&Arc<DevnetChain>) -> Option<Arc<WindowPoStScheduler>>,
    sender: impl FnOnce(&Arc<DevnetChain>) -> Arc<dyn MessageSender>,
    stores: PersistStores,
) -> Served {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, PROOF)]),
        chain.clone(),
        sender(&chain),
        Arc::new(FakeProofVerifier),
    );
    let secret = Secret::generate();
    let post = post(&chain);
    let pings = WorkerPings::default();
    let console = Console::new(ConsoleParts {
        manager: manager.clone(),
        chain: chain.clone(),
        miners: vec![MINER],
        pings: pings.clone(),
        stores,
        alerts: Some(AlertBoard::default()),
        balances: crate::alerts::Balances::default(),
        post,
        secret: secret.clone(),
        worker_token: None,
        worker_silent_after: Duration::from_secs(120),
        secure_cookie: false,
    });
    let (addr, _task) = console.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Served {
        url: format!("http://{addr}"),
        manager_chain: chain,
        secret,
        manager,
        pings,
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
    }
}

impl Served {
    fn cookie(&self, perm: Permission) -> String {
        format!("{COOKIE}={}", self.secret.token(perm, Some("ops")))
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    /// `path` as a reader sees it: the table row that starts with a cell
    /// holding exactly the name given.
    async fn rows(&self, path: &str) -> impl Fn(&str) -> String {
        let page = self
            .get(path, Some(&self.cookie(Permission::Read)))
            .await
            .text()
            .await
            .unwrap();
        move |name: &str| {
            let at = page.find(&format!("<td>{name}</td>")).expect(name);
            page[at..at + page[at..].find("</tr>").unwrap()].to_string()
        }
    }

    async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// The note an action's answer hands to the next page.
fn note_of(r: &reqwest::Response) -> String {
    let mut h = axum::http::HeaderMap::new();
    let set = r.headers()["set-cookie"].to_str().unwrap();
    let pair = set.split(';').next().unwrap();
    h.insert("cookie", pair.parse().unwrap());
    super::auth::note_of(&h).unwrap_or_default()
}

async fn sector_with_a_failure(manager: &LocalSectorManager) -> SectorId {
    let spec = AllocateSpec {
        allowed_miners: vec![MINER],
        allowed_proof_types: vec![PROOF],
        ..AllocateSpec::default()
    };
    let sector = manager.allocate_sector(spec).await.unwrap().unwrap();
    manager
        .report_state(
            sector.id,
            StateReport {
                worker: WorkerIdentifier {
                    instance: "worker-1".into(),
                    location: "/seal/1".into(),
                },
                state_change: SectorStateChange {
                    prev: "Empty".into(),
                    next: "PC1Done".into(),
                    event: None,
                },
                failure: Some(Failure::new(
                    FailureLevel::Permanent,
                    "<script>alert(1)</script> sealed file truncated",
                )),
            },
        )
        .await
        .unwrap();
    sector.id
}

#[tokio::test]
async fn without_a_valid_token_every_page_sends_to_the_login() {
    let s = serve().await;
    for path in [
        "/",
        "/pipeline",
        "/workers",
        "/chain",
        "/proving",
        "/storage",
        "/alerts",
    ] {
        let r = s.get(path, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/login", "{path}");
    }
    let foreign = format!(
        "{COOKIE}={}",
        Secret::generate().token(Permission::Admin, None)
    );
    let r = s.get("/", Some(&foreign)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let r = s.get("/login", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"token\""));
    let r = s
        .http
        .post(format!("{}/login", s.url))
        .form(&[("token", "not-a-jwt")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Refused: invalid token"));
}

#[tokio::test]
async fn a_good_token_becomes_an_http_only_cookie_and_never_a_url() {
    let s = serve().await;
    let token = s.secret.token(Permission::Read, None);
    let r = s
        .http
        .post(format!("{}/login", s.url))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with(&format!("{COOKIE}={token};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let page = s
        .get("/", Some(&format!("{COOKIE}={token}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&token), "the token is never in a page");
    assert!(page.contains("All clear"), "{page}");
}

#[tokio::test]
async fn pages_show_the_sector_its_history_and_its_failure_escaped() {
    let s = serve().await;
    let id = sector_with_a_failure(&s.manager).await;
    let read = s.cookie(Permission::Read);
    let pipeline = s.get("/pipeline", Some(&read)).await.text().await.unwrap();
    assert!(pipeline.contains(&id.to_string()), "{pipeline}");
    assert!(pipeline.contains("PC1Done"));
    assert!(
        pipeline.contains("&lt;script&gt;") || pipeline.contains("&#60;script&#62;"),
        "failures are escaped: {pipeline}"
    );
    assert!(!pipeline.contains("<script>alert"));
    let page = s
        .get(&format!("/sectors/1000/{}", id.number.0), Some(&read))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("worker-1") && page.contains("Permanent"),
        "{page}"
    );
    assert!(
        !page.contains("id=\"pause\""),
        "a read token sees no action buttons"
    );
    let missing = s.get("/sectors/1000/999", Some(&read)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for path in ["/workers", "/chain", "/proving", "/storage", "/alerts"] {
        let r = s.get(path, Some(&read)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let proving = s.get("/proving", Some(&read)).await.text().await.unwrap();
    assert!(proving.contains("(open)"), "{proving}");
    assert!(proving.contains("WindowPoSt is off"));
}

#[tokio::test]
async fn only_an_admin_with_the_pages_form_value_may_act() {
    let s = serve().await;
    let id = sector_with_a_failure(&s.manager).await;
    let path = format!("/sectors/1000/{}/abort", id.number.0);
    let reason = [("reason", "disk replaced")];

    let read = s.cookie(Permission::Read);
    let read_csrf = super::csrf_of(read.split_once('=').unwrap().1);
    let r = s
        .post(&path, &read, &[("csrf", &read_csrf), reason[0]])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("needs an admin token"));

    let admin = s.cookie(Permission::Admin);
    let r = s
        .post(&path, &admin, &[("csrf", "forged"), reason[0]])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let status = s.manager.sector_status(id).await.unwrap().unwrap();
    assert_eq!(status.abort_requested, None, "refused actions do nothing");

    let csrf = super::csrf_of(admin.split_once('=').unwrap().1);
    let r = s
        .post(&path, &admin, &[("csrf", &csrf), ("reason", " ")])
        .await;
    assert!(note_of(&r).contains("abort failed"), "{r:?}");

    let r = s.post(&path, &admin, &[("csrf", &csrf), reason[0]]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    // The note rides in a one-time cookie, never in the URL.
    assert_eq!(to, format!("/sectors/1000/{}", id.number.0));
    let note = note_of(&r);
    assert!(note.starts_with("abort requested"), "{note}");
    let status = s.manager.sector_status(id).await.unwrap().unwrap();
    assert!(status
        .abort_requested
        .unwrap()
        .starts_with("disk replaced (console, ops)"));
    let with_note = format!(
        "{admin}; {}",
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
    );
    let shown = s.get(&to, Some(&with_note)).await;
    let cleared = shown.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.starts_with("venus_seal_note=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let page = shown.text().await.unwrap();
    assert!(
        page.contains("AbortRequested")
            && page.contains("id=\"note\"")
            && page.contains("abort requested"),
        "{page}"
    );
    // A crafted link puts no words on the page.
    let crafted = format!("{to}?note=paste+your+admin+token+at+evil.example");
    let page = s.get(&crafted, Some(&admin)).await.text().await.unwrap();
    assert!(
        !page.contains("evil.example") && !page.contains("id=\"note\""),
        "{page}"
    );

    let pause = format!("/sectors/1000/{}/pause", id.number.0);
    let r = s.post(&pause, &admin, &[("csrf", &csrf)]).await;
    let note = note_of(&r);
    assert!(
        note.contains("worker_token_file"),
        "pause without a worker token says why: {note}"
    );

    let r = s
        .post(
            "/proving/check",
            &admin,
            &[("csrf", &csrf), ("miner", "1000"), ("deadline", "0")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "no [proving]");
    let r = s.post("/logout", &admin, &[]).await;
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

/// A deadline whose reads are slow shows as not ready on the proving page
/// and as a problem on the overview, before it opens; the dry-run check
/// names a sector whose files fail.
#[tokio::test]
async fn the_proving_page_shows_readiness_and_runs_a_check() {
    use venus_seal_chain::manager::ReadinessPolicy;
    use venus_seal_chain::testing::{
        activate_fake_sectors, scheduler_on, FakePoStExecutor, SlowReads,
    };

    let prover = Arc::new(FakePoStExecutor::default());
    let mut scheduler = None;
    let s = serve_with(|chain| {
        activate_fake_sectors(chain, MINER, 1..=6);
        let executors = PoStExecutors {
            window_post: prover.clone(),
            check: Arc::new(SlowReads {
                inner: prover.clone(),
                slow: (1..=6).map(venus_seal_core::SectorNumber).collect(),
                delay: Duration::from_millis(30),
            }),
        };
        let post = Arc::new(scheduler_on(chain, executors, MINER));
        scheduler = Some(post.clone());
        Some(post)
    })
    .await;
    let post = scheduler.unwrap();
    let checked = post
        .check_readiness(&ReadinessPolicy {
            lead_epochs: 10_000,
            sample: 0,
            epoch: Duration::from_secs(30),
            budget: 0.5,
            slow_read: Duration::from_millis(10),
        })
        .await;
    assert!(!checked.is_empty());
    let read = s.cookie(Permission::Read);
    let page = s.get("/proving", Some(&read)).await.text().await.unwrap();
    let first_slow = checked[0].slow[0];
    assert!(page.contains("NOT READY"), "{page}");
    assert!(
        page.contains(&format!("<td class=\"warning\">{first_slow} (")),
        "the slow sector is named: {page}"
    );
    let overview = s.get("/", Some(&read)).await.text().await.unwrap();
    assert!(
        overview.contains("slow reads:") && overview.contains("before it opens"),
        "{overview}"
    );
    assert!(!overview.contains("All clear"));

    // The dry run: a deadline that is not open, with a sector whose files
    // fail the check.
    let (open, target, bad) = {
        use venus_seal_core::ChainClient;
        let open = s.manager_chain.proving_deadline(MINER).await.unwrap().index;
        let mut found = None;
        for d in (0..100).filter(|d| *d != open) {
            let parts = s.manager_chain.deadline_partitions(MINER, d).await.unwrap();
            if let Some(n) = parts.iter().flat_map(|p| p.active.clone()).next() {
                found = Some((d, n));
                break;
            }
        }
        let (d, n) = found.expect("a deadline with sectors is not open");
        (open, d, n)
    };
    prover.set_faulty(bad, true);
    let admin = s.cookie(Permission::Admin);
    let csrf = super::csrf_of(admin.split_once('=').unwrap().1);
    let check = |cookie: String, csrf: String, miner: &'static str, deadline: u64| {
        let s = &s;
        async move {
            let deadline = deadline.to_string();
            let form = [
                ("csrf", csrf.as_str()),
                ("miner", miner),
                ("deadline", deadline.as_str()),
            ];
            s.post("/proving/check", &cookie, &form).await
        }
    };
    let read_csrf = super::csrf_of(read.split_once('=').unwrap().1);
    let r = check(read.clone(), read_csrf, "1000", target).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "read tokens do not check"
    );
    let r = check(admin.clone(), "forged".into(), "1000", target).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a forged form");
    let r = check(admin.clone(), csrf.clone(), "1999", target).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not a miner of ours");
    let r = check(admin.clone(), csrf.clone(), "1000", open).await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "never beside the open deadline's proof"
    );
    let r = check(admin.clone(), csrf.clone(), "1000", target).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("id=\"bad\"") && page.contains("marked faulty"),
        "{page}"
    );
}

const FEE: MessageFee = MessageFee {
    gas_limit: 1_000_000,
    fee_cap: TokenAmount(100_000),
    premium: TokenAmount(1_000),
};

/// Issue 16: the chain page shows a message in flight with its state and
/// fee (the most it may cost, and its premium).
#[tokio::test]
async fn the_chain_page_shows_a_message_in_flight_with_its_fee() {
    let s = serve_full(
        |_| None,
        |chain| {
            Arc::new(venus_seal_chain::testing::PricedSender {
                inner: chain.clone(),
                fee: FEE,
                estimate_error: None,
                burn: None,
            })
        },
        PersistStores::new(Vec::new()),
    )
    .await;
    let spec = AllocateSpec {
        allowed_miners: vec![MINER],
        allowed_proof_types: vec![PROOF],
        ..AllocateSpec::default()
    };
    let sector = s.manager.allocate_sector(spec).await.unwrap().unwrap();
    let ticket = s.manager.assign_ticket(sector.id).await.unwrap();
    let info = PreCommitOnChainInfo {
        comm_r: CommR([0xaa; 32]),
        comm_d: CommD([0xdd; 32]),
        ticket,
        deals: vec![],
    };
    let r = s
        .manager
        .submit_pre_commit(sector, info, false)
        .await
        .unwrap();
    assert_eq!(r.res, SubmitResult::Accepted, "{r:?}");
    let viewer = s.cookie(Permission::Read);
    s.manager.send_due().await.unwrap();
    assert_eq!(s.manager.watch_sent().await, 1);
    let page = s.get("/chain", Some(&viewer)).await.text().await.unwrap();
    let table = &page[page.find("id=\"pending\"").expect("no pending table")..];
    assert!(table.contains(&sector.id.to_string()), "{table}");
    assert!(table.contains("pre-commit"), "{table}");
    // 1,000,000 gas × 100,000 attoFIL = 10^11 attoFIL.
    assert!(table.contains("0.0000001 FIL"), "{table}");
    assert!(table.contains("1000 attoFIL/gas"), "{table}");
}

/// Issue 16: each worker's stages' utilisation over the last hour of its
/// pings, against its limits; a worker that reports none says so.
#[tokio::test]
async fn the_workers_page_shows_each_stages_utilisation() {
    use venus_seal_core::engine::limits::StageLoad;
    let s = serve().await;
    let now = crate::runtime::unix_now() as i64;
    for (ago, pc1, c2_waiting) in [(90, 1, 0), (60, 2, 1), (30, 3, 1), (0, 2, 0)] {
        let stages = vec![
            StageLoad {
                stage: "c2".into(),
                running: 1,
                waiting: c2_waiting,
                limit: Some(1),
            },
            StageLoad {
                stage: "pc1".into(),
                running: pc1,
                waiting: 0,
                limit: Some(4),
            },
        ];
        let info = venus_seal_rpc::WorkerInfo {
            name: "worker-1".into(),
            dest: "10.0.0.2:17890".into(),
            stages,
            ..Default::default()
        };
        s.pings.record_at(info, now - ago);
    }
    let damocles = venus_seal_rpc::WorkerInfo {
        name: "damocles-1".into(),
        dest: "10.0.0.3:17890".into(),
        ..Default::default()
    };
    s.pings.record_at(damocles, now);
    let row = s.rows("/workers").await;
    let ours = row("worker-1");
    assert!(ours.contains("pc1"), "{ours}");
    assert!(ours.contains("2.0 of 4 running"), "{ours}");
    assert!(ours.contains("width: 50%"), "{ours}");
    assert!(ours.contains("1.0 of 1 running, 0.5 waiting"), "{ours}");
    assert!(ours.contains("width: 100%"), "{ours}");
    let theirs = row("damocles-1");
    assert!(theirs.contains("not reported"), "{theirs}");
}

/// A form another site's page posts (login CSRF: logging the operator in
/// with the attacker's token; or an action riding on the session) is
/// refused before it is read.
#[tokio::test]
async fn forms_posted_from_another_site_are_refused() {
    let s = serve().await;
    let admin_token = s.secret.token(Permission::Admin, Some("mallory"));
    let login = |origin: Option<&'static str>, fetch_site: Option<&'static str>| {
        let mut req = s
            .http
            .post(format!("{}/login", s.url))
            .form(&[("token", admin_token.as_str())]);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(f) = fetch_site {
            req = req.header("sec-fetch-site", f);
        }
        req.send()
    };
    let r = login(Some("https://evil.example"), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
    let r = login(None, Some("cross-site")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // From the console's own page, it logs in.
    let own = Box::leak(s.url.clone().into_boxed_str());
    let r = login(Some(own), Some("same-origin")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers().get("set-cookie").is_some());
    // Logout and actions too, even with the session cookie and the form's
    // value (a page of another site riding on the session).
    let r = s
        .http
        .post(format!("{}/logout", s.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let id = sector_with_a_failure(&s.manager).await;
    let admin = s.cookie(Permission::Admin);
    let csrf = super::csrf_of(admin.split_once('=').unwrap().1);
    let r = s
        .http
        .post(format!("{}/sectors/1000/{}/abort", s.url, id.number.0))
        .header("cookie", &admin)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str()), ("reason", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let status = s.manager.sector_status(id).await.unwrap().unwrap();
    assert_eq!(status.abort_requested, None, "refused before it was read");
}

/// Issue 16: the storage page shows each persist store's free space and
/// the reservations held there.
#[tokio::test]
async fn the_storage_page_shows_free_space_and_reservations() {
    use venus_seal_rpc::manager::PersistStoreEntry;
    const GIB: u64 = 1 << 30;
    let stores = PersistStores::with_free_space(
        vec![
            PersistStoreEntry::new("nas-1", "/mnt/nas-1"),
            PersistStoreEntry::new("nas-2", "/mnt/nas-2"),
        ],
        Arc::new(|p: &std::path::Path| {
            if p.ends_with("nas-2") {
                Err(std::io::Error::other("stale NFS handle"))
            } else {
                Ok(100 * GIB)
            }
        }),
    );
    for n in 1..=3 {
        let sector = SectorId::new(MINER, venus_seal_core::SectorNumber(n));
        assert!(stores.reserve(sector, 10 * GIB, &[]).is_some());
    }
    let s = serve_full(|_| None, |chain| chain.clone(), stores).await;
    let row = s.rows("/storage").await;
    let one = row("nas-1");
    assert!(one.contains("100.0 GiB"), "{one}");
    assert!(one.contains("30.0 GiB (3 sectors)"), "{one}");
    assert!(one.contains("70.0 GiB"), "{one}");
    let two = row("nas-2");
    assert!(
        two.contains("unreadable: stale NFS handle") && two.contains("critical"),
        "{two}"
    );
}
