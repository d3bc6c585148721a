//! Sum pooling over Z_2^64: the linear part of average pooling (the division by the window size
//! happens elsewhere, on fixed-point values).
//!
//! Window geometry follows PyTorch: zero padding, floor or ceil mode, `padding <= kernel / 2`, and
//! adaptive windows `floor(i·n/out) .. ceil((i+1)·n/out)`. Sums are computed separably (rows, then
//! columns), which is exact because ring addition is associative and commutative.

use super::{PAR_THRESHOLD, RingTensor, shape_string};
use crate::dense::Window as Im2col;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// One pooling window along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// First input index inside the window (clipped to the input).
    start: usize,
    /// One past the last input index inside the window (clipped to the input).
    end: usize,
    /// Window length clipped to the padded input (PyTorch's `count_include_pad` divisor factor).
    padded_len: usize,
}

/// Windows of a strided, padded pooling along an axis of length `n` (PyTorch output size rules).
fn pool_windows(op: &'static str, n: usize, k: usize, s: usize, p: usize, ceil_mode: bool) -> Result<Vec<Window>> {
    if k == 0 || s == 0 {
        return Err(Error::invalid(
            op,
            format!("kernel {k} and stride {s} must be positive"),
        ));
    }
    if p > k / 2 {
        return Err(Error::invalid(
            op,
            format!("padding {p} must be at most half the kernel {k}"),
        ));
    }
    if n == 0 {
        return Err(Error::shape(op, "input has an empty spatial axis"));
    }
    let (n, k, s, p) = (n as u128, k as u128, s as u128, p as u128);
    if n + 2 * p < k {
        return Err(Error::shape(
            op,
            format!("kernel {k} is larger than the padded input {} (padding {p})", n + 2 * p),
        ));
    }
    let mut out = (n + 2 * p - k + if ceil_mode { s - 1 } else { 0 }) / s + 1;
    if ceil_mode && (out - 1) * s >= n + p {
        out -= 1;
    }
    Ok((0..out)
        .map(|o| {
            let lo = o * s; // window start in padded coordinates
            let start = lo.max(p) - p;
            let end = (lo + k - p).min(n).max(start);
            let padded_len = k.min(n + 2 * p - lo);
            Window {
                start: start as usize,
                end: end as usize,
                padded_len: padded_len as usize,
            }
        })
        .collect())
}

/// PyTorch adaptive-pooling windows along an axis of length `n` for `out` outputs.
fn adaptive_windows(op: &'static str, n: usize, out: usize) -> Result<Vec<Window>> {
    if out == 0 {
        return Err(Error::invalid(op, "output size must be positive"));
    }
    if n == 0 {
        return Err(Error::shape(op, "input has an empty spatial axis"));
    }
    let (n128, out128) = (n as u128, out as u128);
    Ok((0..out128)
        .map(|i| {
            let start = (i * n128 / out128) as usize;
            let end = ((i + 1) * n128).div_ceil(out128) as usize;
            Window {
                start,
                end,
                padded_len: end - start,
            }
        })
        .collect())
}

/// Wrapping sum of a short slice.
fn sum(x: &[u64]) -> u64 {
    x.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}

/// Window sums of `planes` row-major `h × w` planes: output `[planes, ys.len(), xs.len()]`.
fn window_sums(data: &[u64], planes: usize, h: usize, w: usize, ys: &[Window], xs: &[Window]) -> Vec<u64> {
    let (ho, wo) = (ys.len(), xs.len());
    let mut out = vec![0u64; planes * ho * wo];
    if out.is_empty() {
        return out;
    }
    // `rows` is scratch for the horizontal pass: `h × wo` row-window sums of one plane.
    let plane = |rows: &mut Vec<u64>, dst: &mut [u64], src: &[u64]| {
        for (r, row) in rows.chunks_exact_mut(wo).zip(src.chunks_exact(w)) {
            for (x, win) in r.iter_mut().zip(xs) {
                *x = sum(&row[win.start..win.end]);
            }
        }
        for (d, win) in dst.chunks_exact_mut(wo).zip(ys) {
            for r in rows[win.start * wo..win.end * wo].chunks_exact(wo) {
                for (a, &b) in d.iter_mut().zip(r) {
                    *a = a.wrapping_add(b);
                }
            }
        }
    };
    if data.len() >= PAR_THRESHOLD && planes > 1 {
        out.par_chunks_mut(ho * wo)
            .zip(data.par_chunks(h * w))
            .for_each_init(|| vec![0u64; h * wo], |rows, (dst, src)| plane(rows, dst, src));
    } else {
        let mut rows = vec![0u64; h * wo];
        for (dst, src) in out.chunks_mut(ho * wo).zip(data.chunks(h * w)) {
            plane(&mut rows, dst, src);
        }
    }
    out
}

