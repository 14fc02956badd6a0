//! The workers' pings as the manager last heard them: `Venus.WorkerPing`
//! records one, damocles' `Venus.WorkerPingInfoList` and
//! `Venus.WorkerGetPingInfo` read them back in damocles-manager's
//! `core.WorkerPingInfo` shape (`damocles-manager/core/worker.go`,
//! ipfs-force-community/damocles commit
//! ad2e64f87a26d0a529eab94ffbf21c5776fe6d01: `Info` and `LastPing`, unix
//! seconds), for operators and for alerts on a worker not seen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::WorkerInfo;

/// One worker's last ping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerPingInfo {
    /// What the worker said.
    pub info: WorkerInfo,
    /// When, in seconds since the Unix epoch.
    pub last_ping: i64,
}

/// The last ping of every worker, by name; cheap to clone (one shared
/// table). In memory: a restarted manager knows each worker again at its
/// next ping (every 30 s).
#[derive(Clone, Debug, Default)]
pub struct WorkerPings(Arc<Mutex<BTreeMap<String, WorkerPingInfo>>>);

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
        table.insert(
            info.name.clone(),
            WorkerPingInfo {
                info,
                last_ping: unix,
            },
        );
    }

    /// Every worker's last ping, by name.
    pub fn list(&self) -> Vec<WorkerPingInfo> {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.values().cloned().collect()
    }

    /// `name`'s last ping, if it ever pinged.
    pub fn get(&self, name: &str) -> Option<WorkerPingInfo> {
        let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        table.get(name).cloned()
    }
}
