//! Reductions and normalisation on shares: sums are local, maxima use the comparison tournament
//! of `func::reduce`, softmax and layer norm the protocols' `func::reduce` versions.
//!
//! Declared cost (the [`CostBackend`] implementation below), n the input size:
//!
//! | op | calls |
//! |---|---|
//! | ReduceSum; ReduceMean | nothing; one truncation of the output |
//! | ReduceMax, ReduceMin | `max_values` over the reduced groups |
//! | ReduceSumSquare; ReduceL1; ReduceL2 | `square`(n); `abs`(n); `square`(n), `sqrt`(rows) |
//! | ArgMax, ArgMin | `argmax` over the reduced axis (the index is a local product, below) |
//! | Softmax, LogSoftmax | `softmax` / `log_softmax` over the rows of the axis |
//! | LayerNormalization | truncations and `square` for the moments, the Newton inverse square root, one product; one more product with a scale |
//! | BatchNormalization | public statistics: one truncation; private: `inv_sqrt`(C), two products of C, one of n |
//!
//! **ArgMax/ArgMin** output int64 indices in ONNX. Privately the one-hot argmax of
//! `reduce::argmax` (integers 0/1 at scale 1) is multiplied locally by the public fixed-point
//! index vector and summed, which gives a fixed-point share of the index with no truncation: it
//! is exact and reveals to the integer itself (ArgMin is the argmax of −x; `select_last_index`
//! reverses the axis first, as ties go to the earlier index).

use super::cost::{Call, CostBackend, any_private, product};
use super::{PrivateBackend, V};
use crate::error::{Error, Result};
use crate::func::{approx, compare, fixed, reduce};
use crate::nn::graph::{Const, ReduceKind};
use crate::nn::ops::shape::{axis_of, reduce_layout};
use crate::nn::ops::{LinearOps, ProductOps, ReduceOps};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};

/// `[1, C, 1, …]` for an input of shape `xs`.
fn channel_shape(xs: &[usize]) -> Result<Vec<usize>> {
    let c = *xs
        .get(1)
        .ok_or_else(|| Error::invalid("BatchNormalization", "input has no channel axis"))?;
    let mut s = vec![1; xs.len()];
    s[1] = c;
    Ok(s)
}

