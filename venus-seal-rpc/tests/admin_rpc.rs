//! The admin API end to end: a fake engine behind a real server on
//! 127.0.0.1:0, called through `AdminClient` with each kind of token.

mod support;
use support::raw_post;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jsonrpsee::server::ServerHandle;
use venus_seal_core::engine::ControlError;
use venus_seal_core::{SectorState, SectorSummary};
use venus_seal_rpc::{codes, serve_admin, AdminApi, AdminClient, ClientError, Permission, Secret};

#[derive(Debug, Clone, PartialEq)]
enum Call {
    List,
    Pause(u64),
    Resume(u64, Option<SectorState>),
    Abort(u64, String),
}

/// Knows jobs 1 and 2; records every call that reaches it.
#[derive(Default)]
struct FakeAdmin {
    calls: Mutex<Vec<Call>>,
}

impl FakeAdmin {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    fn known(job: u64) -> Result<(), ControlError> {
        if job == 1 || job == 2 {
            Ok(())
        } else {
            Err(ControlError::UnknownJob(job))
        }
    }
}

fn summary(job: u64, state: SectorState) -> SectorSummary {
    SectorSummary {
        job,
        sector: Some(format!("s-t01000-{job}")),
        state,
        stage: None,
        paused: false,
        level: None,
        last_error: None,
        since: Some(1_700_000_000),
        location: None,
    }
}

#[async_trait]
impl AdminApi for FakeAdmin {
    async fn list(&self) -> Result<Vec<SectorSummary>, ControlError> {
        self.record(Call::List);
        Ok(vec![
            summary(1, SectorState::PC1Done),
            summary(2, SectorState::Finished),
        ])
    }

    async fn pause(&self, job: u64) -> Result<(), ControlError> {
        self.record(Call::Pause(job));
        Self::known(job)
    }

    async fn resume(&self, job: u64, state: Option<SectorState>) -> Result<(), ControlError> {
        self.record(Call::Resume(job, state));
        Self::known(job)
    }

    async fn abort(&self, job: u64, reason: String) -> Result<(), ControlError> {
        self.record(Call::Abort(job, reason));
        Self::known(job)
    }
}

struct Worker {
    fake: Arc<FakeAdmin>,
    secret: Secret,
    url: String,
    _handle: ServerHandle,
}

impl Worker {
    async fn start() -> Self {
        let fake = Arc::new(FakeAdmin::default());
        let secret = Secret::generate();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (addr, handle) = serve_admin(addr, fake.clone(), secret.clone())
            .await
            .unwrap();
        Self {
            fake,
            secret,
            url: format!("http://{addr}"),
            _handle: handle,
        }
    }

    fn client(&self, perm: Permission) -> AdminClient {
        let token = self.secret.token(perm, Some("test"));
        AdminClient::new(&self.url, Some(&token)).unwrap()
    }
}

#[tokio::test]
async fn admin_token_reaches_every_method() {
    let worker = Worker::start().await;
    let client = worker.client(Permission::Admin);

    let list = client.list().await.unwrap();
    assert_eq!(
        list,
        vec![
            summary(1, SectorState::PC1Done),
            summary(2, SectorState::Finished)
        ]
    );
    client.pause(1).await.unwrap();
    client.resume(1, None).await.unwrap();
    client.resume(2, Some(SectorState::PC1Done)).await.unwrap();
    client.abort(2, "bad disk").await.unwrap();

    assert_eq!(
        worker.fake.calls(),
        vec![
            Call::List,
            Call::Pause(1),
            Call::Resume(1, None),
            Call::Resume(2, Some(SectorState::PC1Done)),
            Call::Abort(2, "bad disk".into()),
        ]
    );
}

#[tokio::test]
async fn engine_refusals_surface_as_failed_calls() {
    let worker = Worker::start().await;
    let client = worker.client(Permission::Admin);

    let err = client.pause(7).await.unwrap_err();
    assert_eq!(err.code(), Some(codes::UNKNOWN_JOB));
    assert_eq!(err.to_string(), "Venus.Admin.Pause failed: no sector job 7");
    assert!(!err.is_auth() && !err.is_unreachable());
}

