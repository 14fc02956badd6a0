//! The child side: any `Executor<S>` as an ext-processor main loop.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use venus_seal_core::stage::{
    AddPieces, CheckProvable, Pc1, Pc2, SnapEncode, SnapProve, Stage, TreeD, Unseal, WindowPoSt,
    WinningPoSt, C1, C2,
};
use venus_seal_core::{Executor, Failure, FailureLevel};

use super::damocles::{self, BodyFormat};
use super::wire::{ready_line, truncate, Request, Response};

/// Serves `executor` over the ext protocol on `input` / `output`: prints
/// the ready line, then runs every request line as its own tokio task (so
/// several run at once) and writes each response as it completes, through
/// one writer.
///
/// * A failed task is answered with `err_msg` = `[level] message`
///   ([`Failure`]'s display), which [`ExtProcessorExecutor`](super::ExtProcessorExecutor)
///   reads back at the same level; a panic in the executor is a Permanent
///   failure.
/// * A request line that does not parse is answered with a Permanent
///   `err_msg` if its `id` can be read, else logged (tracing) and skipped.
/// * When `input` ends (the parent closed the pipe), the tasks in flight
///   finish, their responses are written, and this returns `Ok`.
///
/// Logs go to tracing only: stdout belongs to the protocol, so a binary
/// must send its tracing output to stderr.
///
/// ```no_run
/// use venus_seal_core::{stage::Pc1, Executor};
/// // `pc1`: `venus_seal_backends::LocalExecutor` (feature `proofs`), or
/// // any other executor.
/// async fn child(pc1: impl Executor<Pc1> + 'static) -> std::io::Result<()> {
///     venus_seal_backends::ext::serve::<Pc1, _>(pc1, tokio::io::stdin(), tokio::io::stdout()).await
/// }
/// ```
pub async fn serve<S, E>(
    executor: E,
    input: impl AsyncRead + Unpin + Send,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()>
where
    S: Stage,
    E: Executor<S> + 'static,
{
    serve_with::<S, E>(executor, BodyFormat::Native, input, output).await
}

/// [`serve`] speaking damocles' task and output bodies
/// ([`damocles`](super::damocles)), so that a damocles worker can use this
/// child as its ext processor. Available for pc1, c2 and unseal (damocles'
/// tasks of the other stages lack what this project's tasks need; the
/// refusal names what); any other stage is refused with `InvalidInput`
/// before the ready line.
///
/// Without the `proofs` feature (damocles' bodies are filecoin-proofs-api
/// types) every stage is refused so.
///
/// ```no_run
/// use venus_seal_core::{stage::C2, Executor};
/// async fn child(c2: impl Executor<C2> + 'static) -> std::io::Result<()> {
///     venus_seal_backends::ext::serve_damocles::<C2, _>(c2, tokio::io::stdin(), tokio::io::stdout()).await
/// }
/// ```
pub async fn serve_damocles<S, E>(
    executor: E,
    input: impl AsyncRead + Unpin + Send,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()>
where
    S: Stage,
    E: Executor<S> + 'static,
{
    damocles::child_check::<S>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    serve_with::<S, E>(executor, BodyFormat::Damocles, input, output).await
}

/// The stages [`serve_named`] serves: the sealing stages a worker sends
/// to processors and the proving stages, by their ext-protocol names
/// (damocles' processor stage names, plus `check_provable`).
pub const SERVED_STAGES: [&str; 12] = [
    AddPieces::NAME,
    TreeD::NAME,
    Pc1::NAME,
    Pc2::NAME,
    C1::NAME,
    C2::NAME,
    WindowPoSt::NAME,
    WinningPoSt::NAME,
    CheckProvable::NAME,
    SnapEncode::NAME,
    SnapProve::NAME,
    Unseal::NAME,
];

/// Serves the stage named `stage` (one of [`SERVED_STAGES`]) with
/// `executor`, which runs all of them (as `LocalExecutor` does), in
/// `format` on `input` / `output`: what an ext-processor binary runs
/// after parsing its arguments, without a list of stages of its own. An unknown name, or damocles bodies for a stage they cannot
/// carry, is `InvalidInput` before the ready line.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use venus_seal_backends::ext::{serve_named, BodyFormat};
/// let local = venus_seal_backends::LocalExecutor::new();
/// serve_named("window_post", local, BodyFormat::Native, tokio::io::stdin(), tokio::io::stdout()).await
/// # }
/// ```
pub async fn serve_named<E>(
    stage: &str,
    executor: E,
    format: BodyFormat,
    input: impl AsyncRead + Unpin + Send,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()>
where
    E: Executor<AddPieces>
        + Executor<TreeD>
        + Executor<Pc1>
        + Executor<Pc2>
        + Executor<C1>
        + Executor<C2>
        + Executor<WindowPoSt>
        + Executor<WinningPoSt>
        + Executor<CheckProvable>
        + Executor<SnapEncode>
        + Executor<SnapProve>
        + Executor<Unseal>
        + 'static,
{
    async fn one<S: Stage, E: Executor<S> + 'static>(
        executor: E,
        format: BodyFormat,
        input: impl AsyncRead + Unpin + Send,
        output: impl AsyncWrite + Unpin + Send + 'static,
    ) -> std::io::Result<()> {
        match format {
            BodyFormat::Native => serve::<S, E>(executor, input, output).await,
            BodyFormat::Damocles => serve_damocles::<S, E>(executor, input, output).await,
        }
    }
    let (e, f, i, o) = (executor, format, input, output);
    match stage {
        AddPieces::NAME => one::<AddPieces, E>(e, f, i, o).await,
        TreeD::NAME => one::<TreeD, E>(e, f, i, o).await,
        Pc1::NAME => one::<Pc1, E>(e, f, i, o).await,
        Pc2::NAME => one::<Pc2, E>(e, f, i, o).await,
        C1::NAME => one::<C1, E>(e, f, i, o).await,
        C2::NAME => one::<C2, E>(e, f, i, o).await,
        WindowPoSt::NAME => one::<WindowPoSt, E>(e, f, i, o).await,
        WinningPoSt::NAME => one::<WinningPoSt, E>(e, f, i, o).await,
        CheckProvable::NAME => one::<CheckProvable, E>(e, f, i, o).await,
        SnapEncode::NAME => one::<SnapEncode, E>(e, f, i, o).await,
        SnapProve::NAME => one::<SnapProve, E>(e, f, i, o).await,
        Unseal::NAME => one::<Unseal, E>(e, f, i, o).await,
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "no stage named {other:?} (one of {})",
                SERVED_STAGES.join(", ")
            ),
        )),
    }
}

