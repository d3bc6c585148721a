//! Gradients of the f32 convolution for plaintext training, on the same im2col + sgemm path as the
//! forward pass: dW = Σ_images dY_g · colsᵀ and dX = col2im(W_gᵀ · dY_g), split across images.

use super::linalg::{MatRef, sgemm_into};
use super::window::{Window2d, window2d};
use super::{F32Tensor, checked_numel};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Geometry of a convolution with input `xs`, weight `ws`, checked against the output gradient.
#[allow(clippy::too_many_arguments)]
fn plan(
    op: &'static str,
    xs: &[usize],
    ws: &[usize],
    dy: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    group: usize,
) -> Result<Window2d> {
    let r = xs.len();
    if !(r == 3 || r == 4) || ws.len() != r || dy.len() != r {
        return Err(Error::shape(
            op,
            format!("input {xs:?}, weight {ws:?} and gradient {dy:?} must all be 3-d or 4-d"),
        ));
    }
    if group == 0 || !xs[1].is_multiple_of(group) || !ws[0].is_multiple_of(group) || ws[1] * group != xs[1] {
        return Err(Error::shape(
            op,
            format!("input {xs:?} and weight {ws:?} do not fit group {group}"),
        ));
    }
    let g = window2d(op, &xs[2..], &ws[2..], strides, pads, dilations, false)?;
    let mut want = vec![xs[0], ws[0]];
    want.extend(g.out_dims(r));
    if dy != want.as_slice() {
        return Err(Error::shape(
            op,
            format!("gradient {dy:?} does not match the convolution output {want:?}"),
        ));
    }
    checked_numel(op, &[ws[1] * g.kh * g.kw, g.ho * g.wo])?;
    Ok(g)
}