impl<P: Protocol> ReduceOps for PrivateBackend<'_, P> {
    fn reduce_sum(&mut self, x: &P::Share, axes: &[i64], keepdims: bool) -> Result<P::Share> {
        let shape = self.p.shape(x).to_vec();
        let mut axes: Vec<usize> = if axes.is_empty() {
            (0..shape.len()).collect()
        } else {
            axes.iter().map(|&a| axis_of(a, shape.len())).collect::<Result<_>>()?
        };
        axes.sort_unstable();
        let mut y = x.clone();
        for &a in axes.iter().rev() {
            y = self.p.linear(&y, &|t| t.sum_axis(a, keepdims))?;
        }
        Ok(y)
    }

    fn reduce(&mut self, x: &P::Share, kind: ReduceKind, axes: &[i64], keepdims: bool) -> Result<P::Share> {
        let shape = self.p.shape(x).to_vec();
        let (perm, rows, k, out) = reduce_layout(&shape, axes, keepdims)?;
        let t = self.move_data(x, &|t| t.transpose(&perm))?;
        let t = self.p.linear(&t, &|r| r.clone().reshape(&[rows, k]))?;
        let y = match kind {
            ReduceKind::Max => reduce::max_values(self.p, &t, 1)?,
            ReduceKind::Min => {
                let m = reduce::max_values(self.p, &self.p.neg(&t)?, 1)?;
                self.p.neg(&m)?
            }
            ReduceKind::SumSquare | ReduceKind::L2 => {
                let sq = fixed::square(self.p, &t)?;
                let s = self.p.linear(&sq, &|r| r.sum_axis(1, true))?;
                if kind == ReduceKind::L2 {
                    approx::sqrt(self.p, &s)?
                } else {
                    s
                }
            }
            ReduceKind::L1 => {
                let a = compare::abs(self.p, &t)?;
                self.p.linear(&a, &|r| r.sum_axis(1, true))?
            }
        };
        self.p.linear(&y, &|r| r.clone().reshape(&out))
    }

    fn argmax(&mut self, x: &P::Share, axis: i64, keepdims: bool, last: bool, min: bool) -> Result<P::Share> {
        let shape = self.p.shape(x).to_vec();
        let ax = axis_of(axis, shape.len())?;
        let k = shape[ax];
        if k == 0 {
            return Err(Error::invalid("ArgMax", "the axis is empty"));
        }
        let x = if last {
            let a = ax as i64;
            self.move_data(x, &|t| t.slice(&[-1], &[i64::MIN], &[a], &[-1]))?
        } else {
            x.clone()
        };
        let x = if min { self.p.neg(&x)? } else { x };
        let (_, onehot) = reduce::argmax(self.p, &x, ax)?;
        // Σ_j onehot_j · j with j public fixed point: an integer share times a public value,
        // exact and local.
        let (inner, f) = (shape[ax + 1..].iter().product::<usize>(), self.p.frac_bits());
        let index: Vec<u64> = (0..numel(&shape))
            .map(|i| {
                let j = (i / inner) % k;
                (if last { k - 1 - j } else { j } as u64) << f
            })
            .collect();
        let index = RingTensor::from_vec(&shape, index)?;
        self.p.linear(&onehot, &|t| t.mul(&index)?.sum_axis(ax, keepdims))
    }

    fn softmax(&mut self, x: &P::Share, axis: i64) -> Result<P::Share> {
        let ax = axis_of(axis, self.p.shape(x).len())?;
        reduce::softmax(self.p, x, ax)
    }

    fn log_softmax(&mut self, x: &P::Share, axis: i64) -> Result<P::Share> {
        let ax = axis_of(axis, self.p.shape(x).len())?;
        reduce::log_softmax(self.p, x, ax)
    }

    fn layer_norm(
        &mut self,
        x: &P::Share,
        axis: i64,
        epsilon: f32,
        scale: Option<&V<P>>,
        bias: Option<&V<P>>,
        _stats: bool,
    ) -> Result<Vec<P::Share>> {
        // Normalise over axes `axis..` as rows of a [outer, inner] matrix.
        let xs = self.p.shape(x).to_vec();
        let ax = axis_of(axis, xs.len())?;
        let (outer, inner): (usize, usize) = (xs[..ax].iter().product(), xs[ax..].iter().product());
        let rows = self.p.linear(x, &|t| t.clone().reshape(&[outer, inner]))?;
        let (y, mean, inv) = reduce::layer_norm_stats(self.p, &rows, epsilon as f64)?;
        let mut y = self.p.linear(&y, &|t| t.clone().reshape(&xs))?;
        if let Some(g) = scale {
            y = self.mul(&Value::Data(y), g)?;
        }
        if let Some(b) = bias {
            y = self.add_values(&Value::Data(y), b, false)?;
        }
        let mut stat_shape = xs[..ax].to_vec();
        stat_shape.resize(xs.len(), 1);
        let mean = self.p.linear(&mean, &|t| t.clone().reshape(&stat_shape))?;
        let inv = self.p.linear(&inv, &|t| t.clone().reshape(&stat_shape))?;
        Ok(vec![y, mean, inv])
    }

    fn batch_norm(
        &mut self,
        x: &P::Share,
        scale: &V<P>,
        bias: &V<P>,
        mean: &V<P>,
        var: &V<P>,
        epsilon: f32,
    ) -> Result<P::Share> {
        let xs = self.p.shape(x).to_vec();
        let cshape = channel_shape(&xs)?;
        let c = cshape[1];
        let params = [scale, bias, mean, var];
        let (s, t) = if params.iter().all(|v| !v.is_data()) {
            // Public statistics: scale and shift in plaintext.
            let v: Vec<F32Tensor> = params
                .iter()
                .map(|v| v.public_f32("a batch-norm statistic"))
                .collect::<Result<_>>()?;
            if v.iter().any(|t| t.data().len() != c) {
                return Err(Error::invalid(
                    "BatchNormalization",
                    format!("parameters must have {c} values"),
                ));
            }
            let (g, b, m, var) = (&v[0], &v[1], &v[2], &v[3]);
            let scale: Vec<f32> = (0..c).map(|i| g.data()[i] / (var.data()[i] + epsilon).sqrt()).collect();
            let shift: Vec<f32> = (0..c).map(|i| b.data()[i] - m.data()[i] * scale[i]).collect();
            (
                Value::Public(Const::F32(F32Tensor::from_vec(&cshape, scale)?)),
                Value::Public(Const::F32(F32Tensor::from_vec(&cshape, shift)?)),
            )
        } else {
            // Private statistics (a private model): s = γ/√(var + ε), t = β − mean·s.
            let var = self.data(&self.reshape_value(var, &cshape)?)?;
            let var = fixed::add_const(self.p, &var, epsilon as f64)?;
            let inv = approx::inv_sqrt(self.p, &var)?;
            let s = self.mul(&Value::Data(inv), &self.reshape_value(scale, &cshape)?)?;
            let ms = self.mul(&self.reshape_value(mean, &cshape)?, &Value::Data(s.clone()))?;
            let t = self.add_values(&self.reshape_value(bias, &cshape)?, &Value::Data(ms), true)?;
            (Value::Data(s), Value::Data(t))
        };
        let y = self.mul(&Value::Data(x.clone()), &s)?;
        self.add_values(&Value::Data(y), &t, false)
    }
}

