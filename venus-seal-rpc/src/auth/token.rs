//! Lotus-compatible JWTs: `{"Allow": [...]}` signed with HS256.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Permission, Secret};

/// The claims of a token as Lotus and venus-auth write them. Unknown
/// claims are ignored.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// Lotus: every permission the token allows.
    #[serde(rename = "Allow", default)]
    allow: Vec<String>,
    /// venus-auth: the token's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// venus-auth: the single permission (`"admin"`), instead of `Allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    perm: Option<String>,
    /// Expiry (Unix seconds); Lotus tokens have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
}

/// Who is calling: a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The highest permission the token allows.
    pub permission: Permission,
    /// The token's `name` claim, if any.
    pub name: Option<String>,
}

/// Why a request's token is refused. Every message says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing token: send Authorization: Bearer <jwt>")]
    Missing,
    /// The header is not `Bearer <jwt>`, or the JWT does not decode.
    #[error("invalid token: malformed: {0}")]
    Malformed(String),
    /// The token was not signed with this node's secret.
    #[error("invalid token: bad signature (made with another secret?)")]
    BadSignature,
    /// The token's `exp` has passed.
    #[error(
        "invalid token: it expired at {} (exp {at}); make a new one with the `token` command",
        format_unix(*at)
    )]
    Expired {
        /// The token's `exp` claim, Unix seconds.
        at: u64,
    },
    /// The token allows no known permission.
    #[error("invalid token: it allows no permission (Allow must list read, write, sign or admin)")]
    NoPermissions,
}

/// How far past its `exp` a token is still accepted: the clocks of the
/// host that made it and the one that checks it may differ a little
/// (jsonwebtoken's default).
pub const EXPIRY_LEEWAY: Duration = Duration::from_secs(60);

