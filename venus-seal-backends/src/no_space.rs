//! "No space left on device" is Critical wherever it surfaces.
//!
//! A full disk does not heal by retrying (Temporary would spend the
//! retries and park the sector Permanent, as if the computation were
//! wrong) and the work is not wrong (Permanent): an operator must free
//! space, so the sector parks Critical, its files kept. The proving
//! library, object stores and the like wrap the `io::Error` deep in their
//! own errors; these helpers find it in the source chain.

use std::error::Error;
use std::io;

/// Whether `e` is ENOSPC: kind `StorageFull`, or raw OS error 28 (Linux,
/// macOS) as an error built from an errno carries it.
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// The ENOSPC `io::Error` in `e` or its sources, if any.
pub(crate) fn no_space_in<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a io::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if is_no_space(io) {
                return Some(io);
            }
        }
        next = e.source();
    }
    None
}

/// An `io::Error` of kind `StorageFull` saying `message` (the whole
/// context of the failure), for [`StageError::io`](venus_seal_core::StageError::io).
pub(crate) fn storage_full(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing layer 3")]
    struct Wrapper(#[source] io::Error);

    #[test]
    fn enospc_is_found_by_errno_or_kind_at_any_depth() {
        let errno = io::Error::from_raw_os_error(28);
        assert!(is_no_space(&errno));
        assert!(is_no_space(&io::Error::from(io::ErrorKind::StorageFull)));
        assert!(!is_no_space(&io::Error::from_raw_os_error(5)));
        let wrapped = Wrapper(io::Error::from_raw_os_error(28));
        assert!(no_space_in(&wrapped).is_some());
        let other = Wrapper(io::Error::from_raw_os_error(5));
        assert!(no_space_in(&other).is_none());
    }
}