/// `[N, C, H, W]` of a rank-4 tensor, or a shape error.
fn nchw(op: &'static str, shape: &[usize]) -> Result<[usize; 4]> {
    shape
        .try_into()
        .map_err(|_| Error::shape(op, format!("input must be [N, C, H, W], got {}", shape_string(shape))))
}

/// `[N, C, L]` of a rank-3 tensor, or a shape error.
fn ncl(op: &'static str, shape: &[usize]) -> Result<[usize; 3]> {
    shape
        .try_into()
        .map_err(|_| Error::shape(op, format!("input must be [N, C, L], got {}", shape_string(shape))))
}

/// The divisors PyTorch's `avg_pool2d` uses for each output cell (row-major `[Ho, Wo]`) of an input
/// with spatial size `hw`: the window area clipped to the padded input when `count_include_pad`,
/// else the number of real input elements in the window.
pub fn avg_pool2d_divisors(
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    ceil_mode: bool,
    count_include_pad: bool,
) -> Result<Vec<u64>> {
    let op = "avg_pool2d";
    let ys = pool_windows(op, hw[0], kernel[0], stride[0], padding[0], ceil_mode)?;
    let xs = pool_windows(op, hw[1], kernel[1], stride[1], padding[1], ceil_mode)?;
    let len = |w: &Window| if count_include_pad { w.padded_len } else { w.end - w.start } as u64;
    let mut out = Vec::with_capacity(ys.len() * xs.len());
    for y in &ys {
        for x in &xs {
            out.push(
                len(y)
                    .checked_mul(len(x))
                    .ok_or_else(|| Error::invalid(op, "window area overflows u64"))?,
            );
        }
    }
    Ok(out)
}

