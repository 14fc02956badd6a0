//! venus-gateway proof events: the sector manager registers its miners
//! with `Gateway.ListenProofEvent` over a websocket (go-jsonrpc channel
//! frames) and answers venus-miner's `ComputeProof` requests with
//! WinningPoSt proofs through `Gateway.ResponseProofEvent`, so a venus pool
//! mines blocks without reaching into the cluster. What was read from the
//! peers' sources is in `docs/venus-gateway.md`.
//!
//! * [`ProofEventListener`]: one connection per miner, bearer-token auth in
//!   the handshake, reconnection with doubling backoff; answers computed
//!   while the socket was down are sent on the next connection (the
//!   gateway matches them by `Id`).
//! * [`wire`]: the peer's JSON shapes.
//! * [`fake::FakeGateway`]: a websocket server speaking the same frames,
//!   for tests.

pub mod fake;
mod listener;
pub mod wire;
mod ws;

pub use listener::{
    prove, GatewayConfig, ProofEventListener, WinningProver, API_NAMESPACE, CH_CLOSE, CH_VALUE,
    LISTEN, RESPOND,
};
pub use ws::WsUrl;

#[cfg(test)]
mod tests;
