//! Sigmoid, tanh and GELU.
//!
//! * **sigmoid** ("reciprocal", CrypTen's default): l = ltz(x), σ⁺ = 1/(1 + exp(−|x|)) with exp of
//!   9 iterations and 3 Newton steps from 0.75 (the first is local), σ = σ⁺ + l·(1 − 2σ⁺). The
//!   Newton steps run coupled and l·σ⁺ is carried through them (l·r alongside r), so the final
//!   select costs no round. **tanh** = 2σ(2x) − 1. With the "chebyshev" method both are a
//!   clamped Chebyshev series (see [`super::chebyshev`]).
//! * **gelu** "tanh": 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(2y); with the reciprocal
//!   method x·σ is carried through the sigmoid's last rounds (x·r and x·l·r), so the product with
//!   x costs no round. "erf": x·(1 + erf(x/√2))/2.
//!
//! Cost, 2pc-ttp, n elements (see the parent module for the columns; L = [`compare::ltz`],
//! C = [`compare::clamp`]; 32 Chebyshev terms for tanh, 8 erf terms):
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | sigmoid, tanh (reciprocal) | L + 12 | L + 168n | L + 136n | | 24 |
//! | sigmoid, tanh (chebyshev, 32 terms) | C + 5 | C + 184n | C + 152n | | 16 + hardtanh |
//! | gelu, tanh form (reciprocal) | L + 14 | L + 216n | L + 168n | | |
//! | gelu, tanh form (chebyshev) | C + 8 | C + 224n | C + 176n | | |
//! | gelu, erf form | C + 5 | C + 120n | C + 88n | | |

use super::chebyshev::{Curve, odd_series_clamped, tanh_chebyshev};
use super::exp_log::exp_of_abs;
use super::products::{const_like, int_times, lin, products};
use crate::error::Result;
use crate::func::{compare, fixed};
use crate::protocol::Protocol;

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
