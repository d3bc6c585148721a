//! N-d pooling windows with any padding, dilation and `ceil_mode`: the general path of ONNX
//! MaxPool / AveragePool on both backends, for what the fast 1-D/2-D kernels do not cover
//! (dilations, asymmetric or large padding, 3-D inputs).
//!
//! [`Windows`] lists, for every output cell and kernel offset, the input element it reads (or
//! none: padding). The plaintext backend reduces those lists directly; the private backend
//! gathers each share component by the same map (a local op) and then reduces on shares.

use super::tensor::F32Tensor;
use crate::error::{Error, Result};

/// Plaintext max or average pooling of `x` (`[N, C, d…]`) over the windows `w`.
pub fn pool_f32(x: &F32Tensor, w: &Windows, max: bool, count_include_pad: bool) -> Result<F32Tensor> {
    let plane: usize = x.shape()[2..].iter().product();
    let fill = if max { f32::NEG_INFINITY } else { 0.0 };
    let win = w.gather(x.data(), plane, fill);
    let div = if count_include_pad {
        w.padded_count.clone()
    } else {
        w.input_count()
    };
    let cells = w.cells();
    let data: Vec<f32> = win
        .chunks(w.k.max(1))
        .enumerate()
        .map(|(i, v)| {
            if max {
                v.iter()
                    .fold(f32::NEG_INFINITY, |m, &x| if x > m || x.is_nan() { x } else { m })
            } else {
                v.iter().map(|&x| x as f64).sum::<f64>() as f32 / div[i % cells] as f32
            }
        })
        .collect();
    let mut shape = x.shape()[..2].to_vec();
    shape.extend_from_slice(&w.out);
    F32Tensor::from_vec(&shape, data)
}

/// The window geometry of one pooling op over the spatial axes of an `[N, C, d…]` input.
#[derive(Clone, Debug)]
pub struct Windows {
    /// Output spatial dims.
    pub out: Vec<usize>,
    /// Kernel elements per window.
    pub k: usize,
    /// `cells·k` entries: the input's flat spatial index read by (cell, offset), or `None` for a
    /// padding position.
    pub src: Vec<Option<usize>>,
    /// Per cell: the number of window positions inside the padded input (ONNX's divisor with
    /// `count_include_pad`; positions past the end that only `ceil_mode` adds do not count).
    pub padded_count: Vec<usize>,
}

impl Windows {
    /// The geometry for spatial dims `spatial`; `pads` holds all begins then all ends.
    pub fn new(
        spatial: &[usize],
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
        ceil_mode: bool,
    ) -> Result<Self> {
        const OP: &str = "pool";
        let sp = spatial.len();
        if kernel.len() != sp || strides.len() != sp || dilations.len() != sp || pads.len() != 2 * sp {
            return Err(Error::invalid(
                OP,
                format!(
                    "kernel {kernel:?}, strides {strides:?}, pads {pads:?}, dilations {dilations:?} do not fit {sp} spatial axes"
                ),
            ));
        }
        if kernel.contains(&0) || strides.contains(&0) || dilations.contains(&0) {
            return Err(Error::invalid(OP, "kernel, strides and dilations must be positive"));
        }
        let mut out = Vec::with_capacity(sp);
        for i in 0..sp {
            let (n, k, s, d, pb, pe) = (spatial[i], kernel[i], strides[i], dilations[i], pads[i], pads[sp + i]);
            let span = (k - 1) * d + 1;
            let padded = n + pb + pe;
            if span > padded {
                return Err(Error::shape(
                    OP,
                    format!(
                        "window of size {k} (dilation {d}) does not fit the input of size {n} with padding {pb}+{pe}"
                    ),
                ));
            }
            let num = padded - span;
            let mut o = if ceil_mode { num.div_ceil(s) } else { num / s } + 1;
            // The last window must start inside the input or the leading padding.
            if ceil_mode && (o - 1) * s >= n + pb {
                o -= 1;
            }
            out.push(o);
        }
        let cells: usize = out.iter().product();
        let k: usize = kernel.iter().product();
        let too_big = cells.checked_mul(k).is_none_or(|x| x > 1 << 28);
        if too_big {
            return Err(Error::shape(
                OP,
                format!("{cells} windows of {k} elements are too many"),
            ));
        }
        let mut src = Vec::with_capacity(cells * k);
        let mut padded_count = Vec::with_capacity(cells);
        let mut cell = vec![0usize; sp];
        for _ in 0..cells {
            let mut off = vec![0usize; sp];
            let mut count = 0;
            for _ in 0..k {
                let mut flat = 0usize;
                let mut inside = true;
                let mut in_padded = true;
                for i in 0..sp {
                    let pos = (cell[i] * strides[i] + off[i] * dilations[i]) as isize - pads[i] as isize;
                    in_padded &= pos < (spatial[i] + pads[sp + i]) as isize;
                    inside &= pos >= 0 && (pos as usize) < spatial[i];
                    flat = flat * spatial[i] + pos.max(0) as usize;
                }
                count += in_padded as usize;
                src.push(inside.then_some(flat));
                next_index(&mut off, kernel);
            }
            padded_count.push(count);
            next_index(&mut cell, &out);
        }
        Ok(Self {
            out,
            k,
            src,
            padded_count,
        })
    }

    /// Number of output cells.
    pub fn cells(&self) -> usize {
        self.padded_count.len()
    }

    /// Per cell: the number of input elements in the window.
    pub fn input_count(&self) -> Vec<usize> {
        self.src.chunks(self.k).map(|w| w.iter().flatten().count()).collect()
    }

    /// The window elements of each `[plane]` slice: `planes × cells × k` values, `fill` at padding.
    pub fn gather<T: Copy>(&self, data: &[T], plane: usize, fill: T) -> Vec<T> {
        let planes = if plane == 0 { 0 } else { data.len() / plane };
        let mut out = Vec::with_capacity(planes * self.src.len());
        for p in 0..planes {
            let x = &data[p * plane..(p + 1) * plane];
            out.extend(self.src.iter().map(|s| s.map_or(fill, |i| x[i])));
        }
        out
    }
}

/// Advances a row-major multi-index within `dims`.
fn next_index(idx: &mut [usize], dims: &[usize]) {
    for i in (0..idx.len()).rev() {
        idx[i] += 1;
        if idx[i] < dims[i] {
            return;
        }
        idx[i] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilated_asymmetric_windows() {
        // 1-D: n = 5, k = 2, dilation 2, pads 1 + 0: windows start at −1, 0, 1, 2.
        let w = Windows::new(&[5], &[2], &[1], &[1, 0], &[2], false).unwrap();
        assert_eq!(w.out, vec![4]);
        assert_eq!(
            w.src,
            vec![None, Some(1), Some(0), Some(2), Some(1), Some(3), Some(2), Some(4)]
        );
        assert_eq!(w.padded_count, vec![2, 2, 2, 2]);
        // ceil_mode adds a window past the end that counts only what lies in the padded input.
        let w = Windows::new(&[5], &[2], &[2], &[0, 0], &[1], true).unwrap();
        assert_eq!(w.out, vec![3]);
        assert_eq!(w.src[4..], [Some(4), None]);
        assert_eq!(w.padded_count, vec![2, 2, 1]);
        assert_eq!(w.input_count(), vec![2, 2, 1]);
        assert_eq!(w.gather(&[1, 2, 3, 4, 5], 5, 0), vec![1, 2, 3, 4, 5, 0]);
        assert!(Windows::new(&[2], &[4], &[1], &[0, 0], &[1], false).is_err());
    }
}
