//! Tests of elementwise ops, matrix products and convolutions.

use super::*;

// ----- elementwise -----

#[test]
fn binary_ops_broadcast() {
    let mut r = rng(7);
    let pairs: &[(&[usize], &[usize])] = &[
        (&[2, 3, 4], &[2, 3, 4]),
        (&[2, 3, 4], &[4]),
        (&[4], &[2, 3, 4]),
        (&[2, 1, 4], &[3, 1]),
        (&[1], &[2, 3]),
        (&[], &[2, 2]),
        (&[2, 2], &[]),
        (&[5, 1, 1], &[1, 4, 3]),
        (&[2, 3, 1], &[2, 1, 5]),
        (&[0, 3], &[1, 3]),
    ];
    type Op = (
        &'static str,
        fn(&F32Tensor, &F32Tensor) -> Result<F32Tensor>,
        fn(f32, f32) -> f32,
    );
    let ops: [Op; 5] = [
        ("add", F32Tensor::add, |a, b| a + b),
        ("sub", F32Tensor::sub, |a, b| a - b),
        ("mul", F32Tensor::mul, |a, b| a * b),
        ("div", F32Tensor::div, |a, b| a / b),
        ("pow", F32Tensor::pow, |a, b| a.powf(b)),
    ];
    for &(sa, sb) in pairs {
        let a = rand_t(&mut r, sa).map(|v| v.abs() + 0.1);
        let b = rand_t(&mut r, sb);
        let shape = broadcast_shape(sa, sb).unwrap();
        for (name, f, g) in &ops {
            let y = f(&a, &b).unwrap();
            assert_eq!(y.shape(), &shape[..], "{name} {sa:?} {sb:?}");
            for i in 0..y.numel() {
                let idx = unravel(i, &shape);
                let want = g(bget(&a, &idx), bget(&b, &idx));
                assert_eq!(y.data[i].to_bits(), want.to_bits(), "{name} {sa:?} {sb:?} at {idx:?}");
            }
        }
    }
    let a = arange(&[2, 3]);
    assert!(a.add(&arange(&[2])).is_err());
    assert!(a.mul(&arange(&[3, 3])).is_err());
}

#[test]
fn unary_ops() {
    let mut r = rng(8);
    let x = rand_t(&mut r, &[64]).scale(6.0);
    let check = |y: F32Tensor, f: &dyn Fn(f64) -> f64, tol: f32, name: &str| {
        let want = F32Tensor::from_vec(&[64], x.data.iter().map(|&v| f(v as f64) as f32).collect()).unwrap();
        assert_close(&y, &want, tol, name);
    };
    check(x.neg(), &|v| -v, 0.0, "neg");
    check(x.scale(0.5), &|v| 0.5 * v, 0.0, "scale");
    check(x.exp(), &f64::exp, 1e-3, "exp");
    check(x.tanh(), &f64::tanh, 1e-6, "tanh");
    check(x.relu(), &|v| v.max(0.0), 0.0, "relu");
    check(x.sigmoid(), &|v| 1.0 / (1.0 + (-v).exp()), 1e-6, "sigmoid");
    check(x.erf(), &libm::erf, 1e-6, "erf");
    check(
        x.gelu(false),
        &|v| 0.5 * v * (1.0 + libm::erf(v / 2f64.sqrt())),
        1e-5,
        "gelu",
    );
    let c = (2.0 / std::f64::consts::PI).sqrt();
    check(
        x.gelu(true),
        &|v| 0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh()),
        1e-5,
        "gelu tanh",
    );
    assert!(x.gelu(true).max_abs_diff(&x.gelu(false)) < 1e-3);
    let p = x.map(|v| v.abs() + 0.01);
    let check_p = |y: F32Tensor, f: &dyn Fn(f64) -> f64, tol: f32, name: &str| {
        let want = F32Tensor::from_vec(&[64], p.data.iter().map(|&v| f(v as f64) as f32).collect()).unwrap();
        assert_close(&y, &want, tol, name);
    };
    check_p(p.sqrt(), &f64::sqrt, 1e-6, "sqrt");
    check_p(p.log(), &f64::ln, 1e-6, "log");
    check_p(p.reciprocal(), &|v| 1.0 / v, 1e-4, "reciprocal");
    // Known values and extremes.
    let e = t(&[3], &[0.0, 1.0, -2.0]).erf();
    assert_close(&e, &t(&[3], &[0.0, 0.842_700_8, -0.995_322_3]), 1e-6, "erf values");
    let s = t(&[2], &[-200.0, 200.0]).sigmoid();
    assert_eq!(s.data(), &[0.0, 1.0]);
}

