//! Activations on the recording backend, with their backward rules (g the output gradient, y the
//! output):
//! * ReLU: g·mask, the mask [x > 0] kept from the forward (packed bits on a protocol, so the
//!   backward product needs no conversion);
//! * sigmoid g·y(1 − y); tanh g(1 − y²); exp g·y; log g/x; sqrt g/(2y); reciprocal −g·y²;
//!   erf g·(2/√π)·e^(−x²); GELU g·(Φ(x) + xφ(x)) (erf form) or the derivative of the tanh form;
//! * x^e for a public scalar e: g·e·x^(e−1) (one product for e = 2).
//!
//! Leaky ReLU, max and min are default bodies built from ReLU, so their gradients come from it.
//! abs, sign, hard sigmoid, clip, comparisons and where have no rule: a gradient reaching them is
//! an error naming the op.

use super::super::record::{Autodiff, Tracked, id_of, inner};
use super::super::{AutodiffBackend, ctx::Ctx};
use super::scalar;
use crate::error::{Error, Result};
use crate::nn::graph::Op;
use crate::nn::ops::{ActivationOps, Cmp, V};
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;

type T<B> = Tracked<<B as crate::nn::ops::Backend>::T>;

/// The backward of y = f(x) given as "g times a factor computed from x and y".
type Factor<B> = fn(&mut Ctx<'_, B>, &V<B>, &V<B>) -> Result<V<B>>;

impl<'t, B: AutodiffBackend + 't> Autodiff<'_, 't, B> {
    /// Records y = f(x) whose gradient is g · factor(x, y).
    fn unary(&self, x: &T<B>, y: B::T, factor: Factor<B>) -> T<B> {
        let (xv, yv) = (Value::Data(x.t.clone()), Value::Data(y.clone()));
        self.record(y, vec![x.id], move |cx, g, _| {
            let d = factor(cx, &xv, &yv)?;
            Ok(vec![Some(cx.mul(&Value::Data(g), &d)?)])
        })
    }
}

impl<'t, B: AutodiffBackend + 't> ActivationOps for Autodiff<'_, 't, B> {
    fn relu(&mut self, x: &T<B>) -> Result<T<B>> {
        if x.id.is_none() {
            return Ok(Tracked {
                t: self.b.relu(&x.t)?,
                id: None,
            });
        }
        let (y, mask) = self.b.relu_masked(&x.t)?;
        Ok(self.record(y, vec![x.id], move |cx, g, _| Ok(vec![Some(cx.b.mul_mask(&g, &mask)?)])))
    }

    fn sigmoid(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.sigmoid(&x.t)?;
        Ok(self.unary(x, y, |cx, _, y| {
            let one_minus = cx.op(Op::Sub, &[&scalar(1.0), y])?;
            cx.op(Op::Mul, &[y, &one_minus])
        }))
    }

    fn tanh(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.tanh(&x.t)?;
        Ok(self.unary(x, y, |cx, _, y| {
            let y2 = cx.op(Op::Pow, &[y, &scalar(2.0)])?;
            cx.op(Op::Sub, &[&scalar(1.0), &y2])
        }))
    }

    fn exp(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.exp(&x.t)?;
        Ok(self.unary(x, y, |_, _, y| Ok(y.clone())))
    }

    fn log(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.log(&x.t)?;
        Ok(self.unary(x, y, |cx, x, _| cx.op(Op::Reciprocal, &[x])))
    }

    fn sqrt(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.sqrt(&x.t)?;
        Ok(self.unary(x, y, |cx, _, y| {
            let r = cx.op(Op::Reciprocal, &[y])?;
            cx.op(Op::Mul, &[&r, &scalar(0.5)])
        }))
    }

    fn reciprocal(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.reciprocal(&x.t)?;
        Ok(self.unary(x, y, |cx, _, y| {
            let y2 = cx.op(Op::Pow, &[y, &scalar(2.0)])?;
            cx.op(Op::Neg, &[&y2])
        }))
    }

    fn erf(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.erf(&x.t)?;
        Ok(self.unary(x, y, |cx, x, _| {
            let x2 = cx.op(Op::Pow, &[x, &scalar(2.0)])?;
            let e = cx.op(Op::Neg, &[&x2])?;
            let e = cx.op(Op::Exp, &[&e])?;
            cx.op(Op::Mul, &[&e, &scalar((2.0 / std::f64::consts::PI.sqrt()) as f32)])
        }))
    }

    fn gelu(&mut self, x: &T<B>, tanh: bool) -> Result<T<B>> {
        let y = self.b.gelu(&x.t, tanh)?;
        Ok(if tanh {
            self.unary(x, y, |cx, x, _| gelu_derivative(cx, x, true))
        } else {
            self.unary(x, y, |cx, x, _| gelu_derivative(cx, x, false))
        })
    }

    fn abs(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.abs(&x.t)?;
        Ok(self.record_no_grad(y, vec![x.id], "Abs"))
    }

    fn sign(&mut self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.sign(&x.t)?;
        Ok(self.record_no_grad(y, vec![x.id], "Sign"))
    }

    fn hard_sigmoid(&mut self, x: &T<B>, alpha: f32, beta: f32) -> Result<T<B>> {
        let y = self.b.hard_sigmoid(&x.t, alpha, beta)?;
        Ok(self.record_no_grad(y, vec![x.id], "HardSigmoid"))
    }

    fn clip(&mut self, x: &T<B>, min: Option<f32>, max: Option<f32>) -> Result<T<B>> {
        let y = self.b.clip(&x.t, min, max)?;
        Ok(self.record_no_grad(y, vec![x.id], "Clip"))
    }

    fn pow(&mut self, x: &T<B>, e: &F32Tensor) -> Result<T<B>> {
        let y = self.b.pow(&x.t, e)?;
        if x.id.is_none() {
            return Ok(Tracked { t: y, id: None });
        }
        if e.numel() != 1 {
            return Err(Error::invalid("op Pow", "training needs a public scalar exponent"));
        }
        let e = e.data()[0];
        let xv = Value::Data(x.t.clone());
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            let gv = Value::Data(g.clone());
            let d = if e == 1.0 {
                g
            } else if e == 2.0 {
                let t = cx.mul(&gv, &xv)?;
                cx.scale(&t, 2.0)?
            } else {
                let p = cx.op(Op::Pow, &[&xv, &scalar(e - 1.0)])?;
                let t = cx.mul(&gv, &p)?;
                cx.scale(&t, e as f64)?
            };
            Ok(vec![Some(d)])
        }))
    }

    fn compare(&mut self, a: &V<Self>, b: &V<Self>, cmp: Cmp) -> Result<T<B>> {
        let y = self.b.compare(&inner(a), &inner(b), cmp)?;
        Ok(self.record_no_grad(y, vec![id_of(a), id_of(b)], "comparison"))
    }

    fn select(&mut self, c: &V<Self>, x: &V<Self>, y: &V<Self>) -> Result<T<B>> {
        let out = self.b.select(&inner(c), &inner(x), &inner(y))?;
        Ok(self.record_no_grad(out, vec![id_of(c), id_of(x), id_of(y)], "Where"))
    }
}

