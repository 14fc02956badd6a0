//! The `gpu` lock shared by c2 and window_post: a waiting WindowPoSt is
//! granted it before the C2s queued earlier, without preempting the C2
//! that holds it. Driven by channels, no clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{Limits, StageLimit, StageLoad};
use crate::error::StageError;
use crate::executor::Executor;
use crate::proving::WindowPoStOutput;
use crate::stage::{Opaque, Proof, WindowPoSt, C2};
use crate::types::ids::{ActorId, SectorId, SectorNumber};
use crate::types::proof::SealProof;
use crate::types::randomness::Randomness;

/// Reports each task as it starts (its name and a sender that finishes
/// it), then runs until the test finishes it.
#[derive(Debug)]
struct Scripted(mpsc::UnboundedSender<(String, oneshot::Sender<()>)>);

impl Scripted {
    async fn run(&self, name: String) {
        let (done, wait) = oneshot::channel();
        self.0.send((name, done)).unwrap();
        wait.await.unwrap();
    }
}

#[async_trait]
impl Executor<C2> for Scripted {
    async fn execute(&self, task: C2) -> Result<Proof, StageError> {
        self.run(format!("c2-{}", task.sector.number.0)).await;
        Ok(Proof { proof: vec![] })
    }
}

#[async_trait]
impl Executor<WindowPoSt> for Scripted {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        self.run(format!("window_post-{}", task.deadline)).await;
        Ok(WindowPoStOutput::default())
    }
}

fn c2(n: u64) -> C2 {
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(n)),
        c1_output: Opaque::encode(&()).unwrap(),
    }
}

fn window_post(deadline: u64) -> WindowPoSt {
    WindowPoSt {
        miner: ActorId(1000),
        deadline,
        partition: 0,
        randomness: Randomness([0; 32]),
        sectors: vec![],
    }
}

/// `c2` and `window_post` share `gpu`; window_post at `priority`.
fn gpu_limits(priority: u8) -> Arc<Limits> {
    let gpu = || vec!["gpu".to_string()];
    let stages = BTreeMap::from([
        (
            "c2".to_string(),
            StageLimit {
                locks: gpu(),
                ..StageLimit::default()
            },
        ),
        (
            "window_post".to_string(),
            StageLimit {
                locks: gpu(),
                priority,
                ..StageLimit::default()
            },
        ),
    ]);
    Limits::new(stages, BTreeMap::new())
}

async fn waiting_for_gpu(limits: &Limits, n: usize) {
    loop {
        let gpu = limits
            .occupancy()
            .into_iter()
            .find(|o| o.name == "lock:gpu")
            .expect("the gpu lock");
        if gpu.waiting == n {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Runs C2 1 (holding the GPU), queues C2 2 and 3, then a WindowPoSt;
/// finishes each task as it starts and returns the start order.
async fn start_order(priority: u8) -> Vec<String> {
    let limits = gpu_limits(priority);
    let (tx, mut started) = mpsc::unbounded_channel();
    let exec = Arc::new(Scripted(tx));
    let c2_exec = Arc::new(limits.wrap::<C2, _>(exec.clone()));
    let post_exec = Arc::new(limits.wrap::<WindowPoSt, _>(exec));
    let mut order = Vec::new();

    let mut tasks = tokio::task::JoinSet::new();
    let spawn_c2 = |tasks: &mut tokio::task::JoinSet<()>, n| {
        let e = c2_exec.clone();
        tasks.spawn(async move {
            e.execute(c2(n)).await.unwrap();
        });
    };
    spawn_c2(&mut tasks, 1);
    let (name, first) = started.recv().await.unwrap();
    order.push(name);
    spawn_c2(&mut tasks, 2);
    waiting_for_gpu(&limits, 1).await;
    spawn_c2(&mut tasks, 3);
    waiting_for_gpu(&limits, 2).await;
    let e = post_exec.clone();
    tasks.spawn(async move {
        e.execute(window_post(7)).await.unwrap();
    });
    waiting_for_gpu(&limits, 3).await;
    // Each stage's load, as the worker's ping carries it.
    let load = |stage: &str, running, waiting| StageLoad {
        stage: stage.into(),
        running,
        waiting,
        limit: None,
    };
    assert_eq!(
        limits.stage_loads(),
        vec![load("c2", 1, 2), load("window_post", 0, 1)]
    );
    // The running C2 is not preempted.
    assert!(started.try_recv().is_err());
    first.send(()).unwrap();
    for _ in 0..3 {
        let (name, done) = started.recv().await.unwrap();
        order.push(name);
        done.send(()).unwrap();
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    assert_eq!(
        limits.stage_loads(),
        vec![load("c2", 0, 0), load("window_post", 0, 0)]
    );
    order
}

/// A stage with a `[limits]` entry shows its limit before it ever ran.
#[test]
fn a_limited_stage_has_a_load_before_it_runs() {
    let stages = BTreeMap::from([(
        "pc1".to_string(),
        StageLimit {
            concurrent: Some(4),
            ..StageLimit::default()
        },
    )]);
    let limits = Limits::new(stages, BTreeMap::new());
    assert_eq!(
        limits.stage_loads(),
        vec![StageLoad {
            stage: "pc1".into(),
            running: 0,
            waiting: 0,
            limit: Some(4),
        }]
    );
}

#[tokio::test]
async fn a_waiting_window_post_takes_the_gpu_before_queued_c2s() {
    assert_eq!(
        start_order(1).await,
        ["c2-1", "window_post-7", "c2-2", "c2-3"]
    );
}

#[tokio::test]
async fn without_priority_the_gpu_goes_in_arrival_order() {
    assert_eq!(
        start_order(0).await,
        ["c2-1", "c2-2", "c2-3", "window_post-7"]
    );
}
