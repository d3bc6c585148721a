//! Polynomial and iterative approximations: exp, log, reciprocal, division, sqrt, inverse sqrt,
//! sigmoid, tanh, erf, GELU, polynomials and integer powers.
//!
//! The algorithms and parameters are CrypTen's (`p.functions()`, whose defaults are CrypTen's);
//! what differs is how they are evaluated: independent products share a round, a factor used by
//! several products of a round is masked and sent once, iterations are rearranged so that each
//! costs fewer rounds, and the fixed-point evaluation order keeps the precision CrypTen loses.
//! Every function is written once over [`Protocol`].
//!
//! # Evaluation
//!
//! * **Product rounds.** All products of a round go into one `bilinear_many` call. Products that
//!   share a factor a (a·b₁, …, a·bₘ) are sent as one batched matrix product `[n,1,1]·[n,1,m]`,
//!   so a is masked and opened once: 8(m+1)n bytes instead of 16mn on 2pc-ttp. A round made only
//!   of squares uses `square_many` (8n each).
//! * **exp** (limit method, (1 + x/2^d)^(2^d), d = `exp_iterations`): d squarings. The first
//!   squarings carry 2 extra fractional bits (their rounding errors are amplified 2^(d−k)-fold);
//!   the result has the session's precision. Domain as CrypTen: about [−2^d·2, 21]; above ≈10 the
//!   result's raw product is large enough that a local truncation may wrap (probability e^x/2^32).
//! * **|x| inside an exponential** (reciprocal, sigmoid): with l = \[x < 0\], the first squaring of
//!   the limit base c − 2^−k·|x| is c² − 2c·2^−k·|x| + 2^−2k·x²; |x| = x − 2·l·x and x² come from
//!   one round (x·[l, x/2^k]), which saves the separate |x| round.
//! * **reciprocal** (`reciprocal_nr_iters` = K Newton–Raphson steps r ← r(2 − x·r) from
//!   3·exp(1 − 2|x|) + 0.003 or `reciprocal_initial`, sign handled through l = ltz(x) unless
//!   `reciprocal_all_pos`): the first K − 1 steps run coupled, r ← r + r·e, e ← e² with
//!   e = 1 − |x|·r (the same iterates, one round each instead of two); the last step is evaluated
//!   as r(2s − x·r) with x·r first (s = 1 − 2l), which both restores the self-correction that the
//!   coupled form lacks and applies the sign. CrypTen evaluates r·r first and loses 14 % at
//!   x = 100; this is within one ulp of 1/x.
//! * **div(x, y)** = x·(1/y): x joins the last Newton step (w = x·r in the round of y·r), so it
//!   costs no extra round.
//! * **inv_sqrt** (`sqrt_nr_iters` = K steps y ← y(3 − x·y²)/2 from 2.2·exp(−x/2 − 0.2) + 0.2 −
//!   x/1024 or `sqrt_nr_initial`): two rounds per step (y·[y, x], then (xy)·y²). **sqrt** folds
//!   the final ·x into the last step: √x ≈ (3xy − (x²y)·y²)/2 with x² squared alongside the
//!   exponential, so sqrt costs no more rounds than inv_sqrt.
//! * **log** (Householder as CrypTen: y₀ = x/120 − 20·exp(−2x − 1) + 3, then `log_iterations`
//!   steps y ← y − Σ_{k≤order} h^k/k with h = 1 − x·exp(−y), exp with `log_exp_iterations`):
//!   powers by the doubling tree. Bias correction: the iteration converges to the root of
//!   x·exp_d(−y) = 1 where exp_d is the limit approximation, i.e. to log x − c(y) with
//!   c(y) = 2^d·log(1 − y/2^d) + y ≈ −(y²/2^(d+1) + y³/(3·2^2d)); we add those two terms back
//!   (y² and y³ of the last estimate ride along in existing rounds). CrypTen is off by 0.06 at
//!   x = 250; this is within ≈0.005. (Applied when log_exp_iterations ≥ 6.)
//! * **sigmoid** ("reciprocal", CrypTen's default): l = ltz(x), σ⁺ = 1/(1 + exp(−|x|)) with exp of
//!   9 iterations and 3 Newton steps from 0.75 (the first is local), σ = σ⁺ + l·(1 − 2σ⁺). The
//!   Newton steps run coupled and l·σ⁺ is carried through them (l·r alongside r), so the final
//!   select costs no round. **tanh** = 2σ(2x) − 1.
//! * **"chebyshev"** (sigmoid, tanh): the input is clamped to [−R, R] and tanh is evaluated as an
//!   odd Chebyshev series T₁, T₃, … below `sigmoid_tanh_terms` on [−R, R] (coefficients computed
//!   at run time in f64, R chosen to minimise max(series error, 1 − tanh R); R = 5 for 32 terms).
//!   The T_k come from the doubling identities T_{m+i} = 2T_m·T_i − T_{m−i}, so degree 31 takes 5
//!   rounds (CrypTen's three-term recurrence takes 16). Clamping the input, rather than CrypTen's
//!   clamping of the output, keeps the result right for every |x|, and makes an output clamp
//!   unnecessary (|series| ≤ 1 + 1e−4 on [−1, 1]).
//! * **erf**: CrypTen's Taylor series is wrong beyond |x| ≈ 2 with 8 terms (and its odd `pow` bug
//!   breaks it further). Here: x is clamped to [−R, R] and erf is evaluated as an odd Chebyshev
//!   series with `erf_iterations` terms (degree 2·terms − 1), R chosen as for tanh (R = 2.875 for
//!   8 terms: series error 6e−5, 1 − erf R = 4e−5).
//! * **gelu** "tanh": 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(2y); with the reciprocal
//!   method x·σ is carried through the sigmoid's last rounds (x·r and x·l·r), so the product with
//!   x costs no round. "erf": x·(1 + erf(x/√2))/2.
//! * **polynomial** Σ cᵢxⁱ: powers by the doubling tree (round j multiplies x^(2^(j−1)) by every
//!   lower power it needs), ⌈log₂ k⌉ rounds for degree k, then one truncation for the sum.
//! * **pow** x^k: a plan in which x^k = x^a·x^(k−a), a the largest power of two below k; ⌈log₂ k⌉
//!   rounds, products of a round batched. Negative k: (1/x)^|k|. Every k is right (CrypTen's odd
//!   powers ≥ 5 are not).
//!
//! # Cost, 2pc-ttp, n elements
//!
//! Rounds are between the parties (the critical path with the dealer's answers is twice that; see
//! the `func` module). Bytes are those each party sends; offline bytes are the dealer's. L and C are the costs of
//! [`compare::ltz`] and [`compare::clamp`] on n elements (8 rounds each, and their bytes and
//! offline bytes in the other columns; see `compare`). Defaults:
//! d = exp_iterations = 8, K = reciprocal_nr_iters = 10, S = sqrt_nr_iters = 3,
//! log: d₀ = 8, I = 2 iterations, d = 8, order o = 8; 32 Chebyshev terms for tanh; 8 erf terms.
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | exp | d | 8dn | 8dn | 8, 64n, 64n | 8 |
//! | reciprocal (K ≥ 2) | L + d + K + 2 | L + (8d + 24K + 32)n | L + (8d + 16K + 8)n | L+20, L+336n, L+232n | 38 |
//! | reciprocal, all_pos | d + K + 2 | (8d + 24K + 16)n | (8d + 16K)n | 20, 320n, 224n | 28 |
//! | div(x, y) | as reciprocal | reciprocal + 8n | reciprocal + 8n | L+20, L+344n, L+240n | 39 |
//! | inv_sqrt (S ≥ 1) | d + 2S | (8d + 40S)n | (8d + 24S)n | 14, 184n, 136n | 17 |
//! | sqrt (S ≥ 1) | d + 2S | (8d + 40S + 16)n | (8d + 24S + 16)n | 14, 200n, 152n | 18 |
//! | log | d₀ + I(d + 1 + ⌈log₂o⌉) | (8d₀ + I(8d + 8⌈log₂o⌉ + 8o) + 24)n | (8d₀ + I(8d + 8o) + 16)n | 32, 392n, 336n | 32 |
//! | sigmoid, tanh (reciprocal) | L + 12 | L + 168n | L + 136n | | 24 |
//! | sigmoid, tanh (chebyshev, 32 terms) | C + 5 | C + 184n | C + 152n | | 16 + hardtanh |
//! | erf (8 terms) | C + 4 | C + 104n | C + 80n | | (wrong) |
//! | gelu, tanh form (reciprocal) | L + 14 | L + 216n | L + 168n | | |
//! | gelu, tanh form (chebyshev) | C + 8 | C + 224n | C + 176n | | |
//! | gelu, erf form | C + 5 | C + 120n | C + 88n | | |
//! | polynomial, degree k ≥ 2 | ⌈log₂k⌉ | 8(⌈log₂k⌉ + k − 2)n | 8(k − 1)n | | |
//! | pow, k ≥ 2 | ⌈log₂k⌉ | depends on k (x²: 8n; x³: 24n; x⁴: 16n; x⁵: 32n; x⁷: 48n) | | | |
//!
//! The log row assumes o ≥ 2 and d ≥ 6 (the bias correction adds the final 24n / 16n). For
//! reciprocal K = 1: the two rounds of the final step only (L + d + 2 rounds; with K = 0 one
//! round s·r). Truncation is local for two parties, so it adds nothing here.

