//! Fast non-cryptographic hashing for tokens, token sequences and hash-keyed maps.
//!
//! The miner hashes every token of every line, so this sits on the hot path; an Fx-style
//! multiply/rotate over 8-byte words with a final avalanche is plenty for in-process keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Mixes one 64-bit word into a running Fx-style state.
#[inline]
pub(crate) fn mix(state: u64, word: u64) -> u64 {
    (state.rotate_left(5) ^ word).wrapping_mul(SEED)
}

/// Final avalanche (murmur3 fmix64) so that low and high bits are both usable as table indices.
#[inline]
pub(crate) fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hashes a byte string; the length is mixed in so that prefixes do not collide.
/// No final avalanche: token hashes are only compared for equality or folded into sequence
/// hashes, and map keys go through [`finish`] once, which saves a few ns per token.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = mix(0, bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        h = mix(h, tail_word(rest));
    }
    h
}

/// Packs 1..=7 bytes into a word that is unique for a given length, with two overlapping
/// 4-byte loads or three single-byte loads: copying them into a zeroed buffer instead costs a
/// `memcpy` call and a store-forwarding stall on nearly every token.
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    if n >= 4 {
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.copy_from_slice(&rest[..4]);
        hi.copy_from_slice(&rest[n - 4..]);
        u64::from(u32::from_le_bytes(lo)) | (u64::from(u32::from_le_bytes(hi)) << 32)
    } else {
        u64::from(rest[0]) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
    }
}

/// Hasher for maps whose keys are already well-mixed `u64` hashes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u64 keys, which this crate never uses; stay correct anyway.
        self.0 = finish(hash_bytes(bytes) ^ self.0.rotate_left(17));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type PreHashedMap<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_inputs_hash_differently() {
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abd"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"12345678"), hash_bytes(b"123456789"));
        assert_eq!(hash_bytes(b"same"), hash_bytes(b"same"));
        // Every byte of a 1..=7-byte tail matters.
        for n in 1..=15usize {
            let base: Vec<u8> = (0..n as u8).map(|b| b + b'a').collect();
            for i in 0..n {
                let mut other = base.clone();
                other[i] ^= 1;
                assert_ne!(hash_bytes(&base), hash_bytes(&other), "len {n} byte {i}");
            }
        }
    }

    #[test]
    fn prehashed_map_round_trips() {
        let mut m: PreHashedMap<u32> = PreHashedMap::default();
        m.insert(finish(hash_bytes(b"x")), 1);
        m.insert(finish(hash_bytes(b"y")), 2);
        assert_eq!(m.get(&finish(hash_bytes(b"x"))), Some(&1));
        assert_eq!(m.get(&finish(hash_bytes(b"y"))), Some(&2));
    }
}
