//! The listener against the fake gateway (fake prover: milliseconds), and
//! the wire types against JSON spelled from the peer's Go definitions
//! (`venus-shared/types/gateway/common.go` @ 1daffca4, `proof_event.go` @
//! 5a718b58, go-state-types `proof/proof_types.go` @ e1dbd72a).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use venus_seal_core::proving::{PoStProof, PoStSector, SectorFiles, WinningPoStVerifyInfo};
use venus_seal_core::{
    ActorId, CommR, ProofVerifier, Randomness, SealProof, SectorId, SectorNumber,
};

use super::fake::FakeGateway;
use super::wire::{GatewayComputeProof, GoPoStProof, RequestEvent, ResponseEvent};
use super::{GatewayConfig, ProofEventListener, WinningProver, WsUrl};
use crate::testing::{FakePoStExecutor, FakeProofVerifier};

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
const WAIT: Duration = Duration::from_secs(10);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn sectors() -> Vec<PoStSector> {
    (1..=3u64)
        .map(|n| PoStSector {
            number: SectorNumber(n),
            seal_proof: PROOF,
            comm_r: CommR([n as u8; 32]),
            sector_key: None,
        })
        .collect()
}

/// A `gateway.ComputeProofRequest` as the gateway marshals it.
fn compute_proof_json(sectors: &[PoStSector], rand: &[u8]) -> Value {
    let infos: Vec<Value> = sectors
        .iter()
        .map(|s| {
            json!({
                "SealProof": s.seal_proof.id(),
                "SectorNumber": s.number.0,
                "SectorKey": null,
                "SealedCID": {"/": s.comm_r.to_cid().to_string()},
            })
        })
        .collect();
    json!({"SectorInfos": infos, "Rand": b64(rand), "Height": 1234, "NWVersion": 21})
}

fn prover() -> WinningProver {
    let files: BTreeMap<SectorId, SectorFiles> = sectors()
        .iter()
        .map(|s| {
            (
                SectorId::new(MINER, s.number),
                SectorFiles {
                    sealed: format!("/nowhere/{}/sealed", s.number).into(),
                    cache: format!("/nowhere/{}/cache", s.number).into(),
                },
            )
        })
        .collect();
    WinningProver {
        challenger: Arc::new(FakeProofVerifier),
        prover: Arc::new(FakePoStExecutor::default()),
        locator: Arc::new(files),
    }
}

fn listener(gw: &FakeGateway, token: &str) -> Arc<ProofEventListener> {
    ProofEventListener::new(
        GatewayConfig {
            url: WsUrl::parse(&gw.url()).unwrap(),
            token: Some(token.into()),
            miners: vec![MINER],
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
        },
        prover(),
    )
}

/// Checks an answer as venus-gateway reads it: `Error` empty, `Payload`
/// the JSON of `[]PoStProof`; the proof must verify.
fn assert_verified(answer: &Value, randomness: Randomness) {
    assert_eq!(answer["Error"], "", "{answer}");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(answer["Payload"].as_str().expect("Payload"))
        .unwrap();
    let proofs: Vec<Value> = serde_json::from_slice(&payload).unwrap();
    let proofs: Vec<PoStProof> = proofs
        .iter()
        .map(|p| PoStProof {
            post_proof: p["PoStProof"].as_i64().expect("PoStProof"),
            proof: base64::engine::general_purpose::STANDARD
                .decode(p["ProofBytes"].as_str().expect("ProofBytes"))
                .unwrap(),
        })
        .collect();
    let all = sectors();
    let challenged = FakeProofVerifier
        .winning_post_challenge(PROOF, MINER, &randomness, all.len() as u64)
        .unwrap()
        .into_iter()
        .map(|i| all[i as usize])
        .collect();
    assert!(FakeProofVerifier
        .verify_winning_post(&WinningPoStVerifyInfo {
            miner: MINER,
            randomness,
            sectors: challenged,
            proofs,
        })
        .unwrap());
}

