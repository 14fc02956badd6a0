//! External processors: stages run by child processes over damocles'
//! ext-processor protocol.
//!
//! * Parent side: [`ExtProcessorExecutor`] runs tasks of one stage on one
//!   child process ([`ExtProcessorConfig`]: program, arguments, environment,
//!   concurrency, CPU set, NUMA node, timeouts, restarts);
//!   [`ExtProcessorPool`] spreads a stage over several of them. Both are
//!   `Executor<S>`, so the engine's decorators (limits, named locks) wrap
//!   them like any executor.
//! * Child side: [`serve`] / [`serve_stdio`] turn any `Executor<S>` into an
//!   ext processor's main loop (`src/bin/venus-seal-ext-processor.rs` serves
//!   [`LocalExecutor`](crate::LocalExecutor) this way).
//! * The wire format ([`Request`], [`Response`], [`ready_line`]): the
//!   child's first stdout line is `{stage} processor ready`; requests
//!   `{"id": u64, "task": T}` on its stdin and responses
//!   `{"id": u64, "err_msg": string|null, "output": O|null}` on its stdout,
//!   one JSON object per line, matched by id, in any order, several in
//!   flight; stderr is the child's log, forwarded line by line into
//!   tracing (target `venus_seal_backends::ext::child`, field
//!   `processor`).
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use venus_seal_backends::ext::{ExtProcessorConfig, ExtProcessorPool};
//! use venus_seal_core::{stage::Pc1, DynExecutor};
//! let mut gpu0 = ExtProcessorConfig::new("/usr/local/bin/ext-processor");
//! gpu0.args = vec!["pc1".into()];
//! gpu0.cpuset = Some("0-15".into());
//! let mut gpu1 = gpu0.clone();
//! gpu1.cpuset = Some("16-31".into());
//! let pool = ExtProcessorPool::<Pc1>::new([gpu0, gpu1])?;
//! pool.start().await?; // optional: otherwise the first task starts them
//! let pc1: DynExecutor<Pc1> = std::sync::Arc::new(pool);
//! # Ok(()) }
//! ```
//!
//! # Design rationale
//!
//! * **Compatibility.** The envelope is damocles' (`vc-processors`,
//!   `core::ext`). The bodies are this project's stage types by default;
//!   with `format = "damocles"` ([`BodyFormat`]) they are damocles' own task
//!   structs, so a processor built for damocles runs tree_d, pc1, pc2 or c2
//!   unchanged, and [`serve_damocles`] makes a child a damocles worker can
//!   drive for pc1 and c2 ([`damocles`] lists the fields). damocles'
//!   bodies are filecoin-proofs-api types: without the `proofs` feature
//!   such a processor refuses its tasks (Permanent, naming the feature)
//!   and `serve_damocles` refuses to start; the native format needs no
//!   proving crate.
//! * **A failing child fails only its own tasks.** Every way a child can
//!   go wrong — exit, hang past `task_timeout`, closed stdout, a line that
//!   is not a response — fails the tasks in flight on it with a Temporary
//!   error naming the processor and the cause, and kills it; the next task
//!   restarts it. Other processors never notice. An answer for an unknown
//!   id is logged and ignored; an output that does not deserialize fails
//!   its task alone, Permanent (corrupt stage output).
//! * **Levels survive the pipe.** The child writes `err_msg` as
//!   `[level] message`; the parent reads the level back. Free text (a
//!   damocles child) is Temporary.
//! * **Locks are the engine's.** A processor's `locks` are only carried;
//!   the engine's `Limits` holds them per stage ([`ExtProcessorPool::locks`]).

mod child;
mod command;
mod config;
#[cfg(feature = "proofs")]
pub mod damocles;
#[cfg(not(feature = "proofs"))]
#[path = "damocles_off.rs"]
pub mod damocles;
mod error;
mod format;
mod pool;
mod processor;
pub(crate) mod serve;
mod wire;

#[cfg(test)]
mod tests;

pub use config::ExtProcessorConfig;
pub use error::ExtConfigError;
pub use format::BodyFormat;
pub use pool::ExtProcessorPool;
pub use processor::ExtProcessorExecutor;
pub use serve::{
    serve, serve_damocles, serve_named, serve_stdio, serve_stdio_damocles, SERVED_STAGES,
};
pub use wire::{level_of_err_msg, ready_line, Request, Response};
