//! damocles' task and output bodies are filecoin-proofs-api types, so
//! they are translated only in builds with the `proofs` feature. This
//! build lacks it and keeps [`BodyFormat`] alone: a processor configured
//! `format = "damocles"` is built and checked as usual, then refuses each
//! task with [`StageError::Missing`] (Permanent: the sector waits for a
//! worker built with the feature), and
//! [`serve_damocles`](super::serve_damocles) refuses to start.

use venus_seal_core::stage::Stage;
use venus_seal_core::StageError;

pub use super::format::BodyFormat;

/// Why every damocles body is refused here.
const LACKS_PROOFS: &str = "damocles bodies are filecoin-proofs-api types and this build of \
     venus-seal-backends lacks its `proofs` feature";

/// A raw JSON body (never made here).
pub(crate) type Body = Box<serde_json::value::RawValue>;

/// Always an error: no stage can be served with damocles' bodies.
pub(crate) fn child_check<S: Stage>() -> Result<(), String> {
    Err(format!("{} cannot serve stage {}", LACKS_PROOFS, S::NAME))
}

/// The parent side: refuses the task.
pub(crate) fn task_to_damocles<S: Stage>(_: &S) -> Result<Body, StageError> {
    Err(StageError::Missing(format!(
        "{} task in format \"damocles\": {LACKS_PROOFS}",
        S::NAME
    )))
}

/// The parent side: never reached (no task was sent).
pub(crate) fn output_from_damocles<S: Stage>(_: &S, _: &str) -> Result<S::Output, String> {
    Err(LACKS_PROOFS.into())
}

/// The child side: never reached ([`child_check`] refused first).
pub(crate) fn task_from_damocles<S: Stage>(_: &str) -> Result<S, String> {
    Err(LACKS_PROOFS.into())
}

/// The child side: never reached.
pub(crate) fn output_to_damocles<S: Stage>(_: &S::Output) -> Result<Body, String> {
    Err(LACKS_PROOFS.into())
}

#[cfg(test)]
mod tests {
    use venus_seal_core::stage::{Pc1, C2};
    use venus_seal_core::testing::FakeExecutor;
    use venus_seal_core::{Executor, FailureLevel, Leveled};

    use crate::ext::{serve_damocles, BodyFormat, ExtProcessorConfig, ExtProcessorExecutor};

    /// A child that answers any line: the refusal must come before any
    /// task reaches it.
    fn echo_child() -> ExtProcessorConfig {
        let mut cfg = ExtProcessorConfig::new("sh");
        cfg.args = vec![
            "-c".into(),
            "echo 'pc1 processor ready'; while read l; do echo '{\"id\":1,\"err_msg\":\"x\",\"output\":null}'; done".into(),
        ];
        cfg.format = BodyFormat::Damocles;
        cfg
    }

    #[tokio::test]
    async fn a_damocles_processor_refuses_tasks_naming_the_feature() {
        let processor = ExtProcessorExecutor::<Pc1>::new(echo_child()).unwrap();
        let err = processor
            .execute(crate::ext::tests::pc1_task())
            .await
            .unwrap_err();
        assert_eq!(err.level(), FailureLevel::Permanent, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("`proofs` feature") && msg.contains("pc1"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn serve_damocles_refuses_to_start() {
        let (_parent, child) = tokio::io::duplex(1024);
        let (input, output) = tokio::io::split(child);
        let fake = FakeExecutor::<C2>::new(|_| unreachable!());
        let err = serve_damocles::<C2, _>(fake, input, output)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`proofs` feature"), "{err}");
    }
}
