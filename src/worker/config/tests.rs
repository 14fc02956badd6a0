//! The worker config's tests: the documented example, every key's checks.

use super::*;

fn parse(text: &str) -> anyhow::Result<WorkerConfig> {
    let config: WorkerConfig = toml::from_str(text)?;
    config.validate()?;
    Ok(config)
}

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.toml")).unwrap()
}

#[test]
fn the_documented_example_parses() {
    let c = parse(&example()).unwrap();
    assert_eq!(c.limits["pc1"], 4);
    assert_eq!(c.locks["gpu"], vec!["pc2", "c2"]);
    assert_eq!(c.sealing[0].slots, 2);
    assert_eq!(c.retry.recover_interval, Duration::from_secs(60));
}

#[test]
fn a_c2_service_is_read_and_checked() {
    let with = |section: &str| format!("{}\n{section}", example());
    let c = parse(&with(
        "[c2_service]\nurl = \"http://gpu:3456\"\ntoken_file = \"c2.token\"",
    ))
    .unwrap();
    assert_eq!(c.c2_service.unwrap().url, "http://gpu:3456");
    let err = format!(
        "{:#}",
        parse(&with(
            "[c2_service]\nurl = \"gpu:3456\"\ntoken_file = \"t\""
        ))
        .unwrap_err()
    );
    assert!(err.contains("c2_service.url"), "{err}");
    let err = format!(
        "{:#}",
        parse(&with(
            "[c2_service]\nurl = \"http://gpu:3456\"\nfailover = [\"gpu-2:3456\"]\ntoken_file = \"t\""
        ))
        .unwrap_err()
    );
    assert!(err.contains("c2_service.failover"), "{err}");
    let err = format!(
        "{:#}",
        parse(&with(
            "[c2_service]\nurl = \"http://gpu\"\ntoken_file = \"t\"\n[[processors.c2]]\nbin = \"x\""
        ))
        .unwrap_err()
    );
    assert!(err.contains("not both"), "{err}");
    let err = format!(
        "{:#}",
        parse(&with(
            "[c2_service]\nurl = \"http://gpu\"\ntokenfile = \"t\""
        ))
        .unwrap_err()
    );
    assert!(err.contains("tokenfile"), "{err}");
}

#[test]
fn slot_release_is_checked() {
    let with = |extra: &str| {
        parse(&example().replace("max_sectors = 0", &format!("max_sectors = 0\n{extra}")))
    };
    let c = with("release_slot_at = \"Persisted\"\nin_flight = 8").unwrap();
    assert_eq!(c.worker.release_slot_at, Some(SectorState::Persisted));
    assert_eq!(c.worker.in_flight, Some(8));
    let err = |extra: &str| format!("{:#}", with(extra).unwrap_err());
    assert!(err("release_slot_at = \"PC2Done\"").contains("Persisted or later"));
    assert!(err("release_slot_at = \"Finished\"").contains("Persisted or later"));
    assert!(err("in_flight = 8").contains("needs worker.release_slot_at"));
    assert!(err("release_slot_at = \"Persisted\"\nin_flight = 1").contains("at least"));
    assert!(err("release_slot_at = \"Later\"").contains("Later"));
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let text = example().replace("max_sectors = 0", "max_sectors = 0\nmax_sector = 3");
    let err = format!("{:#}", parse(&text).unwrap_err());
    assert!(err.contains("max_sector"), "{err}");
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        (
            "recover_interval = \"60s\"",
            "recover_interval = \"sixty\"",
            "duration",
        ),
        ("pc1 = 4", "pc1 = 0", "limits.pc1"),
        ("pc1 = 4", "pc9 = 4", "pc9"),
        ("slots = 2", "slots = 0", "sealing[0].slots"),
        ("miner = \"f01000\"", "miner = \"f3abc\"", "f3abc"),
        (
            "proof = \"StackedDrg2KiBV1_1\"",
            "proof = \"StackedDrg3KiB\"",
            "StackedDrg3KiB",
        ),
        (
            "gpu = [\"pc2\", \"c2\"]",
            "gpu = [\"pc2\", \"gpu\"]",
            "locks.gpu",
        ),
    ];
    for (from, to, needle) in cases {
        let text = example().replace(from, to);
        assert_ne!(text, example(), "{from}");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains(needle), "{to}: {err}");
    }
}

