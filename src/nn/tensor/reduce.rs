//! Reductions and normalisations of [`F32Tensor`]: softmax, mean/sum over axes, layer and batch
//! normalisation.

use super::{F32Tensor, norm_axes, norm_axis};
use crate::error::{Error, Result};

impl F32Tensor {
    // ----- reductions and normalisation -----

    /// `(outer, len, inner)` around `axis`.
    fn split_at_axis(&self, ax: usize) -> (usize, usize, usize) {
        (
            self.shape[..ax].iter().product(),
            self.shape[ax],
            self.shape[ax + 1..].iter().product(),
        )
    }

    fn softmax_impl(&self, op: &'static str, axis: i64, log: bool) -> Result<Self> {
        let ax = norm_axis(op, axis, self.rank())?;
        let (outer, len, inner) = self.split_at_axis(ax);
        let mut data = self.data.clone();
        let mut line = vec![0.0f32; len];
        for o in 0..outer {
            let block = &mut data[o * len * inner..(o + 1) * len * inner];
            for j in 0..inner {
                for (t, v) in line.iter_mut().enumerate() {
                    *v = block[t * inner + j];
                }
                let m = line.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let s: f32 = line.iter().map(|&x| (x - m).exp()).sum();
                if log {
                    let ls = s.ln();
                    for (t, &v) in line.iter().enumerate() {
                        block[t * inner + j] = (v - m) - ls;
                    }
                } else {
                    for (t, &v) in line.iter().enumerate() {
                        block[t * inner + j] = (v - m).exp() / s;
                    }
                }
            }
        }
        Ok(Self {
            shape: self.shape.clone(),
            data,
        })
    }

    /// ONNX Softmax (opset ≥ 13) along `axis`, stabilised by subtracting the maximum.
    pub fn softmax(&self, axis: i64) -> Result<Self> {
        self.softmax_impl("softmax", axis, false)
    }

    /// ONNX LogSoftmax along `axis`: `x − max − log Σ e^(x − max)`.
    pub fn log_softmax(&self, axis: i64) -> Result<Self> {
        self.softmax_impl("log_softmax", axis, true)
    }

