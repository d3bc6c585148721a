//! The private backend: every op family on shares of any protocol, one file per family, each with
//! its declared cost (the [`cost::CostBackend`] implementation of the family) beside it.
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

mod activations;
pub mod cost;
mod linear;
mod pooling;
mod products;
mod reductions;

pub use super::exec::{WeightUse, product_weights};
use super::graph::{Const, Graph};
use super::ops::Backend;
use super::tensor::F32Tensor;
use super::value::Value;
use crate::error::{Error, Result};
use crate::protocol::{BilinearOp, Protocol, fixed_bilinear_many};
use crate::ring::{RingTensor, encode, numel};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Runs nodes on shares held by one party of protocol `P`.
pub struct PrivateBackend<'a, P: Protocol> {
    /// The party.
    pub p: &'a mut P,
    /// Weights prepared as right operands of products, if any.
    prepared: Option<&'a PreparedWeights<P>>,
}

pub(crate) type V<P> = Value<<P as Protocol>::Share>;

/// A prepared weight as a product takes it: its share when that is not the stored one, and the
/// protocol's prepared state.
pub(super) type Prep<'a, P> = (Option<&'a <P as Protocol>::Share>, &'a <P as Protocol>::Prepared);

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

/// Prepares every private weight of `params` that `graph` uses as a product's right operand, all
/// in one round (a setup step: its cost belongs with the sharing of the weights).
pub fn prepare_weights<P: Protocol>(
    p: &mut P,
    graph: &Graph,
    params: &HashMap<String, V<P>>,
) -> Result<PreparedWeights<P>> {
    let mut uses = Vec::new();
    let mut forms: Vec<Option<P::Share>> = Vec::new();
    let mut operands: Vec<&P::Share> = Vec::new();
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
        operands.push(w);
        uses.push(u);
    }
    let operands: Vec<&P::Share> = forms
        .iter()
        .zip(operands)
        .map(|(f, w)| f.as_ref().unwrap_or(w))
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

    /// The prepared form of weight `name` (used transposed or not), if it was prepared.
    fn prepared(&self, name: &str, transposed: bool) -> Option<Prep<'a, P>> {
        let (form, prep) = self.prepared?.map.get(&WeightUse {
            name: name.to_string(),
            transposed,
        })?;
        Some((form.as_ref(), prep))
    }

    /// The ring encoding of a public value (reusing a pre-encoded one).
    fn ring_of(&self, v: &V<P>) -> Result<Arc<RingTensor>> {
        match v {
            Value::Encoded { ring, frac } if *frac == self.p.frac_bits() => Ok(ring.clone()),
            other => Ok(Arc::new(self.enc(&other.public_f32("a public operand")?)?)),
        }
    }

    /// The ring encoding of a public tensor at the protocol's fractional bits.
    pub(crate) fn enc(&self, t: &F32Tensor) -> Result<RingTensor> {
        let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
        encode(&v, t.shape(), self.p.frac_bits())
    }

    /// A value as a share (public ones trivially shared; a pre-encoded one as it is).
    fn data(&self, v: &V<P>) -> Result<P::Share> {
        match v {
            Value::Data(x) => Ok(x.clone()),
            Value::Public(_) => self.tensor(v),
            Value::Encoded { .. } => Ok(self.p.constant(self.ring_of(v)?.as_ref())),
        }
    }

    /// Like [`Self::data`], borrowing a shared value instead of copying it.
    fn data_ref<'v>(&self, v: &'v V<P>) -> Result<Cow<'v, P::Share>> {
        match v {
            Value::Data(x) => Ok(Cow::Borrowed(x)),
            other => Ok(Cow::Owned(self.data(other)?)),
        }
    }

    /// Applies a pure data-movement op (given as its plaintext form) to a share: the op is run on
    /// index tensors to learn where each output element comes from, then every share component is
    /// gathered the same way. Positions the op fills with a constant get that constant.
    pub(crate) fn move_data(&self, x: &P::Share, f: &dyn Fn(&F32Tensor) -> Result<F32Tensor>) -> Result<P::Share> {
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
            let out = self.p.bilinear_prepared_truncated_many(&[(x, y, pr, op)], bits)?;
            return Ok(out.into_iter().next().expect("one product"));
        }
        let raw = match (a, b) {
            (Value::Data(x), c) if !c.is_data() => {
                let c = self.ring_of(c)?;
                self.p.bilinear_public_right(x, &c, op)?
            }
            (c, Value::Data(y)) if !c.is_data() => {
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

    /// [`Self::product_with`] without the truncation: f(a, b) at scale 2^2f, for a protocol that
    /// truncates inside its next gate (`Protocol::trunc_relu_many`).
    fn raw_product_with(&mut self, a: &V<P>, b: &V<P>, op: BilinearOp, prep: Option<Prep<'_, P>>) -> Result<P::Share> {
        if let (Value::Data(x), Some((form, pr))) = (a, prep) {
            let y = match (form, b) {
                (Some(t), _) => t,
                (None, Value::Data(w)) => w,
                _ => return Err(Error::invalid("product", "a prepared weight must be private")),
            };
            return Ok(self.p.bilinear_prepared_many(&[(x, y, pr, op)])?.remove(0));
        }
        match (a, b) {
            (Value::Data(x), c) if !c.is_data() => {
                let c = self.ring_of(c)?;
                self.p.bilinear_public_right(x, &c, op)
            }
            (c, Value::Data(y)) if !c.is_data() => {
                let c = self.ring_of(c)?;
                self.p.bilinear_public_left(&c, y, op)
            }
            _ => {
                let (x, y) = (self.data_ref(a)?, self.data_ref(b)?);
                Ok(self.p.bilinear_many(&[(&*x, &*y, op)])?.remove(0))
            }
        }
    }

    /// Fixed-point product f(a, b) of two values, at least one shared: a local product and a
    /// truncation when one is public, the protocol's Beaver/replicated product otherwise.
    pub fn bilinear_values(&mut self, a: &V<P>, b: &V<P>, op: BilinearOp) -> Result<P::Share> {
        self.product(a, b, op)
    }

    /// A value with another shape (public values reshaped in plaintext).
    fn reshape_value(&self, v: &V<P>, shape: &[usize]) -> Result<V<P>> {
        Ok(match v {
            Value::Data(x) => {
                let s = shape.to_vec();
                Value::Data(self.p.linear(x, &|t| t.clone().reshape(&s))?)
            }
            other => Value::Public(Const::F32(other.public_f32("a parameter")?.reshape_exact(shape)?)),
        })
    }
}

impl<P: Protocol> Backend for PrivateBackend<'_, P> {
    type T = P::Share;

    fn shape_of(&self, x: &P::Share) -> Vec<usize> {
        self.p.shape(x).to_vec()
    }

    fn lift(&self, c: &F32Tensor) -> Result<P::Share> {
        Ok(self.p.constant(&self.enc(c)?))
    }
}
