use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::testing::FakeProofVerifier;

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

fn root() -> PathBuf {
    PathBuf::from("/mnt/nas-1")
}

fn sector(n: u64, upgrade: bool) -> ProvingSector {
    let id = SectorId::new(MINER, SectorNumber(n));
    let (sealed, cache) = keys(&id, upgrade);
    ProvingSector {
        sector: PoStSector {
            number: SectorNumber(n),
            seal_proof: PROOF,
            comm_r: CommR([n as u8; 32]),
            sector_key: upgrade.then_some(CommR([0xcc; 32])),
        },
        files: SectorFiles {
            sealed: root().join(sealed),
            cache: root().join(cache),
        },
    }
}

fn task(sectors: Vec<ProvingSector>) -> WindowPoSt {
    WindowPoSt {
        miner: MINER,
        deadline: 4,
        partition: 0,
        randomness: Randomness([9; 32]),
        sectors,
    }
}

fn quick() -> PoStJobSettings {
    PoStJobSettings {
        heartbeat_timeout: Duration::from_millis(300),
        max_tries: 2,
        pick_up_within: Duration::from_secs(30),
    }
}

fn queue(settings: PoStJobSettings) -> Arc<WindowPoStJobs> {
    Arc::new(
        WindowPoStJobs::new(vec![("nas-1".into(), root())], settings)
            .with_verifier(Arc::new(FakeProofVerifier)),
    )
}

/// The partition of `sectors` proven through `jobs`, waiting in a task.
fn in_background(
    jobs: &Arc<WindowPoStJobs>,
    sectors: Vec<ProvingSector>,
) -> tokio::task::JoinHandle<Result<WindowPoStOutput, StageError>> {
    let jobs = jobs.clone();
    tokio::spawn(async move { jobs.execute(task(sectors)).await })
}

