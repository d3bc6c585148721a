//! Unit tests of `F32Tensor`: shared helpers and the shape and data movement wrappers; the
//! compute and window ops are tested in the submodules.

use super::*;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Uniform in [-1, 1).
fn uniform(r: &mut Xoshiro256PlusPlus) -> f32 {
    (r.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
}

fn rand_t(r: &mut Xoshiro256PlusPlus, shape: &[usize]) -> F32Tensor {
    let n = shape.iter().product();
    F32Tensor::from_vec(shape, (0..n).map(|_| uniform(r)).collect()).unwrap()
}

fn t(shape: &[usize], data: &[f32]) -> F32Tensor {
    F32Tensor::from_vec(shape, data.to_vec()).unwrap()
}

fn arange(shape: &[usize]) -> F32Tensor {
    let n = shape.iter().product();
    F32Tensor::from_vec(shape, (0..n).map(|i| i as f32).collect()).unwrap()
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for ax in (0..shape.len()).rev() {
        idx[ax] = i % shape[ax];
        i /= shape[ax];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// The element of `x` that numpy broadcasting reads for output index `out_idx`.
fn bget(x: &F32Tensor, out_idx: &[usize]) -> f32 {
    let lead = out_idx.len() - x.rank();
    let idx: Vec<usize> = (0..x.rank())
        .map(|i| if x.shape[i] == 1 { 0 } else { out_idx[lead + i] })
        .collect();
    x.data[ravel(&idx, &x.shape)]
}

fn assert_close(got: &F32Tensor, want: &F32Tensor, tol: f32, what: &str) {
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let d = got.max_abs_diff(want);
    assert!(
        d <= tol,
        "{what}: max abs diff {d} > {tol}\n got {:?}\nwant {:?}",
        got.data,
        want.data
    );
}

// ----- shapes and data movement -----

#[test]
fn broadcast_shapes() {
    assert_eq!(broadcast_shape(&[2, 3, 4], &[4]).unwrap(), vec![2, 3, 4]);
    assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
    assert_eq!(broadcast_shape(&[], &[5]).unwrap(), vec![5]);
    assert_eq!(broadcast_shape(&[0, 1], &[1, 3]).unwrap(), vec![0, 3]);
    assert!(broadcast_shape(&[2, 3], &[4]).is_err());
    assert!(broadcast_shape(&[2, 3], &[3, 3]).is_err());
}

#[test]
fn construction() {
    assert!(F32Tensor::from_vec(&[2, 2], vec![0.0; 3]).is_err());
    assert!(F32Tensor::from_vec(&[usize::MAX, 3], vec![]).is_err());
    let s = F32Tensor::scalar(2.5);
    assert_eq!((s.shape(), s.data()), (&[][..], &[2.5][..]));
    let f = F32Tensor::full(&[2, 3], 7.0);
    assert_eq!(f.data(), &[7.0; 6]);
    assert_eq!(F32Tensor::zeros(&[0, 4]).numel(), 0);
    assert_eq!(f.max_abs_diff(&F32Tensor::zeros(&[3, 2])), f32::INFINITY);
    assert_eq!(t(&[1], &[f32::NAN]).max_abs_diff(&t(&[1], &[f32::NAN])), 0.0);
    assert_eq!(t(&[1], &[f32::NAN]).max_abs_diff(&t(&[1], &[1.0])), f32::INFINITY);
}

#[test]
fn reshape_onnx() {
    let x = arange(&[2, 3, 4]);
    assert_eq!(x.reshape(&[0, -1]).unwrap().shape(), &[2, 12]);
    assert_eq!(x.reshape(&[-1, 0, 2]).unwrap().shape(), &[4, 3, 2]);
    assert_eq!(x.reshape(&[4, 0, 2]).unwrap().shape(), &[4, 3, 2]);
    assert_eq!(x.reshape(&[24]).unwrap().data(), x.data());
    assert!(x.reshape(&[-1, -1]).is_err());
    assert!(x.reshape(&[5, -1]).is_err());
    assert!(x.reshape(&[0, 0, 0, 0]).is_err());
    assert!(x.reshape(&[-2, 12]).is_err());
    assert!(x.reshape(&[7]).is_err());
    assert!(x.reshape_exact(&[4, 6]).is_ok());
    assert!(x.reshape_exact(&[4, 5]).is_err());
    let e = F32Tensor::zeros(&[0, 3]);
    assert!(e.reshape(&[0, -1]).is_err()); // -1 is ambiguous with zero elements
    assert_eq!(e.reshape(&[-1, 0]).unwrap().shape(), &[0, 3]);
    assert_eq!(e.reshape(&[0, 0, 1]).unwrap().shape(), &[0, 3, 1]);
    assert!(e.reshape(&[3, 0, 5]).is_err());
}

#[test]
fn flatten_onnx() {
    let x = arange(&[2, 3, 4, 5]);
    assert_eq!(x.flatten(0).unwrap().shape(), &[1, 120]);
    assert_eq!(x.flatten(1).unwrap().shape(), &[2, 60]);
    assert_eq!(x.flatten(-1).unwrap().shape(), &[24, 5]);
    assert_eq!(x.flatten(4).unwrap().shape(), &[120, 1]);
    assert!(x.flatten(5).is_err());
    assert!(x.flatten(-5).is_err());
    assert_eq!(F32Tensor::scalar(1.0).flatten(0).unwrap().shape(), &[1, 1]);
}

#[test]
fn transpose_matches_oracle() {
    let mut r = rng(1);
    for (shape, perm) in [
        (vec![2, 3], vec![1, 0]),
        (vec![2, 3, 4], vec![2, 0, 1]),
        (vec![2, 3, 4, 5], vec![0, 2, 1, 3]),
        (vec![3, 1, 4, 2], vec![3, 2, 1, 0]),
    ] {
        let x = rand_t(&mut r, &shape);
        let y = x.transpose(&perm).unwrap();
        let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        assert_eq!(y.shape(), &oshape[..]);
        for i in 0..y.numel() {
            let oi = unravel(i, &oshape);
            let mut xi = vec![0; shape.len()];
            for (k, &p) in perm.iter().enumerate() {
                xi[p] = oi[k];
            }
            assert_eq!(y.data[i], x.data[ravel(&xi, &shape)]);
        }
    }
    let x = arange(&[2, 3, 4]);
    assert_eq!(x.transpose(&[]).unwrap(), x.transpose(&[2, 1, 0]).unwrap());
    assert!(x.transpose(&[0, 0, 1]).is_err());
    assert!(x.transpose(&[0, 1]).is_err());
    assert!(x.transpose(&[0, 1, 3]).is_err());
}

#[test]
fn unsqueeze_squeeze() {
    let x = arange(&[3, 4]);
    assert_eq!(x.unsqueeze(&[0]).unwrap().shape(), &[1, 3, 4]);
    assert_eq!(x.unsqueeze(&[-1]).unwrap().shape(), &[3, 4, 1]);
    assert_eq!(x.unsqueeze(&[0, 3]).unwrap().shape(), &[1, 3, 4, 1]);
    assert_eq!(x.unsqueeze(&[1, -2]).unwrap().shape(), &[3, 1, 1, 4]);
    assert!(x.unsqueeze(&[4]).is_err());
    assert!(x.unsqueeze(&[1, 1]).is_err());
    let y = arange(&[1, 3, 1, 4]);
    assert_eq!(y.squeeze(&[]).unwrap().shape(), &[3, 4]);
    assert_eq!(y.squeeze(&[-2]).unwrap().shape(), &[1, 3, 4]);
    assert_eq!(y.squeeze(&[0, 2]).unwrap().data(), y.data());
    assert!(y.squeeze(&[1]).is_err());
    assert!(y.squeeze(&[4]).is_err());
}

#[test]
fn concat_matches_oracle() {
    let mut r = rng(2);
    let a = rand_t(&mut r, &[2, 3, 4]);
    let b = rand_t(&mut r, &[2, 1, 4]);
    let c = rand_t(&mut r, &[2, 2, 4]);
    let y = F32Tensor::concat(&[&a, &b, &c], 1).unwrap();
    assert_eq!(y.shape(), &[2, 6, 4]);
    for i in 0..y.numel() {
        let idx = unravel(i, &y.shape);
        let (src, j) = match idx[1] {
            0..=2 => (&a, idx[1]),
            3 => (&b, 0),
            j => (&c, j - 4),
        };
        assert_eq!(y.data[i], src.data[ravel(&[idx[0], j, idx[2]], &src.shape)]);
    }
    let z = F32Tensor::concat(&[&a, &a], -1).unwrap();
    assert_eq!(z.shape(), &[2, 3, 8]);
    assert_eq!(&z.data[4..8], &a.data[0..4]);
    assert!(F32Tensor::concat(&[&a, &b], 0).is_err());
    assert!(F32Tensor::concat(&[], 0).is_err());
    assert!(F32Tensor::concat(&[&a, &b], 3).is_err());
}

#[test]
fn slice_cases() {
    let x = arange(&[10]);
    let s = |st: i64, en: i64, step: i64| x.slice(&[st], &[en], &[], &[step]).unwrap().into_vec();
    assert_eq!(s(-3, i64::MAX, 1), vec![7.0, 8.0, 9.0]);
    assert_eq!(s(8, 2, -2), vec![8.0, 6.0, 4.0]);
    assert_eq!(s(-1, i64::MIN, -1), (0..10).rev().map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(s(20, 30, 1), Vec::<f32>::new());
    assert_eq!(s(-100, 3, 1), vec![0.0, 1.0, 2.0]);
    assert_eq!(s(1, -1, 3), vec![1.0, 4.0, 7.0]);
    assert_eq!(s(100, -100, -4), vec![9.0, 5.0, 1.0]);
    assert_eq!(s(5, 5, 1), Vec::<f32>::new());
    assert_eq!(s(2, 7, i64::MAX), vec![2.0]);
    assert_eq!(s(7, 2, i64::MIN), vec![7.0]);
    // ONNX (unlike numpy) clamps a too-negative start to 0 for negative steps.
    assert_eq!(s(-100, -200, -1), vec![0.0]);
    assert_eq!(s(3, -100, -1), vec![3.0, 2.0, 1.0, 0.0]);
    let m = arange(&[3, 4]);
    let y = m.slice(&[1, -1], &[3, -5], &[0, -1], &[1, -2]).unwrap();
    assert_eq!(y.shape(), &[2, 2]);
    assert_eq!(y.data(), &[7.0, 5.0, 11.0, 9.0]);
    let y = m.slice(&[0], &[i64::MAX], &[1], &[2]).unwrap();
    assert_eq!(y.data(), &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    assert!(m.slice(&[0], &[1], &[], &[0]).is_err());
    assert!(m.slice(&[0], &[1, 2], &[], &[]).is_err());
    assert!(m.slice(&[0], &[1], &[2], &[]).is_err());
    assert!(m.slice(&[0, 0], &[1, 1], &[1, -1], &[]).is_err());
}

/// Indices an ONNX slice of one axis of size `d` selects, by enumerating candidates.
fn slice_oracle(d: i64, s: i64, e: i64, step: i64) -> Vec<usize> {
    let norm = |v: i64| if v < 0 { v + d } else { v };
    let (s, e) = (norm(s), norm(e));
    let mut out = Vec::new();
    if step > 0 {
        let mut i = s.max(0);
        while i < e.min(d) {
            out.push(i as usize);
            i += step;
        }
    } else {
        // ONNX clamps the start to [0, d-1] (numpy would select nothing for start < -d).
        let mut i = s.clamp(0, d - 1);
        while i > e.max(-1) {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

#[test]
fn slice_matches_oracle() {
    let mut r = rng(3);
    let x = rand_t(&mut r, &[5, 6, 7]);
    for _ in 0..300 {
        let mut pick = |lo: i64, hi: i64| lo + (r.next_u32() as i64).rem_euclid(hi - lo + 1);
        let axes: Vec<i64> = vec![pick(-3, -1), pick(0, 2)];
        if axes[0].rem_euclid(3) == axes[1] {
            continue;
        }
        let starts = vec![pick(-9, 9), pick(-9, 9)];
        let ends = vec![pick(-9, 9), pick(-9, 9)];
        let steps: Vec<i64> = (0..2)
            .map(|_| {
                let s = pick(-3, 3);
                if s == 0 { 1 } else { s }
            })
            .collect();
        let y = x.slice(&starts, &ends, &axes, &steps).unwrap();
        let mut sel: Vec<Vec<usize>> = x.shape.iter().map(|&d| (0..d).collect()).collect();
        for k in 0..2 {
            let ax = axes[k].rem_euclid(3) as usize;
            sel[ax] = slice_oracle(x.shape[ax] as i64, starts[k], ends[k], steps[k]);
        }
        let shape: Vec<usize> = sel.iter().map(|v| v.len()).collect();
        assert_eq!(y.shape(), &shape[..], "{starts:?} {ends:?} {axes:?} {steps:?}");
        for i in 0..y.numel() {
            let oi = unravel(i, &shape);
            let xi: Vec<usize> = (0..3).map(|a| sel[a][oi[a]]).collect();
            assert_eq!(y.data[i], x.data[ravel(&xi, &x.shape)]);
        }
    }
}

#[test]
fn pad_matches_oracle() {
    let mut r = rng(4);
    let x = rand_t(&mut r, &[2, 3, 4]);
    for pads in [
        vec![0, 1, 2, 0, 3, 1],
        vec![1, 0, 0, 1, 0, 0],
        vec![0, -1, 1, 0, 2, -2],
        vec![0, 0, 0, 0, 0, 0],
        vec![0, -3, 0, 0, 0, 0],
    ] {
        let y = x.pad(&pads, 1.5).unwrap();
        let shape: Vec<usize> = (0..3)
            .map(|i| (x.shape[i] as i64 + pads[i] + pads[3 + i]) as usize)
            .collect();
        assert_eq!(y.shape(), &shape[..]);
        for i in 0..y.numel() {
            let oi = unravel(i, &shape);
            let xi: Vec<i64> = (0..3).map(|a| oi[a] as i64 - pads[a]).collect();
            let inside = (0..3).all(|a| xi[a] >= 0 && xi[a] < x.shape[a] as i64);
            let want = if inside {
                x.data[ravel(&xi.iter().map(|&v| v as usize).collect::<Vec<_>>(), &x.shape)]
            } else {
                1.5
            };
            assert_eq!(y.data[i], want, "pads {pads:?} at {oi:?}");
        }
    }
    assert!(x.pad(&[0, 0, 0, 0], 0.0).is_err());
    assert!(x.pad(&[0, -3, 0, 0, -1, 0], 0.0).is_err());
}

#[test]
fn gather_negative_indices() {
    let x = arange(&[3, 4]);
    let y = x.gather(1, &[-1, 0, 2, -4], &[2, 2]).unwrap();
    assert_eq!(y.shape(), &[3, 2, 2]);
    assert_eq!(&y.data[..4], &[3.0, 0.0, 2.0, 0.0]);
    assert_eq!(&y.data[4..8], &[7.0, 4.0, 6.0, 4.0]);
    let e = x.gather(0, &[-3, 2], &[2]).unwrap();
    assert_eq!(e.data(), &[0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]);
    let s = x.gather(-2, &[1], &[]).unwrap();
    assert_eq!(s.shape(), &[4]);
    assert_eq!(s.data(), &[4.0, 5.0, 6.0, 7.0]);
    // Oracle on a 3-d tensor along the middle axis.
    let mut r = rng(5);
    let z = rand_t(&mut r, &[2, 5, 3]);
    let idx = [4i64, -5, 0, -1, 2, 2];
    let g = z.gather(1, &idx, &[3, 2]).unwrap();
    assert_eq!(g.shape(), &[2, 3, 2, 3]);
    for i in 0..g.numel() {
        let oi = unravel(i, &g.shape);
        let j = idx[oi[1] * 2 + oi[2]].rem_euclid(5) as usize;
        assert_eq!(g.data[i], z.data[ravel(&[oi[0], j, oi[3]], &z.shape)]);
    }
    assert!(x.gather(1, &[4], &[1]).is_err());
    assert!(x.gather(1, &[-5], &[1]).is_err());
    assert!(x.gather(2, &[0], &[1]).is_err());
    assert!(x.gather(0, &[0, 1], &[3]).is_err());
    assert!(F32Tensor::scalar(1.0).gather(0, &[0], &[1]).is_err());
}

#[test]
fn broadcast_to_matches_oracle() {
    let mut r = rng(6);
    let x = rand_t(&mut r, &[3, 1]);
    let y = x.broadcast_to(&[2, 3, 4]).unwrap();
    for i in 0..y.numel() {
        assert_eq!(y.data[i], bget(&x, &unravel(i, &y.shape)));
    }
    assert!(x.broadcast_to(&[2, 4, 4]).is_err());
    assert!(x.broadcast_to(&[3]).is_err());
    assert_eq!(F32Tensor::scalar(2.0).broadcast_to(&[2, 2]).unwrap().data(), &[2.0; 4]);
}

mod compute;
mod window;
