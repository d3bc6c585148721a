//! Backward rules, one file per op family, each implementing that family for the recording
//! backend [`Autodiff`](super::record::Autodiff): the forward runs on the wrapped backend and the
//! op's backward is recorded beside it. Rules are written with the wrapped backend's family
//! methods, the interpreter (graph ops on values, so a product of shared values is the protocol's
//! product and one with a public value is local) and the primitives of
//! [`AutodiffBackend`](super::AutodiffBackend).

mod activations;
mod linear;
mod pooling;
mod products;
mod reductions;

use crate::nn::graph::Const;
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;

/// A public scalar operand.
fn scalar<T>(c: f32) -> Value<T> {
    Value::Public(Const::F32(F32Tensor::scalar(c)))
}
