//! Convolutions over Z_2^64 via im2col + matmul.
//!
//! For every image and group, the weights of the group `W_g` (`[O/g, C/g·kh·kw]`, a contiguous
//! slice of the weight tensor) times the im2col matrix of the group's input channels
//! (`[C/g·kh·kw, Ho·Wo]`) is exactly the group's block of output rows in NCHW order. Everything is
//! wrapping `u64` arithmetic, so a convolution of secret shares with public weights (or the
//! matmul-shaped pieces of a Beaver-triple convolution) is exact.

use super::matmul::matmul_into;
use super::{RingTensor, check_out, shape_string};
use crate::dense::Window;
use crate::error::{Error, Result};
use rayon::prelude::*;

mod grad;
pub use grad::{grad_input_shape, grad_weight_shape};

/// Hyper-parameters of a 2-D convolution (PyTorch semantics, symmetric zero padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    /// Stride along (height, width).
    pub stride: [usize; 2],
    /// Zero padding added on both sides along (height, width).
    pub padding: [usize; 2],
    /// Dilation along (height, width).
    pub dilation: [usize; 2],
    /// Number of groups; input and output channels must be divisible by it.
    pub groups: usize,
}

/// Hyper-parameters of a 1-D convolution (PyTorch semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv1dParams {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Default for Conv1dParams {
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

impl Conv1dParams {
    /// The same convolution seen as a 2-D one over inputs of height 1.
    fn as_2d(&self) -> Conv2dParams {
        Conv2dParams {
            stride: [1, self.stride],
            padding: [0, self.padding],
            dilation: [1, self.dilation],
            groups: self.groups,
        }
    }
}

/// Work (multiply-adds) above which a convolution spreads images × groups across threads.
const PAR_WORK: usize = 1 << 16;

/// Checks stride, dilation and kernel size and computes the im2col geometry of one image
/// `[c, h, w]` with kernel `[kh, kw]` (the window movement itself lives in [`crate::dense`]).
fn geometry(op: &'static str, chw: [usize; 3], kernel: [usize; 2], p: &Conv2dParams) -> Result<Window> {
    let [c, h, w] = chw;
    let [kh, kw] = kernel;
    if p.stride.contains(&0) {
        return Err(Error::invalid(op, format!("stride {:?} must be positive", p.stride)));
    }
    if p.dilation.contains(&0) {
        return Err(Error::invalid(
            op,
            format!("dilation {:?} must be positive", p.dilation),
        ));
    }
    if kh == 0 || kw == 0 {
        return Err(Error::shape(op, format!("kernel size {kh}x{kw} must be positive")));
    }
    let mut out = [0usize; 2];
    for (ax, (&n, &k)) in [h, w].iter().zip(&kernel).enumerate() {
        let pad = p.padding[ax];
        out[ax] = Window::out_len(n, k, p.stride[ax], p.dilation[ax], pad, pad, false).ok_or_else(|| {
            Error::shape(
                op,
                format!(
                    "kernel {kh}x{kw} (dilation {:?}) is larger than the padded input {h}x{w} (padding {:?})",
                    p.dilation, p.padding
                ),
            )
        })?;
    }
    let too_large = || {
        Error::shape(
            op,
            format!("im2col of input {c}x{h}x{w} with kernel {kh}x{kw} is too large"),
        )
    };
    c.checked_mul(kh)
        .and_then(|x| x.checked_mul(kw))
        .and_then(|x| x.checked_mul(out[0]))
        .and_then(|x| x.checked_mul(out[1]))
        .and_then(|x| x.checked_mul(8))
        .filter(|&bytes| bytes <= isize::MAX as usize)
        .ok_or_else(too_large)?;
    Ok(Window {
        c,
        h,
        w,
        kh,
        kw,
        stride: p.stride,
        pad: p.padding,
        dilation: p.dilation,
        ho: out[0],
        wo: out[1],
    })
}

thread_local! {
    /// Per-thread im2col buffer, reused across convolutions.
    static COLS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch slice of `len` words (contents unspecified) from this thread's buffer.
/// A nested call (none today) would get a fresh buffer, as the outer one is moved out meanwhile.
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [u64]) -> R) -> R {
    let mut buf = COLS.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if buf.len() < len {
        buf = vec![0u64; len];
    }
    let r = f(&mut buf[..len]);
    COLS.with(|c| *c.borrow_mut() = buf);
    r
}

