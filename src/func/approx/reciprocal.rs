//! Reciprocal and division by Newton–Raphson from an exponential initial guess.
//!
//! * **reciprocal** (`reciprocal_nr_iters` = K Newton–Raphson steps r ← r(2 − x·r) from
//!   3·exp(1 − 2|x|) + 0.003 or `reciprocal_initial`, sign handled through l = ltz(x) unless
//!   `reciprocal_all_pos`): the first K − 1 steps run coupled, r ← r + r·e, e ← e² with
//!   e = 1 − |x|·r (the same iterates, one round each instead of two); the last step is evaluated
//!   as r(2s − x·r) with x·r first (s = 1 − 2l), which both restores the self-correction that the
//!   coupled form lacks and applies the sign. CrypTen evaluates r·r first and loses 14 % at
//!   x = 100; this is within one ulp of 1/x.
//! * **div(x, y)** = x·(1/y): x joins the last Newton step (w = x·r in the round of y·r), so it
//!   costs no extra round.
//!
//! Cost, 2pc-ttp, n elements (see the parent module for the columns; L = [`compare::ltz`];
//! d = exp_iterations = 8, K = reciprocal_nr_iters = 10):
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | reciprocal (K ≥ 2) | L + d + K + 2 | L + (8d + 24K + 32)n | L + (8d + 16K + 8)n | L+20, L+336n, L+232n | 38 |
//! | reciprocal, all_pos | d + K + 2 | (8d + 24K + 16)n | (8d + 16K)n | 20, 320n, 224n | 28 |
//! | div(x, y) | as reciprocal | reciprocal + 8n | reciprocal + 8n | L+20, L+344n, L+240n | 39 |
//!
//! For K = 1: the two rounds of the final step only (L + d + 2 rounds; with K = 0 one round s·r).

use super::exp_log::{exp_limit, exp_of_abs};
use super::products::{add_at, const_like, int_times, lin, products};
use crate::error::{Error, Result};
use crate::func::{compare, fixed};
use crate::protocol::Protocol;
use crate::ring::RingTensor;

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
