//! Gradients of a 2-D convolution over Z_2^64, by im2col + matmul (weights) and matmul + col2im
//! (inputs). Both maps are bilinear, so they serve as Beaver-triple operations of private training
//! (see `protocol::BilinearOp::Conv2dGradWeight` / `Conv2dGradInput`).
//!
//! For one image and group, with `cols` the im2col matrix `[C/g·kh·kw, Ho·Wo]` of the input and
//! `dY_g` the group's output-gradient rows `[O/g, Ho·Wo]`:
//! dW_g = dY_g · colsᵀ (summed over images) and dX = col2im(W_gᵀ · dY_g).

use super::super::matmul::matmul_into;
use super::ConvPlan;
use crate::error::{Error, Result};
use crate::ring::{Conv2dParams, RingTensor, shape_string};
use rayon::prelude::*;

/// Row-major transpose of an `[r, c]` block.
fn transpose(src: &[u64], r: usize, c: usize) -> Vec<u64> {
    crate::dense::transpose(src, &[r, c])
        .expect("the block holds r·c elements")
        .data
}

/// Checks that `dy` is the output shape of the convolution `plan` describes.
fn check_dy(op: &'static str, plan: &ConvPlan, dy: &[usize]) -> Result<()> {
    if plan.output_shape() != dy {
        return Err(Error::shape(
            op,
            format!(
                "output gradient {} does not match the convolution output {}",
                shape_string(dy),
                shape_string(&plan.output_shape())
            ),
        ));
    }
    Ok(())
}

/// The weight shape `[O, C/g, kh, kw]` of a convolution with input `x`, output gradient `dy`.
fn weight_shape(op: &'static str, x: &[usize], dy: &[usize], kernel: [usize; 2], groups: usize) -> Result<Vec<usize>> {
    match (x, dy) {
        ([_, c, _, _], [_, o, _, _]) if groups > 0 && c % groups == 0 => Ok(vec![*o, c / groups, kernel[0], kernel[1]]),
        _ => Err(Error::shape(
            op,
            format!(
                "input {} and output gradient {} must have rank 4 and fit {groups} groups",
                shape_string(x),
                shape_string(dy)
            ),
        )),
    }
}

/// Output shape of [`RingTensor::conv2d_grad_weight`].
pub fn grad_weight_shape(x: &[usize], dy: &[usize], kernel: [usize; 2], p: &Conv2dParams) -> Result<Vec<usize>> {
    let op = "conv2d_grad_weight";
    let ws = weight_shape(op, x, dy, kernel, p.groups)?;
    check_dy(op, &ConvPlan::new(op, x, &ws, p)?, dy)?;
    Ok(ws)
}

/// Output shape `[N, C, H, W]` of [`RingTensor::conv2d_grad_input`].
pub fn grad_input_shape(dy: &[usize], w: &[usize], input: [usize; 2], p: &Conv2dParams) -> Result<Vec<usize>> {
    let op = "conv2d_grad_input";
    let (&[n, _, _, _], &[_, cg, _, _]) = (dy, w) else {
        return Err(Error::shape(
            op,
            format!(
                "output gradient {} and weight {} must have rank 4",
                shape_string(dy),
                shape_string(w)
            ),
        ));
    };
    let xs = vec![n, cg * p.groups, input[0], input[1]];
    check_dy(op, &ConvPlan::new(op, &xs, w, p)?, dy)?;
    Ok(xs)
}