// ----- linear algebra -----

fn matmul_oracle(a: &F32Tensor, b: &F32Tensor) -> F32Tensor {
    let a2 = if a.rank() == 1 {
        a.reshape_exact(&[1, a.shape[0]]).unwrap()
    } else {
        a.clone()
    };
    let b2 = if b.rank() == 1 {
        b.reshape_exact(&[b.shape[0], 1]).unwrap()
    } else {
        b.clone()
    };
    let (ra, rb) = (a2.rank(), b2.rank());
    let (m, k, n) = (a2.shape[ra - 2], a2.shape[ra - 1], b2.shape[rb - 1]);
    let batch = broadcast_shape(&a2.shape[..ra - 2], &b2.shape[..rb - 2]).unwrap();
    let mut oshape = batch.clone();
    oshape.extend([m, n]);
    let total: usize = oshape.iter().product();
    let mut out = vec![0.0f32; total];
    for (i, o) in out.iter_mut().enumerate() {
        let idx = unravel(i, &oshape);
        let bi = &idx[..batch.len()];
        let mut acc = 0.0f64;
        for kk in 0..k {
            let mut ai = bi.to_vec();
            ai.extend([idx[batch.len()], kk]);
            let mut bj = bi.to_vec();
            bj.extend([kk, idx[batch.len() + 1]]);
            acc += bget(&a2, &ai) as f64 * bget(&b2, &bj) as f64;
        }
        *o = acc as f32;
    }
    let mut shape = batch;
    if a.rank() > 1 {
        shape.push(m);
    }
    if b.rank() > 1 {
        shape.push(n);
    }
    F32Tensor::from_vec(&shape, out).unwrap()
}

#[test]
fn matmul_matches_oracle() {
    let mut r = rng(9);
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 4], &[4, 5]),
        (&[2, 3, 4], &[4, 5]),
        (&[4, 5], &[2, 5, 3]),
        (&[4], &[4, 5]),
        (&[3, 4], &[4]),
        (&[4], &[4]),
        (&[2, 3, 4], &[4]),
        (&[2, 1, 3, 4], &[5, 4, 6]),
        (&[3, 2, 7], &[3, 7, 2]),
        (&[1, 0], &[0, 3]),
        (&[0, 4], &[4, 3]),
        (&[200, 150], &[150, 120]),
        (&[20, 300], &[300, 600]),
        (&[4, 60, 70], &[70, 80]),
    ];
    for &(sa, sb) in cases {
        let a = rand_t(&mut r, sa);
        let b = rand_t(&mut r, sb);
        let y = a.matmul(&b).unwrap();
        let k = sa[sa.len() - 1] as f32;
        assert_close(
            &y,
            &matmul_oracle(&a, &b),
            1e-5 * k.max(1.0),
            &format!("matmul {sa:?} {sb:?}"),
        );
    }
    let a = arange(&[2, 3]);
    assert!(a.matmul(&arange(&[2, 3])).is_err());
    assert!(a.matmul(&F32Tensor::scalar(1.0)).is_err());
    assert!(arange(&[2, 2, 3]).matmul(&arange(&[3, 3, 1])).is_err());
}

