//! Square root and inverse square root by Newton steps from an exponential initial guess.
//!
//! **inv_sqrt** (`sqrt_nr_iters` = S steps y ← y(3 − x·y²)/2 from 2.2·exp(−x/2 − 0.2) + 0.2 −
//! x/1024 or `sqrt_nr_initial`): two rounds per step (y·[y, x], then (xy)·y²). **sqrt** folds the
//! final ·x into the last step: √x ≈ (3xy − (x²y)·y²)/2 with x² squared alongside the exponential,
//! so sqrt costs no more rounds than inv_sqrt.
//!
//! Cost, 2pc-ttp, n elements (see the parent module for the columns; d = exp_iterations = 8,
//! S = sqrt_nr_iters = 3):
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | inv_sqrt (S ≥ 1) | d + 2S | (8d + 40S)n | (8d + 24S)n | 14, 184n, 136n | 17 |
//! | sqrt (S ≥ 1) | d + 2S | (8d + 40S + 16)n | (8d + 24S + 16)n | 14, 200n, 152n | 18 |

use super::exp_log::exp_limit;
use super::products::{const_like, lin, products, shr};
use crate::error::Result;
use crate::func::fixed;
use crate::protocol::Protocol;

/// √x for x > 0 (x up to ≈ 200: CrypTen's initial guess turns negative beyond).
pub fn sqrt<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    sqrt_core(p, x, true)
}

/// 1/√x for x > 0 (x up to ≈ 200).
pub fn inv_sqrt<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    sqrt_core(p, x, false)
}

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
