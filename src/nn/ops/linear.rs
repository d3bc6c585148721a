//! Movement and linear maps: reshape, transpose, slice, pad, gather, broadcast, concat, split,
//! sums and differences, and products with public reals. All are local on shares except the
//! truncation that a product with public reals needs.

use super::{Backend, PadMode, V, Value};
use crate::error::Result;
use crate::nn::tensor::broadcast_shape;

/// Movement and linear maps.
pub trait LinearOps: Backend {
    /// The same elements with another (fully known) shape, in row-major order.
    fn reshape(&self, x: &Self::T, shape: &[usize]) -> Result<Self::T>;
    /// Axes permuted by `perm`.
    fn transpose(&self, x: &Self::T, perm: &[usize]) -> Result<Self::T>;
    /// ONNX Slice with public starts, ends, axes and steps.
    fn slice(&self, x: &Self::T, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<Self::T>;
    /// Constant-mode padding (`pads`: all begins, then all ends) with `value`.
    fn pad(&self, x: &Self::T, pads: &[i64], mode: PadMode<f32>) -> Result<Self::T>;
    /// ONNX Tile: `repeats[i]` copies along every axis `i`. Built from [`LinearOps::concat`]
    /// (a movement: local on shares, no cost).
    fn tile(&self, x: &Self::T, repeats: &[usize]) -> Result<Self::T> {
        let rank = self.shape_of(x).len();
        if repeats.len() != rank {
            return Err(crate::Error::shape(
                "tile",
                format!("{} repeats for a tensor of rank {rank}", repeats.len()),
            ));
        }
        let mut y = x.clone();
        for (axis, &r) in repeats.iter().enumerate() {
            if r != 1 {
                let copies: Vec<&Self::T> = std::iter::repeat_n(&y, r).collect();
                y = self.concat(&copies, axis as i64)?;
            }
        }
        Ok(y)
    }
    /// Gather along `axis` with public indices of shape `indices_shape`.
    fn gather(&self, x: &Self::T, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<Self::T>;
    /// numpy broadcasting of `x` to `shape`.
    fn expand(&self, x: &Self::T, shape: &[usize]) -> Result<Self::T>;
    /// Concatenation along `axis`.
    fn concat(&self, parts: &[&Self::T], axis: i64) -> Result<Self::T>;
    /// Pieces of `sizes` along axis `axis` (already normalised).
    fn split(&self, x: &Self::T, axis: usize, sizes: &[usize]) -> Result<Vec<Self::T>> {
        let mut at = 0i64;
        let mut out = Vec::with_capacity(sizes.len());
        for &s in sizes {
            out.push(self.slice(x, &[at], &[at + s as i64], &[axis as i64], &[1])?);
            at += s as i64;
        }
        Ok(out)
    }
    /// a + b (numpy broadcasting).
    fn add(&self, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// a − b (numpy broadcasting).
    fn sub(&self, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// −x.
    fn neg(&self, x: &Self::T) -> Result<Self::T>;
    /// x + c for a public c (numpy broadcasting).
    fn add_public(&self, x: &Self::T, c: &crate::nn::tensor::F32Tensor) -> Result<Self::T>;
    /// a + b, or a − b with `subtract`, for values of any kind (numpy broadcasting): a public
    /// operand is added locally, never shared.
    fn add_values(&self, a: &V<Self>, b: &V<Self>, subtract: bool) -> Result<Self::T> {
        let out = broadcast_shape(&self.value_shape(a), &self.value_shape(b))?;
        match (a, b) {
            (Value::Data(x), c) if !c.is_data() => {
                let x = self.expand(x, &out)?;
                let c = c.public_f32("an addend")?.broadcast_to(&out)?;
                self.add_public(&x, &if subtract { c.scale(-1.0) } else { c })
            }
            (c, Value::Data(y)) if !c.is_data() => {
                let y = self.expand(y, &out)?;
                let y = if subtract { self.neg(&y)? } else { y };
                self.add_public(&y, &c.public_f32("an addend")?.broadcast_to(&out)?)
            }
            _ => {
                let x = self.expand(&self.tensor(a)?, &out)?;
                let y = self.expand(&self.tensor(b)?, &out)?;
                if subtract { self.sub(&x, &y) } else { self.add(&x, &y) }
            }
        }
    }
    /// Σ cᵢ·xᵢ for public reals cᵢ and same-shaped xᵢ, with one truncation on a protocol.
    fn scale_sum(&mut self, terms: &[(&Self::T, f64)]) -> Result<Self::T>;
    /// x · c for a public real c.
    fn scale(&mut self, x: &Self::T, c: f64) -> Result<Self::T> {
        self.scale_sum(&[(x, c)])
    }
}
