//! The plaintext backend: every op family on f32 tensors. It is the reference backend, and the
//! evaluator of public values inside private models (`nn::exec` runs all-public nodes here).

use super::graph::{Const, ReduceKind};
use super::ops::{
    ActivationOps, Backend, Cmp, ConvAttrs, GemmAttrs, LinearOps, PadMode, PoolAttrs, PoolOps, ProductOps, ReduceOps,
    V, Weight,
};
use super::tensor::F32Tensor;
use super::value::Value;
use super::window::{Windows, pool_f32};
use crate::error::{Error, Result};
use std::borrow::Cow;

pub use super::ops::shape::{axis_of, reduce_layout, split_sizes};
pub use super::tensor::broadcast_shape;
pub use super::value::ints;

/// The plaintext backend: backend tensors are f32 tensors.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainBackend;

/// An f32 operand, borrowed when it is backend data or a public f32 constant.
fn f32_of(v: &V<PlainBackend>) -> Result<Cow<'_, F32Tensor>> {
    match v {
        Value::Data(t) | Value::Public(Const::F32(t)) => Ok(Cow::Borrowed(t)),
        other => Ok(Cow::Owned(other.public_f32("an operand")?)),
    }
}

impl Backend for PlainBackend {
    type T = F32Tensor;

    fn shape_of(&self, x: &F32Tensor) -> Vec<usize> {
        x.shape().to_vec()
    }

    fn lift(&self, c: &F32Tensor) -> Result<F32Tensor> {
        Ok(c.clone())
    }

    fn plaintext<'a>(&self, x: &'a F32Tensor) -> Option<&'a F32Tensor> {
        Some(x)
    }
}

impl LinearOps for PlainBackend {
    fn reshape(&self, x: &F32Tensor, shape: &[usize]) -> Result<F32Tensor> {
        x.reshape_exact(shape)
    }

    fn transpose(&self, x: &F32Tensor, perm: &[usize]) -> Result<F32Tensor> {
        x.transpose(perm)
    }

    fn slice(&self, x: &F32Tensor, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<F32Tensor> {
        x.slice(starts, ends, axes, steps)
    }

    fn pad(&self, x: &F32Tensor, pads: &[i64], mode: PadMode<f32>) -> Result<F32Tensor> {
        x.pad_mode(pads, mode)
    }

    fn gather(&self, x: &F32Tensor, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<F32Tensor> {
        x.gather(axis, indices, indices_shape)
    }

    fn expand(&self, x: &F32Tensor, shape: &[usize]) -> Result<F32Tensor> {
        x.broadcast_to(shape)
    }

    fn concat(&self, parts: &[&F32Tensor], axis: i64) -> Result<F32Tensor> {
        F32Tensor::concat(parts, axis)
    }

    fn add(&self, a: &F32Tensor, b: &F32Tensor) -> Result<F32Tensor> {
        a.add(b)
    }

    fn sub(&self, a: &F32Tensor, b: &F32Tensor) -> Result<F32Tensor> {
        a.sub(b)
    }

    fn neg(&self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.neg())
    }

    fn add_public(&self, x: &F32Tensor, c: &F32Tensor) -> Result<F32Tensor> {
        x.add(c)
    }

    fn add_values(&self, a: &V<Self>, b: &V<Self>, subtract: bool) -> Result<F32Tensor> {
        let (a, b) = (f32_of(a)?, f32_of(b)?);
        if subtract { a.sub(&b) } else { a.add(&b) }
    }

    fn scale_sum(&mut self, terms: &[(&F32Tensor, f64)]) -> Result<F32Tensor> {
        let mut acc: Option<F32Tensor> = None;
        for (x, c) in terms {
            let y = x.scale(*c as f32);
            acc = Some(match acc {
                None => y,
                Some(a) => a.add(&y)?,
            });
        }
        acc.ok_or_else(|| Error::invalid("scale_sum", "no terms"))
    }

    fn scale(&mut self, x: &F32Tensor, c: f64) -> Result<F32Tensor> {
        Ok(x.scale(c as f32))
    }
}

impl ActivationOps for PlainBackend {
    fn relu(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.relu())
    }

