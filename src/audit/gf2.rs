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

    /// Row i's words.
    pub fn row(&self, i: usize) -> Option<&[u64]> {
        self.rows.get(i).map(Vec::as_slice)
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

    /// The relations of the span (vectors c with c · v = 0 for every v in it), one per feature that
    /// is not a pivot: c = e_f plus the pivots of the reduced rows that have bit f.
    pub fn relations(&self, features: usize) -> Vec<Vec<u64>> {
        // Fully reduce: clear every pivot bit from the other rows.
        let mut rows: Vec<(usize, Vec<u64>)> = self.basis.clone();
        rows.sort_by_key(|r| r.0);
        for i in 0..rows.len() {
            let (p, pivot_row) = (rows[i].0, rows[i].1.clone());
            for (j, (_, r)) in rows.iter_mut().enumerate() {
                if j != i && r[p / 64] >> (p % 64) & 1 == 1 {
                    r.iter_mut().zip(&pivot_row).for_each(|(x, y)| *x ^= y);
                }
            }
        }
        let pivots: std::collections::HashSet<usize> = rows.iter().map(|r| r.0).collect();
        let words = features.div_ceil(64);
        (0..features)
            .filter(|f| !pivots.contains(f))
            .map(|f| {
                let mut c = vec![0u64; words];
                c[f / 64] |= 1 << (f % 64);
                for (p, r) in &rows {
                    if r[f / 64] >> (f % 64) & 1 == 1 {
                        c[p / 64] |= 1 << (p % 64);
                    }
                }
                c
            })
            .collect()
    }
}

/// c · v over GF(2).
fn dot(c: &[u64], v: &[u64]) -> bool {
    c.iter().zip(v).fold(0u32, |acc, (x, y)| acc ^ (x & y).count_ones()) & 1 == 1
}

/// The features (indices of set bits) of a vector.
fn support(c: &[u64]) -> Vec<usize> {
    (0..c.len() * 64).filter(|&i| c[i / 64] >> (i % 64) & 1 == 1).collect()
}

/// What the relation test found: its p-value and the features of the relation that the other
/// setting breaks most often (empty when none is broken).
pub struct RelationFinding {
    pub p: f64,
    pub features: Vec<usize>,
}

/// The relation test for one block of `features` features: rows of setting A and of setting B
/// (each with the constant feature 0 set, for affine relations). The p-value is the smaller of the
/// two one-sided p-values (relations learned on A's first half, then on B's), times 2.
pub fn relation_test(a: &BitRows, b: &BitRows, features: usize) -> RelationFinding {
    fn one_way<'o>(learn: &BitRows, other: &'o BitRows) -> (f64, Span, &'o [Vec<u64>]) {
        let half = learn.len() / 2;
        let span = Span::of(&learn.rows[..half]);
        let held = &learn.rows[half..];
        let own_broken = held.iter().filter(|r| !span.contains(r)).count() as u64;
        let other_rows = &other.rows[..other.len().min(held.len().max(1))];
        let other_broken = other_rows.iter().filter(|r| !span.contains(r)).count() as u64;
        let p = fisher_greater(other_broken, other_rows.len() as u64, own_broken, held.len() as u64);
        (p, span, other_rows)
    }
    if a.len() < 4 || b.len() < 4 {
        return RelationFinding {
            p: 1.0,
            features: Vec::new(),
        };
    }
    let (pa, span_a, rows_b) = one_way(a, b);
    let (pb, span_b, rows_a) = one_way(b, a);
    let (p, span, other) = if pa <= pb {
        (pa, span_a, rows_b)
    } else {
        (pb, span_b, rows_a)
    };
    // Name the relation: the one the other setting breaks most often (the smallest on ties).
    let best = span
        .relations(features)
        .into_iter()
        .map(|c| (other.iter().filter(|v| dot(&c, v)).count(), c))
        .filter(|(broken, _)| *broken > 0)
        .max_by(|(x, c), (y, d)| x.cmp(y).then(support(d).len().cmp(&support(c).len())));
    RelationFinding {
        p: (2.0 * p).min(1.0),
        features: best.map(|(_, c)| support(&c)).unwrap_or_default(),
    }
}
