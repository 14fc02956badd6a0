//! The sector manager's JSON-RPC API (`Venus.*`) as its server and its
//! client parse it.
//!
//! * Every method's params type (the tuples `manager_module` parses, in
//!   damocles' wire shapes) and every result type (what `ManagerClient`
//!   parses) round-trips through JSON; the deal list, which the client
//!   only reads, parses or is refused without a panic.
//! * The input's first byte picks a method; the rest, when it is one JSON
//!   value, becomes that call's `params` and goes through the real
//!   `manager_module` in front of a manager that refuses everything. The
//!   answer must be a JSON-RPC response for id 1 whose error is either
//!   "invalid params" (-32602) or the manager's refusal (-32020), and, for
//!   the methods that parse params as one tuple, refusal exactly when the
//!   tuple parses on its own (the server parses what serde parses).
#![no_main]

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use venus_seal_core::manager::*;
use venus_seal_core::stage::Proof;
use venus_seal_core::types::randomness::Ticket;
use venus_seal_core::{ManagerError, SealProof, SectorId, SectorManager};
use venus_seal_fuzz::check::json_round_trip_eq as round_trip;
use venus_seal_rpc::manager::{codes, manager_module, methods, wire, ManagerModule};
use venus_seal_rpc::WorkerInfo;

/// Refuses every call: reaching it means the params parsed.
#[derive(Debug)]
struct Refuses;

fn refused<T>() -> Result<T, ManagerError> {
    Err(ManagerError::Rejected("fuzz".into()))
}

#[async_trait]
impl SectorManager for Refuses {
    async fn allocate_sector(
        &self,
        _: AllocateSpec,
    ) -> Result<Option<AllocatedSector>, ManagerError> {
        refused()
    }
    async fn acquire_deals(
        &self,
        _: SectorId,
        _: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerError> {
        refused()
    }
    async fn assign_ticket(&self, _: SectorId) -> Result<Ticket, ManagerError> {
        refused()
    }
    async fn submit_pre_commit(
        &self,
        _: AllocatedSector,
        _: PreCommitOnChainInfo,
        _: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        refused()
    }
    async fn poll_pre_commit_state(&self, _: SectorId) -> Result<PollStateResponse, ManagerError> {
        refused()
    }
    async fn submit_persisted(&self, _: SectorId, _: String) -> Result<bool, ManagerError> {
        refused()
    }
    async fn wait_seed(&self, _: AllocatedSector) -> Result<WaitSeedResponse, ManagerError> {
        refused()
    }
    async fn submit_proof(
        &self,
        _: SectorId,
        _: Proof,
        _: bool,
    ) -> Result<SubmitResponse, ManagerError> {
        refused()
    }
    async fn poll_proof_state(&self, _: SectorId) -> Result<PollStateResponse, ManagerError> {
        refused()
    }
    async fn report_state(
        &self,
        _: SectorId,
        _: StateReport,
    ) -> Result<ReportStateResponse, ManagerError> {
        refused()
    }
    async fn report_finalized(&self, _: SectorId) -> Result<(), ManagerError> {
        refused()
    }
    async fn report_aborted(&self, _: SectorId, _: String) -> Result<(), ManagerError> {
        refused()
    }
}

/// Each method with whether its params parse as a whole tuple on their own
/// (`None` for the three that read params one by one). The tuples are the
/// server's: damocles' wire shapes ([`wire`]) where they differ from ours.
const METHODS: [(&str, Option<fn(&[u8]) -> bool>); 13] = [
    (methods::ALLOCATE_SECTOR, None),
    (
        methods::ACQUIRE_DEALS,
        Some(round_trip::<(SectorId, AcquireDealsSpec)>),
    ),
    (methods::ASSIGN_TICKET, Some(round_trip::<(SectorId,)>)),
    (
        methods::SUBMIT_PRE_COMMIT,
        Some(round_trip::<(AllocatedSector, wire::PreCommitOnChainInfo, bool)>),
    ),
    (
        methods::POLL_PRE_COMMIT_STATE,
        Some(round_trip::<(SectorId,)>),
    ),
    (methods::SUBMIT_PERSISTED_EX, None),
    (methods::WAIT_SEED, None),
    (
        methods::SUBMIT_PROOF,
        Some(round_trip::<(SectorId, Proof, bool)>),
    ),
    (methods::POLL_PROOF_STATE, Some(round_trip::<(SectorId,)>)),
    (
        methods::REPORT_STATE,
        Some(round_trip::<(SectorId, wire::ReportStateReq)>),
    ),
    (methods::REPORT_FINALIZED, Some(round_trip::<(SectorId,)>)),
    (
        methods::REPORT_ABORTED,
        Some(round_trip::<(SectorId, String)>),
    ),
    (methods::WORKER_PING, Some(round_trip::<(WorkerInfo,)>)),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fn module() -> &'static ManagerModule {
    static MODULE: OnceLock<ManagerModule> = OnceLock::new();
    MODULE.get_or_init(|| manager_module(Arc::new(Refuses)).unwrap())
}

fuzz_target!(|data: &[u8]| {
    // Params as the server parses them, and the params the two
    // one-by-one methods accept (as a whole, for the round trip).
    for (_, parses) in METHODS {
        if let Some(parses) = parses {
            parses(data);
        }
    }
    round_trip::<(wire::AllocateSectorSpec, Option<bool>)>(data);
    round_trip::<(SectorId, String, Option<bool>)>(data);
    round_trip::<(SectorId, Option<SealProof>)>(data);
    // Results as the client parses them (damocles' shapes).
    round_trip::<Option<AllocatedSector>>(data);
    let _ = serde_json::from_slice::<Option<Vec<wire::AnyDeal>>>(data);
    round_trip::<wire::Ticket>(data);
    round_trip::<wire::SubmitResp>(data);
    round_trip::<wire::PollStateResp>(data);
    round_trip::<wire::WaitSeedResp>(data);
    round_trip::<Option<wire::SectorState>>(data);
    round_trip::<Option<wire::StoreBasicInfo>>(data);

    // One call through the server.
    let Some((&pick, params)) = data.split_first() else {
        return;
    };
    let (method, parses) = METHODS[pick as usize % METHODS.len()];
    let Ok(params_text) = std::str::from_utf8(params) else {
        return;
    };
    // Exactly one JSON value, so it cannot add fields to the request.
    if serde_json::from_str::<&RawValue>(params_text).is_err() {
        return;
    }
    let request =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params_text}}}"#);
    let (response, _) = runtime()
        .block_on(module().raw_json_request(&request, 1))
        .unwrap_or_else(|e| panic!("request {request} refused as a whole: {e}"));
    let response: serde_json::Value = serde_json::from_str(response.get()).unwrap();
    assert_eq!(response["id"], 1, "{response}");
    // Whether the params got past parsing: the manager refused them, or
    // (WorkerPing, answered by the server itself) the call succeeded.
    let parsed = match response["error"]["code"].as_i64() {
        Some(code) => {
            assert!(
                code == i64::from(codes::REJECTED) || code == -32602,
                "{method}: unexpected code in {response}"
            );
            code == i64::from(codes::REJECTED)
        }
        None => {
            assert!(
                method == methods::WORKER_PING && response.get("result").is_some(),
                "{method} answered without an error: {response}"
            );
            true
        }
    };
    if let Some(parses) = parses {
        assert_eq!(
            parsed,
            parses(params),
            "{method} with params {params_text}: server and serde disagree: {response}"
        );
    }
});
