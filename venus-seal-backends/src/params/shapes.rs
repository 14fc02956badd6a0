//! The Merkle tree shape dispatch and the calls into storage-proofs that
//! need it: cache identifiers and offline parameter generation.

use filecoin_proofs::constants::{
    DefaultPieceHasher, SectorShape2KiB, SectorShape32GiB, SectorShape512MiB, SectorShape64GiB,
    SectorShape8MiB, SECTOR_SIZE_2_KIB, SECTOR_SIZE_32_GIB, SECTOR_SIZE_512_MIB,
    SECTOR_SIZE_64_GIB, SECTOR_SIZE_8_MIB,
};
use filecoin_proofs::parameters::{
    public_params, window_post_public_params, winning_post_public_params,
};
use filecoin_proofs::{PoRepConfig, PoStConfig, PoStType};
use rand_chacha::ChaCha20Rng;
use storage_proofs_core::compound_proof::CompoundProof;
use storage_proofs_core::merkle::MerkleTreeTrait;
use storage_proofs_core::parameter_cache::CacheableParameters;
use storage_proofs_porep::stacked::{StackedCircuit, StackedCompound, StackedDrg};
use storage_proofs_post::fallback::{FallbackPoSt, FallbackPoStCircuit, FallbackPoStCompound};
use storage_proofs_update::constants::TreeRHasher;
use storage_proofs_update::{
    EmptySectorUpdate, EmptySectorUpdateCircuit, EmptySectorUpdateCompound,
    PublicParams as UpdatePublicParams,
};

/// Calls `$f::<Tree>($args)` with the tree shape of sector size `$size`
/// (like filecoin-proofs' `with_shape!`, restricted to the registered
/// sizes); evaluates to `Err(size)` for any other size.
macro_rules! with_tree {
    ($size:expr, $f:ident ( $($arg:expr),* )) => {
        match $size {
            s if s == SECTOR_SIZE_2_KIB => Ok($f::<SectorShape2KiB>($($arg),*)),
            s if s == SECTOR_SIZE_8_MIB => Ok($f::<SectorShape8MiB>($($arg),*)),
            s if s == SECTOR_SIZE_512_MIB => Ok($f::<SectorShape512MiB>($($arg),*)),
            s if s == SECTOR_SIZE_32_GIB => Ok($f::<SectorShape32GiB>($($arg),*)),
            s if s == SECTOR_SIZE_64_GIB => Ok($f::<SectorShape64GiB>($($arg),*)),
            other => Err(other),
        }
    };
}

/// Which files a generation run must produce.
#[derive(Clone, Copy, Debug)]
pub(super) struct Todo {
    /// Generate the `.params` file (random Groth16 parameters).
    pub params: bool,
    /// Write the `.vk` file (derived from the `.params` file).
    pub vk: bool,
}

type PoRepCompound<Tree> = StackedCompound<Tree, DefaultPieceHasher>;
type PoRepScheme<'a, Tree> = StackedDrg<'a, Tree, DefaultPieceHasher>;
type PoRepCircuit<Tree> = StackedCircuit<Tree, DefaultPieceHasher>;

/// The storage-proofs cache identifier of a PoRep configuration, computed
/// as `PoRepConfig::get_cache_identifier` does.
pub(super) fn porep_cache_id(config: &PoRepConfig) -> Result<anyhow::Result<String>, u64> {
    fn id<Tree: 'static + MerkleTreeTrait>(config: &PoRepConfig) -> anyhow::Result<String> {
        let pp = public_params::<Tree>(config)?;
        Ok(<PoRepCompound<Tree> as CacheableParameters<
            PoRepCircuit<Tree>,
            _,
        >>::cache_identifier(&pp))
    }
    with_tree!(u64::from(config.sector_size), id(config))
}

/// The storage-proofs cache identifier of a PoSt configuration, computed
/// as `PoStConfig::get_cache_identifier` does.
pub(super) fn post_cache_id(config: &PoStConfig) -> Result<anyhow::Result<String>, u64> {
    fn id<Tree: 'static + MerkleTreeTrait>(config: &PoStConfig) -> anyhow::Result<String> {
        let pp = post_public_params::<Tree>(config)?;
        Ok(<FallbackPoStCompound<Tree> as CacheableParameters<
            FallbackPoStCircuit<Tree>,
            _,
        >>::cache_identifier(&pp))
    }
    with_tree!(u64::from(config.sector_size), id(config))
}

fn post_public_params<Tree: 'static + MerkleTreeTrait>(
    config: &PoStConfig,
) -> anyhow::Result<storage_proofs_post::fallback::PublicParams> {
    match config.typ {
        PoStType::Winning => winning_post_public_params::<Tree>(config),
        PoStType::Window => window_post_public_params::<Tree>(config),
    }
}

/// Generates the missing PoRep files into storage-proofs-core's parameter
/// cache (which the caller has checked is ours), the way rust-fil-proofs'
/// paramcache does, and writes the `.meta` file if it is missing.
pub(super) fn generate_porep(
    config: &PoRepConfig,
    todo: Todo,
    rng: &mut ChaCha20Rng,
) -> Result<anyhow::Result<()>, u64> {
    fn run<Tree: 'static + MerkleTreeTrait>(
        config: &PoRepConfig,
        todo: Todo,
        rng: &mut ChaCha20Rng,
    ) -> anyhow::Result<()> {
        let pp = public_params::<Tree>(config)?;
        if todo.params {
            <PoRepCompound<Tree> as CompoundProof<PoRepScheme<'_, Tree>, _>>::groth_params(
                Some(&mut *rng),
                &pp,
            )?;
        }
        if todo.vk {
            <PoRepCompound<Tree> as CompoundProof<PoRepScheme<'_, Tree>, _>>::verifying_key(
                Some(&mut *rng),
                &pp,
            )?;
        }
        let circuit =
            <PoRepCompound<Tree> as CompoundProof<PoRepScheme<'_, Tree>, _>>::blank_circuit(&pp);
        <PoRepCompound<Tree> as CacheableParameters<PoRepCircuit<Tree>, _>>::get_param_metadata(
            circuit, &pp,
        )?;
        Ok(())
    }
    with_tree!(u64::from(config.sector_size), run(config, todo, rng))
}

