//! Exhaustive checks at small domains (every α, every x) and random checks at 64 bits.

use super::{dpf, drelu};

/// A deterministic test randomness source (splitmix64).
pub(super) fn rng(seed: u64) -> impl FnMut(&mut [u64]) {
    let mut state = seed;
    move |out: &mut [u64]| {
        for o in out {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *o = z ^ (z >> 31);
        }
    }
}

fn get(bits: &[u64], e: usize) -> u64 {
    (bits[e / 64] >> (e % 64)) & 1
}

/// Keys for every α of an m-bit domain, each evaluated at every x.
fn check_all_points(m: u32) {
    let size = 1u64 << m;
    let mut rand = rng(m as u64);
    for alpha in 0..size {
        let alphas = vec![alpha; size as usize];
        let (k0, k1) = dpf::keygen(&alphas, m, &mut rand);
        let xs: Vec<u64> = (0..size).collect();
        let (eq0, eq1) = (dpf::eval_eq(&k0, &xs), dpf::eval_eq(&k1, &xs));
        let (lt0, lt1) = (dpf::eval_lt(&k0, &xs), dpf::eval_lt(&k1, &xs));
        for x in 0..size as usize {
            assert_eq!(
                get(&eq0, x) ^ get(&eq1, x),
                (x as u64 == alpha) as u64,
                "m={m} α={alpha} x={x} eq"
            );
            assert_eq!(
                get(&lt0, x) ^ get(&lt1, x),
                ((x as u64) < alpha) as u64,
                "m={m} α={alpha} x={x} lt"
            );
        }
    }
}

#[test]
fn dpf_and_comparison_exhaustive_up_to_10_bits() {
    // m ≤ 7: the whole domain sits in the leaf block; m > 7: tree levels above it.
    for m in 1..=10 {
        check_all_points(m);
    }
}

#[test]
fn comparison_at_12_bits_every_x_for_boundary_and_random_alphas() {
    let m = 12;
    let size = 1u64 << m;
    let mut rand = rng(12);
    let mut alphas = vec![0, 1, 127, 128, 129, size - 1, size / 2, size / 2 - 1];
    let mut r = [0u64; 24];
    rand(&mut r);
    alphas.extend(r.iter().map(|v| v % size));
    for alpha in alphas {
        let (k0, k1) = dpf::keygen(&vec![alpha; size as usize], m, &mut rand);
        let xs: Vec<u64> = (0..size).collect();
        let (lt0, lt1) = (dpf::eval_lt(&k0, &xs), dpf::eval_lt(&k1, &xs));
        for x in 0..size as usize {
            assert_eq!(
                get(&lt0, x) ^ get(&lt1, x),
                ((x as u64) < alpha) as u64,
                "α={alpha} x={x}"
            );
        }
    }
}

#[test]
fn comparison_at_64_bits_random_and_edges() {
    let mut rand = rng(64);
    let n = 4096;
    let mut alphas = vec![0u64; n];
    let mut xs = vec![0u64; n];
    rand(&mut alphas);
    rand(&mut xs);
    // Near misses: x = α, α ± 1, and the extremes.
    for e in 0..n / 4 {
        xs[e] = alphas[e].wrapping_add((e % 3) as u64).wrapping_sub(1);
    }
    alphas[0] = 0;
    xs[0] = 0;
    alphas[1] = u64::MAX;
    xs[1] = u64::MAX - 1;
    let (k0, k1) = dpf::keygen(&alphas, 64, &mut rand);
    let (lt0, lt1) = (dpf::eval_lt(&k0, &xs), dpf::eval_lt(&k1, &xs));
    let (eq0, eq1) = (dpf::eval_eq(&k0, &xs), dpf::eval_eq(&k1, &xs));
    for e in 0..n {
        assert_eq!(get(&lt0, e) ^ get(&lt1, e), (xs[e] < alphas[e]) as u64, "e={e}");
        assert_eq!(get(&eq0, e) ^ get(&eq1, e), (xs[e] == alphas[e]) as u64, "e={e}");
    }
    // Each party's share alone looks unbiased (a smoke check, not a proof).
    let ones: u32 = lt0.iter().map(|w| w.count_ones()).sum();
    assert!((1700..2400).contains(&ones), "{ones} of {n}");
}

/// Sign-extends the low k bits of v.
fn signed(v: u64, k: u32) -> i64 {
    ((v << (64 - k)) as i64) >> (64 - k)
}

