//! venus-auth tokens on our servers, wherever a Lotus token is accepted.
//!
//! The fixtures are venus-auth's own payload, ipfs-force-community/sophon-auth
//! (formerly filecoin-project/venus-auth) `auth/jwt.go` at
//! ad4f71fbf5294917384446643f5cd19fc32a8e08:
//!
//! ```go
//! type JWTPayload struct {
//!     Name  string          `json:"name"`
//!     Perm  core.Permission `json:"perm"`
//!     Extra string          `json:"ext"`
//! }
//! ```
//!
//! signed with HS256 (`jwt.Sign(pl, jwt.NewHS256(secret))`, gbrlsnchs/jwt
//! v3: header `{"alg":"HS256","typ":"JWT"}`), the secret kept as hex in
//! venus-auth's config; permissions from `core/const.go` at
//! 9a1bb1010e50df153c4feb87aa7e95bd88734ef6 (`read`, `write`, `sign`,
//! `admin`, each implying those below: `AdaptOldStrategy`).

use std::net::SocketAddr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use venus_seal_chain::testing::FakeProofVerifier;
use venus_seal_chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
};
use venus_seal_core::manager::AllocateSpec;
use venus_seal_core::{ActorId, ManagerError, SealProof, SectorManager};
use venus_seal_rpc::{serve_manager, AuthError, Caller, ManagerClient, Permission, Secret};

/// venus-auth's `JWTPayload`, field for field with its json tags.
#[derive(Serialize)]
struct JwtPayload<'a> {
    name: &'a str,
    perm: &'a str,
    #[serde(rename = "ext")]
    extra: &'a str,
}

/// A venus-auth token as `jwtOAuth.GenerateToken` signs it.
fn venus_auth_token(secret_hex: &str, name: &str, perm: &str, extra: &str) -> String {
    let key = hex::decode(secret_hex).unwrap();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &JwtPayload { name, perm, extra },
        &EncodingKey::from_secret(&key),
    )
    .unwrap()
}

/// The secret shared with venus-auth: the same hex text in our secret
/// file as in venus-auth's config.
fn shared_secret() -> (String, Secret, tempfile::TempDir) {
    let secret_hex = hex::encode(Secret::generate().as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rpc.secret");
    std::fs::write(&path, format!("{secret_hex}\n")).unwrap();
    (secret_hex, Secret::load(&path).unwrap(), dir)
}

#[test]
fn every_venus_auth_permission_maps_to_ours() {
    let (hex, secret, _dir) = shared_secret();
    for (perm, ours) in [
        ("read", Permission::Read),
        ("write", Permission::Write),
        ("sign", Permission::Sign),
        ("admin", Permission::Admin),
    ] {
        let token = venus_auth_token(&hex, "miner-ops", perm, "{\"k\":1}");
        assert_eq!(
            secret.verify_caller(&token),
            Ok(Caller {
                permission: ours,
                name: Some("miner-ops".into())
            }),
            "{perm}"
        );
    }
}

#[test]
fn a_venus_auth_token_with_no_known_permission_or_another_secret_is_refused() {
    let (hex, secret, _dir) = shared_secret();
    for perm in ["", "root", "Admin"] {
        let token = venus_auth_token(&hex, "x", perm, "");
        assert_eq!(
            secret.verify(&token),
            Err(AuthError::NoPermissions),
            "{perm:?}"
        );
    }
    let other = hex::encode(Secret::generate().as_bytes());
    let token = venus_auth_token(&other, "x", "admin", "");
    assert_eq!(secret.verify(&token), Err(AuthError::BadSignature));
}

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

async fn manager_server(secret: Secret) -> String {
    let chain = DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }]),
        Arc::new(FakeProofVerifier),
    );
    let manager: Arc<dyn SectorManager> = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, PROOF)]),
        chain.clone(),
        chain,
        Arc::new(FakeProofVerifier),
    );
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (addr, handle) = serve_manager(addr, manager, secret).await.unwrap();
    // The server runs for the rest of the test process.
    std::mem::forget(handle);
    format!("http://{addr}")
}

#[tokio::test]
async fn the_worker_api_takes_venus_auth_tokens_by_their_perm() {
    let (hex, secret, _dir) = shared_secret();
    let url = manager_server(secret).await;
    let write = venus_auth_token(&hex, "worker-1", "write", "");
    let sector = ManagerClient::new(&url, Some(&write))
        .unwrap()
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap();
    assert!(sector.is_some(), "a venus-auth write token allocates");

    let read = venus_auth_token(&hex, "viewer", "read", "");
    match ManagerClient::new(&url, Some(&read))
        .unwrap()
        .allocate_sector(AllocateSpec::default())
        .await
    {
        Err(ManagerError::Unauthorized(msg)) => {
            assert!(msg.contains("needs write, token allows read"), "{msg}")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let forged = venus_auth_token(&hex::encode([7u8; 32]), "x", "admin", "");
    assert!(matches!(
        ManagerClient::new(&url, Some(&forged))
            .unwrap()
            .allocate_sector(AllocateSpec::default())
            .await,
        Err(ManagerError::Unauthorized(_))
    ));
}
