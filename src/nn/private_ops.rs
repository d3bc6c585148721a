//! The private backend's elementwise, comparison and reduction ops beyond the core layers:
//! Abs, Sign, LeakyRelu, HardSigmoid, Clip, Max/Min/Sum/Mean, comparisons, Where, ReduceMax/Min/
//! SumSquare/L1/L2, Expand and GlobalMaxPool. Each is built from the exact comparison circuits of
//! `func::compare` (ReLU, |x|, the sign bit), local linear maps and fixed-point products, so its
//! cost is that of the functions it calls (written next to them):
//!
//! - Max, Min (per extra input), LeakyRelu, Clip with one bound: one ReLU of the output size
//!   (asserted by `tests/onnx_node.rs`); Clip with both bounds and HardSigmoid: one `clamp`.
//! - Less, Greater, GreaterOrEqual, LessOrEqual: one `ltz` of n; Equal: one `eq`; Sign: one `ltz`
//!   of 2n. The 0/1 result becomes fixed point locally.
//! - Where: one fixed-point product of n (a public condition: a public-operand product).
//! - ReduceMax/Min: one `max_values` over the reduced group; ReduceSumSquare: one square;
//!   ReduceL1: one `abs`; ReduceL2: one square and one `sqrt`; GlobalMaxPool: one `max_values`.

use super::exec::{Value, node_error};
use super::graph::{Const, Node, Op, ReduceKind};
use super::plain::{self, reduce_layout};
use super::private::{PrivateBackend, V, as_f32};
use super::tensor::F32Tensor;
use crate::error::Result;
use crate::func::{approx, compare, fixed, reduce};
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};