/// The example with its commented-out `[[processors.*]]` block enabled.
fn example_with_processors() -> String {
    let text = example();
    let start = text.find("# [[processors.pc1]]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let block: Vec<&str> = text[start..end]
        .lines()
        .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
        .collect();
    format!("{}{}{}", &text[..start], block.join("\n"), &text[end..])
}

#[test]
fn the_documented_processors_parse() {
    assert!(parse(&example()).unwrap().processors.pc1.is_empty());
    let c = parse(&example_with_processors()).unwrap();
    let pc1 = &c.processors.pc1;
    assert_eq!(pc1.len(), 2);
    assert_eq!(pc1[0].name.as_deref(), Some("pc1-0"));
    assert_eq!(pc1[0].args, vec!["pc1"]);
    assert_eq!(pc1[0].concurrent, Some(2));
    assert_eq!(pc1[0].cpuset.as_deref(), Some("0-7"));
    assert_eq!(pc1[0].envs["RUST_LOG"], "info");
    assert_eq!(pc1[0].task_timeout, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(pc1[1].cpuset.as_deref(), Some("8-15"));
    assert_eq!(c.processors.c2[0].locks, vec!["gpu"]);
    assert_eq!(c.processors.c2[0].ready_timeout, Duration::from_secs(120));
    assert!(c.processors.c2[0].auto_restart && c.processors.c2[0].inherit_envs);
    let stages: Vec<_> = c
        .processors
        .by_stage()
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(s, _)| s)
        .collect();
    assert_eq!(stages, vec!["pc1", "c2"]);
}

#[test]
fn bad_processors_are_refused_by_key() {
    let cases = [
        // An unknown key of a processor.
        (
            "concurrent = 2\ncpuset = \"0-7\"",
            "concurent = 2\ncpuset = \"0-7\"",
            "concurent",
        ),
        // Persist is persistence, not a processor stage.
        ("[[processors.c2]]", "[[processors.persist]]", "persist"),
        (
            "cpuset = \"0-7\"",
            "cpuset = \"7-0\"",
            "processors.pc1[0].cpuset",
        ),
        (
            "cpuset = \"8-15\"",
            "cpuset = \"8-x\"",
            "processors.pc1[1].cpuset",
        ),
        (
            "concurrent = 2\ncpuset = \"0-7\"",
            "concurrent = 0\ncpuset = \"0-7\"",
            "processors.pc1[0].concurrent",
        ),
        (
            "locks = [\"gpu\"]\nready",
            "locks = [\"gpux\"]\nready",
            "processors.c2[0].locks",
        ),
        ("ready_timeout = \"2m\"", "ready_timeout = \"soon\"", "soon"),
    ];
    for (from, to, needle) in cases {
        let text = example_with_processors().replace(from, to);
        assert_ne!(text, example_with_processors(), "{from}");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains(needle), "{to}: {err}");
    }
    // The bad cpuset's value and the undeclared lock's name are quoted.
    let text = example_with_processors().replace("cpuset = \"0-7\"", "cpuset = \"7-0\"");
    let err = format!("{:#}", parse(&text).unwrap_err());
    assert!(err.contains("7-0"), "{err}");
    let text =
        example_with_processors().replace("locks = [\"gpu\"]\nready", "locks = [\"gpux\"]\nready");
    let err = format!("{:#}", parse(&text).unwrap_err());
    assert!(err.contains("\"gpux\" is not declared in [locks]"), "{err}");
}

#[test]
fn a_processor_lock_declared_without_stages_is_accepted() {
    let text = example_with_processors()
        .replace("locks = [\"gpu\"]\nready", "locks = [\"nvme\"]\nready")
        .replace(
            "gpu = [\"pc2\", \"c2\"]",
            "gpu = [\"pc2\", \"c2\"]\nnvme = []",
        );
    let c = parse(&text).unwrap();
    assert_eq!(c.processors.c2[0].locks, vec!["nvme"]);
}

#[test]
fn processor_locks_join_their_stage_limit() {
    let text = example_with_processors()
        .replace(
            "concurrent = 2\ncpuset = \"8-15\"",
            "concurrent = 2\ncpuset = \"8-15\"\nlocks = [\"nvme\"]",
        )
        .replace("gpu = [\"pc2\", \"c2\"]", "gpu = [\"pc2\"]\nnvme = []");
    let limits = parse(&text).unwrap().stage_limits().unwrap();
    // pc1: one of its two processors names nvme; the stage holds it.
    assert_eq!(limits["pc1"].locks, vec!["nvme"]);
    assert_eq!(limits["pc1"].concurrent, Some(4));
    assert_eq!(limits["pc1"].stagger, Some(Duration::ZERO));
    // c2: gpu from its processor, shared with pc2 from [locks].
    assert_eq!(limits["c2"].locks, vec!["gpu"]);
    assert_eq!(limits["pc2"].locks, vec!["gpu"]);
    // Without processors, only [locks] counts.
    let limits = parse(&example()).unwrap().stage_limits().unwrap();
    assert_eq!(limits["c2"].locks, vec!["gpu"]);
    assert!(!limits.contains_key("pc1") || limits["pc1"].locks.is_empty());
}

