//! The operator methods over a real server: queued deals arrive, sizes and
//! permissions are checked; sector aborts arrive with their reason.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use venus_seal_core::lifecycle::{ExpiringSectors, LifecyclePlan};
use venus_seal_core::manager::DealInfo;
use venus_seal_core::testing::FakeManager;
use venus_seal_core::{ActorId, ChainEpoch, PaddedPieceSize, PieceInfo, SectorId, SectorNumber};

use super::*;
use crate::{ClientError, Secret};

#[derive(Default)]
struct Queue(
    Mutex<Vec<(Option<ActorId>, DealInfo)>>,
    Mutex<Vec<(SectorId, String)>>,
);

#[async_trait]
impl ManagerAdminApi for Queue {
    async fn add_deal(&self, miner: Option<ActorId>, deal: DealInfo) -> Result<(), AdminError> {
        if miner == Some(ActorId(9)) {
            return Err(AdminError::Invalid("miner f09 is not served here".into()));
        }
        self.0.lock().unwrap().push((miner, deal));
        Ok(())
    }
    async fn status(&self) -> Result<DealQueueStatus, AdminError> {
        Ok(DealQueueStatus {
            queued: self.0.lock().unwrap().len() as u64,
        })
    }
    async fn abort_sector(&self, sector: SectorId, reason: String) -> Result<(), AdminError> {
        if sector.number.0 == 99 {
            return Err(AdminError::Invalid(format!(
                "sector {sector} is proven on chain: it cannot be aborted"
            )));
        }
        self.1.lock().unwrap().push((sector, reason));
        Ok(())
    }
    async fn resend_sector(&self, sector: SectorId) -> Result<String, AdminError> {
        if sector.number.0 == 99 {
            return Err(AdminError::Invalid(format!(
                "sector {sector} has submitted nothing to resend"
            )));
        }
        self.1.lock().unwrap().push((sector, "resend".into()));
        Ok("proof".into())
    }
    async fn sectors_expiring(
        &self,
        miner: ActorId,
        within: ChainEpoch,
    ) -> Result<ExpiringSectors, AdminError> {
        self.1.lock().unwrap().push((
            SectorId::new(miner, SectorNumber(0)),
            format!("expiring within {within}"),
        ));
        Ok(ExpiringSectors {
            head: 100,
            sectors: Vec::new(),
        })
    }
    async fn extend_sectors(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        new_expiration: ChainEpoch,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError> {
        self.lifecycle(miner, sectors, Some(new_expiration), dry_run)
    }
    async fn terminate_sectors(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError> {
        self.lifecycle(miner, sectors, None, dry_run)
    }
}

impl Queue {
    /// Records the request; every sector goes into deadline 0 partition 0
    /// (none named: refused, as the manager refuses).
    fn lifecycle(
        &self,
        miner: ActorId,
        sectors: Vec<SectorNumber>,
        new_expiration: Option<ChainEpoch>,
        dry_run: bool,
    ) -> Result<LifecyclePlan, AdminError> {
        if sectors.is_empty() {
            return Err(AdminError::Invalid(format!(
                "nothing to send for miner {miner}: no sectors named"
            )));
        }
        let what = match new_expiration {
            Some(e) => format!("extend to {e}, dry run {dry_run}"),
            None => format!("terminate, dry run {dry_run}"),
        };
        for n in &sectors {
            self.1
                .lock()
                .unwrap()
                .push((SectorId::new(miner, *n), what.clone()));
        }
        Ok(LifecyclePlan {
            miner,
            partitions: vec![venus_seal_core::chain::SectorsDeclaration {
                deadline: 0,
                partition: 0,
                sectors,
            }],
            new_expiration,
            left_out: Vec::new(),
            message: (!dry_run).then(|| venus_seal_core::chain::MessageId("bafy-sent".into())),
            fee: None,
            fee_error: None,
            burn: None,
        })
    }
}

/// A fake manager and a [`Queue`] served behind auth: the queue, the
/// secret, the URL and the server handle.
async fn serve() -> (Arc<Queue>, Secret, String, jsonrpsee::server::ServerHandle) {
    let queue = Arc::new(Queue::default());
    let secret = Secret::generate();
    let (addr, handle) = crate::manager::ManagerServer::new(Arc::new(FakeManager::default()))
        .admin(queue.clone())
        .pieces(crate::manager::PieceRedirect::Proxy(
            "0.0.0.0:9000".parse().unwrap(),
        ))
        .serve("127.0.0.1:0".parse().unwrap(), secret.clone())
        .await
        .unwrap();
    (queue, secret, format!("http://{addr}"), handle)
}

fn deal(size: u64) -> DealInfo {
    DealInfo {
        id: 7,
        piece: PieceInfo {
            size: PaddedPieceSize(size),
            cid: "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
                .parse()
                .unwrap(),
        },
        allocation: None,
    }
}

#[tokio::test]
async fn operators_queue_deals_beside_the_worker_api() {
    let (queue, secret, url, handle) = serve().await;
    let admin =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Admin, None))).unwrap();
    admin
        .add_deal(Some(ActorId(1000)), deal(512))
        .await
        .unwrap();
    admin.add_deal(None, deal(2048)).await.unwrap();
    assert_eq!(admin.status().await.unwrap().queued, 2);
    assert_eq!(queue.0.lock().unwrap()[0], (Some(ActorId(1000)), deal(512)));
    assert_eq!(queue.0.lock().unwrap()[1].0, None);

    // Not a padded piece size: refused, saying so.
    match admin.add_deal(None, deal(508)).await {
        Err(ClientError::Failed { code, message, .. }) => {
            assert_eq!(code, crate::codes::INVALID_PARAMS);
            assert!(message.contains("508"), "{message}");
        }
        other => panic!("want invalid params, got {other:?}"),
    }
    // The queue's own refusal reaches the caller.
    match admin.add_deal(Some(ActorId(9)), deal(512)).await {
        Err(ClientError::Failed { message, .. }) => assert!(message.contains("f09"), "{message}"),
        other => panic!("want the queue's refusal, got {other:?}"),
    }
    // read may look, not add; no token may do neither.
    let reader =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Read, None))).unwrap();
    assert_eq!(reader.status().await.unwrap().queued, 2);
    match reader.add_deal(None, deal(512)).await {
        Err(ClientError::PermissionDenied { message }) => {
            assert!(message.contains("admin"), "{message}")
        }
        other => panic!("want permission denied, got {other:?}"),
    }
    let anonymous = ManagerAdminClient::new(&url, None).unwrap();
    assert!(matches!(
        anonymous.status().await,
        Err(ClientError::Unauthenticated { .. })
    ));
    let _ = handle.stop();
}

