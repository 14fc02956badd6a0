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

/// Whether `text` (an error another program reported as text: an ext
/// child's `err_msg`) says the device is full: `strerror(ENOSPC)` ("No
/// space left on device", as Rust, C and Go write it, any case) or Rust's
/// "os error 28" (Linux and macOS).
pub(crate) fn names_no_space(text: &str) -> bool {
    if text
        .to_ascii_lowercase()
        .contains("no space left on device")
    {
        return true;
    }
    text.match_indices("os error 28").any(|(at, m)| {
        !text[at + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
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

    #[test]
    fn enospc_is_named_in_text_by_strerror_or_errno() {
        let errno = io::Error::from_raw_os_error(28).to_string();
        assert!(names_no_space(&errno), "{errno}");
        assert!(names_no_space("write: no space left on device"));
        assert!(names_no_space("copy failed (os error 28)"));
        assert!(!names_no_space("copy failed (os error 280)"));
        assert!(!names_no_space("no space in the name"));
        assert!(!names_no_space(
            &io::Error::from_raw_os_error(5).to_string()
        ));
    }
}
