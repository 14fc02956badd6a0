//! Secrets on disk and token round trips, Lotus compatibility included.

use venus_seal_rpc::{AuthError, Permission, Secret, SecretError};

#[test]
fn load_or_create_makes_a_private_file_and_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/token.secret");

    let created = Secret::load_or_create(&path).unwrap();
    assert_eq!(created.as_bytes().len(), 32);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim(), hex::encode(created.as_bytes()));
    assert_eq!(text.lines().count(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
    }

    let reloaded = Secret::load_or_create(&path).unwrap();
    assert_eq!(reloaded, created);
    let token = created.token(Permission::Admin, None);
    assert_eq!(reloaded.verify(&token), Ok(Permission::Admin));
}

#[test]
fn a_broken_secret_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.secret");
    std::fs::write(&path, "not hex\n").unwrap();
    let err = Secret::load_or_create(&path).unwrap_err();
    assert!(matches!(err, SecretError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
}

#[test]
fn every_permission_round_trips() {
    let secret = Secret::generate();
    for perm in Permission::ALL {
        let token = secret.token(perm, None);
        assert_eq!(secret.verify(&token), Ok(perm), "{perm}");
        let named = secret.token(perm, Some("miner-ops"));
        let caller = secret.verify_caller(&named).unwrap();
        assert_eq!(caller.permission, perm);
        assert_eq!(caller.name.as_deref(), Some("miner-ops"));
    }
}

/// Made outside this crate (Python's hmac over the base64url header and
/// payload), as Lotus makes them: HS256, `{"Allow":["read","write"]}`, no
/// `exp`, with the secret bytes 00 01 02 … 1f.
const LOTUS_SECRET_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const LOTUS_WRITE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBbGxvdyI6WyJyZWFkIiwid3JpdGUiXX0.a2dV0UrA0kX6qMxjUfdyJZUwmw8W-rDDjES_OWZDB94";

#[test]
fn a_hand_made_lotus_token_verifies_as_write() {
    let secret = Secret::from_bytes(&hex::decode(LOTUS_SECRET_HEX).unwrap());
    assert_eq!(secret.verify(LOTUS_WRITE_TOKEN), Ok(Permission::Write));
    // And a hex secret file holding the same key reads back the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lotus.secret");
    std::fs::write(&path, format!("{LOTUS_SECRET_HEX}\n")).unwrap();
    let loaded = Secret::load_or_create(&path).unwrap();
    assert_eq!(loaded.verify(LOTUS_WRITE_TOKEN), Ok(Permission::Write));
    // Another (canonical) last signature character: refused.
    let mut forged = LOTUS_WRITE_TOKEN.to_string();
    forged.pop();
    forged.push('A');
    assert_eq!(secret.verify(&forged), Err(AuthError::BadSignature));
}
