//! Submission bodies, apart from HTTP: zstd decompression within a limit
//! and the C2 task's JSON. Plain functions of bytes, so that the fuzz
//! target `c2_body` runs exactly this code.

use venus_seal_core::stage::C2;

/// Decompresses at most `limit` bytes: `Err(None)` if there are more.
pub(crate) fn unzstd(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Option<std::io::Error>> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(compressed).map_err(Some)?;
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Some)?;
    if out.len() > limit {
        return Err(None);
    }
    Ok(out)
}

/// The C2 task a submission body holds, or what is wrong with it.
pub(crate) fn parse_task(bytes: &[u8]) -> Result<C2, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "malformed C2 task: {e} (expected {{\"proof\": \"StackedDrg…\", \"sector\": \
             {{\"Miner\": …, \"Number\": …}}, \"c1_output\": {{…}}}})"
        )
    })
}
