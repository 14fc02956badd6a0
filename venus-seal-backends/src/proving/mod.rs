//! Proving on filecoin-proofs-api: WindowPoSt, WinningPoSt, snap-up and
//! unsealing.
