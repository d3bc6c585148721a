//! `F32Tensor`: dense float32 tensors for the plaintext backend and for public values.
//!
//! Every kernel follows the ONNX operator of the same name (and PyTorch where ONNX leaves a choice
//! open, e.g. pooling output sizes with `ceil_mode`). Shapes are checked up front: a mismatch is an
//! [`Error::shape`], a bad argument an [`Error::invalid`]; no kernel panics on user input.
//!
//! Matrix products and convolutions (im2col) go through `matrixmultiply::sgemm`, split across the
//! rayon pool when the product is large.

use crate::error::{Error, Result};

mod elementwise;
mod grad;
mod linalg;
mod movement;
mod reduce;
#[cfg(test)]
mod tests;
mod window;

/// A dense row-major f32 tensor.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct F32Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Largest element count a tensor may have (so byte sizes and `isize` offsets never overflow).
const MAX_NUMEL: usize = isize::MAX as usize / 8;

/// Element count of `shape`, or a shape error when it overflows.
fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_NUMEL)
        .ok_or_else(|| Error::shape(op, format!("shape {shape:?} has too many elements")))
}

/// Normalises an axis in `[-rank, rank)`.
fn norm_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(Error::invalid(
            op,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Normalises a list of distinct axes in `[-rank, rank)`, keeping their order.
fn norm_axes(op: &'static str, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let ax = norm_axis(op, a, rank)?;
        if out.contains(&ax) {
            return Err(Error::invalid(op, format!("axes {axes:?} repeat axis {ax}")));
        }
        out.push(ax);
    }
    Ok(out)
}

/// The numpy broadcast of shapes `a` and `b`.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    crate::dense::broadcast_shape(a, b)
}

impl F32Tensor {
    // ----- construction and access -----

    /// Wraps `data` with `shape`; errors when the element count does not match.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let n = checked_numel("tensor", shape)?;
        if n != data.len() {
            return Err(Error::shape(
                "tensor",
                format!("shape {shape:?} holds {n} elements, got {}", data.len()),
            ));
        }
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// Every element equal to `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![value; shape.iter().product()],
        }
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: f32) -> Self {
        Self {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
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

    /// The largest `|self − other|` over all elements (0 where both are equal, including equal
    /// infinities); `f32::INFINITY` when the shapes differ or exactly one side is NaN.
    pub fn max_abs_diff(&self, other: &Self) -> f32 {
        if self.shape != other.shape {
            return f32::INFINITY;
        }
        self.data
            .iter()
            .zip(&other.data)
            .map(|(&a, &b)| {
                if a == b || (a.is_nan() && b.is_nan()) {
                    0.0
                } else {
                    let d = (a - b).abs();
                    if d.is_nan() { f32::INFINITY } else { d }
                }
            })
            .fold(0.0f32, f32::max)
    }
}