/// The im2col matrix of one image: `image` is `[C, H, W]` (row-major, `chw = [C, H, W]`), the
/// result is `[C·kh·kw, Ho·Wo]` with row `(c·kh + i)·kw + j` holding input pixel
/// `(c, oy·sh + i·dh − ph, ox·sw + j·dw − pw)` (zero outside the image) in column `oy·Wo + ox`.
/// `p.groups` is ignored. Errors when the sizes do not fit.
pub fn im2col2d(image: &[u64], chw: [usize; 3], kernel: [usize; 2], p: &Conv2dParams) -> Result<Vec<u64>> {
    let g = geometry("im2col2d", chw, kernel, p)?;
    let expect = chw.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if expect != Some(image.len()) {
        return Err(Error::shape(
            "im2col2d",
            format!(
                "image of {} elements does not have shape {}",
                image.len(),
                shape_string(&chw)
            ),
        ));
    }
    let mut cols = vec![0u64; g.rows() * g.cols()];
    g.im2col(image, &mut cols, 0);
    Ok(cols)
}

/// A fully checked convolution: geometry plus batch, output channels and groups.
struct ConvPlan {
    geom: Window,
    n: usize,
    o: usize,
    groups: usize,
}

impl ConvPlan {
    fn new(op: &'static str, input: &[usize], weight: &[usize], p: &Conv2dParams) -> Result<Self> {
        let ([n, c, h, w], [o, cg, kh, kw]) = (input, weight) else {
            return Err(Error::shape(
                op,
                format!(
                    "input {} and weight {} must both have rank 4",
                    shape_string(input),
                    shape_string(weight)
                ),
            ));
        };
        let (n, c, h, w, o, cg, kh, kw) = (*n, *c, *h, *w, *o, *cg, *kh, *kw);
        if p.groups == 0 {
            return Err(Error::invalid(op, "groups must be positive"));
        }
        if c % p.groups != 0 || o % p.groups != 0 {
            return Err(Error::shape(
                op,
                format!("groups {} do not divide {c} input and {o} output channels", p.groups),
            ));
        }
        if cg * p.groups != c {
            return Err(Error::shape(
                op,
                format!(
                    "weight {} expects {} input channels per group, input {} has {} ({} groups)",
                    shape_string(weight),
                    cg,
                    shape_string(input),
                    c / p.groups,
                    p.groups
                ),
            ));
        }
        let geom = geometry(op, [cg, h, w], [kh, kw], p)?;
        let out_len = [n, o, geom.ho, geom.wo]
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        if out_len
            .and_then(|x| x.checked_mul(8))
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return Err(Error::shape(op, "output too large"));
        }
        Ok(Self {
            geom,
            n,
            o,
            groups: p.groups,
        })
    }

    fn output_shape(&self) -> Vec<usize> {
        vec![self.n, self.o, self.geom.ho, self.geom.wo]
    }

    /// Runs the convolution on row-major input and weight data of the checked shapes.
    fn run(&self, input: &[u64], weight: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; self.n * self.o * self.geom.cols()];
        self.run_into(input, weight, &mut out);
        out
    }

    /// Adds the convolution into `out` (the output's size, row-major), so that a sum of several
    /// convolutions (a Beaver product's terms) needs no temporary outputs.
    fn run_into(&self, input: &[u64], weight: &[u64], out: &mut [u64]) {
        let g = &self.geom;
        let og = self.o / self.groups;
        let kk = g.rows();
        let hw = g.cols();
        let in_group = g.c * g.h * g.w;
        debug_assert_eq!(out.len(), self.n * self.o * hw);
        if out.is_empty() {
            return;
        }
        let task = |idx: usize, dst: &mut [u64]| {
            let (img, grp) = (idx / self.groups, idx % self.groups);
            let start = (img * self.groups + grp) * in_group;
            let image = &input[start..start + in_group];
            let wg = &weight[grp * og * kk..(grp + 1) * og * kk];
            if g.is_pointwise() {
                matmul_into(wg, image, dst, og, kk, hw);
            } else {
                // The im2col matrix lives in a per-thread buffer reused across convolutions
                // (fresh pages cost more than the copy); every element is overwritten.
                with_cols(kk * hw, |cols| {
                    g.im2col(image, cols, 0);
                    matmul_into(wg, cols, dst, og, kk, hw);
                });
            }
        };
        let tasks = self.n * self.groups;
        let work = out.len().saturating_mul(kk);
        if tasks > 1 && work >= PAR_WORK {
            out.par_chunks_mut(og * hw)
                .enumerate()
                .for_each(|(i, dst)| task(i, dst));
        } else {
            for (i, dst) in out.chunks_mut(og * hw).enumerate() {
                task(i, dst);
            }
        }
    }
}