    fn reduce(&self, op: &'static str, axes: &[i64], keepdims: bool, mean: bool) -> Result<Self> {
        let r = self.rank();
        let axes = norm_axes(op, axes, r)?;
        let reduced: Vec<bool> = (0..r).map(|i| axes.is_empty() || axes.contains(&i)).collect();
        let keep_shape: Vec<usize> = (0..r).map(|i| if reduced[i] { 1 } else { self.shape[i] }).collect();
        let count: usize = (0..r).filter(|&i| reduced[i]).map(|i| self.shape[i]).product();
        let ks = crate::dense::strides(&keep_shape);
        let os: Vec<usize> = (0..r).map(|i| if reduced[i] { 0 } else { ks[i] }).collect();
        let nout: usize = keep_shape.iter().product();
        let mut acc = vec![0.0f64; nout];
        if !self.data.is_empty() {
            if r == 0 {
                acc[0] = self.data[0] as f64;
            } else {
                let inner = self.shape[r - 1];
                let oi = os[r - 1];
                let mut idx = vec![0usize; r - 1];
                let mut off = 0usize;
                'outer: for row in self.data.chunks_exact(inner) {
                    if oi == 0 {
                        acc[off] += row.iter().map(|&x| x as f64).sum::<f64>();
                    } else {
                        for (a, &x) in acc[off..off + inner].iter_mut().zip(row) {
                            *a += x as f64;
                        }
                    }
                    let mut k = r - 1;
                    loop {
                        if k == 0 {
                            break 'outer;
                        }
                        k -= 1;
                        idx[k] += 1;
                        off += os[k];
                        if idx[k] < self.shape[k] {
                            break;
                        }
                        off -= os[k] * self.shape[k];
                        idx[k] = 0;
                    }
                }
            }
        }
        let data = acc
            .into_iter()
            .map(|a| if mean { (a / count as f64) as f32 } else { a as f32 })
            .collect();
        let shape = if keepdims {
            keep_shape
        } else {
            (0..r).filter(|&i| !reduced[i]).map(|i| self.shape[i]).collect()
        };
        Ok(Self { shape, data })
    }

    /// ONNX ReduceMean over `axes` (all axes when empty; negative allowed).
    pub fn reduce_mean(&self, axes: &[i64], keepdims: bool) -> Result<Self> {
        self.reduce("reduce_mean", axes, keepdims, true)
    }

    /// ONNX ReduceSum over `axes` (all axes when empty; negative allowed).
    pub fn reduce_sum(&self, axes: &[i64], keepdims: bool) -> Result<Self> {
        self.reduce("reduce_sum", axes, keepdims, false)
    }

    /// ONNX LayerNormalization: normalises over axes `axis..rank` (biased variance), then
    /// multiplies by `scale` and adds `bias`, both broadcast to the input shape.
    pub fn layer_norm(&self, axis: i64, eps: f32, scale: &Self, bias: Option<&Self>) -> Result<Self> {
        const OP: &str = "layer_norm";
        let ax = norm_axis(OP, axis, self.rank())?;
        let inner: usize = self.shape[ax..].iter().product();
        let mut data = self.data.clone();
        if inner > 0 {
            for row in data.chunks_exact_mut(inner) {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / inner as f64;
                let var = row
                    .iter()
                    .map(|&x| {
                        let d = x as f64 - mean;
                        d * d
                    })
                    .sum::<f64>()
                    / inner as f64;
                let inv = 1.0 / (var + eps as f64).sqrt();
                for x in row.iter_mut() {
                    *x = ((*x as f64 - mean) * inv) as f32;
                }
            }
        }
        let y = Self {
            shape: self.shape.clone(),
            data,
        };
        let mut y = y.zip_with(scale, OP, |a, b| a * b)?;
        if let Some(b) = bias {
            y = y.zip_with(b, OP, |a, b| a + b)?;
        }
        if y.shape != self.shape {
            return Err(Error::shape(
                OP,
                format!(
                    "scale {:?} / bias {:?} do not broadcast to the input {:?}",
                    scale.shape,
                    bias.map(|b| b.shape.clone()),
                    self.shape
                ),
            ));
        }
        Ok(y)
    }

    /// The mean and 1/√(var + eps) that [`layer_norm`](Self::layer_norm) uses, shaped like the
    /// input with axes `axis..` of size 1 (ONNX LayerNormalization's optional outputs).
    pub fn layer_norm_moments(&self, axis: i64, eps: f32) -> Result<(Self, Self)> {
        let ax = norm_axis("layer_norm", axis, self.rank())?;
        let inner: usize = self.shape[ax..].iter().product();
        let mut shape = self.shape[..ax].to_vec();
        shape.resize(self.rank(), 1);
        let (mut means, mut invs) = (Vec::new(), Vec::new());
        if inner > 0 {
            for row in self.data.chunks_exact(inner) {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / inner as f64;
                let var = row.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / inner as f64;
                means.push(mean as f32);
                invs.push((1.0 / (var + eps as f64).sqrt()) as f32);
            }
        }
        Ok((Self::from_vec(&shape, means)?, Self::from_vec(&shape, invs)?))
    }

    /// Inference BatchNormalization over channel axis 1:
    /// `(x − mean) / √(var + eps) · scale + bias`, every parameter of shape `[C]`.
    pub fn batch_norm(&self, scale: &Self, bias: &Self, mean: &Self, var: &Self, eps: f32) -> Result<Self> {
        const OP: &str = "batch_norm";
        if self.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!("input {:?} must have a channel axis", self.shape),
            ));
        }
        let c = self.shape[1];
        for (name, p) in [("scale", scale), ("bias", bias), ("mean", mean), ("var", var)] {
            if p.shape != [c] {
                return Err(Error::shape(
                    OP,
                    format!("{name} {:?} must be [{c}] for input {:?}", p.shape, self.shape),
                ));
            }
        }
        let plane: usize = self.shape[2..].iter().product();
        let mul: Vec<f32> = (0..c).map(|i| scale.data[i] / (var.data[i] + eps).sqrt()).collect();
        let add: Vec<f32> = (0..c).map(|i| bias.data[i] - mean.data[i] * mul[i]).collect();
        let mut data = self.data.clone();
        if plane > 0 {
            for (p, block) in data.chunks_exact_mut(plane).enumerate() {
                let ch = p % c;
                for x in block {
                    *x = *x * mul[ch] + add[ch];
                }
            }
        }
        Ok(Self {
            shape: self.shape.clone(),
            data,
        })
    }
}
