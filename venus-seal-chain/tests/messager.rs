//! MessagerClient against a local fake venus-messager (`/rpc/v0`,
//! namespace `Message`).

mod canned_rpc;

use canned_rpc::{landed, serve, Fake};
use serde_json::{json, Value};
use venus_seal_chain::lotus::params::pre_commit_batch2_params;
use venus_seal_chain::lotus::{derived_send_uid, new_send_uid};
use venus_seal_chain::messager::{MessagerClient, SendSpec};
use venus_seal_core::chain::{MessageId, MessageState, MinerCall, MinerMessage, PreCommitParams};
use venus_seal_core::error::ChainError;
use venus_seal_core::{ActorId, CommD, CommR, MessageSender, SealProof, SectorNumber, TokenAmount};

async fn client(fake: &Fake) -> MessagerClient {
    let url = serve(fake.clone(), "/rpc/v0").await;
    MessagerClient::new(&url, Some("jwt".into()), "f3worker".into()).unwrap()
}

fn pre_commit(n: u64) -> MinerMessage {
    MinerMessage::new(
        ActorId(1000),
        MinerCall::PreCommitSectorBatch2(vec![PreCommitParams {
            sector_number: SectorNumber(n),
            seal_proof: SealProof::from_id(8).unwrap(),
            sealed_cid: CommR([1; 32]),
            unsealed_cid: CommD([2; 32]),
            seal_rand_epoch: 10101,
            deal_ids: vec![],
            expiration: 20202,
        }]),
    )
}

#[test]
fn attempt_uids_are_uuids_new_per_attempt_and_stable_when_derived() {
    let a = new_send_uid();
    assert_ne!(a, new_send_uid(), "every attempt gets its own uid");
    assert_eq!(uuid::Uuid::parse_str(&a.0).unwrap().get_version_num(), 4);
    let name = "DeclareFaultsRecovered miner f01000 period 5000 deadline 3 partition 0 attempt 1";
    let d = derived_send_uid(name);
    assert_eq!(d, derived_send_uid(name), "a restart recovers its attempt");
    assert_ne!(d, derived_send_uid(&name.replace("5000", "8000")));
    assert_eq!(uuid::Uuid::parse_str(&d.0).unwrap().get_version_num(), 5);
}

/// venus-messager inserts under the id without looking first (a duplicate
/// fails on the primary key): the client looks the uid up before pushing
/// and, when the push is refused, again; a held message is the answer.
#[tokio::test]
async fn a_duplicate_uid_insert_error_means_the_messager_already_has_it() {
    let fake = Fake::default();
    let uid = new_send_uid();
    let found = json!({"ID": uid.0, "State": 1});
    fake.reply(
        "Message.GetMessageByUid",
        Err((1, "record not found".into())),
    );
    fake.reply(
        "Message.PushMessageWithId",
        Err((1, "UNIQUE constraint failed: messages.id".into())),
    );
    fake.reply("Message.GetMessageByUid", Ok(found));
    // A refusal with nothing held under the uid is the push's error.
    fake.reply(
        "Message.GetMessageByUid",
        Err((1, "record not found".into())),
    );
    fake.reply(
        "Message.PushMessageWithId",
        Err((1, "address(f3worker) is forbidden".into())),
    );
    fake.reply(
        "Message.GetMessageByUid",
        Err((1, "record not found".into())),
    );
    let c = client(&fake).await;
    assert_eq!(
        c.send(&uid, pre_commit(1)).await.unwrap(),
        MessageId(uid.0.clone())
    );
    let other = new_send_uid();
    let err = c.send(&other, pre_commit(1)).await.unwrap_err();
    assert!(err.to_string().contains("forbidden"), "{err}");
}

