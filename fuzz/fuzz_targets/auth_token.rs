//! Bearer tokens and `Authorization` headers from any caller: the verifier
//! must refuse or accept, never panic, and accept only what the secret
//! signed.
//!
//! * Any bytes as a token and as an `Authorization` header value: refused
//!   (nothing here is signed by the target's secret, bar astronomically
//!   lucky inputs).
//! * Any JSON object as claims, signed with the secret: accepted exactly
//!   when it allows a known permission and has not expired, with the
//!   highest permission it allows and its `name` (an `aud` claim is
//!   refused: jsonwebtoken checks audiences and none is configured).
//! * `Secret::token(perm, name)` for any name verifies back to that
//!   permission and name, also with the scheme in any case and the token
//!   padded by spaces.
#![no_main]

use std::sync::OnceLock;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use venus_seal_rpc::auth::authenticate;
use venus_seal_rpc::{AuthError, Caller, Permission, Secret};

fn secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| Secret::from_bytes(b"venus-seal fuzzing secret, 32 b."))
}

fn header(value: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    headers
}

/// What `verify_caller` must answer for `claims` signed with the secret.
fn expected(claims: &serde_json::Map<String, serde_json::Value>) -> Option<Caller> {
    let string_list = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    // The claims struct's field types: anything else fails to decode.
    let allow = match claims.get("Allow") {
        None => Vec::new(),
        Some(v) => string_list(v)?,
    };
    let opt_string = |key: &str| match claims.get(key) {
        None | Some(serde_json::Value::Null) => Some(None),
        Some(v) => v.as_str().map(|s| Some(s.to_string())),
    };
    let name = opt_string("name")?;
    let perm = opt_string("perm")?;
    match claims.get("exp") {
        None | Some(serde_json::Value::Null) => {}
        Some(v) => {
            let exp = v.as_u64()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            // jsonwebtoken allows 60 s of leeway; stay clear of the edge.
            if exp.abs_diff(now) < 120 {
                return None;
            }
            if exp < now {
                return None;
            }
        }
    }
    // jsonwebtoken refuses any audience when none is configured.
    match claims.get("aud") {
        Some(serde_json::Value::String(_)) => return None,
        Some(v) if string_list(v).is_some() => return None,
        _ => {}
    }
    let permission = allow
        .iter()
        .chain(perm.iter())
        .filter_map(|p| p.parse::<Permission>().ok())
        .max()?;
    Some(Caller { permission, name })
}

fuzz_target!(|data: &[u8]| {
    let secret = secret();
    // Raw tokens and headers.
    let text = String::from_utf8_lossy(data);
    assert!(secret.verify_caller(&text).is_err(), "accepted {text:?}");
    if let Ok(value) = HeaderValue::from_bytes(data) {
        assert!(authenticate(secret, &header(value)).is_err());
    }

    // Claims signed with the secret.
    if let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(data) {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        let got = secret.verify_caller(&token);
        match expected(&claims) {
            Some(caller) => assert_eq!(got, Ok(caller), "claims {claims:?}"),
            None => {
                // Near-expiry claims may go either way.
                let near_exp = claims.get("exp").and_then(|v| v.as_u64()).is_some();
                assert!(
                    got.is_err() || near_exp,
                    "claims {claims:?} accepted: {got:?}"
                );
            }
        }
    }

    // Tokens this code makes.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let perm = Permission::ALL[pick as usize % 4];
    let name = std::str::from_utf8(rest).ok();
    let token = secret.token(perm, name);
    let caller = Caller {
        permission: perm,
        name: name.map(str::to_string),
    };
    assert_eq!(secret.verify_caller(&token), Ok(caller.clone()));
    let value = HeaderValue::from_str(&format!("  bEaReR   {token} ")).unwrap();
    assert_eq!(authenticate(secret, &header(value)), Ok(caller));
    let other = Secret::from_bytes(b"another secret entirely, 32 byte");
    assert_eq!(other.verify_caller(&token), Err(AuthError::BadSignature));
});
