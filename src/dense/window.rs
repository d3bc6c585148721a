//! Sliding-window geometry and the im2col / col2im movements behind every convolution (and the
//! window gathers of pooling): one image `[c, h, w]` becomes the matrix `[c·kh·kw, ho·wo]` whose
//! row `(ch·kh + i)·kw + j` holds input pixel `(ch, oy·sh + i·dh − pt, ox·sw + j·dw − pl)` in
//! column `oy·wo + ox`, and a fill value where that pixel lies in the padding.

use super::{Elem, PAR_THRESHOLD};
use rayon::prelude::*;

/// The geometry of a 2-D window op on one image (a 1-D op is the case `h = kh = 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Channels, input height and width.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    /// Strides `[sh, sw]`.
    pub stride: [usize; 2],
    /// Leading (top, left) padding; the trailing padding only shows in `ho`, `wo`.
    pub pad: [usize; 2],
    /// Dilations `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Output height and width.
    pub ho: usize,
    pub wo: usize,
}

impl Window {
    /// Output size of one axis of size `n` with kernel `k`, stride `s` (> 0), dilation `d` (> 0)
    /// and padding `pb + pe`; `ceil` applies the PyTorch/ONNX `ceil_mode` rule (the last window
    /// must start inside the input or the leading padding). `None` when the window does not fit.
    pub fn out_len(n: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize, ceil: bool) -> Option<usize> {
        let padded = n.checked_add(pb)?.checked_add(pe)?;
        let span = k.checked_sub(1)?.checked_mul(d)?.checked_add(1)?;
        let num = padded.checked_sub(span)?;
        let mut out = if ceil { num.div_ceil(s) } else { num / s } + 1;
        if ceil && (out - 1) * s >= n + pb {
            out -= 1;
        }
        Some(out)
    }

    /// Rows of the im2col matrix.
    pub fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the im2col matrix (output pixels).
    pub fn cols(&self) -> usize {
        self.ho * self.wo
    }

    /// True when im2col is the identity (1x1 kernel, stride 1, no padding).
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.ho == self.h
            && self.wo == self.w
    }

    /// Output positions `lo..hi` (clamped to `0..out`) whose input index `o·s + off − pad` lies in
    /// `0..n`.
    fn valid_range(n: usize, out: usize, s: usize, off: usize, pad: usize) -> (usize, usize) {
        let lo = if off >= pad { 0 } else { (pad - off).div_ceil(s) };
        let hi = if n + pad <= off { 0 } else { (n + pad - off).div_ceil(s) };
        let hi = hi.min(out);
        (lo.min(hi), hi)
    }

    /// For im2col row `row`: the input plane, the valid output ranges along y and x, and the
    /// input column of the first valid x.
    fn row_geometry(&self, row: usize) -> (usize, usize, (usize, usize), (usize, usize), usize) {
        let kj = row % self.kw;
        let ki = (row / self.kw) % self.kh;
        let ch = row / (self.kw * self.kh);
        let (sh, sw) = (self.stride[0], self.stride[1]);
        let ys = Self::valid_range(self.h, self.ho, sh, ki * self.dilation[0], self.pad[0]);
        let xs = Self::valid_range(self.w, self.wo, sw, kj * self.dilation[1], self.pad[1]);
        let ix0 = (xs.0 * sw + kj * self.dilation[1]).saturating_sub(self.pad[1]);
        (ch, ki, ys, xs, ix0)
    }

    /// Writes im2col row `row` of `image` into `dst` (`ho·wo`), `fill` where the kernel tap falls
    /// in the padding (every element is written).
    fn fill_row<E: Elem>(&self, dst: &mut [E], image: &[E], row: usize, fill: E) {
        let (ch, ki, (ylo, yhi), (xlo, xhi), ix0) = self.row_geometry(row);
        if xlo == xhi || ylo == yhi {
            dst.fill(fill);
            return;
        }
        let plane = &image[ch * self.h * self.w..(ch + 1) * self.h * self.w];
        let (sh, sw) = (self.stride[0], self.stride[1]);
        let run = xhi - xlo;
        dst[..ylo * self.wo].fill(fill);
        dst[yhi * self.wo..].fill(fill);
        for oy in ylo..yhi {
            let iy = oy * sh + ki * self.dilation[0] - self.pad[0];
            let src = &plane[iy * self.w + ix0..];
            let line = &mut dst[oy * self.wo..(oy + 1) * self.wo];
            line[..xlo].fill(fill);
            line[xhi..].fill(fill);
            let d = &mut line[xlo..xhi];
            if sw == 1 {
                d.copy_from_slice(&src[..run]);
            } else {
                for (x, &s) in d.iter_mut().zip(src.iter().step_by(sw)) {
                    *x = s;
                }
            }
        }
    }

    /// im2col of one image (`c·h·w` elements) into `cols` (`rows()·cols()`, overwritten), with
    /// `fill` in the padding. Large matrices are filled by several threads.
    pub fn im2col<E: Elem>(&self, image: &[E], cols: &mut [E], fill: E) {
        let n = self.cols();
        if n == 0 {
            return;
        }
        let cols = &mut cols[..self.rows() * n];
        if cols.len() >= PAR_THRESHOLD {
            cols.par_chunks_mut(n)
                .enumerate()
                .for_each(|(r, dst)| self.fill_row(dst, image, r, fill));
        } else {
            for (r, dst) in cols.chunks_mut(n).enumerate() {
                self.fill_row(dst, image, r, fill);
            }
        }
    }

    /// Adds the im2col matrix `cols` back into `image` with `add` (the adjoint of
    /// [`Window::im2col`] with fill 0: padding taps are dropped).
    pub fn col2im_add<E: Elem>(&self, cols: &[E], image: &mut [E], add: impl Fn(E, E) -> E) {
        let n = self.cols();
        if n == 0 {
            return;
        }
        for (row, src) in cols.chunks_exact(n).enumerate().take(self.rows()) {
            let (ch, ki, (ylo, yhi), (xlo, xhi), ix0) = self.row_geometry(row);
            if xlo == xhi {
                continue;
            }
            let plane = &mut image[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            let sw = self.stride[1];
            for oy in ylo..yhi {
                let iy = oy * self.stride[0] + ki * self.dilation[0] - self.pad[0];
                let s = &src[oy * self.wo + xlo..oy * self.wo + xhi];
                let d = &mut plane[iy * self.w + ix0..];
                for (t, &v) in s.iter().enumerate() {
                    let at = t * sw;
                    d[at] = add(d[at], v);
                }
            }
        }
    }
}
