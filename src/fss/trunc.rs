//! Fixed-point truncation with a dealer triple and 2^62 of slack: exact (no wrap failure) for
//! every |x| < 2^62, one opening.
//!
//! The dealer draws r and gives additive shares of r, r ≫ f and MSB(r)·2^{64−f}. The parties open
//! c = x + 2^62 + r. With y = x + 2^62 ∈ [0, 2^63), the sum y + r wraps past 2^64 exactly when
//! MSB(r) = 1 and MSB(c) = 0, so
//!   x ≫ f ≈ (c ≫ f) − 2^{62−f} − [r ≫ f] + (1 − MSB(c))·[MSB(r)·2^{64−f}],
//! which is ⌊x / 2^f⌋ plus the carry out of the low f bits: 1 with probability
//! (x mod 2^f) / 2^f over r, i.e. unbiased stochastic rounding. Online: 8 bytes per element per
//! party, one round (free when fused into the opening of the next gate); key: three ring elements.

use super::split_additive;

/// One party's truncation keys for a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncKeys {
    pub party: u8,
    /// Fractional bits dropped.
    pub bits: u32,
    pub r: Vec<u64>,
    pub r_shifted: Vec<u64>,
    pub msb_term: Vec<u64>,
}

/// The slack added before opening.
pub const SLACK: u64 = 1 << 62;

/// Key size per element per party in bits.
pub const KEY_BITS: u64 = 3 * 64;

/// The dealer's side: keys for n truncations by `bits` (1..=62).
pub fn keygen(n: usize, bits: u32, rand: &mut dyn FnMut(&mut [u64])) -> (TruncKeys, TruncKeys) {
    assert!((1..=62).contains(&bits), "truncation by {bits} bits");
    let mut r = vec![0u64; n];
    rand(&mut r);
    let shifted: Vec<u64> = r.iter().map(|r| r >> bits).collect();
    let msb: Vec<u64> = r.iter().map(|r| (r >> 63) << (64 - bits)).collect();
    let (r0, r1) = split_additive(&r, rand);
    let (s0, s1) = split_additive(&shifted, rand);
    let (m0, m1) = split_additive(&msb, rand);
    (
        TruncKeys {
            party: 0,
            bits,
            r: r0,
            r_shifted: s0,
            msb_term: m0,
        },
        TruncKeys {
            party: 1,
            bits,
            r: r1,
            r_shifted: s1,
            msb_term: m1,
        },
    )
}

/// The opening's message: this party's share of c = x + 2^62 + r (party 0 adds the slack).
pub fn masked_input(key: &TruncKeys, x: &[u64]) -> Vec<u64> {
    x.iter()
        .zip(&key.r)
        .map(|(x, r)| {
            let v = x.wrapping_add(*r);
            if key.party == 0 { v.wrapping_add(SLACK) } else { v }
        })
        .collect()
}

/// This party's share of x ≫ f from the opened c.
pub fn finish(key: &TruncKeys, c: &[u64]) -> Vec<u64> {
    let f = key.bits;
    (0..c.len())
        .map(|e| {
            let no_top = 1 - (c[e] >> 63);
            let mut out = no_top.wrapping_mul(key.msb_term[e]).wrapping_sub(key.r_shifted[e]);
            if key.party == 0 {
                out = out.wrapping_add(c[e] >> f).wrapping_sub(SLACK >> f);
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fss::tests::rng;

    fn run(xs: &[u64], bits: u32, seed: u64) -> Vec<u64> {
        let mut rand = rng(seed);
        let (k0, k1) = keygen(xs.len(), bits, &mut rand);
        let (x0, x1) = split_additive(xs, &mut rand);
        let (c0, c1) = (masked_input(&k0, &x0), masked_input(&k1, &x1));
        let c: Vec<u64> = c0.iter().zip(&c1).map(|(a, b)| a.wrapping_add(*b)).collect();
        let (y0, y1) = (finish(&k0, &c), finish(&k1, &c));
        y0.iter().zip(&y1).map(|(a, b)| a.wrapping_add(*b)).collect()
    }

    #[test]
    fn floor_or_floor_plus_one_for_every_x_below_2_pow_62() {
        let mut rand = rng(3);
        let mut xs = vec![0u64; 20_000];
        rand(&mut xs);
        // Spread magnitudes over every bit length up to 2^62 − 1, both signs.
        for (e, x) in xs.iter_mut().enumerate() {
            let len = (e % 62) as u32 + 1;
            let v = (*x >> (64 - len)) as i64;
            *x = if e % 2 == 0 { v as u64 } else { v.wrapping_neg() as u64 };
        }
        xs[0] = (SLACK - 1) as u64;
        xs[1] = (SLACK as i64 - 1).wrapping_neg() as u64;
        for bits in [1, 12, 16, 20, 40] {
            let y = run(&xs, bits, bits as u64);
            for (e, &x) in xs.iter().enumerate() {
                let floor = (x as i64) >> bits;
                let got = y[e] as i64;
                assert!(
                    got == floor || got == floor + 1,
                    "x={} f={bits}: {got} vs {floor}",
                    x as i64
                );
            }
        }
    }

    #[test]
    fn rounding_is_unbiased() {
        // x = 2^16 · 5 + 2^14: a quarter of the way to the next integer at f = 16.
        let x = (5u64 << 16) + (1 << 14);
        let xs = vec![x; 40_000];
        let y = run(&xs, 16, 11);
        let ups = y.iter().filter(|&&v| v == 6).count();
        assert!(y.iter().all(|&v| v == 5 || v == 6));
        let rate = ups as f64 / xs.len() as f64;
        assert!((rate - 0.25).abs() < 0.01, "{rate}");
    }
}