impl ReduceOps for CostBackend {
    fn reduce_sum(&mut self, x: &F32Tensor, axes: &[i64], keepdims: bool) -> Result<F32Tensor> {
        PlainBackend.reduce_sum(x, axes, keepdims)
    }

    fn reduce(&mut self, x: &F32Tensor, kind: ReduceKind, axes: &[i64], keepdims: bool) -> Result<F32Tensor> {
        let (_, rows, k, _) = reduce_layout(x.shape(), axes, keepdims)?;
        let n = x.numel();
        match kind {
            ReduceKind::Max | ReduceKind::Min => self.call(Call::MaxValues { rows, k }),
            ReduceKind::SumSquare => self.call(Call::Square(n)),
            ReduceKind::L1 => self.call(Call::Abs(n)),
            ReduceKind::L2 => {
                self.call(Call::Square(n));
                self.call(Call::Sqrt(rows));
            }
        }
        PlainBackend.reduce(x, kind, axes, keepdims)
    }

    fn argmax(&mut self, x: &F32Tensor, axis: i64, keepdims: bool, last: bool, min: bool) -> Result<F32Tensor> {
        let s = x.shape();
        let k = s[axis_of(axis, s.len())?];
        self.call(Call::Argmax {
            rows: x.numel() / k.max(1),
            k,
        });
        PlainBackend.argmax(x, axis, keepdims, last, min)
    }

    fn softmax(&mut self, x: &F32Tensor, axis: i64) -> Result<F32Tensor> {
        let s = x.shape();
        let k = s[axis_of(axis, s.len())?];
        self.call(Call::Softmax {
            rows: x.numel() / k.max(1),
            k,
            log: false,
        });
        Ok(x.clone())
    }

    fn log_softmax(&mut self, x: &F32Tensor, axis: i64) -> Result<F32Tensor> {
        let s = x.shape();
        let k = s[axis_of(axis, s.len())?];
        self.call(Call::Softmax {
            rows: x.numel() / k.max(1),
            k,
            log: true,
        });
        Ok(x.clone())
    }

    fn layer_norm(
        &mut self,
        x: &F32Tensor,
        axis: i64,
        _epsilon: f32,
        scale: Option<&Value<F32Tensor>>,
        _bias: Option<&Value<F32Tensor>>,
        _stats: bool,
    ) -> Result<Vec<F32Tensor>> {
        let s = x.shape();
        let rows: usize = s[..axis_of(axis, s.len())?].iter().product();
        let n = x.numel();
        for c in [
            Call::Trunc(rows),
            Call::Square(n),
            Call::Trunc(rows),
            Call::LayerNormInvSqrt(rows),
            Call::Mul(n),
        ] {
            self.call(c);
        }
        if let Some(g) = scale {
            self.call(product(g.is_data(), n));
        }
        let mut stat = s[..axis_of(axis, s.len())?].to_vec();
        stat.resize(s.len(), 1);
        Ok(vec![x.clone(), F32Tensor::zeros(&stat), F32Tensor::zeros(&stat)])
    }

    fn batch_norm(
        &mut self,
        x: &F32Tensor,
        scale: &Value<F32Tensor>,
        bias: &Value<F32Tensor>,
        mean: &Value<F32Tensor>,
        var: &Value<F32Tensor>,
        _epsilon: f32,
    ) -> Result<F32Tensor> {
        let n = x.numel();
        let c = x.shape().get(1).copied().unwrap_or(1);
        if any_private(&[scale, bias, mean, var]) {
            // s = γ·inv_sqrt(var + ε); t = β − mean·s; y = x·s + t.
            for call in [
                Call::InvSqrt(c),
                product(scale.is_data(), c),
                product(mean.is_data(), c),
                Call::Mul(n),
            ] {
                self.call(call);
            }
        } else {
            self.call(Call::Trunc(n));
        }
        Ok(x.clone())
    }
}
