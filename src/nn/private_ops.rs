//! The private backend's elementwise, comparison and reduction ops beyond the core layers:
//! Abs, Sign, LeakyRelu, HardSigmoid, Clip, Max/Min/Sum/Mean, comparisons, Where, ReduceMax/Min/
//! SumSquare/L1/L2, Expand, GlobalMaxPool, ArgMax/ArgMin and Split. Each is built from the exact
//! comparison circuits of `func::compare` (ReLU, |x|, the sign bit), local linear maps and
//! fixed-point products.
//!
//! # Cost
//!
//! A private op costs exactly the `func` functions and truncations it calls, in order: its linear
//! parts (data movement, broadcasting, sums, public additions, products with public integers) are
//! local. [`calls`] declares that list for these ops and for the other private ops of
//! `nn::private` (BatchNormalization, Pow, LayerNormalization, N-d pooling windows, the
//! elementwise functions, softmax, products with public weights), in terms of the functions whose
//! own formulas are written next to them (`func::compare`, `func::approx`, `func::reduce`, the
//! protocols' tables); `tests/onnx_node.rs` runs each op privately and asserts that the critical
//! path, the rounds between parties, every party's online bytes and the dealer's offline bytes
//! equal those of [`run_calls`] on 2pc-ttp, 3pc-replicated and npc-additive. With n the output size:
//!
//! | op | calls |
//! |---|---|
//! | Abs | `abs`(n) |
//! | Sign | `ltz`(2n): both sign bits in one circuit |
//! | LeakyRelu | `relu`(n), one truncation of n (αx + (1 − α)·relu(x) is summed before it) |
//! | HardSigmoid | one truncation of n (αx), `clamp`(n) |
//! | Clip | both bounds: `clamp`(n); one bound: `relu`(n) (lo + relu(x − lo)); none, or min ≥ max: nothing |
//! | Max, Min | `relu` of the running output size per extra input (b + relu(a − b)) |
//! | Sum; Mean | nothing; one truncation of n |
//! | Less, Greater, LessOrEqual, GreaterOrEqual; Equal | `ltz`(n); `eq`(n) |
//! | Where | public condition: nothing (a local select); private: one fixed-point product of n |
//! | ReduceMax, ReduceMin; GlobalMaxPool | `max_values` over the reduced groups |
//! | ReduceSumSquare; ReduceL1; ReduceL2 | `square`(input); `abs`(input); `square`(input), `sqrt`(n) |
//! | ArgMax, ArgMin | `argmax` over the reduced axis (the index is a local product, below) |
//! | Expand, Split, Size | nothing |
//!
//! **ArgMax/ArgMin** output int64 indices in ONNX. Privately the one-hot argmax of
//! `reduce::argmax` (integers 0/1 at scale 1) is multiplied locally by the public fixed-point
//! index vector and summed, which gives a fixed-point share of the index with no truncation: it
//! is exact and reveals to the integer itself (ArgMin is the argmax of −x; `select_last_index`
//! reverses the axis first, as ties go to the earlier index).

