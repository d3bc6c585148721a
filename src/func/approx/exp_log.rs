//! The exponential (limit method) and the logarithm (Householder iteration on it).
//!
//! * **exp** (limit method, (1 + x/2^d)^(2^d), d = `exp_iterations`): d squarings. The first
//!   squarings carry 2 extra fractional bits (their rounding errors are amplified 2^(d−k)-fold);
//!   the result has the session's precision. Domain as CrypTen: about [−2^d·2, 21]; above ≈10 the
//!   result's raw product is large enough that a local truncation may wrap (probability e^x/2^32).
//! * **|x| inside an exponential** (reciprocal, sigmoid): with l = \[x < 0\], the first squaring of
//!   the limit base c − 2^−k·|x| is c² − 2c·2^−k·|x| + 2^−2k·x²; |x| = x − 2·l·x and x² come from
//!   one round (x·[l, x/2^k]), which saves the separate |x| round.
//! * **log** (Householder as CrypTen: y₀ = x/120 − 20·exp(−2x − 1) + 3, then `log_iterations`
//!   steps y ← y − Σ_{k≤order} h^k/k with h = 1 − x·exp(−y), exp with `log_exp_iterations`):
//!   powers by the doubling tree. Bias correction: the iteration converges to the root of
//!   x·exp_d(−y) = 1 where exp_d is the limit approximation, i.e. to log x − c(y) with
//!   c(y) = 2^d·log(1 − y/2^d) + y ≈ −(y²/2^(d+1) + y³/(3·2^2d)); we add those two terms back
//!   (y² and y³ of the last estimate ride along in existing rounds). CrypTen is off by 0.06 at
//!   x = 250; this is within ≈0.005. (Applied when log_exp_iterations ≥ 6.)
//!
//! Cost, 2pc-ttp, n elements (see the parent module for the columns; d = exp_iterations = 8;
//! log: d₀ = 8, I = 2 iterations, d = 8, order o = 8):
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | exp | d | 8dn | 8dn | 8, 64n, 64n | 8 |
//! | log | d₀ + I(d + 1 + ⌈log₂o⌉) | (8d₀ + I(8d + 8⌈log₂o⌉ + 8o) + 24)n | (8d₀ + I(8d + 8o) + 16)n | 32, 392n, 336n | 32 |
//!
//! The log row assumes o ≥ 2 and d ≥ 6 (the bias correction adds the final 24n / 16n).

use super::products::{add_at, lin, powers, products, shr};
use crate::error::Result;
use crate::func::fixed;
use crate::protocol::Protocol;
use crate::ring::encode_value;

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
            _ if shift > 0 => z = p.square_truncated_many(&[&z], shift)?.remove(0),
            _ => z = p.square_many(&[&z])?.remove(0),
        }
    }
    if let (Some(s), None) = (side, &side_sq) {
        side_sq = Some(fixed::square(p, s)?);
    }
    Ok((z, side_sq))
}

/// exp(x) ≈ (1 + x/2^d)^(2^d), plus the square of `side` computed in the first round.
pub(super) fn exp_limit<P: Protocol>(
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
pub(super) type AbsExp<S> = (S, S, Option<S>);

/// The limit exponential of base c − 2^−k·|x| (d ≥ 1 squarings), given l = \[x < 0\]. The first
/// square c² − 2c·2^−k·|x| + 2^−2k·x² needs |x| = x − 2·l·x and x·(x/2^k): one round, which also
/// computes l·m for the optional `m`. Returns (the exponential, |x|, l·m).
pub(super) fn exp_of_abs<P: Protocol>(
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
