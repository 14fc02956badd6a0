//! The [`ProofVerifier`] suite: a valid proof verifies, the same proof
//! against any changed public input (CommR, CommD, ticket, seed, sector)
//! does not, damaged proof bytes never verify; aggregation and PoSt checks
//! where the case asks for them (a verifier that does not offer them
//! refuses by the trait's defaults).
//!
//! The caller brings valid proofs ([`VerifierCase`]): for
//! [`FakeProofVerifier`](crate::testing::FakeProofVerifier) they are its
//! `proof_for` hashes; for a real verifier they come from a real C2 (which
//! needs Groth16 parameters, so that run belongs with the slow tests).

use crate::error::{FailureLevel, Leveled};
use crate::proving::WindowPoStVerifyInfo;
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{SectorId, SectorNumber};
use crate::types::randomness::Randomness;
use crate::verify::{ProofVerifier, SealVerifyInfo};

/// Valid proofs to check a verifier with.
#[derive(Clone, Debug)]
pub struct VerifierCase {
    /// At least one valid seal proof; with [`Capabilities::aggregation`],
    /// at least two, of one proof type, in ascending sector order.
    pub seals: Vec<SealVerifyInfo>,
    /// A valid WindowPoSt, with [`Capabilities::window_post`].
    pub window_post: Option<WindowPoStVerifyInfo>,
}

/// What to check beyond seal proofs (what the verifier offers).
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities {
    /// It aggregates seal proofs (SnarkPackV2) and checks aggregates.
    pub aggregation: bool,
    /// It checks WindowPoSt proofs.
    pub window_post: bool,
}

fn flip(mut bytes: [u8; 32]) -> [u8; 32] {
    bytes[0] ^= 1;
    bytes
}

/// Each public input changed in turn, named.
fn tampered(info: &SealVerifyInfo) -> Vec<(&'static str, SealVerifyInfo)> {
    let with = |f: &dyn Fn(&mut SealVerifyInfo)| {
        let mut i = info.clone();
        f(&mut i);
        i
    };
    vec![
        ("CommR", with(&|i| i.comm_r = CommR(flip(i.comm_r.0)))),
        ("CommD", with(&|i| i.comm_d = CommD(flip(i.comm_d.0)))),
        ("ticket", with(&|i| i.ticket = Randomness(flip(i.ticket.0)))),
        ("seed", with(&|i| i.seed = Randomness(flip(i.seed.0)))),
        (
            "sector number",
            with(&|i| {
                i.sector = SectorId::new(i.sector.miner, SectorNumber(i.sector.number.0 + 1))
            }),
        ),
    ]
}

/// Runs the suite on `verifier`; see the [module docs](self).
pub fn proof_verifier(verifier: &dyn ProofVerifier, case: &VerifierCase, caps: Capabilities) {
    let name = format!("{verifier:?}");
    assert!(!case.seals.is_empty(), "the case holds no seal proof");
    for info in &case.seals {
        let sector = info.sector;
        assert!(
            verifier.verify_seal(info).unwrap_or_else(|e| panic!(
                "{name}: verifying the valid proof of {sector} failed: {e}"
            )),
            "{name}: the valid proof of {sector} does not verify"
        );
        for (what, bad) in tampered(info) {
            assert_eq!(
                verifier.verify_seal(&bad).ok(),
                Some(false),
                "{name}: the proof of {sector} with another {what}: want Ok(false)"
            );
        }
        let mut damaged = info.clone();
        damaged.proof.iter_mut().for_each(|b| *b = !*b);
        match verifier.verify_seal(&damaged) {
            Ok(false) => {}
            Ok(true) => panic!("{name}: damaged proof bytes of {sector} verify"),
            Err(e) => assert_eq!(e.level(), FailureLevel::Permanent, "{name}: {e}"),
        }
    }

    if caps.aggregation {
        aggregation(&name, verifier, &case.seals);
    }

    match (&case.window_post, caps.window_post) {
        (Some(post), true) => {
            assert!(
                verifier
                    .verify_window_post(post)
                    .unwrap_or_else(|e| panic!("{name}: verifying a valid WindowPoSt: {e}")),
                "{name}: a valid WindowPoSt does not verify"
            );
            let mut bad = post.clone();
            bad.randomness = Randomness(flip(bad.randomness.0));
            assert_eq!(
                verifier.verify_window_post(&bad).ok(),
                Some(false),
                "{name}: a WindowPoSt against other randomness: want Ok(false)"
            );
        }
        (None, true) => panic!("{name}: Capabilities::window_post needs a valid WindowPoSt"),
        (_, false) => {}
    }
}

fn aggregation(name: &str, verifier: &dyn ProofVerifier, seals: &[SealVerifyInfo]) {
    assert!(
        seals.len() >= 2,
        "{name}: the aggregation check needs two proofs"
    );
    let aggregate = verifier
        .aggregate_seal_proofs(seals)
        .unwrap_or_else(|e| panic!("{name}: aggregating valid proofs failed: {e}"));
    assert!(
        verifier
            .verify_aggregate_seal(seals, &aggregate)
            .unwrap_or_else(|e| panic!("{name}: verifying the aggregate failed: {e}")),
        "{name}: the aggregate of valid proofs does not verify"
    );
    let mut other = seals.to_vec();
    other[0].seed = Randomness(flip(other[0].seed.0));
    assert_ne!(
        verifier.verify_aggregate_seal(&other, &aggregate).ok(),
        Some(true),
        "{name}: the aggregate verifies against another seed"
    );
}
