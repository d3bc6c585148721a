//! The battery of tests run on one endpoint's views under setting A and setting B.
//!
//! Views are matrices: one column per slot (a word of the view), one row per trial. The tests:
//!
//! | test | on | catches |
//! |---|---|---|
//! | `ks16` (KS on 16-bit slices 0..4) | every slot | a slot whose distribution depends on the secret |
//! | `chi2-byte` (chi-square on byte 0 and byte 7 histograms) | every slot | the same, by bins |
//! | both again | x_i − x_j and x_i + x_j for slot pairs (all, or a seeded sample) | two openings masked alike |
//! | `gf2-linear`, `gf2-quadratic` | low bits of the whole view, and per lane | sums and products of slots fixed by the secret |
//! | `logreg` | ±1 bit features | anything a linear model on bits picks up |
//!
//! Slots that hold one and the same value in every trial of both settings carry nothing and are
//! skipped. A lane is the set of slots at the same element index (word k mod S of every record
//! whose length is a multiple of S): elementwise protocols keep an element's relations inside its
//! lane, which keeps the GF(2) systems small enough to solve exactly.

use super::gf2::{BitRows, relation_test};
use super::logreg::distinguisher_test;
use super::stats::{chi_square_2xk, ks_u16};
use rand_core::{Rng, SeedableRng};

/// Most slot pairs tested (all pairs below this).
pub const MAX_PAIRS: usize = 2048;
/// Most logistic-regression features.
pub const MAX_FEATURES: usize = 1024;

/// One endpoint's views in one setting, column-major: `cols[j][t]` is slot j in trial t.
pub struct Columns {
    pub cols: Vec<Vec<u64>>,
}

impl Columns {
    /// Transposes trial rows (each of the same length) into columns.
    pub fn from_rows(rows: &[Vec<u64>]) -> Self {
        let l = rows.first().map_or(0, Vec::len);
        let mut cols = vec![Vec::with_capacity(rows.len()); l];
        for r in rows {
            for (c, &w) in cols.iter_mut().zip(r) {
                c.push(w);
            }
        }
        Columns { cols }
    }

    fn trials(&self) -> usize {
        self.cols.first().map_or(0, Vec::len)
    }
}

/// One test's outcome: its raw p-value, name and the slots it looked at.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub p: f64,
    pub test: String,
    pub slots: Vec<usize>,
}

/// What the battery needs besides the views.
pub struct Plan {
    /// Element count S: lanes are word k mod S of records whose length is a multiple of S.
    pub lane: usize,
    /// The record lengths of the view, in order.
    pub records: Vec<usize>,
    /// Seed of the pair and feature samples.
    pub seed: u64,
}

/// Runs every test on one endpoint's views.
pub fn analyse(a: &Columns, b: &Columns, plan: &Plan) -> Vec<Outcome> {
    let l = a.cols.len();
    let live: Vec<usize> = (0..l).filter(|&j| !constant(&a.cols[j], &b.cols[j])).collect();
    let mut out = Vec::new();
    for &j in &live {
        marginal_tests(&a.cols[j], &b.cols[j], &format!("slot {j}"), vec![j], &mut out);
    }
    for (i, j) in pairs(&live, plan.seed) {
        for (name, f) in [
            ("difference", u64::wrapping_sub as fn(u64, u64) -> u64),
            ("sum", u64::wrapping_add),
        ] {
            let da: Vec<u64> = a.cols[i].iter().zip(&a.cols[j]).map(|(&x, &y)| f(x, y)).collect();
            let db: Vec<u64> = b.cols[i].iter().zip(&b.cols[j]).map(|(&x, &y)| f(x, y)).collect();
            if !constant(&da, &db) {
                marginal_tests(&da, &db, name, vec![i, j], &mut out);
            }
        }
    }
    gf2_tests(a, b, &live, plan, &mut out);
    let feats = features(&live, plan.seed);
    if !feats.is_empty() {
        let rows = |c: &Columns| -> Vec<Vec<f64>> {
            (0..c.trials())
                .map(|t| {
                    feats
                        .iter()
                        .map(|&(j, bit)| if c.cols[j][t] >> bit & 1 == 1 { 1.0 } else { -1.0 })
                        .collect()
                })
                .collect()
        };
        let (p, acc) = distinguisher_test(&rows(a), &rows(b));
        let mut slots: Vec<usize> = feats.iter().map(|f| f.0).collect();
        slots.dedup();
        out.push(Outcome {
            p,
            test: format!("logreg on {} bit features (held-out accuracy {acc:.4})", feats.len()),
            slots,
        });
    }
    out
}

/// Whether a column holds the same value in every trial of both settings.
fn constant(a: &[u64], b: &[u64]) -> bool {
    let Some(&first) = a.first().or(b.first()) else {
        return true;
    };
    a.iter().chain(b).all(|&w| w == first)
}

/// KS on the four 16-bit slices and chi-square on the low and high byte of one column.
fn marginal_tests(a: &[u64], b: &[u64], what: &str, slots: Vec<usize>, out: &mut Vec<Outcome>) {
    for k in 0..4 {
        let mut sa: Vec<u16> = a.iter().map(|&w| (w >> (16 * k)) as u16).collect();
        let mut sb: Vec<u16> = b.iter().map(|&w| (w >> (16 * k)) as u16).collect();
        out.push(Outcome {
            p: ks_u16(&mut sa, &mut sb),
            test: format!("ks16 bits {}..{} of {what}", 16 * k, 16 * k + 16),
            slots: slots.clone(),
        });
    }
    for byte in [0, 7] {
        let hist = |c: &[u64]| {
            let mut h = vec![0u64; 256];
            c.iter().for_each(|&w| h[(w >> (8 * byte)) as usize & 255] += 1);
            h
        };
        out.push(Outcome {
            p: chi_square_2xk(&hist(a), &hist(b)),
            test: format!("chi2 byte {byte} of {what}"),
            slots: slots.clone(),
        });
    }
}

