//! ReLU of additively shared ring values in ONE round: the opening of x̂ = x + r, then a local
//! evaluation of a ring-payload DCF (`super::dcf`) that yields additive shares of the sign bit and
//! of its product with the mask together, so no second opening is needed.
//!
//! With the window notation of `super::drelu` (x̂ = a·2^m + x̂', r = b·2^m + r', m = k − 1):
//! DReLU(x) = d = a ⊕ u with u = c ⊕ w, c = 1 ⊕ b (dealer), w = [x̂' < r'] (the DCF). Over the
//! ring, for bits, p ⊕ q = p + (1 − 2p)·q, so
//!   u = c + (1 − 2c)·w,          u·r = c·r + (1 − 2c)·w·r,
//!   d = a + (1 − 2a)·u,          d·r = a·r + (1 − 2a)·u·r,
//!   ReLU(x) = d·x = d·x̂ − d·r    (x = x̂ − r),
//! linear in [u] and [u·r] with public coefficients. The dealer sets the DCF's payload to
//! β = (1 − 2c, (1 − 2c)·r) and additively shares c and c·r; each party finishes locally.
//!
//! Online per element per party: 8 bytes in the one round. Key: a DCF on k − 1 bits and two ring
//! words, ≈ 2.1 KB per element at k = 64 (twice the two-round ReLU's): the round saved is paid in
//! key bytes and in evaluation (2(k − 1) + 1 AES blocks instead of ≈ k − 6).

use super::dcf::{self, DcfKeys, lanes, pair};
use super::split_additive;

/// One party's keys for a batch of one-round ReLUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReluOneRoundKeys {
    /// The comparison window k (2..=64).
    pub window: u32,
    /// `[x̂' < r']` with payload (1 − 2c, (1 − 2c)·r) on k − 1 bits.
    pub dcf: DcfKeys,
    /// Additive shares of the masks r (drawn from the dealer PRGs in a protocol, never sent).
    pub r: Vec<u64>,
    /// Additive shares of c = 1 ⊕ (bit k − 1 of r).
    pub c: Vec<u64>,
    /// Additive shares of c·r.
    pub c_r: Vec<u64>,
}

/// Key size of one element for one party, in bits: the DCF and two ring words.
pub fn key_bits(window: u32) -> u64 {
    dcf::key_bits(window - 1) + 2 * 64
}