use super::{compare, fixed};
use crate::error::{Error, Result};
use crate::protocol::{BilinearOp, Protocol};
use crate::ring::{RingTensor, encode_value, numel};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

// ===================================================================================================
// Public functions
// ===================================================================================================

/// e^x by the limit method (1 + x/2^d)^(2^d), d = `exp_iterations`: d rounds.
pub fn exp<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let d = p.functions().exp_iterations;
    Ok(exp_limit(p, x, d, None)?.0)
}

/// ln x for x > 0 (reliable on about [1e−4, 250], like CrypTen's).
pub fn log<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let cfg = p.functions();
    let (d0, iters, d, order) = (
        cfg.exp_iterations,
        cfg.log_iterations,
        cfg.log_exp_iterations,
        cfg.log_order,
    );
    let f = p.frac_bits();
    // y₀ = x/120 − 20·exp(−2x − 1) + 3.
    let arg = lin(p, &[(-2.0, x)], -1.0)?;
    let w = exp_limit(p, &arg, d0, None)?.0;
    let mut y = lin(p, &[(1.0 / 120.0, x), (-20.0, &w)], 3.0)?;
    let correct = iters > 0 && d >= 6;
    let mut powers_of_y: Option<(P::Share, P::Share)> = None;
    for it in 0..iters {
        let last = it + 1 == iters;
        let neg = p.neg(&y)?;
        let side = if last && correct { Some(&y) } else { None };
        let (e, y2) = exp_limit(p, &neg, d, side)?;
        // u = x·exp(−y), plus y·y² for the bias correction.
        let u = match &y2 {
            Some(y2) => {
                let mut out = products(p, &[(x, &[(&e, f)]), (&y, &[(y2, f)])])?;
                let y3 = out.remove(1).remove(0);
                powers_of_y = Some((y2.clone(), y3));
                out.remove(0).remove(0)
            }
            None => products(p, &[(x, &[(&e, f)])])?.remove(0).remove(0),
        };
        let h = fixed::const_sub(p, 1.0, &u)?;
        if order == 0 {
            continue;
        }
        let pw = powers(p, &h, order as usize)?;
        let terms: Vec<(f64, &P::Share)> = pw.iter().enumerate().map(|(k, s)| (1.0 / (k + 1) as f64, s)).collect();
        let step = lin(p, &terms, 0.0)?;
        y = p.sub(&y, &step)?;
    }
    if let Some((y2, y3)) = powers_of_y {
        // + y²/2^(d+1) + y³/(3·2^2d), each with a single truncation.
        let a = shr(p, y2, d + 1)?;
        let t = p.mul_scalar(&y3, encode_value(1.0 / 3.0, f))?;
        let b = shr(p, t, f + 2 * d)?;
        y = p.add(&y, &a)?;
        y = p.add(&y, &b)?;
    }
    Ok(y)
}