    fn sigmoid(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.sigmoid())
    }

    fn tanh(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.tanh())
    }

    fn exp(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.exp())
    }

    fn log(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.log())
    }

    fn sqrt(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.sqrt())
    }

    fn reciprocal(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.reciprocal())
    }

    fn erf(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.erf())
    }

    fn gelu(&mut self, x: &F32Tensor, tanh: bool) -> Result<F32Tensor> {
        Ok(x.gelu(tanh))
    }

    fn abs(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.map(f32::abs))
    }

    fn sign(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.map(|v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        }))
    }

    fn leaky_relu(&mut self, x: &F32Tensor, alpha: f32) -> Result<F32Tensor> {
        Ok(x.map(|v| if v < 0.0 { alpha * v } else { v }))
    }

    fn hard_sigmoid(&mut self, x: &F32Tensor, alpha: f32, beta: f32) -> Result<F32Tensor> {
        Ok(x.map(|v| (alpha * v + beta).clamp(0.0, 1.0)))
    }

    fn clip(&mut self, x: &F32Tensor, min: Option<f32>, max: Option<f32>) -> Result<F32Tensor> {
        let (lo, hi) = (min.unwrap_or(f32::NEG_INFINITY), max.unwrap_or(f32::INFINITY));
        Ok(x.map(|v| v.max(lo).min(hi)))
    }

    fn pow(&mut self, x: &F32Tensor, e: &F32Tensor) -> Result<F32Tensor> {
        x.pow(e)
    }

    fn compare(&mut self, a: &V<Self>, b: &V<Self>, cmp: Cmp) -> Result<F32Tensor> {
        let f: fn(f32, f32) -> bool = match cmp {
            Cmp::Equal => |a, b| a == b,
            Cmp::Greater => |a, b| a > b,
            Cmp::Less => |a, b| a < b,
            Cmp::GreaterOrEqual => |a, b| a >= b,
            Cmp::LessOrEqual => |a, b| a <= b,
        };
        f32_of(a)?.zip_with(&*f32_of(b)?, "compare", |a, b| f(a, b) as u8 as f32)
    }

    fn max(&mut self, a: &V<Self>, b: &V<Self>) -> Result<F32Tensor> {
        f32_of(a)?.zip_with(&*f32_of(b)?, "max", |a, b| if a >= b || a.is_nan() { a } else { b })
    }

    fn min(&mut self, a: &V<Self>, b: &V<Self>) -> Result<F32Tensor> {
        f32_of(a)?.zip_with(&*f32_of(b)?, "min", |a, b| if a <= b || a.is_nan() { a } else { b })
    }

    fn select(&mut self, c: &V<Self>, x: &V<Self>, y: &V<Self>) -> Result<F32Tensor> {
        let (c, x, y) = (f32_of(c)?, f32_of(x)?, f32_of(y)?);
        let shape = broadcast_shape(c.shape(), x.shape()).and_then(|s| broadcast_shape(&s, y.shape()))?;
        let (c, x, y) = (
            c.broadcast_to(&shape)?,
            x.broadcast_to(&shape)?,
            y.broadcast_to(&shape)?,
        );
        let data = c
            .data()
            .iter()
            .zip(x.data().iter().zip(y.data()))
            .map(|(&c, (&x, &y))| if c != 0.0 { x } else { y })
            .collect();
        F32Tensor::from_vec(&shape, data)
    }
}

impl ProductOps for PlainBackend {
    fn matmul(&mut self, a: &V<Self>, b: Weight<'_, F32Tensor>) -> Result<F32Tensor> {
        f32_of(a)?.matmul(&*f32_of(b.value)?)
    }

    fn gemm(&mut self, a: &V<Self>, b: Weight<'_, F32Tensor>, c: Option<&V<Self>>, g: GemmAttrs) -> Result<F32Tensor> {
        let c = c.map(f32_of).transpose()?;
        f32_of(a)?.gemm(&*f32_of(b.value)?, c.as_deref(), g.alpha, g.beta, g.trans_a, g.trans_b)
    }

    fn conv(
        &mut self,
        x: &F32Tensor,
        w: Weight<'_, F32Tensor>,
        bias: Option<&V<Self>>,
        c: &ConvAttrs,
    ) -> Result<F32Tensor> {
        let bias = bias.map(f32_of).transpose()?;
        x.conv(
            &*f32_of(w.value)?,
            bias.as_deref(),
            &c.strides,
            &c.pads,
            &c.dilations,
            c.group,
        )
    }

    fn embed(&mut self, table: Weight<'_, F32Tensor>, onehot: &F32Tensor) -> Result<F32Tensor> {
        onehot.matmul(&*f32_of(table.value)?)
    }

    fn mul(&mut self, a: &V<Self>, b: &V<Self>) -> Result<F32Tensor> {
        f32_of(a)?.mul(&*f32_of(b)?)
    }

    fn div(&mut self, a: &V<Self>, b: &V<Self>) -> Result<F32Tensor> {
        f32_of(a)?.div(&*f32_of(b)?)
    }
}

impl ReduceOps for PlainBackend {
    fn reduce_sum(&mut self, x: &F32Tensor, axes: &[i64], keepdims: bool) -> Result<F32Tensor> {
        x.reduce_sum(axes, keepdims)
    }

    fn reduce_mean(&mut self, x: &F32Tensor, axes: &[i64], keepdims: bool) -> Result<F32Tensor> {
        x.reduce_mean(axes, keepdims)
    }

