//! Domain types shared by every crate.

pub mod commitment;
pub mod ids;
pub mod piece;
pub mod proof;
pub mod randomness;
pub mod token;