/// 1/x (for |x| in about [0.01, 250]; sign handled unless `reciprocal_all_pos`).
pub fn reciprocal<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    reciprocal_core(p, x, None)
}

/// x / y for private x and y: x·(1/y), with x folded into the last Newton step (no extra round).
pub fn div<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    if p.shape(x) != p.shape(y) {
        return Err(Error::shape(
            "div",
            format!("shapes {:?} and {:?} differ", p.shape(x), p.shape(y)),
        ));
    }
    reciprocal_core(p, y, Some(x))
}

/// √x for x > 0 (x up to ≈ 200: CrypTen's initial guess turns negative beyond).
pub fn sqrt<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    sqrt_core(p, x, true)
}

/// 1/√x for x > 0 (x up to ≈ 200).
pub fn inv_sqrt<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    sqrt_core(p, x, false)
}

/// σ(x) = 1/(1 + e^−x), by `sigmoid_tanh_method` (the reciprocal method needs |x| < 1024, where
/// the exponential's limit base stays above −1; the Chebyshev method takes any x).
pub fn sigmoid<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    if p.functions().sigmoid_tanh_method == "chebyshev" {
        // σ(x) = tanh(x/2)/2 + 1/2.
        return tanh_chebyshev(p, x, 0.5, 0.5, 0.5);
    }
    sigmoid_core(p, x, None)
}

/// tanh x, by `sigmoid_tanh_method` (reciprocal method: |x| < 512; Chebyshev: any x).
pub fn tanh<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    if p.functions().sigmoid_tanh_method == "chebyshev" {
        return tanh_chebyshev(p, x, 1.0, 1.0, 0.0);
    }
    let x2 = fixed::mul_int(p, x, 2)?;
    let s = sigmoid_core(p, &x2, None)?;
    let s2 = fixed::mul_int(p, &s, 2)?;
    fixed::add_const(p, &s2, -1.0)
}

/// erf x: clamp to [−R, R], then an odd Chebyshev series of `erf_iterations` terms.
pub fn erf<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let terms = p.functions().erf_iterations as usize;
    odd_series_clamped(p, x, Curve::Erf, terms, 1.0, 1.0, 0.0)
}

/// GELU(x) = x·Φ(x), in the "tanh" or "erf" form of `gelu_method`. The erf form clamps its input
/// and takes any x; the tanh form with the reciprocal sigmoid needs |x| < 22 (|2y| < 1024).
pub fn gelu<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let f = p.frac_bits();
    if p.functions().gelu_method == "erf" {
        // Φ(x) = (1 + erf(x/√2))/2, then one product with x.
        let terms = p.functions().erf_iterations as usize;
        let phi = odd_series_clamped(p, x, Curve::Erf, terms, std::f64::consts::FRAC_1_SQRT_2, 0.5, 0.5)?;
        return Ok(products(p, &[(x, &[(&phi, f)])])?.remove(0).remove(0));
    }
    // y = √(2/π)(x + 0.044715x³); GELU = x·(1 + tanh y)/2 = x·σ(2y).
    let x2 = fixed::square(p, x)?;
    let x3 = products(p, &[(x, &[(&x2, f)])])?.remove(0).remove(0);
    let k = (2.0 / std::f64::consts::PI).sqrt();
    if p.functions().sigmoid_tanh_method == "chebyshev" {
        let y = lin(p, &[(k, x), (k * 0.044715, &x3)], 0.0)?;
        let half = tanh_chebyshev(p, &y, 1.0, 0.5, 0.5)?;
        return Ok(products(p, &[(x, &[(&half, f)])])?.remove(0).remove(0));
    }
    let v = lin(p, &[(2.0 * k, x), (2.0 * k * 0.044715, &x3)], 0.0)?;
    sigmoid_core(p, &v, Some(x))
}

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

// ===================================================================================================
// Share helpers
// ===================================================================================================

/// The public real c at `bits` fractional bits, as a share shaped like x.
fn const_like<P: Protocol>(p: &P, x: &P::Share, c: f64, bits: u32) -> P::Share {
    p.constant(&RingTensor::full(p.shape(x), encode_value(c, bits)))
}

/// x + c for x at `bits` fractional bits.
fn add_at<P: Protocol>(p: &P, x: &P::Share, c: f64, bits: u32) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    p.add_public(x, &RingTensor::full(&shape, encode_value(c, bits)))
}

/// x / 2^bits (truncation; nothing for bits = 0).
fn shr<P: Protocol>(p: &mut P, x: P::Share, bits: u32) -> Result<P::Share> {
    if bits == 0 {
        return Ok(x);
    }
    Ok(p.truncate_many(vec![x], bits)?.remove(0))
}

