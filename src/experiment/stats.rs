//! Intervals for the proportions an accuracy task reports (agreement, top-1), so a summary says
//! how far a rate measured on n samples can be trusted: 100 % agreement on 64 words is
//! compatible with a true rate of 94 %, on 1,000 images only with one above 99.6 %.

/// The 97.5 % quantile of the standard normal distribution (two-sided 95 %).
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval at 95 % for `successes` out of `n` trials, as (low, high). Unlike
/// the normal approximation it stays inside [0, 1] and is not empty at 0 or n successes, which
/// is where agreement rates sit. `n = 0` gives the uninformative (0, 1).
pub fn wilson95(successes: u64, n: u64) -> (f64, f64) {
    wilson(successes, n, Z95)
}

/// The Wilson score interval for quantile `z`.
pub fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (successes.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At k = 0 or k = n the exact bound is 0 or 1; rounding must not move it.
    let low = if k == 0.0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if k == n { 1.0 } else { (centre + half).min(1.0) };
    (low, high)
}

/// The successes behind a rate measured on `n` samples (a median over repetitions may sit
/// between two counts; it is rounded to the nearer).
pub fn successes(rate: f64, n: u64) -> u64 {
    (rate.clamp(0.0, 1.0) * n as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: (f64, f64), want: (f64, f64)) {
        assert!(
            (got.0 - want.0).abs() < 5e-5 && (got.1 - want.1).abs() < 5e-5,
            "{got:?} vs {want:?}"
        );
    }

    #[test]
    fn wilson_matches_published_intervals() {
        // Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (score interval).
        close(wilson95(81, 263), (0.2553, 0.3662));
        close(wilson95(15, 148), (0.0624, 0.1605));
        close(wilson95(0, 20), (0.0, 0.1611));
        close(wilson95(1, 29), (0.0061, 0.1718));
    }

    #[test]
    fn all_successes_support_a_claim_only_with_enough_samples() {
        // 100 % agreement: the low end passes 99.5 % only from about 770 samples on.
        let low = |n| wilson95(n, n).0;
        assert!((low(64) - 0.943376).abs() < 1e-5, "{}", low(64));
        assert!(low(640) < 0.995 && low(1000) > 0.995);
        assert!((low(1000) - 0.996173).abs() < 1e-6);
        assert_eq!(wilson95(10, 10).1, 1.0);
        assert_eq!(wilson95(0, 10).0, 0.0);
        assert_eq!(wilson95(0, 0), (0.0, 1.0));
        // Symmetry: k of n and n − k of n mirror each other.
        let (a, b) = (wilson95(3, 40), wilson95(37, 40));
        assert!((a.0 - (1.0 - b.1)).abs() < 1e-12 && (a.1 - (1.0 - b.0)).abs() < 1e-12);
    }

    #[test]
    fn rates_round_to_counts() {
        assert_eq!(successes(0.9375, 64), 60);
        assert_eq!(successes(1.0, 30), 30);
        assert_eq!(successes(0.5 + 1e-12, 3), 2);
    }
}
