//! Lotus-compatible JWTs: `{"Allow": [...]}` signed with HS256.

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
    #[error("invalid token: expired")]
    Expired,
    /// The token allows no known permission.
    #[error("invalid token: it allows no permission (Allow must list read, write, sign or admin)")]
    NoPermissions,
}

impl Secret {
    /// A token allowing `perm` and every level below it (Lotus' `Allow`
    /// list), with an optional `name` claim. It does not expire.
    pub fn token(&self, perm: Permission, name: Option<&str>) -> String {
        let claims = Claims {
            allow: perm.ladder().iter().map(|p| p.name().to_string()).collect(),
            name: name.map(str::to_string),
            perm: None,
            exp: None,
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
        validation.validate_exp = true;
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(self.as_bytes()),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidAlgorithm => {
                AuthError::Malformed("the JWT is not signed with HS256".into())
            }
            _ => AuthError::Malformed(format!("not a JWT: {e}")),
        })?;
        let claims = data.claims;
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
        assert_eq!(secret.verify(&expired), Err(AuthError::Expired));
        let later = sign(
            &secret,
            serde_json::json!({"Allow": ["read"], "exp": 4_000_000_000u64}),
        );
        assert_eq!(secret.verify(&later), Ok(Permission::Read));
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
