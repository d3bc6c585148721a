//! Polynomials and integer powers.
//!
//! * **polynomial** Σ cᵢxⁱ: powers by the doubling tree (round j multiplies x^(2^(j−1)) by every
//!   lower power it needs), ⌈log₂ k⌉ rounds for degree k, then one truncation for the sum.
//! * **pow** x^k: a plan in which x^k = x^a·x^(k−a), a the largest power of two below k; ⌈log₂ k⌉
//!   rounds, products of a round batched. Negative k: (1/x)^|k|. Every k is right (CrypTen's odd
//!   powers ≥ 5 are not).
//!
//! Cost, 2pc-ttp, n elements (see the parent module for the columns):
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | polynomial, degree k ≥ 2 | ⌈log₂k⌉ | 8(⌈log₂k⌉ + k − 2)n | 8(k − 1)n | | |
//! | pow, k ≥ 2 | ⌈log₂k⌉ | depends on k (x²: 8n; x³: 24n; x⁴: 16n; x⁵: 32n; x⁷: 48n) | | | |

use super::products::{Group, const_like, lin, powers, products};
use super::reciprocal::reciprocal;
use crate::error::{Error, Result};
use crate::protocol::Protocol;
use std::collections::BTreeMap;

/// c₀ + c₁x + c₂x² + … (coefficients from the constant term up): ⌈log₂ k⌉ rounds for degree k.
pub fn polynomial<P: Protocol>(p: &mut P, x: &P::Share, coeffs: &[f64]) -> Result<P::Share> {
    let f = p.frac_bits();
    let degree = coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0);
    let c0 = coeffs.first().copied().unwrap_or(0.0);
    if degree == 0 {
        return Ok(const_like(p, x, c0, f));
    }
    let pw = powers(p, x, degree)?;
    let terms: Vec<(f64, &P::Share)> = pw
        .iter()
        .zip(&coeffs[1..=degree])
        .filter(|(_, c)| **c != 0.0)
        .map(|(s, &c)| (c, s))
        .collect();
    lin(p, &terms, c0)
}

/// x^k for any integer k (k < 0 via the reciprocal): ⌈log₂|k|⌉ rounds (+ the reciprocal's).
pub fn pow<P: Protocol>(p: &mut P, x: &P::Share, k: i32) -> Result<P::Share> {
    match k {
        0 => Ok(const_like(p, x, 1.0, p.frac_bits())),
        k if k > 0 => pow_positive(p, x, k as u32),
        k => {
            let r = reciprocal(p, x)?;
            pow_positive(p, &r, k.unsigned_abs())
        }
    }
}

/// ⌈log₂ k⌉ for k ≥ 1.
fn ceil_log2(k: u32) -> u32 {
    if k <= 1 { 0 } else { 32 - (k - 1).leading_zeros() }
}

/// x^k for k ≥ 1: x^k = x^a·x^(k−a) (a = k/2 for even k, else the largest power of two below k),
/// each power computed in round ⌈log₂⌉ of its exponent, a round's products batched by left factor.
fn pow_positive<P: Protocol>(p: &mut P, x: &P::Share, k: u32) -> Result<P::Share> {
    fn plan(k: u32, out: &mut BTreeMap<u32, (u32, u32)>) {
        if k <= 1 || out.contains_key(&k) {
            return;
        }
        let a = if k.is_multiple_of(2) {
            k / 2
        } else {
            1 << (31 - (k - 1).leading_zeros())
        };
        let b = k - a;
        plan(a, out);
        plan(b, out);
        out.insert(k, (a, b));
    }
    let f = p.frac_bits();
    let mut steps = BTreeMap::new();
    plan(k, &mut steps);
    let mut have: BTreeMap<u32, P::Share> = BTreeMap::new();
    have.insert(1, x.clone());
    for round in 1..=ceil_log2(k) {
        // Group this round's products by their left factor.
        let mut by_left: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
        for (&e, &(a, b)) in steps.iter().filter(|(e, _)| ceil_log2(**e) == round) {
            by_left.entry(a).or_default().push((b, e));
        }
        let out = {
            let rights: Vec<Vec<(&P::Share, u32)>> = by_left
                .values()
                .map(|v| v.iter().map(|(b, _)| (&have[b], f)).collect())
                .collect();
            let groups: Vec<Group<'_, P::Share>> = by_left
                .keys()
                .zip(&rights)
                .map(|(a, r)| (&have[a], r.as_slice()))
                .collect();
            products(p, &groups)?
        };
        for (v, zs) in by_left.values().zip(out) {
            for ((_, e), z) in v.iter().zip(zs) {
                have.insert(*e, z);
            }
        }
    }
    have.remove(&k)
        .ok_or_else(|| Error::invalid("pow", "power plan incomplete"))
}