/// c₀ + Σ cᵢ·xᵢ for public reals cᵢ and fixed-point shares xᵢ, with one truncation.
fn lin<P: Protocol>(p: &mut P, terms: &[(f64, &P::Share)], c0: f64) -> Result<P::Share> {
    let f = p.frac_bits();
    let mut acc: Option<P::Share> = None;
    for (c, x) in terms {
        let t = p.mul_scalar(x, encode_value(*c, f))?;
        acc = Some(match acc {
            None => t,
            Some(a) => p.add(&a, &t)?,
        });
    }
    let Some(acc) = acc else {
        return Err(Error::invalid("approx", "a linear combination needs at least one term"));
    };
    let y = shr(p, acc, f)?;
    add_at(p, &y, c0, f)
}

/// A bit (or any integer) share at scale 1 as a fixed-point share, times k.
fn int_times<P: Protocol>(p: &P, b: &P::Share, k: i64) -> Result<P::Share> {
    p.mul_scalar(b, (k << p.frac_bits()) as u64)
}

/// A left factor with its right factors, each with the number of bits to truncate the product by.
type Group<'a, S> = (&'a S, &'a [(&'a S, u32)]);

/// One round of products. Each group is a left factor with the right factors it multiplies, each
/// with the number of bits to truncate its product by (0 for integer factors). Returns the
/// products group by group. Groups with several right factors go out as one batched matrix
/// product `[n,1,1]·[n,1,m]`, so the left factor is masked and opened once; a round of squares
/// only uses `square_many`. All factors of a group share one shape.
fn products<P: Protocol>(p: &mut P, groups: &[Group<'_, P::Share>]) -> Result<Vec<Vec<P::Share>>> {
    let all_squares = groups.iter().all(|(l, rs)| rs.len() == 1 && std::ptr::eq(*l, rs[0].0));
    let raw: Vec<Vec<P::Share>> = if all_squares {
        let xs: Vec<&P::Share> = groups.iter().map(|(l, _)| *l).collect();
        p.square_many(&xs)?.into_iter().map(|z| vec![z]).collect()
    } else {
        let mut packed: Vec<Option<(P::Share, P::Share)>> = Vec::with_capacity(groups.len());
        for (l, rs) in groups {
            if rs.is_empty() {
                return Err(Error::invalid("approx", "a product group without right factors"));
            }
            let shape = p.shape(l).to_vec();
            if let Some((r, _)) = rs.iter().find(|(r, _)| p.shape(r) != shape.as_slice()) {
                return Err(Error::shape(
                    "mul",
                    format!("shapes {:?} and {:?} differ", shape, p.shape(r)),
                ));
            }
            if rs.len() == 1 {
                packed.push(None);
                continue;
            }
            let n = numel(&shape);
            let left = p.linear(l, &|t| t.clone().reshape(&[n, 1, 1]))?;
            let right = stack_last(p, rs, n)?;
            packed.push(Some((left, right)));
        }
        let items: Vec<(&P::Share, &P::Share, BilinearOp)> = groups
            .iter()
            .zip(&packed)
            .map(|((l, rs), pk)| match pk {
                None => (*l, rs[0].0, BilinearOp::Mul),
                Some((a, b)) => (a, b, BilinearOp::MatMul),
            })
            .collect();
        let zs = p.bilinear_many(&items)?;
        let mut out = Vec::with_capacity(groups.len());
        for (((l, rs), pk), z) in groups.iter().zip(&packed).zip(zs) {
            if pk.is_none() {
                out.push(vec![z]);
                continue;
            }
            let shape = p.shape(l).to_vec();
            let (n, m) = (numel(&shape), rs.len());
            let rows = p.linear(&z, &|t| t.clone().reshape(&[n, m])?.transpose())?;
            let mut parts = Vec::with_capacity(m);
            for j in 0..m {
                parts.push(p.linear(&rows, &|t| t.slice(0, j, j + 1)?.reshape(&shape))?);
            }
            out.push(parts);
        }
        out
    };
    // Truncate: one call per distinct bit count.
    let mut slots: Vec<Vec<Option<P::Share>>> = raw.into_iter().map(|g| g.into_iter().map(Some).collect()).collect();
    let mut counts: Vec<u32> = groups
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(|r| r.1))
        .filter(|&b| b > 0)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    for bits in counts {
        let mut at = Vec::new();
        let mut xs = Vec::new();
        for (g, (_, rs)) in groups.iter().enumerate() {
            for (j, r) in rs.iter().enumerate() {
                if r.1 == bits {
                    at.push((g, j));
                    xs.push(slots[g][j].take().expect("each product truncated once"));
                }
            }
        }
        for ((g, j), y) in at.into_iter().zip(p.truncate_many(xs, bits)?) {
            slots[g][j] = Some(y);
        }
    }
    Ok(slots
        .into_iter()
        .map(|g| g.into_iter().map(|s| s.expect("every product present")).collect())
        .collect())
}

/// The right factors of a group as one `[n, 1, m]` share (factor j in column j).
fn stack_last<P: Protocol>(p: &P, rs: &[(&P::Share, u32)], n: usize) -> Result<P::Share> {
    let m = rs.len();
    let mut acc = p.linear(rs[0].0, &|t| t.clone().reshape(&[n]))?;
    for (r, _) in &rs[1..] {
        acc = p.linear2(&acc, r, &|a, b| RingTensor::concat(&[a, &b.clone().reshape(&[n])?], 0))?;
    }
    p.linear(&acc, &|t| t.clone().reshape(&[m, n])?.transpose()?.reshape(&[n, 1, m]))
}