#[tokio::test]
async fn operators_abort_sectors_with_a_reason_and_admin_rights() {
    let (queue, secret, url, handle) = serve().await;
    let admin =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Admin, None))).unwrap();
    let sector = SectorId::new(ActorId(1000), SectorNumber(7));
    admin.abort_sector(sector, "bad disk").await.unwrap();
    assert_eq!(
        queue.1.lock().unwrap().clone(),
        vec![(sector, "bad disk".to_string())]
    );
    // No reason, or the manager's refusal: invalid params saying why.
    for (sector, reason, needle) in [
        (sector, " ", "needs a reason"),
        (
            SectorId::new(ActorId(1000), SectorNumber(99)),
            "late",
            "proven on chain",
        ),
    ] {
        match admin.abort_sector(sector, reason).await {
            Err(ClientError::Failed { code, message, .. }) => {
                assert_eq!(code, crate::codes::INVALID_PARAMS);
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("want invalid params, got {other:?}"),
        }
    }
    // A worker's write token may not abort.
    let worker =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Write, None))).unwrap();
    assert!(matches!(
        worker.abort_sector(sector, "x").await,
        Err(ClientError::PermissionDenied { .. })
    ));
    assert_eq!(queue.1.lock().unwrap().len(), 1);
    let _ = handle.stop();
}

#[tokio::test]
async fn operators_force_a_resend_with_admin_rights() {
    let (queue, secret, url, handle) = serve().await;
    let admin =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Admin, None))).unwrap();
    let sector = SectorId::new(ActorId(1000), SectorNumber(7));
    assert_eq!(admin.resend_sector(sector).await.unwrap(), "proof");
    assert_eq!(
        queue.1.lock().unwrap().clone(),
        vec![(sector, "resend".to_string())]
    );
    match admin
        .resend_sector(SectorId::new(ActorId(1000), SectorNumber(99)))
        .await
    {
        Err(ClientError::Failed { code, message, .. }) => {
            assert_eq!(code, crate::codes::INVALID_PARAMS);
            assert!(message.contains("nothing to resend"), "{message}");
        }
        other => panic!("want invalid params, got {other:?}"),
    }
    let worker =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Write, None))).unwrap();
    assert!(matches!(
        worker.resend_sector(sector).await,
        Err(ClientError::PermissionDenied { .. })
    ));
    let _ = handle.stop();
}

/// Listing needs read; extending and terminating need admin. The params
/// arrive as sent, and a request the manager refuses is invalid params.
#[tokio::test]
async fn operators_extend_and_terminate_with_admin_rights_and_list_with_read() {
    let (queue, secret, url, handle) = serve().await;
    let miner = ActorId(1000);
    let reader =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Read, None))).unwrap();
    let expiring = reader.sectors_expiring(miner, 2880).await.unwrap();
    assert_eq!(expiring.head, 100);
    for refused in [
        reader
            .extend_sectors(miner, &[SectorNumber(1)], 5000, false)
            .await
            .unwrap_err(),
        reader
            .terminate_sectors(miner, &[SectorNumber(1)], true)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(refused, ClientError::PermissionDenied { .. }),
            "{refused:?}"
        );
    }

    let admin =
        ManagerAdminClient::new(&url, Some(&secret.token(Permission::Admin, None))).unwrap();
    let plan = admin
        .extend_sectors(miner, &[SectorNumber(3), SectorNumber(1)], 5000, true)
        .await
        .unwrap();
    assert_eq!(plan.new_expiration, Some(5000));
    assert_eq!(plan.message, None);
    let plan = admin
        .terminate_sectors(miner, &[SectorNumber(4)], false)
        .await
        .unwrap();
    assert_eq!(plan.message.unwrap().0, "bafy-sent");
    let seen: Vec<(u64, String)> = queue
        .1
        .lock()
        .unwrap()
        .iter()
        .map(|(s, what)| (s.number.0, what.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, "expiring within 2880".to_string()),
            (3, "extend to 5000, dry run true".to_string()),
            (1, "extend to 5000, dry run true".to_string()),
            (4, "terminate, dry run false".to_string()),
        ]
    );
    match admin.terminate_sectors(miner, &[], false).await {
        Err(ClientError::Failed { code, message, .. }) => {
            assert_eq!(code, crate::codes::INVALID_PARAMS);
            assert!(message.contains("no sectors named"), "{message}");
        }
        other => panic!("want invalid params, got {other:?}"),
    }
    let _ = handle.stop();
}
