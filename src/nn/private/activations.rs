//! Activations and comparisons on shares, built from the exact comparison circuits of
//! `func::compare` (ReLU, |x|, the sign bit), the approximations of `func::approx`, local linear
//! maps and fixed-point products.
//!
//! Declared cost (the [`CostBackend`] implementation below), n the output size:
//!
//! | op | calls |
//! |---|---|
//! | Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Reciprocal, Erf, Gelu | the `func` function of n |
//! | Abs | `abs`(n) |
//! | Sign | `ltz`(2n): both sign bits in one circuit |
//! | LeakyRelu | `relu`(n), one truncation of n (αx + (1 − α)·relu(x) is summed before it) |
//! | HardSigmoid | one truncation of n (αx), `clamp`(n) |
//! | Clip | both bounds: `clamp`(n); one bound: `relu`(n) (lo + relu(x − lo)); none, or min ≥ max: nothing |
//! | Pow | per distinct exponent: `square`, `sqrt`, nothing (1) or `pow`; a truncation each when several |
//! | Max, Min | `relu` of the output size (b + relu(a − b), a − relu(a − b)) |
//! | Less, Greater, LessOrEqual, GreaterOrEqual; Equal | `ltz`(n); `eq`(n) |
//! | Where | public condition: nothing (a local select); private: one fixed-point product of n |

use super::PrivateBackend;
use super::cost::{Call, CostBackend, product};
use crate::error::{Error, Result};
use crate::func::{approx, compare, fixed};
use crate::nn::graph::Const;
use crate::nn::ops::{ActivationOps, Backend, Cmp, LinearOps, ProductOps, V};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::{F32Tensor, broadcast_shape};
use crate::nn::value::Value;
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};

/// The distinct values of an exponent tensor, sorted (Pow computes one power per value).
fn distinct(e: &F32Tensor) -> Vec<f32> {
    let mut d: Vec<f32> = e.data().to_vec();
    d.sort_by(f32::total_cmp);
    d.dedup();
    d
}

impl<P: Protocol> PrivateBackend<'_, P> {
    /// x^e for a public scalar exponent: square, sqrt, or a product chain for integers.
    fn pow_scalar(&mut self, x: &P::Share, e: f32) -> Result<P::Share> {
        Ok(if e == 2.0 {
            fixed::square(self.p, x)?
        } else if e == 0.5 {
            approx::sqrt(self.p, x)?
        } else if e == 1.0 {
            x.clone()
        } else if e.fract() == 0.0 && e.abs() <= 64.0 {
            approx::pow(self.p, x, e as i32)?
        } else {
            return Err(Error::invalid(
                "Pow",
                format!("exponent {e} is not supported (integers and 0.5 are)"),
            ));
        })
    }
}

/// 1 − b for an integer 0/1 share.
fn one_minus<P: Protocol>(p: &P, b: &P::Share) -> Result<P::Share> {
    let neg = p.neg(b)?;
    p.add_public(&neg, &RingTensor::full(p.shape(b), 1))
}