#[tokio::test]
async fn push_message_with_id_is_idempotent_and_shaped() {
    let fake = Fake::default();
    let msg = pre_commit(9);
    let uid = new_send_uid();
    fake.reply(
        "Message.GetMessageByUid",
        Err((1, "record not found".into())),
    );
    fake.reply("Message.PushMessageWithId", Ok(json!(uid)));
    fake.reply(
        "Message.GetMessageByUid",
        Ok(json!({"ID": uid, "State": 2})),
    );
    let c = client(&fake).await.with_send_spec(SendSpec {
        expire_epoch: 0,
        gas_over_estimation: 1.25,
        max_fee: "1000".into(),
        gas_over_premium: 0.0,
    });
    let id1 = c.send(&uid, msg.clone()).await.unwrap();
    let id2 = c.send(&uid, msg.clone()).await.unwrap();
    assert_eq!(id1, MessageId(uid.0.clone()));
    assert_eq!(id1, id2);

    // Looked up, pushed once; the recovered attempt is only looked up.
    let seen = fake.seen();
    let methods: Vec<_> = seen.iter().map(|(_, r)| r["method"].clone()).collect();
    assert_eq!(
        methods,
        vec![
            json!("Message.GetMessageByUid"),
            json!("Message.PushMessageWithId"),
            json!("Message.GetMessageByUid")
        ]
    );
    let (auth, req) = &seen[1];
    assert_eq!(auth.as_deref(), Some("Bearer jwt"));
    assert_eq!(req["method"], "Message.PushMessageWithId");
    let p = &req["params"];
    assert_eq!(p[0], json!(uid));
    assert_eq!(p[1]["To"], "f01000");
    assert_eq!(p[1]["From"], "f3worker");
    assert_eq!(p[1]["Method"], 28);
    assert_eq!(p[1]["Value"], "0");
    use base64::Engine as _;
    let cbor = base64::engine::general_purpose::STANDARD
        .decode(p[1]["Params"].as_str().unwrap())
        .unwrap();
    let MinerCall::PreCommitSectorBatch2(sectors) = &msg.call else {
        unreachable!()
    };
    assert_eq!(
        cbor,
        fvm_ipld_encoding::to_vec(&pre_commit_batch2_params(sectors)).unwrap()
    );
    assert_eq!(
        p[2],
        json!({"expireEpoch": 0, "gasOverEstimation": 1.25, "maxFee": "1000", "gasOverPremium": 0.0})
    );
}