/// x, x², …, x^k (k ≥ 1) by the doubling tree: ⌈log₂ k⌉ rounds; the round with top power
/// t = 2^(j−1) computes x^t·[x, …, x^min(t, k−t)].
fn powers<P: Protocol>(p: &mut P, x: &P::Share, k: usize) -> Result<Vec<P::Share>> {
    let f = p.frac_bits();
    let mut pw: Vec<P::Share> = vec![x.clone()];
    let mut top = 1;
    while top < k {
        let m = top.min(k - top);
        let out = {
            let rights: Vec<(&P::Share, u32)> = pw[..m].iter().map(|s| (s, f)).collect();
            products(p, &[(&pw[top - 1], &rights)])?.remove(0)
        };
        pw.extend(out);
        top *= 2;
    }
    Ok(pw)
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

// ===================================================================================================
// Exponential (limit method)
// ===================================================================================================

/// Extra fractional bits carried by z_k, the k-th square of a d-step limit exponential: 2 for the
/// early squares (whose rounding errors are amplified 2^(d−k)-fold), none for the result.
fn chain_extra(f: u32, d: u32, k: u32) -> u32 {
    let extra = if f <= 20 { 2 } else { 0 };
    if k >= d { 0 } else { extra.min(d - 1 - k) }
}

/// Squares z_k (held at f + chain_extra(k) bits) up to z_d (at f bits). `side`, if given, is
/// squared (to f bits) in the first round.
fn square_chain<P: Protocol>(
    p: &mut P,
    mut z: P::Share,
    k: u32,
    d: u32,
    side: Option<&P::Share>,
) -> Result<(P::Share, Option<P::Share>)> {
    let f = p.frac_bits();
    let mut side_sq = None;
    for j in k + 1..=d {
        let shift = f + 2 * chain_extra(f, d, j - 1) - chain_extra(f, d, j);
        match side {
            Some(s) if j == k + 1 => {
                let mut sq = p.square_many(&[&z, s])?;
                let s2 = sq.pop().expect("two squares");
                z = shr(p, sq.pop().expect("two squares"), shift)?;
                side_sq = Some(shr(p, s2, f)?);
            }
            _ => {
                let sq = p.square_many(&[&z])?.remove(0);
                z = shr(p, sq, shift)?;
            }
        }
    }
    if let (Some(s), None) = (side, &side_sq) {
        side_sq = Some(fixed::square(p, s)?);
    }
    Ok((z, side_sq))
}

/// exp(x) ≈ (1 + x/2^d)^(2^d), plus the square of `side` computed in the first round.
fn exp_limit<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    d: u32,
    side: Option<&P::Share>,
) -> Result<(P::Share, Option<P::Share>)> {
    let f = p.frac_bits();
    if d == 0 {
        let e = add_at(p, x, 1.0, f)?;
        let s = match side {
            Some(s) => Some(fixed::square(p, s)?),
            None => None,
        };
        return Ok((e, s));
    }
    let e0 = chain_extra(f, d, 0);
    let scaled = shr(p, x.clone(), d - e0)?; // x/2^d at f + e0 bits
    let z0 = add_at(p, &scaled, 1.0, f + e0)?;
    square_chain(p, z0, 0, d, side)
}

/// The exponential, |x| and l·m (see [`exp_of_abs`]).
type AbsExp<S> = (S, S, Option<S>);

/// The limit exponential of base c − 2^−k·|x| (d ≥ 1 squarings), given l = \[x < 0\]. The first
/// square c² − 2c·2^−k·|x| + 2^−2k·x² needs |x| = x − 2·l·x and x·(x/2^k): one round, which also
/// computes l·m for the optional `m`. Returns (the exponential, |x|, l·m).
fn exp_of_abs<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    l: &P::Share,
    c: f64,
    k: u32,
    d: u32,
    m: Option<&P::Share>,
) -> Result<AbsExp<P::Share>> {
    let f = p.frac_bits();
    let s1 = f + chain_extra(f, d, 1);
    let q = shr(p, x.clone(), k)?;
    let first = [(l, 0), (&q, k + 2 * f - s1)];
    let mut out = match m {
        Some(m) => products(p, &[(x, &first), (l, &[(m, 0)])])?,
        None => products(p, &[(x, &first)])?,
    };
    let lm = if m.is_some() {
        Some(out.remove(1).remove(0))
    } else {
        None
    };
    let mut g = out.remove(0);
    let sq = g.remove(1);
    let lx = g.remove(0);
    let twice = fixed::mul_int(p, &lx, 2)?;
    let abs = p.sub(x, &twice)?;
    let t = p.mul_scalar(&abs, encode_value(2.0 * c / (1u64 << k) as f64, f))?;
    let linear = shr(p, t, 2 * f - s1)?;
    let z1 = p.sub(&sq, &linear)?;
    let z1 = add_at(p, &z1, c * c, s1)?;
    let (e, _) = square_chain(p, z1, 1, d, None)?;
    Ok((e, abs, lm))
}

// ===================================================================================================
// Reciprocal and division
// ===================================================================================================

/// num/x (or 1/x): initial guess, K − 1 coupled Newton steps, and a final x·r-first step that
/// applies the sign and the numerator.
fn reciprocal_core<P: Protocol>(p: &mut P, x: &P::Share, num: Option<&P::Share>) -> Result<P::Share> {
    let all_pos = p.functions().reciprocal_all_pos;
    reciprocal_core_pos(p, x, num, all_pos)
}

/// 1/x for x known to be positive (softmax denominators): skips the sign test.
pub fn reciprocal_positive<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    reciprocal_core_pos(p, x, None, true)
}