#[test]
fn gemm_matches_oracle() {
    let mut r = rng(10);
    let (m, k, n) = (5, 7, 4);
    let cs: Vec<Option<Vec<usize>>> = vec![None, Some(vec![n]), Some(vec![m, 1]), Some(vec![m, n]), Some(vec![])];
    for trans_a in [false, true] {
        for trans_b in [false, true] {
            for cshape in &cs {
                let a = rand_t(&mut r, &if trans_a { [k, m] } else { [m, k] });
                let b = rand_t(&mut r, &if trans_b { [n, k] } else { [k, n] });
                let c = cshape.as_ref().map(|s| rand_t(&mut r, s));
                let (alpha, beta) = (0.75, -1.5);
                let y = a.gemm(&b, c.as_ref(), alpha, beta, trans_a, trans_b).unwrap();
                let at = if trans_a {
                    a.transpose(&[1, 0]).unwrap()
                } else {
                    a.clone()
                };
                let bt = if trans_b {
                    b.transpose(&[1, 0]).unwrap()
                } else {
                    b.clone()
                };
                let mut want = matmul_oracle(&at, &bt).scale(alpha);
                if let Some(c) = &c {
                    want = want.add(&c.scale(beta)).unwrap();
                }
                assert_close(&y, &want, 1e-5, &format!("gemm ta {trans_a} tb {trans_b} c {cshape:?}"));
            }
        }
    }
    let a = arange(&[2, 3]);
    assert!(a.gemm(&arange(&[2, 3]), None, 1.0, 1.0, false, false).is_err());
    assert!(a.gemm(&arange(&[2, 3]), None, 1.0, 1.0, false, true).is_ok());
    assert!(
        a.gemm(&arange(&[3, 2]), Some(&arange(&[3])), 1.0, 1.0, false, false)
            .is_err()
    );
    assert!(
        arange(&[3])
            .gemm(&arange(&[3, 2]), None, 1.0, 1.0, false, false)
            .is_err()
    );
}

// ----- convolution -----

#[allow(clippy::too_many_arguments)]
fn conv2d_oracle(
    x: &F32Tensor,
    w: &F32Tensor,
    b: Option<&F32Tensor>,
    s: [usize; 2],
    p: [usize; 4],
    d: [usize; 2],
    g: usize,
) -> F32Tensor {
    let [n, _c, h, wd] = x.shape[..] else { panic!() };
    let [o, cg, kh, kw] = w.shape[..] else { panic!() };
    let ho = (h + p[0] + p[2] - d[0] * (kh - 1) - 1) / s[0] + 1;
    let wo = (wd + p[1] + p[3] - d[1] * (kw - 1) - 1) / s[1] + 1;
    let og = o / g;
    let mut out = F32Tensor::zeros(&[n, o, ho, wo]);
    for ni in 0..n {
        for oc in 0..o {
            let gi = oc / og;
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut acc = b.map_or(0.0, |b| b.data[oc] as f64);
                    for ic in 0..cg {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let ih = (oh * s[0] + ki * d[0]) as i64 - p[0] as i64;
                                let iw = (ow * s[1] + kj * d[1]) as i64 - p[1] as i64;
                                if ih < 0 || iw < 0 || ih >= h as i64 || iw >= wd as i64 {
                                    continue;
                                }
                                let xv = x.data[ravel(&[ni, gi * cg + ic, ih as usize, iw as usize], &x.shape)];
                                let wv = w.data[ravel(&[oc, ic, ki, kj], &w.shape)];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out.data[ravel(&[ni, oc, oh, ow], &[n, o, ho, wo])] = acc as f32;
                }
            }
        }
    }
    out
}

#[test]
fn conv2d_matches_oracle() {
    let mut r = rng(11);
    // (n, c, h, w, o, kh, kw, stride, pads, dilation, group, bias)
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 4],
        [usize; 2],
        usize,
        bool,
    );
    let cases: &[Case] = &[
        (1, 1, 5, 5, 1, 3, 3, [1, 1], [0; 4], [1, 1], 1, false),
        (2, 3, 7, 6, 4, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1], 1, true),
        (2, 3, 9, 8, 4, 3, 2, [2, 3], [1, 0, 2, 1], [1, 1], 1, true),
        (1, 4, 9, 9, 6, 3, 3, [1, 2], [2, 1, 0, 2], [2, 3], 2, true),
        (2, 4, 6, 6, 4, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1], 4, false),
        (2, 6, 5, 4, 3, 1, 1, [1, 1], [0; 4], [1, 1], 3, true),
        (1, 6, 5, 4, 4, 1, 1, [1, 1], [0; 4], [1, 1], 1, false),
        (1, 2, 5, 5, 2, 1, 1, [2, 2], [1, 1, 1, 1], [1, 1], 1, true),
        (1, 16, 40, 40, 24, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1], 1, true),
        (3, 8, 20, 20, 8, 5, 5, [2, 2], [2, 2, 1, 1], [1, 1], 2, true),
    ];
    for &(n, c, h, w, o, kh, kw, s, p, d, g, bias) in cases {
        let x = rand_t(&mut r, &[n, c, h, w]);
        let wt = rand_t(&mut r, &[o, c / g, kh, kw]);
        let b = bias.then(|| rand_t(&mut r, &[o]));
        let y = x.conv(&wt, b.as_ref(), &s, &p, &d, g).unwrap();
        let want = conv2d_oracle(&x, &wt, b.as_ref(), s, p, d, g);
        let tol = 1e-5 * (c / g * kh * kw) as f32;
        assert_close(
            &y,
            &want,
            tol,
            &format!("conv2d n{n} c{c} {h}x{w} o{o} k{kh}x{kw} s{s:?} p{p:?} d{d:?} g{g}"),
        );
    }
    // Defaults for empty attribute lists.
    let x = rand_t(&mut r, &[1, 2, 4, 4]);
    let wt = rand_t(&mut r, &[3, 2, 2, 2]);
    assert_eq!(
        x.conv(&wt, None, &[], &[], &[], 1).unwrap(),
        x.conv(&wt, None, &[1, 1], &[0; 4], &[1, 1], 1).unwrap()
    );
}

