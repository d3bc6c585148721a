//! The values that flow through a graph: public constants, public values already encoded in the
//! ring, and a backend's own tensors (f32 in plaintext, shares on a protocol).

use super::graph::Const;
use super::tensor::F32Tensor;
use crate::error::{Error, Result};
use crate::ring::RingTensor;
use std::sync::Arc;

/// A value flowing through the graph.
#[derive(Clone, Debug)]
pub enum Value<T> {
    /// Known to every party.
    Public(Const),
    /// A public value already encoded in the ring at `frac` fractional bits (a public model's
    /// weights, encoded once per session instead of once per use).
    Encoded { ring: Arc<RingTensor>, frac: u32 },
    /// The backend's tensor (private on a protocol backend).
    Data(T),
}

impl<T> Value<T> {
    /// The public value of a `Public` or `Encoded` value.
    pub fn public(&self) -> Option<Const> {
        match self {
            Value::Public(c) => Some(c.clone()),
            Value::Encoded { ring, frac } => {
                let v: Vec<f32> = crate::ring::decode(ring, *frac).iter().map(|&x| x as f32).collect();
                F32Tensor::from_vec(ring.shape(), v).ok().map(Const::F32)
            }
            Value::Data(_) => None,
        }
    }

    /// The public value, or an error naming `what` for backend data: for the operands an op
    /// needs in the clear (shapes, axes, exponents, pad values).
    pub fn require_public(&self, what: &str) -> Result<Const> {
        self.public()
            .ok_or_else(|| Error::invalid(what.to_string(), "must be public, got a private value"))
    }

    /// A public value as f32 (see [`Value::require_public`]).
    pub fn public_f32(&self, what: &str) -> Result<F32Tensor> {
        as_f32(&self.require_public(what)?)
    }

    /// Whether the value is backend data (private on a protocol backend).
    pub fn is_data(&self) -> bool {
        matches!(self, Value::Data(_))
    }
}

/// A public constant as f32.
pub fn as_f32(c: &Const) -> Result<F32Tensor> {
    match c {
        Const::F32(t) => Ok(t.clone()),
        Const::I64 { shape, data } => F32Tensor::from_vec(shape, data.iter().map(|&v| v as f32).collect()),
    }
}

/// The integers of a public value (shapes, axes, indices).
pub fn ints(c: &Const) -> Vec<i64> {
    match c {
        Const::I64 { data, .. } => data.clone(),
        Const::F32(t) => t.data().iter().map(|&v| v as i64).collect(),
    }
}

/// An f32 tensor as integers (rounded): the integer results of shape arithmetic.
pub fn to_i64(t: &F32Tensor) -> Const {
    Const::I64 {
        shape: t.shape().to_vec(),
        data: t.data().iter().map(|&v| v.round() as i64).collect(),
    }
}
