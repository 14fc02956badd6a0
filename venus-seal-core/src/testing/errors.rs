//! Errors for tests that check how each one is carried and answered.

use crate::error::ChainError;

/// Every [`ChainError`] variant, each saying `words`.
pub fn every_chain_error(words: &str) -> [ChainError; 5] {
    [
        ChainError::Transport(words.into()),
        ChainError::InvalidResponse(words.into()),
        ChainError::Unauthorized(words.into()),
        ChainError::Node(words.into()),
        ChainError::Rejected(words.into()),
    ]
}
