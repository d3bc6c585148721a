//! Activations and comparisons: elementwise nonlinear maps of one tensor, comparisons, max/min
//! and selection.

use super::{LinearOps, V};
use crate::error::Result;
use crate::nn::tensor::F32Tensor;

/// The comparisons of ONNX (1 where true, 0 elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Equal,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
}

/// Activations and comparisons.
pub trait ActivationOps: LinearOps {
    fn relu(&mut self, x: &Self::T) -> Result<Self::T>;
    fn sigmoid(&mut self, x: &Self::T) -> Result<Self::T>;
    fn tanh(&mut self, x: &Self::T) -> Result<Self::T>;
    fn exp(&mut self, x: &Self::T) -> Result<Self::T>;
    fn log(&mut self, x: &Self::T) -> Result<Self::T>;
    fn sqrt(&mut self, x: &Self::T) -> Result<Self::T>;
    fn reciprocal(&mut self, x: &Self::T) -> Result<Self::T>;
    fn erf(&mut self, x: &Self::T) -> Result<Self::T>;
    /// GELU; `tanh` selects the tanh approximation (where the backend distinguishes them).
    fn gelu(&mut self, x: &Self::T, tanh: bool) -> Result<Self::T>;
    fn abs(&mut self, x: &Self::T) -> Result<Self::T>;
    /// −1, 0 or 1.
    fn sign(&mut self, x: &Self::T) -> Result<Self::T>;
    /// αx + (1 − α)·relu(x): relu and one public linear combination.
    fn leaky_relu(&mut self, x: &Self::T, alpha: f32) -> Result<Self::T> {
        let r = self.relu(x)?;
        self.scale_sum(&[(x, alpha as f64), (&r, 1.0 - alpha as f64)])
    }
    /// max(0, min(1, αx + β)).
    fn hard_sigmoid(&mut self, x: &Self::T, alpha: f32, beta: f32) -> Result<Self::T>;
    /// Elementwise bounds (`None`: unbounded on that side).
    fn clip(&mut self, x: &Self::T, min: Option<f32>, max: Option<f32>) -> Result<Self::T>;
    /// x^e for a public exponent tensor (numpy broadcasting).
    fn pow(&mut self, x: &Self::T, e: &F32Tensor) -> Result<Self::T>;
    /// 1 where `a cmp b` holds, 0 elsewhere (numpy broadcasting).
    fn compare(&mut self, a: &V<Self>, b: &V<Self>, cmp: Cmp) -> Result<Self::T>;
    /// max(a, b) = b + relu(a − b) (numpy broadcasting).
    fn max(&mut self, a: &V<Self>, b: &V<Self>) -> Result<Self::T> {
        let d = self.add_values(a, b, true)?;
        let r = self.relu(&d)?;
        let b = self.expand(&self.tensor(b)?, &self.shape_of(&d))?;
        self.add(&b, &r)
    }
    /// min(a, b) = a − relu(a − b) (numpy broadcasting).
    fn min(&mut self, a: &V<Self>, b: &V<Self>) -> Result<Self::T> {
        let d = self.add_values(a, b, true)?;
        let r = self.relu(&d)?;
        let a = self.expand(&self.tensor(a)?, &self.shape_of(&d))?;
        self.sub(&a, &r)
    }
    /// `x` where `c` is non-zero, `y` elsewhere (numpy broadcasting).
    fn select(&mut self, c: &V<Self>, x: &V<Self>, y: &V<Self>) -> Result<Self::T>;
}