#[test]
fn drelu_exhaustive_over_every_mask_and_input_in_the_window() {
    for k in 2..=9u32 {
        let size = 1u64 << k;
        let mut rand = rng(100 + k as u64);
        for r_low in 0..size {
            // Masks differ above the window too: only the low k bits may matter.
            let mut high = vec![0u64; size as usize];
            rand(&mut high);
            let masks: Vec<u64> = high.iter().map(|h| (h << k) | r_low).collect();
            // Every x in [−2^{k−1}, 2^{k−1}), as a ring element.
            let xs: Vec<u64> = (0..size).map(|v| signed(v, k) as u64).collect();
            let xhat: Vec<u64> = xs.iter().zip(&masks).map(|(x, r)| x.wrapping_add(*r)).collect();
            let (k0, k1) = drelu::keygen(&masks, k, &mut rand);
            let (d0, d1) = (drelu::eval(&k0, &xhat), drelu::eval(&k1, &xhat));
            for e in 0..size as usize {
                let want = ((xs[e] as i64) >= 0) as u64;
                assert_eq!(get(&d0, e) ^ get(&d1, e), want, "k={k} r={r_low} x={}", xs[e] as i64);
            }
        }
    }
}

#[test]
fn drelu_exact_at_64_bits_and_in_a_32_bit_window() {
    let mut rand = rng(7);
    let n = 5000;
    let mut masks = vec![0u64; n];
    let mut xs = vec![0u64; n];
    rand(&mut masks);
    rand(&mut xs);
    let edges = [0u64, 1, u64::MAX, 1 << 63, (1 << 63) - 1];
    xs[..edges.len()].copy_from_slice(&edges);
    let xhat: Vec<u64> = xs.iter().zip(&masks).map(|(x, r)| x.wrapping_add(*r)).collect();
    let (k0, k1) = drelu::keygen(&masks, 64, &mut rand);
    let (d0, d1) = (drelu::eval(&k0, &xhat), drelu::eval(&k1, &xhat));
    for e in 0..n {
        assert_eq!(
            get(&d0, e) ^ get(&d1, e),
            ((xs[e] as i64) >= 0) as u64,
            "x={}",
            xs[e] as i64
        );
    }
    // Window 32: exact for |x| < 2^31, whatever the mask's high bits.
    let small: Vec<u64> = xs.iter().map(|x| signed(*x, 32) as u64).collect();
    let xhat: Vec<u64> = small.iter().zip(&masks).map(|(x, r)| x.wrapping_add(*r)).collect();
    let (k0, k1) = drelu::keygen(&masks, 32, &mut rand);
    let (d0, d1) = (drelu::eval(&k0, &xhat), drelu::eval(&k1, &xhat));
    for e in 0..n {
        assert_eq!(get(&d0, e) ^ get(&d1, e), ((small[e] as i64) >= 0) as u64);
    }
}

#[test]
fn key_sizes_follow_the_formula() {
    // 64-bit exact window: 63-bit domain, 56 levels.
    assert_eq!(dpf::key_bits(63), 128 + 129 * 56 + 128);
    assert_eq!(drelu::key_bits(32), 128 + 129 * 24 + 128 + 1);
    let mut rand = rng(1);
    let (k0, _) = dpf::keygen(&[5; 100], 20, &mut rand);
    assert_eq!(k0.cw_seed.len(), 13 * 100);
    assert_eq!(k0.cw_right.len(), 13 * 2);
}

/// Every input of every window k in `windows` (|x| < 2^(k−1)), under `seeds` fresh sets of masks:
/// `run(xs, k, seed)` returns the reconstructed ReLU and sign bits of a ReLU construction.
pub(super) fn check_relu_in_windows(
    windows: std::ops::RangeInclusive<u32>,
    seeds: u64,
    run: impl Fn(&[u64], u32, u64) -> (Vec<u64>, Vec<u64>),
) {
    for k in windows {
        let half = 1i64 << (k - 1);
        let xs: Vec<u64> = (-half..half).map(|v| v as u64).collect();
        for seed in 0..seeds {
            let (y, d) = run(&xs, k, seed * 1000 + k as u64);
            for (e, &x) in xs.iter().enumerate() {
                let x = x as i64;
                assert_eq!(y[e] as i64, x.max(0), "k={k} x={x}");
                assert_eq!(d[e], (x >= 0) as u64, "k={k} x={x}");
            }
        }
    }
}