/// Waits until the queue holds a job, and takes it as `worker`.
async fn take(jobs: &WindowPoStJobs, worker: &str) -> WindowPoStJob {
    for _ in 0..200 {
        let got = jobs
            .allocate_post_jobs(&PoStJobSpec::default(), 1, worker)
            .await
            .unwrap();
        if let Some(job) = got.into_iter().next() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no job queued");
}

/// The proof the fake verifier takes for the job's sectors less `faults`.
fn proof_of(job: &WindowPoStJob, faults: &[u64]) -> Vec<u8> {
    let sectors: Vec<PoStSector> = job
        .sectors
        .iter()
        .filter(|s| !faults.contains(&s.number.0))
        .map(|s| PoStSector {
            number: s.number,
            seal_proof: job.seal_proof,
            comm_r: s.comm_r,
            sector_key: None,
        })
        .collect();
    FakeProofVerifier::post_proof_for(job.miner, &job.randomness, &sectors).proof
}

#[tokio::test]
async fn a_partition_is_proven_by_the_worker_that_takes_its_job() {
    let jobs = queue(quick());
    let waiting = in_background(&jobs, vec![sector(1, false), sector(2, true)]);
    let job = take(&jobs, "w1").await;
    assert!(job.id.ends_with("-t01000-d4-p0"), "{}", job.id);
    assert_eq!(job.seal_proof, PROOF);
    assert_eq!(job.randomness, Randomness([9; 32]));
    assert_eq!(
        job.sectors[1],
        PoStJobSector {
            number: SectorNumber(2),
            comm_r: CommR([2; 32]),
            upgrade: true,
            sealed_store: "nas-1".into(),
            cache_store: "nas-1".into(),
        }
    );
    // Not handed out twice while it runs; other miners' or sizes' specs
    // never see it.
    assert!(jobs
        .allocate_post_jobs(&PoStJobSpec::default(), 4, "w2")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(jobs.jobs()[0].worker.as_deref(), Some("w1"));
    jobs.heartbeat_post_jobs(std::slice::from_ref(&job.id), "w1")
        .await
        .unwrap();
    let output = PoStJobOutput {
        proofs: vec![proof_of(&job, &[])],
        faults: Vec::new(),
    };
    jobs.finish_post_job(&job.id, Ok(output.clone()))
        .await
        .unwrap();
    let out = waiting.await.unwrap().unwrap();
    assert_eq!(out.proven, vec![SectorNumber(1), SectorNumber(2)]);
    assert!(out.skipped.is_empty());
    assert_eq!(out.proofs[0].post_proof, 10);
    assert_eq!(out.proofs[0].proof, output.proofs[0]);
    assert!(jobs.jobs().is_empty());
    // The job is over: a late result or heartbeat is refused.
    let late = jobs.finish_post_job(&job.id, Ok(output)).await.unwrap_err();
    assert!(matches!(late, ManagerError::Rejected(_)), "{late}");
    let beat = jobs.heartbeat_post_jobs(&[job.id], "w1").await.unwrap_err();
    assert!(beat.to_string().contains("not running"), "{beat}");
}

#[test]
fn specs_select_by_miner_and_sector_size() {
    let job = WindowPoStJob {
        id: "j".into(),
        miner: MINER,
        seal_proof: PROOF,
        randomness: Randomness([0; 32]),
        sectors: Vec::new(),
    };
    let spec = |miners: Option<Vec<u64>>, sizes: Option<Vec<u64>>| PoStJobSpec {
        miners: miners.map(|m| m.into_iter().map(ActorId).collect()),
        sector_sizes: sizes.map(|s| s.into_iter().map(SectorSize).collect()),
    };
    assert!(spec(None, None).allows(&job));
    assert!(spec(Some(vec![1000]), Some(vec![2048])).allows(&job));
    assert!(!spec(Some(vec![1001]), None).allows(&job));
    assert!(!spec(None, Some(vec![32 << 30])).allows(&job));
    assert!(!spec(None, Some(vec![])).allows(&job));
}

#[tokio::test]
async fn faults_are_skipped_and_a_faults_only_answer_proves_none() {
    let jobs = queue(quick());
    // Damocles' shape: the faults, no proofs.
    let waiting = in_background(&jobs, vec![sector(1, false), sector(2, false)]);
    let job = take(&jobs, "w1").await;
    let faults_only = PoStJobOutput {
        proofs: Vec::new(),
        faults: vec![SectorNumber(2)],
    };
    jobs.finish_post_job(&job.id, Ok(faults_only))
        .await
        .unwrap();
    let out = waiting.await.unwrap().unwrap();
    assert!(out.proofs.is_empty() && out.proven.is_empty(), "{out:?}");
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(out.skipped[0].number, SectorNumber(2));

    // Ours: the proof of the rest beside the faults.
    let waiting = in_background(&jobs, vec![sector(1, false), sector(2, false)]);
    let job = take(&jobs, "w1").await;
    let both = PoStJobOutput {
        proofs: vec![proof_of(&job, &[2])],
        faults: vec![SectorNumber(2)],
    };
    jobs.finish_post_job(&job.id, Ok(both)).await.unwrap();
    let out = waiting.await.unwrap().unwrap();
    assert_eq!(out.proven, vec![SectorNumber(1)]);
    assert_eq!(out.skipped[0].number, SectorNumber(2));
}

#[tokio::test]
async fn a_bad_proof_a_failure_or_a_silent_worker_costs_a_try_and_the_last_fails_the_partition() {
    let jobs = queue(PoStJobSettings {
        max_tries: 3,
        ..quick()
    });
    let waiting = in_background(&jobs, vec![sector(1, false)]);
    // Try 1: a proof that does not verify is refused, the job queued again.
    let job = take(&jobs, "w1").await;
    let bad = PoStJobOutput {
        proofs: vec![vec![0; 32]],
        faults: Vec::new(),
    };
    jobs.finish_post_job(&job.id, Ok(bad)).await.unwrap();
    // Try 2: the worker stops beating; another takes the job over.
    let again = take(&jobs, "w2").await;
    assert_eq!(again.id, job.id);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let brief = &jobs.jobs()[0];
    assert!(brief.worker.is_none(), "{brief:?}");
    let late = jobs
        .heartbeat_post_jobs(std::slice::from_ref(&job.id), "w2")
        .await;
    assert!(late.is_err(), "a swept try's heartbeat is refused");
    // Try 3: the worker fails.
    let third = take(&jobs, "w3").await;
    jobs.finish_post_job(&third.id, Err("GPU fell off the bus".into()))
        .await
        .unwrap();
    let err = waiting.await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StageError::Computation(_)), "{err:?}");
    for reason in [
        "does not verify",
        "no heartbeat from w2",
        "GPU fell off the bus",
    ] {
        assert!(text.contains(reason), "{text}");
    }
    assert!(jobs.jobs().is_empty());
}

