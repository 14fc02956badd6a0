//! The builder end to end, without proofs: a manager on the embedded
//! devnet with the chain crate's fake verifier, its files where its config
//! is, reached by the operator functions.

use std::path::Path;
use std::sync::Arc;

use venus_seal_chain::testing::FakeProofVerifier;
use venus_seal_core::manager::{AllocateSpec, DealInfo};
use venus_seal_core::{ActorId, PaddedPieceSize, PieceInfo, SectorId, SectorManager, SectorNumber};
use venus_seal_rpc::Permission;

use super::{admin_client, worker_token, ManagerService, SectorManagerConfig};
use crate::runtime::ApiArgs;

const CONFIG: &str = r#"
[rpc]
listen = "127.0.0.1:0"
secret_file = "secret/rpc.secret"

[chain]
kind = "embedded-devnet"
block_time = "1s"
state_dir = "state"

[[miners]]
id = "f01000"
proof = "StackedDrg2KiBV1_1"
"#;

#[tokio::test]
async fn a_built_manager_keeps_its_files_beside_its_config_and_answers_operators() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("etc");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("manager.toml");
    std::fs::write(&path, CONFIG).unwrap();

    let config = SectorManagerConfig::load(&path).unwrap();
    let manager = ManagerService::new(config)
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .unwrap();
    for made in ["secret/rpc.secret", "state/manager.db"] {
        assert!(
            folder.join(made).exists(),
            "{made} is not in the config's folder"
        );
    }
    assert!(!Path::new("secret").exists() && !Path::new("state").exists());
    assert!(manager.chain().devnet.is_some());

    // The operators' calls, with the admin token `--config` makes.
    let url = format!("http://{}", manager.addr());
    let admin = admin_client(
        &ApiArgs::new(Some(url.clone()), None, Some(path.clone())),
        "test",
    )
    .unwrap();
    assert_eq!(admin.status().await.unwrap().queued, 0);
    let piece = PieceInfo {
        size: PaddedPieceSize(512),
        cid: "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
            .parse()
            .unwrap(),
    };
    let err = admin
        .add_deal(Some(ActorId(1001)), DealInfo { id: 7, piece })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not served"), "{err}");
    admin
        .add_deal(Some(ActorId(1000)), DealInfo { id: 7, piece })
        .await
        .unwrap();
    assert_eq!(admin.status().await.unwrap().queued, 1);
    let err = admin
        .abort_sector(SectorId::new(ActorId(1000), SectorNumber(99)), "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("99"), "{err}");

    // A worker token from the same secret is accepted by the worker API,
    // and the sector it allocates is the one an abort then names.
    let config = SectorManagerConfig::load(&path).unwrap();
    let token = worker_token(&config, Permission::Write, "w").unwrap();
    let worker = venus_seal_rpc::ManagerClient::new(url, Some(&token)).unwrap();
    let sector = worker
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector number");
    assert_eq!(sector.id.miner, ActorId(1000));
    admin.abort_sector(sector.id, "test").await.unwrap();

    manager.run(async {}).await.unwrap();
}

