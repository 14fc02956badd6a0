//! Who is looking: the token given once on the login page, kept in an
//! HttpOnly, SameSite=Strict cookie (never in a URL), checked on every
//! request against the manager's secret. `read` views, `admin` acts.
//! Every action form also carries a value derived from the token
//! ([`Viewer::csrf`]), so a page of another site cannot post one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use venus_seal_rpc::Permission;

use super::Console;

/// The cookie the token is kept in.
pub const COOKIE: &str = "venus_seal_console";

/// A verified visitor.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// What their token allows.
    pub permission: Permission,
    /// The token's `name` claim, if any.
    pub name: Option<String>,
    /// The value every action form must post back.
    pub csrf: String,
}

impl Viewer {
    /// Whether they may act (pause, resume, abort, resend, check).
    pub fn is_admin(&self) -> bool {
        self.permission >= Permission::Admin
    }

    /// `Ok` for an admin whose form carries the right `csrf`; else the
    /// answer that says why not.
    pub fn may_act(&self, csrf: &str) -> Result<(), Box<Response>> {
        if !self.is_admin() {
            return Err(Box::new(
                (
                    StatusCode::FORBIDDEN,
                    format!(
                        "this action needs an admin token; yours allows {} (make one with `token --perm admin`)",
                        self.permission
                    ),
                )
                    .into_response(),
            ));
        }
        if !same(csrf.as_bytes(), self.csrf.as_bytes()) {
            return Err(Box::new(
                (
                    StatusCode::FORBIDDEN,
                    "the form did not come from this console (reload the page and try again)",
                )
                    .into_response(),
            ));
        }
        Ok(())
    }
}

/// `a == b` in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value forms post back for `token`.
pub fn csrf_of(token: &str) -> String {
    let digest = Sha256::digest(format!("venus-seal-console-form:{token}").as_bytes());
    hex::encode(&digest[..16])
}

/// The token in `headers`' cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE).filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that keeps `token` for the session (`Secure`
/// too when the console is reached over HTTPS).
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The `Set-Cookie` value that forgets the token.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("venus_seal_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The cookie that carries what the last action did to the page it
/// redirects to (once; never in the URL, so a link cannot put words in
/// the console's mouth).
pub const NOTE_COOKIE: &str = "venus_seal_note";

/// The `Set-Cookie` value that hands `note` to the next page.
pub fn note_cookie(note: &str) -> HeaderValue {
    let value = url::form_urlencoded::byte_serialize(note.as_bytes()).collect::<String>();
    HeaderValue::from_str(&format!(
        "{NOTE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The `Set-Cookie` value that drops the note once shown.
pub fn cleared_note() -> HeaderValue {
    HeaderValue::from_static("venus_seal_note=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The note in `headers`' cookie, if any.
pub fn note_of(headers: &HeaderMap) -> Option<String> {
    let raw = cookie(headers, NOTE_COOKIE)?;
    let decoded: String = url::form_urlencoded::parse(format!("n={raw}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()?;
    Some(decoded).filter(|n| !n.is_empty())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether the request was sent by a page of another site. A browser that
/// says where the request comes from (`Sec-Fetch-Site`, every current
/// browser) is believed: `cross-site` or `same-site` is another site's.
/// Without it, an `Origin` naming another host than the one the request
/// was sent to (`X-Forwarded-Host` as a TLS-terminating proxy sets it, else
/// `Host`) is. A request with neither (a script, an old browser) is not
/// refused here: it still needs the session cookie, which a browser sends
/// to no other site's form (SameSite=Strict).
pub fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "cross-site" | "same-site");
    }
    let host = text("x-forwarded-host")
        .and_then(|h| h.split(',').next())
        .map(str::trim)
        .or_else(|| text("host"));
    match (text("origin"), host) {
        // A sandboxed frame or a privacy redirect says `null`.
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
            !authority.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Refuses every POST (login, logout, actions) a page of another site
/// sent (login CSRF: a form that logs the operator into the attacker's
/// token).
pub async fn refuse_cross_site(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == axum::http::Method::POST && cross_site(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "console: a form posted from another site was refused");
        return (
            StatusCode::FORBIDDEN,
            "this form was sent from another site: open the console itself and try again",
        )
            .into_response();
    }
    next.run(request).await
}

/// A page without a valid token goes to the login page (an expired or
/// foreign token is forgotten on the way).
impl FromRequestParts<Console> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Console) -> Result<Self, Response> {
        let to_login = || {
            let mut r = Redirect::to("/login").into_response();
            r.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
            r
        };
        let Some(token) = session_token(&parts.headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state.secret().verify_caller(&token) {
            Ok(caller) => Ok(Viewer {
                permission: caller.permission,
                name: caller.name,
                csrf: csrf_of(&token),
            }),
            Err(e) => {
                tracing::info!(error = %e, "console: a session token was refused");
                Err(to_login())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_its_cookie_only() {
        let mut h = HeaderMap::new();
        assert_eq!(session_token(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; venus_seal_console=tok.en.x"),
        );
        assert_eq!(session_token(&h).as_deref(), Some("tok.en.x"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("venus_seal_console="),
        );
        assert_eq!(session_token(&h), None);
        let c = session_cookie("abc", false);
        let c = c.to_str().unwrap();
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(!c.contains("Secure"));
        assert!(session_cookie("abc", true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
        // Only the cookie: an Authorization header is not a session.
        let mut h = HeaderMap::new();
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok.en.x"),
        );
        assert_eq!(session_token(&h), None);
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a").len(), 32);
    }

    #[test]
    fn a_note_survives_its_cookie() {
        let note = "abort failed: say why; <b>\"quoted\"</b> 100%";
        let set = note_cookie(note);
        let value = set.to_str().unwrap().split(';').next().unwrap().to_string();
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_str(&value).unwrap());
        assert_eq!(note_of(&h).as_deref(), Some(note));
        assert_eq!(note_of(&HeaderMap::new()), None);
    }

    #[test]
    fn posts_from_another_site_are_told_apart() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, HeaderValue::from_static(v));
            }
            cross_site(&h)
        };
        assert!(!with(&[]), "a script without browser headers");
        assert!(!with(&[("sec-fetch-site", "same-origin")]));
        assert!(!with(&[("sec-fetch-site", "none")]), "typed by the user");
        assert!(with(&[("sec-fetch-site", "cross-site")]));
        assert!(with(&[("sec-fetch-site", "same-site")]));
        assert!(!with(&[
            ("origin", "http://10.0.0.1:1791"),
            ("host", "10.0.0.1:1791")
        ]));
        assert!(with(&[
            ("origin", "https://evil.example"),
            ("host", "10.0.0.1:1791")
        ]));
        assert!(with(&[("origin", "null"), ("host", "10.0.0.1:1791")]));
        // Behind a TLS proxy that rewrites Host: the browser's own word
        // wins, else the forwarded host.
        let origin = ("origin", "https://console.example");
        let host = ("host", "127.0.0.1:1791");
        assert!(!with(&[origin, host, ("sec-fetch-site", "same-origin")]));
        assert!(!with(&[
            origin,
            host,
            ("x-forwarded-host", "console.example")
        ]));
        assert!(with(&[origin, host]), "no way to tell: refused");
        assert!(with(&[origin, ("sec-fetch-site", "cross-site")]));
    }
}
