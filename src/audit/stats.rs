//! The two-sample tests the audit runs, each returning a p-value that is valid (uniform or
//! conservative) when both samples come from the same distribution.
//!
//! * Kolmogorov–Smirnov on 16-bit values: the statistic D = max |F_A − F_B| over the sorted
//!   values, with Kolmogorov's asymptotic p-value at n_e = n_A n_B / (n_A + n_B) (as statrs'
//!   `ks_twosample` computes it; ties make it conservative).
//! * Chi-square homogeneity of two histograms (2 × k table, df = k − 1); bins whose pooled count is
//!   below [`MIN_BIN`] are merged into one, so the approximation holds in the tails we report.
//! * Fisher's exact test on a 2 × 2 table (statrs), and the binomial tail (statrs).
//! * Holm's step-down adjustment over every p-value of an audit.

use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF};
use statrs::stats_tests::{Alternative, fishers_exact};

/// Smallest pooled count a chi-square bin keeps on its own.
pub const MIN_BIN: u64 = 10;

/// Kolmogorov's Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}, the asymptotic P(√n_e D > λ), clamped
/// to [0, 1].
pub fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = k as f64;
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as u64 % 2 == 1 { term } else { -term };
        if term < 1e-300 || term < sum.abs() * 1e-16 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The two-sample KS statistic of samples already sorted ascending.
pub fn ks_statistic_sorted(a: &[u16], b: &[u16]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// Two-sample KS p-value of two samples of 16-bit values (sorted in place).
pub fn ks_u16(a: &mut [u16], b: &mut [u16]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    a.sort_unstable();
    b.sort_unstable();
    let d = ks_statistic_sorted(a, b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    kolmogorov_q(d * (na * nb / (na + nb)).sqrt())
}

/// Chi-square homogeneity p-value of two histograms over the same bins.
pub fn chi_square_2xk(a: &[u64], b: &[u64]) -> f64 {
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    // Merge sparse bins so every expected count is large enough for the approximation.
    let mut bins: Vec<(u64, u64)> = Vec::new();
    let mut rest = (0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        if x + y >= MIN_BIN {
            bins.push((x, y));
        } else {
            rest = (rest.0 + x, rest.1 + y);
        }
    }
    if rest.0 + rest.1 > 0 {
        bins.push(rest);
    }
    if bins.len() < 2 {
        return 1.0;
    }
    let n = na + nb;
    let stat: f64 = bins
        .iter()
        .map(|&(x, y)| {
            let t = (x + y) as f64;
            let (ea, eb) = (t * na / n, t * nb / n);
            (x as f64 - ea).powi(2) / ea + (y as f64 - eb).powi(2) / eb
        })
        .sum();
    match ChiSquared::new((bins.len() - 1) as f64) {
        Ok(chi) => chi.sf(stat),
        Err(_) => 1.0,
    }
}

/// One-sided Fisher exact p-value that group 1 has a larger share of `hits` than group 2.
pub fn fisher_greater(hits1: u64, n1: u64, hits2: u64, n2: u64) -> f64 {
    let table = [hits1, n1 - hits1, hits2, n2 - hits2];
    fishers_exact(&table, Alternative::Greater).unwrap_or(1.0)
}

/// P(X ≥ k) for X ~ Binomial(n, 1/2).
pub fn binomial_upper_half(k: u64, n: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    match Binomial::new(0.5, n) {
        Ok(b) => b.sf(k - 1),
        Err(_) => 1.0,
    }
}

/// Holm's step-down adjusted p-values, in the input order.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let m = ps.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| ps[i].total_cmp(&ps[j]));
    let mut out = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * ps[i]).min(1.0));
        out[i] = running;
    }
    out
}
