//! A trained distinguisher: logistic regression on ±1 bit features, fitted on one half of the
//! trials and scored on the other.
//!
//! Under the null hypothesis the held-out labels are independent of anything the model learned,
//! so its number of correct guesses on n held-out trials is Binomial(n, 1/2) (the two settings are
//! balanced) and the upper binomial tail is a valid p-value, however well or badly it was fitted.

use super::stats::binomial_upper_half;

/// Full-batch gradient steps.
const STEPS: usize = 60;
/// L2 penalty per weight (keeps an inseparable fit near zero).
const L2: f64 = 1e-3;

/// A fitted model: weights per feature and a bias.
pub struct Model {
    w: Vec<f64>,
    bias: f64,
}

impl Model {
    /// Fits `rows` (features as ±1, one row per trial) to `labels` by gradient descent on the
    /// mean logistic loss plus the L2 penalty.
    pub fn fit(rows: &[Vec<f64>], labels: &[bool]) -> Model {
        let f = rows.first().map_or(0, Vec::len);
        let mut m = Model {
            w: vec![0.0; f],
            bias: 0.0,
        };
        if rows.is_empty() {
            return m;
        }
        let n = rows.len() as f64;
        // Step size from a bound on the loss's curvature: features are ±1, so it is at most f/4.
        let rate = 4.0 / (f as f64 + 1.0);
        let mut grad = vec![0.0; f];
        for _ in 0..STEPS {
            grad.iter_mut().for_each(|g| *g = 0.0);
            let mut gb = 0.0;
            for (x, &y) in rows.iter().zip(labels) {
                let err = m.prob(x) - if y { 1.0 } else { 0.0 };
                grad.iter_mut().zip(x).for_each(|(g, xi)| *g += err * xi);
                gb += err;
            }
            for (w, g) in m.w.iter_mut().zip(&grad) {
                *w -= rate * (g / n + L2 * *w);
            }
            m.bias -= rate * gb / n;
        }
        m
    }

    /// P(label = true | x).
    pub fn prob(&self, x: &[f64]) -> f64 {
        let z: f64 = self.bias + self.w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }

    /// Correct guesses on labelled rows.
    pub fn correct(&self, rows: &[Vec<f64>], labels: &[bool]) -> u64 {
        rows.iter()
            .zip(labels)
            .filter(|(x, y)| (self.prob(x) > 0.5) == **y)
            .count() as u64
    }
}

/// Fits on the first half of each setting's rows and returns the one-sided binomial p-value of the
/// held-out accuracy against 1/2 (with the accuracy). The held-out set takes as many rows of each
/// setting, so that guessing one label always scores exactly 1/2.
pub fn distinguisher_test(a: &[Vec<f64>], b: &[Vec<f64>]) -> (f64, f64) {
    let half = a.len().min(b.len()) / 2;
    if half < 2 {
        return (1.0, 0.5);
    }
    let mut train: Vec<Vec<f64>> = a[..half].to_vec();
    train.extend_from_slice(&b[..half]);
    let labels: Vec<bool> = (0..2 * half).map(|i| i >= half).collect();
    let model = Model::fit(&train, &labels);
    let held = a.len().min(b.len()) - half;
    let mut test: Vec<Vec<f64>> = a[half..half + held].to_vec();
    test.extend_from_slice(&b[half..half + held]);
    let test_labels: Vec<bool> = (0..2 * held).map(|i| i >= held).collect();
    let correct = model.correct(&test, &test_labels);
    let n = 2 * held as u64;
    (binomial_upper_half(correct, n), correct as f64 / n as f64)
}