use super::exec::{Value, node_error};
use super::graph::{Const, Node, Op, ReduceKind};
use super::plain::{self, reduce_layout};
use super::private::{PrivateBackend, V, as_f32};
use super::tensor::F32Tensor;
use super::window::Windows;
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
                // αx + (1 − α)·relu(x), summed at double scale and truncated once.
                let x = x0()?;
                let r = compare::relu(self.p, &x)?;
                let a = self.p.mul_scalar(&x, fixed::encode_const(self.p, *alpha as f64))?;
                let b = self
                    .p
                    .mul_scalar(&r, fixed::encode_const(self.p, 1.0 - *alpha as f64))?;
                let sum = self.p.add(&a, &b)?;
                let bits = self.p.frac_bits();
                self.p.truncate_many(vec![sum], bits)?.remove(0)
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
                match c {
                    Value::Data(s) => {
                        let d = self.p.sub(&xb, &yb)?;
                        let c = Value::Data(self.broadcast(s, &shape)?);
                        let picked = self.mul_values(&Value::Data(d), &c)?;
                        self.p.add(&yb, &picked)?
                    }
                    other => {
                        // A public condition picks each element locally.
                        let m = as_f32(&other.public().expect("public"))?.broadcast_to(&shape)?;
                        let pick: Vec<bool> = m.data().iter().map(|&v| v != 0.0).collect();
                        self.p.linear2(&xb, &yb, &|a, b| {
                            let data = (a.data().iter().zip(b.data()).zip(&pick))
                                .map(|((&u, &v), &c)| if c { u } else { v })
                                .collect();
                            RingTensor::from_vec(a.shape(), data)
                        })?
                    }
                }
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
            Op::ArgMax {
                axis,
                keepdims,
                select_last_index,
                min,
            } => {
                let x = x0()?;
                let shape = self.p.shape(&x).to_vec();
                let ax = plain::axis_of(*axis, shape.len()).map_err(|e| node_error(node, e))?;
                let k = shape[ax];
                if k == 0 {
                    return Err(node_error(node, "the axis is empty"));
                }
                let x = if *select_last_index {
                    let a = ax as i64;
                    self.move_data(&x, &|t| t.slice(&[-1], &[i64::MIN], &[a], &[-1]))?
                } else {
                    x
                };
                let x = if *min { self.p.neg(&x)? } else { x };
                let (_, onehot) = reduce::argmax(self.p, &x, ax)?;
                // Σ_j onehot_j · j with j public fixed point: an integer share times a public
                // value, exact and local.
                let (inner, f) = (shape[ax + 1..].iter().product::<usize>(), self.p.frac_bits());
                let index: Vec<u64> = (0..numel(&shape))
                    .map(|i| {
                        let j = (i / inner) % k;
                        (if *select_last_index { k - 1 - j } else { j } as u64) << f
                    })
                    .collect();
                let index = RingTensor::from_vec(&shape, index)?;
                let keep = *keepdims;
                self.p.linear(&onehot, &|t| t.mul(&index)?.sum_axis(ax, keep))?
            }
            Op::Split { axis, parts } => {
                let x = x0()?;
                let shape = self.p.shape(&x).to_vec();
                let ax = plain::axis_of(*axis, shape.len()).map_err(|e| node_error(node, e))?;
                let split = match inputs.get(1).and_then(Option::as_ref) {
                    Some(Value::Data(_)) => return Err(node_error(node, "private split sizes are not supported")),
                    Some(v) => v.public(),
                    None => None,
                };
                let sizes = plain::split_sizes(shape[ax], *parts, split.as_ref()).map_err(|e| node_error(node, e))?;
                let mut at = 0;
                let mut outs = Vec::with_capacity(sizes.len());
                for s in sizes {
                    outs.push(Value::Data(self.p.linear(&x, &|t| t.slice(ax, at, at + s))?));
                    at += s;
                }
                return Ok(outs);
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

/// One function call of a private op, for its cost: an op costs exactly its [`calls`], made in
/// order (everything else it does is local). Sizes are element counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Call {
    /// `compare::relu`.
    Relu(usize),
    /// `compare::abs`.
    Abs(usize),
    /// `compare::ltz`.
    Ltz(usize),
    /// `compare::eq`.
    Eq(usize),
    /// `compare::clamp`.
    Clamp(usize),
    /// `reduce::max_values` over `rows` groups of `k`.
    MaxValues {
        rows: usize,
        k: usize,
    },
    /// `reduce::argmax` (the one-hot) over `rows` groups of `k`.
    Argmax {
        rows: usize,
        k: usize,
    },
    /// `reduce::softmax` (`log`: `log_softmax`) over `rows` groups of `k`.
    Softmax {
        rows: usize,
        k: usize,
        log: bool,
    },
    /// One truncation: a product with public reals (`fixed::mul_const`, a public weight).
    Trunc(usize),
    /// `fixed::square`.
    Square(usize),
    /// `fixed::mul`: a fixed-point product of two shared tensors.
    Mul(usize),
    /// `approx::pow` with a public integer exponent.
    Pow(usize, i32),
    /// `approx::sqrt`, `inv_sqrt`, and `inv_sqrt_iters` with `layernorm_nr_iters` steps.
    Sqrt(usize),
    InvSqrt(usize),
    LayerNormInvSqrt(usize),
    /// The elementwise functions of `func::approx`.
    Exp(usize),
    Log(usize),
    Reciprocal(usize),
    Sigmoid(usize),
    Tanh(usize),
    Erf(usize),
    Gelu(usize),
}