#[tokio::test]
async fn a_job_nobody_takes_fails_the_partition_as_unavailable() {
    let jobs = queue(PoStJobSettings {
        pick_up_within: Duration::from_millis(200),
        ..quick()
    });
    let err = jobs
        .execute(task(vec![sector(1, false)]))
        .await
        .unwrap_err();
    assert!(matches!(err, StageError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("no proving worker took"), "{err}");
    assert!(jobs.jobs().is_empty());
}

#[tokio::test]
async fn a_partition_that_stops_waiting_withdraws_its_job() {
    let jobs = queue(quick());
    let waiting = in_background(&jobs, vec![sector(1, false)]);
    let job = take(&jobs, "w1").await;
    waiting.abort();
    let _ = waiting.await;
    assert!(jobs.jobs().is_empty());
    let refused = jobs
        .finish_post_job(&job.id, Ok(PoStJobOutput::default()))
        .await
        .unwrap_err();
    assert!(matches!(refused, ManagerError::Rejected(_)), "{refused}");
}

#[tokio::test]
async fn sectors_outside_the_named_stores_are_skipped_naming_why() {
    let jobs = queue(quick());
    let mut elsewhere = sector(3, false);
    elsewhere.files.sealed = PathBuf::from("/scratch/s-t01000-3");
    // Only that sector: no job at all.
    let out = jobs.execute(task(vec![elsewhere.clone()])).await.unwrap();
    assert!(out.proofs.is_empty() && out.proven.is_empty());
    assert!(
        out.skipped[0].reason.contains("/scratch/s-t01000-3"),
        "{out:?}"
    );
    assert!(
        out.skipped[0].reason.contains("[[persist_stores]]"),
        "{out:?}"
    );
    assert!(jobs.jobs().is_empty());
    // Beside another: the job holds the other one.
    let waiting = in_background(&jobs, vec![sector(1, false), elsewhere]);
    let job = take(&jobs, "w1").await;
    assert_eq!(job.sectors.len(), 1);
    let output = PoStJobOutput {
        proofs: vec![proof_of(&job, &[])],
        faults: Vec::new(),
    };
    jobs.finish_post_job(&job.id, Ok(output)).await.unwrap();
    let out = waiting.await.unwrap().unwrap();
    assert_eq!(out.proven, vec![SectorNumber(1)]);
    assert_eq!(out.skipped[0].number, SectorNumber(3));
}

/// Proves as the fake verifier expects, skipping `faulty` sectors, and
/// records the stages it was given.
#[derive(Debug, Default)]
struct FakeProver {
    faulty: Vec<u64>,
    delay: Duration,
    seen: Mutex<Vec<WindowPoSt>>,
}

#[async_trait]
impl Executor<WindowPoSt> for FakeProver {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        tokio::time::sleep(self.delay).await;
        self.seen.lock().unwrap().push(task.clone());
        let (bad, good): (Vec<_>, Vec<_>) = task
            .sectors
            .iter()
            .partition(|s| self.faulty.contains(&s.sector.number.0));
        let good: Vec<PoStSector> = good.iter().map(|s| s.sector).collect();
        Ok(WindowPoStOutput {
            proofs: vec![FakeProofVerifier::post_proof_for(
                task.miner,
                &task.randomness,
                &good,
            )],
            proven: good.iter().map(|s| s.number).collect(),
            skipped: bad
                .iter()
                .map(|s| SkippedSector {
                    number: s.sector.number,
                    reason: "tree-r-last missing".into(),
                })
                .collect(),
        })
    }
}

