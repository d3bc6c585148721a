//! The audit's statistics against known distributions and reference implementations (statrs,
//! exact sums), and the GF(2) and logistic tests on data with and without a planted difference.

use super::gf2::{BitRows, Span, relation_test};
use super::logreg::distinguisher_test;
use super::stats::*;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::stats_tests::NaNPolicy;
use statrs::stats_tests::ks_test::{KSTwoSampleAlternativeMethod, ks_twosample};

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// How many of `ps` fall below `alpha`, checked against Binomial(len, alpha) with a generous
/// margin (four standard deviations): valid p-values are uniform (or conservative) under H0.
fn assert_calibrated(ps: &[f64], alpha: f64, what: &str) {
    let n = ps.len() as f64;
    let below = ps.iter().filter(|&&p| p < alpha).count() as f64;
    let limit = n * alpha + 4.0 * (n * alpha * (1.0 - alpha)).sqrt() + 1.0;
    assert!(below <= limit, "{what}: {below} of {n} p-values below {alpha}");
}

#[test]
fn kolmogorov_tail_matches_known_critical_values() {
    // The classical two-sided critical values: P(√n D > 1.358) = 0.05, P(√n D > 1.628) = 0.01.
    assert!((kolmogorov_q(1.358) - 0.05).abs() < 5e-4, "{}", kolmogorov_q(1.358));
    assert!((kolmogorov_q(1.628) - 0.01).abs() < 2e-4, "{}", kolmogorov_q(1.628));
    assert_eq!(kolmogorov_q(0.0), 1.0);
    assert!(kolmogorov_q(10.0) < 1e-80);
}

#[test]
fn ks_agrees_with_statrs_and_is_uniform_under_the_null() {
    let mut r = rng(1);
    let mut nulls = Vec::new();
    for rep in 0..300 {
        let n = 200 + rep;
        let mut a: Vec<u16> = (0..n).map(|_| r.next_u64() as u16).collect();
        let mut b: Vec<u16> = (0..n + 37).map(|_| r.next_u64() as u16).collect();
        let fa: Vec<f64> = a.iter().map(|&x| x as f64).collect();
        let fb: Vec<f64> = b.iter().map(|&x| x as f64).collect();
        let p = ks_u16(&mut a, &mut b);
        let (_, reference) = ks_twosample(
            fa,
            fb,
            KSTwoSampleAlternativeMethod::TwoSidedAsymptotic,
            NaNPolicy::Error,
        )
        .unwrap();
        assert!((p - reference.min(1.0)).abs() < 1e-6, "ours {p}, statrs {reference}");
        nulls.push(p);
    }
    for alpha in [0.01, 0.05, 0.2] {
        assert_calibrated(&nulls, alpha, "KS under H0");
    }
    // A shift of a quarter of the range is found at once (D ≈ 1/4, √(n/2)·D ≈ 7.9).
    let mut a: Vec<u16> = (0..2000).map(|_| r.next_u64() as u16).collect();
    let mut b: Vec<u16> = (0..2000).map(|_| (r.next_u64() as u16).saturating_add(16384)).collect();
    assert!(ks_u16(&mut a, &mut b) < 1e-10);
}

#[test]
fn chi_square_matches_statrs_and_merges_sparse_bins() {
    // A 2 × 3 table by hand: expected counts from the margins, df = 2.
    let (a, b) = ([30u64, 50, 20], [20u64, 50, 30]);
    let n = 200.0;
    let mut stat = 0.0;
    for k in 0..3 {
        let t = (a[k] + b[k]) as f64;
        let (ea, eb) = (t * 100.0 / n, t * 100.0 / n);
        stat += (a[k] as f64 - ea).powi(2) / ea + (b[k] as f64 - eb).powi(2) / eb;
    }
    let reference = ChiSquared::new(2.0).unwrap().sf(stat);
    assert!((chi_square_2xk(&a, &b) - reference).abs() < 1e-12);
    // Bins whose pooled count is below MIN_BIN (3 + 2 and 1 + 4) are merged into one (4, 6).
    let merged = chi_square_2xk(&[40, 3, 1], &[60, 2, 4]);
    assert!((merged - chi_square_2xk(&[40, 4], &[60, 6])).abs() < 1e-12);
    // One bin only: nothing to compare.
    assert_eq!(chi_square_2xk(&[5, 0], &[7, 0]), 1.0);
    // Calibrated under H0 on byte histograms.
    let mut r = rng(2);
    let ps: Vec<f64> = (0..300)
        .map(|_| {
            let mut ha = vec![0u64; 256];
            let mut hb = vec![0u64; 256];
            (0..3000).for_each(|_| ha[(r.next_u64() & 255) as usize] += 1);
            (0..3000).for_each(|_| hb[(r.next_u64() & 255) as usize] += 1);
            chi_square_2xk(&ha, &hb)
        })
        .collect();
    for alpha in [0.01, 0.05, 0.2] {
        assert_calibrated(&ps, alpha, "chi-square under H0");
    }
}