#[test]
fn conv1d_matches_oracle() {
    let mut r = rng(12);
    // (n, c, l, o, k, stride, pads, dilation, group, bias)
    type Case = (usize, usize, usize, usize, usize, usize, [usize; 2], usize, usize, bool);
    let cases: &[Case] = &[
        (1, 8, 20, 6, 3, 1, [1, 1], 1, 1, true),
        (2, 4, 15, 4, 3, 2, [0, 2], 2, 2, true),
        (2, 4, 11, 8, 5, 3, [2, 1], 1, 4, false),
        (3, 2, 9, 2, 1, 1, [0, 0], 1, 1, true),
    ];
    for &(n, c, l, o, k, s, p, d, g, bias) in cases {
        let x = rand_t(&mut r, &[n, c, l]);
        let wt = rand_t(&mut r, &[o, c / g, k]);
        let b = bias.then(|| rand_t(&mut r, &[o]));
        let y = x.conv(&wt, b.as_ref(), &[s], &p, &[d], g).unwrap();
        let lo = (l + p[0] + p[1] - d * (k - 1) - 1) / s + 1;
        let mut want = F32Tensor::zeros(&[n, o, lo]);
        for ni in 0..n {
            for oc in 0..o {
                let gi = oc / (o / g);
                for ol in 0..lo {
                    let mut acc = b.as_ref().map_or(0.0, |b| b.data[oc] as f64);
                    for ic in 0..c / g {
                        for kk in 0..k {
                            let il = (ol * s + kk * d) as i64 - p[0] as i64;
                            if il >= 0 && il < l as i64 {
                                acc += x.data[ravel(&[ni, gi * (c / g) + ic, il as usize], &x.shape)] as f64
                                    * wt.data[ravel(&[oc, ic, kk], &wt.shape)] as f64;
                            }
                        }
                    }
                    want.data[ravel(&[ni, oc, ol], &[n, o, lo])] = acc as f32;
                }
            }
        }
        assert_close(
            &y,
            &want,
            1e-5 * (c * k) as f32,
            &format!("conv1d {n} {c} {l} {o} {k} {s} {p:?} {d} {g}"),
        );
    }
}

#[test]
fn conv_errors() {
    let x = arange(&[1, 4, 5, 5]);
    let w = arange(&[2, 4, 3, 3]);
    assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[1, 1], 1).is_ok());
    assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[1, 1], 2).is_err()); // weights C/g mismatch
    assert!(x.conv(&w, None, &[0, 1], &[0; 4], &[1, 1], 1).is_err());
    assert!(x.conv(&w, None, &[1, 1], &[0; 2], &[1, 1], 1).is_err());
    assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[3, 3], 1).is_err()); // kernel span 7 > 5
    assert!(x.conv(&w, Some(&arange(&[3])), &[1, 1], &[0; 4], &[1, 1], 1).is_err());
    assert!(x.conv(&arange(&[2, 4, 3]), None, &[1], &[0; 2], &[1], 1).is_err());
    assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[1, 1], 0).is_err());
    assert!(arange(&[4, 5]).conv(&arange(&[2, 4]), None, &[], &[], &[], 1).is_err());
}
