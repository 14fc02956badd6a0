//! Tokens with an expiry, end to end: a server refuses an expired token
//! with a message naming when it expired, and takes one still valid.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HeaderMap, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::RpcModule;
use venus_seal_rpc::auth::serve_with_auth;
use venus_seal_rpc::{Permission, Secret};

async fn call(addr: SocketAddr, token: &str) -> Result<String, jsonrpsee::core::ClientError> {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let client = HttpClientBuilder::default()
        .set_headers(headers)
        .build(format!("http://{addr}"))
        .unwrap();
    client.request("Test.Ping", rpc_params![]).await
}

#[tokio::test]
async fn an_expired_token_is_refused_naming_its_expiry() {
    let secret = Secret::generate();
    let mut module = RpcModule::new(());
    module
        .register_method("Test.Ping", |_, _, _| "pong")
        .unwrap();
    let permissions = HashMap::from([("Test.Ping", Permission::Read)]);
    let (addr, handle) = serve_with_auth(
        "127.0.0.1:0".parse().unwrap(),
        module,
        secret.clone(),
        permissions,
    )
    .await
    .unwrap();

    let valid = secret.token_with_ttl(Permission::Read, Some("w"), Duration::from_secs(3600));
    assert_eq!(call(addr, &valid).await.unwrap(), "pong");

    // 2023-11-14T22:13:20Z
    let expired = secret.token_until(
        Permission::Admin,
        Some("w"),
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let err = call(addr, &expired).await.unwrap_err().to_string();
    assert!(
        err.contains("expired at 2023-11-14T22:13:20Z"),
        "the refusal names the expiry: {err}"
    );
    assert!(
        err.contains(&venus_seal_rpc::codes::INVALID_TOKEN.to_string()),
        "{err}"
    );
    handle.stop().unwrap();
}