/// `unix` seconds as an RFC 3339 UTC time, for messages.
fn format_unix(unix: u64) -> String {
    match UNIX_EPOCH.checked_add(Duration::from_secs(unix)) {
        Some(t) if unix < 253_402_300_800 => humantime::format_rfc3339_seconds(t).to_string(),
        _ => format!("unix time {unix}"),
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Secret {
    /// A token allowing `perm` and every level below it (Lotus' `Allow`
    /// list), with an optional `name` claim. It does not expire.
    pub fn token(&self, perm: Permission, name: Option<&str>) -> String {
        self.sign(perm, name, None)
    }

    /// [`token`](Self::token) valid for `ttl` from now: its `exp` claim
    /// makes every server refuse it afterwards ([`AuthError::Expired`]).
    pub fn token_with_ttl(&self, perm: Permission, name: Option<&str>, ttl: Duration) -> String {
        self.token_until(perm, name, SystemTime::now() + ttl)
    }

    /// [`token`](Self::token) valid until `expiry` (its `exp` claim, in
    /// whole seconds).
    pub fn token_until(&self, perm: Permission, name: Option<&str>, expiry: SystemTime) -> String {
        let exp = expiry
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        self.sign(perm, name, Some(exp))
    }

    fn sign(&self, perm: Permission, name: Option<&str>, exp: Option<u64>) -> String {
        let claims = Claims {
            allow: perm.ladder().iter().map(|p| p.name().to_string()).collect(),
            name: name.map(str::to_string),
            perm: None,
            exp,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.as_bytes()),
        )
        .expect("HS256 signing of plain claims cannot fail")
    }

    /// The highest permission a token signed with this secret allows.
    pub fn verify(&self, token: &str) -> Result<Permission, AuthError> {
        self.verify_caller(token).map(|c| c.permission)
    }

    /// Verifies a token and returns its permission and name.
    pub fn verify_caller(&self, token: &str) -> Result<Caller, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        // Checked below, so that the refusal can name the expiry.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(self.as_bytes()),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm => {
                AuthError::Malformed("the JWT is not signed with HS256".into())
            }
            _ => AuthError::Malformed(format!("not a JWT: {e}")),
        })?;
        let claims = data.claims;
        if let Some(at) = claims.exp {
            if at.saturating_add(EXPIRY_LEEWAY.as_secs()) < now_unix() {
                return Err(AuthError::Expired { at });
            }
        }
        let permission = claims
            .allow
            .iter()
            .chain(claims.perm.iter())
            .filter_map(|p| p.parse::<Permission>().ok())
            .max()
            .ok_or(AuthError::NoPermissions)?;
        Ok(Caller {
            permission,
            name: claims.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &Secret, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn claims_are_lotus_shaped() {
        let secret = Secret::generate();
        let token = secret.token(Permission::Sign, Some("ops"));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        let claims: serde_json::Value = jsonwebtoken::decode(
            &token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(
            claims,
            serde_json::json!({"Allow": ["read", "write", "sign"], "name": "ops"})
        );
    }

    #[test]
    fn unknown_claims_ignored_and_highest_wins() {
        let secret = Secret::generate();
        let token = sign(
            &secret,
            serde_json::json!({"Allow": ["admin", "read", "bogus"], "ext": "x", "iat": 1}),
        );
        assert_eq!(secret.verify(&token), Ok(Permission::Admin));
        let venus_auth = sign(&secret, serde_json::json!({"name": "m", "perm": "sign"}));
        assert_eq!(
            secret.verify_caller(&venus_auth),
            Ok(Caller {
                permission: Permission::Sign,
                name: Some("m".into())
            })
        );
    }

    #[test]
    fn exp_checked_only_when_present() {
        let secret = Secret::generate();
        let expired = sign(&secret, serde_json::json!({"Allow": ["read"], "exp": 1000}));
        assert_eq!(
            secret.verify(&expired),
            Err(AuthError::Expired { at: 1000 })
        );
        let later = sign(
            &secret,
            serde_json::json!({"Allow": ["read"], "exp": 4_000_000_000u64}),
        );
        assert_eq!(secret.verify(&later), Ok(Permission::Read));
    }

    #[test]
    fn a_ttl_token_carries_exp_and_expires_with_a_message_naming_when() {
        let secret = Secret::generate();
        let day = secret.token_with_ttl(Permission::Write, Some("w1"), Duration::from_secs(86400));
        assert_eq!(secret.verify(&day), Ok(Permission::Write));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        let claims: serde_json::Value = jsonwebtoken::decode(
            &day,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims;
        let exp = claims["exp"].as_u64().unwrap();
        assert!(exp.abs_diff(now_unix() + 86400) <= 2, "{claims}");

        // 2023-11-14T22:13:20Z
        let past = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let old = secret.token_until(Permission::Admin, None, past);
        let err = secret.verify(&old).unwrap_err();
        assert_eq!(err, AuthError::Expired { at: 1_700_000_000 });
        let text = err.to_string();
        assert!(text.contains("expired at 2023-11-14T22:13:20Z"), "{text}");
        assert!(text.contains("`token` command"), "{text}");

        // Within the leeway: still accepted.
        let just = secret.token_until(
            Permission::Read,
            None,
            SystemTime::now() - Duration::from_secs(5),
        );
        assert_eq!(secret.verify(&just), Ok(Permission::Read));
    }

    #[test]
    fn refusals() {
        let secret = Secret::generate();
        let empty = sign(&secret, serde_json::json!({"Allow": []}));
        assert_eq!(secret.verify(&empty), Err(AuthError::NoPermissions));
        let other = Secret::generate().token(Permission::Admin, None);
        assert_eq!(secret.verify(&other), Err(AuthError::BadSignature));
        assert!(matches!(
            secret.verify("not-a-jwt"),
            Err(AuthError::Malformed(_))
        ));
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"Allow": ["admin"]}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            secret.verify(&hs512),
            Err(AuthError::Malformed(_))
        ));
    }
}