#[tokio::test]
async fn get_message_by_uid_states() {
    let fake = Fake::default();
    let m = "Message.GetMessageByUid";
    fake.reply(
        m,
        Ok(json!({"ID": "u1", "Height": 10101, "State": 3,
                  "Receipt": {"ExitCode": 0, "Return": null, "GasUsed": 9}})),
    );
    fake.reply(
        m,
        Ok(json!({"ID": "u1", "Height": 10102, "State": 3,
                  "Receipt": {"ExitCode": 16, "Return": null, "GasUsed": 9}})),
    );
    fake.reply(
        m,
        Ok(json!({"ID": "u1", "Height": 0, "State": 4, "Receipt": null,
                  "ErrorMsg": "gas estimate: actor not found"})),
    );
    fake.reply(m, Ok(json!({"ID": "u1", "State": 2})));
    fake.reply(m, Ok(json!({"ID": "u1", "State": 1})));
    // venus-shared types/messager (commit 03977bba): 5 is ReplacedMsg,
    // landed through its replacement, carrying the replacement's receipt.
    fake.reply(
        m,
        Ok(json!({"ID": "u1", "Height": 10103, "State": 5,
                  "Receipt": {"ExitCode": 0, "Return": null, "GasUsed": 9}})),
    );
    fake.reply(m, Ok(Value::Null));
    fake.reply(m, Err((1, "record not found".into())));
    fake.reply(m, Err((1, "database is locked".into())));
    let c = client(&fake).await;
    let id = MessageId("u1".into());
    assert_eq!(c.state(&id).await.unwrap(), landed(10101));
    match c.state(&id).await.unwrap() {
        MessageState::Landed {
            epoch: 10102,
            exit_code: 16,
            error: Some(_),
        } => {}
        other => panic!("{other:?}"),
    }
    match c.state(&id).await.unwrap() {
        MessageState::Landed {
            exit_code,
            error: Some(e),
            ..
        } => {
            assert_ne!(exit_code, 0);
            assert!(e.contains("actor not found"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.state(&id).await.unwrap(), MessageState::Pending);
    assert_eq!(c.state(&id).await.unwrap(), MessageState::Pending);
    assert_eq!(c.state(&id).await.unwrap(), landed(10103));
    assert_eq!(c.state(&id).await.unwrap(), MessageState::NotFound);
    assert_eq!(c.state(&id).await.unwrap(), MessageState::NotFound);
    // A locked messager database is asked again (Temporary).
    assert!(matches!(c.state(&id).await, Err(ChainError::Node(_))));
    for (_, req) in fake.seen() {
        assert_eq!(req["method"], m);
        assert_eq!(req["params"], json!(["u1"]));
    }
    assert!(c.url().ends_with("/rpc/v0"));
}

/// `Message.WaitMessage [uid, confidence]` returns the landed record; a
/// messager that does not know the uid is a named error.
#[tokio::test]
async fn wait_message_returns_the_landed_record() {
    let fake = Fake::default();
    let m = "Message.WaitMessage";
    fake.reply(
        m,
        Ok(json!({"ID": "u7", "Height": 20000, "State": 3,
                  "Receipt": {"ExitCode": 0, "Return": null, "GasUsed": 9}})),
    );
    fake.reply(m, Err((1, "record not found".into())));
    let c = client(&fake).await;
    let found = c.wait_message("u7", 5).await.unwrap();
    assert_eq!(found.id, "u7");
    assert_eq!(found.message_state(), landed(20000));
    let err = c.wait_message("u8", 5).await.unwrap_err();
    assert!(err.to_string().contains("record not found"), "{err}");
    let seen = fake.seen();
    assert_eq!(seen[0].0.as_deref(), Some("Bearer jwt"));
    assert_eq!(seen[0].1["method"], m);
    assert_eq!(seen[0].1["params"], json!(["u7", 5]));
    assert_eq!(seen[1].1["params"], json!(["u8", 5]));
}

/// A message carrying collateral sends it as `Value`.
#[tokio::test]
async fn value_rides_on_the_pushed_message() {
    let fake = Fake::default();
    let msg = pre_commit(4).with_value(TokenAmount(1234));
    let uid = new_send_uid();
    fake.reply("Message.GetMessageByUid", Ok(Value::Null));
    fake.reply("Message.PushMessageWithId", Ok(json!(uid)));
    let c = client(&fake).await;
    c.send(&uid, msg).await.unwrap();
    assert_eq!(fake.seen()[1].1["params"][1]["Value"], "1234");
}

/// The core's `MessageSender` suite against the fake messager (which
/// deduplicates by uid), on the client itself, as `Arc<dyn>` and as
/// `Box<dyn>`.
#[tokio::test]
async fn messager_client_passes_the_message_sender_suite() {
    use venus_seal_core::testing::conformance::message_sender::{
        message_sender, sample_message, Capabilities, FIRST_UID, SECOND_UID,
    };
    let fake = Fake::default();
    let c = std::sync::Arc::new(client(&fake).await);
    let msg = sample_message(ActorId(1000));
    let caps = Capabilities::default();
    let senders: [Box<dyn MessageSender>; 3] = [
        Box::new(c.clone()),
        Box::new(c.clone() as std::sync::Arc<dyn MessageSender>),
        Box::new(Box::new(c) as Box<dyn MessageSender>),
    ];
    let (first, second) = (FIRST_UID, SECOND_UID);
    let not_found = || Err((1, "record not found".into()));
    for sender in senders {
        // First attempt: unknown, pushed; pending (state 1: unfilled);
        // the same attempt again is found and not pushed; the second
        // attempt is pushed; one never sent is unknown.
        let m = "Message.GetMessageByUid";
        fake.reply(m, not_found());
        fake.reply("Message.PushMessageWithId", Ok(json!(first)));
        fake.reply(m, Ok(json!({"ID": first, "State": 1})));
        fake.reply(m, Ok(json!({"ID": first, "State": 1})));
        fake.reply(m, not_found());
        fake.reply("Message.PushMessageWithId", Ok(json!(second)));
        fake.reply(m, not_found());
        let never = MessageId("00000000-0000-5000-8000-000000000000".into());
        message_sender(&sender, msg.clone(), never, caps).await;
        assert!(fake.all_answered());
    }
}
