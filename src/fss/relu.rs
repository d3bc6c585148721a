//! ReLU of additively shared ring values in two rounds: DReLU from a DPF-path comparison, then a
//! select that multiplies by the sign bit without a Beaver triple.
//!
//! The dealer draws per element a mask r, a bit r_d, and gives each party additive shares of r,
//! r_d and r_d·r, plus DReLU keys whose output is d ⊕ r_d (r_d is folded into the XOR-shared
//! constant, so the masked bit costs nothing extra).
//!
//! 1. Round 1: each party sends x_b + r_b; both learn x̂ = x + r.
//! 2. Local: shares of d̂ = DReLU(x) ⊕ r_d. Round 2: each sends its bit; both learn d̂.
//! 3. Local: with d = d̂ + (1 − 2d̂)·r_d and x = x̂ − r,
//!    [d·x]_b = [b = 0]·d̂·x̂ − d̂·[r]_b + (1 − 2d̂)·(x̂·[r_d]_b − [r_d·r]_b).
//!
//! Online per element per party: 64 bits in round 1 and 1 bit in round 2 (8 bytes + ⌈n/8⌉ bytes
//! for a batch of n). The same opened d̂ also gives an arithmetic share of d itself (B2A for free):
//! [d]_b = [b = 0]·d̂ + (1 − 2d̂)·[r_d]_b.

use super::drelu::{self, DreluKeys};
use super::split_additive;

/// One party's keys for a batch of ReLUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReluKeys {
    pub drelu: DreluKeys,
    /// Additive shares of the masks r.
    pub r: Vec<u64>,
    /// Additive shares of the bits r_d (as ring elements 0/1).
    pub rd: Vec<u64>,
    /// Additive shares of r_d·r.
    pub rd_r: Vec<u64>,
}

impl ReluKeys {
    /// 0 or 1.
    pub fn party(&self) -> u8 {
        self.drelu.dcf.party
    }
}

/// Key size of one element for one party, in bits: the DReLU key and three ring elements.
pub fn key_bits(window: u32) -> u64 {
    drelu::key_bits(window) + 3 * 64
}

/// The dealer's side: keys for n ReLUs with comparison window k.
pub fn keygen(n: usize, window: u32, rand: &mut dyn FnMut(&mut [u64])) -> (ReluKeys, ReluKeys) {
    let mut r = vec![0u64; n];
    rand(&mut r);
    keygen_for_masks(&r, window, rand)
}

/// The dealer's side for masks r it already holds (in a protocol each party draws its share of r
/// from the PRG it shares with the dealer, so r is never sent).
pub fn keygen_for_masks(r: &[u64], window: u32, rand: &mut dyn FnMut(&mut [u64])) -> (ReluKeys, ReluKeys) {
    let n = r.len();
    let r = r.to_vec();
    let mut rd_words = vec![0u64; n.div_ceil(64)];
    rand(&mut rd_words);
    let rd: Vec<u64> = (0..n).map(|e| (rd_words[e / 64] >> (e % 64)) & 1).collect();
    let (d0, mut d1) = drelu::keygen(&r, window, rand);
    // Fold r_d into party 1's constant so that the output is DReLU(x) ⊕ r_d.
    for (e, b) in rd.iter().enumerate() {
        d1.z[e / 64] ^= b << (e % 64);
    }
    let rd_r: Vec<u64> = rd.iter().zip(&r).map(|(b, r)| b.wrapping_mul(*r)).collect();
    let (r0, r1) = split_additive(&r, rand);
    let (rd0, rd1) = split_additive(&rd, rand);
    let (p0, p1) = split_additive(&rd_r, rand);
    (
        ReluKeys {
            drelu: d0,
            r: r0,
            rd: rd0,
            rd_r: p0,
        },
        ReluKeys {
            drelu: d1,
            r: r1,
            rd: rd1,
            rd_r: p1,
        },
    )
}