#[tokio::test]
async fn bad_state_name_is_invalid_params_naming_it() {
    let worker = Worker::start().await;
    let token = worker.secret.token(Permission::Admin, None);
    let raw = jsonrpsee::http_client::HttpClientBuilder::default()
        .set_headers(
            [(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build(&worker.url)
        .unwrap();
    use jsonrpsee::core::client::ClientT;
    let err = raw
        .request::<(), _>("Venus.Admin.Resume", jsonrpsee::rpc_params![1, "PC9Done"])
        .await
        .unwrap_err();
    let jsonrpsee::core::ClientError::Call(obj) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(obj.code(), codes::INVALID_PARAMS);
    assert!(obj.message().contains("\"PC9Done\""), "{}", obj.message());
    assert!(worker.fake.calls().is_empty(), "must not reach the engine");
}

#[tokio::test]
async fn read_token_lists_but_cannot_pause() {
    let worker = Worker::start().await;
    let client = worker.client(Permission::Read);

    assert_eq!(client.list().await.unwrap().len(), 2);
    let err = client.pause(1).await.unwrap_err();
    assert!(
        matches!(err, ClientError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "permission denied: Venus.Admin.Pause needs admin, token allows read"
    );
    // Write and sign are not enough either.
    for perm in [Permission::Write, Permission::Sign] {
        let err = worker.client(perm).abort(1, "x").await.unwrap_err();
        assert!(err.to_string().contains("needs admin"), "{err}");
    }
    assert_eq!(worker.fake.calls(), vec![Call::List]);
}

#[tokio::test]
async fn no_token_is_refused_with_the_missing_token_message() {
    let worker = Worker::start().await;
    let client = AdminClient::new(&worker.url, None).unwrap();

    let err = client.list().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unauthenticated { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("missing token: send Authorization: Bearer <jwt>"),
        "{err}"
    );
    assert!(worker.fake.calls().is_empty());
}

#[tokio::test]
async fn token_from_another_secret_has_a_bad_signature() {
    let worker = Worker::start().await;
    let forged = Secret::generate().token(Permission::Admin, None);
    let client = AdminClient::new(&worker.url, Some(&forged)).unwrap();

    let err = client.pause(1).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unauthenticated { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad signature"), "{err}");
    assert!(worker.fake.calls().is_empty());
}

#[tokio::test]
async fn garbage_header_is_malformed() {
    let worker = Worker::start().await;
    let post = |auth: &'static str| {
        let url = worker.url.clone();
        async move {
            let body = r#"{"jsonrpc":"2.0","method":"Venus.Admin.List","params":[],"id":1}"#;
            raw_post(&url, Some(auth), body).await
        }
    };
    for auth in ["Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "garbage"] {
        let reply = post(auth).await;
        assert_eq!(
            reply["error"]["code"],
            codes::INVALID_TOKEN,
            "{auth}: {reply}"
        );
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("invalid token: malformed"),
            "{auth}: {message}"
        );
    }
    // Through the client too: a token that is not a JWT.
    let client = AdminClient::new(&worker.url, Some("garbage")).unwrap();
    let err = client.list().await.unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
    assert!(worker.fake.calls().is_empty());
}

#[tokio::test]
async fn batch_entries_are_checked_one_by_one() {
    let worker = Worker::start().await;
    let token = worker.secret.token(Permission::Read, None);
    let body = r#"[
        {"jsonrpc":"2.0","method":"Venus.Admin.List","params":[],"id":1},
        {"jsonrpc":"2.0","method":"Venus.Admin.Pause","params":[1],"id":2},
        {"jsonrpc":"2.0","method":"Venus.Admin.Nope","params":[],"id":3}
    ]"#;
    let reply = raw_post(&worker.url, Some(&format!("Bearer {token}")), body).await;
    let replies = reply.as_array().expect("a batch answer");
    let by_id = |id: u64| replies.iter().find(|r| r["id"] == id).unwrap();
    assert!(by_id(1)["result"].is_array(), "{reply}");
    assert_eq!(by_id(2)["error"]["code"], codes::PERMISSION_DENIED);
    // An unknown method is "method not found" for any valid token.
    assert_eq!(by_id(3)["error"]["code"], -32601, "{reply}");
    assert_eq!(worker.fake.calls(), vec![Call::List]);
}

#[tokio::test]
async fn unreachable_worker_is_reported_as_such() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let token = Secret::generate().token(Permission::Admin, None);
    let client = AdminClient::new(&url, Some(&token)).unwrap();

    let err = client.list().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot reach {url}: connection refused")
    );
}
