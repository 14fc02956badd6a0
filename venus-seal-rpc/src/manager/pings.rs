//! The workers' pings as the manager last heard them: `Venus.WorkerPing`
//! records one, damocles' `Venus.WorkerPingInfoList` and
//! `Venus.WorkerGetPingInfo` read them back in damocles-manager's
//! `core.WorkerPingInfo` shape (`damocles-manager/core/worker.go`,
//! ipfs-force-community/damocles commit
//! ad2e64f87a26d0a529eab94ffbf21c5776fe6d01: `Info` and `LastPing`, unix
//! seconds), for operators and for alerts on a worker not seen.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::WorkerInfo;
use venus_seal_core::engine::limits::StageLoad;

/// One worker's last ping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerPingInfo {
    /// What the worker said.
    pub info: WorkerInfo,
    /// When, in seconds since the Unix epoch.
    pub last_ping: i64,
}

/// The last ping of every worker, by name, and the stage loads of its
/// pings over the last [`UTILISATION_WINDOW`]; cheap to clone (one shared
/// table). In memory: a restarted manager knows each worker again at its
/// next ping (every 30 s).
#[derive(Clone, Debug, Default)]
pub struct WorkerPings(Arc<Mutex<BTreeMap<String, Heard>>>);

/// How far back [`WorkerPings::utilisation`] averages: one hour (120
/// pings at damocles' 30 s).
pub const UTILISATION_WINDOW: i64 = 3600;

/// The most pings kept per worker (two an hour's worth at damocles' 30 s):
/// a worker pinging in a loop costs no more memory than that.
const MAX_SAMPLES: usize = 240;

/// One worker as heard.
#[derive(Debug)]
struct Heard {
    last: WorkerPingInfo,
    /// (unix seconds, the ping's stage loads), oldest first.
    samples: VecDeque<(i64, Vec<StageLoad>)>,
}

/// How busy one stage of a worker was over the pings of a window
/// ([`WorkerPings::utilisation`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StageUtilisation {
    /// The stage.
    pub stage: String,
    /// Its tasks running, on average over the pings.
    pub mean_running: f64,
    /// Its tasks waiting for a permit or a lock, on average.
    pub mean_waiting: f64,
    /// Its limit at the last ping (`None`: unlimited).
    pub limit: Option<usize>,
    /// How many pings the averages are over.
    pub pings: usize,
}

impl StageUtilisation {
    /// The mean running tasks as a share of the limit, in percent (`None`
    /// for an unlimited stage).
    pub fn percent(&self) -> Option<f64> {
        self.limit
            .filter(|l| *l > 0)
            .map(|l| (self.mean_running * 100.0 / l as f64).min(100.0))
    }
}

impl WorkerPings {
    /// Records `info` as heard now.
    pub fn record(&self, info: WorkerInfo) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.record_at(info, now);
    }

    /// Records `info` as heard at `unix` seconds.
    pub fn record_at(&self, info: WorkerInfo, unix: i64) {
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let stages = info.stages.clone();
        let heard = table.entry(info.name.clone()).or_insert_with(|| Heard {
            last: WorkerPingInfo {
                info: WorkerInfo::default(),
                last_ping: unix,
            },
            samples: VecDeque::new(),
        });
        heard.last = WorkerPingInfo {
            info,
            last_ping: unix,
        };
        heard.samples.push_back((unix, stages));
        while heard
            .samples
            .front()
            .is_some_and(|(t, _)| unix - t > UTILISATION_WINDOW)
            || heard.samples.len() > MAX_SAMPLES
        {
            heard.samples.pop_front();
        }
    }

    /// Every worker's last ping, by name.
    pub fn list(&self) -> Vec<WorkerPingInfo> {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.values().map(|h| h.last.clone()).collect()
    }

    /// `name`'s last ping, if it ever pinged.
    pub fn get(&self, name: &str) -> Option<WorkerPingInfo> {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.get(name).map(|h| h.last.clone())
    }

    /// How busy each stage of `name` was over its pings of the last
    /// [`UTILISATION_WINDOW`] before `now` (unix seconds), by stage: a
    /// stage missing from a ping counts as idle in it. Empty for a worker
    /// that sends no stage loads (a damocles-worker).
    pub fn utilisation(&self, name: &str, now: i64) -> Vec<StageUtilisation> {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(heard) = table.get(name) else {
            return Vec::new();
        };
        let recent: Vec<_> = heard
            .samples
            .iter()
            .filter(|(t, _)| now - t <= UTILISATION_WINDOW)
            .collect();
        let mut sums: BTreeMap<&str, (usize, usize, Option<usize>)> = BTreeMap::new();
        for (_, loads) in &recent {
            for l in loads {
                let sum = sums.entry(&l.stage).or_default();
                sum.0 += l.running;
                sum.1 += l.waiting;
                sum.2 = l.limit;
            }
        }
        let pings = recent.len();
        sums.into_iter()
            .map(|(stage, (running, waiting, limit))| StageUtilisation {
                stage: stage.to_string(),
                mean_running: running as f64 / pings as f64,
                mean_waiting: waiting as f64 / pings as f64,
                limit,
                pings,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(at: i64, pc1: usize, c2: usize, pings: &WorkerPings) {
        let load = |stage: &str, running, limit| StageLoad {
            stage: stage.into(),
            running,
            waiting: 0,
            limit,
        };
        let mut stages = vec![load("pc1", pc1, Some(4))];
        if c2 > 0 {
            stages.push(load("c2", c2, None));
        }
        let info = WorkerInfo {
            name: "w1".into(),
            stages,
            ..WorkerInfo::default()
        };
        pings.record_at(info, at);
    }

    /// Averages over the pings of the last hour; a stage missing from a
    /// ping was idle in it; older pings fall out of the window.
    #[test]
    fn utilisation_averages_the_last_hours_pings() {
        let pings = WorkerPings::default();
        ping(0, 4, 0, &pings); // falls out of the window below
        ping(1000, 1, 1, &pings);
        ping(2000, 2, 0, &pings);
        ping(3000, 3, 0, &pings);
        ping(4000, 2, 1, &pings);
        let u = pings.utilisation("w1", 4000);
        assert_eq!(u.len(), 2, "{u:?}");
        let (c2, pc1) = (&u[0], &u[1]);
        assert_eq!((pc1.stage.as_str(), pc1.pings), ("pc1", 4));
        assert_eq!(pc1.mean_running, 2.0);
        assert_eq!(pc1.percent(), Some(50.0));
        assert_eq!(c2.stage, "c2");
        assert_eq!(c2.mean_running, 0.5);
        assert_eq!(c2.percent(), None);
        assert!(pings.utilisation("w2", 4000).is_empty());
        assert_eq!(pings.get("w1").unwrap().last_ping, 4000);
        // Read an hour after the last ping, nothing is left.
        assert!(pings
            .utilisation("w1", 4000 + UTILISATION_WINDOW + 1)
            .is_empty());
    }
}
