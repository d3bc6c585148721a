//! Shape and data movement of [`F32Tensor`]: ONNX argument conventions (negative axes, clamped
//! slices, begin-then-end pads) on top of the shared movements of [`crate::dense`].

use super::{F32Tensor, checked_numel, norm_axes, norm_axis};
use crate::dense::{self, Dense, PadMode};
use crate::error::{Error, Result};

impl From<Dense<f32>> for F32Tensor {
    fn from(d: Dense<f32>) -> Self {
        Self {
            shape: d.shape,
            data: d.data,
        }
    }
}

impl F32Tensor {
    /// Same values with `shape` (element counts must match).
    pub fn reshape_exact(&self, shape: &[usize]) -> Result<Self> {
        let n = checked_numel("reshape", shape)?;
        if n != self.data.len() {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {:?} to {shape:?}", self.shape),
            ));
        }
        Ok(Self {
            shape: shape.to_vec(),
            data: self.data.clone(),
        })
    }

    /// ONNX Reshape: 0 copies the input dimension at the same index, one −1 is inferred.
    pub fn reshape(&self, shape: &[i64]) -> Result<Self> {
        const OP: &str = "reshape";
        let mut out = Vec::with_capacity(shape.len());
        let mut infer = None;
        for (i, &d) in shape.iter().enumerate() {
            match d {
                -1 => {
                    if infer.replace(i).is_some() {
                        return Err(Error::invalid(OP, format!("shape {shape:?} has more than one -1")));
                    }
                    out.push(1);
                }
                0 => match self.shape.get(i) {
                    Some(&s) => out.push(s),
                    None => {
                        return Err(Error::shape(
                            OP,
                            format!(
                                "shape {shape:?} copies dim {i} (0) but the input {:?} has rank {}",
                                self.shape,
                                self.shape.len()
                            ),
                        ));
                    }
                },
                d if d > 0 => {
                    out.push(usize::try_from(d).map_err(|_| Error::invalid(OP, format!("dimension {d} is too large")))?)
                }
                _ => {
                    return Err(Error::invalid(
                        OP,
                        format!("shape {shape:?} has a negative dimension other than -1"),
                    ));
                }
            }
        }
        let known = checked_numel(OP, &out)?;
        if let Some(i) = infer {
            if known == 0 || !self.data.len().is_multiple_of(known) {
                return Err(Error::shape(
                    OP,
                    format!("cannot reshape {:?} to {shape:?}", self.shape),
                ));
            }
            out[i] = self.data.len() / known;
        }
        self.reshape_exact(&out)
            .map_err(|_| Error::shape(OP, format!("cannot reshape {:?} to {shape:?}", self.shape)))
    }

    /// ONNX Flatten: `[d0..d(axis−1), d(axis)..]` → 2-D; `axis` in `[-rank, rank]`.
    pub fn flatten(&self, axis: i64) -> Result<Self> {
        let r = self.rank() as i64;
        if axis < -r || axis > r {
            return Err(Error::invalid(
                "flatten",
                format!("axis {axis} is out of range for rank {r}"),
            ));
        }
        let a = if axis < 0 { axis + r } else { axis } as usize;
        let outer: usize = self.shape[..a].iter().product();
        let inner: usize = self.shape[a..].iter().product();
        Ok(Self {
            shape: vec![outer, inner],
            data: self.data.clone(),
        })
    }

    /// Permutes the axes: output axis `i` is input axis `perm[i]`. An empty `perm` reverses the
    /// axes (the ONNX default).
    pub fn transpose(&self, perm: &[usize]) -> Result<Self> {
        let r = self.rank();
        let perm: Vec<usize> = if perm.is_empty() {
            (0..r).rev().collect()
        } else {
            perm.to_vec()
        };
        dense::permute(&self.data, &self.shape, &perm)
            .map(Into::into)
            .map_err(|_| {
                Error::invalid(
                    "transpose",
                    format!("{perm:?} is not a permutation of the axes of {:?}", self.shape),
                )
            })
    }

    /// ONNX Unsqueeze: inserts size-1 axes at `axes` (positions in the output, negative allowed).
    pub fn unsqueeze(&self, axes: &[i64]) -> Result<Self> {
        let out_rank = self.rank() + axes.len();
        let axes = norm_axes("unsqueeze", axes, out_rank)?;
        let mut it = self.shape.iter();
        let shape = (0..out_rank)
            .map(|i| {
                if axes.contains(&i) {
                    1
                } else {
                    *it.next().expect("rank arithmetic")
                }
            })
            .collect();
        Ok(Self {
            shape,
            data: self.data.clone(),
        })
    }

    /// ONNX Squeeze: removes the size-1 axes `axes` (all size-1 axes when empty).
    pub fn squeeze(&self, axes: &[i64]) -> Result<Self> {
        let axes = norm_axes("squeeze", axes, self.rank())?;
        for &a in &axes {
            if self.shape[a] != 1 {
                return Err(Error::shape(
                    "squeeze",
                    format!("axis {a} of {:?} is not 1", self.shape),
                ));
            }
        }
        let shape = self
            .shape
            .iter()
            .enumerate()
            .filter(|&(i, &d)| if axes.is_empty() { d != 1 } else { !axes.contains(&i) })
            .map(|(_, &d)| d)
            .collect();
        Ok(Self {
            shape,
            data: self.data.clone(),
        })
    }

    /// ONNX Concat of `parts` along `axis` (all other dims must agree).
    pub fn concat(parts: &[&F32Tensor], axis: i64) -> Result<Self> {
        const OP: &str = "concat";
        let first = parts.first().ok_or_else(|| Error::invalid(OP, "no inputs"))?;
        if first.rank() == 0 {
            return Err(Error::shape(OP, "cannot concatenate scalars"));
        }
        let ax = norm_axis(OP, axis, first.rank())?;
        let views: Vec<(&[f32], &[usize])> = parts.iter().map(|p| (&p.data[..], &p.shape[..])).collect();
        dense::concat(&views, ax).map(Into::into)
    }

    /// ONNX Slice. `axes` empty means `0..starts.len()`, `steps` empty means all 1. Negative
    /// starts/ends count from the end; out-of-range values are clamped (to `[0, d]` for positive
    /// steps, `[0, d−1]` / `[−1, d−1]` for negative ones).
    pub fn slice(&self, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<Self> {
        let spec = dense::onnx_slice(&self.shape, starts, ends, axes, steps)?;
        dense::slice(&self.data, &self.shape, &spec).map(Into::into)
    }

    /// ONNX constant Pad: `pads` holds all begins then all ends (negative values crop).
    pub fn pad(&self, pads: &[i64], value: f32) -> Result<Self> {
        self.pad_mode(pads, PadMode::Constant(value))
    }

    /// ONNX Pad in any mode (constant, edge, reflect): `pads` holds all begins then all ends
    /// (negative values crop).
    pub fn pad_mode(&self, pads: &[i64], mode: PadMode<f32>) -> Result<Self> {
        let r = self.rank();
        if pads.len() != 2 * r {
            return Err(Error::invalid(
                "pad",
                format!("pads {pads:?} must have {} entries for rank {r}", 2 * r),
            ));
        }
        let pairs: Vec<(i64, i64)> = (0..r).map(|i| (pads[i], pads[r + i])).collect();
        dense::pad(&self.data, &self.shape, &pairs, mode).map(Into::into)
    }

    /// ONNX Tile: repeats the tensor `repeats[i]` times along every axis `i`.
    pub fn tile(&self, repeats: &[usize]) -> Result<Self> {
        dense::tile(&self.data, &self.shape, repeats).map(Into::into)
    }

    /// ONNX Gather along `axis` with `indices` of shape `indices_shape` (negative indices count
    /// from the end). The output shape is `shape[..axis] ++ indices_shape ++ shape[axis+1..]`.
    pub fn gather(&self, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<Self> {
        const OP: &str = "gather";
        if self.rank() == 0 {
            return Err(Error::shape(OP, "cannot gather from a scalar"));
        }
        let ax = norm_axis(OP, axis, self.rank())?;
        if checked_numel(OP, indices_shape)? != indices.len() {
            return Err(Error::shape(
                OP,
                format!(
                    "indices shape {indices_shape:?} does not hold {} indices",
                    indices.len()
                ),
            ));
        }
        let d = self.shape[ax] as i64;
        let idx = indices
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + d } else { i };
                if (0..d).contains(&j) {
                    Ok(j as usize)
                } else {
                    Err(Error::invalid(
                        OP,
                        format!("index {i} is out of range for axis {ax} of size {d}"),
                    ))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let g = dense::gather(&self.data, &self.shape, ax, &idx)?;
        let mut shape = self.shape[..ax].to_vec();
        shape.extend_from_slice(indices_shape);
        shape.extend_from_slice(&self.shape[ax + 1..]);
        Ok(Self { shape, data: g.data })
    }

    pub(super) fn broadcast_to_op(&self, op: &'static str, shape: &[usize]) -> Result<Self> {
        dense::broadcast_to(&self.data, &self.shape, shape)
            .map(Into::into)
            .map_err(|_| Error::shape(op, format!("cannot broadcast {:?} to {shape:?}", self.shape)))
    }

    /// numpy `broadcast_to`: repeats size-1 and missing leading axes to reach `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        self.broadcast_to_op("broadcast_to", shape)
    }
}