    fn reduce(&mut self, x: &F32Tensor, kind: ReduceKind, axes: &[i64], keepdims: bool) -> Result<F32Tensor> {
        reduce_rows(x, axes, keepdims, |row| match kind {
            ReduceKind::Max => row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
            ReduceKind::Min => row.iter().fold(f32::INFINITY, |m, &v| m.min(v)),
            ReduceKind::SumSquare => row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() as f32,
            ReduceKind::L1 => row.iter().map(|&v| (v as f64).abs()).sum::<f64>() as f32,
            ReduceKind::L2 => row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt() as f32,
        })
    }

    fn argmax(&mut self, x: &F32Tensor, axis: i64, keepdims: bool, last: bool, min: bool) -> Result<F32Tensor> {
        let better = |v: f32, best: f32| if min { v < best } else { v > best };
        reduce_rows(x, &[axis], keepdims, |row| {
            let mut at = 0;
            for (j, &v) in row.iter().enumerate().skip(1) {
                if better(v, row[at]) || (last && v == row[at]) {
                    at = j;
                }
            }
            at as f32
        })
    }

    fn softmax(&mut self, x: &F32Tensor, axis: i64) -> Result<F32Tensor> {
        x.softmax(axis)
    }

    fn log_softmax(&mut self, x: &F32Tensor, axis: i64) -> Result<F32Tensor> {
        x.log_softmax(axis)
    }

    fn layer_norm(
        &mut self,
        x: &F32Tensor,
        axis: i64,
        epsilon: f32,
        scale: Option<&V<Self>>,
        bias: Option<&V<Self>>,
        stats: bool,
    ) -> Result<Vec<F32Tensor>> {
        let scale = match scale {
            Some(s) => f32_of(s)?,
            None => Cow::Owned(F32Tensor::full(&[*x.shape().last().unwrap_or(&1)], 1.0)),
        };
        let bias = bias.map(f32_of).transpose()?;
        let y = x.layer_norm(axis, epsilon, &scale, bias.as_deref())?;
        if !stats {
            return Ok(vec![y]);
        }
        let (mean, inv) = x.layer_norm_moments(axis, epsilon)?;
        Ok(vec![y, mean, inv])
    }

    fn batch_norm(
        &mut self,
        x: &F32Tensor,
        scale: &V<Self>,
        bias: &V<Self>,
        mean: &V<Self>,
        var: &V<Self>,
        epsilon: f32,
    ) -> Result<F32Tensor> {
        x.batch_norm(
            &*f32_of(scale)?,
            &*f32_of(bias)?,
            &*f32_of(mean)?,
            &*f32_of(var)?,
            epsilon,
        )
    }
}

impl PoolOps for PlainBackend {
    fn max_pool(&mut self, x: &F32Tensor, a: &PoolAttrs) -> Result<F32Tensor> {
        if fast_pool(x, &a.dilations) {
            return x.max_pool(&a.kernel, &a.strides, &a.pads, a.ceil_mode);
        }
        let w = windows(x, a)?;
        pool_f32(x, &w, true, false)
    }

    fn avg_pool(&mut self, x: &F32Tensor, a: &PoolAttrs, count_include_pad: bool) -> Result<F32Tensor> {
        if fast_pool(x, &a.dilations) {
            return x.avg_pool(&a.kernel, &a.strides, &a.pads, a.ceil_mode, count_include_pad);
        }
        let w = windows(x, a)?;
        pool_f32(x, &w, false, count_include_pad)
    }

    fn global_avg_pool(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        x.global_avg_pool()
    }
}

/// The general pooling windows of `x` under `a`.
fn windows(x: &F32Tensor, a: &PoolAttrs) -> Result<Windows> {
    Windows::new(
        &x.shape()[2.min(x.rank())..],
        &a.kernel,
        &a.strides,
        &a.pads,
        &a.dilations,
        a.ceil_mode,
    )
}

/// Whether the 1-D/2-D pooling kernels of [`F32Tensor`] apply (no dilation); otherwise the
/// general [`Windows`] path runs.
fn fast_pool(x: &F32Tensor, dilations: &[usize]) -> bool {
    matches!(x.rank(), 3 | 4) && dilations.iter().all(|&d| d == 1)
}

/// Reduces axes `axes` (all when empty; negative allowed) with `f` over each group of elements:
/// the reduced axes are moved last, so each group is a contiguous row.
pub fn reduce_rows(x: &F32Tensor, axes: &[i64], keepdims: bool, f: impl Fn(&[f32]) -> f32) -> Result<F32Tensor> {
    let (perm, rows, k, out_shape) = reduce_layout(x.shape(), axes, keepdims)?;
    let t = x.transpose(&perm)?;
    let data: Vec<f32> = if k == 0 {
        vec![f(&[]); rows]
    } else {
        t.data().chunks_exact(k).map(f).collect()
    };
    F32Tensor::from_vec(&out_shape, data)
}
