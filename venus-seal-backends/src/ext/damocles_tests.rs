//! damocles bodies: the exact JSON lines of a PC1 and a C2 exchange as
//! damocles' `vc-processors` writes them (its `builtin::tasks::{PC1, C2}`
//! serialized by serde, field for field), translated both ways.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use venus_seal_core::stage::{Opaque, Pc1, Pc2, Proof, SectorPaths, TreeD, C2};
use venus_seal_core::testing::FakeExecutor;
use venus_seal_core::{ActorId, CommD, SealProof, SectorId, SectorNumber};

use super::*;
use crate::ext::{
    serve_damocles, ExtConfigError, ExtProcessorConfig, ExtProcessorExecutor, Request, Response,
};

/// `n` repeated 32 times as a JSON array, as serde writes `[u8; 32]`.
fn bytes32(n: u8) -> String {
    format!("[{}]", vec![n.to_string(); 32].join(","))
}

/// 1000's prover id: LEB128 `e8 07`, then zeros.
fn prover_id_1000() -> String {
    let mut v = vec!["232".to_string(), "7".to_string()];
    v.extend(std::iter::repeat_n("0".to_string(), 30));
    format!("[{}]", v.join(","))
}

/// The native tests' PC1 task, with the ticket epoch damocles does not
/// carry (it reads back as 0).
fn pc1_task() -> Pc1 {
    let mut task = crate::ext::tests::pc1_task();
    task.ticket.epoch = 0;
    task
}

/// The request line a damocles worker writes for PC1.
fn damocles_pc1_line() -> String {
    format!(
        concat!(
            r#"{{"id":7,"task":{{"registered_proof":"StackedDrg2KiBV1_1","#,
            r#""cache_path":"/seal/s-t01000-7/cache","in_path":"/seal/s-t01000-7/staged","#,
            r#""out_path":"/seal/s-t01000-7/sealed","prover_id":{},"sector_id":7,"#,
            r#""ticket":{},"piece_infos":[{{"commitment":{},"size":2032}}]}}}}"#
        ),
        prover_id_1000(),
        bytes32(1),
        bytes32(0)
    )
}

#[test]
fn pc1_request_line_is_damocles_field_for_field() {
    let task = pc1_task();
    let line = serde_json::to_string(&Request {
        id: 7,
        task: task_to_damocles(&task).unwrap(),
    })
    .unwrap();
    assert_eq!(line, damocles_pc1_line());
    // And back: what a damocles worker sends is this project's task.
    let parsed: Request<Pc1> = parse_damocles_request(&damocles_pc1_line()).unwrap();
    assert_eq!(parsed.id, 7);
    assert_eq!(parsed.task, task);
}

#[test]
fn pc1_response_line_carries_the_proving_library_output() {
    let output = r#"{"registered_proof":"StackedDrg2KiBV1_1","labels":{"StackedDrg2KiBV1":{"labels":[]}},"config":{},"comm_d":[0,1,2]}"#;
    let line = format!(r#"{{"id":7,"err_msg":null,"output":{output}}}"#);
    let response: Response<Box<serde_json::value::RawValue>> = serde_json::from_str(&line).unwrap();
    let out = output_from_damocles(&pc1_task(), response.output.unwrap().get()).unwrap();
    assert_eq!(out.as_json(), output);
    // The child writes the same output back unchanged.
    let body = output_to_damocles::<Pc1>(&out).unwrap();
    assert_eq!(serde_json::to_string(&Response::ok(7, body)).unwrap(), line);
}

fn c1_output() -> &'static str {
    r#"{"registered_proof":"StackedDrg2KiBV1_1","vanilla_proofs":[],"comm_r":[1],"comm_d":[2]}"#
}

fn c2_task() -> C2 {
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(7)),
        c1_output: Opaque::from_json(c1_output().to_string()).unwrap(),
    }
}

fn damocles_c2_line() -> String {
    format!(
        r#"{{"id":12,"task":{{"c1out":{},"prover_id":{},"sector_id":7,"miner_id":1000}}}}"#,
        c1_output(),
        prover_id_1000()
    )
}

