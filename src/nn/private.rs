//! The private backend: runs graph nodes on shares of any protocol.
//!
//! Operands may be public (a public model's weights, constants) or shared; each op takes the
//! cheapest path: a product with a public operand is a local ring product plus one truncation, a
//! product of two shared operands is a Beaver (or replicated) product. Pure data-movement ops
//! (reshape, transpose, slice, pad, concat, gather with public indices, broadcast) are computed once
//! in plaintext on an index tensor and then applied to each share as a gather, so the plaintext
//! implementation of their semantics is the only one (reshapes of a contiguous share only relabel
//! its shape).
//!
//! Private weights are prepared once per session ([`prepare_weights`]): a Beaver family opens each
//! weight's mask then, so every later product with it opens only the activation's mask.

use super::exec::{Backend, Value, node_error, token_inputs};
use super::graph::{Const, Graph, Node, Op};
use super::plain;
use super::tensor::F32Tensor;
use super::window::Windows;
use crate::error::{Error, Result};
use crate::func::{approx, compare, fixed, pool, reduce};
use crate::protocol::{BilinearOp, Protocol, fixed_bilinear_many};
use crate::ring::{Conv1dParams, Conv2dParams, RingTensor, encode, numel};
use std::borrow::Cow;
use std::collections::HashMap;

/// Runs nodes on shares held by one party of protocol `P`.
pub struct PrivateBackend<'a, P: Protocol> {
    /// The party.
    pub p: &'a mut P,
    /// Weights prepared as right operands of products, if any.
    prepared: Option<&'a PreparedWeights<P>>,
}

pub(super) type V<P> = Value<<P as Protocol>::Share>;

/// A prepared weight as a product takes it: its share when that is not the stored one, and the
/// protocol's prepared state.
type Prep<'a, P> = (Option<&'a <P as Protocol>::Share>, &'a <P as Protocol>::Prepared);

/// A weight as a product node uses it: input `name` as stored, or transposed (Gemm's transB).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WeightUse {
    pub name: String,
    pub transposed: bool,
}

/// Private weights prepared as fixed right operands (see [`crate::protocol::Protocol::prepare_many`]):
/// per use, the share in the form the product takes when it is not the stored one (a transpose),
/// and the protocol's prepared state.
pub struct PreparedWeights<P: Protocol> {
    map: HashMap<WeightUse, (Option<P::Share>, P::Prepared)>,
}

