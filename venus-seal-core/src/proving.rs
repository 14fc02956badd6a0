//! Proving sealed sectors: WindowPoSt, WinningPoSt, snap-up (empty sector
//! update) and unsealing, as traits the manager and workers share.
