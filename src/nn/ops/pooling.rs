//! Pooling: max and average pooling over windows, and global pooling (built from reductions).

use super::ReduceOps;
use crate::error::{Error, Result};
use crate::nn::graph::ReduceKind;

/// Pooling attributes as in `Op::MaxPool` / `Op::AveragePool` (one entry per spatial axis;
/// pads begins then ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolAttrs {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub ceil_mode: bool,
}

impl PoolAttrs {
    /// Whether the 1-D/2-D pooling kernels apply to an input of rank `rank` (symmetric padding of
    /// at most half a window, no dilation).
    pub fn fast(&self, rank: usize) -> bool {
        let spatial = self.kernel.len();
        let pads = &self.pads;
        (1..=2).contains(&spatial)
            && rank == spatial + 2
            && pads.len() == 2 * spatial
            && (0..spatial).all(|i| pads[i] == pads[i + spatial] && 2 * pads[i] <= self.kernel[i])
            && self.dilations.iter().all(|&d| d == 1)
    }
}

/// The spatial axes `2..` of an `[N, C, d…]` input.
fn spatial_axes(shape: &[usize]) -> Result<Vec<i64>> {
    if shape.len() < 3 {
        return Err(Error::invalid(
            "pooling",
            format!("input {shape:?} has no spatial axes"),
        ));
    }
    Ok((2..shape.len() as i64).collect())
}

/// Pooling.
pub trait PoolOps: ReduceOps {
    fn max_pool(&mut self, x: &Self::T, a: &PoolAttrs) -> Result<Self::T>;
    fn avg_pool(&mut self, x: &Self::T, a: &PoolAttrs, count_include_pad: bool) -> Result<Self::T>;
    /// The mean over the spatial axes (kept as size 1).
    fn global_avg_pool(&mut self, x: &Self::T) -> Result<Self::T> {
        let axes = spatial_axes(&self.shape_of(x))?;
        self.reduce_mean(x, &axes, true)
    }
    /// The max over the spatial axes (kept as size 1).
    fn global_max_pool(&mut self, x: &Self::T) -> Result<Self::T> {
        let axes = spatial_axes(&self.shape_of(x))?;
        self.reduce(x, ReduceKind::Max, &axes, true)
    }
}