impl<P: Protocol> ActivationOps for PrivateBackend<'_, P> {
    fn relu(&mut self, x: &P::Share) -> Result<P::Share> {
        compare::relu(self.p, x)
    }

    fn sigmoid(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::sigmoid(self.p, x)
    }

    fn tanh(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::tanh(self.p, x)
    }

    fn exp(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::exp(self.p, x)
    }

    fn log(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::log(self.p, x)
    }

    fn sqrt(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::sqrt(self.p, x)
    }

    fn reciprocal(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::reciprocal(self.p, x)
    }

    fn erf(&mut self, x: &P::Share) -> Result<P::Share> {
        approx::erf(self.p, x)
    }

    fn gelu(&mut self, x: &P::Share, _tanh: bool) -> Result<P::Share> {
        approx::gelu(self.p, x)
    }

    fn abs(&mut self, x: &P::Share) -> Result<P::Share> {
        compare::abs(self.p, x)
    }

    /// sign(x) ∈ {−1, 0, 1} = [x > 0] − [x < 0], both sign bits in one circuit, as fixed point.
    fn sign(&mut self, x: &P::Share) -> Result<P::Share> {
        let shape = self.p.shape(x).to_vec();
        let n = numel(&shape);
        let neg = self.p.neg(x)?;
        let both = self.p.linear2(x, &neg, &|a, b| {
            RingTensor::concat(&[&a.clone().reshape(&[n])?, &b.clone().reshape(&[n])?], 0)
        })?;
        let l = compare::ltz(self.p, &both)?;
        let (lt, gt) = (
            self.p.linear(&l, &|t| t.slice(0, 0, n)?.reshape(&shape))?,
            self.p.linear(&l, &|t| t.slice(0, n, 2 * n)?.reshape(&shape))?,
        );
        let s = self.p.sub(&gt, &lt)?;
        fixed::int_to_fixed(self.p, &s)
    }

    fn hard_sigmoid(&mut self, x: &P::Share, alpha: f32, beta: f32) -> Result<P::Share> {
        let x = fixed::mul_const(self.p, x, alpha as f64)?;
        let x = fixed::add_const(self.p, &x, beta as f64)?;
        compare::clamp(self.p, &x, 0.0, 1.0)
    }

    fn clip(&mut self, x: &P::Share, min: Option<f32>, max: Option<f32>) -> Result<P::Share> {
        Ok(match (min, max) {
            (Some(lo), Some(hi)) if lo < hi => compare::clamp(self.p, x, lo as f64, hi as f64)?,
            // ONNX: min ≥ max gives max everywhere.
            (Some(_), Some(hi)) => {
                let shape = self.p.shape(x).to_vec();
                self.p.constant(&self.enc(&F32Tensor::full(&shape, hi))?)
            }
            (Some(lo), None) => {
                // lo + relu(x − lo)
                let d = fixed::add_const(self.p, x, -lo as f64)?;
                let r = compare::relu(self.p, &d)?;
                fixed::add_const(self.p, &r, lo as f64)?
            }
            (None, Some(hi)) => {
                // hi − relu(hi − x)
                let d = fixed::const_sub(self.p, hi as f64, x)?;
                let r = compare::relu(self.p, &d)?;
                fixed::const_sub(self.p, hi as f64, &r)?
            }
            (None, None) => x.clone(),
        })
    }

    fn pow(&mut self, x: &P::Share, e: &F32Tensor) -> Result<P::Share> {
        let out = broadcast_shape(self.p.shape(x), e.shape())?;
        let x = self.expand(x, &out)?;
        let e = e.broadcast_to(&out)?;
        let distinct = distinct(&e);
        if distinct.len() > 8 {
            return Err(Error::invalid(
                "Pow",
                "more than 8 distinct exponents are not supported",
            ));
        }
        // One power per distinct exponent, each kept where the exponent has that value.
        let mut y: Option<P::Share> = None;
        for &k in &distinct {
            let pk = self.pow_scalar(&x, k)?;
            let part = if distinct.len() == 1 {
                pk
            } else {
                let mask = e.map(|v| if v == k { 1.0 } else { 0.0 });
                self.mul(&Value::Data(pk), &Value::Public(Const::F32(mask)))?
            };
            y = Some(match y {
                None => part,
                Some(acc) => self.p.add(&acc, &part)?,
            });
        }
        y.ok_or_else(|| Error::invalid("Pow", "the exponent is empty"))
    }

    /// d = a − b, then one comparison of d (or −d) with 0; the 0/1 result is made fixed point
    /// locally.
    fn compare(&mut self, a: &V<Self>, b: &V<Self>, cmp: Cmp) -> Result<P::Share> {
        let d = self.add_values(a, b, true)?;
        let bit = match cmp {
            Cmp::Equal => {
                let zero = self.p.constant(&RingTensor::zeros(self.p.shape(&d)));
                compare::eq(self.p, &d, &zero)?
            }
            Cmp::Less => compare::ltz(self.p, &d)?,
            Cmp::Greater => {
                let nd = self.p.neg(&d)?;
                compare::ltz(self.p, &nd)?
            }
            Cmp::GreaterOrEqual => {
                let l = compare::ltz(self.p, &d)?;
                one_minus(self.p, &l)?
            }
            Cmp::LessOrEqual => {
                let nd = self.p.neg(&d)?;
                let l = compare::ltz(self.p, &nd)?;
                one_minus(self.p, &l)?
            }
        };
        fixed::int_to_fixed(self.p, &bit)
    }

    /// y + c·(x − y): a public condition is a local selection, a private one a Beaver product.
    fn select(&mut self, c: &V<Self>, x: &V<Self>, y: &V<Self>) -> Result<P::Share> {
        let shape = broadcast_shape(&self.value_shape(c), &self.value_shape(x))?;
        let shape = broadcast_shape(&shape, &self.value_shape(y))?;
        let xb = self.expand(&self.data(x)?, &shape)?;
        let yb = self.expand(&self.data(y)?, &shape)?;
        match c {
            Value::Data(s) => {
                let d = self.p.sub(&xb, &yb)?;
                let c = Value::Data(self.expand(s, &shape)?);
                let picked = self.mul(&Value::Data(d), &c)?;
                self.p.add(&yb, &picked)
            }
            other => {
                let m = other.public_f32("a condition")?.broadcast_to(&shape)?;
                let pick: Vec<bool> = m.data().iter().map(|&v| v != 0.0).collect();
                self.p.linear2(&xb, &yb, &|a, b| {
                    let data = (a.data().iter().zip(b.data()).zip(&pick))
                        .map(|((&u, &v), &c)| if c { u } else { v })
                        .collect();
                    RingTensor::from_vec(a.shape(), data)
                })
            }
        }
    }
}