#[test]
fn c2_request_and_response_lines_are_damocles_field_for_field() {
    let line = serde_json::to_string(&Request {
        id: 12,
        task: task_to_damocles(&c2_task()).unwrap(),
    })
    .unwrap();
    assert_eq!(line, damocles_c2_line());
    let parsed: Request<C2> = parse_damocles_request(&damocles_c2_line()).unwrap();
    assert_eq!(parsed.task, c2_task());

    // damocles' SealCommitPhase2Output: `{"proof": [bytes]}`.
    let response = r#"{"id":12,"err_msg":null,"output":{"proof":[9,8,7]}}"#;
    let parsed: Response<Box<serde_json::value::RawValue>> =
        serde_json::from_str(response).unwrap();
    let proof = output_from_damocles(&c2_task(), parsed.output.unwrap().get()).unwrap();
    assert_eq!(proof.proof, vec![9, 8, 7]);
    let body = output_to_damocles::<C2>(&Proof {
        proof: vec![9, 8, 7],
    })
    .unwrap();
    assert_eq!(
        serde_json::to_string(&Response::ok(12, body)).unwrap(),
        response
    );
}

#[test]
fn bad_damocles_tasks_are_named() {
    // A prover id that is not an ID address payload.
    let line = damocles_c2_line().replace(&prover_id_1000(), &bytes32(255));
    let e = parse_damocles_request::<C2>(&line).unwrap_err();
    assert!(
        e.contains("prover_id") && e.contains("miner_id 1000"),
        "{e}"
    );
    let line = damocles_pc1_line().replace(&prover_id_1000(), &bytes32(255));
    let e = parse_damocles_request::<Pc1>(&line).unwrap_err();
    assert!(e.contains("not an ID address payload"), "{e}");
    // A C1 output without its proof type.
    let line = damocles_c2_line().replace(r#""registered_proof":"StackedDrg2KiBV1_1","#, "");
    let e = parse_damocles_request::<C2>(&line).unwrap_err();
    assert!(e.contains("registered_proof"), "{e}");
    // Our field names are not damocles'.
    let ours = serde_json::to_string(&Request {
        id: 1,
        task: pc1_task(),
    })
    .unwrap();
    let e = parse_damocles_request::<Pc1>(&ours).unwrap_err();
    assert!(e.contains("not a damocles pc1 task"), "{e}");
}

#[test]
fn tree_d_commd_is_checked_against_the_pieces() {
    let cc = TreeD {
        proof: SealProof::StackedDrg2KiBV1_1,
        staged: "/s/staged".into(),
        cache: "/s/cache".into(),
        pieces: vec![],
    };
    let body = task_to_damocles(&cc).unwrap();
    assert_eq!(
        body.get(),
        r#"{"registered_proof":"StackedDrg2KiBV1_1","staged_file":"/s/staged","cache_dir":"/s/cache"}"#
    );
    // The CommD of an all-zero 2KiB sector.
    let zero: CommD = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
        .parse()
        .unwrap();
    let good = serde_json::to_string(&zero.0).unwrap();
    assert_eq!(output_from_damocles(&cc, &good).unwrap().comm_d, zero);
    let e = output_from_damocles(&cc, &bytes32(3)).unwrap_err();
    assert!(e.contains("does not match"), "{e}");
}

#[test]
fn pc2_output_for_another_proof_type_is_refused() {
    let task = Pc2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(7)),
        paths: SectorPaths::under("/s"),
        pc1_output: Opaque::from_json("{}".into()).unwrap(),
        synthetic: None,
    };
    let body = task_to_damocles(&task).unwrap().to_string();
    assert_eq!(
        body,
        r#"{"pc1out":{},"cache_dir":"/s/cache","sealed_file":"/s/sealed"}"#
    );
    let ok = format!(
        r#"{{"registered_proof":"StackedDrg2KiBV1_1","comm_r":{},"comm_d":{}}}"#,
        bytes32(1),
        bytes32(2)
    );
    let out = output_from_damocles(&task, &ok).unwrap();
    assert_eq!(out.comm_d, CommD([2; 32]));
    let other = ok.replace("StackedDrg2KiBV1_1", "StackedDrg8MiBV1_1");
    let e = output_from_damocles(&task, &other).unwrap_err();
    assert!(e.contains("made for StackedDrg8MiBV1_1"), "{e}");
    let e = output_from_damocles(&task, r#"{"proof":[1]}"#).unwrap_err();
    assert!(e.contains("not damocles' pc2 output"), "{e}");
    // damocles' pc2 body cannot carry a synthetic sector's synthetic
    // proofs' inputs: refused, naming what to do.
    let synthetic = Pc2 {
        proof: SealProof::StackedDrg2KiBV1_1_Feat_SyntheticPoRep,
        ..task
    };
    let e = task_to_damocles(&synthetic).unwrap_err().to_string();
    assert!(e.contains("native-format processor"), "{e}");
}