impl<P: Protocol> PreparedWeights<P> {
    /// Number of prepared weight uses.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no weight is prepared.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The initializers that are the right operand of a product (Conv and MatMul weights, Gemm's B,
/// the table of an embedding looked up with private token ids), in node order without repeats.
pub fn product_weights(graph: &Graph) -> Vec<WeightUse> {
    let tokens = token_inputs(graph);
    let mut out: Vec<WeightUse> = Vec::new();
    for node in &graph.nodes {
        let (k, transposed) = match &node.op {
            Op::Conv { .. } | Op::MatMul => (1, false),
            Op::Gemm {
                trans_a: false,
                trans_b,
                ..
            } => (1, *trans_b),
            Op::Gather { axis: 0 } if node.inputs.get(1).is_some_and(|i| tokens.contains_key(i)) => (0, false),
            _ => continue,
        };
        let Some(name) = node.inputs.get(k) else { continue };
        let u = WeightUse {
            name: name.clone(),
            transposed,
        };
        if graph.initializers.contains_key(name) && !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// Prepares every private weight of `params` that `graph` uses as a product's right operand, all
/// in one round (a setup step: its cost belongs with the sharing of the weights).
pub fn prepare_weights<P: Protocol>(
    p: &mut P,
    graph: &Graph,
    params: &HashMap<String, V<P>>,
) -> Result<PreparedWeights<P>> {
    let mut uses = Vec::new();
    let mut forms: Vec<Option<P::Share>> = Vec::new();
    for u in product_weights(graph) {
        let Some(Value::Data(w)) = params.get(&u.name) else {
            continue;
        };
        forms.push(if u.transposed && p.shape(w).len() == 2 {
            Some(p.linear(w, &|t| t.transpose())?)
        } else if u.transposed {
            continue;
        } else {
            None
        });
        uses.push(u);
    }
    let operands: Vec<&P::Share> = uses
        .iter()
        .zip(&forms)
        .map(|(u, f)| match (f, params.get(&u.name)) {
            (Some(t), _) => t,
            (None, Some(Value::Data(w))) => w,
            _ => unreachable!("only private weights are kept"),
        })
        .collect();
    let preps = p.prepare_many(&operands)?;
    let map = uses.into_iter().zip(forms.into_iter().zip(preps)).collect();
    Ok(PreparedWeights { map })
}

impl<'a, P: Protocol> PrivateBackend<'a, P> {
    /// A backend over party `p`.
    pub fn new(p: &'a mut P) -> Self {
        Self { p, prepared: None }
    }

    /// A backend over party `p` whose products with the weights in `prepared` use their prepared
    /// form.
    pub fn with_prepared(p: &'a mut P, prepared: &'a PreparedWeights<P>) -> Self {
        Self {
            p,
            prepared: Some(prepared),
        }
    }

    /// The prepared form of input `k` of `node` (used transposed or not), if it was prepared.
    fn prepared_input(&self, node: &Node, k: usize, transposed: bool) -> Option<Prep<'a, P>> {
        let name = node.inputs.get(k)?;
        let (form, prep) = self.prepared?.map.get(&WeightUse {
            name: name.clone(),
            transposed,
        })?;
        Some((form.as_ref(), prep))
    }

    /// The ring encoding of a public value (reusing a pre-encoded one).
    fn ring_of(&self, v: &V<P>) -> Result<std::sync::Arc<RingTensor>> {
        match v {
            Value::Encoded { ring, frac } if *frac == self.p.frac_bits() => Ok(ring.clone()),
            other => Ok(std::sync::Arc::new(
                self.enc(&as_f32(&other.public().expect("a public value"))?)?,
            )),
        }
    }

    pub(super) fn enc(&self, t: &F32Tensor) -> Result<RingTensor> {
        let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
        encode(&v, t.shape(), self.p.frac_bits())
    }

    /// A public value as a (trivially) shared one.
    fn share_public(&self, c: &Const) -> Result<P::Share> {
        Ok(self.p.constant(&self.enc(&as_f32(c)?)?))
    }

    pub(super) fn data(&self, v: &V<P>) -> Result<P::Share> {
        match v {
            Value::Data(x) => Ok(x.clone()),
            Value::Public(c) => self.share_public(c),
            Value::Encoded { .. } => Ok(self.p.constant(self.ring_of(v)?.as_ref())),
        }
    }

    /// A Gemm operand, transposed when `tr` (borrowed when not).
    fn gemm_operand<'v>(&self, v: &'v V<P>, tr: bool) -> Result<Cow<'v, V<P>>> {
        if !tr {
            return Ok(Cow::Borrowed(v));
        }
        Ok(Cow::Owned(match v {
            Value::Data(x) if self.p.shape(x).len() == 2 => Value::Data(self.p.linear(x, &|m| m.transpose())?),
            Value::Data(x) => Value::Data(self.move_data(x, &|m| m.transpose(&[1, 0]))?),
            other => Value::Public(Const::F32(
                as_f32(&other.public().expect("public"))?.transpose(&[1, 0])?,
            )),
        }))
    }