#[tokio::test]
async fn the_worker_proves_a_job_from_its_own_mounts_and_beats_while_it_runs() {
    let jobs = queue(quick());
    let prover = Arc::new(FakeProver {
        faulty: vec![2],
        // Longer than the heartbeat timeout: only the beats keep the job.
        delay: Duration::from_millis(900),
        ..Default::default()
    });
    let worker = PoStJobWorker::new(
        jobs.clone(),
        prover.clone(),
        BTreeMap::from([("nas-1".to_string(), PathBuf::from("/data/nas1"))]),
        PoStJobSpec::default(),
        "w1",
    )
    .with_heartbeat(Duration::from_millis(100));
    assert_eq!(worker.run_once().await.unwrap(), PoStJobRun::NoJob);
    let waiting = in_background(
        &jobs,
        vec![sector(1, false), sector(2, false), sector(3, true)],
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let run = worker.run_once().await.unwrap();
    let PoStJobRun::Finished { proofs, faults, .. } = run else {
        panic!("{run:?}");
    };
    assert_eq!((proofs, faults), (1, vec![SectorNumber(2)]));
    let out = waiting.await.unwrap().unwrap();
    assert_eq!(out.proven, vec![SectorNumber(1), SectorNumber(3)]);
    assert_eq!(out.skipped[0].number, SectorNumber(2));
    // The worker's paths are its own mounts, in the persist layout.
    let seen = prover.seen.lock().unwrap();
    let files = &seen[0].sectors[2].files;
    assert_eq!(files.sealed, PathBuf::from("/data/nas1/update/s-t01000-3"));
    assert_eq!(
        files.cache,
        PathBuf::from("/data/nas1/update-cache/s-t01000-3")
    );
    assert_eq!(
        seen[0].sectors[0].files.cache,
        PathBuf::from("/data/nas1/cache/s-t01000-1")
    );
}

#[tokio::test]
async fn a_worker_without_the_named_store_fails_the_try_naming_it() {
    let jobs = queue(quick());
    let worker = PoStJobWorker::new(
        jobs.clone(),
        Arc::new(FakeProver::default()),
        BTreeMap::new(),
        PoStJobSpec::default(),
        "w1",
    );
    let waiting = in_background(&jobs, vec![sector(1, false)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let PoStJobRun::Failed(reason) = worker.run_once().await.unwrap() else {
        panic!("expected a failure");
    };
    assert!(
        reason.contains("\"nas-1\" is not attached here"),
        "{reason}"
    );
    // Queued again for a worker that has it.
    assert_eq!(jobs.jobs()[0].tries, 1);
    assert!(jobs.jobs()[0].errors[0].contains("nas-1"));
    waiting.abort();
}

#[tokio::test]
async fn a_heartbeat_from_another_worker_is_refused() {
    let jobs = queue(quick());
    let waiting = in_background(&jobs, vec![sector(1, false)]);
    let job = take(&jobs, "w1").await;
    let err = jobs
        .heartbeat_post_jobs(std::slice::from_ref(&job.id), "w2")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("running on w1, not w2"), "{err}");
    jobs.heartbeat_post_jobs(std::slice::from_ref(&job.id), "w1")
        .await
        .unwrap();
    assert_eq!(jobs.jobs()[0].worker.as_deref(), Some("w1"));
    waiting.abort();
}

/// A worker whose job is withdrawn (its partition stopped waiting) stops
/// proving at its next refused beat instead of running to the end.
#[tokio::test]
async fn a_worker_stops_when_its_job_is_withdrawn() {
    let jobs = queue(quick());
    let worker = PoStJobWorker::new(
        jobs.clone(),
        Arc::new(FakeProver {
            delay: Duration::from_secs(30),
            ..Default::default()
        }),
        BTreeMap::from([("nas-1".to_string(), root())]),
        PoStJobSpec::default(),
        "w1",
    )
    .with_heartbeat(Duration::from_millis(50));
    let waiting = in_background(&jobs, vec![sector(1, false)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let run = tokio::spawn(async move { worker.run_once().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    waiting.abort();
    let run = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the worker went on proving a withdrawn job")
        .unwrap()
        .unwrap();
    let PoStJobRun::Failed(reason) = run else {
        panic!("{run:?}");
    };
    assert!(reason.contains("not running"), "{reason}");
}

/// A worker that cannot prove a job (here: a store it does not mount)
/// fails one try and waits its poll before asking again, so the job goes
/// to a worker that can; asking again at once would burn every try.
#[tokio::test]
async fn a_failing_worker_leaves_the_job_to_another() {
    let jobs = queue(PoStJobSettings {
        max_tries: 3,
        ..quick()
    });
    let worker = |name: &str, stores: BTreeMap<String, PathBuf>| {
        PoStJobWorker::new(
            jobs.clone(),
            Arc::new(FakeProver::default()),
            stores,
            PoStJobSpec::default(),
            name,
        )
    };
    let waiting = in_background(&jobs, vec![sector(1, false)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let blind = worker("blind", BTreeMap::new()).spawn(Duration::from_millis(400));
    for _ in 0..100 {
        if jobs.jobs().first().is_some_and(|j| j.tries >= 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let able = worker("able", BTreeMap::from([("nas-1".to_string(), root())]))
        .spawn(Duration::from_millis(50));
    let out = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(out.proven, vec![SectorNumber(1)]);
    blind.abort();
    able.abort();
}

#[tokio::test]
async fn jobs_are_handed_out_oldest_first() {
    let jobs = queue(quick());
    let mut waiting = Vec::new();
    for partition in [2u64, 10, 1] {
        let jobs = jobs.clone();
        waiting.push(tokio::spawn(async move {
            jobs.execute(WindowPoSt {
                partition,
                ..task(vec![sector(partition, false)])
            })
            .await
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(take(&jobs, "w1").await.sectors[0].number.0);
    }
    assert_eq!(order, vec![2, 10, 1]);
    waiting.iter().for_each(|w| w.abort());
}
