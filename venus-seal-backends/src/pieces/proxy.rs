//! The piece proxy: any [`PieceStore`] served over HTTP at
//! `GET /piece/<cid>`, so that [`HttpPieceStore`](super::HttpPieceStore)
//! workers fetch pieces through the sector manager.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use venus_seal_core::{PieceCid, PieceStore, PieceStoreError};
use venus_seal_rpc::auth::{authenticate, Permission, Secret};

/// The permission a token needs to fetch pieces.
pub const PIECE_PERMISSION: Permission = Permission::Read;

#[derive(Clone)]
struct ProxyState {
    store: Arc<dyn PieceStore>,
    secret: Secret,
}

/// An axum router serving `store` at `GET /piece/<cid>` (and `HEAD`)
/// behind `Authorization: Bearer <jwt>` signed by `secret` (at least
/// [`PIECE_PERMISSION`]).
///
/// Answers: 200 with the piece and its `Content-Length`; 206 for a
/// single `Range: bytes=<start>-[<end>]` with `Content-Range`; 416 for a
/// range past the end; 400 for a path that is not a PieceCID; 401 for a
/// missing or invalid token, 403 for one allowing too little; 404 for a
/// piece the store lacks; 502 when the store is unreachable or its bytes
/// are bad; 500 when its disk fails. Every refusal's body says why. A
/// store failing mid-piece breaks the connection, so the client sees a
/// short body and resumes by range.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use venus_seal_backends::pieces::{piece_router, LocalPieceStore};
/// let app = piece_router(Arc::new(LocalPieceStore::new(["/srv/pieces"])), venus_seal_rpc::Secret::generate());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:1790").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn piece_router(store: Arc<dyn PieceStore>, secret: Secret) -> Router {
    Router::new()
        .route("/piece/{cid}", get(serve_piece))
        .with_state(ProxyState { store, secret })
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, why.into()).into_response()
}

fn store_error(e: PieceStoreError) -> Response {
    let status = match &e {
        PieceStoreError::NotFound(_) => StatusCode::NOT_FOUND,
        PieceStoreError::Transport(_) | PieceStoreError::BadPiece(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status != StatusCode::NOT_FOUND {
        tracing::warn!(error = %e, "piece proxy: the store failed");
    }
    refuse(status, e.to_string())
}

/// A single `bytes=<start>-[<end>]` range; anything else (several ranges,
/// suffix ranges, other units) is ignored and the whole piece is served,
/// as RFC 9110 allows.
fn parse_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let spec = headers
        .get(RANGE)?
        .to_str()
        .ok()?
        .trim()
        .strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        end => Some(end.parse().ok()?),
    };
    match end {
        Some(end) if end < start => None,
        _ => Some((start, end)),
    }
}

async fn serve_piece(
    State(state): State<ProxyState>,
    Path(cid): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&state.secret, &headers) {
        Ok(caller) => caller,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.to_string()),
    };
    if caller.permission < PIECE_PERMISSION {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "fetching pieces needs the {PIECE_PERMISSION} permission; the token allows {}",
                caller.permission
            ),
        );
    }
    let cid: PieceCid = match cid.parse() {
        Ok(cid) => cid,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let size = match state.store.size(&cid).await {
        Ok(size) => size,
        Err(e) => return store_error(e),
    };
    let range = parse_range(&headers);
    let (status, start, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some((start, _)) if start >= size => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(CONTENT_RANGE, format!("bytes */{size}"))
                .body(Body::from(format!(
                    "piece {cid} has {size} bytes; the range starts at {start}"
                )))
                .expect("a valid response");
        }
        Some((start, end)) => {
            let last = end.unwrap_or(size - 1).min(size - 1);
            (StatusCode::PARTIAL_CONTENT, start, last - start + 1)
        }
    };
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(ACCEPT_RANGES, "bytes")
        .header(CONTENT_LENGTH, len);
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if method == Method::HEAD {
        return response.body(Body::empty()).expect("a valid response");
    }
    let reader = match state.store.get_range(&cid, start).await {
        Ok(reader) => reader,
        Err(e) => return store_error(e),
    };
    let body = Body::from_stream(ReaderStream::new(reader.take(len)));
    response.body(body).expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_or_are_ignored() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(RANGE, v.parse().unwrap());
            m
        };
        assert_eq!(parse_range(&h("bytes=10-")), Some((10, None)));
        assert_eq!(parse_range(&h("bytes=10-19")), Some((10, Some(19))));
        assert_eq!(parse_range(&h("bytes=0-0,5-6")), None);
        assert_eq!(parse_range(&h("bytes=-5")), None);
        assert_eq!(parse_range(&h("bytes=9-3")), None);
        assert_eq!(parse_range(&h("items=1-2")), None);
        assert_eq!(parse_range(&HeaderMap::new()), None);
    }
}
