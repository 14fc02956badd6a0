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

/// Mode bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `token --ttl 24h --out FILE` on the worker, the manager and the C2
/// service: the file is
/// private (also when it existed world-readable) and the token expires in
/// a day. Servers refuse it afterwards (`venus-seal-rpc`'s token tests).
#[cfg(unix)]
#[test]
fn token_ttl_and_out_write_an_expiring_token_0600() {
    use std::os::unix::fs::PermissionsExt;
    use venus_seal::rpc::{Permission, Secret};

    let configs = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = [
        (
            support::worker_bin(),
            "worker.toml",
            "data/worker/admin.secret",
            "read",
            "worker-cli",
        ),
        (
            support::manager_bin(),
            "sector-manager.toml",
            "data/manager/rpc.secret",
            "write",
            "sector-manager-cli",
        ),
        (
            support::c2_service_bin(),
            "c2-service.toml",
            "c2/secret",
            "write",
            "c2-service-cli",
        ),
    ];
    for (bin, toml, secret_path, perm, name) in cases {
        let config = configs.path().join(toml);
        let text = std::fs::read_to_string(manifest.join("examples").join(toml)).unwrap();
        // The C2 service's example keeps its files under /var/tmp.
        let text = text.replace("/var/tmp/venus-seal/c2-service/", "./c2/");
        std::fs::write(&config, text).unwrap();
        let secret = Secret::load_or_create(configs.path().join(secret_path)).unwrap();
        let out = configs.path().join(format!("{toml}.token"));
        std::fs::write(&out, "an old token\n").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();

        let unix = venus_seal::runtime::unix_now;
        let before = unix();
        let run = Command::new(&bin)
            .args(["token", "--perm", perm, "--ttl", "24h", "--out"])
            .arg(&out)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{bin:?}: {stderr}");
        assert!(run.stdout.is_empty(), "{bin:?} printed the token too");
        assert_eq!(mode(&out), 0o600, "{bin:?}: mode {:o}", mode(&out));

        let after = unix();
        let token = std::fs::read_to_string(&out).unwrap();
        let token = token.trim();
        let perm = perm.parse::<Permission>().unwrap();
        assert_eq!(secret.verify(token).unwrap(), perm);
        // Signed with exp = the time it ran + 24h.
        let expires_in_a_day = (before..=after).any(|t| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t + 86400);
            token == secret.token_until(perm, Some(name), at)
        });
        assert!(
            expires_in_a_day,
            "{bin:?}: the token's exp is not now + 24h"
        );
    }
}
