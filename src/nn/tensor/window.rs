//! Sliding-window ops of [`F32Tensor`]: ONNX Conv (im2col from [`crate::dense::Window`] plus
//! sgemm) and the max / average / global / adaptive poolings, with their shared geometry.

use super::F32Tensor;
use super::checked_numel;
use super::linalg::{MatRef, PAR_GEMM_WORK, sgemm_into};
use crate::dense::Window;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Spatial parameters of a 1-D or 2-D window op, seen as 2-D (a 1-D op has height 1).
#[derive(Clone, Copy, Debug)]
pub(super) struct Window2d {
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) sh: usize,
    pub(super) sw: usize,
    /// Pads: top, left, bottom, right.
    pub(super) pt: usize,
    pub(super) pl: usize,
    pub(super) pb: usize,
    pub(super) pr: usize,
    pub(super) dh: usize,
    pub(super) dw: usize,
    pub(super) ho: usize,
    pub(super) wo: usize,
}

impl Window2d {
    /// The im2col geometry of `c` channels of one image under this window.
    pub(super) fn im2col(&self, c: usize) -> Window {
        Window {
            c,
            h: self.h,
            w: self.w,
            kh: self.kh,
            kw: self.kw,
            stride: [self.sh, self.sw],
            pad: [self.pt, self.pl],
            dilation: [self.dh, self.dw],
            ho: self.ho,
            wo: self.wo,
        }
    }

    /// Output spatial dims for an input of rank `r` (3: 1-D, 4: 2-D).
    pub(super) fn out_dims(&self, r: usize) -> Vec<usize> {
        if r == 3 { vec![self.wo] } else { vec![self.ho, self.wo] }
    }
}

/// Checks one attribute list: empty means `default` on every spatial axis.
fn attr_list(op: &'static str, name: &str, v: &[usize], len: usize, default: usize) -> Result<Vec<usize>> {
    if v.is_empty() {
        return Ok(vec![default; len]);
    }
    if v.len() != len {
        return Err(Error::invalid(op, format!("{name} {v:?} must have {len} entries")));
    }
    Ok(v.to_vec())
}