#[test]
fn damocles_format_on_a_stage_without_bodies_is_a_config_error() {
    let mut cfg = ExtProcessorConfig::new("/bin/true");
    cfg.format = BodyFormat::Damocles;
    let e = ExtProcessorExecutor::<venus_seal_core::stage::C1>::new(cfg.clone()).unwrap_err();
    assert!(
        matches!(e, ExtConfigError::FormatUnsupported { stage: "c1", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("no body for c1"), "{e}");
    assert!(ExtProcessorExecutor::<Pc2>::new(cfg).is_ok());
    let parsed: ExtProcessorConfig =
        serde_json::from_str(r#"{"bin":"x","format":"damocles"}"#).unwrap();
    assert_eq!(parsed.format, BodyFormat::Damocles);
    let e =
        serde_json::from_str::<ExtProcessorConfig>(r#"{"bin":"x","format":"lotus"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown variant `lotus`"), "{e}");
}

/// A damocles worker driving a `serve_damocles` child: damocles' C2 line in,
/// damocles' output line out, the executor sees this project's task.
#[tokio::test]
async fn serve_damocles_answers_a_damocles_worker() {
    let fake = FakeExecutor::<C2>::new(|task: &C2| {
        assert_eq!(task.sector, SectorId::new(ActorId(1000), SectorNumber(7)));
        Proof { proof: vec![4, 5] }
    });
    let (mut parent_w, child_r) = tokio::io::duplex(1 << 16);
    let (child_w, parent_r) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve_damocles::<C2, _>(fake, child_r, child_w));
    let mut lines = BufReader::new(parent_r).lines();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "c2 processor ready"
    );
    parent_w
        .write_all(format!("{}\n", damocles_c2_line()).as_bytes())
        .await
        .unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        r#"{"id":12,"err_msg":null,"output":{"proof":[4,5]}}"#
    );
    // A line in our format is answered with a Permanent error, not dropped.
    let ours = serde_json::to_string(&Request {
        id: 13,
        task: c2_task(),
    })
    .unwrap();
    parent_w
        .write_all(format!("{ours}\n").as_bytes())
        .await
        .unwrap();
    let answer: Response<serde_json::Value> =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(answer.id, 13);
    assert!(answer
        .err_msg
        .unwrap()
        .starts_with("[permanent] malformed c2 request: not a damocles c2 task"));
    drop(parent_w);
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn serve_damocles_refuses_stages_it_cannot_read() {
    let fake = FakeExecutor::<TreeD>::new(|_| unreachable!());
    let (_w, r) = tokio::io::duplex(64);
    let (w, _r) = tokio::io::duplex(64);
    let e = serve_damocles::<TreeD, _>(fake, r, w).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("tree_d"), "{e}");
}

fn parse_damocles_request<S: venus_seal_core::stage::Stage>(
    line: &str,
) -> Result<Request<S>, String> {
    crate::ext::serve::parse_request::<S>(line, BodyFormat::Damocles)
}
