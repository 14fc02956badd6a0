//! Reading sector rows and their large outputs back from SQLite.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::SectorStoreError;
use crate::error::{Failure, FailureLevel};
use crate::sector::{SectorRecord, SectorState};
use crate::stage::Opaque;

pub(super) fn err(what: &str, e: impl std::fmt::Display) -> SectorStoreError {
    SectorStoreError(format!("{what}: {e}"))
}

/// The large outputs of some jobs: `(job, name) -> JSON`.
pub(super) type Outputs = HashMap<(u64, String), Vec<u8>>;

/// Decodes a `(job, state, record)` row. A record that does not decode
/// comes back parked with a Critical failure naming the problem.
pub(super) fn decode(row: &SqliteRow) -> Result<SectorRecord, SectorStoreError> {
    let job: i64 = row.try_get("job").map_err(|e| err("reading job", e))?;
    let state: String = row.try_get("state").map_err(|e| err("reading state", e))?;
    let json: String = row
        .try_get("record")
        .map_err(|e| err("reading record", e))?;
    Ok(match serde_json::from_str::<SectorRecord>(&json) {
        Ok(rec) => rec,
        Err(e) => corrupt(job as u64, &state, e),
    })
}

fn corrupt(job: u64, state: &str, e: impl std::fmt::Display) -> SectorRecord {
    let mut rec = SectorRecord::new(job);
    rec.state = state.parse().unwrap_or(SectorState::Empty);
    rec.paused = true;
    rec.failure = Some(Failure::new(
        FailureLevel::Critical,
        format!("persisted record of job {job} (state {state}) is corrupt: {e}"),
    ));
    tracing::error!(job, state, error = %e, "corrupt sector record");
    rec
}

/// Decodes `(job, name, data)` rows.
pub(super) fn outputs(rows: Vec<SqliteRow>) -> Result<Outputs, SectorStoreError> {
    rows.into_iter()
        .map(|row| {
            let job: i64 = row.try_get("job").map_err(|e| err("reading job", e))?;
            let name: String = row.try_get("name").map_err(|e| err("reading name", e))?;
            let data: Vec<u8> = row.try_get("data").map_err(|e| err("reading data", e))?;
            Ok(((job as u64, name), data))
        })
        .collect()
}

/// Puts the stored large outputs of `rec` back into it (a record written
/// before outputs moved out of the row keeps the ones it holds inline). An
/// output that does not decode parks the record, Critical.
pub(super) fn attach(rec: &mut SectorRecord, outputs: &mut Outputs) {
    for name in super::LargeOutputs::NAMES {
        let Some(data) = outputs.remove(&(rec.job, name.to_string())) else {
            continue;
        };
        let decoded = String::from_utf8(data)
            .map_err(|e| e.to_string())
            .and_then(|json| Opaque::from_json(json).map_err(|e| e.to_string()));
        match decoded {
            Ok(value) => {
                if let Some(field) = super::LargeOutputs::field_mut(rec, name) {
                    *field = Some(value);
                }
            }
            Err(e) => {
                tracing::error!(job = rec.job, output = name, error = %e, "corrupt stage output");
                rec.paused = true;
                rec.failure = Some(Failure::new(
                    FailureLevel::Critical,
                    format!(
                        "persisted {name} of job {} (state {}) is corrupt: {e}",
                        rec.job, rec.state
                    ),
                ));
            }
        }
    }
}
