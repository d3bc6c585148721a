//! ReLU(x / 2^f) in the two rounds of a ReLU: the truncation rides on the ReLU's own opening.
//!
//! The dealer draws a mask r = r_h·2^63 + r_l per element (r_h the top bit) and a bit r_d. Party 0
//! adds the public offset 2^62 before masking, so both learn x̂' = x + 2^62 + r. For
//! −2^62 ≤ x < 2^62, x' = x + 2^62 lies in [0, 2^63), and with m = msb(x̂'), x̂'_l = x̂' mod 2^63:
//!
//!   x' = x̂'_l + c·2^63 − r_l  exactly, where c = m ⊕ r_h (the carry out of x' + r_l),
//!
//! so x' >> f = (x̂'_l >> f) − (r_l >> f) + c·2^(63−f) − borrow, borrow ∈ {0, 1}. Hence
//! y = Y − R with the public Y = (x̂'_l >> f) + m·2^(63−f) − 2^(62−f) and
//! R = (r_l >> f) − (1 − 2m)·r_h·2^(63−f), linear in dealer values with public coefficients;
//! y is ⌊x/2^f⌋ or one more (the one-ulp error of every truncation here), never wrapped.
//!
//! The sign comes from the same opening: x̂ = x̂' − 2^62 = x + r feeds the DReLU keys for r, whose
//! output is d ⊕ r_d; its opening d̂ is the second round. With [d]_b = [b = 0]·d̂ + (1 − 2d̂)·[r_d]_b
//! and [d·v]_b = d̂·[v]_b + (1 − 2d̂)·[r_d·v]_b for dealer values v:
//!
//!   [d·y]_b = Y·[d]_b − [d·(r_l >> f)]_b + (1 − 2m)·2^(63−f)·[d·r_h]_b.
//!
//! Online per element per party: the ReLU's 64 + 1 bits. Keys: the DReLU key and five ring
//! elements (r_d, r_l >> f, r_h, r_d·(r_l >> f), r_d·r_h).

use super::drelu::{self, DreluKeys};
use super::split_additive;

/// The public offset that makes x' = x + 2^62 non-negative.
pub const OFFSET: u64 = 1 << 62;

/// One party's keys for a batch of fused truncation + ReLU gates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncReluKeys {
    pub drelu: DreluKeys,
    /// Additive shares of r_d, r_l >> f, r_h, r_d·(r_l >> f) and r_d·r_h.
    pub rd: Vec<u64>,
    pub rl_f: Vec<u64>,
    pub rh: Vec<u64>,
    pub rd_rl_f: Vec<u64>,
    pub rd_rh: Vec<u64>,
}

/// Key size of one element for one party, in bits: the DReLU key and five ring elements.
pub fn key_bits(window: u32) -> u64 {
    drelu::key_bits(window) + 5 * 64
}

/// The dealer's side for masks r it holds (each party draws its share of r from the PRG it shares
/// with the dealer), window k and shift f.
pub fn keygen_for_masks(
    r: &[u64],
    window: u32,
    bits: u32,
    rand: &mut dyn FnMut(&mut [u64]),
) -> (TruncReluKeys, TruncReluKeys) {
    assert!((1..62).contains(&bits), "a shift of {bits} bits");
    let n = r.len();
    let mut rd_words = vec![0u64; n.div_ceil(64)];
    rand(&mut rd_words);
    let rd: Vec<u64> = (0..n).map(|e| (rd_words[e / 64] >> (e % 64)) & 1).collect();
    let (d0, mut d1) = drelu::keygen(r, window, rand);
    // Fold r_d into party 1's constant: the DReLU output is then d ⊕ r_d.
    for (e, b) in rd.iter().enumerate() {
        d1.z[e / 64] ^= b << (e % 64);
    }
    let rl_f: Vec<u64> = r.iter().map(|r| (r & (u64::MAX >> 1)) >> bits).collect();
    let rh: Vec<u64> = r.iter().map(|r| r >> 63).collect();
    let rd_rl_f: Vec<u64> = rd.iter().zip(&rl_f).map(|(d, v)| d * v).collect();
    let rd_rh: Vec<u64> = rd.iter().zip(&rh).map(|(d, v)| d * v).collect();
    let mut parts = [rd, rl_f, rh, rd_rl_f, rd_rh].map(|v| split_additive(&v, rand));
    let take = |i: usize, p: &mut [(Vec<u64>, Vec<u64>); 5], first: bool| {
        std::mem::take(if first { &mut p[i].0 } else { &mut p[i].1 })
    };
    let mut key = |drelu, first| TruncReluKeys {
        drelu,
        rd: take(0, &mut parts, first),
        rl_f: take(1, &mut parts, first),
        rh: take(2, &mut parts, first),
        rd_rl_f: take(3, &mut parts, first),
        rd_rh: take(4, &mut parts, first),
    };
    let k0 = key(d0, true);
    let k1 = key(d1, false);
    (k0, k1)
}