    /// Like [`Self::data`], borrowing a shared value instead of copying it.
    fn data_ref<'v>(&self, v: &'v V<P>) -> Result<Cow<'v, P::Share>> {
        match v {
            Value::Data(x) => Ok(Cow::Borrowed(x)),
            other => Ok(Cow::Owned(self.data(other)?)),
        }
    }

    pub(super) fn shape(&self, v: &V<P>) -> Vec<usize> {
        match v {
            Value::Data(x) => self.p.shape(x).to_vec(),
            Value::Public(c) => c.shape().to_vec(),
            Value::Encoded { ring, .. } => ring.shape().to_vec(),
        }
    }

    /// Applies a pure data-movement op (given as its plaintext form) to a share: the op is run on
    /// index tensors to learn where each output element comes from, then every share component is
    /// gathered the same way. Positions the op fills with a constant get that constant.
    pub(super) fn move_data(&self, x: &P::Share, f: &dyn Fn(&F32Tensor) -> Result<F32Tensor>) -> Result<P::Share> {
        let shape = self.p.shape(x).to_vec();
        let n = numel(&shape);
        // Source index i+1 split as hi·4096 + lo so every part is exact in f32 (0 marks "filled").
        let hi = F32Tensor::from_vec(&shape, (0..n).map(|i| ((i + 1) >> 12) as f32).collect())?;
        let lo = F32Tensor::from_vec(&shape, (0..n).map(|i| ((i + 1) & 4095) as f32).collect())?;
        let (hi, lo) = (f(&hi)?, f(&lo)?);
        let out_shape = hi.shape().to_vec();
        let src: Vec<Option<usize>> = hi
            .data()
            .iter()
            .zip(lo.data())
            .map(|(&h, &l)| {
                let k = ((h as usize) << 12) + l as usize;
                (k > 0).then(|| k - 1)
            })
            .collect();
        if src.iter().any(|s| matches!(s, Some(k) if *k >= n)) {
            return Err(Error::invalid("data movement", "index map out of range"));
        }
        self.p.linear(x, &|t| {
            let d = t.data();
            RingTensor::from_vec(&out_shape, src.iter().map(|s| s.map_or(0, |k| d[k])).collect())
        })
    }

    pub(super) fn broadcast(&self, x: &P::Share, to: &[usize]) -> Result<P::Share> {
        if self.p.shape(x) == to {
            return Ok(x.clone());
        }
        let to = to.to_vec();
        self.move_data(x, &|t| t.broadcast_to(&to))
    }

    /// Fixed-point product of two values under op `f` (at least one shared).
    fn product(&mut self, a: &V<P>, b: &V<P>, op: BilinearOp) -> Result<P::Share> {
        self.product_with(a, b, op, None)
    }

    /// [`Self::product`], with `b` a prepared weight when `prep` is given (its share replaced by
    /// the prepared form when that is a transpose).
    fn product_with(&mut self, a: &V<P>, b: &V<P>, op: BilinearOp, prep: Option<Prep<'_, P>>) -> Result<P::Share> {
        let bits = self.p.frac_bits();
        if let (Value::Data(x), Some((form, pr))) = (a, prep) {
            let y = match (form, b) {
                (Some(t), _) => t,
                (None, Value::Data(w)) => w,
                _ => return Err(Error::invalid("product", "a prepared weight must be private")),
            };
            let raw = self.p.bilinear_prepared_many(&[(x, y, pr, op)])?;
            return self.p.truncate_many(raw, bits).map(|mut v| v.remove(0));
        }
        let raw = match (a, b) {
            (Value::Data(x), c) if !matches!(c, Value::Data(_)) => {
                let c = self.ring_of(c)?;
                self.p.bilinear_public_right(x, &c, op)?
            }
            (c, Value::Data(y)) if !matches!(c, Value::Data(_)) => {
                let c = self.ring_of(c)?;
                self.p.bilinear_public_left(&c, y, op)?
            }
            _ => {
                // Both shared: borrow them (a weight share can be large).
                let (x, y) = (self.data_ref(a)?, self.data_ref(b)?);
                return Ok(fixed_bilinear_many(self.p, &[(&*x, &*y, op)])?.remove(0));
            }
        };
        Ok(self.p.truncate_many(vec![raw], bits)?.remove(0))
    }

    /// Fixed-point product f(a, b) of two values, at least one shared: a local product and a
    /// truncation when one is public, the protocol's Beaver/replicated product otherwise.
    pub fn bilinear_values(&mut self, a: &V<P>, b: &V<P>, op: BilinearOp) -> Result<P::Share> {
        self.product(a, b, op)
    }

    /// General pooling (any rank, padding, dilation): each share component's windows are
    /// gathered locally by the public [`Windows`] map, then reduced: a max tournament over the
    /// window (padding gets a public value far below any input), or a sum times the public
    /// reciprocal of each window's divisor.
    #[allow(clippy::too_many_arguments)]
    fn pool_windows(
        &mut self,
        node: &Node,
        x: &P::Share,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
        ceil_mode: bool,
    ) -> Result<P::Share> {
        let xs = self.p.shape(x).to_vec();
        if xs.len() < 3 {
            return Err(node_error(node, format!("input {xs:?} has no spatial axes")));
        }
        let w = Windows::new(&xs[2..], kernel, strides, pads, dilations, ceil_mode).map_err(|e| node_error(node, e))?;
        let plane: usize = xs[2..].iter().product();
        let (nc, cells, k) = (xs[0] * xs[1], w.cells(), w.k);
        let wshape = [xs[0], xs[1], cells, k];
        let windows = self
            .p
            .linear(x, &|t| RingTensor::from_vec(&wshape, w.gather(t.data(), plane, 0)))?;
        let mut out_shape = xs[..2].to_vec();
        out_shape.extend_from_slice(&w.out);
        let y = match &node.op {
            Op::MaxPool { .. } => {
                let low = fixed::encode_const(self.p, -((1u64 << 24) as f64));
                let mask: Vec<u64> = (0..nc)
                    .flat_map(|_| w.src.iter().map(|s| if s.is_some() { 0 } else { low }))
                    .collect();
                let windows = self.p.add_public(&windows, &RingTensor::from_vec(&wshape, mask)?)?;
                reduce::max_values(self.p, &windows, 3)?
            }
            Op::AveragePool { count_include_pad, .. } => {
                let sums = self.p.linear(&windows, &|t| t.sum_axis(3, false))?;
                let div = if *count_include_pad {
                    w.padded_count.clone()
                } else {
                    w.input_count()
                };
                let f: Vec<f64> = (0..nc * cells).map(|i| 1.0 / div[i % cells].max(1) as f64).collect();
                fixed::mul_public(self.p, &sums, &f)?
            }
            _ => return Err(node_error(node, "not a pooling op")),
        };
        self.p.linear(&y, &|t| t.clone().reshape(&out_shape))
    }

    /// x^e for a public scalar exponent: square, sqrt, or a product chain for integers.
    fn pow_scalar(&mut self, node: &Node, x: &P::Share, e: f32) -> Result<P::Share> {
        Ok(if e == 2.0 {
            fixed::square(self.p, x)?
        } else if e == 0.5 {
            approx::sqrt(self.p, x)?
        } else if e == 1.0 {
            x.clone()
        } else if e.fract() == 0.0 && e.abs() <= 64.0 {
            approx::pow(self.p, x, e as i32)?
        } else {
            return Err(node_error(
                node,
                format!("exponent {e} is not supported (integers and 0.5 are)"),
            ));
        })
    }

    /// Elementwise a + s·b with numpy broadcasting.
    pub(super) fn add_values(&mut self, a: &V<P>, b: &V<P>, subtract: bool) -> Result<P::Share> {
        let out = plain::broadcast_shape(&self.shape(a), &self.shape(b))?;
        let neg = |this: &Self, v: P::Share| if subtract { this.p.neg(&v) } else { Ok(v) };
        match (a, b) {
            (Value::Data(x), Value::Public(c)) => {
                let x = self.broadcast(x, &out)?;
                let c = as_f32(c)?.broadcast_to(&out)?;
                let c = if subtract { c.scale(-1.0) } else { c };
                self.p.add_public(&x, &self.enc(&c)?)
            }
            (Value::Public(c), Value::Data(y)) => {
                let y = self.broadcast(y, &out)?;
                let y = neg(self, y)?;
                self.p.add_public(&y, &self.enc(&as_f32(c)?.broadcast_to(&out)?)?)
            }
            _ => {
                let x = self.broadcast(&self.data(a)?, &out)?;
                let y = self.broadcast(&self.data(b)?, &out)?;
                if subtract {
                    self.p.sub(&x, &y)
                } else {
                    self.p.add(&x, &y)
                }
            }
        }
    }

    /// Elementwise product with numpy broadcasting.
    pub(super) fn mul_values(&mut self, a: &V<P>, b: &V<P>) -> Result<P::Share> {
        let out = plain::broadcast_shape(&self.shape(a), &self.shape(b))?;
        let widen = |this: &Self, v: &V<P>| -> Result<V<P>> {
            Ok(match v {
                Value::Data(x) => Value::Data(this.broadcast(x, &out)?),
                other => Value::Public(Const::F32(
                    as_f32(&other.public().expect("public"))?.broadcast_to(&out)?,
                )),
            })
        };
        let (a, b) = (widen(self, a)?, widen(self, b)?);
        self.product(&a, &b, BilinearOp::Mul)
    }

    fn conv(&mut self, node: &Node, x: &P::Share, w: &V<P>, bias: Option<&V<P>>) -> Result<P::Share> {
        let Op::Conv {
            strides,
            pads,
            dilations,
            group,
        } = &node.op
        else {
            unreachable!()
        };
        let xs = self.p.shape(x).to_vec();
        let spatial = xs.len().saturating_sub(2);
        if !(1..=2).contains(&spatial) || pads.len() != 2 * spatial {
            return Err(node_error(
                node,
                format!("only 1-D and 2-D convolutions are supported (input {xs:?})"),
            ));
        }
        // Asymmetric padding: pad explicitly, then convolve unpadded.
        let symmetric = (0..spatial).all(|i| pads[i] == pads[i + spatial]);
        let (x, pad) = if symmetric {
            (x.clone(), pads[..spatial].to_vec())
        } else {
            let mut full = vec![0i64; 2 * xs.len()];
            for i in 0..spatial {
                full[2 + i] = pads[i] as i64;
                full[xs.len() + 2 + i] = pads[spatial + i] as i64;
            }
            (self.move_data(x, &|t| t.pad(&full, 0.0))?, vec![0; spatial])
        };
        let op = if spatial == 2 {
            BilinearOp::Conv2d(Conv2dParams {
                stride: [strides[0], strides[1]],
                padding: [pad[0], pad[1]],
                dilation: [dilations[0], dilations[1]],
                groups: *group,
            })
        } else {
            BilinearOp::Conv1d(Conv1dParams {
                stride: strides[0],
                padding: pad[0],
                dilation: dilations[0],
                groups: *group,
            })
        };
        let prep = self.prepared_input(node, 1, false);
        let y = self.product_with(&Value::Data(x), w, op, prep)?;
        match bias {
            None => Ok(y),
            Some(b) => {
                let ys = self.p.shape(&y).to_vec();
                let mut bshape = vec![1; ys.len()];
                bshape[1] = ys[1];
                let b = reshape_value(self, b, &bshape)?;
                self.add_values(&Value::Data(y), &b, false)
            }
        }
    }
}

