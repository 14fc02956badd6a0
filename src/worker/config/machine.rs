//! Checking a worker config against the machine it runs on.

use std::path::Path;

use anyhow::{bail, Context};

use super::WorkerConfig;

impl WorkerConfig {
    /// Checks the config against this machine: paths exist (created when
    /// missing) and are writable, with room for the slots.
    pub fn check_machine(&self) -> anyhow::Result<()> {
        for (i, s) in self.sealing.iter().enumerate() {
            writable(&s.path).with_context(|| format!("sealing[{i}].path"))?;
            let proof = self.manager.proof();
            // A sector needs its staged and sealed files plus the cache:
            // about 12x the sector size with every layer kept.
            let need = proof.sector_size().0.saturating_mul(12) * s.slots as u64;
            let free = fs_free(&s.path)?;
            if free < need {
                bail!(
                    "sealing[{i}].path {}: {} free, {} slots of {} need about {need} bytes",
                    s.path.display(),
                    free,
                    s.slots,
                    proof.sector_size()
                );
            }
        }
        for (i, p) in self.persist.iter().enumerate() {
            if let Some(path) = &p.path {
                writable(path).with_context(|| format!("persist[{i}].path"))?;
            }
        }
        if let Some(dir) = self.worker.state_db.parent() {
            writable(dir).context("worker.state_db")?;
        }
        Ok(())
    }
}

fn writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join(".venus-seal-write-probe");
    std::fs::write(&probe, b"ok").with_context(|| format!("{} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

fn fs_free(dir: &Path) -> anyhow::Result<u64> {
    fs4::available_space(dir).with_context(|| format!("free space of {}", dir.display()))
}
