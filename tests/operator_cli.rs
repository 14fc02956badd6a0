//! The operator commands only read: `venus-seal-worker list` / `token` and
//! `venus-seal-c2-service token`, run from another folder with a config
//! whose service never ran, fail naming the missing secret and create no
//! file anywhere (they used to create a fresh secret and mint a token the
//! service rejects). No proving: runs in a second.

use std::path::Path;
use std::process::Command;

mod support;

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

fn fails_naming(cmd: &mut Command, needles: &[&str]) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{cmd:?} succeeded:\n{stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{cmd:?}: no {needle:?} in\n{stderr}"
        );
    }
    assert!(out.stdout.is_empty(), "{cmd:?} printed a token");
}

#[test]
fn read_only_commands_create_no_file() {
    let configs = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let worker_toml = configs.path().join("worker.toml");
    std::fs::copy(manifest.join("examples/worker.toml"), &worker_toml).unwrap();
    let c2_toml = configs.path().join("c2-service.toml");
    let c2_text = std::fs::read_to_string(manifest.join("examples/c2-service.toml"))
        .unwrap()
        .replace("/var/tmp/venus-seal/c2-service/", "./c2/");
    std::fs::write(&c2_toml, c2_text).unwrap();

    let secret = configs.path().join("data/worker/admin.secret");
    let secret = secret.display().to_string();
    for args in [&["token", "--perm", "read"][..], &["list"]] {
        fails_naming(
            Command::new(support::worker_bin())
                .args(args)
                .arg("--config")
                .arg(&worker_toml)
                .current_dir(elsewhere.path()),
            &["admin.secret_file", &secret, "does not exist"],
        );
    }
    fails_naming(
        Command::new(support::c2_service_bin())
            .args(["token", "--config"])
            .arg(&c2_toml)
            .current_dir(elsewhere.path()),
        &["service.secret_file", "c2/secret", "does not exist"],
    );
    assert_eq!(files_under(elsewhere.path()), Vec::<String>::new());
    let mut left = files_under(configs.path());
    left.sort();
    assert_eq!(
        left,
        vec![
            c2_toml.display().to_string(),
            worker_toml.display().to_string()
        ]
    );
}