#[test]
fn a_store_needs_exactly_one_of_path_or_url() {
    let both = example().replace(
        "path = \"./data/store/0\"",
        "path = \"./data/store/0\"\nurl = \"file:///tmp/x\"",
    );
    let err = format!("{:#}", parse(&both).unwrap_err());
    assert!(
        err.contains("persist[0]") && err.contains("exactly one"),
        "{err}"
    );
    let url = example().replace("path = \"./data/store/0\"", "url = \"memory:///\"");
    assert!(parse(&url).unwrap().persist[0].url.is_some());
    let bad = example().replace("path = \"./data/store/0\"", "url = \"not a url\"");
    let err = format!("{:#}", parse(&bad).unwrap_err());
    assert!(err.contains("persist[0].url"), "{err}");
}

#[test]
fn a_remote_manager_parses() {
    let text = example().replace(
        "kind = \"embedded-devnet\"",
        "kind = \"remote\"\nurl = \"http://127.0.0.1:1789\"\ntoken_file = \"t\"",
    );
    // The devnet-only keys are refused for a remote manager.
    let err = format!("{:#}", parse(&text).unwrap_err());
    assert!(err.contains("unknown field"), "{err}");
    let start = text.find("kind = \"remote\"").unwrap();
    let end = text.find("[retry]").unwrap();
    let remote = format!(
        "{}kind = \"remote\"\nurl = \"http://127.0.0.1:1789\"\ntoken_file = \"t\"\nproof = \"StackedDrg2KiBV1_1\"\n\n{}",
        &text[..start],
        &text[end..]
    );
    let c = parse(&remote).unwrap();
    assert!(matches!(c.manager, ManagerSection::Remote { .. }));
}

#[test]
fn every_piece_store_kind_is_read_and_checked() {
    let c = parse(&example()).unwrap();
    assert_eq!(
        c.pieces,
        Some(PieceStoreConfig::Local {
            dirs: vec!["./data/pieces".into()]
        })
    );
    let local = "kind = \"local\"\ndirs = [\"./data/pieces\"]";
    let with = |section: &str| example().replace(local, section);
    let http = parse(&with(
        "kind = \"http\"\nurl = \"http://127.0.0.1:1790\"\ntoken_file = \"./data/worker/manager.token\"",
    ))
    .unwrap();
    assert!(matches!(
        http.pieces,
        Some(PieceStoreConfig::Http { ref url, token_file: Some(_), .. }) if url == "http://127.0.0.1:1790"
    ));
    let object = parse(&with("kind = \"object\"\nurl = \"file:///srv/pieces\"")).unwrap();
    assert!(matches!(
        object.pieces,
        Some(PieceStoreConfig::Object { .. })
    ));
    for (section, needle) in [
        ("kind = \"local\"\ndirs = []", "pieces: dirs"),
        ("kind = \"http\"\nurl = \"127.0.0.1:1790\"", "http://"),
        (
            "kind = \"http\"\nurl = \"http://m\"\ntoken = \"x\"",
            "token",
        ),
        ("kind = \"object\"\nurl = \"ftp://x\"", "s3://"),
        ("kind = \"nfs\"\ndirs = []", "nfs"),
    ] {
        let err = format!("{:#}", parse(&with(section)).unwrap_err());
        assert!(err.contains(needle), "{section}: {err}");
    }
}

#[test]
fn an_unwritable_path_is_named() {
    let mut c = parse(&example()).unwrap();
    c.sealing[0].path = PathBuf::from("/proc/venus-seal-cannot-write");
    let err = format!("{:#}", c.check_machine().unwrap_err());
    assert!(
        err.contains("sealing[0].path") && err.contains("/proc/venus-seal-cannot-write"),
        "{err}"
    );
}