impl Conv2dParams {
    /// Output shape `[N, O, Ho, Wo]` for input `[N, C, H, W]` and weight `[O, C/groups, kh, kw]`,
    /// or a shape error naming what does not fit.
    pub fn output_shape(&self, input: &[usize], weight: &[usize]) -> Result<Vec<usize>> {
        Ok(ConvPlan::new("conv2d", input, weight, self)?.output_shape())
    }
}

impl Conv1dParams {
    /// Output shape `[N, O, Lo]` for input `[N, C, L]` and weight `[O, C/groups, k]`.
    pub fn output_shape(&self, input: &[usize], weight: &[usize]) -> Result<Vec<usize>> {
        let plan = conv1d_plan(input, weight, self)?;
        Ok(vec![plan.n, plan.o, plan.geom.wo])
    }
}

/// Checks a 1-D convolution and plans it as a 2-D one over height 1.
fn conv1d_plan(input: &[usize], weight: &[usize], p: &Conv1dParams) -> Result<ConvPlan> {
    let ([n, c, l], [o, cg, k]) = (input, weight) else {
        return Err(Error::shape(
            "conv1d",
            format!(
                "input {} and weight {} must both have rank 3",
                shape_string(input),
                shape_string(weight)
            ),
        ));
    };
    ConvPlan::new("conv1d", &[*n, *c, 1, *l], &[*o, *cg, 1, *k], &p.as_2d())
}

impl RingTensor {
    /// 2-D convolution of `self` (`[N, C, H, W]`) with `weight` (`[O, C/groups, kh, kw]`), no bias.
    pub fn conv2d(&self, weight: &RingTensor, p: &Conv2dParams) -> Result<RingTensor> {
        let plan = ConvPlan::new("conv2d", self.shape(), weight.shape(), p)?;
        Ok(RingTensor::from_parts(
            plan.output_shape(),
            plan.run(self.data(), weight.data()),
        ))
    }

    /// 1-D convolution of `self` (`[N, C, L]`) with `weight` (`[O, C/groups, k]`), no bias.
    pub fn conv1d(&self, weight: &RingTensor, p: &Conv1dParams) -> Result<RingTensor> {
        let plan = conv1d_plan(self.shape(), weight.shape(), p)?;
        let shape = vec![plan.n, plan.o, plan.geom.wo];
        Ok(RingTensor::from_parts(shape, plan.run(self.data(), weight.data())))
    }

    /// `out += conv2d(self, weight)`; errors when `out` does not have the output's shape.
    pub fn conv2d_acc(&self, weight: &RingTensor, p: &Conv2dParams, out: &mut RingTensor) -> Result<()> {
        let plan = ConvPlan::new("conv2d", self.shape(), weight.shape(), p)?;
        check_out("conv2d", &plan.output_shape(), out)?;
        plan.run_into(self.data(), weight.data(), out.data_mut());
        Ok(())
    }