/// Round 1's message: this party's share of x̂ = x + r.
pub fn masked_input(key: &ReluKeys, x: &[u64]) -> Vec<u64> {
    x.iter().zip(&key.r).map(|(x, r)| x.wrapping_add(*r)).collect()
}

/// Round 2's message: this party's packed XOR share of d̂ = DReLU(x) ⊕ r_d.
pub fn masked_sign(key: &ReluKeys, xhat: &[u64]) -> Vec<u64> {
    drelu::eval(&key.drelu, xhat)
}

fn dhat_bit(dhat: &[u64], e: usize) -> u64 {
    (dhat[e / 64] >> (e % 64)) & 1
}

/// This party's additive share of ReLU(x), from the opened x̂ and d̂.
pub fn finish(key: &ReluKeys, xhat: &[u64], dhat: &[u64]) -> Vec<u64> {
    let first = key.party() == 0;
    (0..xhat.len())
        .map(|e| {
            let d = dhat_bit(dhat, e);
            let sign = 1u64.wrapping_sub(2 * d); // 1 − 2d̂ in the ring
            let mut out = sign.wrapping_mul(xhat[e].wrapping_mul(key.rd[e]).wrapping_sub(key.rd_r[e]));
            out = out.wrapping_sub(d.wrapping_mul(key.r[e]));
            if first {
                out = out.wrapping_add(d.wrapping_mul(xhat[e]));
            }
            out
        })
        .collect()
}

/// This party's additive share of the sign bit d = DReLU(x) (0/1 at scale 1), from the opened d̂.
pub fn sign_share(key: &ReluKeys, dhat: &[u64]) -> Vec<u64> {
    let first = key.party() == 0;
    (0..key.rd.len())
        .map(|e| {
            let d = dhat_bit(dhat, e);
            let out = 1u64.wrapping_sub(2 * d).wrapping_mul(key.rd[e]);
            if first { out.wrapping_add(d) } else { out }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fss::tests::rng;

    /// Runs both parties on shares of `xs` and returns the reconstructed ReLU and sign bits.
    fn run(xs: &[u64], window: u32, seed: u64) -> (Vec<u64>, Vec<u64>) {
        let mut rand = rng(seed);
        let (k0, k1) = keygen(xs.len(), window, &mut rand);
        let (x0, x1) = split_additive(xs, &mut rand);
        let (m0, m1) = (masked_input(&k0, &x0), masked_input(&k1, &x1));
        let xhat: Vec<u64> = m0.iter().zip(&m1).map(|(a, b)| a.wrapping_add(*b)).collect();
        let (s0, s1) = (masked_sign(&k0, &xhat), masked_sign(&k1, &xhat));
        let dhat: Vec<u64> = s0.iter().zip(&s1).map(|(a, b)| a ^ b).collect();
        let (y0, y1) = (finish(&k0, &xhat, &dhat), finish(&k1, &xhat, &dhat));
        let (d0, d1) = (sign_share(&k0, &dhat), sign_share(&k1, &dhat));
        (
            y0.iter().zip(&y1).map(|(a, b)| a.wrapping_add(*b)).collect(),
            d0.iter().zip(&d1).map(|(a, b)| a.wrapping_add(*b)).collect(),
        )
    }

    #[test]
    fn relu_exhaustive_in_small_windows_with_many_masks() {
        // Fresh masks for every element, 64 sets per window.
        crate::fss::tests::check_relu_in_windows(2..=10u32, 64, run);
    }

    #[test]
    fn relu_exact_at_64_bits() {
        let mut rand = rng(99);
        let mut xs = vec![0u64; 10_000];
        rand(&mut xs);
        xs[0] = 0;
        xs[1] = u64::MAX;
        xs[2] = 1 << 63;
        let (y, _) = run(&xs, 64, 5);
        for (e, &x) in xs.iter().enumerate() {
            assert_eq!(y[e] as i64, (x as i64).max(0));
        }
    }
}
