//! `RingTensor`: a contiguous, row-major tensor over Z_2^64.
//!
//! Every element is a `u64` and every arithmetic operation wraps modulo 2^64, which is exactly the
//! arithmetic of additive secret shares. Signed interpretation (two's complement) is used only by
//! the arithmetic shift and by fixed-point decoding.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Element count above which elementwise kernels split work across rayon threads.
pub(crate) const PAR_THRESHOLD: usize = crate::dense::PAR_THRESHOLD;

pub use crate::dense::{numel, shape_string};

/// A dense tensor of `u64` ring elements with a shape (row-major, last axis fastest).
#[derive(Clone, PartialEq, Eq)]
pub struct RingTensor {
    shape: Vec<usize>,
    data: Vec<u64>,
}

impl std::fmt::Debug for RingTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<_> = self.data.iter().take(8).collect();
        write!(
            f,
            "RingTensor{:?}{:?}{}",
            self.shape,
            shown,
            if self.data.len() > 8 { "…" } else { "" }
        )
    }
}

/// Errors unless `out` has shape `want` (the target of an accumulating kernel).
pub(crate) fn check_out(op: &'static str, want: &[usize], out: &RingTensor) -> Result<()> {
    if out.shape() != want {
        return Err(Error::shape(
            op,
            format!(
                "accumulator has shape {} but the result has shape {}",
                shape_string(out.shape()),
                shape_string(want)
            ),
        ));
    }
    Ok(())
}

impl RingTensor {
    /// Wraps `data` with `shape`; errors when the element count does not match.
    pub fn from_vec(shape: &[usize], data: Vec<u64>) -> Result<Self> {
        if numel(shape) != data.len() {
            return Err(Error::shape(
                "from_vec",
                format!(
                    "shape {} holds {} elements, got {}",
                    shape_string(shape),
                    numel(shape),
                    data.len()
                ),
            ));
        }
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// Internal constructor for kernels that already guarantee `numel(shape) == data.len()`.
    pub(crate) fn from_parts(shape: Vec<usize>, data: Vec<u64>) -> Self {
        debug_assert_eq!(numel(&shape), data.len());
        Self { shape, data }
    }

    /// All-zero tensor.
    pub fn zeros(shape: &[usize]) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![0; numel(shape)],
        }
    }

    /// Tensor filled with one value.
    pub fn full(shape: &[usize], value: u64) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![value; numel(shape)],
        }
    }

    /// Rank-0 tensor holding one value.
    pub fn scalar(value: u64) -> Self {
        Self {
            shape: vec![],
            data: vec![value],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row-major elements.
    pub fn data(&self) -> &[u64] {
        &self.data
    }

    /// Mutable row-major elements.
    pub fn data_mut(&mut self) -> &mut [u64] {
        &mut self.data
    }

    /// Consumes the tensor, returning its elements.
    pub fn into_vec(self) -> Vec<u64> {
        self.data
    }

    /// Same data, new shape with the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.data.len() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "cannot reshape {} into {}",
                    shape_string(&self.shape),
                    shape_string(shape)
                ),
            ));
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// Errors unless both tensors have the same shape.
    pub fn check_same_shape(&self, other: &Self, op: &'static str) -> Result<()> {
        if self.shape != other.shape {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {} and {} differ",
                    shape_string(&self.shape),
                    shape_string(&other.shape)
                ),
            ));
        }
        Ok(())
    }

    /// Applies `f` to each element, in parallel for large tensors.
    pub fn map(&self, f: impl Fn(u64) -> u64 + Sync + Send) -> Self {
        let data = if self.data.len() >= PAR_THRESHOLD {
            self.data.par_iter().map(|&x| f(x)).collect()
        } else {
            self.data.iter().map(|&x| f(x)).collect()
        };
        Self {
            shape: self.shape.clone(),
            data,
        }
    }

    /// Applies `f` to each element in place.
    pub fn map_inplace(&mut self, f: impl Fn(u64) -> u64 + Sync + Send) {
        if self.data.len() >= PAR_THRESHOLD {
            self.data.par_iter_mut().for_each(|x| *x = f(*x));
        } else {
            self.data.iter_mut().for_each(|x| *x = f(*x));
        }
    }

    /// Combines two same-shaped tensors elementwise.
    pub fn zip(&self, other: &Self, op: &'static str, f: impl Fn(u64, u64) -> u64 + Sync + Send) -> Result<Self> {
        self.check_same_shape(other, op)?;
        let data = if self.data.len() >= PAR_THRESHOLD {
            self.data
                .par_iter()
                .zip(other.data.par_iter())
                .map(|(&a, &b)| f(a, b))
                .collect()
        } else {
            self.data.iter().zip(&other.data).map(|(&a, &b)| f(a, b)).collect()
        };
        Ok(Self {
            shape: self.shape.clone(),
            data,
        })
    }

    /// `self[i] = f(self[i], other[i])` in place.
    pub fn zip_inplace(
        &mut self,
        other: &Self,
        op: &'static str,
        f: impl Fn(u64, u64) -> u64 + Sync + Send,
    ) -> Result<()> {
        self.check_same_shape(other, op)?;
        if self.data.len() >= PAR_THRESHOLD {
            self.data
                .par_iter_mut()
                .zip(other.data.par_iter())
                .for_each(|(a, &b)| *a = f(*a, b));
        } else {
            self.data.iter_mut().zip(&other.data).for_each(|(a, &b)| *a = f(*a, b));
        }
        Ok(())
    }
}