/// One input of a node as its cost sees it: the shape, and the value when public.
#[derive(Clone, Debug)]
pub struct Operand {
    pub shape: Vec<usize>,
    pub public: Option<Const>,
}

/// The calls a private op makes on inputs `ins` (see the module table); `None` for the ops whose
/// cost is not declared here (products of two private tensors other than elementwise ones, the
/// 1-D/2-D pooling kernels of `func::pool`, which are costed there).
pub fn calls(op: &Op, ins: &[Operand]) -> Result<Option<Vec<Call>>> {
    use Call as C;
    let shape = |k: usize| -> Result<&[usize]> {
        ins.get(k)
            .map(|o| o.shape.as_slice())
            .ok_or_else(|| crate::Error::invalid(op.onnx_name(), format!("missing input {k}")))
    };
    let private = |k: usize| ins.get(k).is_some_and(|o| o.public.is_none());
    let n = numel(shape(0)?);
    let bcast = |a: &[usize], b: &[usize]| plain::broadcast_shape(a, b);
    // A fixed-point product: Beaver/replicated with two private operands, else a truncation.
    let product = |both_private: bool, n: usize| if both_private { C::Mul(n) } else { C::Trunc(n) };
    let v = match op {
        Op::Abs => vec![C::Abs(n)],
        Op::Sign => vec![C::Ltz(2 * n)],
        Op::LeakyRelu { .. } => vec![C::Relu(n), C::Trunc(n)],
        Op::HardSigmoid { .. } => vec![C::Trunc(n), C::Clamp(n)],
        Op::Clip { min, max } => match (min, max) {
            (Some(lo), Some(hi)) if lo < hi => vec![C::Clamp(n)],
            (Some(_), None) | (None, Some(_)) => vec![C::Relu(n)],
            _ => vec![],
        },
        Op::Max | Op::Min | Op::Sum | Op::Mean => {
            let mut out = shape(0)?.to_vec();
            let mut v = Vec::new();
            for k in 1..ins.len() {
                out = bcast(&out, shape(k)?)?;
                if matches!(op, Op::Max | Op::Min) {
                    v.push(C::Relu(numel(&out)));
                }
            }
            if *op == Op::Mean {
                v.push(C::Trunc(numel(&out)));
            }
            v
        }
        Op::Equal | Op::Greater | Op::Less | Op::GreaterOrEqual | Op::LessOrEqual => {
            let m = numel(&bcast(shape(0)?, shape(1)?)?);
            vec![if *op == Op::Equal { C::Eq(m) } else { C::Ltz(m) }]
        }
        Op::Where => {
            let out = bcast(&bcast(shape(0)?, shape(1)?)?, shape(2)?)?;
            if private(0) { vec![C::Mul(numel(&out))] } else { vec![] }
        }
        Op::Reduce { kind, axes, keepdims } => {
            let (_, rows, k, _) = plain::reduce_layout(shape(0)?, axes, *keepdims)?;
            match kind {
                ReduceKind::Max | ReduceKind::Min => vec![C::MaxValues { rows, k }],
                ReduceKind::SumSquare => vec![C::Square(n)],
                ReduceKind::L1 => vec![C::Abs(n)],
                ReduceKind::L2 => vec![C::Square(n), C::Sqrt(rows)],
            }
        }
        Op::GlobalMaxPool => {
            let s = shape(0)?;
            let nc = s.iter().take(2).product::<usize>();
            vec![C::MaxValues {
                rows: nc,
                k: n / nc.max(1),
            }]
        }
        Op::ArgMax { axis, .. } => {
            let s = shape(0)?;
            let k = s[plain::axis_of(*axis, s.len())?];
            vec![C::Argmax { rows: n / k.max(1), k }]
        }
        Op::Expand | Op::Split { .. } | Op::Size | Op::Neg | Op::Add | Op::Sub | Op::ReduceSum { .. } => vec![],
        Op::Flatten { .. }
        | Op::Reshape
        | Op::Transpose { .. }
        | Op::Unsqueeze { .. }
        | Op::Squeeze { .. }
        | Op::Slice
        | Op::Pad
        | Op::Concat { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast { .. } => vec![],
        Op::Gather { .. } if !private(1) => vec![],
        Op::Relu => vec![C::Relu(n)],
        Op::Sqrt => vec![C::Sqrt(n)],
        Op::Exp => vec![C::Exp(n)],
        Op::Log => vec![C::Log(n)],
        Op::Reciprocal => vec![C::Reciprocal(n)],
        Op::Sigmoid => vec![C::Sigmoid(n)],
        Op::Tanh => vec![C::Tanh(n)],
        Op::Erf => vec![C::Erf(n)],
        Op::Gelu { .. } => vec![C::Gelu(n)],
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let s = shape(0)?;
            let k = s[plain::axis_of(*axis, s.len())?];
            let log = matches!(op, Op::LogSoftmax { .. });
            vec![C::Softmax {
                rows: n / k.max(1),
                k,
                log,
            }]
        }
        Op::Mul => {
            let out = numel(&bcast(shape(0)?, shape(1)?)?);
            vec![product(private(0) && private(1), out)]
        }
        Op::Div => {
            let out = numel(&bcast(shape(0)?, shape(1)?)?);
            if private(1) {
                vec![C::Reciprocal(numel(shape(1)?)), C::Mul(out)]
            } else {
                vec![C::Trunc(out)]
            }
        }
        Op::ReduceMean { axes, keepdims } => {
            let axes: Vec<i64> = axes.clone();
            let (_, rows, _, _) = plain::reduce_layout(shape(0)?, &axes, *keepdims)?;
            vec![C::Trunc(rows)]
        }
        Op::GlobalAveragePool => vec![C::Trunc(shape(0)?.iter().take(2).product())],
        Op::Pow => {
            let e = ins
                .get(1)
                .and_then(|o| o.public.as_ref())
                .ok_or_else(|| crate::Error::invalid("Pow", "a private exponent is not supported"))?;
            let e = super::private::as_f32(e)?;
            let out = numel(&bcast(shape(0)?, e.shape())?);
            let mut distinct: Vec<f32> = e.data().to_vec();
            distinct.sort_by(f32::total_cmp);
            distinct.dedup();
            let mut v = Vec::new();
            for &k in &distinct {
                match k {
                    2.0 => v.push(C::Square(out)),
                    0.5 => v.push(C::Sqrt(out)),
                    1.0 => {}
                    k => v.push(C::Pow(out, k as i32)),
                }
                if distinct.len() > 1 {
                    v.push(C::Trunc(out));
                }
            }
            v
        }
        Op::BatchNormalization { .. } => {
            let c = shape(0)?.get(1).copied().unwrap_or(1);
            if (1..5).any(private) {
                // s = γ·inv_sqrt(var + ε); t = β − mean·s; y = x·s + t.
                vec![C::InvSqrt(c), product(private(1), c), product(private(3), c), C::Mul(n)]
            } else {
                vec![C::Trunc(n)]
            }
        }
        Op::LayerNormalization { axis, .. } => {
            let s = shape(0)?;
            let rows: usize = s[..plain::axis_of(*axis, s.len())?].iter().product();
            let mut v = vec![
                C::Trunc(rows),
                C::Square(n),
                C::Trunc(rows),
                C::LayerNormInvSqrt(rows),
                C::Mul(n),
            ];
            if ins.len() > 1 {
                v.push(product(private(1), n));
            }
            v
        }
        Op::MaxPool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
        }
        | Op::AveragePool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
            ..
        } => {
            let s = shape(0)?;
            let spatial = kernel.len();
            let fast = (1..=2).contains(&spatial)
                && s.len() == spatial + 2
                && pads.len() == 2 * spatial
                && (0..spatial).all(|i| pads[i] == pads[i + spatial] && 2 * pads[i] <= kernel[i])
                && dilations.iter().all(|&d| d == 1);
            if fast || s.len() < 3 {
                return Ok(None);
            }
            let w = Windows::new(&s[2..], kernel, strides, pads, dilations, *ceil_mode)?;
            let rows = s[0] * s[1] * w.cells();
            if matches!(op, Op::MaxPool { .. }) {
                vec![C::MaxValues { rows, k: w.k }]
            } else {
                vec![C::Trunc(rows)]
            }
        }
        Op::MatMul | Op::Gemm { .. } | Op::Conv { .. } | Op::Gather { .. } => return Ok(None),
        Op::Shape | Op::Constant(_) | Op::ConstantOfShape(_) => vec![],
    };
    Ok(Some(v))
}