/// d GELU / dx as a value: Φ(x) + x·φ(x) (erf form) or the derivative of the tanh form.
fn gelu_derivative<B: AutodiffBackend>(cx: &mut Ctx<'_, B>, x: &V<B>, tanh: bool) -> Result<V<B>> {
    let x2 = cx.op(Op::Pow, &[x, &scalar(2.0)])?;
    if tanh {
        // u = k(x + c·x³), t = tanh u: d = ½(1 + t) + ½·x·(1 − t²)·k·(1 + 3c·x²).
        let (k, c) = ((2.0f32 / std::f32::consts::PI).sqrt(), 0.044715f32);
        let x3 = cx.op(Op::Mul, &[&x2, x])?;
        let cx3 = cx.op(Op::Mul, &[&x3, &scalar(c)])?;
        let u = cx.op(Op::Add, &[x, &cx3])?;
        let u = cx.op(Op::Mul, &[&u, &scalar(k)])?;
        let t = cx.op(Op::Tanh, &[&u])?;
        let t2 = cx.op(Op::Pow, &[&t, &scalar(2.0)])?;
        let sech2 = cx.op(Op::Sub, &[&scalar(1.0), &t2])?;
        let inner = cx.op(Op::Mul, &[&x2, &scalar(3.0 * c * k)])?;
        let inner = cx.op(Op::Add, &[&inner, &scalar(k)])?;
        let xs = cx.op(Op::Mul, &[x, &sech2])?;
        let right = cx.op(Op::Mul, &[&xs, &inner])?;
        let right = cx.op(Op::Mul, &[&right, &scalar(0.5)])?;
        let left = cx.op(Op::Add, &[&t, &scalar(1.0)])?;
        let left = cx.op(Op::Mul, &[&left, &scalar(0.5)])?;
        return cx.op(Op::Add, &[&left, &right]);
    }
    let h = cx.op(Op::Mul, &[x, &scalar(std::f32::consts::FRAC_1_SQRT_2)])?;
    let e = cx.op(Op::Erf, &[&h])?;
    let phi_cdf = cx.op(Op::Mul, &[&e, &scalar(0.5)])?;
    let phi_cdf = cx.op(Op::Add, &[&phi_cdf, &scalar(0.5)])?;
    let m = cx.op(Op::Mul, &[&x2, &scalar(-0.5)])?;
    let pdf = cx.op(Op::Exp, &[&m])?;
    let pdf = cx.op(Op::Mul, &[&pdf, &scalar((0.5 / std::f64::consts::PI).sqrt() as f32)])?;
    let xp = cx.op(Op::Mul, &[x, &pdf])?;
    cx.op(Op::Add, &[&phi_cdf, &xp])
}
