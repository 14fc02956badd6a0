//! [`UnsealRunner`]: a worker's side of unseal jobs (see
//! [`crate::core::unseal`]). It asks the manager for a job, finds the
//! sector's sealed files, unseals the piece once through the worker's
//! [`Executor<Unseal>`](crate::core::Executor) into a spool file, writes it
//! to every destination (a file, an HTTP PUT, or an object store), and
//! reports the result;
//! a failure is reported with its reason, and the manager hands the job
//! out again until it has failed too often.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{info, warn};

use crate::backends::proving::{unseal_to_http, HttpDestination};
use crate::core::manager::AllocateSpec;
use crate::core::proving::{unseal_to_file, SectorLocator, UnsealRequest};
use crate::core::stage::Unseal;
use crate::core::unseal::{UnsealAssignment, UnsealJobSource};
use crate::core::{DynExecutor, Executor, StageError};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// Runs unseal jobs for one worker, one at a time.
///
/// Destinations: `file:///path` or an absolute path (written atomically),
/// `http(s)://…` (PUT), and object-store URLs (`s3://bucket/key`, with
/// the backends' `s3` feature and `AWS_*` settings from the environment;
/// or any URL prefix given a store with
/// [`with_object_store`](Self::with_object_store)), uploaded in parts.
#[derive(Debug, Clone)]
pub struct UnsealRunner {
    jobs: Arc<dyn UnsealJobSource>,
    unsealer: DynExecutor<Unseal>,
    sectors: Arc<dyn SectorLocator>,
    spec: AllocateSpec,
    spool: PathBuf,
    objects: Vec<(String, Arc<dyn ObjectStore>)>,
}

/// An object-store destination: the store and the object's key.
type ObjectDest = (Arc<dyn ObjectStore>, ObjectPath);

/// A copy of an already unsealed spool file, as an [`Unseal`] executor:
/// each destination gets the bytes unsealed once, through the same
/// writers ([`unseal_to_file`], [`unseal_to_http`]) a direct unseal uses.
#[derive(Debug)]
struct Spooled(PathBuf);

#[async_trait]
impl Executor<Unseal> for Spooled {
    async fn execute(&self, task: Unseal) -> Result<u64, StageError> {
        let (from, to) = (self.0.clone(), task.output.clone());
        tokio::task::spawn_blocking(move || std::fs::copy(&from, &to))
            .await
            .map_err(|e| StageError::Computation(format!("copying the unsealed piece: {e}")))?
            .map_err(|e| StageError::io(format!("copying {}", self.0.display()), e))
    }
}

impl UnsealRunner {
    /// A runner taking jobs of sectors `spec` allows from `jobs`, unsealing
    /// with `unsealer` the files `sectors` locates, spooling the pieces in
    /// `spool` (created if missing).
    pub fn new(
        jobs: Arc<dyn UnsealJobSource>,
        unsealer: DynExecutor<Unseal>,
        sectors: Arc<dyn SectorLocator>,
        spec: AllocateSpec,
        spool: PathBuf,
    ) -> Self {
        Self {
            jobs,
            unsealer,
            sectors,
            spec,
            spool,
            objects: Vec::new(),
        }
    }

    /// Destinations starting with `prefix` (e.g. `s3://retrievals/`) are
    /// objects of `store`, keyed by the rest of the URL: for a store the
    /// environment cannot configure, or one of the embedder's own.
    pub fn with_object_store(
        mut self,
        prefix: impl Into<String>,
        store: Arc<dyn ObjectStore>,
    ) -> Self {
        self.objects.push((prefix.into(), store));
        self
    }

    /// The object store and key a destination names, if it names one.
    fn object_of(&self, dest: &str) -> Option<Result<ObjectDest, String>> {
        if let Some((prefix, store)) = self
            .objects
            .iter()
            .find(|(p, _)| dest.starts_with(p.as_str()))
        {
            return Some(
                ObjectPath::parse(&dest[prefix.len()..])
                    .map(|key| (store.clone(), key))
                    .map_err(|e| format!("object key of {dest}: {e}")),
            );
        }
        let scheme = dest.split_once("://")?.0;
        if matches!(scheme, "file" | "http" | "https") {
            return None;
        }
        Some(
            url::Url::parse(dest)
                .map_err(|e| format!("{dest} is not a URL: {e}"))
                .and_then(|url| {
                    let aws = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
                    object_store::parse_url_opts(&url, aws)
                        .map(|(store, key)| (Arc::from(store), key))
                        .map_err(|e| format!("{dest}: {e}"))
                }),
        )
    }

    /// Takes one job and runs it to its reported result: `Ok(true)` when
    /// there was one (done or failed), `Ok(false)` when none waits, `Err`
    /// when the manager could not be asked or told.
    pub async fn run_once(&self) -> Result<bool, crate::core::ManagerError> {
        let Some(job) = self.jobs.allocate_unseal(self.spec.clone()).await? else {
            return Ok(false);
        };
        let (sector, piece) = (job.sector.id, job.piece);
        info!(%sector, %piece, bytes = job.len, "unseal job started");
        let result = self.run(&job).await;
        match &result {
            Ok(n) => info!(%sector, %piece, destinations = n, "unseal job done"),
            Err(e) => warn!(%sector, %piece, error = %e, "unseal job failed"),
        }
        self.jobs
            .achieve_unseal(sector, piece, result.err())
            .await?;
        Ok(true)
    }