impl F32Tensor {
    /// dW of `x.conv(W, …)` (1-D or 2-D, ONNX attributes as in [`F32Tensor::conv`]) for the
    /// output gradient `dy`; `self` is x, `kernel` the spatial kernel size.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_grad_weight(
        &self,
        dy: &Self,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
        group: usize,
    ) -> Result<Self> {
        const OP: &str = "conv_grad_weight";
        if self.rank() < 3 || group == 0 || dy.rank() < 2 {
            return Err(Error::shape(OP, format!("input {:?} must be 3-d or 4-d", self.shape)));
        }
        let mut ws = vec![dy.shape[1], self.shape[1] / group];
        ws.extend_from_slice(kernel);
        let g = plan(OP, &self.shape, &ws, &dy.shape, strides, pads, dilations, group)?;
        let (nimg, c, o) = (self.shape[0], self.shape[1], ws[0]);
        let (cg, og) = (c / group, o / group);
        let kk = cg * g.kh * g.kw;
        let plane = g.ho * g.wo;
        let in_image = c * g.h * g.w;
        let len = o * kk;
        // Per image and group: dW_g [og, kk] += dY_g [og, plane] · colsᵀ [plane, kk]. Small
        // weights: images split across threads, one accumulator each; large weights: chunks of
        // images in turn, each product split across threads (no per-thread copies of a large dW).
        let split_products = len >= 1 << 18;
        let image = |img: usize, acc: &mut Vec<f32>, cols: &mut Vec<f32>| {
            for gi in 0..group {
                let chans = &self.data[img * in_image + gi * cg * g.h * g.w..][..cg * g.h * g.w];
                cols.resize(kk * plane, 0.0);
                g.im2col(cg).im2col(chans, cols, 0.0);
                let a = MatRef {
                    data: &dy.data,
                    off: (img * o + gi * og) * plane,
                    rs: plane,
                    cs: 1,
                };
                // colsᵀ as a strided view: element (p, r) is cols[r·plane + p].
                let b = MatRef {
                    data: cols,
                    off: 0,
                    rs: 1,
                    cs: plane,
                };
                let c = &mut acc[gi * og * kk..(gi + 1) * og * kk];
                sgemm_into(og, plane, kk, 1.0, a, b, 1.0, c, false);
            }
        };
        let data = if split_products {
            // Images in chunks, their im2col matrices side by side ([kk, chunk·plane]), so each
            // product has a long inner dimension; each product is split across threads.
            let chunk = ((1usize << 22) / (kk * plane).max(1)).clamp(1, nimg.max(1));
            let mut acc = vec![0.0f32; len];
            let (mut cols, mut wide, mut dyw) = (Vec::new(), Vec::new(), Vec::new());
            for first in (0..nimg).step_by(chunk) {
                let imgs = chunk.min(nimg - first);
                let width = imgs * plane;
                for gi in 0..group {
                    wide.clear();
                    wide.resize(kk * width, 0.0f32);
                    dyw.clear();
                    dyw.resize(og * width, 0.0f32);
                    for j in 0..imgs {
                        let img = first + j;
                        let chans = &self.data[img * in_image + gi * cg * g.h * g.w..][..cg * g.h * g.w];
                        cols.resize(kk * plane, 0.0);
                        g.im2col(cg).im2col(chans, &mut cols, 0.0);
                        for r in 0..kk {
                            wide[r * width + j * plane..r * width + (j + 1) * plane]
                                .copy_from_slice(&cols[r * plane..(r + 1) * plane]);
                        }
                        for r in 0..og {
                            let src = (img * o + gi * og + r) * plane;
                            dyw[r * width + j * plane..r * width + (j + 1) * plane]
                                .copy_from_slice(&dy.data[src..src + plane]);
                        }
                    }
                    let a = MatRef {
                        data: &dyw,
                        off: 0,
                        rs: width,
                        cs: 1,
                    };
                    let b = MatRef {
                        data: &wide,
                        off: 0,
                        rs: 1,
                        cs: width,
                    };
                    let c = &mut acc[gi * og * kk..(gi + 1) * og * kk];
                    sgemm_into(og, width, kk, 1.0, a, b, 1.0, c, true);
                }
            }
            acc
        } else if nimg > 1 && nimg * len * plane >= 1 << 18 {
            (0..nimg)
                .into_par_iter()
                .fold(
                    || (vec![0.0f32; len], Vec::new()),
                    |(mut acc, mut cols), img| {
                        image(img, &mut acc, &mut cols);
                        (acc, cols)
                    },
                )
                .map(|(acc, _)| acc)
                .reduce(
                    || vec![0.0f32; len],
                    |mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                        a
                    },
                )
        } else {
            let (mut acc, mut cols) = (vec![0.0f32; len], Vec::new());
            for img in 0..nimg {
                image(img, &mut acc, &mut cols);
            }
            acc
        };
        Self::from_vec(&ws, data)
    }

    /// dX of `x.conv(W, …)` for the output gradient `self`; `input` is x's shape.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_grad_input(
        &self,
        w: &Self,
        input: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
        group: usize,
    ) -> Result<Self> {
        const OP: &str = "conv_grad_input";
        let g = plan(OP, input, &w.shape, &self.shape, strides, pads, dilations, group)?;
        let (c, o) = (input[1], w.shape[0]);
        let (cg, og) = (c / group, o / group);
        let kk = cg * g.kh * g.kw;
        let plane = g.ho * g.wo;
        let in_image = c * g.h * g.w;
        let mut data = vec![0.0f32; checked_numel(OP, input)?];
        if data.is_empty() || in_image == 0 {
            return Self::from_vec(input, data);
        }
        let task = |img: usize, dst: &mut [f32], cols: &mut Vec<f32>| {
            cols.resize(kk * plane, 0.0);
            for gi in 0..group {
                // W_gᵀ as a strided view: element (r, j) is w[(gi·og + j)·kk + r].
                let a = MatRef {
                    data: &w.data,
                    off: gi * og * kk,
                    rs: 1,
                    cs: kk,
                };
                let b = MatRef {
                    data: &self.data,
                    off: (img * o + gi * og) * plane,
                    rs: plane,
                    cs: 1,
                };
                sgemm_into(kk, og, plane, 1.0, a, b, 0.0, cols, false);
                g.im2col(cg).col2im_add(
                    cols,
                    &mut dst[gi * cg * g.h * g.w..(gi + 1) * cg * g.h * g.w],
                    |a, b| a + b,
                );
            }
        };
        if input[0] > 1 && data.len() * og * g.kh * g.kw >= 1 << 18 {
            data.par_chunks_mut(in_image)
                .enumerate()
                .for_each_init(Vec::new, |cols, (i, d)| task(i, d, cols));
        } else {
            let mut cols = Vec::new();
            for (i, d) in data.chunks_mut(in_image).enumerate() {
                task(i, d, &mut cols);
            }
        }
        Self::from_vec(input, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], seed: u32) -> F32Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed * 97) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        F32Tensor::from_vec(shape, v).unwrap()
    }

    fn dot(a: &F32Tensor, b: &F32Tensor) -> f64 {
        a.data().iter().zip(b.data()).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    /// ⟨conv(x, W), g⟩ = ⟨x, dX⟩ = ⟨W, dW⟩ (adjoints), for 1-D and 2-D geometries.
    type ConvCase = (
        &'static [usize],
        &'static [usize],
        &'static [usize],
        &'static [usize],
        &'static [usize],
        usize,
    );

    #[test]
    fn gradients_are_adjoints_of_the_convolution() {
        let cases: [ConvCase; 5] = [
            (&[2, 3, 7, 6], &[4, 3, 3, 2], &[1, 1], &[0, 0, 0, 0], &[1, 1], 1),
            (&[3, 4, 9, 8], &[6, 2, 3, 3], &[2, 1], &[1, 2, 0, 1], &[1, 2], 2),
            (&[2, 3, 20], &[5, 3, 4], &[2], &[3, 3], &[1], 1),
            (&[65, 2, 9, 9], &[3, 2, 3, 3], &[1, 1], &[1, 1, 1, 1], &[1, 1], 1),
            // A weight large enough for the chunked, thread-split weight gradient.
            (&[3, 64, 9, 9], &[64, 64, 8, 8], &[1, 1], &[0, 0, 0, 0], &[1, 1], 1),
        ];
        for (xs, ws, s, p, d, group) in cases {
            let (x, w) = (t(xs, 1), t(ws, 2));
            let y = x.conv(&w, None, s, p, d, group).unwrap();
            let g = t(y.shape(), 3);
            let dx = g.conv_grad_input(&w, xs, s, p, d, group).unwrap();
            let dw = x.conv_grad_weight(&g, &ws[2..], s, p, d, group).unwrap();
            let yg = dot(&y, &g);
            assert!((yg - dot(&x, &dx)).abs() < 1e-3 * (1.0 + yg.abs()), "{xs:?} dX");
            assert!((yg - dot(&w, &dw)).abs() < 1e-3 * (1.0 + yg.abs()), "{xs:?} dW");
        }
        let x = t(&[1, 2, 5, 5], 1);
        assert!(
            x.conv_grad_weight(&t(&[1, 3, 3, 3], 1), &[2, 2], &[], &[], &[], 1)
                .is_err()
        );
    }
}
