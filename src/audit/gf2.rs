//! Exact algebraic relations over GF(2): the test that finds leaks made of sums.
//!
//! The low bit of a sum mod 2^64 is the XOR of the summands' low bits, and the low bit of a product
//! is their AND. So when a view satisfies x_0 + ε_1 + a_1 = x (a party that can unmask the other's
//! share, as in the insecure first-party dealer) or a quadratic identity (a product share reshared
//! without re-randomisation), the low bits of its slots satisfy a fixed linear or quadratic equation
//! over GF(2) whose constant depends on the secret. Honest views satisfy only equations that hold
//! whatever the secret (copies of a slot, zero components).
//!
//! The test is exact and needs no distributional assumption: the equations are learned from one
//! half of setting A's trials (the span of their feature vectors, with a constant feature for
//! affine equations), then the held-out trials of A and of B are checked against them. Under the
//! null hypothesis the held-out trials of A and B are exchangeable, so whether each one breaks an
//! equation is an i.i.d. coin with the same bias in both groups, and Fisher's exact test on the
//! 2 × 2 table (group × broken) is a valid p-value. A leak shows as no held-out A trial breaking an
//! equation while about half the B trials do. The same is run with the roles of A and B swapped.

use super::stats::fisher_greater;

/// Feature vectors as bit rows.
pub struct BitRows {
    words: usize,
    rows: Vec<Vec<u64>>,
}

impl BitRows {
    /// Rows of `features` bits each.
    pub fn new(features: usize) -> Self {
        Self {
            words: features.div_ceil(64),
            rows: Vec::new(),
        }
    }

    /// Adds a row from its set bits' indices.
    pub fn push(&mut self, ones: impl IntoIterator<Item = usize>) {
        let mut row = vec![0u64; self.words];
        for i in ones {
            row[i / 64] ^= 1 << (i % 64);
        }
        self.rows.push(row);
    }

    /// Adds a row of given words.
    pub fn push_words(&mut self, row: Vec<u64>) {
        debug_assert_eq!(row.len(), self.words);
        self.rows.push(row);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A reduced basis of the span of some rows (Gaussian elimination, one pivot bit per row).
pub struct Span {
    basis: Vec<(usize, Vec<u64>)>,
}

impl Span {
    /// The span of `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Vec<u64>>) -> Self {
        let mut s = Span { basis: Vec::new() };
        for r in rows {
            let mut v = r.clone();
            if let Some(p) = s.reduce(&mut v) {
                s.basis.push((p, v));
            }
        }
        s
    }

    /// Reduces `v` by the basis; the index of its lowest remaining bit, or `None` if it is in the
    /// span.
    fn reduce(&self, v: &mut [u64]) -> Option<usize> {
        for (p, b) in &self.basis {
            if v[p / 64] >> (p % 64) & 1 == 1 {
                v.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
            }
        }
        v.iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// Whether `v` lies in the span.
    pub fn contains(&self, v: &[u64]) -> bool {
        let mut v = v.to_vec();
        self.reduce(&mut v).is_none()
    }

    /// Dimension of the span.
    pub fn dim(&self) -> usize {
        self.basis.len()
    }
}

/// The relation test for one block of features: rows of setting A and of setting B (each with
/// the constant feature set, for affine relations). Returns the smaller of the two one-sided
/// p-values (relations learned on A's first half, then on B's) and a Bonferroni factor 2 applied.
pub fn relation_test(a: &BitRows, b: &BitRows) -> f64 {
    let one_way = |learn: &BitRows, other: &BitRows| {
        let half = learn.len() / 2;
        let span = Span::of(&learn.rows[..half]);
        let held = &learn.rows[half..];
        let own_broken = held.iter().filter(|r| !span.contains(r)).count() as u64;
        let other_rows = &other.rows[..other.len().min(held.len().max(1))];
        let other_broken = other_rows.iter().filter(|r| !span.contains(r)).count() as u64;
        fisher_greater(other_broken, other_rows.len() as u64, own_broken, held.len() as u64)
    };
    if a.len() < 4 || b.len() < 4 {
        return 1.0;
    }
    (2.0 * one_way(a, b).min(one_way(b, a))).min(1.0)
}