impl CostBackend {
    /// Records `c(n)` for the output size n of `x` and returns `x` (elementwise maps keep shapes).
    fn elementwise(&mut self, x: &F32Tensor, c: fn(usize) -> Call) -> Result<F32Tensor> {
        self.call(c(x.numel()));
        Ok(x.clone())
    }
}

impl ActivationOps for CostBackend {
    fn relu(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Relu)
    }

    fn sigmoid(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Sigmoid)
    }

    fn tanh(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Tanh)
    }

    fn exp(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Exp)
    }

    fn log(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Log)
    }

    fn sqrt(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Sqrt)
    }

    fn reciprocal(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Reciprocal)
    }

    fn erf(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Erf)
    }

    fn gelu(&mut self, x: &F32Tensor, _tanh: bool) -> Result<F32Tensor> {
        self.elementwise(x, Call::Gelu)
    }

    fn abs(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, Call::Abs)
    }

    fn sign(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        self.elementwise(x, |n| Call::Ltz(2 * n))
    }

    fn hard_sigmoid(&mut self, x: &F32Tensor, _alpha: f32, _beta: f32) -> Result<F32Tensor> {
        self.call(Call::Trunc(x.numel()));
        self.elementwise(x, Call::Clamp)
    }

    fn clip(&mut self, x: &F32Tensor, min: Option<f32>, max: Option<f32>) -> Result<F32Tensor> {
        match (min, max) {
            (Some(lo), Some(hi)) if lo < hi => self.elementwise(x, Call::Clamp),
            (Some(_), None) | (None, Some(_)) => self.elementwise(x, Call::Relu),
            _ => Ok(x.clone()),
        }
    }

    fn pow(&mut self, x: &F32Tensor, e: &F32Tensor) -> Result<F32Tensor> {
        let out = broadcast_shape(x.shape(), e.shape())?;
        let n = numel(&out);
        let d = distinct(&e.broadcast_to(&out)?);
        for &k in &d {
            match k {
                2.0 => self.call(Call::Square(n)),
                0.5 => self.call(Call::Sqrt(n)),
                1.0 => {}
                k => self.call(Call::Pow(n, k as i32)),
            }
            if d.len() > 1 {
                self.call(Call::Trunc(n));
            }
        }
        Ok(F32Tensor::zeros(&out))
    }

    fn compare(&mut self, a: &V<Self>, b: &V<Self>, cmp: Cmp) -> Result<F32Tensor> {
        let y = PlainBackend.compare(a, b, cmp)?;
        let n = y.numel();
        self.call(if cmp == Cmp::Equal { Call::Eq(n) } else { Call::Ltz(n) });
        Ok(y)
    }

    fn select(&mut self, c: &V<Self>, x: &V<Self>, y: &V<Self>) -> Result<F32Tensor> {
        let out = PlainBackend.select(c, x, y)?;
        if c.is_data() {
            self.call(product(true, out.numel()));
        }
        Ok(out)
    }
}