impl RingTensor {
    /// Window sums of a 2-D pooling over `[N, C, H, W]` (zero padding, floor mode).
    pub fn sum_pool2d(&self, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Result<RingTensor> {
        self.sum_pool2d_mode(kernel, stride, padding, false)
    }

    /// [`RingTensor::sum_pool2d`] with PyTorch's `ceil_mode` choice (a last, partial window is kept
    /// when it starts inside the input or the left padding).
    pub fn sum_pool2d_mode(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        ceil_mode: bool,
    ) -> Result<RingTensor> {
        let op = "sum_pool2d";
        let [n, c, h, w] = nchw(op, self.shape())?;
        let ys = pool_windows(op, h, kernel[0], stride[0], padding[0], ceil_mode)?;
        let xs = pool_windows(op, w, kernel[1], stride[1], padding[1], ceil_mode)?;
        let data = window_sums(self.data(), n * c, h, w, &ys, &xs);
        Ok(RingTensor::from_parts(vec![n, c, ys.len(), xs.len()], data))
    }

    /// Window sums of a 1-D pooling over `[N, C, L]` (zero padding, floor mode).
    pub fn sum_pool1d(&self, kernel: usize, stride: usize, padding: usize) -> Result<RingTensor> {
        self.sum_pool1d_mode(kernel, stride, padding, false)
    }

    /// [`RingTensor::sum_pool1d`] with PyTorch's `ceil_mode` choice.
    pub fn sum_pool1d_mode(&self, kernel: usize, stride: usize, padding: usize, ceil_mode: bool) -> Result<RingTensor> {
        let op = "sum_pool1d";
        let [n, c, l] = ncl(op, self.shape())?;
        let xs = pool_windows(op, l, kernel, stride, padding, ceil_mode)?;
        let ys = [Window {
            start: 0,
            end: 1,
            padded_len: 1,
        }];
        let data = window_sums(self.data(), n * c, 1, l, &ys, &xs);
        Ok(RingTensor::from_parts(vec![n, c, xs.len()], data))
    }

    /// Adaptive pooling sums over `[N, C, H, W]` to `[N, C, out[0], out[1]]`, with the element
    /// count of each output cell's window (row-major `[out[0], out[1]]`, the average's divisor).
    pub fn adaptive_sum_pool2d(&self, out: [usize; 2]) -> Result<(RingTensor, Vec<u64>)> {
        let op = "adaptive_sum_pool2d";
        let [n, c, h, w] = nchw(op, self.shape())?;
        let ys = adaptive_windows(op, h, out[0])?;
        let xs = adaptive_windows(op, w, out[1])?;
        let sizes = ys
            .iter()
            .flat_map(|y| xs.iter().map(move |x| (y.padded_len * x.padded_len) as u64))
            .collect();
        let data = window_sums(self.data(), n * c, h, w, &ys, &xs);
        Ok((RingTensor::from_parts(vec![n, c, out[0], out[1]], data), sizes))
    }

    /// Adaptive pooling sums over `[N, C, L]` to `[N, C, out]`, with each window's element count.
    pub fn adaptive_sum_pool1d(&self, out: usize) -> Result<(RingTensor, Vec<u64>)> {
        let op = "adaptive_sum_pool1d";
        let [n, c, l] = ncl(op, self.shape())?;
        let xs = adaptive_windows(op, l, out)?;
        let sizes = xs.iter().map(|x| x.padded_len as u64).collect();
        let ys = [Window {
            start: 0,
            end: 1,
            padded_len: 1,
        }];
        let data = window_sums(self.data(), n * c, 1, l, &ys, &xs);
        Ok((RingTensor::from_parts(vec![n, c, out], data), sizes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::numel;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rand_tensor(shape: &[usize], seed: u64) -> RingTensor {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        RingTensor::from_vec(shape, (0..numel(shape)).map(|_| rng.next_u64()).collect()).unwrap()
    }

    /// PyTorch's output size, written out directly (signed arithmetic).
    fn torch_out(n: usize, k: usize, s: usize, p: usize, ceil: bool) -> usize {
        let (n, k, s, p) = (n as i64, k as i64, s as i64, p as i64);
        let num = n + 2 * p - k + if ceil { s - 1 } else { 0 };
        let mut o = num.div_euclid(s) + 1;
        if ceil && (o - 1) * s >= n + p {
            o -= 1;
        }
        o as usize
    }

    /// Sum over the window by direct nested loops, skipping padding.
    fn naive_pool2d(x: &RingTensor, k: [usize; 2], s: [usize; 2], p: [usize; 2], ceil: bool) -> RingTensor {
        let [n, c, h, w] = x.shape().try_into().unwrap();
        let ho = torch_out(h, k[0], s[0], p[0], ceil);
        let wo = torch_out(w, k[1], s[1], p[1], ceil);
        let mut out = vec![0u64; n * c * ho * wo];
        for pl in 0..n * c {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0u64;
                    for i in 0..k[0] {
                        for j in 0..k[1] {
                            let iy = (oy * s[0] + i) as i64 - p[0] as i64;
                            let ix = (ox * s[1] + j) as i64 - p[1] as i64;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                acc = acc.wrapping_add(x.data()[(pl * h + iy as usize) * w + ix as usize]);
                            }
                        }
                    }
                    out[(pl * ho + oy) * wo + ox] = acc;
                }
            }
        }
        RingTensor::from_vec(&[n, c, ho, wo], out).unwrap()
    }

    #[test]
    fn sum_pool2d_matches_naive() {
        type Case = ([usize; 4], [usize; 2], [usize; 2], [usize; 2]);
        let cases: &[Case] = &[
            ([1, 1, 4, 4], [2, 2], [2, 2], [0, 0]),
            ([2, 3, 7, 9], [3, 3], [2, 2], [1, 1]),
            ([2, 3, 7, 9], [2, 3], [1, 2], [1, 0]),
            ([1, 2, 5, 5], [5, 5], [1, 1], [2, 2]),
            ([3, 2, 11, 6], [3, 2], [3, 2], [0, 1]),
            ([1, 1, 1, 1], [1, 1], [1, 1], [0, 0]),
            ([2, 64, 33, 31], [3, 3], [2, 2], [1, 1]),
            ([0, 3, 4, 4], [2, 2], [2, 2], [0, 0]),
        ];
        for (i, &(shape, k, s, p)) in cases.iter().enumerate() {
            let x = rand_tensor(&shape, i as u64);
            for ceil in [false, true] {
                let got = x.sum_pool2d_mode(k, s, p, ceil).unwrap();
                assert_eq!(
                    got,
                    naive_pool2d(&x, k, s, p, ceil),
                    "{shape:?} k{k:?} s{s:?} p{p:?} ceil {ceil}"
                );
            }
            assert_eq!(
                x.sum_pool2d(k, s, p).unwrap(),
                x.sum_pool2d_mode(k, s, p, false).unwrap()
            );
        }
        // A case where ceil mode adds a partial window.
        let x = rand_tensor(&[1, 1, 6, 6], 9);
        assert_eq!(
            x.sum_pool2d_mode([3, 3], [2, 2], [0, 0], true).unwrap().shape(),
            &[1, 1, 3, 3]
        );
        assert_eq!(x.sum_pool2d([3, 3], [2, 2], [0, 0]).unwrap().shape(), &[1, 1, 2, 2]);
    }

    #[test]
    fn sum_pool1d_matches_pool2d() {
        let x = rand_tensor(&[2, 3, 17], 4);
        let x4 = x.clone().reshape(&[2, 3, 1, 17]).unwrap();
        for (k, s, p) in [(2, 2, 0), (3, 1, 1), (4, 3, 2), (17, 1, 0), (5, 2, 1)] {
            for ceil in [false, true] {
                let got = x.sum_pool1d_mode(k, s, p, ceil).unwrap();
                let want = naive_pool2d(&x4, [1, k], [1, s], [0, p], ceil);
                let lo = want.shape()[3];
                assert_eq!(got, want.reshape(&[2, 3, lo]).unwrap(), "k{k} s{s} p{p} ceil {ceil}");
            }
        }
        assert_eq!(
            x.sum_pool1d(2, 2, 0).unwrap(),
            x.sum_pool1d_mode(2, 2, 0, false).unwrap()
        );
    }

    #[test]
    fn adaptive_matches_naive() {
        for (shape, out) in [
            ([2, 3, 7, 7], [1, 1]),
            ([1, 2, 7, 9], [3, 4]),
            ([1, 2, 5, 6], [5, 6]),
            ([2, 2, 3, 4], [7, 5]),
            ([1, 64, 14, 14], [6, 6]),
        ] {
            let x = rand_tensor(&shape, 5);
            let [n, c, h, w] = shape;
            let (got, sizes) = x.adaptive_sum_pool2d(out).unwrap();
            assert_eq!(got.shape(), &[n, c, out[0], out[1]]);
            for pl in 0..n * c {
                for oy in 0..out[0] {
                    for ox in 0..out[1] {
                        // PyTorch: start = floor(i*n/out), end = ceil((i+1)*n/out).
                        let (y0, y1) = (oy * h / out[0], ((oy + 1) * h).div_ceil(out[0]));
                        let (x0, x1) = (ox * w / out[1], ((ox + 1) * w).div_ceil(out[1]));
                        let mut acc = 0u64;
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                acc = acc.wrapping_add(x.data()[(pl * h + iy) * w + ix]);
                            }
                        }
                        assert_eq!(got.data()[(pl * out[0] + oy) * out[1] + ox], acc);
                        assert_eq!(sizes[oy * out[1] + ox], ((y1 - y0) * (x1 - x0)) as u64);
                    }
                }
            }
        }
        let x = rand_tensor(&[2, 3, 10], 6);
        let (got, sizes) = x.adaptive_sum_pool1d(4).unwrap();
        let (want, want_sizes) = x
            .clone()
            .reshape(&[2, 3, 1, 10])
            .unwrap()
            .adaptive_sum_pool2d([1, 4])
            .unwrap();
        assert_eq!(got, want.reshape(&[2, 3, 4]).unwrap());
        assert_eq!(sizes, want_sizes);
        assert_eq!(sizes, vec![3, 3, 3, 3]);
    }

    #[test]
    fn divisors_match_torch_rules() {
        // 5x5 input, kernel 3, stride 2, padding 1: corner windows hold 4 real elements.
        let d = avg_pool2d_divisors([5, 5], [3, 3], [2, 2], [1, 1], false, false).unwrap();
        assert_eq!(d, vec![4, 6, 4, 6, 9, 6, 4, 6, 4]);
        let d = avg_pool2d_divisors([5, 5], [3, 3], [2, 2], [1, 1], false, true).unwrap();
        assert_eq!(d, vec![9; 9]);
        // Ceil mode: 6 wide, kernel 3, stride 2 -> windows 0..3, 2..5, 4..6 (clipped at n + pad).
        let d = avg_pool2d_divisors([1, 6], [1, 3], [1, 2], [0, 0], true, true).unwrap();
        assert_eq!(d, vec![3, 3, 2]);
        assert!(avg_pool2d_divisors([1, 6], [1, 3], [1, 0], [0, 0], true, true).is_err());
    }

    #[test]
    fn pool_errors() {
        let x = rand_tensor(&[1, 2, 4, 4], 1);
        assert!(rand_tensor(&[2, 4, 4], 1).sum_pool2d([2, 2], [2, 2], [0, 0]).is_err());
        assert!(x.sum_pool2d([0, 2], [2, 2], [0, 0]).is_err());
        assert!(x.sum_pool2d([2, 2], [2, 0], [0, 0]).is_err());
        assert!(x.sum_pool2d([2, 2], [2, 2], [2, 0]).is_err());
        assert!(x.sum_pool2d([5, 2], [1, 1], [0, 0]).is_err());
        assert!(x.sum_pool2d([6, 2], [1, 1], [3, 0]).is_ok());
        // A huge kernel with huge padding is legal and covers the whole input.
        let big = x
            .sum_pool2d([usize::MAX, 2], [usize::MAX, 1], [usize::MAX / 2, 0])
            .unwrap();
        assert_eq!(
            big,
            naive_pool2d(&x.sum_axis(2, true).unwrap(), [1, 2], [1, 1], [0, 0], false)
        );
        assert!(
            avg_pool2d_divisors(
                [4, 4],
                [usize::MAX, usize::MAX],
                [1, 1],
                [usize::MAX / 2, usize::MAX / 2],
                false,
                true
            )
            .is_err()
        );
        assert!(
            rand_tensor(&[1, 2, 0, 4], 1)
                .sum_pool2d([1, 1], [1, 1], [0, 0])
                .is_err()
        );
        let x1 = rand_tensor(&[1, 2, 5], 1);
        assert!(x.sum_pool1d(2, 2, 0).is_err());
        assert!(x1.sum_pool1d(0, 1, 0).is_err());
        assert!(x1.sum_pool1d(2, 0, 0).is_err());
        assert!(x1.sum_pool1d(2, 1, 2).is_err());
        assert!(x1.sum_pool1d(6, 1, 0).is_err());
        assert!(x.adaptive_sum_pool2d([0, 1]).is_err());
        assert!(x1.adaptive_sum_pool2d([1, 1]).is_err());
        assert!(x1.adaptive_sum_pool1d(0).is_err());
        assert!(x.adaptive_sum_pool1d(1).is_err());
        assert!(rand_tensor(&[1, 2, 0], 1).adaptive_sum_pool1d(1).is_err());
    }
}