    /// `out += conv1d(self, weight)`; errors when `out` does not have the output's shape.
    pub fn conv1d_acc(&self, weight: &RingTensor, p: &Conv1dParams, out: &mut RingTensor) -> Result<()> {
        let plan = conv1d_plan(self.shape(), weight.shape(), p)?;
        check_out("conv1d", &[plan.n, plan.o, plan.geom.wo], out)?;
        plan.run_into(self.data(), weight.data(), out.data_mut());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::numel;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rand_tensor(shape: &[usize], rng: &mut Xoshiro256PlusPlus) -> RingTensor {
        RingTensor::from_vec(shape, (0..numel(shape)).map(|_| rng.next_u64()).collect()).unwrap()
    }

    /// Direct nested loops over the definition of a (grouped, strided, dilated, padded) conv2d.
    fn naive_conv2d(x: &RingTensor, w: &RingTensor, p: &Conv2dParams) -> RingTensor {
        let [n, c, h, wd] = x.shape().try_into().unwrap();
        let [o, cg, kh, kw] = w.shape().try_into().unwrap();
        let og = o / p.groups;
        let ho = (h + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
        let wo = (wd + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
        let mut out = vec![0u64; n * o * ho * wo];
        for b in 0..n {
            for oc in 0..o {
                let grp = oc / og;
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0u64;
                        for ic in 0..cg {
                            let ch = grp * cg + ic;
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * p.stride[0] + i * p.dilation[0]) as isize - p.padding[0] as isize;
                                    let ix = (ox * p.stride[1] + j * p.dilation[1]) as isize - p.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xv = x.data()[((b * c + ch) * h + iy as usize) * wd + ix as usize];
                                    let wv = w.data()[((oc * cg + ic) * kh + i) * kw + j];
                                    acc = acc.wrapping_add(xv.wrapping_mul(wv));
                                }
                            }
                        }
                        out[((b * o + oc) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        RingTensor::from_vec(&[n, o, ho, wo], out).unwrap()
    }

    fn naive_conv1d(x: &RingTensor, w: &RingTensor, p: &Conv1dParams) -> RingTensor {
        let [n, c, l] = x.shape().try_into().unwrap();
        let [o, cg, k] = w.shape().try_into().unwrap();
        let og = o / p.groups;
        let lo = (l + 2 * p.padding - p.dilation * (k - 1) - 1) / p.stride + 1;
        let mut out = vec![0u64; n * o * lo];
        for b in 0..n {
            for oc in 0..o {
                for ox in 0..lo {
                    let mut acc = 0u64;
                    for ic in 0..cg {
                        let ch = (oc / og) * cg + ic;
                        for j in 0..k {
                            let ix = (ox * p.stride + j * p.dilation) as isize - p.padding as isize;
                            if ix >= 0 && (ix as usize) < l {
                                let xv = x.data()[(b * c + ch) * l + ix as usize];
                                acc = acc.wrapping_add(xv.wrapping_mul(w.data()[(oc * cg + ic) * k + j]));
                            }
                        }
                    }
                    out[(b * o + oc) * lo + ox] = acc;
                }
            }
        }
        RingTensor::from_vec(&[n, o, lo], out).unwrap()
    }

    fn p2(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], groups: usize) -> Conv2dParams {
        Conv2dParams {
            stride,
            padding,
            dilation,
            groups,
        }
    }

    #[test]
    fn conv2d_matches_naive() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        // (input, weight, params)
        let cases: Vec<([usize; 4], [usize; 4], Conv2dParams)> = vec![
            ([1, 1, 5, 5], [1, 1, 3, 3], Conv2dParams::default()),
            ([2, 3, 7, 9], [4, 3, 3, 3], p2([1, 1], [1, 1], [1, 1], 1)),
            ([2, 3, 11, 10], [5, 3, 3, 2], p2([2, 2], [1, 0], [1, 1], 1)),
            ([1, 2, 13, 11], [3, 2, 3, 3], p2([1, 2], [2, 2], [2, 2], 1)),
            ([2, 4, 9, 9], [6, 2, 3, 3], p2([1, 1], [1, 1], [1, 1], 2)),
            ([3, 6, 8, 7], [6, 1, 3, 3], p2([2, 1], [1, 1], [1, 2], 6)),
            ([1, 6, 10, 10], [12, 1, 5, 5], p2([2, 2], [2, 2], [1, 1], 6)),
            ([2, 5, 6, 6], [7, 5, 1, 1], Conv2dParams::default()),
            ([1, 4, 6, 6], [4, 2, 1, 1], p2([2, 2], [0, 0], [1, 1], 2)),
            ([1, 3, 4, 4], [2, 3, 1, 1], p2([1, 1], [1, 1], [1, 1], 1)),
            ([1, 2, 3, 3], [2, 2, 3, 3], p2([1, 1], [0, 0], [1, 1], 1)),
            ([1, 1, 2, 2], [1, 1, 3, 3], p2([1, 1], [3, 3], [1, 1], 1)),
            ([1, 2, 5, 17], [3, 2, 4, 3], p2([3, 4], [3, 2], [2, 3], 1)),
            ([2, 8, 15, 15], [8, 2, 3, 3], p2([2, 2], [1, 1], [2, 2], 4)),
            ([1, 16, 20, 20], [16, 16, 3, 3], p2([1, 1], [1, 1], [1, 1], 1)),
            ([0, 2, 5, 5], [2, 2, 3, 3], Conv2dParams::default()),
            ([1, 0, 5, 5], [2, 0, 3, 3], Conv2dParams::default()),
            ([2, 3, 5, 5], [0, 3, 3, 3], Conv2dParams::default()),
        ];
        for (xs, ws, p) in cases {
            let x = rand_tensor(&xs, &mut rng);
            let w = rand_tensor(&ws, &mut rng);
            let got = x.conv2d(&w, &p).unwrap();
            assert_eq!(got, naive_conv2d(&x, &w, &p), "input {xs:?} weight {ws:?} {p:?}");
            assert_eq!(p.output_shape(&xs, &ws).unwrap(), got.shape());
        }
    }

    #[test]
    fn conv2d_is_linear() {
        // conv(x0 + x1) = conv(x0) + conv(x1): what makes it usable on shares.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let p = p2([2, 1], [1, 2], [1, 2], 2);
        let x0 = rand_tensor(&[2, 4, 9, 8], &mut rng);
        let x1 = rand_tensor(&[2, 4, 9, 8], &mut rng);
        let w = rand_tensor(&[6, 2, 3, 3], &mut rng);
        let sum = x0.zip(&x1, "add", u64::wrapping_add).unwrap();
        let lhs = sum.conv2d(&w, &p).unwrap();
        let rhs = x0
            .conv2d(&w, &p)
            .unwrap()
            .zip(&x1.conv2d(&w, &p).unwrap(), "add", u64::wrapping_add)
            .unwrap();
        assert_eq!(lhs, rhs);
    }

    #[test]
    fn conv1d_matches_naive() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let cases: Vec<([usize; 3], [usize; 3], Conv1dParams)> = vec![
            ([1, 1, 10], [1, 1, 3], Conv1dParams::default()),
            (
                [2, 3, 17],
                [4, 3, 5],
                Conv1dParams {
                    stride: 2,
                    padding: 2,
                    dilation: 1,
                    groups: 1,
                },
            ),
            (
                [2, 4, 19],
                [6, 2, 3],
                Conv1dParams {
                    stride: 1,
                    padding: 3,
                    dilation: 2,
                    groups: 2,
                },
            ),
            (
                [3, 5, 12],
                [5, 1, 4],
                Conv1dParams {
                    stride: 3,
                    padding: 1,
                    dilation: 1,
                    groups: 5,
                },
            ),
            ([1, 2, 4], [2, 2, 1], Conv1dParams::default()),
        ];
        for (xs, ws, p) in cases {
            let x = rand_tensor(&xs, &mut rng);
            let w = rand_tensor(&ws, &mut rng);
            let got = x.conv1d(&w, &p).unwrap();
            assert_eq!(got, naive_conv1d(&x, &w, &p), "input {xs:?} weight {ws:?} {p:?}");
            assert_eq!(p.output_shape(&xs, &ws).unwrap(), got.shape());
        }
    }

    #[test]
    fn im2col_layout() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let (c, h, w, kh, kw) = (3, 7, 6, 3, 2);
        let p = p2([2, 1], [1, 1], [2, 1], 1);
        let img: Vec<u64> = (0..c * h * w).map(|_| rng.next_u64()).collect();
        let cols = im2col2d(&img, [c, h, w], [kh, kw], &p).unwrap();
        let ho = (h + 2 - 2 * 2 - 1) / 2 + 1;
        let wo = (w + 2 - 1 - 1) + 1;
        assert_eq!(cols.len(), c * kh * kw * ho * wo);
        for ch in 0..c {
            for i in 0..kh {
                for j in 0..kw {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let iy = (oy * 2 + i * 2) as isize - 1;
                            let ix = (ox + j) as isize - 1;
                            let v = if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                0
                            } else {
                                img[(ch * h + iy as usize) * w + ix as usize]
                            };
                            assert_eq!(cols[((ch * kh + i) * kw + j) * ho * wo + oy * wo + ox], v);
                        }
                    }
                }
            }
        }
        // A reused buffer holds stale values: every element, padding included, is overwritten.
        let g = geometry("im2col2d", [c, h, w], [kh, kw], &p).unwrap();
        let mut stale = vec![u64::MAX; cols.len()];
        g.im2col(&img, &mut stale, 0);
        assert_eq!(stale, cols);
        assert!(im2col2d(&img[1..], [c, h, w], [kh, kw], &p).is_err());
        assert!(im2col2d(&img, [c, h, w], [0, kw], &p).is_err());
        assert!(im2col2d(&img, [c, h, w], [20, kw], &p).is_err());
    }

    #[test]
    fn conv_errors() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let x = rand_tensor(&[1, 4, 6, 6], &mut rng);
        let w = rand_tensor(&[4, 4, 3, 3], &mut rng);
        let d = Conv2dParams::default();
        // Ranks.
        assert!(rand_tensor(&[4, 6, 6], &mut rng).conv2d(&w, &d).is_err());
        assert!(x.conv2d(&rand_tensor(&[4, 4, 3], &mut rng), &d).is_err());
        // Channel mismatch.
        assert!(x.conv2d(&rand_tensor(&[4, 3, 3, 3], &mut rng), &d).is_err());
        // Groups not dividing channels, groups 0, weight channels wrong for the groups.
        assert!(x.conv2d(&w, &Conv2dParams { groups: 3, ..d }).is_err());
        assert!(x.conv2d(&w, &Conv2dParams { groups: 0, ..d }).is_err());
        assert!(x.conv2d(&w, &Conv2dParams { groups: 2, ..d }).is_err());
        assert!(
            x.conv2d(&rand_tensor(&[3, 2, 3, 3], &mut rng), &Conv2dParams { groups: 2, ..d })
                .is_err()
        );
        // Stride / dilation zero.
        assert!(x.conv2d(&w, &Conv2dParams { stride: [0, 1], ..d }).is_err());
        assert!(x.conv2d(&w, &Conv2dParams { dilation: [1, 0], ..d }).is_err());
        // Kernel larger than the padded input (also through dilation), empty kernel.
        assert!(x.conv2d(&rand_tensor(&[4, 4, 7, 3], &mut rng), &d).is_err());
        assert!(x.conv2d(&w, &Conv2dParams { dilation: [3, 3], ..d }).is_err());
        assert!(
            x.conv2d(
                &w,
                &Conv2dParams {
                    dilation: [3, 3],
                    padding: [1, 1],
                    ..d
                }
            )
            .is_ok()
        );
        assert!(x.conv2d(&rand_tensor(&[4, 4, 0, 3], &mut rng), &d).is_err());
        // Overflowing hyper-parameters.
        assert!(
            x.conv2d(
                &w,
                &Conv2dParams {
                    padding: [usize::MAX, 0],
                    ..d
                }
            )
            .is_err()
        );
        assert!(
            x.conv2d(
                &w,
                &Conv2dParams {
                    dilation: [usize::MAX, 1],
                    ..d
                }
            )
            .is_err()
        );
        assert!(d.output_shape(&[1, 4, 6, 6], &[4, 4, 7, 3]).is_err());
        // conv1d.
        let x1 = rand_tensor(&[2, 4, 8], &mut rng);
        let w1 = rand_tensor(&[2, 4, 3], &mut rng);
        let d1 = Conv1dParams::default();
        assert!(x1.conv1d(&w1, &d1).is_ok());
        assert!(x.conv1d(&w1, &d1).is_err());
        assert!(x1.conv1d(&w, &d1).is_err());
        assert!(x1.conv1d(&rand_tensor(&[2, 3, 3], &mut rng), &d1).is_err());
        assert!(x1.conv1d(&w1, &Conv1dParams { stride: 0, ..d1 }).is_err());
        assert!(x1.conv1d(&w1, &Conv1dParams { dilation: 0, ..d1 }).is_err());
        assert!(x1.conv1d(&w1, &Conv1dParams { groups: 3, ..d1 }).is_err());
        assert!(x1.conv1d(&rand_tensor(&[2, 4, 9], &mut rng), &d1).is_err());
        assert!(
            x1.conv1d(&rand_tensor(&[2, 4, 9], &mut rng), &Conv1dParams { padding: 1, ..d1 })
                .is_ok()
        );
        assert!(d1.output_shape(&[2, 4], &[2, 4, 3]).is_err());
    }
}
