//! Reductions and normalisation on the recording backend, with their backward rules (g the
//! output gradient, y the output):
//! * sum over axes: g broadcast back (means are the default body: a sum and a public scaling);
//! * softmax: y·(g − Σ y·g); log-softmax: g − e^y·Σ g;
//! * layer norm, and batch norm in training (batch statistics): the normalised x̂ is recorded
//!   with dx = inv·(d − mean d − x̂·mean(d·x̂)) for its gradient d, and the affine part
//!   x̂·γ + β is recorded as a product and a sum, which gives dγ = Σ g·x̂ and dβ = Σ g.
//!   Batch norm in training also hands back its running statistics, PyTorch style (momentum
//!   0.1, unbiased variance).
//!
//! Max/min/L1/L2 reductions, argmax and batch norm with running statistics have no rule.

use super::super::AutodiffBackend;
use super::super::ctx::Ctx;
use super::super::record::{Autodiff, Tracked, id_of, inner};
use super::scalar;
use crate::error::{Error, Result};
use crate::nn::graph::{Const, Op, ReduceKind};
use crate::nn::ops::{Backend, LinearOps, ProductOps, ReduceOps, V};
use crate::nn::value::Value;

type T<B> = Tracked<<B as Backend>::T>;

/// `[1, C, 1, …]` for an input of shape `xs`.
fn channel_shape(xs: &[usize]) -> Vec<usize> {
    let mut s = vec![1; xs.len()];
    s[1] = xs[1];
    s
}

/// (x̂, inv, mean, var) of a normalisation.
type Stats<T> = (T, T, T, T);

/// x̂ = (x − mean)·inv, inv = 1/√(var + eps) over `axes` (kept as size 1): (x̂, inv, mean, var).
fn normalize<B: AutodiffBackend>(cx: &mut Ctx<'_, B>, x: &B::T, axes: Vec<i64>, eps: f32) -> Result<Stats<B::T>> {
    let xv = Value::Data(x.clone());
    let mean = cx.t(
        Op::ReduceMean {
            axes: axes.clone(),
            keepdims: true,
        },
        &[&xv],
    )?;
    let d = cx.op(Op::Sub, &[&xv, &Value::Data(mean.clone())])?;
    let sq = cx.op(Op::Pow, &[&d, &scalar(2.0)])?;
    let var = cx.t(Op::ReduceMean { axes, keepdims: true }, &[&sq])?;
    let ve = cx.t(Op::Add, &[&Value::Data(var.clone()), &scalar(eps)])?;
    let inv = cx.b.inv_sqrt(&ve)?;
    let xhat = cx.mul(&d, &Value::Data(inv.clone()))?;
    Ok((xhat, inv, mean, var))
}

impl<'t, B: AutodiffBackend + 't> Autodiff<'_, 't, B> {
    /// Records x̂ of a normalisation over `axes` with its closed-form backward; returns
    /// (x̂, inv, mean, var).
    fn normalized(&mut self, x: &T<B>, axes: Vec<i64>, eps: f32) -> Result<(T<B>, B::T, B::T, B::T)> {
        let (xhat, inv, mean, var) = normalize(&mut self.cx(), &x.t, axes.clone(), eps)?;
        let (xh, iv) = (Value::Data(xhat.clone()), Value::Data(inv.clone()));
        let tracked = self.record(xhat, vec![x.id], move |cx, d, _| {
            let dv = Value::Data(d);
            let mean = |cx: &mut Ctx<'_, B>, v: &V<B>| {
                cx.op(
                    Op::ReduceMean {
                        axes: axes.clone(),
                        keepdims: true,
                    },
                    &[v],
                )
            };
            let m1 = mean(cx, &dv)?;
            let dx = cx.op(Op::Mul, &[&dv, &xh])?;
            let m2 = mean(cx, &dx)?;
            let xm = cx.op(Op::Mul, &[&xh, &m2])?;
            let t = cx.op(Op::Sub, &[&dv, &m1])?;
            let t = cx.op(Op::Sub, &[&t, &xm])?;
            Ok(vec![Some(cx.mul(&t, &iv)?)])
        });
        Ok((tracked, inv, mean, var))
    }

    /// A value reshaped (recorded when tracked).
    fn reshaped(&self, v: &V<Self>, shape: &[usize]) -> Result<V<Self>> {
        Ok(match v {
            Value::Data(t) => Value::Data(self.reshape(t, shape)?),
            other => Value::Public(Const::F32(other.public_f32("a value")?.reshape_exact(shape)?)),
        })
    }
}

