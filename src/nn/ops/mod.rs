//! The op families every backend implements, burn-style: one trait per family, with default
//! bodies for the ops that are built from others.
//!
//! | family | trait | ops |
//! |---|---|---|
//! | movement and linear maps (local on shares) | [`LinearOps`] | reshape, transpose, slice, pad, gather, expand, concat, split, add, sub, neg, public scaling |
//! | products | [`ProductOps`] | matmul, gemm, conv, embedding lookup, elementwise mul, div |
//! | activations and comparisons | [`ActivationOps`] | relu, sigmoid, tanh, exp, log, sqrt, reciprocal, erf, gelu, abs, sign, leaky relu, hard sigmoid, clip, pow, comparisons, max, min, where |
//! | reductions and normalisation | [`ReduceOps`] | sums, means, max/min/L1/L2 reductions, argmax, softmax, layer norm, batch norm |
//! | pooling | [`PoolOps`] | max and average pooling, global pooling |
//!
//! Implementations: the plaintext backend (`nn::plain`, f32), the private backend over any
//! protocol (`nn::private`, one file per family, each with its declared cost beside it) and the
//! cost backend (`nn::private::cost`). The interpreter (`nn::exec`) holds the only `match` over
//! graph ops: it unpacks attributes and operands and calls one family method. Operands come typed:
//! a method that needs a backend tensor takes `&Self::T` (public inputs are lifted by the
//! interpreter), one that has a cheaper path for public operands takes a [`Value`], and public
//! parameters (shapes, axes, exponents) arrive as plain Rust values.

mod activations;
mod linear;
mod pooling;
mod products;
mod reductions;
pub mod shape;

/// How Pad fills new positions (the dense core's enum, at f32).
pub use crate::dense::PadMode;
pub use activations::{ActivationOps, Cmp};
pub use linear::LinearOps;
pub use pooling::{PoolAttrs, PoolOps};
pub use products::{ConvAttrs, GemmAttrs, ProductOps, Weight};
pub use reductions::ReduceOps;

use super::tensor::F32Tensor;
pub use super::value::Value;
use crate::error::Result;

/// What every backend provides: its tensor type, shapes, and public values as tensors.
pub trait Backend {
    /// The backend's tensor type.
    type T: Clone;
    /// The shape of a backend tensor.
    fn shape_of(&self, x: &Self::T) -> Vec<usize>;
    /// A public value as a backend tensor (a trivial sharing on a protocol; no communication).
    fn lift(&self, c: &F32Tensor) -> Result<Self::T>;
    /// The plaintext of a tensor on a plaintext backend (`None` on a protocol): lets the
    /// interpreter give integer results to shape arithmetic on public values.
    fn plaintext<'a>(&self, _x: &'a Self::T) -> Option<&'a F32Tensor> {
        None
    }
    /// A value as a backend tensor (public values are lifted).
    fn tensor(&self, v: &Value<Self::T>) -> Result<Self::T> {
        match v {
            Value::Data(x) => Ok(x.clone()),
            other => self.lift(&other.public_f32("a value")?),
        }
    }
    /// The shape of a value.
    fn value_shape(&self, v: &Value<Self::T>) -> Vec<usize> {
        match v {
            Value::Data(x) => self.shape_of(x),
            Value::Public(c) => c.shape().to_vec(),
            Value::Encoded { ring, .. } => ring.shape().to_vec(),
        }
    }
}

/// Every op family: what the interpreter runs graphs on.
pub trait Ops: LinearOps + ActivationOps + ProductOps + ReduceOps + PoolOps {}

impl<B: LinearOps + ActivationOps + ProductOps + ReduceOps + PoolOps> Ops for B {}

/// The value type of backend `B`.
pub type V<B> = Value<<B as Backend>::T>;