#[test]
fn wire_types_read_and_write_the_gateways_json() {
    let rand = [9u8; 32];
    let request = compute_proof_json(&sectors(), &rand);
    let event: RequestEvent = serde_json::from_value(json!({
        "Id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "Method": "ComputeProof",
        "Payload": b64(request.to_string().as_bytes()),
    }))
    .unwrap();
    assert_eq!(event.method, "ComputeProof");
    let req: GatewayComputeProof = serde_json::from_slice(&event.payload).unwrap();
    let core = req.to_request(MINER).unwrap();
    assert_eq!(core.sectors, sectors());
    assert_eq!(core.randomness, Randomness(rand));
    assert_eq!(core.epoch, 1234);
    // A sector key (a snapped sector) is a CID.
    let mut snapped = request.clone();
    snapped["SectorInfos"][0]["SectorKey"] = json!({"/": CommR([7; 32]).to_cid().to_string()});
    let snapped = serde_json::from_value::<GatewayComputeProof>(snapped)
        .unwrap()
        .to_request(MINER)
        .unwrap();
    // ... proven from its updated replica (`locate_for_proving`).
    assert_eq!(snapped.sectors[0].sector_key, Some(CommR([7; 32])));
    assert_eq!(snapped.sectors[1].sector_key, None);
    // Bad randomness and an unknown proof name the field.
    let mut short = req.clone();
    short.rand.pop();
    assert!(short.to_request(MINER).unwrap_err().contains("Rand"));
    let mut unknown = req;
    unknown.sector_infos[1].seal_proof = 99;
    assert!(unknown
        .to_request(MINER)
        .unwrap_err()
        .contains("SectorInfos[2].SealProof"));

    let ok = ResponseEvent {
        id: "6ba7b810-9dad-11d1-80b4-00c04fd430c8".into(),
        payload: Some(b"[]".to_vec()),
        error: String::new(),
    };
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        json!({"Id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "Payload": "W10=", "Error": ""})
    );
    let failed = ResponseEvent {
        payload: None,
        error: "boom".into(),
        ..ok
    };
    assert_eq!(
        serde_json::to_value(&failed).unwrap(),
        json!({"Id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "Payload": null, "Error": "boom"})
    );
    assert_eq!(
        serde_json::to_value(GoPoStProof {
            post_proof: 0,
            proof_bytes: vec![1, 2, 3],
        })
        .unwrap(),
        json!({"PoStProof": 0, "ProofBytes": "AQID"})
    );
}

#[tokio::test]
async fn compute_proof_events_are_answered_with_a_verifying_winning_post() {
    let gw = FakeGateway::start("venus-auth-token").await;
    let listener = listener(&gw, "venus-auth-token");
    let task = listener.spawn();
    assert!(gw.wait_listens(1, WAIT).await);
    let rand = [7u8; 32];
    let answer = gw
        .compute_proof("f01000", &compute_proof_json(&sectors(), &rand), WAIT)
        .await;
    assert_verified(&answer, Randomness(rand));
    // A request the manager cannot prove is answered with the reason, as
    // damocles answers (Payload nil, Error set).
    let answer = gw
        .compute_proof("f01000", &compute_proof_json(&[], &rand), WAIT)
        .await;
    assert_eq!(answer["Payload"], Value::Null);
    assert!(
        answer["Error"].as_str().unwrap().contains("no sectors"),
        "{answer}"
    );
    assert_eq!(listener.registrations(), 1);
    task.abort();
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_the_next_request_is_answered() {
    let gw = FakeGateway::start("t").await;
    let listener = listener(&gw, "t");
    let task = listener.spawn();
    assert!(gw.wait_listens(1, WAIT).await);
    gw.drop_connections();
    assert!(gw.wait_listens(2, WAIT).await, "no reconnection");
    // The listener counts a registration once the channel id is back.
    let deadline = tokio::time::Instant::now() + WAIT;
    while listener.registrations() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(listener.registrations(), 2);
    let rand = [11u8; 32];
    let answer = gw
        .compute_proof("f01000", &compute_proof_json(&sectors(), &rand), WAIT)
        .await;
    assert_verified(&answer, Randomness(rand));
    task.abort();
}

#[tokio::test]
async fn a_refused_token_is_retried_with_backoff_and_never_registers() {
    let gw = FakeGateway::start("right").await;
    let listener = listener(&gw, "wrong");
    let task = listener.spawn();
    tokio::time::sleep(Duration::from_millis(400)).await;
    task.abort();
    assert!(gw.refused_handshakes() >= 2, "{}", gw.refused_handshakes());
    assert_eq!(gw.listens(), 0);
    assert_eq!(listener.registrations(), 0);
}
