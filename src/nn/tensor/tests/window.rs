//! Tests of pooling, reductions and normalisations.

use super::*;

// ----- pooling -----

fn pool_out(n: usize, k: usize, s: usize, pb: usize, pe: usize, ceil: bool) -> usize {
    let num = n + pb + pe - k;
    let mut o = if ceil { num.div_ceil(s) + 1 } else { num / s + 1 };
    if ceil && (o - 1) * s >= n + pb {
        o -= 1;
    }
    o
}

/// 2-D pooling oracle; `avg` is `None` for max, `Some(count_include_pad)` for average.
fn pool2d_oracle(
    x: &F32Tensor,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 4],
    ceil: bool,
    avg: Option<bool>,
) -> F32Tensor {
    let [n, c, h, w] = x.shape[..] else { panic!() };
    let ho = pool_out(h, k[0], s[0], p[0], p[2], ceil);
    let wo = pool_out(w, k[1], s[1], p[1], p[3], ceil);
    let mut out = F32Tensor::zeros(&[n, c, ho, wo]);
    for pl in 0..n * c {
        for oh in 0..ho {
            for ow in 0..wo {
                let h0 = (oh * s[0]) as i64 - p[0] as i64;
                let w0 = (ow * s[1]) as i64 - p[1] as i64;
                let (mut mx, mut sum, mut cnt, mut cnt_pad) = (f32::NEG_INFINITY, 0.0f64, 0, 0);
                for ih in h0..h0 + k[0] as i64 {
                    for iw in w0..w0 + k[1] as i64 {
                        if ih < (h + p[2]) as i64 && iw < (w + p[3]) as i64 {
                            cnt_pad += 1;
                        }
                        if ih >= 0 && iw >= 0 && ih < h as i64 && iw < w as i64 {
                            let v = x.data[pl * h * w + ih as usize * w + iw as usize];
                            mx = mx.max(v);
                            sum += v as f64;
                            cnt += 1;
                        }
                    }
                }
                out.data[pl * ho * wo + oh * wo + ow] = match avg {
                    None => mx,
                    Some(true) => (sum / cnt_pad as f64) as f32,
                    Some(false) => (sum / cnt as f64) as f32,
                };
            }
        }
    }
    out
}

#[test]
fn pool2d_matches_oracle() {
    let mut r = rng(13);
    type Case = ([usize; 4], [usize; 2], [usize; 2], [usize; 4]);
    let cases: &[Case] = &[
        ([2, 3, 8, 8], [2, 2], [2, 2], [0; 4]),
        ([1, 2, 7, 7], [3, 3], [2, 2], [1, 1, 1, 1]),
        ([1, 2, 5, 6], [2, 3], [2, 2], [0, 1, 1, 0]),
        ([2, 2, 6, 9], [3, 2], [3, 2], [1, 0, 2, 1]),
        ([1, 1, 4, 4], [2, 2], [2, 2], [0, 0, 1, 1]),
        ([1, 3, 10, 7], [3, 3], [1, 2], [1, 1, 1, 1]),
        ([4, 16, 32, 32], [3, 3], [2, 2], [1, 1, 1, 1]),
    ];
    for &(shape, k, s, p) in cases {
        let x = rand_t(&mut r, &shape);
        for ceil in [false, true] {
            let y = x.max_pool(&k, &s, &p, ceil).unwrap();
            assert_close(
                &y,
                &pool2d_oracle(&x, k, s, p, ceil, None),
                0.0,
                &format!("max {shape:?} {k:?} {s:?} {p:?} ceil {ceil}"),
            );
            for cip in [false, true] {
                let y = x.avg_pool(&k, &s, &p, ceil, cip).unwrap();
                let want = pool2d_oracle(&x, k, s, p, ceil, Some(cip));
                assert_close(
                    &y,
                    &want,
                    1e-6,
                    &format!("avg {shape:?} {k:?} {s:?} {p:?} ceil {ceil} cip {cip}"),
                );
            }
        }
    }
}