/// `[gateway]`: the built manager registers its miner with venus-gateway
/// (the token from `gateway.token_file` in the handshake) and answers a
/// `ComputeProof` event; the stop ends the listener.
#[tokio::test]
async fn a_built_manager_registers_with_venus_gateway_and_answers_compute_proof() {
    use venus_seal_chain::gateway::fake::FakeGateway;
    use venus_seal_chain::testing::FakePoStExecutor;
    use venus_seal_core::proving::{PoStSector, WinningPoStVerifyInfo};
    use venus_seal_core::{CommR, ProofVerifier, Randomness, SealProof};

    let gw = FakeGateway::start("venus-auth-token").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.toml");
    std::fs::write(dir.path().join("gw.token"), "venus-auth-token\n").unwrap();
    let config = format!(
        "{CONFIG}\n[proving]\nstores = [\"store\"]\n\n[gateway]\nurl = \"{}\"\ntoken_file = \"gw.token\"\n",
        gw.url()
    );
    std::fs::write(&path, config).unwrap();
    let config = SectorManagerConfig::load(&path).unwrap();
    let manager = ManagerService::new(config)
        .with_verifier(Arc::new(FakeProofVerifier))
        .with_prover(venus_seal_chain::PoStExecutors::of(Arc::new(
            FakePoStExecutor::default(),
        )))
        .with_winning_prover(Arc::new(FakePoStExecutor::default()))
        .build()
        .await
        .unwrap();
    let wait = std::time::Duration::from_secs(10);
    assert!(
        gw.wait_listens(1, wait).await,
        "the manager never registered"
    );

    // venus-shared's ComputeProofRequest for one sector (JSON spelled from
    // the Go field names, see docs/venus-gateway.md).
    let sector = PoStSector {
        number: SectorNumber(1),
        seal_proof: SealProof::StackedDrg2KiBV1_1,
        comm_r: CommR([3; 32]),
    };
    let rand = [5u8; 32];
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let request = serde_json::json!({
        "SectorInfos": [{"SealProof": 5, "SectorNumber": 1, "SectorKey": null,
                         "SealedCID": {"/": sector.comm_r.to_cid().to_string()}}],
        "Rand": b64(&rand), "Height": 10, "NWVersion": 21,
    });
    let answer = gw.compute_proof("f01000", &request, wait).await;
    assert_eq!(answer["Error"], "", "{answer}");
    let payload: Vec<serde_json::Value> = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            answer["Payload"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let proofs = payload
        .iter()
        .map(|p| venus_seal_core::proving::PoStProof {
            post_proof: p["PoStProof"].as_i64().unwrap(),
            proof: base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                p["ProofBytes"].as_str().unwrap(),
            )
            .unwrap(),
        })
        .collect();
    assert!(FakeProofVerifier
        .verify_winning_post(&WinningPoStVerifyInfo {
            miner: ActorId(1000),
            randomness: Randomness(rand),
            sectors: vec![sector],
            proofs,
        })
        .unwrap());
    assert_eq!(manager.gateway().unwrap().registrations(), 1);
    manager.run(async {}).await.unwrap();
}

/// `[[persist_stores]]` reach `Venus.StoreBasicInfo` and
/// `Venus.StoreReserveSpace` on both listeners, and `[rpc.trusted]` serves
/// the worker API without a token (a loopback bind with no networks named
/// serves loopback clients) while the main listener still wants one.
#[tokio::test]
async fn configured_persist_stores_and_the_tokenless_listener_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store0");
    std::fs::create_dir(&store).unwrap();
    let text = CONFIG.replace(
        "secret_file = \"secret/rpc.secret\"\n",
        "secret_file = \"secret/rpc.secret\"\n[rpc.trusted]\nlisten = \"127.0.0.1:0\"\n",
    ) + &format!(
        "\n[[persist_stores]]\nname = \"store-0\"\npath = {:?}\n",
        store.display().to_string()
    );
    let path = dir.path().join("manager.toml");
    std::fs::write(&path, text).unwrap();
    let manager = ManagerService::new(SectorManagerConfig::load(&path).unwrap())
        .with_verifier(Arc::new(FakeProofVerifier))
        .build()
        .await
        .unwrap();
    let trusted = manager.trusted_addr().expect("[rpc.trusted] is served");

    // No token on the tokenless listener, as damocles-worker calls.
    let worker = venus_seal_rpc::ManagerClient::new(format!("http://{trusted}"), None).unwrap();
    let info = worker.store_basic_info("store-0").await.unwrap().unwrap();
    assert_eq!(info.name, "store-0");
    assert_eq!(info.path, store.display().to_string());
    assert!(worker.store_basic_info("store-9").await.unwrap().is_none());
    let sector = worker
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .expect("a sector number");
    let placed = worker
        .store_reserve_space(sector.id, 2048, &["store-0".to_string()])
        .await
        .unwrap()
        .expect("room on store-0");
    assert_eq!(placed.name, "store-0");

    // The main listener still refuses a call without a token.
    let anonymous =
        venus_seal_rpc::ManagerClient::new(format!("http://{}", manager.addr()), None).unwrap();
    assert!(anonymous.store_basic_info("store-0").await.is_err());
    manager.run(async {}).await.unwrap();
}

/// `[resend]`'s defaults (spelled out for the fuzz target) are the
/// manager's own.
#[test]
fn the_resend_defaults_are_the_managers() {
    assert_eq!(
        super::service::resend_policy(&super::config::ResendSection::default()),
        venus_seal_chain::manager::ResendPolicy::default()
    );
}