/// Every pair of live slots, or a seeded sample of [`MAX_PAIRS`] of them.
fn pairs(live: &[usize], seed: u64) -> Vec<(usize, usize)> {
    let n = live.len();
    if n * n.saturating_sub(1) / 2 <= MAX_PAIRS {
        return (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (live[i], live[j])))
            .collect();
    }
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut set = std::collections::BTreeSet::new();
    while set.len() < MAX_PAIRS {
        let i = (rng.next_u64() % n as u64) as usize;
        let j = (rng.next_u64() % n as u64) as usize;
        if i != j {
            set.insert((live[i.min(j)], live[i.max(j)]));
        }
    }
    set.into_iter().collect()
}

/// Logistic-regression features (slot, bit): the top and low bits of every live slot, fewer bits
/// per slot as the view grows, and a seeded sample of slots beyond [`MAX_FEATURES`].
fn features(live: &[usize], seed: u64) -> Vec<(usize, u32)> {
    const ORDER: [u32; 8] = [63, 0, 62, 1, 61, 2, 60, 3];
    if live.is_empty() {
        return Vec::new();
    }
    let per = (MAX_FEATURES / live.len()).clamp(1, ORDER.len());
    let mut slots = live.to_vec();
    if slots.len() > MAX_FEATURES {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xFEA7);
        for i in (1..slots.len()).rev() {
            slots.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        slots.truncate(MAX_FEATURES);
        slots.sort_unstable();
    }
    slots
        .iter()
        .flat_map(|&j| ORDER[..per].iter().map(move |&b| (j, b)))
        .collect()
}

/// The GF(2) relation tests on low bits: the whole view when its system is small enough, and per
/// lane, linear and (when it fits) quadratic.
fn gf2_tests(a: &Columns, b: &Columns, live: &[usize], plan: &Plan, out: &mut Vec<Outcome>) {
    // A system with f features needs well over f learning rows (half of one setting) to be solved.
    let budget = a.trials().min(b.trials()) / 4;
    let whole = live.len() < budget;
    let mut run = |slots: &[usize], quadratic: bool, what: String| {
        let (fa, fb) = (low_bits(a, slots, quadratic), low_bits(b, slots, quadratic));
        let found = relation_test(&fa.0, &fb.0, fa.1);
        // Name the slots of the relation found (a pair feature names both of its slots).
        let mut named: Vec<usize> = found.features.iter().flat_map(|&f| feature_slots(slots, f)).collect();
        named.sort_unstable();
        named.dedup();
        out.push(Outcome {
            p: found.p,
            test: format!(
                "{} on the low bits of {what}",
                if quadratic { "gf2-quadratic" } else { "gf2-linear" }
            ),
            slots: if named.is_empty() { slots.to_vec() } else { named },
        });
    };
    if whole {
        run(live, false, "the whole view".into());
    }
    for (k, lane) in lanes(plan, live).into_iter().enumerate() {
        let m = lane.len();
        if !whole && m < budget {
            run(&lane, false, format!("lane {k}"));
        }
        if 1 + m + m * m.saturating_sub(1) / 2 <= budget {
            run(&lane, true, format!("lane {k}"));
        }
    }
}

/// The slots behind feature `f` of [`low_bits`]: none for the constant, one for a linear feature,
/// two for a pair.
fn feature_slots(slots: &[usize], f: usize) -> Vec<usize> {
    let m = slots.len();
    if f == 0 {
        return Vec::new();
    }
    if f <= m {
        return vec![slots[f - 1]];
    }
    let mut k = f - 1 - m;
    for i in 0..m {
        let row = m - 1 - i;
        if k < row {
            return vec![slots[i], slots[i + 1 + k]];
        }
        k -= row;
    }
    Vec::new()
}

/// Live slots grouped by lane (word index mod `plan.lane` inside records whose length is a
/// multiple of it); lanes with fewer than two slots are dropped.
fn lanes(plan: &Plan, live: &[usize]) -> Vec<Vec<usize>> {
    let s = plan.lane;
    if s < 2 {
        return Vec::new();
    }
    let live: std::collections::HashSet<usize> = live.iter().copied().collect();
    let mut lanes = vec![Vec::new(); s];
    let mut at = 0;
    for &len in &plan.records {
        if len % s == 0 {
            for k in 0..len {
                if live.contains(&(at + k)) {
                    lanes[k % s].push(at + k);
                }
            }
        }
        at += len;
    }
    lanes.retain(|l| l.len() >= 2);
    lanes
}

/// Feature rows of the low bits of `slots` (bit 0 is the constant, then one bit per slot, then
/// with `quadratic` one per pair: the AND of the two), with the number of features.
fn low_bits(c: &Columns, slots: &[usize], quadratic: bool) -> (BitRows, usize) {
    let m = slots.len();
    let feats = 1 + m + if quadratic { m * m.saturating_sub(1) / 2 } else { 0 };
    let mut rows = BitRows::new(feats);
    for t in 0..c.trials() {
        let bits: Vec<bool> = slots.iter().map(|&j| c.cols[j][t] & 1 == 1).collect();
        let mut ones = vec![0];
        ones.extend((0..m).filter(|&i| bits[i]).map(|i| 1 + i));
        if quadratic {
            let mut f = 1 + m;
            for i in 0..m {
                for j in i + 1..m {
                    if bits[i] && bits[j] {
                        ones.push(f);
                    }
                    f += 1;
                }
            }
        }
        rows.push(ones);
    }
    (rows, feats)
}