fn low(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// The dealer's side: keys for masks r (one per element) and window k.
pub fn keygen_for_masks(
    r: &[u64],
    window: u32,
    rand: &mut dyn FnMut(&mut [u64]),
) -> (ReluOneRoundKeys, ReluOneRoundKeys) {
    assert!((2..=64).contains(&window), "ReLU window of {window} bits");
    let m = window - 1;
    let alphas: Vec<u64> = r.iter().map(|r| r & low(m)).collect();
    let c: Vec<u64> = r.iter().map(|r| 1 ^ ((r >> m) & 1)).collect();
    let betas: Vec<dcf::Pair> = c
        .iter()
        .zip(r)
        .map(|(c, r)| {
            let coef = 1u64.wrapping_sub(2 * c);
            pair(coef, coef.wrapping_mul(*r))
        })
        .collect();
    let (d0, d1) = dcf::keygen(&alphas, &betas, m, rand);
    let c_r: Vec<u64> = c.iter().zip(r).map(|(c, r)| c.wrapping_mul(*r)).collect();
    let (r0, r1) = split_additive(r, rand);
    let (c0, c1) = split_additive(&c, rand);
    let (p0, p1) = split_additive(&c_r, rand);
    let key = |dcf, r, c, c_r| ReluOneRoundKeys { window, dcf, r, c, c_r };
    (key(d0, r0, c0, p0), key(d1, r1, c1, p1))
}

/// The round's message: this party's share of x̂ = x + r.
pub fn masked_input(key: &ReluOneRoundKeys, x: &[u64]) -> Vec<u64> {
    x.iter().zip(&key.r).map(|(x, r)| x.wrapping_add(*r)).collect()
}

/// This party's additive shares of ReLU(x) and of the sign bit DReLU(x) (0/1 at scale 1), from
/// the opened x̂.
pub fn finish(key: &ReluOneRoundKeys, xhat: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let m = key.window - 1;
    let first = key.dcf.party == 0;
    let low_x: Vec<u64> = xhat.iter().map(|x| x & low(m)).collect();
    let w = dcf::eval(&key.dcf, &low_x);
    let mut relu = Vec::with_capacity(xhat.len());
    let mut sign = Vec::with_capacity(xhat.len());
    for (e, &x) in xhat.iter().enumerate() {
        let (w_coef, w_coef_r) = lanes(w[e]);
        let u = key.c[e].wrapping_add(w_coef);
        let u_r = key.c_r[e].wrapping_add(w_coef_r);
        let a = (x >> m) & 1;
        let coef = 1u64.wrapping_sub(2 * a);
        let d = coef.wrapping_mul(u).wrapping_add(if first { a } else { 0 });
        let d_r = a.wrapping_mul(key.r[e]).wrapping_add(coef.wrapping_mul(u_r));
        relu.push(x.wrapping_mul(d).wrapping_sub(d_r));
        sign.push(d);
    }
    (relu, sign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fss::tests::rng;

    /// Runs both parties on shares of `xs`; returns the reconstructed ReLU and sign bits.
    fn run(xs: &[u64], window: u32, seed: u64) -> (Vec<u64>, Vec<u64>) {
        let mut rand = rng(seed);
        let mut r = vec![0u64; xs.len()];
        rand(&mut r);
        let (k0, k1) = keygen_for_masks(&r, window, &mut rand);
        let (x0, x1) = split_additive(xs, &mut rand);
        let (m0, m1) = (masked_input(&k0, &x0), masked_input(&k1, &x1));
        let xhat: Vec<u64> = m0.iter().zip(&m1).map(|(a, b)| a.wrapping_add(*b)).collect();
        let ((y0, d0), (y1, d1)) = (finish(&k0, &xhat), finish(&k1, &xhat));
        let sum = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(a, b)| a.wrapping_add(*b)).collect();
        (sum(&y0, &y1), sum(&d0, &d1))
    }

    #[test]
    fn relu_exhaustive_in_small_windows_with_many_masks() {
        // Fresh masks for every element, 48 sets per window.
        crate::fss::tests::check_relu_in_windows(2..=9u32, 48, run);
    }

    #[test]
    fn every_mask_low_part_at_six_bits() {
        // Every r' (the DCF's α) with both top bits, for every x in the window.
        let k = 6u32;
        let half = 1i64 << (k - 1);
        for r_low in 0..(1u64 << k) {
            let xs: Vec<u64> = (-half..half).map(|v| v as u64).collect();
            let mut rand = rng(r_low);
            let mut r = vec![0u64; xs.len()];
            rand(&mut r);
            for m in r.iter_mut() {
                *m = (*m & !low(k)) | r_low;
            }
            let (k0, k1) = keygen_for_masks(&r, k, &mut rand);
            let xhat: Vec<u64> = xs.iter().zip(&r).map(|(x, r)| x.wrapping_add(*r)).collect();
            let ((y0, _), (y1, _)) = (finish(&k0, &xhat), finish(&k1, &xhat));
            for (e, &x) in xs.iter().enumerate() {
                assert_eq!(
                    y0[e].wrapping_add(y1[e]) as i64,
                    (x as i64).max(0),
                    "r'={r_low} x={}",
                    x as i64
                );
            }
        }
    }

    #[test]
    fn relu_exact_at_64_bits_and_in_a_32_bit_window() {
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
        let small: Vec<u64> = xs.iter().map(|x| ((*x as i64) >> 33) as u64).collect();
        let (y, _) = run(&small, 32, 6);
        for (e, &x) in small.iter().enumerate() {
            assert_eq!(y[e] as i64, (x as i64).max(0));
        }
    }
}