/// n choose k as f64 (small arguments).
fn choose(n: u64, k: u64) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[test]
fn fisher_and_binomial_tails_match_exact_sums() {
    // Group 1: 8 of 10 hits; group 2: 1 of 6. P(X ≥ 8) for X hypergeometric (16, 10 in group 1,
    // 9 hits in all).
    let exact: f64 = (8..=9).map(|k| choose(10, k) * choose(6, 9 - k)).sum::<f64>() / choose(16, 9);
    assert!((fisher_greater(8, 10, 1, 6) - exact).abs() < 1e-12, "{exact}");
    // The other direction is not significant.
    assert!(fisher_greater(1, 6, 8, 10) > 0.5);
    for (k, n) in [(0u64, 10u64), (7, 10), (10, 10), (33, 50)] {
        let exact: f64 = (k..=n).map(|i| choose(n, i)).sum::<f64>() / 2f64.powi(n as i32);
        assert!((binomial_upper_half(k, n) - exact).abs() < 1e-12, "{k} of {n}");
    }
}

#[test]
fn holm_steps_down_and_keeps_order() {
    let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
    let want = [0.03, 0.06, 0.06, 0.02];
    for (x, y) in adj.iter().zip(want) {
        assert!((x - y).abs() < 1e-12, "{adj:?}");
    }
    assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
}

/// Rows of `m` uniform bits plus the constant, with `planted` (if any) forcing the XOR of the
/// first three bits to `constant`.
fn bit_rows(r: &mut Xoshiro256PlusPlus, rows: usize, m: usize, planted: Option<bool>) -> BitRows {
    let mut out = BitRows::new(m + 1);
    for _ in 0..rows {
        let mut bits: Vec<bool> = (0..m).map(|_| r.next_u64() & 1 == 1).collect();
        if let Some(c) = planted {
            bits[2] = bits[0] ^ bits[1] ^ c;
        }
        out.push(std::iter::once(0).chain((0..m).filter(|&i| bits[i]).map(|i| i + 1)));
    }
    out
}

#[test]
fn gf2_span_and_relations_are_exact() {
    let mut r = rng(3);
    let rows = bit_rows(&mut r, 200, 20, Some(true));
    let mut probe = BitRows::new(21);
    probe.push([0, 1, 2]); // bits 0 and 1 set, bit 2 clear: breaks x0 ⊕ x1 ⊕ x2 = 1
    let span = Span::of(&rows_vec(&rows));
    assert_eq!(span.dim(), 20, "the constant and 19 free bits");
    assert!(!span.contains(&rows_vec(&probe)[0]));
    // The one relation: constant + x0 + x1 + x2 (features 0, 1, 2, 3).
    let rel = span.relations(21);
    assert_eq!(rel.len(), 1);
    assert_eq!(rel[0][0], 0b1111);
}

fn rows_vec(b: &BitRows) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(r) = b.row(i) {
        out.push(r.to_vec());
        i += 1;
    }
    out
}

#[test]
fn gf2_test_finds_a_planted_affine_leak_and_is_valid_without_one() {
    let mut r = rng(4);
    let a = bit_rows(&mut r, 400, 30, Some(false));
    let b = bit_rows(&mut r, 400, 30, Some(true));
    let found = relation_test(&a, &b, 31);
    assert!(found.p < 1e-30, "{}", found.p);
    // The three planted bits (with the constant when learned on the setting where it is 1).
    let bits: Vec<usize> = found.features.iter().copied().filter(|&f| f != 0).collect();
    assert_eq!(bits, vec![1, 2, 3], "{:?}", found.features);
    // The same relation with the same constant in both settings is no leak; nor is none at all.
    let mut ps = Vec::new();
    for planted in [Some(true), None] {
        for _ in 0..100 {
            let a = bit_rows(&mut r, 160, 30, planted);
            let b = bit_rows(&mut r, 160, 30, planted);
            ps.push(relation_test(&a, &b, 31).p);
        }
    }
    assert_calibrated(&ps, 0.05, "GF(2) relation test under H0");
}

#[test]
fn logistic_distinguisher_separates_separable_data_and_not_noise() {
    let mut r = rng(5);
    let rows = |r: &mut Xoshiro256PlusPlus, n: usize, label: Option<bool>| -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                let mut x: Vec<f64> = (0..40)
                    .map(|_| if r.next_u64() & 1 == 1 { 1.0 } else { -1.0 })
                    .collect();
                if let Some(l) = label {
                    x[17] = if l { 1.0 } else { -1.0 };
                }
                x
            })
            .collect()
    };
    let (p, acc) = distinguisher_test(&rows(&mut r, 300, Some(false)), &rows(&mut r, 300, Some(true)));
    assert!(acc > 0.99 && p < 1e-50, "separable: accuracy {acc}, p {p}");
    let mut ps = Vec::new();
    for _ in 0..60 {
        let (p, acc) = distinguisher_test(&rows(&mut r, 200, None), &rows(&mut r, 200, None));
        assert!((acc - 0.5).abs() < 0.15, "noise: accuracy {acc}");
        ps.push(p);
    }
    assert_calibrated(&ps, 0.05, "distinguisher under H0");
}
