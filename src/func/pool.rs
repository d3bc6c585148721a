//! Pooling on shares: max pooling (windows gathered locally, then a max tournament), average and
//! adaptive average pooling (local window sums times public reciprocals of the window sizes).

use super::{fixed, reduce};
use crate::error::{Error, Result};
use crate::protocol::Protocol;
use crate::ring::pool::avg_pool2d_divisors;
use crate::ring::{RingTensor, numel};

/// Max pooling over `[N, C, H, W]` (PyTorch geometry; padding never wins).
///
/// The max over a kh×kw window is the max over kh rows of maxima over kw columns, and
/// overlapping windows share those row maxima: when that needs fewer comparisons without more
/// levels, the pool runs as a 1×kw pass over every row and then a kh×1 pass. Cost: one max
/// tournament (`reduce.rs`: 8 rounds per level, k − 1 comparisons per window of k) per pass;
/// for ResNet's 3x3 stride-2 pool on 112² that is 4 levels and 1.2M comparisons instead of 1.6M
/// (64 channels).
pub fn max_pool2d<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    ceil_mode: bool,
) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    if let Some([rows_pass, cols_pass]) = separable_plan(&shape, kernel, stride, padding, ceil_mode)? {
        let (k, s, pd) = cols_pass;
        let y = max_pool_pass(p, x, k, s, pd, ceil_mode)?;
        let (k, s, pd) = rows_pass;
        return max_pool_pass(p, &y, k, s, pd, ceil_mode);
    }
    max_pool_pass(p, x, kernel, stride, padding, ceil_mode)
}

/// One pass of (kernel, stride, padding).
type Pass = ([usize; 2], [usize; 2], [usize; 2]);

/// The two passes (rows kh×1, columns 1×kw) of a separable max pool, when they compare less than
/// the whole windows and need no more tournament levels.
fn separable_plan(
    shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    ceil_mode: bool,
) -> Result<Option<[Pass; 2]>> {
    let [kh, kw] = kernel;
    let &[_, _, h, w] = shape else {
        return Ok(None);
    };
    if kh < 2 || kw < 2 {
        return Ok(None);
    }
    let levels = |k: usize| k.next_power_of_two().trailing_zeros();
    if levels(kh) + levels(kw) > levels(kh * kw) {
        return Ok(None);
    }
    // Output sizes from the ring's own window geometry.
    let out = RingTensor::zeros(&[1, 1, h, w]).unfold2d(kernel, stride, padding, ceil_mode, 0)?;
    let (ho, wo) = (out.shape()[2], out.shape()[3]);
    let whole = ho * wo * (kh * kw - 1);
    let split = h * wo * (kw - 1) + ho * wo * (kh - 1);
    if split >= whole {
        return Ok(None);
    }
    Ok(Some([
        ([kh, 1], [stride[0], 1], [padding[0], 0]),
        ([1, kw], [1, stride[1]], [0, padding[1]]),
    ]))
}

/// Max pooling with whole windows: gathered locally into rows, then one max tournament.
fn max_pool_pass<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    ceil_mode: bool,
) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let windows = p.linear(x, &|t| t.unfold2d(kernel, stride, padding, ceil_mode, 0))?;
    // Padding positions get a public value far below any input.
    let ones = RingTensor::full(&shape, 1).unfold2d(kernel, stride, padding, ceil_mode, 0)?;
    let low = fixed::encode_const(p, -((1u64 << 24) as f64));
    let mask = ones.map(move |real| if real == 1 { 0 } else { low });
    let windows = p.add_public(&windows, &mask)?;
    let last = p.shape(&windows).len() - 1;
    let m = reduce::max_values(p, &windows, last)?;
    let out_shape = p.shape(&windows)[..last].to_vec();
    p.linear(&m, &|t| t.clone().reshape(&out_shape))
}

/// Max pooling over `[N, C, L]`.
pub fn max_pool1d<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil_mode: bool,
) -> Result<P::Share> {
    let s = p.shape(x).to_vec();
    if s.len() != 3 {
        return Err(Error::shape(
            "max_pool1d",
            format!("input must be [N, C, L], got {s:?}"),
        ));
    }
    let x4 = p.linear(x, &|t| t.clone().reshape(&[s[0], s[1], 1, s[2]]))?;
    let y = max_pool2d(p, &x4, [1, kernel], [1, stride], [0, padding], ceil_mode)?;
    let ys = p.shape(&y).to_vec();
    p.linear(&y, &|t| t.clone().reshape(&[ys[0], ys[1], ys[3]]))
}

/// Average pooling over `[N, C, H, W]` (PyTorch's divisors, `count_include_pad` as given).
pub fn avg_pool2d<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    ceil_mode: bool,
    count_include_pad: bool,
) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    if shape.len() != 4 {
        return Err(Error::shape(
            "avg_pool2d",
            format!("input must be [N, C, H, W], got {shape:?}"),
        ));
    }
    let sums = p.linear(x, &|t| t.sum_pool2d_mode(kernel, stride, padding, ceil_mode))?;
    let div = avg_pool2d_divisors(
        [shape[2], shape[3]],
        kernel,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
    )?;
    divide_cells(p, &sums, &div)
}

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, out_h, out_w]`.
pub fn adaptive_avg_pool2d<P: Protocol>(p: &mut P, x: &P::Share, out: [usize; 2]) -> Result<P::Share> {
    let sums = p.linear(x, &|t| Ok(t.adaptive_sum_pool2d(out)?.0))?;
    let shape = p.shape(x).to_vec();
    if shape.len() != 4 {
        return Err(Error::shape(
            "adaptive_avg_pool2d",
            format!("input must be [N, C, H, W], got {shape:?}"),
        ));
    }
    let (_, sizes) = RingTensor::zeros(&[1, 1, shape[2], shape[3]]).adaptive_sum_pool2d(out)?;
    divide_cells(p, &sums, &sizes)
}

/// Divides each spatial cell of `[N, C, Ho, Wo]` by its public window size.
fn divide_cells<P: Protocol>(p: &mut P, sums: &P::Share, sizes: &[u64]) -> Result<P::Share> {
    let shape = p.shape(sums).to_vec();
    let cells = sizes.len();
    if sizes.iter().all(|&s| s == sizes[0]) {
        return fixed::mul_const(p, sums, 1.0 / sizes[0] as f64);
    }
    let factors: Vec<f64> = (0..numel(&shape)).map(|i| 1.0 / sizes[i % cells] as f64).collect();
    fixed::mul_public(p, sums, &factors)
}
