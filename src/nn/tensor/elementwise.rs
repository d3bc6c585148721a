//! Elementwise maps and numpy-broadcasting binary ops of [`F32Tensor`].

use super::F32Tensor;
use crate::dense;
use crate::error::Result;

impl F32Tensor {
    // ----- elementwise -----

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Self {
        Self {
            shape: self.shape.clone(),
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }

    /// Combines `self` and `other` elementwise with numpy broadcasting.
    pub fn zip_with(&self, other: &Self, op: &'static str, f: impl Fn(f32, f32) -> f32) -> Result<Self> {
        if self.shape == other.shape {
            let data = self.data.iter().zip(&other.data).map(|(&a, &b)| f(a, b)).collect();
            return Ok(Self {
                shape: self.shape.clone(),
                data,
            });
        }
        dense::zip_broadcast(&self.data, &self.shape, &other.data, &other.shape, op, f).map(Into::into)
    }

    /// `self + other` (broadcasting).
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "add", |a, b| a + b)
    }

    /// `self − other` (broadcasting).
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "sub", |a, b| a - b)
    }

    /// `self · other` (broadcasting).
    pub fn mul(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "mul", |a, b| a * b)
    }

    /// `self / other` (broadcasting, IEEE division).
    pub fn div(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "div", |a, b| a / b)
    }

    /// `self ^ other` (broadcasting, `powf`).
    pub fn pow(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "pow", f32::powf)
    }

    /// `c · self`.
    pub fn scale(&self, c: f32) -> Self {
        self.map(|x| c * x)
    }

    /// `−self`.
    pub fn neg(&self) -> Self {
        self.map(|x| -x)
    }

    /// Square root (NaN below 0).
    pub fn sqrt(&self) -> Self {
        self.map(f32::sqrt)
    }

    /// `e^x`.
    pub fn exp(&self) -> Self {
        self.map(f32::exp)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Self {
        self.map(f32::ln)
    }

    /// `1 / x`.
    pub fn reciprocal(&self) -> Self {
        self.map(|x| 1.0 / x)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Self {
        self.map(|x| if x > 0.0 || x.is_nan() { x } else { 0.0 })
    }

    /// `1 / (1 + e^−x)`, evaluated without overflow.
    pub fn sigmoid(&self) -> Self {
        self.map(|x| {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        })
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Self {
        self.map(f32::tanh)
    }

    /// The error function.
    pub fn erf(&self) -> Self {
        self.map(libm::erff)
    }

    /// GELU: `x·Φ(x)` exactly, or the tanh approximation
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    pub fn gelu(&self, tanh: bool) -> Self {
        if tanh {
            let c = (2.0f32 / std::f32::consts::PI).sqrt();
            self.map(|x| 0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh()))
        } else {
            self.map(|x| 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)))
        }
    }
}