impl RingTensor {
    /// The pooling windows of `[N, C, H, W]` gathered into rows: `[N, C, Ho, Wo, kh·kw]`, with
    /// positions that fall in the padding set to `fill` (PyTorch window geometry, as
    /// [`RingTensor::sum_pool2d_mode`]). A gather, hence linear on shares when `fill` is 0.
    pub fn unfold2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        ceil_mode: bool,
        fill: u64,
    ) -> Result<RingTensor> {
        let op = "unfold2d";
        let [n, c, h, w] = nchw(op, self.shape())?;
        let ho = pool_windows(op, h, kernel[0], stride[0], padding[0], ceil_mode)?.len();
        let wo = pool_windows(op, w, kernel[1], stride[1], padding[1], ceil_mode)?.len();
        let (kh, kw) = (kernel[0], kernel[1]);
        // im2col over all n·c planes gives [n·c, kh·kw, ho·wo]; the windows are its columns.
        let g = Im2col {
            c: n * c,
            h,
            w,
            kh,
            kw,
            stride,
            pad: padding,
            dilation: [1, 1],
            ho,
            wo,
        };
        let mut cols = vec![fill; g.rows() * g.cols()];
        g.im2col(self.data(), &mut cols, fill);
        let out = crate::dense::permute(&cols, &[n * c, kh * kw, ho * wo], &[0, 2, 1])?.data;
        Ok(RingTensor::from_parts(vec![n, c, ho, wo, kh * kw], out))
    }
}

#[cfg(test)]
mod unfold_tests {
    use super::*;

    #[test]
    fn unfold_gathers_windows_with_fill() {
        let t = RingTensor::from_vec(&[1, 1, 2, 3], vec![1, 2, 3, 4, 5, 6]).unwrap();
        let u = t.unfold2d([2, 2], [1, 1], [0, 0], false, 0).unwrap();
        assert_eq!(u.shape(), &[1, 1, 1, 2, 4]);
        assert_eq!(u.data(), &[1, 2, 4, 5, 2, 3, 5, 6]);
        let p = t.unfold2d([2, 2], [2, 2], [1, 1], false, 99).unwrap();
        assert_eq!(p.shape(), &[1, 1, 2, 2, 4]);
        assert_eq!(&p.data()[..4], &[99, 99, 99, 1]);
        let c = t.unfold2d([2, 2], [2, 2], [0, 0], true, 7).unwrap();
        assert_eq!(c.shape(), &[1, 1, 1, 2, 4]);
        assert_eq!(&c.data()[4..], &[3, 7, 6, 7]);
    }
}