/// Round 2's message: this party's packed XOR share of d̂ = DReLU(x) ⊕ r_d, from the opened
/// x̂' = x + 2^62 + r.
pub fn masked_sign(key: &TruncReluKeys, xhat_offset: &[u64]) -> Vec<u64> {
    let xhat: Vec<u64> = xhat_offset.iter().map(|v| v.wrapping_sub(OFFSET)).collect();
    drelu::eval(&key.drelu, &xhat)
}

/// This party's additive share of ReLU(x / 2^f), from the opened x̂' and d̂ (see the module docs).
pub fn finish(key: &TruncReluKeys, party: u8, bits: u32, xhat_offset: &[u64], dhat: &[u64]) -> Vec<u64> {
    let first = party == 0;
    let top = 1u64 << (63 - bits);
    (0..xhat_offset.len())
        .map(|e| {
            let x = xhat_offset[e];
            let m = x >> 63;
            let y = ((x & (u64::MAX >> 1)) >> bits)
                .wrapping_add(m.wrapping_mul(top))
                .wrapping_sub(OFFSET >> bits);
            let d = (dhat[e / 64] >> (e % 64)) & 1;
            let flip = 1u64.wrapping_sub(2 * d); // 1 − 2d̂
            let share_d = flip.wrapping_mul(key.rd[e]).wrapping_add(if first { d } else { 0 });
            let d_rl_f = d
                .wrapping_mul(key.rl_f[e])
                .wrapping_add(flip.wrapping_mul(key.rd_rl_f[e]));
            let d_rh = d.wrapping_mul(key.rh[e]).wrapping_add(flip.wrapping_mul(key.rd_rh[e]));
            let sign_m = 1u64.wrapping_sub(2 * m); // 1 − 2m
            y.wrapping_mul(share_d)
                .wrapping_sub(d_rl_f)
                .wrapping_add(sign_m.wrapping_mul(top).wrapping_mul(d_rh))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fss::tests::rng;

    /// Both parties on shares of `xs`; returns the reconstructed ReLU(x / 2^f).
    fn run(xs: &[u64], window: u32, bits: u32, seed: u64) -> Vec<u64> {
        let mut rand = rng(seed);
        let mut r = vec![0u64; xs.len()];
        rand(&mut r);
        let (k0, k1) = keygen_for_masks(&r, window, bits, &mut rand);
        let (x0, x1) = split_additive(xs, &mut rand);
        let (r0, r1) = split_additive(&r, &mut rand);
        // Party 0 adds the offset; each sends x_b + r_b.
        let xhat: Vec<u64> = (0..xs.len())
            .map(|e| {
                x0[e]
                    .wrapping_add(OFFSET)
                    .wrapping_add(r0[e])
                    .wrapping_add(x1[e])
                    .wrapping_add(r1[e])
            })
            .collect();
        let (s0, s1) = (masked_sign(&k0, &xhat), masked_sign(&k1, &xhat));
        let dhat: Vec<u64> = s0.iter().zip(&s1).map(|(a, b)| a ^ b).collect();
        let (y0, y1) = (finish(&k0, 0, bits, &xhat, &dhat), finish(&k1, 1, bits, &xhat, &dhat));
        y0.iter().zip(&y1).map(|(a, b)| a.wrapping_add(*b)).collect()
    }

    fn check(xs: &[u64], got: &[u64], bits: u32, what: &str) {
        for (e, &x) in xs.iter().enumerate() {
            let want = (x as i64 >> bits).max(0);
            let g = got[e] as i64;
            // ⌊x/2^f⌋ or one more, then ReLU: a negative x may round up to 0 only.
            assert!(
                g == want || g == want + 1,
                "{what}: x={} f={bits}: got {g}, want {want}",
                x as i64
            );
            assert!(g >= 0 && (x as i64 >= 0 || g == 0), "{what}: x={}: {g}", x as i64);
        }
    }

    #[test]
    fn fused_truncation_and_relu_at_the_edges_and_at_random() {
        let mut rand = rng(7);
        for bits in [1u32, 12, 16, 20, 40] {
            let mut xs = vec![0u64; 20_000];
            rand(&mut xs);
            // Spread over [−2^62, 2^62): shift the random words down by a varying amount.
            for (e, x) in xs.iter_mut().enumerate() {
                *x = ((*x as i64) >> (2 + e % 60)) as u64;
            }
            let limit = 1i64 << 62;
            let f = 1i64 << bits;
            xs.extend(
                [
                    0,
                    1,
                    -1,
                    f - 1,
                    f,
                    f + 1,
                    -f,
                    -f - 1,
                    -f + 1,
                    limit - 1,
                    -limit,
                    -limit + 1,
                ]
                .map(|v: i64| v as u64),
            );
            for seed in 0..4 {
                let got = run(&xs, 64, bits, 100 * bits as u64 + seed);
                check(&xs, &got, bits, "window 64");
            }
        }
    }

    #[test]
    fn a_smaller_window_is_right_for_values_within_it() {
        let window = 32;
        let half = 1i64 << (window - 1);
        let xs: Vec<u64> = (-2000i64..2000)
            .map(|v| v * (half / 2001))
            .chain([half - 1, -half])
            .map(|v| v as u64)
            .collect();
        for seed in 0..8 {
            let got = run(&xs, window, 16, seed);
            check(&xs, &got, 16, "window 32");
        }
    }
}