/// Makes `calls` in order on zero shares (costs depend on sizes only): the reference that the
/// tests meter an op against.
pub fn run_calls<P: Protocol>(p: &mut P, calls: &[Call]) -> Result<()> {
    let zeros = |p: &P, shape: &[usize]| p.constant(&RingTensor::zeros(shape));
    for call in calls {
        match *call {
            Call::Relu(n) => drop(compare::relu(p, &zeros(p, &[n]))?),
            Call::Abs(n) => drop(compare::abs(p, &zeros(p, &[n]))?),
            Call::Ltz(n) => drop(compare::ltz(p, &zeros(p, &[n]))?),
            Call::Eq(n) => {
                let z = zeros(p, &[n]);
                drop(compare::eq(p, &z, &z)?)
            }
            Call::Clamp(n) => drop(compare::clamp(p, &zeros(p, &[n]), 0.0, 1.0)?),
            Call::MaxValues { rows, k } => drop(reduce::max_values(p, &zeros(p, &[rows, k]), 1)?),
            Call::Argmax { rows, k } => drop(reduce::argmax(p, &zeros(p, &[rows, k]), 1)?),
            Call::Softmax { rows, k, log } => {
                let z = zeros(p, &[rows, k]);
                drop(if log {
                    reduce::log_softmax(p, &z, 1)?
                } else {
                    reduce::softmax(p, &z, 1)?
                })
            }
            Call::Trunc(n) => {
                let bits = p.frac_bits();
                drop(p.truncate_many(vec![zeros(p, &[n])], bits)?)
            }
            Call::Square(n) => drop(fixed::square(p, &zeros(p, &[n]))?),
            Call::Mul(n) => {
                let z = zeros(p, &[n]);
                drop(fixed::mul(p, &z, &z)?)
            }
            Call::Pow(n, k) => drop(approx::pow(p, &zeros(p, &[n]), k)?),
            Call::Sqrt(n) => drop(approx::sqrt(p, &zeros(p, &[n]))?),
            Call::InvSqrt(n) => drop(approx::inv_sqrt(p, &zeros(p, &[n]))?),
            Call::LayerNormInvSqrt(n) => {
                let iters = p.functions().layernorm_nr_iters;
                drop(approx::inv_sqrt_iters(p, &zeros(p, &[n]), iters)?)
            }
            Call::Exp(n) => drop(approx::exp(p, &zeros(p, &[n]))?),
            Call::Log(n) => drop(approx::log(p, &zeros(p, &[n]))?),
            Call::Reciprocal(n) => drop(approx::reciprocal(p, &zeros(p, &[n]))?),
            Call::Sigmoid(n) => drop(approx::sigmoid(p, &zeros(p, &[n]))?),
            Call::Tanh(n) => drop(approx::tanh(p, &zeros(p, &[n]))?),
            Call::Erf(n) => drop(approx::erf(p, &zeros(p, &[n]))?),
            Call::Gelu(n) => drop(approx::gelu(p, &zeros(p, &[n]))?),
        }
    }
    Ok(())
}
