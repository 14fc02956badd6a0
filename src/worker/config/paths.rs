//! Resolving a worker config's relative paths against its file's folder.

use std::path::{Path, PathBuf};

use super::{ManagerSection, WorkerConfig};
use crate::backends::pieces::PieceStoreConfig;
use crate::runtime::resolve_relative as resolve;

/// A program path: joined to `base` only when it names a folder (`bin =
/// "./ext-processor"`, `bin = "target/release/x"`); a bare name
/// (`bin = "ext-processor"`) is looked up on `PATH` as before.
fn resolve_program(base: &Path, program: &mut PathBuf) {
    if program.components().count() > 1 {
        resolve(base, program);
    }
}

impl WorkerConfig {
    /// Makes every relative path in the config relative to `base` (the
    /// config file's folder; [`WorkerConfig::load`] calls it): the state
    /// database, the admin secret, the manager's state folder or token, the
    /// sealing and persist folders, the piece folders and token, the C2
    /// service token, the unseal stores and spool, ext processor programs
    /// that name a folder, and the test hooks' files. Absolute paths and URLs are left as they are.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve(base, &mut self.worker.state_db);
        resolve(base, &mut self.admin.secret_file);
        match &mut self.manager {
            ManagerSection::EmbeddedDevnet { state_dir, .. } => resolve(base, state_dir),
            ManagerSection::Remote {
                token_file: Some(token_file),
                ..
            } => resolve(base, token_file),
            ManagerSection::Remote {
                token_file: None, ..
            } => {}
        }
        for s in &mut self.sealing {
            resolve(base, &mut s.path);
        }
        for p in &mut self.persist {
            if let Some(path) = &mut p.path {
                resolve(base, path);
            }
        }
        match &mut self.pieces {
            Some(PieceStoreConfig::Local { dirs }) => {
                dirs.iter_mut().for_each(|d| resolve(base, d));
            }
            Some(store) => {
                if let Some(token_file) = store.token_file_mut() {
                    resolve(base, token_file);
                }
            }
            None => {}
        }
        if let Some(c2) = &mut self.c2_service {
            resolve(base, &mut c2.token_file);
        }
        if let Some(dir) = self.rebuild.as_mut().and_then(|r| r.dir.as_mut()) {
            resolve(base, dir);
        }
        if let Some(s) = &mut self.snap_up {
            if let Some(dir) = &mut s.dir {
                resolve(base, dir);
            }
            s.stores.iter_mut().for_each(|d| resolve(base, d));
        }
        if let Some(w) = &mut self.window_post {
            w.stores.values_mut().for_each(|d| resolve(base, d));
        }
        if let Some(u) = &mut self.unseal {
            u.stores.iter_mut().for_each(|d| resolve(base, d));
            if let Some(spool) = &mut u.spool {
                resolve(base, spool);
            }
        }
        let p = &mut self.processors;
        for processor in p
            .add_pieces
            .iter_mut()
            .chain(&mut p.tree_d)
            .chain(&mut p.pc1)
            .chain(&mut p.pc2)
            .chain(&mut p.c1)
            .chain(&mut p.c2)
        {
            resolve_program(base, &mut processor.bin);
        }
        let t = &mut self.testing;
        for path in t.marker_dir.iter_mut().chain(&mut t.stage_log) {
            resolve(base, path);
        }
    }
}
