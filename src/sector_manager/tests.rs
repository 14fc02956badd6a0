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

/// `[resend]`'s defaults (spelled out for the fuzz target) are the
/// manager's own.
#[test]
fn the_resend_defaults_are_the_managers() {
    assert_eq!(
        super::service::resend_policy(&super::config::ResendSection::default()),
        venus_seal_chain::manager::ResendPolicy::default()
    );
}