#[test]
fn pool_known_values() {
    // PyTorch: MaxPool2d(2, 2, ceil_mode=True) on 5x5 gives 3x3.
    let x = arange(&[1, 1, 5, 5]);
    assert_eq!(
        x.max_pool(&[2, 2], &[2, 2], &[0; 4], true).unwrap().shape(),
        &[1, 1, 3, 3]
    );
    assert_eq!(
        x.max_pool(&[2, 2], &[2, 2], &[0; 4], false).unwrap().shape(),
        &[1, 1, 2, 2]
    );
    // 6 with k3 s2 p1 ceil: 4 outputs.
    let x6 = arange(&[1, 1, 6, 6]);
    assert_eq!(
        x6.avg_pool(&[3, 3], &[2, 2], &[1; 4], true, true).unwrap().shape(),
        &[1, 1, 4, 4]
    );
    // 1-D cases.
    let v = t(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(
        v.avg_pool(&[2], &[2], &[0, 0], true, true).unwrap().data(),
        &[1.5, 3.5, 5.0]
    );
    assert_eq!(
        v.avg_pool(&[2], &[2], &[0, 0], false, true).unwrap().data(),
        &[1.5, 3.5]
    );
    assert_eq!(
        v.avg_pool(&[2], &[2], &[1, 1], true, true).unwrap().data(),
        &[0.5, 2.5, 4.5]
    );
    assert_eq!(
        v.avg_pool(&[2], &[2], &[1, 1], true, false).unwrap().data(),
        &[1.0, 2.5, 4.5]
    );
    let m = t(&[1, 1, 5], &[1.0, 3.0, 2.0, 5.0, 4.0]);
    assert_eq!(m.max_pool(&[2], &[2], &[0, 0], true).unwrap().data(), &[3.0, 5.0, 4.0]);
    assert_eq!(
        m.max_pool(&[3], &[1], &[1, 1], false).unwrap().data(),
        &[3.0, 3.0, 5.0, 5.0, 5.0]
    );
    // The ceil rule drops a window that would start in the trailing padding.
    let z = arange(&[1, 1, 4]);
    assert_eq!(z.max_pool(&[2], &[2], &[0, 1], true).unwrap().shape(), &[1, 1, 2]);
    // Negative values: max ignores padding.
    let neg = t(&[1, 1, 3], &[-3.0, -2.0, -1.0]);
    assert_eq!(neg.max_pool(&[2], &[2], &[1, 0], false).unwrap().data(), &[-3.0, -1.0]);
}

#[test]
fn pool1d_matches_oracle() {
    let mut r = rng(14);
    for &(n, c, l, k, s, p) in &[
        (2, 3, 11, 3, 2, [1, 1]),
        (1, 2, 9, 2, 3, [1, 0]),
        (1, 1, 7, 4, 2, [0, 2]),
    ] {
        let x = rand_t(&mut r, &[n, c, l]);
        let x4 = x.reshape_exact(&[n, c, 1, l]).unwrap();
        for ceil in [false, true] {
            let y = x.max_pool(&[k], &[s], &p, ceil).unwrap();
            let want = pool2d_oracle(&x4, [1, k], [1, s], [0, p[0], 0, p[1]], ceil, None);
            assert_close(&y, &want.reshape_exact(y.shape()).unwrap(), 0.0, "max1d");
            assert_eq!(&y.shape()[..2], &[n, c]);
            for cip in [false, true] {
                let y = x.avg_pool(&[k], &[s], &p, ceil, cip).unwrap();
                let want = pool2d_oracle(&x4, [1, k], [1, s], [0, p[0], 0, p[1]], ceil, Some(cip));
                assert_close(&y, &want.reshape_exact(y.shape()).unwrap(), 1e-6, "avg1d");
            }
        }
    }
}

#[test]
fn pool_errors() {
    let x = arange(&[1, 1, 4, 4]);
    assert!(x.max_pool(&[2], &[2, 2], &[0; 4], false).is_err());
    assert!(x.max_pool(&[2, 2], &[0, 2], &[0; 4], false).is_err());
    assert!(x.max_pool(&[5, 5], &[1, 1], &[0; 4], false).is_err());
    assert!(x.max_pool(&[2, 2], &[1, 1], &[2, 0, 0, 0], false).is_err());
    assert!(x.avg_pool(&[2, 2], &[1, 1], &[0; 3], false, true).is_err());
    assert!(arange(&[4, 4]).avg_pool(&[2, 2], &[], &[], false, true).is_err());
    assert!(arange(&[4, 4]).global_avg_pool().is_err());
    assert!(x.adaptive_avg_pool2d(0, 2).is_err());
}

#[test]
fn global_and_adaptive_avg_pool() {
    let mut r = rng(15);
    let x = rand_t(&mut r, &[2, 3, 5, 7]);
    let g = x.global_avg_pool().unwrap();
    assert_eq!(g.shape(), &[2, 3, 1, 1]);
    for p in 0..6 {
        let m = x.data[p * 35..(p + 1) * 35].iter().map(|&v| v as f64).sum::<f64>() / 35.0;
        assert!((g.data[p] as f64 - m).abs() < 1e-6);
    }
    assert_eq!(arange(&[1, 2, 4]).global_avg_pool().unwrap().data(), &[1.5, 5.5]);
    for (oh, ow) in [(1, 1), (2, 3), (3, 2), (5, 7), (4, 4), (7, 10)] {
        let y = x.adaptive_avg_pool2d(oh, ow).unwrap();
        assert_eq!(y.shape(), &[2, 3, oh, ow]);
        for i in 0..y.numel() {
            let [pn, pc, i0, j0] = unravel(i, y.shape())[..] else {
                panic!()
            };
            let (h0, h1) = ((i0 * 5) / oh, ((i0 + 1) * 5).div_ceil(oh));
            let (w0, w1) = ((j0 * 7) / ow, ((j0 + 1) * 7).div_ceil(ow));
            let mut s = 0.0f64;
            for a in h0..h1 {
                for b in w0..w1 {
                    s += x.data[ravel(&[pn, pc, a, b], &x.shape)] as f64;
                }
            }
            let want = s / ((h1 - h0) * (w1 - w0)) as f64;
            assert!((y.data[i] as f64 - want).abs() < 1e-6, "adaptive {oh}x{ow} at {i}");
        }
    }
    assert_eq!(
        x.adaptive_avg_pool2d(1, 1).unwrap().max_abs_diff(&g),
        0.0f32.max(x.adaptive_avg_pool2d(1, 1).unwrap().max_abs_diff(&g))
    );
    assert!(x.adaptive_avg_pool2d(1, 1).unwrap().max_abs_diff(&g) < 1e-6);
}

// ----- reductions and normalisation -----

#[test]
fn softmax_rows_sum_to_one() {
    let mut r = rng(16);
    let x = rand_t(&mut r, &[3, 4, 5]).scale(10.0);
    for axis in [0i64, 1, 2, -1, -3] {
        let y = x.softmax(axis).unwrap();
        let ly = x.log_softmax(axis).unwrap();
        let ax = axis.rem_euclid(3) as usize;
        for i in 0..x.numel() {
            let idx = unravel(i, &x.shape);
            let line: Vec<f64> = (0..x.shape[ax])
                .map(|j| {
                    let mut k = idx.clone();
                    k[ax] = j;
                    x.data[ravel(&k, &x.shape)] as f64
                })
                .collect();
            let m = line.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = line.iter().map(|v| (v - m).exp()).sum();
            let xi = x.data[i] as f64;
            assert!((y.data[i] as f64 - (xi - m).exp() / s).abs() < 1e-6);
            assert!((ly.data[i] as f64 - (xi - m - s.ln())).abs() < 1e-5);
            if idx[ax] == 0 {
                let total: f64 = (0..x.shape[ax])
                    .map(|j| {
                        let mut k = idx.clone();
                        k[ax] = j;
                        y.data[ravel(&k, &x.shape)] as f64
                    })
                    .sum();
                assert!((total - 1.0).abs() < 1e-5, "softmax axis {axis} sums to {total}");
            }
        }
    }
    // Stable for large inputs.
    let big = t(&[1, 3], &[1000.0, 1001.0, 1002.0]);
    let s = big.softmax(-1).unwrap();
    assert!(s.data.iter().all(|v| v.is_finite()));
    assert!((s.data.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    let ls = big.log_softmax(1).unwrap();
    assert!((ls.data[2] - (-(1.0f64 + (-1.0f64).exp() + (-2.0f64).exp()).ln()) as f32).abs() < 1e-5);
    assert!(x.softmax(3).is_err());
    assert!(x.log_softmax(-4).is_err());
}

#[test]
fn reductions_match_oracle() {
    let mut r = rng(17);
    let x = rand_t(&mut r, &[2, 3, 4, 5]);
    let axes_cases: &[&[i64]] = &[&[], &[0], &[1], &[-1], &[1, 3], &[-4, 2], &[0, 1, 2, 3], &[2, 0]];
    for &axes in axes_cases {
        let red: Vec<usize> = if axes.is_empty() {
            (0..4).collect()
        } else {
            axes.iter().map(|&a| a.rem_euclid(4) as usize).collect()
        };
        let keep_shape: Vec<usize> = (0..4).map(|i| if red.contains(&i) { 1 } else { x.shape[i] }).collect();
        let count: usize = red.iter().map(|&a| x.shape[a]).product();
        let mut acc = vec![0.0f64; keep_shape.iter().product()];
        for i in 0..x.numel() {
            let mut idx = unravel(i, &x.shape);
            for &a in &red {
                idx[a] = 0;
            }
            acc[ravel(&idx, &keep_shape)] += x.data[i] as f64;
        }
        for keepdims in [true, false] {
            let s = x.reduce_sum(axes, keepdims).unwrap();
            let m = x.reduce_mean(axes, keepdims).unwrap();
            let shape: Vec<usize> = if keepdims {
                keep_shape.clone()
            } else {
                (0..4).filter(|i| !red.contains(i)).map(|i| x.shape[i]).collect()
            };
            let ws = F32Tensor::from_vec(&shape, acc.iter().map(|&v| v as f32).collect()).unwrap();
            let wm = F32Tensor::from_vec(&shape, acc.iter().map(|&v| (v / count as f64) as f32).collect()).unwrap();
            assert_close(&s, &ws, 1e-5, &format!("sum {axes:?} {keepdims}"));
            assert_close(&m, &wm, 1e-6, &format!("mean {axes:?} {keepdims}"));
        }
    }
    assert!(x.reduce_sum(&[4], true).is_err());
    assert!(x.reduce_mean(&[1, -3], true).is_err());
    assert_eq!(F32Tensor::scalar(3.0).reduce_sum(&[], false).unwrap().data(), &[3.0]);
}

#[test]
fn layer_norm_normalises() {
    let mut r = rng(18);
    let x = rand_t(&mut r, &[4, 3, 8])
        .scale(5.0)
        .add(&F32Tensor::scalar(2.0))
        .unwrap();
    let ones = F32Tensor::full(&[8], 1.0);
    let y = x.layer_norm(-1, 1e-5, &ones, None).unwrap();
    for row in y.data.chunks(8) {
        let m = row.iter().map(|&v| v as f64).sum::<f64>() / 8.0;
        let v = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / 8.0;
        assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3, "mean {m} var {v}");
    }
    // Oracle over the last two axes with scale and bias.
    let scale = rand_t(&mut r, &[3, 8]);
    let bias = rand_t(&mut r, &[3, 8]);
    let y = x.layer_norm(1, 1e-3, &scale, Some(&bias)).unwrap();
    for (ri, row) in x.data.chunks(24).enumerate() {
        let m = row.iter().map(|&v| v as f64).sum::<f64>() / 24.0;
        let v = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / 24.0;
        for (j, &xj) in row.iter().enumerate() {
            let want = (xj as f64 - m) / (v + 1e-3).sqrt() * scale.data[j] as f64 + bias.data[j] as f64;
            assert!((y.data[ri * 24 + j] as f64 - want).abs() < 1e-5);
        }
    }
    assert!(x.layer_norm(-1, 1e-5, &F32Tensor::full(&[3], 1.0), None).is_err());
    assert!(
        x.layer_norm(-1, 1e-5, &F32Tensor::full(&[2, 4, 3, 8], 1.0), None)
            .is_err()
    );
    assert!(x.layer_norm(3, 1e-5, &ones, None).is_err());
}

#[test]
fn batch_norm_matches_oracle() {
    let mut r = rng(19);
    let x = rand_t(&mut r, &[2, 3, 4, 5]);
    let scale = rand_t(&mut r, &[3]);
    let bias = rand_t(&mut r, &[3]);
    let mean = rand_t(&mut r, &[3]);
    let var = rand_t(&mut r, &[3]).map(|v| v.abs() + 0.5);
    let y = x.batch_norm(&scale, &bias, &mean, &var, 1e-5).unwrap();
    for i in 0..x.numel() {
        let c = unravel(i, &x.shape)[1];
        let want = (x.data[i] as f64 - mean.data[c] as f64) / (var.data[c] as f64 + 1e-5).sqrt() * scale.data[c] as f64
            + bias.data[c] as f64;
        assert!((y.data[i] as f64 - want).abs() < 1e-5);
    }
    let x2 = rand_t(&mut r, &[4, 3]);
    assert!(x2.batch_norm(&scale, &bias, &mean, &var, 1e-5).is_ok());
    assert!(x.batch_norm(&scale, &bias, &mean, &rand_t(&mut r, &[4]), 1e-5).is_err());
    assert!(arange(&[3]).batch_norm(&scale, &bias, &mean, &var, 1e-5).is_err());
}

/// Timings for the report: `cargo test --release --lib nn::tensor::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing() {
    let mut r = rng(20);
    let x = rand_t(&mut r, &[1, 64, 56, 56]);
    let w = rand_t(&mut r, &[64, 64, 3, 3]);
    let b = rand_t(&mut r, &[64]);
    let _ = x.conv(&w, Some(&b), &[1, 1], &[1; 4], &[1, 1], 1).unwrap();
    let reps = 20;
    let t0 = std::time::Instant::now();
    for _ in 0..reps {
        std::hint::black_box(x.conv(&w, Some(&b), &[1, 1], &[1; 4], &[1, 1], 1).unwrap());
    }
    let conv = t0.elapsed().as_secs_f64() / reps as f64;
    let a = rand_t(&mut r, &[1024, 1024]);
    let bm = rand_t(&mut r, &[1024, 1024]);
    let _ = a.matmul(&bm).unwrap();
    let t0 = std::time::Instant::now();
    for _ in 0..reps {
        std::hint::black_box(a.matmul(&bm).unwrap());
    }
    let mm = t0.elapsed().as_secs_f64() / reps as f64;
    println!(
        "conv 1x64x56x56 * 64x64x3x3 pad 1: {:.2} ms ({:.1} GFLOP/s); matmul 1024^3: {:.2} ms ({:.1} GFLOP/s); threads {}",
        conv * 1e3,
        2.0 * 64.0 * 576.0 * 3136.0 / conv / 1e9,
        mm * 1e3,
        2.0 * 1024f64.powi(3) / mm / 1e9,
        rayon::current_num_threads()
    );
}