impl<P: Protocol> PrivateBackend<'_, P> {
    /// Evaluates one of this module's ops (at least one input is private).
    pub(super) fn eval_more(&mut self, node: &Node, inputs: &[Option<V<P>>]) -> Result<Vec<V<P>>> {
        let arg = |k: usize| -> Result<&V<P>> {
            inputs
                .get(k)
                .and_then(Option::as_ref)
                .ok_or_else(|| node_error(node, format!("missing input {k}")))
        };
        let x0 = || -> Result<P::Share> { self.data(arg(0)?) };
        let y = match &node.op {
            Op::Abs => compare::abs(self.p, &x0()?)?,
            Op::Sign => self.sign(&x0()?)?,
            Op::LeakyRelu { alpha } => {
                // αx + (1 − α)·relu(x).
                let x = x0()?;
                let r = compare::relu(self.p, &x)?;
                let a = fixed::mul_const(self.p, &x, *alpha as f64)?;
                let b = fixed::mul_const(self.p, &r, 1.0 - *alpha as f64)?;
                self.p.add(&a, &b)?
            }
            Op::HardSigmoid { alpha, beta } => {
                let x = fixed::mul_const(self.p, &x0()?, *alpha as f64)?;
                let x = fixed::add_const(self.p, &x, *beta as f64)?;
                compare::clamp(self.p, &x, 0.0, 1.0)?
            }
            Op::Clip { min, max } => {
                let x = x0()?;
                match (min, max) {
                    (Some(lo), Some(hi)) if lo < hi => compare::clamp(self.p, &x, *lo as f64, *hi as f64)?,
                    // ONNX: min ≥ max gives max everywhere.
                    (Some(_), Some(hi)) => {
                        let shape = self.p.shape(&x).to_vec();
                        self.p.constant(&self.enc(&F32Tensor::full(&shape, *hi))?)
                    }
                    (Some(lo), None) => {
                        // lo + relu(x − lo)
                        let d = fixed::add_const(self.p, &x, -*lo as f64)?;
                        let r = compare::relu(self.p, &d)?;
                        fixed::add_const(self.p, &r, *lo as f64)?
                    }
                    (None, Some(hi)) => {
                        // hi − relu(hi − x)
                        let d = fixed::const_sub(self.p, *hi as f64, &x)?;
                        let r = compare::relu(self.p, &d)?;
                        fixed::const_sub(self.p, *hi as f64, &r)?
                    }
                    (None, None) => x,
                }
            }
            Op::Max | Op::Min | Op::Sum | Op::Mean => {
                let mut acc = arg(0)?.clone();
                for k in 1..inputs.len() {
                    let b = arg(k)?;
                    acc = Value::Data(match node.op {
                        Op::Max | Op::Min => self.max_min(&acc, b, node.op == Op::Max)?,
                        _ => self.add_values(&acc, b, false)?,
                    });
                }
                let acc = self.data(&acc)?;
                if node.op == Op::Mean {
                    fixed::mul_const(self.p, &acc, 1.0 / inputs.len() as f64)?
                } else {
                    acc
                }
            }
            Op::Equal | Op::Greater | Op::Less | Op::GreaterOrEqual | Op::LessOrEqual => {
                // d = a − b, then one comparison of d (or −d) with 0; the 0/1 result is made
                // fixed point locally.
                let (a, b) = (arg(0)?, arg(1)?);
                let d = self.add_values(a, b, true)?;
                let bit = match node.op {
                    Op::Equal => {
                        let zero = self.p.constant(&RingTensor::zeros(self.p.shape(&d)));
                        compare::eq(self.p, &d, &zero)?
                    }
                    Op::Less => compare::ltz(self.p, &d)?,
                    Op::Greater => {
                        let nd = self.p.neg(&d)?;
                        compare::ltz(self.p, &nd)?
                    }
                    Op::GreaterOrEqual => {
                        let l = compare::ltz(self.p, &d)?;
                        one_minus(self.p, &l)?
                    }
                    _ => {
                        let nd = self.p.neg(&d)?;
                        let l = compare::ltz(self.p, &nd)?;
                        one_minus(self.p, &l)?
                    }
                };
                fixed::int_to_fixed(self.p, &bit)?
            }
            Op::Where => {
                // y + c·(x − y): a public condition is a local product, a private one a Beaver one.
                let (c, x, y) = (arg(0)?, arg(1)?, arg(2)?);
                let shape = plain::broadcast_shape(&self.shape(c), &self.shape(x))?;
                let shape = plain::broadcast_shape(&shape, &self.shape(y))?;
                let xb = self.broadcast(&self.data(x)?, &shape)?;
                let yb = self.broadcast(&self.data(y)?, &shape)?;
                let d = self.p.sub(&xb, &yb)?;
                let c = match c {
                    Value::Data(s) => Value::Data(self.broadcast(s, &shape)?),
                    other => {
                        let m = as_f32(&other.public().expect("public"))?.map(|v| (v != 0.0) as u8 as f32);
                        Value::Public(Const::F32(m.broadcast_to(&shape)?))
                    }
                };
                let picked = self.mul_values(&Value::Data(d), &c)?;
                self.p.add(&yb, &picked)?
            }
            Op::Reduce { kind, axes, keepdims } => {
                let x = x0()?;
                let shape = self.p.shape(&x).to_vec();
                let (perm, rows, k, out) = reduce_layout(&shape, axes, *keepdims)?;
                let t = self.move_data(&x, &|t| t.transpose(&perm))?;
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
                        if *kind == ReduceKind::L2 {
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
                self.p.linear(&y, &|r| r.clone().reshape(&out))?
            }
            Op::Expand => {
                let x = x0()?;
                let dims: Vec<usize> = match arg(1)? {
                    Value::Data(_) => return Err(node_error(node, "a private target shape is not supported")),
                    other => plain::ints(&other.public().expect("public"))
                        .iter()
                        .map(|&d| d.max(0) as usize)
                        .collect(),
                };
                let shape = plain::broadcast_shape(self.p.shape(&x), &dims)?;
                self.broadcast(&x, &shape)?
            }
            Op::GlobalMaxPool => {
                let x = x0()?;
                let xs = self.p.shape(&x).to_vec();
                if xs.len() < 3 {
                    return Err(node_error(node, format!("input {xs:?} has no spatial axes")));
                }
                let (nc, s) = (xs[0] * xs[1], xs[2..].iter().product::<usize>());
                let rows = self.p.linear(&x, &|t| t.clone().reshape(&[nc, s]))?;
                let m = reduce::max_values(self.p, &rows, 1)?;
                let mut out = xs[..2].to_vec();
                out.resize(xs.len(), 1);
                self.p.linear(&m, &|t| t.clone().reshape(&out))?
            }
            Op::Size => {
                let n = numel(&self.shape(arg(0)?)) as i64;
                return Ok(vec![Value::Public(Const::I64 {
                    shape: vec![],
                    data: vec![n],
                })]);
            }
            Op::ConstantOfShape(_) => return Err(node_error(node, "a private shape is not supported")),
            _ => return Err(node_error(node, "not handled by the private backend")),
        };
        Ok(vec![Value::Data(y)])
    }

    /// max(a, b) = b + relu(a − b); min(a, b) = a − relu(a − b) (broadcasting).
    fn max_min(&mut self, a: &V<P>, b: &V<P>, max: bool) -> Result<P::Share> {
        let d = self.add_values(a, b, true)?;
        let r = compare::relu(self.p, &d)?;
        let shape = self.p.shape(&d).to_vec();
        if max {
            let b = self.broadcast(&self.data(b)?, &shape)?;
            self.p.add(&b, &r)
        } else {
            let a = self.broadcast(&self.data(a)?, &shape)?;
            self.p.sub(&a, &r)
        }
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
}

/// 1 − b for an integer 0/1 share.
fn one_minus<P: Protocol>(p: &P, b: &P::Share) -> Result<P::Share> {
    let neg = p.neg(b)?;
    p.add_public(&neg, &RingTensor::full(p.shape(b), 1))
}
