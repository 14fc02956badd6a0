use super::*;

const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

/// Bytes that differ from one position to the next.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(131).wrapping_add(seed as u32 * 7) as u8)
        .collect()
}

/// fr32 by its definition, one bit at a time: input bit `k` (bits in
/// little-endian order) lands at bit `k % 254` of node `k / 254`.
fn fr32_by_bits(input: &[u8]) -> [u8; PADDED_CHUNK] {
    let mut out = [0u8; PADDED_CHUNK];
    for k in 0..UNPADDED_CHUNK * 8 {
        if input[k / 8] >> (k % 8) & 1 == 1 {
            let at = k / 254 * 256 + k % 254;
            out[at / 8] |= 1 << (at % 8);
        }
    }
    out
}

#[test]
fn fr32_padding_moves_every_bit_where_its_definition_says() {
    for seed in 0..8 {
        let input = data(UNPADDED_CHUNK, seed);
        let mut out = [0u8; PADDED_CHUNK];
        fr32_pad(&input, &mut out);
        assert_eq!(out, fr32_by_bits(&input), "seed {seed}");
    }
    let ones = [0xffu8; UNPADDED_CHUNK];
    let mut out = [0u8; PADDED_CHUNK];
    fr32_pad(&ones, &mut out);
    assert_eq!(out, fr32_by_bits(&ones));
    for node in out.chunks(32) {
        assert_eq!(node[31], 0x3f, "two zero bits end every node");
    }
}

#[test]
fn zero_pieces_have_lotus_zero_commitments() {
    for (len, cid) in [
        (
            1016,
            "baga6ea4seaqb66wjlfkrbye6uqoemcyxmqylwmrm235uclwfpsyx3ge2imidoly",
        ),
        (
            2032,
            "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy",
        ),
    ] {
        let piece = piece_commitment(PROOF, &vec![0u8; len][..], len as u64).unwrap();
        assert_eq!(piece.cid.to_string(), cid, "{len} zero bytes");
        assert_eq!(piece.size.0 as usize, len / 127 * 128);
    }
}

#[test]
fn a_piece_has_the_commitment_filecoin_proofs_gives_it() {
    // Computed by filecoin-proofs-api 19.1 (`generate_piece_commitment`),
    // so that builds without the `proofs` feature check it too.
    let piece = piece_commitment(PROOF, &data(1000, 1)[..], 1000).unwrap();
    assert_eq!(piece.size.0, 1024);
    assert_eq!(piece.cid.to_string(), KNOWN_1000);
}

const KNOWN_1000: &str = "baga6ea4seaqfi5zfyxcfuaqiimyzsuogqjrsdpplhebzuxzp3zcf2m7vodx22cy";

#[test]
fn short_data_and_oversized_pieces_are_invalid_tasks() {
    let err = piece_commitment(PROOF, &[1u8; 100][..], 300).unwrap_err();
    assert!(
        matches!(&err, StageError::InvalidTask(m) if m.contains("300")),
        "{err}"
    );
    let err = piece_commitment(PROOF, &[0u8; 3000][..], 3000).unwrap_err();
    assert!(
        matches!(&err, StageError::InvalidTask(m) if m.contains("2KiB")),
        "{err}"
    );
}

/// Every size class, against filecoin-proofs itself: one byte, exactly
/// one fr32 chunk, partial chunks, exactly one read buffer and more.
#[cfg(feature = "proofs")]
#[test]
fn commitments_match_filecoin_proofs() {
    use filecoin_proofs_api::seal::generate_piece_commitment;
    use filecoin_proofs_api::UnpaddedBytesAmount;

    let proof = SealProof::StackedDrg512MiBV1_1;
    let buffer = UNPADDED_CHUNK * READ_CHUNKS;
    for len in [
        1,
        126,
        127,
        128,
        254,
        500,
        1000,
        2032,
        4065,
        buffer,
        buffer + 1,
    ] {
        let bytes = data(len, len as u8);
        let ours = piece_commitment(proof, &bytes[..], len as u64).unwrap();
        let padded = ours.size.unpadded();
        let reader = bytes
            .as_slice()
            .chain(io::repeat(0).take(padded - len as u64));
        let theirs = generate_piece_commitment(
            crate::proof_type::to_api(proof),
            reader,
            UnpaddedBytesAmount(padded),
        )
        .unwrap();
        assert_eq!(ours.cid.0, theirs.commitment, "{len} bytes");
    }
}
