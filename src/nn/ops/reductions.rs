//! Reductions and normalisation: sums and means over axes, max/min/L1/L2 reductions, argmax,
//! softmax, layer and batch normalisation.

use super::{ProductOps, V};
use crate::error::Result;
use crate::nn::graph::ReduceKind;

/// Reductions and normalisation.
pub trait ReduceOps: ProductOps {
    /// Σ over `axes` (all when empty; negative allowed).
    fn reduce_sum(&mut self, x: &Self::T, axes: &[i64], keepdims: bool) -> Result<Self::T>;
    /// The mean over `axes`: the sum times the public 1/count.
    fn reduce_mean(&mut self, x: &Self::T, axes: &[i64], keepdims: bool) -> Result<Self::T> {
        let shape = self.shape_of(x);
        let (_, _, count, _) = super::shape::reduce_layout(&shape, axes, keepdims)?;
        let s = self.reduce_sum(x, axes, keepdims)?;
        self.scale(&s, 1.0 / count as f64)
    }
    /// ReduceMax, ReduceMin, ReduceSumSquare, ReduceL1, ReduceL2.
    fn reduce(&mut self, x: &Self::T, kind: ReduceKind, axes: &[i64], keepdims: bool) -> Result<Self::T>;
    /// The index of the largest (`min`: smallest) element along `axis`; ties go to the first
    /// index, or the last with `last`.
    fn argmax(&mut self, x: &Self::T, axis: i64, keepdims: bool, last: bool, min: bool) -> Result<Self::T>;
    /// Softmax along `axis`.
    fn softmax(&mut self, x: &Self::T, axis: i64) -> Result<Self::T>;
    /// log ∘ softmax along `axis`.
    fn log_softmax(&mut self, x: &Self::T, axis: i64) -> Result<Self::T>;
    /// Layer normalisation over axes `axis..` with optional scale and bias; with `stats` also
    /// the mean and inverse standard deviation (shaped to broadcast against x).
    #[allow(clippy::too_many_arguments)]
    fn layer_norm(
        &mut self,
        x: &Self::T,
        axis: i64,
        epsilon: f32,
        scale: Option<&V<Self>>,
        bias: Option<&V<Self>>,
        stats: bool,
    ) -> Result<Vec<Self::T>>;
    /// Inference batch normalisation with per-channel scale, bias, mean and variance.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm(
        &mut self,
        x: &Self::T,
        scale: &V<Self>,
        bias: &V<Self>,
        mean: &V<Self>,
        var: &V<Self>,
        epsilon: f32,
    ) -> Result<Self::T>;
}