#[test]
fn load_resolves_relative_paths_against_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("conf");
    std::fs::create_dir(&folder).unwrap();
    let text = example_with_processors()
        .replace("# [c2_service]", "[c2_service]")
        .replace("# url = \"http://gpu-host", "url = \"http://gpu-host")
        .replace(
            "# token_file = \"./data/worker/c2.token\"",
            "token_file = \"./data/worker/c2.token\"",
        );
    let path = folder.join("worker.toml");
    std::fs::write(
        &path,
        text.replace("[[processors.c2]]", "[[processors.c1]]"),
    )
    .unwrap();
    // The test runs in the crate's folder: nothing may land there.
    let c = WorkerConfig::load(&path).unwrap();
    assert_eq!(c.worker.state_db, folder.join("./data/worker/state.db"));
    assert_eq!(
        c.admin.secret_file,
        folder.join("./data/worker/admin.secret")
    );
    assert!(
        matches!(&c.manager, ManagerSection::EmbeddedDevnet { state_dir, .. } if *state_dir == folder.join("./data/devnet"))
    );
    assert_eq!(c.sealing[0].path, folder.join("./data/sealing/0"));
    assert_eq!(
        c.persist[0].path.as_deref(),
        Some(&*folder.join("./data/store/0"))
    );
    assert_eq!(
        c.pieces,
        Some(PieceStoreConfig::Local {
            dirs: vec![folder.join("./data/pieces")]
        })
    );
    assert_eq!(
        c.c2_service.unwrap().token_file,
        folder.join("./data/worker/c2.token")
    );
    assert_eq!(
        c.processors.pc1[0].bin,
        folder.join("../target/release/venus-seal-ext-processor")
    );
    // Absolute paths stay; loading created nothing.
    let abs = std::fs::read_to_string(&path)
        .unwrap()
        .replace("./data/worker/state.db", "/var/lib/w/state.db");
    std::fs::write(&path, abs).unwrap();
    let c = WorkerConfig::load(&path).unwrap();
    assert_eq!(c.worker.state_db, PathBuf::from("/var/lib/w/state.db"));
    let entries: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
    assert_eq!(entries.len(), 1, "load created files: {entries:?}");
}

#[test]
fn a_bare_processor_program_is_looked_up_on_path() {
    let mut c = parse(&example_with_processors()).unwrap();
    c.processors.c2[0].bin = PathBuf::from("ext-processor");
    c.resolve_paths(Path::new("/etc/venus-seal"));
    assert_eq!(c.processors.c2[0].bin, PathBuf::from("ext-processor"));
    assert_eq!(
        c.processors.pc1[0].bin,
        Path::new("/etc/venus-seal").join("../target/release/venus-seal-ext-processor")
    );
}

/// `[unseal]` as documented (uncommented): read with its defaults, paths
/// resolved against the config's folder; a bad duration or an unknown key
/// is refused naming it.
#[test]
fn a_rebuild_section_is_read_and_checked() {
    let documented = example()
        .replace("# [rebuild]", "[rebuild]")
        .replace("# poll = \"1m\"", "poll = \"1m\"")
        .replace("# dir = \"./data/rebuild\"", "dir = \"./data/rebuild\"");
    let mut c = parse(&documented).unwrap();
    c.resolve_paths(std::path::Path::new("/etc/vs"));
    let r = c.rebuild.unwrap();
    assert_eq!(r.poll, Duration::from_secs(60));
    assert_eq!(
        r.dir,
        Some(std::path::PathBuf::from("/etc/vs/./data/rebuild"))
    );
    let with = |section: &str| format!("{}\n{section}", example());
    let bare = parse(&with("[rebuild]")).unwrap().rebuild.unwrap();
    assert_eq!((bare.poll, bare.dir), (Duration::from_secs(30), None));
    let err = format!(
        "{:#}",
        parse(&with("[rebuild]\ndirectory = \"/x\"")).unwrap_err()
    );
    assert!(err.contains("directory"), "{err}");
}