fn reciprocal_core_pos<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    num: Option<&P::Share>,
    all_pos: bool,
) -> Result<P::Share> {
    let cfg = p.functions();
    let (iters, initial, d) = (cfg.reciprocal_nr_iters, cfg.reciprocal_initial, cfg.exp_iterations);
    let f = p.frac_bits();
    let l = if all_pos { None } else { Some(compare::ltz(p, x)?) };

    // |x| and the initial guess r₀ (public or shared).
    enum Guess<S> {
        Public(f64),
        Shared(S),
    }
    let (abs, r0) = match (initial, &l) {
        (Some(v), None) => (x.clone(), Guess::Public(v)),
        (Some(v), Some(l)) => {
            let lx = products(p, &[(x, &[(l, 0)])])?.remove(0).remove(0);
            let twice = fixed::mul_int(p, &lx, 2)?;
            (p.sub(x, &twice)?, Guess::Public(v))
        }
        (None, None) => {
            // 3·exp(1 − 2x) + 0.003
            let arg = lin(p, &[(-2.0, x)], 1.0)?;
            let e = exp_limit(p, &arg, d, None)?.0;
            (x.clone(), Guess::Shared(lin(p, &[(3.0, &e)], 0.003)?))
        }
        (None, Some(l)) if d == 0 => {
            let lx = products(p, &[(x, &[(l, 0)])])?.remove(0).remove(0);
            let twice = fixed::mul_int(p, &lx, 2)?;
            let abs = p.sub(x, &twice)?;
            // exp(1 − 2|x|) ≈ 2 − 2|x| with no squaring.
            let r0 = lin(p, &[(-6.0, &abs)], 6.003)?;
            (abs, Guess::Shared(r0))
        }
        (None, Some(l)) => {
            // Limit base 1 + (1 − 2|x|)/2^d = (1 + 2^−d) − 2^−(d−1)·|x|.
            let c = 1.0 + 1.0 / (1u64 << d) as f64;
            let (e, abs, _) = exp_of_abs(p, x, l, c, d - 1, d, None)?;
            (abs, Guess::Shared(lin(p, &[(3.0, &e)], 0.003)?))
        }
    };

    // Coupled steps r ← r + r·e, e ← e² (e = 1 − |x|·r), m = K − 1 of them.
    let m = iters.saturating_sub(1);
    let (mut r, mut e, mut done) = match r0 {
        Guess::Public(v) if m >= 1 => {
            // e₀ = 1 − v|x| and r₁ = v(1 + e₀) are local.
            let e0 = lin(p, &[(-v, &abs)], 1.0)?;
            let r1 = lin(p, &[(v, &e0)], v)?;
            (r1, Some(e0), 1)
        }
        Guess::Public(v) => (const_like(p, x, v, f), None, 0),
        Guess::Shared(r0) if m >= 1 => {
            let u = products(p, &[(&abs, &[(&r0, f)])])?.remove(0).remove(0);
            let e0 = fixed::const_sub(p, 1.0, &u)?;
            (r0, Some(e0), 0)
        }
        Guess::Shared(r0) => (r0, None, 0),
    };
    // After a public first step e holds e₀ while r is r₁: square it first.
    if done == 1 && m > 1 {
        let e0 = e.take().expect("e₀");
        e = Some(fixed::square(p, &e0)?);
    }
    while done < m {
        let ej = e.take().expect("the error term of the current iterate");
        if done + 1 < m {
            let mut out = products(p, &[(&ej, &[(&r, f), (&ej, f)])])?.remove(0);
            e = Some(out.remove(1));
            r = p.add(&r, &out.remove(0))?;
        } else {
            let re = products(p, &[(&ej, &[(&r, f)])])?.remove(0).remove(0);
            r = p.add(&r, &re)?;
        }
        done += 1;
    }

    // 2s at f bits (s = 1 − 2l), or 2.
    let two_s = match &l {
        Some(l) => {
            let t = int_times(p, l, -4)?;
            add_at(p, &t, 2.0, f)?
        }
        None => const_like(p, x, 2.0, f),
    };
    if iters == 0 {
        // s·r (and ·num): no Newton step at all.
        let signed = match &l {
            Some(l) => {
                let s = p.mul_scalar(l, (-2i64) as u64)?;
                let s = p.add_public(&s, &RingTensor::full(p.shape(x), 1))?; // s = 1 − 2l, integer
                products(p, &[(&r, &[(&s, 0)])])?.remove(0).remove(0)
            }
            None => r,
        };
        return match num {
            Some(n) => Ok(products(p, &[(n, &[(&signed, f)])])?.remove(0).remove(0)),
            None => Ok(signed),
        };
    }
    // Final step: u = x·r (and w = num·r) in one round, then w·(2s − u).
    let (u, w) = match num {
        Some(n) => {
            let mut out = products(p, &[(&r, &[(x, f), (n, f)])])?.remove(0);
            let w = out.remove(1);
            (out.remove(0), w)
        }
        None => (products(p, &[(&r, &[(x, f)])])?.remove(0).remove(0), r),
    };
    let corr = p.sub(&two_s, &u)?;
    Ok(products(p, &[(&w, &[(&corr, f)])])?.remove(0).remove(0))
}

// ===================================================================================================
// Square root and inverse square root
// ===================================================================================================

/// 1/√x (or √x): CrypTen's initial guess and Newton steps y ← (3y − (xy)·y²)/2; for √x the last
/// step returns (3xy − (x²y)·y²)/2 directly.
fn sqrt_core<P: Protocol>(p: &mut P, x: &P::Share, want_sqrt: bool) -> Result<P::Share> {
    let iters = p.functions().sqrt_nr_iters;
    sqrt_core_iters(p, x, want_sqrt, iters)
}

/// 1/√x with `iters` Newton steps (LayerNorm needs more than the default: its variances span
/// 0.01 to 100, and CrypTen's initial guess is far off below 0.1).
pub fn inv_sqrt_iters<P: Protocol>(p: &mut P, x: &P::Share, iters: u32) -> Result<P::Share> {
    sqrt_core_iters(p, x, false, iters)
}

