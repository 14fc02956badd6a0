//! Tests of the Groth16 parameter cache.
//!
//! storage-proofs-core reads FIL_PROOFS_PARAMETER_CACHE once per process,
//! so every test here shares one temporary cache directory, set up (and
//! put into the environment) by `cache()` before anything reads the
//! settings. The 2KiB PoRep parameters (about 10 minutes) are never
//! generated here; the 2KiB WindowPoSt ones (a few seconds) are.

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use storage_proofs_core::parameter_cache::PARAMETERS;
use venus_seal_backends::params::{
    GenerationPolicy, ParamError, ParamStatus, ParameterCache, PoStKind, FALLBACK_DIR,
    PARAMETER_CACHE_ENV,
};
use venus_seal_core::SealProof;

/// The shared cache: a directory under Cargo's per-target temporary
/// directory (left behind; target/tmp is Cargo's scratch space).
fn cache() -> &'static ParameterCache {
    static CACHE: OnceLock<ParameterCache> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("venus-seal-params-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("temporary directory")
            .keep();
        // Before anything reads storage-proofs-core's settings; every test
        // goes through this function first.
        std::env::set_var(PARAMETER_CACHE_ENV, &dir);
        let cache = ParameterCache::from_env();
        assert_eq!(cache.dir(), dir, "from_env honours {PARAMETER_CACHE_ENV}");
        cache.activate().expect("activate the test cache");
        cache
    })
}