async fn serve_with<S, E>(
    executor: E,
    format: BodyFormat,
    input: impl AsyncRead + Unpin + Send,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()>
where
    S: Stage,
    E: Executor<S> + 'static,
{
    let executor = Arc::new(executor);
    output
        .write_all(format!("{}\n", ready_line(S::NAME)).as_bytes())
        .await?;
    output.flush().await?;
    tracing::info!(stage = S::NAME, "ext processor ready");

    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(mut line) = rx.recv().await {
            line.push('\n');
            output.write_all(line.as_bytes()).await?;
            output.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });

    let mut tasks = JoinSet::new();
    let mut input = BufReader::new(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).await? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        if line.trim().is_empty() {
            continue;
        }
        match parse_request::<S>(&line, format) {
            Ok(Request { id, task }) => {
                let executor = executor.clone();
                let tx = tx.clone();
                tasks.spawn(async move {
                    let _ = tx.send(run_one::<S, E>(executor, format, id, task).await);
                });
            }
            Err(e) => match id_of(&line) {
                Some(id) => {
                    tracing::warn!(id, error = %e, "malformed request");
                    let failure = Failure::new(
                        FailureLevel::Permanent,
                        format!("malformed {} request: {e}", S::NAME),
                    );
                    let _ = tx.send(to_line(&Response::<S::Output>::failed(id, &failure)));
                }
                None => tracing::error!(
                    error = %e,
                    line = %truncate(&line, 200),
                    "malformed request without an id; skipped"
                ),
            },
        }
        while tasks.try_join_next().is_some() {}
    }
    tracing::info!("input closed: finishing the tasks in flight");
    while tasks.join_next().await.is_some() {}
    drop(tx);
    writer.await.map_err(std::io::Error::other)?
}

/// A request line in `format`.
pub(crate) fn parse_request<S: Stage>(
    line: &str,
    format: BodyFormat,
) -> Result<Request<S>, String> {
    match format {
        BodyFormat::Native => serde_json::from_str(line).map_err(|e| e.to_string()),
        BodyFormat::Damocles => {
            let raw: Request<Box<serde_json::value::RawValue>> =
                serde_json::from_str(line).map_err(|e| e.to_string())?;
            let task = damocles::task_from_damocles::<S>(raw.task.get())
                .map_err(|e| format!("not a damocles {} task: {e}", S::NAME))?;
            Ok(Request { id: raw.id, task })
        }
    }
}

/// Serves `executor` with damocles' bodies on this process's stdin and
/// stdout ([`serve_damocles`]).
pub async fn serve_stdio_damocles<S, E>(executor: E) -> std::io::Result<()>
where
    S: Stage,
    E: Executor<S> + 'static,
{
    serve_damocles::<S, E>(executor, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves `executor` on this process's stdin and stdout ([`serve`]).
pub async fn serve_stdio<S, E>(executor: E) -> std::io::Result<()>
where
    S: Stage,
    E: Executor<S> + 'static,
{
    serve::<S, E>(executor, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Runs one task and renders its response line. The executor runs in its
/// own task so that a panic becomes a Permanent answer, not a lost one.
async fn run_one<S: Stage, E: Executor<S> + 'static>(
    executor: Arc<E>,
    format: BodyFormat,
    id: u64,
    task: S,
) -> String {
    let result = tokio::spawn(async move { executor.execute(task).await }).await;
    let response = match result {
        Ok(Ok(output)) => match format {
            BodyFormat::Native => {
                // The output goes out as it is (no detour through a JSON
                // value: a C1 output is large).
                tracing::debug!(id, ok = true, "task done");
                return to_line(&Response::ok(id, output));
            }
            BodyFormat::Damocles => match damocles::output_to_damocles::<S>(&output) {
                Ok(body) => Response::ok(id, body),
                Err(e) => Response::failed(
                    id,
                    &Failure::new(
                        FailureLevel::Permanent,
                        format!("cannot write the output as damocles': {e}"),
                    ),
                ),
            },
        },
        Ok(Err(e)) => Response::failed(id, &Failure::from_error(&e)),
        Err(join) => Response::failed(
            id,
            &Failure::new(
                FailureLevel::Permanent,
                format!("the {} executor panicked: {join}", S::NAME),
            ),
        ),
    };
    tracing::debug!(id, ok = response.err_msg.is_none(), "task done");
    to_line(&response)
}

fn to_line<O: serde::Serialize>(response: &Response<O>) -> String {
    serde_json::to_string(response).unwrap_or_else(|e| {
        let failure = Failure::new(
            FailureLevel::Permanent,
            format!("cannot serialize the output: {e}"),
        );
        serde_json::to_string(&Response::<()>::failed(response.id, &failure))
            .expect("an error response always serializes")
    })
}

/// The `id` of a request line that does not parse as a whole.
fn id_of(line: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: u64,
    }
    serde_json::from_str::<Id>(line).ok().map(|r| r.id)
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