fn sqrt_core_iters<P: Protocol>(p: &mut P, x: &P::Share, want_sqrt: bool, iters: u32) -> Result<P::Share> {
    let cfg = p.functions();
    let (initial, d) = (cfg.sqrt_nr_initial, cfg.exp_iterations);
    let f = p.frac_bits();
    let mut left = iters;
    let mut x2: Option<P::Share> = None;
    let mut y = match initial {
        None => {
            // y₀ = 2.2·exp(−x/2 − 0.2) + 0.2 − x/1024; x² rides along for √x.
            let arg = lin(p, &[(-0.5, x)], -0.2)?;
            let side = if want_sqrt && iters >= 1 { Some(x) } else { None };
            let (e, sq) = exp_limit(p, &arg, d, side)?;
            x2 = sq;
            lin(p, &[(2.2, &e), (-1.0 / 1024.0, x)], 0.2)?
        }
        Some(v) if iters == 0 => const_like(p, x, v, f),
        Some(v) => {
            // The first step from a public start is local: y₁ = (3v − v³x)/2.
            left -= 1;
            lin(p, &[(-0.5 * v * v * v, x)], 1.5 * v)?
        }
    };
    if want_sqrt && left >= 1 && x2.is_none() {
        x2 = Some(fixed::square(p, x)?);
    }
    while left > 0 {
        left -= 1;
        if want_sqrt && left == 0 {
            let x2 = x2.take().expect("x² for the last step");
            let mut out = products(p, &[(&y, &[(&y, f), (x, f), (&x2, f)])])?.remove(0);
            let x2y = out.remove(2);
            let xy = out.remove(1);
            let y2 = out.remove(0);
            let x2y3 = products(p, &[(&x2y, &[(&y2, f)])])?.remove(0).remove(0);
            let t = fixed::mul_int(p, &xy, 3)?;
            let t = p.sub(&t, &x2y3)?;
            return shr(p, t, 1);
        }
        let mut out = products(p, &[(&y, &[(&y, f), (x, f)])])?.remove(0);
        let xy = out.remove(1);
        let y2 = out.remove(0);
        let xy3 = products(p, &[(&xy, &[(&y2, f)])])?.remove(0).remove(0);
        let t = fixed::mul_int(p, &y, 3)?;
        let t = p.sub(&t, &xy3)?;
        y = shr(p, t, 1)?;
    }
    if want_sqrt {
        // No Newton step: √x = x·y₀.
        return Ok(products(p, &[(x, &[(&y, f)])])?.remove(0).remove(0));
    }
    Ok(y)
}

// ===================================================================================================
// Sigmoid (reciprocal method)
// ===================================================================================================

/// σ(v), or m·σ(v) when `m` is given: l = ltz(v); E = exp(−|v|) with 9 squarings; σ⁺ = 1/(1 + E)
/// by 3 Newton steps from 0.75 (coupled: r₁ = 0.75(1 + e₀), r_{j+1} = r_j(1 + e_j), e_{j+1} = e_j²,
/// e₀ = 0.25 − 0.75E); σ = σ⁺ + l − 2l·σ⁺ with l·σ⁺ carried alongside, so no select round.
fn sigmoid_core<P: Protocol>(p: &mut P, v: &P::Share, m: Option<&P::Share>) -> Result<P::Share> {
    const D: u32 = 9;
    let f = p.frac_bits();
    let l = compare::ltz(p, v)?;
    let (e, _abs, lm) = exp_of_abs(p, v, &l, 1.0, D, D, m)?;
    let e0 = lin(p, &[(-0.75, &e)], 0.25)?;
    // Streams (a, b): without m, a = r and b = l·r; with m, a = m·r and b = m·l·r.
    let (a_base, b_base) = match (m, lm) {
        (Some(m), Some(lm)) => (m.clone(), lm),
        _ => (const_like(p, v, 1.0, f), int_times(p, &l, 1)?),
    };
    // Round 1: e₀² and the products that give a₁ = 0.75(a₀ + a₀e₀), b₁ likewise.
    let mut out = if m.is_some() {
        products(p, &[(&e0, &[(&e0, f), (&a_base, f), (&b_base, f)])])?.remove(0)
    } else {
        // a₀ = 1 needs no product; l·e₀ has an integer factor.
        products(p, &[(&e0, &[(&e0, f), (&l, 0)])])?.remove(0)
    };
    let (e1, ae, be) = if m.is_some() {
        let be = out.remove(2);
        let ae = out.remove(1);
        (out.remove(0), ae, be)
    } else {
        let be = out.remove(1);
        (out.remove(0), e0.clone(), be)
    };
    let a1 = lin(p, &[(0.75, &a_base), (0.75, &ae)], 0.0)?;
    let b1 = lin(p, &[(0.75, &b_base), (0.75, &be)], 0.0)?;
    // Round 2: a₂ = a₁ + a₁e₁, b₂ likewise, e₂ = e₁².
    let mut out = products(p, &[(&e1, &[(&a1, f), (&b1, f), (&e1, f)])])?.remove(0);
    let e2 = out.remove(2);
    let b2 = p.add(&b1, &out.remove(1))?;
    let a2 = p.add(&a1, &out.remove(0))?;
    // Round 3: a₃, b₃.
    let mut out = products(p, &[(&e2, &[(&a2, f), (&b2, f)])])?.remove(0);
    let b3 = p.add(&b2, &out.remove(1))?;
    let a3 = p.add(&a2, &out.remove(0))?;
    // σ = a + l − 2b (times m: m·σ = a + l·m − 2b).
    let lterm = match m {
        Some(_) => b_base,
        None => int_times(p, &l, 1)?,
    };
    let t = p.add(&a3, &lterm)?;
    let twice = fixed::mul_int(p, &b3, 2)?;
    p.sub(&t, &twice)
}

