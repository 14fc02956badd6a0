//! Reading HTTP bodies within a limit, so that an error page, a proxy's
//! HTML or a misbehaving server cannot make a client buffer gigabytes.

/// How much of an error answer's body is read and quoted.
pub(crate) const ERROR_BODY_LIMIT: usize = 4096;

/// At most `limit` bytes of `resp`'s body, and whether there was more (the
/// rest is not read: the connection is dropped with the response).
pub(crate) async fn read_limited(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The text of an error answer, for a message: at most
/// [`ERROR_BODY_LIMIT`] bytes, lossy UTF-8, trimmed, ending in
/// `… (truncated)` when cut; what a failed read got (with the reason).
pub(crate) async fn error_text(mut resp: reqwest::Response) -> String {
    match read_limited(&mut resp, ERROR_BODY_LIMIT).await {
        Ok((bytes, truncated)) => {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            if truncated {
                format!("{text}… (truncated at {ERROR_BODY_LIMIT} bytes)")
            } else {
                text.to_string()
            }
        }
        Err(e) => format!("(the body could not be read: {})", e.without_url()),
    }
}