fn name(path: &std::path::Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn default_dir_honours_the_environment() {
    let cache = cache();
    assert_eq!(ParameterCache::from_env().dir(), cache.dir());
    // activating twice is fine
    cache.activate().unwrap();

    let os = |s: &str| Some(OsString::from(s));
    assert_eq!(
        ParameterCache::default_dir(os("/p"), os("/x"), os("/h")),
        PathBuf::from("/p")
    );
    assert_eq!(
        ParameterCache::default_dir(None, os("/x"), os("/h")),
        PathBuf::from("/x/filecoin-proof-parameters")
    );
    assert_eq!(
        ParameterCache::default_dir(os(""), os("relative"), os("/h")),
        PathBuf::from("/h/.cache/filecoin-proof-parameters")
    );
    assert_eq!(
        ParameterCache::default_dir(None, None, None),
        PathBuf::from(FALLBACK_DIR)
    );
}

#[test]
fn another_directory_cannot_be_activated() {
    let cache = cache();
    let other = ParameterCache::new(cache.dir().join("elsewhere"));
    let err = other.activate().unwrap_err();
    assert!(matches!(err, ParamError::CacheDirConflict { .. }), "{err}");
    assert!(err.to_string().contains("elsewhere"), "{err}");
    // a trailing slash is the same directory
    let mut slash = cache.dir().as_os_str().to_os_string();
    slash.push("/");
    ParameterCache::new(PathBuf::from(slash))
        .activate()
        .unwrap();
}

#[test]
fn file_names_are_the_production_names() {
    let cache = cache();
    for proof in [
        SealProof::StackedDrg2KiBV1,
        SealProof::StackedDrg2KiBV1_1,
        SealProof::StackedDrg2KiBV1_1_Feat_SyntheticPoRep,
    ] {
        let files = cache.seal_files(proof).unwrap();
        assert!(
            files.cache_id.starts_with(
                "stacked-proof-of-replication-merkletree-poseidon_hasher-8-0-0-sha256_hasher-"
            ),
            "{}",
            files.cache_id
        );
        assert_eq!(files.params.parent().unwrap(), cache.dir());
        for path in [&files.params, &files.vk] {
            assert!(
                PARAMETERS.contains_key(&name(path)),
                "{proof}: {}",
                name(path)
            );
            assert_eq!(PARAMETERS[&name(path)].sector_size, 2048);
        }
        assert_eq!(name(&files.meta), format!("v28-{}.meta", files.cache_id));
        // the same names filecoin-proofs-api computes
        let api = filecoin_proofs_api::RegisteredSealProof::StackedDrg2KiBV1_1;
        assert_eq!(files.cache_id, api.circuit_identifier().unwrap());
        assert_eq!(files.params, api.cache_params_path().unwrap());
        assert_eq!(files.vk, api.cache_verifying_key_path().unwrap());
    }

    for proof in [
        SealProof::StackedDrg2KiBV1_1,
        SealProof::StackedDrg8MiBV1_1,
        SealProof::StackedDrg512MiBV1_1,
        SealProof::StackedDrg32GiBV1_1,
        SealProof::StackedDrg64GiBV1_1,
    ] {
        let seal = cache.seal_files(proof).unwrap();
        assert!(PARAMETERS.contains_key(&name(&seal.params)), "{proof}");
        for kind in [PoStKind::Window, PoStKind::Winning] {
            let post = cache.post_files(proof, kind).unwrap();
            assert!(
                post.cache_id
                    .starts_with("proof-of-spacetime-fallback-merkletree-poseidon_hasher-"),
                "{}",
                post.cache_id
            );
            for path in [&post.params, &post.vk] {
                assert!(
                    PARAMETERS.contains_key(&name(path)),
                    "{proof} {kind}: {}",
                    name(path)
                );
                assert_eq!(
                    PARAMETERS[&name(path)].sector_size,
                    proof.sector_size().0,
                    "{proof} {kind}"
                );
            }
        }
        assert_ne!(
            cache.post_files(proof, PoStKind::Window).unwrap(),
            cache.post_files(proof, PoStKind::Winning).unwrap()
        );
    }
}

#[test]
fn missing_production_parameters_say_how_to_fetch_them() {
    let cache = cache();
    let proof = SealProof::StackedDrg32GiBV1_1;
    let files = cache.seal_files(proof).unwrap();
    assert_eq!(cache.check_seal(proof).unwrap(), ParamStatus::Missing);
    for policy in [GenerationPolicy::Never, GenerationPolicy::TestSizes] {
        let err = cache.ensure_seal(proof, policy).unwrap_err();
        let ParamError::Missing { path, .. } = &err else {
            panic!("expected Missing, got {err}");
        };
        assert_eq!(path, &files.params);
        let msg = err.to_string();
        assert!(msg.contains(&files.params.display().to_string()), "{msg}");
        assert!(msg.contains("lotus fetch-params 32GiB"), "{msg}");
        assert!(msg.contains("never generated"), "{msg}");
    }
    assert!(!files.params.exists(), "nothing was generated");

    // test sizes are not generated unless the policy allows it
    let err = cache
        .ensure_seal(SealProof::StackedDrg2KiBV1_1, GenerationPolicy::Never)
        .unwrap_err();
    assert!(matches!(err, ParamError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("fetch-params 2KiB"), "{err}");
    assert!(!cache
        .seal_files(SealProof::StackedDrg2KiBV1_1)
        .unwrap()
        .params
        .exists());
}

#[test]
fn wrong_bytes_under_a_production_name_are_a_digest_mismatch() {
    let cache = cache();
    let proof = SealProof::StackedDrg512MiBV1_1;
    let files = cache.seal_files(proof).unwrap();
    fs::write(&files.params, b"not groth16 parameters").unwrap();
    fs::write(&files.vk, b"not a verifying key").unwrap();

    for _ in 0..2 {
        // the second time from the per-process digest cache
        let err = cache.check_seal(proof).unwrap_err();
        let ParamError::DigestMismatch {
            path,
            expected,
            actual,
            ..
        } = &err
        else {
            panic!("expected DigestMismatch, got {err}");
        };
        assert_eq!(path, &files.params);
        assert_eq!(expected, &PARAMETERS[&name(&files.params)].digest);
        assert_eq!(actual.len(), 32);
        assert_ne!(actual, expected);
        assert!(err
            .to_string()
            .contains(&files.params.display().to_string()));
    }
    // ensure reports the same error and does not touch the files
    let err = cache
        .ensure_seal(proof, GenerationPolicy::TestSizes)
        .unwrap_err();
    assert!(matches!(err, ParamError::DigestMismatch { .. }), "{err}");

    // a changed file is hashed again
    fs::write(&files.params, b"other bytes, other length").unwrap();
    let err = cache.check_seal(proof).unwrap_err();
    let ParamError::DigestMismatch { actual: second, .. } = &err else {
        panic!("{err}");
    };
    let expected_second = blake2b_simd::Params::new()
        .hash(b"other bytes, other length")
        .to_hex()[..32]
        .to_string();
    assert_eq!(second, &expected_second);
}

#[test]
fn window_post_2kib_parameters_are_generated() {
    let cache = cache();
    let proof = SealProof::StackedDrg2KiBV1_1;
    let kind = PoStKind::Window;
    let files = cache.post_files(proof, kind).unwrap();
    assert_eq!(cache.check_post(proof, kind).unwrap(), ParamStatus::Missing);

    let status = cache
        .ensure_post(proof, kind, GenerationPolicy::TestSizes)
        .unwrap();
    assert_eq!(status, ParamStatus::Generated);
    assert!(files.params.exists() && files.vk.exists() && files.meta.exists());
    assert!(files.marker().exists());
    assert_eq!(
        cache.check_post(proof, kind).unwrap(),
        ParamStatus::Generated
    );
    // the WinningPoSt files are different and still missing
    assert_eq!(
        cache.check_post(proof, PoStKind::Winning).unwrap(),
        ParamStatus::Missing
    );

    // a second ensure generates nothing
    let params_before = fs::metadata(&files.params).unwrap().modified().unwrap();
    assert_eq!(
        cache
            .ensure_post(proof, kind, GenerationPolicy::Never)
            .unwrap(),
        ParamStatus::Generated
    );

    // without the vk only the vk is derived, from the same params
    let vk_before = fs::read(&files.vk).unwrap();
    fs::remove_file(&files.vk).unwrap();
    assert_eq!(cache.check_post(proof, kind).unwrap(), ParamStatus::Missing);
    assert_eq!(
        cache
            .ensure_post(proof, kind, GenerationPolicy::TestSizes)
            .unwrap(),
        ParamStatus::Generated
    );
    assert_eq!(
        fs::metadata(&files.params).unwrap().modified().unwrap(),
        params_before,
        "the params file was kept"
    );
    assert_eq!(fs::read(&files.vk).unwrap(), vk_before, "same vk derived");

    // the files are usable by filecoin-proofs-api as they name them
    let api = filecoin_proofs_api::RegisteredPoStProof::StackedDrgWindow2KiBV1_2;
    assert_eq!(files.params, api.cache_params_path().unwrap());

    // without the marker these are unknown files under production names
    fs::remove_file(files.marker()).unwrap();
    let err = cache.check_post(proof, kind).unwrap_err();
    assert!(matches!(err, ParamError::DigestMismatch { .. }), "{err}");
}

#[test]
fn every_seal_proof_names_listed_files() {
    let cache = cache();
    for proof in SealProof::ALL {
        let files = cache.seal_files(*proof).unwrap();
        for path in [&files.params, &files.vk] {
            assert!(
                PARAMETERS.contains_key(&name(path)),
                "{proof}: {}",
                name(path)
            );
        }
    }
}