impl<'t, B: AutodiffBackend + 't> ReduceOps for Autodiff<'_, 't, B> {
    fn reduce_sum(&mut self, x: &T<B>, axes: &[i64], keepdims: bool) -> Result<T<B>> {
        let y = self.b.reduce_sum(&x.t, axes, keepdims)?;
        let xs = self.b.shape_of(&x.t);
        let r = xs.len() as i64;
        let axes: Vec<usize> = if axes.is_empty() {
            (0..xs.len()).collect()
        } else {
            axes.iter().map(|&a| (if a < 0 { a + r } else { a }) as usize).collect()
        };
        let keep: Vec<usize> = (0..xs.len())
            .map(|i| if axes.contains(&i) { 1 } else { xs[i] })
            .collect();
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            let gk = cx.b.reshape(&g, &keep)?;
            Ok(vec![Some(cx.expand(gk, &xs)?)])
        }))
    }

    fn reduce(&mut self, x: &T<B>, kind: ReduceKind, axes: &[i64], keepdims: bool) -> Result<T<B>> {
        let y = self.b.reduce(&x.t, kind, axes, keepdims)?;
        Ok(self.record_no_grad(y, vec![x.id], "Reduce"))
    }

    fn argmax(&mut self, x: &T<B>, axis: i64, keepdims: bool, last: bool, min: bool) -> Result<T<B>> {
        let y = self.b.argmax(&x.t, axis, keepdims, last, min)?;
        Ok(self.record_no_grad(y, vec![x.id], "ArgMax"))
    }

    fn softmax(&mut self, x: &T<B>, axis: i64) -> Result<T<B>> {
        let y = self.b.softmax(&x.t, axis)?;
        let yv = Value::Data(y.clone());
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            let gv = Value::Data(g);
            let yg = cx.op(Op::Mul, &[&yv, &gv])?;
            let s = cx.op(
                Op::ReduceSum {
                    axes: vec![axis],
                    keepdims: true,
                },
                &[&yg],
            )?;
            let d = cx.op(Op::Sub, &[&gv, &s])?;
            Ok(vec![Some(cx.mul(&yv, &d)?)])
        }))
    }

    fn log_softmax(&mut self, x: &T<B>, axis: i64) -> Result<T<B>> {
        let y = self.b.log_softmax(&x.t, axis)?;
        let yv = Value::Data(y.clone());
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            let gv = Value::Data(g);
            let p = cx.op(Op::Exp, &[&yv])?;
            let s = cx.op(
                Op::ReduceSum {
                    axes: vec![axis],
                    keepdims: true,
                },
                &[&gv],
            )?;
            let ps = cx.op(Op::Mul, &[&p, &s])?;
            Ok(vec![Some(cx.t(Op::Sub, &[&gv, &ps])?)])
        }))
    }

    fn layer_norm(
        &mut self,
        x: &T<B>,
        axis: i64,
        epsilon: f32,
        scale: Option<&V<Self>>,
        bias: Option<&V<Self>>,
        stats: bool,
    ) -> Result<Vec<T<B>>> {
        let tracked = x.id.is_some() || scale.and_then(id_of).is_some() || bias.and_then(id_of).is_some();
        if !tracked {
            let (s, b) = (scale.map(inner), bias.map(inner));
            let ys = self.b.layer_norm(&x.t, axis, epsilon, s.as_ref(), b.as_ref(), stats)?;
            return Ok(ys.into_iter().map(|t| Tracked { t, id: None }).collect());
        }
        let r = self.b.shape_of(&x.t).len() as i64;
        let ax = if axis < 0 { axis + r } else { axis };
        if ax < 0 || ax >= r {
            return Err(Error::invalid(
                "op LayerNormalization",
                format!("axis {axis} is out of range"),
            ));
        }
        let (xhat, inv, mean, _) = self.normalized(x, (ax..r).collect(), epsilon)?;
        let mut y = Value::Data(xhat);
        if let Some(g) = scale {
            y = Value::Data(self.mul(&y, g)?);
        }
        if let Some(b) = bias {
            y = Value::Data(self.add_values(&y, b, false)?);
        }
        let Value::Data(y) = y else { unreachable!("x̂ is data") };
        let mut out = vec![y];
        if stats {
            out.push(Tracked { t: mean, id: None });
            out.push(Tracked { t: inv, id: None });
        }
        Ok(out)
    }

    fn batch_norm(
        &mut self,
        x: &T<B>,
        scale: &V<Self>,
        bias: &V<Self>,
        mean: &V<Self>,
        var: &V<Self>,
        epsilon: f32,
    ) -> Result<T<B>> {
        if !self.train {
            let y = self
                .b
                .batch_norm(&x.t, &inner(scale), &inner(bias), &inner(mean), &inner(var), epsilon)?;
            let parents = vec![x.id, id_of(scale), id_of(bias)];
            return Ok(self.record(y, parents, |_, _, _| {
                Err(Error::invalid(
                    "op BatchNormalization",
                    "is differentiated in training mode only (batch statistics)",
                ))
            }));
        }
        let xs = self.b.shape_of(&x.t);
        if xs.len() < 2 {
            return Err(Error::invalid(
                "op BatchNormalization",
                "the input needs a channel axis",
            ));
        }
        let mut axes: Vec<i64> = vec![0];
        axes.extend(2..xs.len() as i64);
        let (xhat, _, batch_mean, batch_var) = self.normalized(x, axes, epsilon)?;
        let cshape = channel_shape(&xs);
        let g = self.reshaped(scale, &cshape)?;
        let b = self.reshaped(bias, &cshape)?;
        let y = self.mul(&Value::Data(xhat), &g)?;
        let y = self.add_values(&Value::Data(y), &b, false)?;
        // Running statistics, PyTorch style: momentum 0.1, unbiased variance.
        let count = (xs.iter().product::<usize>() / xs[1]) as f64;
        let unbiased = count / (count - 1.0).max(1.0);
        let mut cx = self.cx();
        let c = [xs[1]];
        let mut stats = Vec::with_capacity(2);
        for (old, new, f) in [(mean, batch_mean, 1.0), (var, batch_var, unbiased)] {
            let new = cx.b.reshape(&new, &c)?;
            let kept = cx.op(Op::Mul, &[&inner(old), &scalar(0.9)])?;
            let step = cx.scale(&new, 0.1 * f)?;
            stats.push(cx.op(Op::Add, &[&kept, &Value::Data(step)])?);
        }
        self.set_stats(stats);
        Ok(y)
    }
}