    /// Runs jobs until dropped: one after another while they wait, asking
    /// again every `poll` when none does (or the manager cannot be
    /// reached).
    pub fn spawn(self, poll: Duration) -> tokio::task::JoinHandle<()> {
        // What a worker stopped mid-job left (its job is handed out again
        // after its lease).
        // Only the runner's own files (`<sector>-<piece>`, and its
        // `.part`): the spool may be a shared folder.
        if let Ok(entries) = std::fs::read_dir(&self.spool) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("s-t0") && name.contains("-baga") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        tokio::spawn(async move {
            loop {
                match self.run_once().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => warn!(error = %e, "cannot reach the manager for unseal jobs"),
                }
                tokio::time::sleep(poll).await;
            }
        })
    }

    /// Unseals the job's piece once and writes it to every destination;
    /// answers how many, or what failed.
    async fn run(&self, job: &UnsealAssignment) -> Result<usize, String> {
        let sector = job.sector.id;
        // A destination this worker cannot write fails the job before
        // hours of unsealing.
        for dest in &job.dests {
            self.check_destination(dest)?;
        }
        let files = self
            .sectors
            .locate(sector)
            .filter(|f| f.sealed.is_file())
            .ok_or_else(|| {
                format!(
                    "the sealed files of {sector} (persisted in {}) are in none of this worker's \
                     [unseal] stores",
                    job.instance
                )
            })?;
        let request = UnsealRequest {
            sector,
            seal_proof: job.sector.proof_type,
            files,
            comm_d: job.comm_d,
            ticket: job.ticket.ticket,
            offset: job.offset,
            len: job.len,
        };
        std::fs::create_dir_all(&self.spool)
            .map_err(|e| format!("creating the spool {}: {e}", self.spool.display()))?;
        let spooled = self.spool.join(format!("{sector}-{}", job.piece));
        let written = unseal_to_file(&*self.unsealer, &request, &spooled)
            .await
            .map_err(|e| format!("unsealing {}: {e}", job.piece))?;
        if written != job.len {
            let _ = std::fs::remove_file(&spooled);
            return Err(format!(
                "unsealed {written} bytes of {}, not {}",
                job.piece, job.len
            ));
        }
        // Asked now: a destination may have been added while unsealing.
        let result = match self.jobs.unseal_destinations(sector, job.piece).await {
            Ok(dests) if dests.is_empty() => Err("the job has no destination".to_string()),
            Ok(dests) => self.deliver(&request, &spooled, &dests).await,
            Err(e) => Err(format!("asking for the destinations: {e}")),
        };
        let _ = std::fs::remove_file(&spooled);
        result
    }

    /// Refuses a destination this worker cannot write: an object-store URL
    /// it has no store for (a scheme the build lacks), an HTTP URL that
    /// does not parse, a relative path.
    fn check_destination(&self, dest: &str) -> Result<(), String> {
        if let Some(object) = self.object_of(dest) {
            return object.map(drop);
        }
        if dest.starts_with("http://") || dest.starts_with("https://") {
            return HttpDestination::parse(dest)
                .map(drop)
                .map_err(|e| e.to_string());
        }
        let path = dest.strip_prefix("file://").unwrap_or(dest);
        if Path::new(path).is_absolute() {
            Ok(())
        } else {
            Err(format!(
                "{dest}: not an absolute path or a URL this worker writes"
            ))
        }
    }

    /// Writes the spooled piece to each of `dests`; every failure named.
    async fn deliver(
        &self,
        request: &UnsealRequest,
        spooled: &Path,
        dests: &[String],
    ) -> Result<usize, String> {
        let copy = Spooled(spooled.to_path_buf());
        let mut failed = Vec::new();
        for dest in dests {
            let written = if let Some(object) = self.object_of(dest) {
                match object {
                    Ok((store, key)) => upload_object(&*store, &key, spooled).await,
                    Err(e) => Err(e),
                }
            } else if dest.starts_with("http://") || dest.starts_with("https://") {
                match HttpDestination::parse(dest) {
                    Ok(to) => unseal_to_http(&copy, request, &to.with_spool_dir(&self.spool))
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            } else {
                let path = Path::new(dest.strip_prefix("file://").unwrap_or(dest));
                let made = match path.parent() {
                    Some(dir) => std::fs::create_dir_all(dir).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                match made {
                    Ok(()) => unseal_to_file(&copy, request, path)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = written {
                failed.push(format!("{dest}: {e}"));
            }
        }
        if failed.is_empty() {
            Ok(dests.len())
        } else {
            Err(failed.join("; "))
        }
    }
}

/// Uploads the file `from` as the object `key` of `store`, in parts, at
/// most 8 in flight (a 32GiB piece is never held in memory); an upload
/// that fails is aborted, so no partial object is left.
async fn upload_object(
    store: &dyn ObjectStore,
    key: &ObjectPath,
    from: &Path,
) -> Result<u64, String> {
    use tokio::io::AsyncReadExt;
    let fail = |e: &dyn std::fmt::Display| format!("{store} key {key}: {e}");
    let mut file = tokio::fs::File::open(from)
        .await
        .map_err(|e| format!("{}: {e}", from.display()))?;
    let upload = store.put_multipart(key).await.map_err(|e| fail(&e))?;
    let mut writer = object_store::WriteMultipart::new(upload);
    let mut buf = vec![0u8; 4 << 20];
    let mut sent = 0u64;
    loop {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(format!("{}: {e}", from.display()));
            }
        };
        if n == 0 {
            break;
        }
        // At most 8 parts in flight: the file is read no faster than the
        // store takes it.
        if let Err(e) = writer.wait_for_capacity(8).await {
            let _ = writer.abort().await;
            return Err(fail(&e));
        }
        writer.write(&buf[..n]);
        sent += n as u64;
    }
    writer.finish().await.map_err(|e| fail(&e))?;
    Ok(sent)
}

#[cfg(test)]
mod tests;
