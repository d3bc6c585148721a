//! Odd Chebyshev series on a clamped input: erf, and tanh/sigmoid by the "chebyshev" method.
//!
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
//!
//! Cost, 2pc-ttp, n elements (see the parent module for the columns; C = [`compare::clamp`]; the
//! sigmoid and tanh rows are in [`super::sigmoid`]):
//!
//! | function | rounds | bytes per party | offline bytes | defaults | CrypTen (rounds) |
//! |---|---|---|---|---|---|
//! | erf (8 terms) | C + 4 | C + 104n | C + 80n | | (wrong) |

use super::products::{add_at, const_like, lin, products};
use crate::error::Result;
use crate::func::{compare, fixed};
use crate::protocol::Protocol;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// erf x: clamp to [−R, R], then an odd Chebyshev series of `erf_iterations` terms.
pub fn erf<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let terms = p.functions().erf_iterations as usize;
    odd_series_clamped(p, x, Curve::Erf, terms, 1.0, 1.0, 0.0)
}

/// An odd function approximated on a clamped interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Curve {
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
pub(super) fn odd_series_clamped<P: Protocol>(
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
pub(super) fn tanh_chebyshev<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    pre: f64,
    scale: f64,
    offset: f64,
) -> Result<P::Share> {
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