/// Generates the missing PoSt files (see [`generate_porep`]).
pub(super) fn generate_post(
    config: &PoStConfig,
    todo: Todo,
    rng: &mut ChaCha20Rng,
) -> Result<anyhow::Result<()>, u64> {
    fn run<Tree: 'static + MerkleTreeTrait>(
        config: &PoStConfig,
        todo: Todo,
        rng: &mut ChaCha20Rng,
    ) -> anyhow::Result<()> {
        let pp = post_public_params::<Tree>(config)?;
        if todo.params {
            <FallbackPoStCompound<Tree> as CompoundProof<
                FallbackPoSt<'_, Tree>,
                FallbackPoStCircuit<Tree>,
            >>::groth_params(Some(&mut *rng), &pp)?;
        }
        if todo.vk {
            <FallbackPoStCompound<Tree> as CompoundProof<
                FallbackPoSt<'_, Tree>,
                FallbackPoStCircuit<Tree>,
            >>::verifying_key(Some(&mut *rng), &pp)?;
        }
        let circuit = <FallbackPoStCompound<Tree> as CompoundProof<
            FallbackPoSt<'_, Tree>,
            FallbackPoStCircuit<Tree>,
        >>::blank_circuit(&pp);
        <FallbackPoStCompound<Tree> as CacheableParameters<FallbackPoStCircuit<Tree>, _>>::get_param_metadata(
            circuit, &pp,
        )?;
        Ok(())
    }
    with_tree!(u64::from(config.sector_size), run(config, todo, rng))
}

/// The storage-proofs cache identifier the empty-sector-update circuit of
/// `sector_size`-byte sectors is generated under, computed as
/// filecoin-proofs' `get_empty_sector_update_params` does (to check
/// against the identifier parameters.json lists).
#[cfg(test)]
pub(super) fn update_circuit_cache_id(sector_size: u64) -> Result<String, u64> {
    fn id<Tree: 'static + MerkleTreeTrait<Hasher = TreeRHasher>>(sector_size: u64) -> String {
        let pp = UpdatePublicParams::from_sector_size(sector_size);
        <EmptySectorUpdateCompound<Tree> as CacheableParameters<
            EmptySectorUpdateCircuit<Tree>,
            _,
        >>::cache_identifier(&pp)
    }
    with_tree!(sector_size, id(sector_size))
}

/// Generates the missing empty-sector-update (snap-up) files of
/// `sector_size`-byte sectors (see [`generate_porep`]), with the public
/// parameters filecoin-proofs proves and verifies with.
pub(super) fn generate_update(
    sector_size: u64,
    todo: Todo,
    rng: &mut ChaCha20Rng,
) -> Result<anyhow::Result<()>, u64> {
    type Compound<Tree> = EmptySectorUpdateCompound<Tree>;
    fn run<Tree: 'static + MerkleTreeTrait<Hasher = TreeRHasher>>(
        sector_size: u64,
        todo: Todo,
        rng: &mut ChaCha20Rng,
    ) -> anyhow::Result<()> {
        let pp = UpdatePublicParams::from_sector_size(sector_size);
        if todo.params {
            <Compound<Tree> as CompoundProof<
                EmptySectorUpdate<Tree>,
                EmptySectorUpdateCircuit<Tree>,
            >>::groth_params(Some(&mut *rng), &pp)?;
        }
        if todo.vk {
            <Compound<Tree> as CompoundProof<
                EmptySectorUpdate<Tree>,
                EmptySectorUpdateCircuit<Tree>,
            >>::verifying_key(Some(&mut *rng), &pp)?;
        }
        let circuit = <Compound<Tree> as CompoundProof<
            EmptySectorUpdate<Tree>,
            EmptySectorUpdateCircuit<Tree>,
        >>::blank_circuit(&pp);
        <Compound<Tree> as CacheableParameters<EmptySectorUpdateCircuit<Tree>, _>>::get_param_metadata(
            circuit, &pp,
        )?;
        Ok(())
    }
    with_tree!(sector_size, run(sector_size, todo, rng))
}

/// Writes a random ("fake") SnarkPack SRS for aggregating up to `proofs`
/// proofs into storage-proofs-core's cache (the shared
/// `v28-fil-inner-product-v1.srs` file), as storage-proofs does for its
/// own tests when given an rng.
pub(super) fn generate_srs(
    config: &PoRepConfig,
    proofs: usize,
    rng: &mut ChaCha20Rng,
) -> Result<anyhow::Result<()>, u64> {
    fn run<Tree: 'static + MerkleTreeTrait>(
        config: &PoRepConfig,
        proofs: usize,
        rng: &mut ChaCha20Rng,
    ) -> anyhow::Result<()> {
        let pp = public_params::<Tree>(config)?;
        <PoRepCompound<Tree> as CompoundProof<PoRepScheme<'_, Tree>, _>>::srs_key(
            Some(&mut *rng),
            &pp,
            proofs,
        )?;
        Ok(())
    }
    with_tree!(u64::from(config.sector_size), run(config, proofs, rng))
}