#[test]
fn an_unseal_section_is_read_and_checked() {
    let documented = example()
        .replace("# [unseal]", "[unseal]")
        .replace("# poll = \"30s\"", "poll = \"30s\"")
        .replace("# stores = [\"/mnt/store0\"]", "stores = [\"/mnt/store0\"]")
        .replace("# spool = \"./data/unseal\"", "spool = \"./data/unseal\"");
    let mut c = parse(&documented).unwrap();
    c.resolve_paths(std::path::Path::new("/etc/vs"));
    let u = c.unseal.unwrap();
    assert_eq!(u.poll, Duration::from_secs(30));
    assert_eq!(u.stores, vec![std::path::PathBuf::from("/mnt/store0")]);
    assert_eq!(
        u.spool,
        Some(std::path::PathBuf::from("/etc/vs/./data/unseal"))
    );
    let with = |section: &str| format!("{}\n{section}", example());
    let bare = parse(&with("[unseal]")).unwrap().unseal.unwrap();
    assert_eq!(
        (bare.poll, bare.stores.len(), bare.spool),
        (Duration::from_secs(30), 0, None)
    );
    let err = format!(
        "{:#}",
        parse(&with("[unseal]\npoll = \"often\"")).unwrap_err()
    );
    assert!(err.contains("often"), "{err}");
    let err = format!("{:#}", parse(&with("[unseal]\npol = \"1s\"")).unwrap_err());
    assert!(err.contains("pol"), "{err}");
}

#[test]
fn a_snap_up_section_is_read_and_checked() {
    let documented = example()
        .replace("# [snap_up]", "[snap_up]")
        .replace("# dir = \"./data/snap-up\"", "dir = \"./data/snap-up\"")
        .replace("# max_deals = 8", "max_deals = 8")
        .replace(
            "# min_deal_space = 1073741824",
            "min_deal_space = 1073741824",
        );
    let mut c = parse(&documented).unwrap();
    c.resolve_paths(std::path::Path::new("/etc/vs"));
    let s = c.snap_up.unwrap();
    assert_eq!(s.poll, Duration::from_secs(30));
    assert_eq!(
        s.dir,
        Some(std::path::PathBuf::from("/etc/vs/./data/snap-up"))
    );
    assert_eq!((s.max_deals, s.min_deal_space), (Some(8), Some(1 << 30)));
    let with = |section: &str| format!("{}\n{section}", example());
    let bare = parse(&with("[snap_up]")).unwrap().snap_up.unwrap();
    assert!(bare.dir.is_none() && bare.stores.is_empty() && bare.max_deals.is_none());
    let err = format!("{:#}", parse(&with("[snap_up]\nmax_deal = 3")).unwrap_err());
    assert!(err.contains("max_deal"), "{err}");
}

#[test]
fn a_window_post_section_is_read_and_checked() {
    let documented = example()
        .replace("# [window_post]", "[window_post]")
        .replace("# miners = [1000]", "miners = [1000]")
        .replace("# [window_post.stores]", "[window_post.stores]")
        .replace("# store-0 = \"/mnt/store0\"", "store-0 = \"./mnt/store0\"");
    let mut c = parse(&documented).unwrap();
    c.resolve_paths(std::path::Path::new("/etc/vs"));
    let w = c.window_post.as_ref().unwrap();
    assert_eq!(w.poll, Duration::from_secs(10));
    assert_eq!(w.miners, vec![crate::core::ActorId(1000)]);
    let stores = c.named_stores(&w.stores);
    assert_eq!(
        stores["store-0"],
        std::path::PathBuf::from("/etc/vs/./mnt/store0")
    );
    // Without `stores`: the [[persist]] stores that have a path, by name.
    let with = |section: &str| format!("{}\n{section}", example());
    let bare = parse(&with("[window_post]")).unwrap();
    let named = bare.named_stores(&bare.window_post.as_ref().unwrap().stores);
    let persisted: Vec<_> = bare.persist.iter().filter(|p| p.path.is_some()).collect();
    assert_eq!(named.len(), persisted.len());
    for p in persisted {
        assert_eq!(named.get(&p.name), p.path.as_ref());
    }
    let err = format!(
        "{:#}",
        parse(&with("[window_post]\npol = \"1s\"")).unwrap_err()
    );
    assert!(err.contains("pol"), "{err}");
}

#[test]
fn the_job_stages_take_limits_and_locks() {
    let with = |section: &str| format!("{}\n{section}", example());
    let text = with("[window_post]");
    let text = text.replacen("[limits]", "[limits]\nwindow_post = 1\nsnap_prove = 1", 1);
    let c = parse(&text).unwrap();
    let limits = c.stage_limits().unwrap();
    assert_eq!(limits["window_post"].concurrent, Some(1));
    assert_eq!(limits["window_post"].priority, 1, "before queued C2s");
    assert_eq!(limits["snap_prove"].concurrent, Some(1));
    assert_eq!(limits["snap_prove"].priority, 0);
    let err = format!(
        "{:#}",
        parse(&text.replacen("window_post = 1", "winning_post = 1", 1)).unwrap_err()
    );
    assert!(err.contains("winning_post"), "{err}");
}
