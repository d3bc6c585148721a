//! `F32Tensor`: dense float32 tensors for the plaintext backend and for public values.
//! (Skeleton: kernels being written.)

use crate::error::{Error, Result};

/// A dense row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct F32Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl F32Tensor {
    /// Wraps `data` with `shape`; errors when the element count does not match.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(Error::shape("tensor", format!("shape {shape:?} holds {} elements, got {}", shape.iter().product::<usize>(), data.len())));
        }
        Ok(Self { shape: shape.to_vec(), data })
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Row-major values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable row-major values.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the tensor, returning its values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}
