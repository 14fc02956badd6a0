//! Piece stores: local directories, HTTP and object stores, behind
//! [`venus_seal_core::PieceStore`].