// ===================================================================================================
// Chebyshev series on a clamped input (tanh, erf)
// ===================================================================================================

/// An odd function approximated on a clamped interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Curve {
    Tanh,
    Erf,
}

impl Curve {
    fn eval(self, x: f64) -> f64 {
        match self {
            Curve::Tanh => x.tanh(),
            Curve::Erf => libm::erf(x),
        }
    }
}

/// a₁, a₃, …, a_{2n−1} with curve(R·t) ≈ Σ a_k T_k(t) on [−1, 1] (Chebyshev interpolation).
fn odd_chebyshev_coeffs(curve: Curve, r: f64, n: usize) -> Vec<f64> {
    let deg = 2 * n - 1;
    let nodes = (2 * deg + 2).max(64);
    let theta: Vec<f64> = (0..nodes)
        .map(|j| std::f64::consts::PI * (j as f64 + 0.5) / nodes as f64)
        .collect();
    let vals: Vec<f64> = theta.iter().map(|t| curve.eval(r * t.cos())).collect();
    (0..n)
        .map(|i| {
            let k = (2 * i + 1) as f64;
            2.0 / nodes as f64 * theta.iter().zip(&vals).map(|(t, v)| v * (k * t).cos()).sum::<f64>()
        })
        .collect()
}

/// The interval R and the coefficients for n odd terms: R minimises max(series error on [0, R],
/// 1 − curve(R)) over R ∈ {1, 1.125, …, 12}. Cached per (curve, n).
fn odd_chebyshev_fit(curve: Curve, n: usize) -> (f64, Vec<f64>) {
    type Cache = Mutex<HashMap<(Curve, usize), (f64, Vec<f64>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&(curve, n)) {
        return hit.clone();
    }
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    for i in 0..=88 {
        let r = 1.0 + 0.125 * i as f64;
        let a = odd_chebyshev_coeffs(curve, r, n);
        let mut err = 1.0 - curve.eval(r);
        for j in 0..=200 {
            let t = j as f64 / 200.0;
            let th = t.acos();
            let approx: f64 = a
                .iter()
                .enumerate()
                .map(|(i, c)| c * ((2 * i + 1) as f64 * th).cos())
                .sum();
            err = err.max((approx - curve.eval(r * t)).abs());
        }
        if best.as_ref().is_none_or(|b| err < b.0) {
            best = Some((err, r, a));
        }
    }
    let (_, r, a) = best.expect("at least one candidate");
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((curve, n), (r, a.clone()));
    (r, a)
}

/// offset + scale·curve(x·pre) for n odd terms: t = clamp(x·pre/R, −1, 1), T₁, T₃, … by the
/// doubling identities (⌈log₂(2n)⌉ rounds), then one linear combination.
fn odd_series_clamped<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    curve: Curve,
    n: usize,
    pre: f64,
    scale: f64,
    offset: f64,
) -> Result<P::Share> {
    let f = p.frac_bits();
    if n == 0 {
        return Ok(const_like(p, x, offset, f));
    }
    let (r, a) = odd_chebyshev_fit(curve, n);
    let scaled = fixed::mul_const(p, x, pre / r)?;
    let t = compare::clamp(p, &scaled, -1.0, 1.0)?;
    let deg = 2 * n - 1;
    let poly = chebyshev_odd(p, &t, deg)?;
    let terms: Vec<(f64, &P::Share)> = a.iter().zip(&poly).map(|(c, s)| (scale * c, s)).collect();
    lin(p, &terms, offset)
}

/// offset + scale·tanh(x·pre) by the Chebyshev method (`sigmoid_tanh_terms` terms).
fn tanh_chebyshev<P: Protocol>(p: &mut P, x: &P::Share, pre: f64, scale: f64, offset: f64) -> Result<P::Share> {
    let terms = p.functions().sigmoid_tanh_terms as usize;
    // T₀ … T_{terms−1}: the odd ones are T₁ … T_{2n−1} with n = terms/2.
    odd_series_clamped(p, x, Curve::Tanh, terms / 2, pre, scale, offset)
}

/// T₁(t), T₃(t), …, T_deg(t) for odd deg. Level m (a power of two) computes T_m·[T_i] for odd
/// i < m with m + i ≤ deg, and T_m² if T_2m is needed: T_{m+i} = 2T_m·T_i − T_{m−i}.
fn chebyshev_odd<P: Protocol>(p: &mut P, t: &P::Share, deg: usize) -> Result<Vec<P::Share>> {
    let f = p.frac_bits();
    let mut table: BTreeMap<usize, P::Share> = BTreeMap::new();
    table.insert(1, t.clone());
    let mut top = 1;
    while top < deg {
        let mut wanted: Vec<usize> = (1..top).step_by(2).filter(|i| top + i <= deg).collect();
        if 2 * top < deg {
            wanted.push(top);
        }
        let out = {
            let rights: Vec<(&P::Share, u32)> = wanted.iter().map(|i| (&table[i], f)).collect();
            products(p, &[(&table[&top], &rights)])?.remove(0)
        };
        for (i, z) in wanted.iter().zip(out) {
            let twice = fixed::mul_int(p, &z, 2)?;
            let next = if *i == top {
                add_at(p, &twice, -1.0, f)?
            } else {
                p.sub(&twice, &table[&(top - i)])?
            };
            table.insert(top + i, next);
        }
        top *= 2;
    }
    Ok((1..=deg)
        .step_by(2)
        .map(|k| table.remove(&k).expect("every odd degree computed"))
        .collect())
}