/// A public constant as f32.
pub(super) fn as_f32(c: &Const) -> Result<F32Tensor> {
    match c {
        Const::F32(t) => Ok(t.clone()),
        Const::I64 { shape, data } => F32Tensor::from_vec(shape, data.iter().map(|&v| v as f32).collect()),
    }
}

fn reshape_value<P: Protocol>(b: &PrivateBackend<'_, P>, v: &V<P>, shape: &[usize]) -> Result<V<P>> {
    Ok(match v {
        Value::Public(_) | Value::Encoded { .. } => {
            Value::Public(Const::F32(as_f32(&v.public().expect("public"))?.reshape_exact(shape)?))
        }
        Value::Data(x) => {
            let s = shape.to_vec();
            Value::Data(b.p.linear(x, &|t| t.clone().reshape(&s))?)
        }
    })
}

/// Normalises a possibly negative axis.
fn axis(node: &Node, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let ax = if a < 0 { a + r } else { a };
    if ax < 0 || ax >= r {
        return Err(node_error(node, format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(ax as usize)
}

impl<P: Protocol> Backend for PrivateBackend<'_, P> {
    type T = P::Share;

    fn shape_of(&self, x: &P::Share) -> Vec<usize> {
        self.p.shape(x).to_vec()
    }

    fn eval(&mut self, node: &Node, raw_inputs: &[Option<&V<P>>]) -> Result<Vec<V<P>>> {
        // Pre-encoded public values stay encoded for products; other ops see them as plain publics.
        let keep_encoded = matches!(
            node.op,
            Op::MatMul
                | Op::Gemm {
                    trans_a: false,
                    trans_b: false,
                    ..
                }
                | Op::Conv { .. }
        );
        let inputs: Vec<Option<V<P>>> = raw_inputs
            .iter()
            .map(|v| {
                v.map(|v| match v {
                    Value::Encoded { .. } if !keep_encoded => Value::Public(v.public().expect("public")),
                    other => other.clone(),
                })
            })
            .collect();
        let inputs = &inputs[..];
        let arg = |k: usize| -> Result<&V<P>> {
            inputs
                .get(k)
                .and_then(Option::as_ref)
                .ok_or_else(|| node_error(node, format!("missing input {k}")))
        };
        let first_data = || -> Result<P::Share> {
            match arg(0)? {
                Value::Data(x) => Ok(x.clone()),
                _ => Err(node_error(node, "expects a private first input")),
            }
        };
        let one = |v: P::Share| Ok(vec![Value::Data(v)]);
        match &node.op {
            Op::MatMul => {
                let prep = self.prepared_input(node, 1, false);
                let y = self.product_with(arg(0)?, arg(1)?, BilinearOp::MatMul, prep)?;
                one(y)
            }
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => {
                // A prepared B already holds its transposed share.
                let prep = if *trans_a {
                    None
                } else {
                    self.prepared_input(node, 1, *trans_b)
                };
                let a = self.gemm_operand(arg(0)?, *trans_a)?;
                let b = self.gemm_operand(arg(1)?, *trans_b && prep.is_none())?;
                let mut y = self.product_with(&a, &b, BilinearOp::MatMul, prep)?;
                if *alpha != 1.0 {
                    y = fixed::mul_const(self.p, &y, *alpha as f64)?;
                }
                if let Some(Some(c)) = inputs.get(2) {
                    let c = match c {
                        Value::Public(k) if *beta != 1.0 => Value::Public(Const::F32(as_f32(k)?.scale(*beta))),
                        Value::Data(k) if *beta != 1.0 => Value::Data(fixed::mul_const(self.p, k, *beta as f64)?),
                        other => other.clone(),
                    };
                    y = self.add_values(&Value::Data(y), &c, false)?;
                }
                one(y)
            }
            Op::Conv { .. } => {
                let x = first_data()?;
                let bias = inputs.get(2).and_then(Option::as_ref);
                let y = self.conv(node, &x, arg(1)?, bias)?;
                one(y)
            }
            Op::BatchNormalization { epsilon } => {
                let x = first_data()?;
                let xs = self.p.shape(&x).to_vec();
                let c = *xs.get(1).ok_or_else(|| node_error(node, "input has no channel axis"))?;
                let mut cshape = vec![1; xs.len()];
                cshape[1] = c;
                let params: Vec<&V<P>> = (1..5).map(arg).collect::<Result<_>>()?;
                let (s, t) = if params.iter().all(|v| !matches!(v, Value::Data(_))) {
                    // Public statistics: scale and shift in plaintext.
                    let v: Vec<F32Tensor> = params
                        .iter()
                        .map(|v| as_f32(&v.public().expect("public")))
                        .collect::<Result<_>>()?;
                    if v.iter().any(|t| t.data().len() != c) {
                        return Err(node_error(node, format!("parameters must have {c} values")));
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
                    let var = self.data(&reshape_value(self, params[3], &cshape)?)?;
                    let var = fixed::add_const(self.p, &var, *epsilon as f64)?;
                    let inv = approx::inv_sqrt(self.p, &var)?;
                    let s = self.mul_values(&Value::Data(inv), &reshape_value(self, params[0], &cshape)?)?;
                    let ms = self.mul_values(&reshape_value(self, params[2], &cshape)?, &Value::Data(s.clone()))?;
                    let t = self.add_values(&reshape_value(self, params[1], &cshape)?, &Value::Data(ms), true)?;
                    (Value::Data(s), Value::Data(t))
                };
                let y = self.mul_values(&Value::Data(x), &s)?;
                let y = self.add_values(&Value::Data(y), &t, false)?;
                one(y)
            }
            Op::Add | Op::Sub => {
                let y = self.add_values(arg(0)?, arg(1)?, node.op == Op::Sub)?;
                one(y)
            }
            Op::Mul => {
                let y = self.mul_values(arg(0)?, arg(1)?)?;
                one(y)
            }
            Op::Div => match (arg(0)?, arg(1)?) {
                (a, c) if !matches!(c, Value::Data(_)) => {
                    let inv = as_f32(&c.public().expect("public"))?.reciprocal();
                    let y = self.mul_values(a, &Value::Public(Const::F32(inv)))?;
                    one(y)
                }
                (a, d) => {
                    let Value::Data(d) = d else {
                        unreachable!("handled above")
                    };
                    let r = approx::reciprocal(self.p, d)?;
                    let y = self.mul_values(a, &Value::Data(r))?;
                    one(y)
                }
            },
            Op::Pow => {
                let Value::Data(x) = arg(0)? else {
                    return Err(node_error(
                        node,
                        "a public base with a private exponent is not supported",
                    ));
                };
                let e = match arg(1)? {
                    Value::Data(_) => return Err(node_error(node, "a private exponent is not supported")),
                    other => as_f32(&other.public().expect("public"))?,
                };
                let out = plain::broadcast_shape(self.p.shape(x), e.shape())?;
                let x = self.broadcast(x, &out)?;
                let e = e.broadcast_to(&out)?;
                let mut distinct: Vec<f32> = e.data().to_vec();
                distinct.sort_by(f32::total_cmp);
                distinct.dedup();
                if distinct.len() > 8 {
                    return Err(node_error(node, "more than 8 distinct exponents are not supported"));
                }
                // One power per distinct exponent, each kept where the exponent has that value.
                let mut y: Option<P::Share> = None;
                for &k in &distinct {
                    let pk = self.pow_scalar(node, &x, k)?;
                    let part = if distinct.len() == 1 {
                        pk
                    } else {
                        let mask = e.map(|v| if v == k { 1.0 } else { 0.0 });
                        self.mul_values(&Value::Data(pk), &Value::Public(Const::F32(mask)))?
                    };
                    y = Some(match y {
                        None => part,
                        Some(acc) => self.p.add(&acc, &part)?,
                    });
                }
                one(y.expect("at least one element"))
            }
            Op::Neg => {
                let y = self.p.neg(&first_data()?)?;
                one(y)
            }
            Op::Sqrt => one(approx::sqrt(self.p, &first_data()?)?),
            Op::Exp => one(approx::exp(self.p, &first_data()?)?),
            Op::Log => one(approx::log(self.p, &first_data()?)?),
            Op::Reciprocal => one(approx::reciprocal(self.p, &first_data()?)?),
            Op::Relu => one(compare::relu(self.p, &first_data()?)?),
            Op::Sigmoid => one(approx::sigmoid(self.p, &first_data()?)?),
            Op::Tanh => one(approx::tanh(self.p, &first_data()?)?),
            Op::Erf => one(approx::erf(self.p, &first_data()?)?),
            Op::Gelu { .. } => one(approx::gelu(self.p, &first_data()?)?),
            Op::Softmax { axis: a } | Op::LogSoftmax { axis: a } => {
                let x = first_data()?;
                let ax = axis(node, *a, self.p.shape(&x).len())?;
                let y = if matches!(node.op, Op::Softmax { .. }) {
                    reduce::softmax(self.p, &x, ax)?
                } else {
                    reduce::log_softmax(self.p, &x, ax)?
                };
                one(y)
            }
            Op::LayerNormalization { axis: a, epsilon } => {
                // Normalise over axes `axis..` as rows of a [outer, inner] matrix.
                let x = first_data()?;
                let xs = self.p.shape(&x).to_vec();
                let ax = axis(node, *a, xs.len())?;
                let (outer, inner): (usize, usize) = (xs[..ax].iter().product(), xs[ax..].iter().product());
                let rows = self.p.linear(&x, &|t| t.clone().reshape(&[outer, inner]))?;
                let (y, mean, inv) = reduce::layer_norm_stats(self.p, &rows, *epsilon as f64)?;
                let mut y = self.p.linear(&y, &|t| t.clone().reshape(&xs))?;
                if let Some(Some(g)) = inputs.get(1) {
                    y = self.mul_values(&Value::Data(y), g)?;
                }
                if let Some(Some(b)) = inputs.get(2) {
                    y = self.add_values(&Value::Data(y), b, false)?;
                }
                let mut stat_shape = xs[..ax].to_vec();
                stat_shape.resize(xs.len(), 1);
                let mean = self.p.linear(&mean, &|t| t.clone().reshape(&stat_shape))?;
                let inv = self.p.linear(&inv, &|t| t.clone().reshape(&stat_shape))?;
                Ok(vec![Value::Data(y), Value::Data(mean), Value::Data(inv)])
            }
            Op::ReduceMean { axes, keepdims } | Op::ReduceSum { axes, keepdims } => {
                let x = first_data()?;
                let shape = self.p.shape(&x).to_vec();
                let mut axes: Vec<usize> = if axes.is_empty() {
                    (0..shape.len()).collect()
                } else {
                    axes.iter()
                        .map(|&a| axis(node, a, shape.len()))
                        .collect::<Result<_>>()?
                };
                axes.sort_unstable();
                let count: usize = axes.iter().map(|&a| shape[a]).product();
                let mut y = x;
                for &a in axes.iter().rev() {
                    let keep = *keepdims;
                    y = self.p.linear(&y, &|t| t.sum_axis(a, keep))?;
                }
                if matches!(node.op, Op::ReduceMean { .. }) {
                    y = fixed::mul_const(self.p, &y, 1.0 / count as f64)?;
                }
                one(y)
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
                let x = first_data()?;
                let xs = self.p.shape(&x).to_vec();
                let spatial = kernel.len();
                let fast = (1..=2).contains(&spatial)
                    && xs.len() == spatial + 2
                    && pads.len() == 2 * spatial
                    && (0..spatial).all(|i| pads[i] == pads[i + spatial] && 2 * pads[i] <= kernel[i])
                    && dilations.iter().all(|&d| d == 1);
                if !fast {
                    let y = self.pool_windows(node, &x, kernel, strides, pads, dilations, *ceil_mode)?;
                    return one(y);
                }
                // 1-D pooling runs as 2-D with height 1.
                let (x4, k, s, pd) = if spatial == 1 {
                    let x4 = self.p.linear(&x, &|t| t.clone().reshape(&[xs[0], xs[1], 1, xs[2]]))?;
                    (x4, [1, kernel[0]], [1, strides[0]], [0, pads[0]])
                } else {
                    (x, [kernel[0], kernel[1]], [strides[0], strides[1]], [pads[0], pads[1]])
                };
                let y = match &node.op {
                    Op::MaxPool { .. } => pool::max_pool2d(self.p, &x4, k, s, pd, *ceil_mode)?,
                    Op::AveragePool { count_include_pad, .. } => {
                        pool::avg_pool2d(self.p, &x4, k, s, pd, *ceil_mode, *count_include_pad)?
                    }
                    _ => unreachable!(),
                };
                let y = if spatial == 1 {
                    let ys = self.p.shape(&y).to_vec();
                    self.p.linear(&y, &|t| t.clone().reshape(&[ys[0], ys[1], ys[3]]))?
                } else {
                    y
                };
                one(y)
            }
            Op::GlobalAveragePool => {
                let x = first_data()?;
                let xs = self.p.shape(&x).to_vec();
                let spatial: usize = xs[2..].iter().product();
                let (n, c) = (xs[0], xs[1]);
                let mut out = vec![n, c];
                out.extend(std::iter::repeat_n(1, xs.len() - 2));
                let s = self.p.linear(&x, &|t| {
                    t.clone().reshape(&[n, c, spatial])?.sum_axis(2, false)?.reshape(&out)
                })?;
                one(fixed::mul_const(self.p, &s, 1.0 / spatial as f64)?)
            }
            Op::Gather { axis: a } if matches!(arg(1)?, Value::Data(_)) => {
                // Private token ids arrive one-hot encoded ([.., vocab]); the lookup is a product.
                if *a != 0 {
                    return Err(node_error(node, "private indices are supported for axis 0 only"));
                }
                let prep = self.prepared_input(node, 0, false);
                let y = self.product_with(arg(1)?, arg(0)?, BilinearOp::MatMul, prep)?;
                one(y)
            }
            Op::Shape => {
                let s = self.shape(arg(0)?);
                Ok(vec![Value::Public(Const::I64 {
                    shape: vec![s.len()],
                    data: s.iter().map(|&d| d as i64).collect(),
                })])
            }
            Op::Identity | Op::Cast { .. } => Ok(vec![arg(0)?.clone()]),
            Op::Dropout => {
                // Inference: identity, and an all-true mask.
                let shape = self.shape(arg(0)?);
                let mask = Const::I64 {
                    data: vec![1; numel(&shape)],
                    shape,
                };
                Ok(vec![arg(0)?.clone(), Value::Public(mask)])
            }
            Op::Constant(c) => Ok(vec![Value::Public(c.clone())]),
            Op::Abs
            | Op::Sign
            | Op::LeakyRelu { .. }
            | Op::HardSigmoid { .. }
            | Op::Clip { .. }
            | Op::Max
            | Op::Min
            | Op::Sum
            | Op::Mean
            | Op::Equal
            | Op::Greater
            | Op::Less
            | Op::GreaterOrEqual
            | Op::LessOrEqual
            | Op::Where
            | Op::Reduce { .. }
            | Op::Expand
            | Op::ConstantOfShape(_)
            | Op::GlobalMaxPool
            | Op::Size
            | Op::ArgMax { .. }
            | Op::Split { .. } => self.eval_more(node, inputs),
            Op::Concat { .. } => {
                // Concatenate shares: each part's data placed by an index map over the stacked parts.
                let parts: Vec<P::Share> = (0..inputs.len()).map(|k| self.data(arg(k)?)).collect::<Result<_>>()?;
                let shapes: Vec<Vec<usize>> = parts.iter().map(|x| self.p.shape(x).to_vec()).collect();
                let flat: Vec<P::Share> = parts
                    .iter()
                    .map(|x| self.p.linear(x, &|t| t.clone().reshape(&[t.len()])))
                    .collect::<Result<_>>()?;
                let mut all = flat[0].clone();
                for f in &flat[1..] {
                    all = self.p.linear2(&all, f, &|a, b| RingTensor::concat(&[a, b], 0))?;
                }
                let total = numel(self.p.shape(&all));
                let node = node.clone();
                let y = self.move_data(&all, &|t| {
                    let mut at = 0;
                    let mut pieces = Vec::new();
                    for s in &shapes {
                        let n = numel(s);
                        pieces.push(Const::F32(F32Tensor::from_vec(s, t.data()[at..at + n].to_vec())?));
                        at += n;
                    }
                    debug_assert_eq!(at, total);
                    let refs: Vec<Option<Const>> = pieces.into_iter().map(Some).collect();
                    match plain::eval(&node, &refs)?.remove(0) {
                        Const::F32(r) => Ok(r),
                        Const::I64 { .. } => Err(Error::invalid("concat", "unexpected integer result")),
                    }
                })?;
                one(y)
            }
            // Every other op is pure data movement on input 0, with public parameters.
            Op::Flatten { .. }
            | Op::Reshape
            | Op::Transpose { .. }
            | Op::Unsqueeze { .. }
            | Op::Squeeze { .. }
            | Op::Slice
            | Op::Pad
            | Op::Gather { .. } => {
                let x = first_data()?;
                let rest: Vec<Option<Const>> = inputs[1..]
                    .iter()
                    .map(|a| match a {
                        None => Ok(None),
                        Some(Value::Data(_)) => {
                            Err(node_error(node, "parameters of a data-movement op must be public"))
                        }
                        Some(other) => Ok(other.public()),
                    })
                    .collect::<Result<_>>()?;
                // A non-zero pad value: pad with zeros, then add the value at the padded positions.
                let pad_value = match (&node.op, rest.get(1)) {
                    (Op::Pad, Some(Some(v))) => as_f32(v)?.data().first().copied().unwrap_or(0.0),
                    _ => 0.0,
                };
                let node = node.clone();
                if pad_value != 0.0 {
                    let ones = F32Tensor::full(&self.p.shape(&x).to_vec(), 1.0);
                    let mut args = vec![Some(Const::F32(ones))];
                    args.extend(rest.iter().cloned());
                    args[2] = None;
                    let filled = as_f32(&plain::eval(&node, &args)?.remove(0))?.map(|m| (1.0 - m) * pad_value);
                    let y = self.move_data(&x, &|t| {
                        let mut a = vec![Some(Const::F32(t.clone()))];
                        a.extend(rest.iter().cloned());
                        a[2] = None;
                        as_f32(&plain::eval(&node, &a)?.remove(0))
                    })?;
                    let y = self.p.add_public(&y, &self.enc(&filled)?)?;
                    return one(y);
                }
                let plain_op = |t: &F32Tensor| -> Result<F32Tensor> {
                    let mut args = vec![Some(Const::F32(t.clone()))];
                    args.extend(rest.iter().cloned());
                    match plain::eval(&node, &args)?.remove(0) {
                        Const::F32(r) => Ok(r),
                        Const::I64 { .. } => Err(Error::invalid("data movement", "unexpected integer result")),
                    }
                };
                if matches!(
                    node.op,
                    Op::Flatten { .. } | Op::Reshape | Op::Unsqueeze { .. } | Op::Squeeze { .. }
                ) {
                    // Row-major order is kept: the plaintext op on zeros gives the new shape,
                    // and the share only relabels its shape (no index maps, no gather).
                    let out = plain_op(&F32Tensor::zeros(self.p.shape(&x)))?.shape().to_vec();
                    return one(self.p.linear(&x, &|t| t.clone().reshape(&out))?);
                }
                let y = self.move_data(&x, &plain_op)?;
                one(y)
            }
        }
    }
}