/// Output size of one axis of a window op (see [`Window::out_len`]), or a shape error.
#[allow(clippy::too_many_arguments)]
fn window_out(
    op: &'static str,
    n: usize,
    k: usize,
    s: usize,
    d: usize,
    pb: usize,
    pe: usize,
    ceil: bool,
) -> Result<usize> {
    Window::out_len(n, k, s, d, pb, pe, ceil).ok_or_else(|| {
        Error::shape(
            op,
            format!("window of size {k} (dilation {d}) does not fit the input of size {n} with padding {pb}+{pe}"),
        )
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn window2d(
    op: &'static str,
    spatial: &[usize],
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    ceil: bool,
) -> Result<Window2d> {
    let sp = spatial.len();
    if kernel.len() != sp {
        return Err(Error::shape(
            op,
            format!("kernel {kernel:?} must have {sp} entries for a {sp}-d input"),
        ));
    }
    let strides = attr_list(op, "strides", strides, sp, 1)?;
    let pads = attr_list(op, "pads", pads, 2 * sp, 0)?;
    let dil = attr_list(op, "dilations", dilations, sp, 1)?;
    if strides.contains(&0) {
        return Err(Error::invalid(op, format!("strides {strides:?} must be positive")));
    }
    if dil.contains(&0) {
        return Err(Error::invalid(op, format!("dilations {dil:?} must be positive")));
    }
    if kernel.contains(&0) {
        return Err(Error::shape(op, format!("kernel {kernel:?} must be positive")));
    }
    let mut outs = Vec::with_capacity(sp);
    for i in 0..sp {
        outs.push(window_out(
            op,
            spatial[i],
            kernel[i],
            strides[i],
            dil[i],
            pads[i],
            pads[sp + i],
            ceil,
        )?);
    }
    Ok(if sp == 1 {
        Window2d {
            h: 1,
            w: spatial[0],
            kh: 1,
            kw: kernel[0],
            sh: 1,
            sw: strides[0],
            pt: 0,
            pl: pads[0],
            pb: 0,
            pr: pads[1],
            dh: 1,
            dw: dil[0],
            ho: 1,
            wo: outs[0],
        }
    } else {
        Window2d {
            h: spatial[0],
            w: spatial[1],
            kh: kernel[0],
            kw: kernel[1],
            sh: strides[0],
            sw: strides[1],
            pt: pads[0],
            pl: pads[1],
            pb: pads[2],
            pr: pads[3],
            dh: dil[0],
            dw: dil[1],
            ho: outs[0],
            wo: outs[1],
        }
    })
}

/// Output positions `lo..hi` (clamped to `0..out`) whose input index `o·s + off − pad` lies in
/// `0..n`.

/// Which pooling a window op computes.
#[derive(Clone, Copy)]
enum PoolKind {
    Max,
    Avg { count_include_pad: bool },
}

impl F32Tensor {
    /// ONNX Conv for 1-D (`[N, C, L]`) and 2-D (`[N, C, H, W]`) inputs with weights
    /// `[O, C/group, k…]` and optional bias `[O]`. Empty `strides`/`dilations` mean 1, empty
    /// `pads` mean 0; `pads` holds all begins then all ends.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &self,
        w: &Self,
        bias: Option<&Self>,
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
        group: usize,
    ) -> Result<Self> {
        const OP: &str = "conv";
        let r = self.rank();
        if !(r == 3 || r == 4) || w.rank() != r {
            return Err(Error::shape(
                OP,
                format!(
                    "input {:?} and weights {:?} must both be 3-d or 4-d",
                    self.shape, w.shape
                ),
            ));
        }
        if group == 0 {
            return Err(Error::invalid(OP, "group must be positive"));
        }
        let (nimg, c) = (self.shape[0], self.shape[1]);
        let o = w.shape[0];
        if !c.is_multiple_of(group) || !o.is_multiple_of(group) || w.shape[1] * group != c {
            return Err(Error::shape(
                OP,
                format!(
                    "input {:?} and weights {:?} do not fit group {group}",
                    self.shape, w.shape
                ),
            ));
        }
        if let Some(b) = bias
            && b.shape != [o]
        {
            return Err(Error::shape(OP, format!("bias {:?} must be [{o}]", b.shape)));
        }
        let g = window2d(OP, &self.shape[2..], &w.shape[2..], strides, pads, dilations, false)?;
        let (cg, og) = (c / group, o / group);
        let kk = cg * g.kh * g.kw;
        let plane = g.ho * g.wo;
        let mut shape = vec![nimg, o];
        shape.extend_from_slice(&g.out_dims(r));
        let n = checked_numel(OP, &shape)?;
        checked_numel(OP, &[kk, plane])?;
        let mut data = vec![0.0f32; n];
        if n == 0 {
            return Ok(Self { shape, data });
        }
        if let Some(b) = bias {
            for (ch, block) in data.chunks_exact_mut(plane).enumerate() {
                block.fill(b.data[ch % o]);
            }
        }
        let beta = if bias.is_some() { 1.0 } else { 0.0 };
        let pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt + g.pl + g.pb + g.pr == 0;
        let in_image = c * g.h * g.w;
        let task = |i: usize, out: &mut [f32], cols: &mut Vec<f32>, parallel: bool| {
            let (img, gi) = (i / group, i % group);
            let chans = &self.data[img * in_image + gi * cg * g.h * g.w..][..cg * g.h * g.w];
            let bmat = if pointwise || kk == 0 {
                chans
            } else {
                cols.resize(kk * plane, 0.0);
                g.im2col(cg).im2col(chans, cols, 0.0);
                &cols[..]
            };
            let a = MatRef {
                data: &w.data,
                off: gi * og * kk,
                rs: kk,
                cs: 1,
            };
            let b = MatRef {
                data: bmat,
                off: 0,
                rs: plane,
                cs: 1,
            };
            sgemm_into(og, kk, plane, 1.0, a, b, beta, out, parallel);
        };
        let tasks = nimg * group;
        let work = og.saturating_mul(kk).saturating_mul(plane);
        if tasks >= rayon::current_num_threads() && tasks > 1 && tasks.saturating_mul(work) >= PAR_GEMM_WORK {
            data.par_chunks_mut(og * plane)
                .enumerate()
                .for_each_init(Vec::new, |cols, (i, out)| task(i, out, cols, false));
        } else {
            let mut cols = Vec::new();
            for (i, out) in data.chunks_mut(og * plane).enumerate() {
                task(i, out, &mut cols, true);
            }
        }
        Ok(Self { shape, data })
    }

    // ----- pooling -----

    fn pool(
        &self,
        op: &'static str,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        ceil_mode: bool,
        kind: PoolKind,
    ) -> Result<Self> {
        let r = self.rank();
        if !(r == 3 || r == 4) {
            return Err(Error::shape(op, format!("input {:?} must be 3-d or 4-d", self.shape)));
        }
        let g = window2d(op, &self.shape[2..], kernel, strides, pads, &[], ceil_mode)?;
        if g.pt >= g.kh || g.pb >= g.kh || g.pl >= g.kw || g.pr >= g.kw {
            return Err(Error::invalid(
                op,
                format!("pads {pads:?} must be smaller than the kernel {kernel:?}"),
            ));
        }
        let mut shape = self.shape[..2].to_vec();
        shape.extend_from_slice(&g.out_dims(r));
        let n = checked_numel(op, &shape)?;
        let mut data = vec![0.0f32; n];
        let plane_out = g.ho * g.wo;
        let plane_in = g.h * g.w;
        if n == 0 {
            return Ok(Self { shape, data });
        }
        let run = |p: usize, out: &mut [f32]| {
            let src = &self.data[p * plane_in..(p + 1) * plane_in];
            for oh in 0..g.ho {
                let hs = (oh * g.sh) as isize - g.pt as isize;
                let he_pad = (hs + g.kh as isize).min((g.h + g.pb) as isize);
                let (h0, h1) = (hs.max(0) as usize, (hs + g.kh as isize).min(g.h as isize) as usize);
                for ow in 0..g.wo {
                    let ws = (ow * g.sw) as isize - g.pl as isize;
                    let we_pad = (ws + g.kw as isize).min((g.w + g.pr) as isize);
                    let (w0, w1) = (ws.max(0) as usize, (ws + g.kw as isize).min(g.w as isize) as usize);
                    out[oh * g.wo + ow] = match kind {
                        PoolKind::Max => {
                            let mut m = f32::NEG_INFINITY;
                            for ih in h0..h1 {
                                for &v in &src[ih * g.w + w0..ih * g.w + w1] {
                                    if v > m || v.is_nan() {
                                        m = v;
                                    }
                                }
                            }
                            m
                        }
                        PoolKind::Avg { count_include_pad } => {
                            let mut s = 0.0f32;
                            for ih in h0..h1 {
                                s += src[ih * g.w + w0..ih * g.w + w1].iter().sum::<f32>();
                            }
                            let count = if count_include_pad {
                                ((he_pad - hs) * (we_pad - ws)) as usize
                            } else {
                                (h1 - h0) * (w1 - w0)
                            };
                            s / count as f32
                        }
                    };
                }
            }
        };
        let work = n.saturating_mul(g.kh * g.kw);
        if work >= 1 << 18 {
            data.par_chunks_mut(plane_out)
                .enumerate()
                .for_each(|(p, out)| run(p, out));
        } else {
            for (p, out) in data.chunks_mut(plane_out).enumerate() {
                run(p, out);
            }
        }
        Ok(Self { shape, data })
    }

    /// ONNX MaxPool (1-D or 2-D); padding is ignored, `ceil_mode` follows PyTorch.
    pub fn max_pool(&self, kernel: &[usize], strides: &[usize], pads: &[usize], ceil_mode: bool) -> Result<Self> {
        self.pool("max_pool", kernel, strides, pads, ceil_mode, PoolKind::Max)
    }

    /// ONNX AveragePool (1-D or 2-D). With `count_include_pad` the divisor counts the window
    /// clipped to the padded input (PyTorch), otherwise only the input elements.
    pub fn avg_pool(
        &self,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        ceil_mode: bool,
        count_include_pad: bool,
    ) -> Result<Self> {
        self.pool(
            "avg_pool",
            kernel,
            strides,
            pads,
            ceil_mode,
            PoolKind::Avg { count_include_pad },
        )
    }

    /// ONNX GlobalAveragePool: `[N, C, d…]` → `[N, C, 1…]`.
    pub fn global_avg_pool(&self) -> Result<Self> {
        if self.rank() < 3 {
            return Err(Error::shape(
                "global_avg_pool",
                format!("input {:?} must have spatial axes", self.shape),
            ));
        }
        let plane: usize = self.shape[2..].iter().product();
        let mut shape = self.shape[..2].to_vec();
        shape.resize(self.rank(), 1);
        let planes = self.shape[0] * self.shape[1];
        let data = if plane == 0 {
            vec![f32::NAN; planes]
        } else {
            self.data
                .chunks_exact(plane)
                .map(|p| (p.iter().map(|&x| x as f64).sum::<f64>() / plane as f64) as f32)
                .collect()
        };
        Ok(Self { shape, data })
    }

    /// PyTorch `adaptive_avg_pool2d` on `[N, C, H, W]` (or `[C, H, W]`): output cell `i` averages
    /// rows `floor(i·H/o) .. ceil((i+1)·H/o)`, likewise for columns.
    pub fn adaptive_avg_pool2d(&self, out_h: usize, out_w: usize) -> Result<Self> {
        const OP: &str = "adaptive_avg_pool2d";
        let r = self.rank();
        if !(r == 3 || r == 4) {
            return Err(Error::shape(OP, format!("input {:?} must be 3-d or 4-d", self.shape)));
        }
        let (h, w) = (self.shape[r - 2], self.shape[r - 1]);
        if out_h == 0 || out_w == 0 || (h == 0 && out_h > 0) || (w == 0 && out_w > 0) {
            return Err(Error::invalid(
                OP,
                format!("output size {out_h}x{out_w} for input {:?}", self.shape),
            ));
        }
        let mut shape = self.shape[..r - 2].to_vec();
        shape.extend_from_slice(&[out_h, out_w]);
        let n = checked_numel(OP, &shape)?;
        let planes: usize = self.shape[..r - 2].iter().product();
        let mut data = Vec::with_capacity(n);
        for p in 0..planes {
            let src = &self.data[p * h * w..(p + 1) * h * w];
            for i in 0..out_h {
                let (h0, h1) = (i * h / out_h, ((i + 1) * h).div_ceil(out_h));
                for j in 0..out_w {
                    let (w0, w1) = (j * w / out_w, ((j + 1) * w).div_ceil(out_w));
                    let mut s = 0.0f32;
                    for ih in h0..h1 {
                        s += src[ih * w + w0..ih * w + w1].iter().sum::<f32>();
                    }
                    data.push(s / ((h1 - h0) * (w1 - w0)) as f32);
                }
            }
        }
        Ok(Self { shape, data })
    }
}
