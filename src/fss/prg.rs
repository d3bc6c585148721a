//! The tree PRG of the DPF: fixed-key AES-128 in Matyas–Meyer–Oseas form,
//! `H(x) = AES_K(σ(x)) ⊕ σ(x)` with `σ(x_hi, x_lo) = (x_hi ⊕ x_lo, x_hi)` (a linear orthomorphism,
//! which makes H correlation-robust in the ideal-cipher model). Children of a node are
//! `H(s ⊕ C_0)` and `H(s ⊕ C_1)`, its leaf block `H(s ⊕ C_leaf)`: the key schedule runs once per
//! process, never per tree node, and every call hashes a whole level of a batch with one
//! `encrypt_blocks` (AES-NI/VAES pipelines need many independent blocks in flight).

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use rayon::prelude::*;
use std::sync::OnceLock;

/// The public fixed AES key (any fixed key works; it is not a secret).
const FIXED_KEY: [u8; 16] = *b"testbed fss mmo!";

/// Tweaks separating the left child, the right child and the leaf conversion.
pub const TWEAK_LEFT: u128 = 0;
pub const TWEAK_RIGHT: u128 = 0x5555_5555_5555_5555_aaaa_aaaa_aaaa_aaaa;
pub const TWEAK_LEAF: u128 = 0x0f0f_0f0f_0f0f_0f0f_f0f0_f0f0_f0f0_f0f0;
/// Tweaks of the ring-payload DCF's per-child value blocks (`super::dcf`).
pub const TWEAK_VALUE_LEFT: u128 = 0x3333_3333_3333_3333_cccc_cccc_cccc_cccc;
pub const TWEAK_VALUE_RIGHT: u128 = 0x6969_6969_6969_6969_9696_9696_9696_9696;

fn cipher() -> &'static Aes128 {
    static CIPHER: OnceLock<Aes128> = OnceLock::new();
    CIPHER.get_or_init(|| Aes128::new(&Array(FIXED_KEY)))
}

/// σ(x) = (x_hi ⊕ x_lo, x_hi) on the two 64-bit halves.
#[inline]
fn sigma(x: u128) -> u128 {
    let hi = (x >> 64) as u64;
    let lo = x as u64;
    (((hi ^ lo) as u128) << 64) | hi as u128
}

/// Blocks hashed per `encrypt_blocks` call (bounds the scratch buffer; large enough to keep the
/// AES pipeline full).
const CHUNK: usize = 4096;

/// `out[i] = H(seeds[i] ⊕ tweak(i))` for every i, where `tweak(i)` is the tweak the caller picks
/// per element (left, right or leaf). Bit 0 of each seed is ignored (cleared before hashing): in
/// the tree it holds the node's control bit, which is not part of the seed. Batches of several
/// chunks are hashed on rayon's threads, one chunk per task.
pub fn hash_many(seeds: &[u128], tweak: impl Fn(usize) -> u128 + Sync, out: &mut [u128]) {
    assert_eq!(seeds.len(), out.len(), "hash_many: lengths differ");
    let one = |c: usize, s_chunk: &[u128], o_chunk: &mut [u128]| {
        BLOCKS.with_borrow_mut(|buf| {
            let n = s_chunk.len();
            buf.resize(n.max(buf.len()), [0; 16]);
            let buf = &mut buf[..n];
            // σ of each input once: kept in `out` for the feed-forward, encrypted in `buf`.
            for (i, ((b, o), &s)) in buf.iter_mut().zip(o_chunk.iter_mut()).zip(s_chunk).enumerate() {
                *o = sigma((s & !1) ^ tweak(c * CHUNK + i));
                *b = o.to_le_bytes();
            }
            cipher().encrypt_blocks(Array::cast_slice_from_core_mut(buf));
            for (o, b) in o_chunk.iter_mut().zip(buf.iter()) {
                *o ^= u128::from_le_bytes(*b);
            }
        })
    };
    if seeds.len() > 2 * CHUNK {
        seeds
            .par_chunks(CHUNK)
            .zip(out.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (s, o))| one(c, s, o));
    } else {
        for (c, (s, o)) in seeds.chunks(CHUNK).zip(out.chunks_mut(CHUNK)).enumerate() {
            one(c, s, o);
        }
    }
}

thread_local! {
    /// Each thread's scratch blocks for [`hash_many`] (grown once to a chunk, never zeroed again).
    static BLOCKS: std::cell::RefCell<Vec<[u8; 16]>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// H(s ⊕ tweak) for one block (tests and key generation of single elements).
pub fn hash(s: u128, tweak: u128) -> u128 {
    let mut out = [0u128];
    hash_many(&[s], |_| tweak, &mut out);
    out[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_equals_single_and_tweaks_separate() {
        let seeds: Vec<u128> = (0..10_000u128)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .collect();
        let mut out = vec![0u128; seeds.len()];
        hash_many(&seeds, |i| if i % 2 == 0 { TWEAK_LEFT } else { TWEAK_RIGHT }, &mut out);
        for (i, (&s, &o)) in seeds.iter().zip(&out).enumerate().step_by(997) {
            let t = if i % 2 == 0 { TWEAK_LEFT } else { TWEAK_RIGHT };
            assert_eq!(o, hash(s, t));
        }
        assert_ne!(hash(6, TWEAK_LEFT), hash(6, TWEAK_RIGHT));
        assert_eq!(
            hash(6, TWEAK_LEFT),
            hash(7, TWEAK_LEFT),
            "bit 0 is the control bit, not seed"
        );
        assert_ne!(hash(6, TWEAK_LEFT), hash(6, TWEAK_LEAF));
        // Not the identity, not linear in an obvious way.
        assert_ne!(
            hash(0, TWEAK_LEFT) ^ hash(2, TWEAK_LEFT),
            hash(0, TWEAK_RIGHT) ^ hash(2, TWEAK_RIGHT)
        );
    }
}