impl RingTensor {
    /// dW of `conv2d(x, W)` for the output gradient `dy`: `self` is x `[N, C, H, W]`, `dy` is
    /// `[N, O, Ho, Wo]`, the result `[O, C/g, kh, kw]`. Bilinear in (x, dy).
    pub fn conv2d_grad_weight(&self, dy: &RingTensor, kernel: [usize; 2], p: &Conv2dParams) -> Result<RingTensor> {
        let op = "conv2d_grad_weight";
        let ws = weight_shape(op, self.shape(), dy.shape(), kernel, p.groups)?;
        let plan = ConvPlan::new(op, self.shape(), &ws, p)?;
        check_dy(op, &plan, dy.shape())?;
        let g = &plan.geom;
        let (kk, hw, groups) = (g.rows(), g.cols(), plan.groups);
        let og = plan.o / groups;
        let in_group = g.c * g.h * g.w;
        // Per image: for each group, dW_gᵀ [kk, og] += cols [kk, hw] · dY_gᵀ [hw, og].
        let image = |img: usize, acc: &mut Vec<u64>| {
            let mut cols = vec![0u64; kk * hw];
            for grp in 0..groups {
                let start = (img * groups + grp) * in_group;
                cols.iter_mut().for_each(|v| *v = 0);
                g.im2col(&self.data()[start..start + in_group], &mut cols, 0);
                let d0 = (img * plan.o + grp * og) * hw;
                let dyt = transpose(&dy.data()[d0..d0 + og * hw], og, hw);
                matmul_into(&cols, &dyt, &mut acc[grp * kk * og..(grp + 1) * kk * og], kk, hw, og);
            }
        };
        let len = groups * kk * og;
        // Large weights: images in turn (the ring matmul splits each product across threads),
        // so no thread holds a copy of a large dW.
        let acc = if plan.n > 1 && len < 1 << 18 && plan.n * len * hw >= 1 << 16 {
            (0..plan.n)
                .into_par_iter()
                .fold(
                    || vec![0u64; len],
                    |mut acc, img| {
                        image(img, &mut acc);
                        acc
                    },
                )
                .reduce(
                    || vec![0u64; len],
                    |mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(x, y)| *x = x.wrapping_add(*y));
                        a
                    },
                )
        } else {
            let mut acc = vec![0u64; len];
            for img in 0..plan.n {
                image(img, &mut acc);
            }
            acc
        };
        let mut out = Vec::with_capacity(len);
        for grp in 0..groups {
            out.extend(transpose(&acc[grp * kk * og..(grp + 1) * kk * og], kk, og));
        }
        Ok(RingTensor::from_parts(ws, out))
    }

    /// dX of `conv2d(x, W)` for the output gradient `dy`: `self` is dy `[N, O, Ho, Wo]`, `weight`
    /// `[O, C/g, kh, kw]`, `input` the spatial size (H, W) of x; the result is `[N, C, H, W]`.
    /// Bilinear in (dy, W).
    pub fn conv2d_grad_input(&self, weight: &RingTensor, input: [usize; 2], p: &Conv2dParams) -> Result<RingTensor> {
        let op = "conv2d_grad_input";
        let xs = grad_input_shape(self.shape(), weight.shape(), input, p)?;
        let plan = ConvPlan::new(op, &xs, weight.shape(), p)?;
        let g = &plan.geom;
        let (kk, hw, groups) = (g.rows(), g.cols(), plan.groups);
        let og = plan.o / groups;
        let in_group = g.c * g.h * g.w;
        let wt: Vec<Vec<u64>> = (0..groups)
            .map(|grp| transpose(&weight.data()[grp * og * kk..(grp + 1) * og * kk], og, kk))
            .collect();
        let mut out = vec![0u64; plan.n * groups * in_group];
        let task = |idx: usize, dst: &mut [u64]| {
            let (img, grp) = (idx / groups, idx % groups);
            let d0 = (img * plan.o + grp * og) * hw;
            let mut cols = vec![0u64; kk * hw];
            matmul_into(&wt[grp], &self.data()[d0..d0 + og * hw], &mut cols, kk, og, hw);
            g.col2im_add(&cols, dst, u64::wrapping_add);
        };
        if in_group > 0 {
            if plan.n * groups > 1 && out.len() * og >= 1 << 16 {
                out.par_chunks_mut(in_group).enumerate().for_each(|(i, d)| task(i, d));
            } else {
                out.chunks_mut(in_group).enumerate().for_each(|(i, d)| task(i, d));
            }
        }
        Ok(RingTensor::from_parts(xs, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::numel;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rand(shape: &[usize], rng: &mut Xoshiro256PlusPlus) -> RingTensor {
        RingTensor::from_vec(shape, (0..numel(shape)).map(|_| rng.next_u64()).collect()).unwrap()
    }

    fn dot(a: &RingTensor, b: &RingTensor) -> u64 {
        a.data()
            .iter()
            .zip(b.data())
            .fold(0u64, |s, (x, y)| s.wrapping_add(x.wrapping_mul(*y)))
    }

    /// ⟨conv(x, W), g⟩ = ⟨x, dX(g, W)⟩ = ⟨W, dW(x, g)⟩ exactly in Z_2^64: both gradients are the
    /// adjoints of the convolution, for every geometry.
    #[test]
    fn gradients_are_exact_adjoints() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let cases = [
            ([2, 3, 7, 6], [4, 3, 3, 2], [1, 1], [0, 0], [1, 1], 1),
            ([3, 4, 9, 8], [6, 2, 3, 3], [2, 1], [1, 2], [1, 2], 2),
            ([1, 2, 5, 5], [2, 2, 1, 1], [1, 1], [0, 0], [1, 1], 1),
            ([2, 1, 12, 11], [3, 1, 5, 4], [3, 2], [2, 1], [2, 1], 1),
        ];
        for (xs, ws, stride, padding, dilation, groups) in cases {
            let p = Conv2dParams {
                stride,
                padding,
                dilation,
                groups,
            };
            let (x, w) = (rand(&xs, &mut rng), rand(&ws, &mut rng));
            let y = x.conv2d(&w, &p).unwrap();
            let g = rand(y.shape(), &mut rng);
            let dx = g.conv2d_grad_input(&w, [xs[2], xs[3]], &p).unwrap();
            let dw = x.conv2d_grad_weight(&g, [ws[2], ws[3]], &p).unwrap();
            assert_eq!(dx.shape(), &xs);
            assert_eq!(dw.shape(), &ws);
            assert_eq!(dot(&y, &g), dot(&x, &dx), "{xs:?} {ws:?} input gradient");
            assert_eq!(dot(&y, &g), dot(&w, &dw), "{xs:?} {ws:?} weight gradient");
            assert_eq!(grad_weight_shape(&xs, y.shape(), [ws[2], ws[3]], &p).unwrap(), ws);
            assert_eq!(grad_input_shape(y.shape(), &ws, [xs[2], xs[3]], &p).unwrap(), xs);
        }
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let p = Conv2dParams::default();
        let x = RingTensor::zeros(&[1, 2, 5, 5]);
        let g = RingTensor::zeros(&[1, 3, 4, 4]);
        assert!(x.conv2d_grad_weight(&g, [3, 3], &p).is_err());
        assert!(x.conv2d_grad_weight(&g, [2, 2], &p).is_ok());
        let w = RingTensor::zeros(&[3, 2, 2, 2]);
        assert!(g.conv2d_grad_input(&w, [6, 6], &p).is_err());
        assert!(g.conv2d_grad_input(&w, [5, 5], &p).is_ok());
        assert!(RingTensor::zeros(&[3]).conv2d_grad_input(&w, [5, 5], &p).is_err());
    }
}
