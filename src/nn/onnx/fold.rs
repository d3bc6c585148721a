//! Plaintext evaluation of the "shape plumbing" ops on public constants, used by the importer to
//! fold them away (shapes, axes and indices are public, so nothing here touches shares).
//!
//! Every function returns the error detail as a `String`; the importer adds the node's name.

use super::proto::data_type;
use crate::dense::{self, checked_numel, numel};
use crate::nn::graph::Const;
use crate::nn::tensor::F32Tensor;

/// A fold result; the error is a one-line detail without the node name.
pub(super) type FoldResult<T> = std::result::Result<T, String>;

/// Elementwise binary arithmetic that folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// An F32 constant from a shape and values.
pub(super) fn make_f32(shape: &[usize], data: Vec<f32>) -> FoldResult<Const> {
    F32Tensor::from_vec(shape, data)
        .map(Const::F32)
        .map_err(|e| e.to_string())
}

/// An I64 constant from a shape and values.
pub(super) fn make_i64(shape: &[usize], data: Vec<i64>) -> FoldResult<Const> {
    if numel(shape) != data.len() {
        return Err(format!(
            "shape {shape:?} holds {} elements, got {}",
            numel(shape),
            data.len()
        ));
    }
    Ok(Const::I64 {
        shape: shape.to_vec(),
        data,
    })
}

/// The values of an integer constant (axes, shapes, indices).
pub(super) fn ints(c: &Const) -> FoldResult<&[i64]> {
    match c {
        Const::I64 { data, .. } => Ok(data),
        Const::F32(_) => Err("expected an integer tensor, got a float one".into()),
    }
}

/// `axis` in `[-rank, rank)` as an index.
pub(super) fn norm_axis(axis: i64, rank: usize) -> FoldResult<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(dense::normalize_axis(axis, rank).expect("checked above"))
}

/// The same values under a new shape with the same element count.
fn with_shape(c: &Const, shape: &[usize]) -> FoldResult<Const> {
    match c {
        Const::F32(t) => make_f32(shape, t.data().to_vec()),
        Const::I64 { data, .. } => make_i64(shape, data.clone()),
    }
}

/// Applies one [`crate::dense`] movement to a constant of either element type.
macro_rules! per_type {
    ($c:expr, |$x:ident, $shape:ident| $body:expr) => {
        match $c {
            Const::F32(t) => {
                let ($x, $shape) = (t.data(), t.shape());
                let d = $body.map_err(|e| e.to_string())?;
                make_f32(&d.shape, d.data)
            }
            Const::I64 {
                shape: $shape,
                data: $x,
            } => {
                let d = $body.map_err(|e| e.to_string())?;
                make_i64(&d.shape, d.data)
            }
        }
    };
}

/// ONNX `Cast` to the data type `to` (a `TensorProto.DataType`). Integer targets wrap to their
/// width and floats truncate toward zero; BOOL gives 0/1.
pub(super) fn cast(c: &Const, to: i32) -> FoldResult<Const> {
    use data_type as dt;
    let shape = c.shape().to_vec();
    match to {
        dt::FLOAT | dt::DOUBLE | dt::FLOAT16 | dt::BFLOAT16 => match c {
            Const::F32(_) => Ok(c.clone()),
            Const::I64 { data, .. } => make_f32(&shape, data.iter().map(|&v| v as f32).collect()),
        },
        dt::INT64 | dt::INT32 | dt::INT16 | dt::INT8 | dt::UINT8 | dt::UINT16 | dt::UINT32 | dt::UINT64 | dt::BOOL => {
            let wide: Vec<i64> = match c {
                Const::I64 { data, .. } => data.clone(),
                Const::F32(t) if to == dt::BOOL => t.data().iter().map(|&v| (v != 0.0) as i64).collect(),
                Const::F32(t) => t.data().iter().map(|&v| v as i64).collect(),
            };
            let narrow = |v: i64| match to {
                dt::INT32 => v as i32 as i64,
                dt::INT16 => v as i16 as i64,
                dt::INT8 => v as i8 as i64,
                dt::UINT8 => v as u8 as i64,
                dt::UINT16 => v as u16 as i64,
                dt::UINT32 => v as u32 as i64,
                dt::BOOL => (v != 0) as i64,
                _ => v,
            };
            make_i64(&shape, wide.into_iter().map(narrow).collect())
        }
        _ => Err(format!("cast to {} is not supported", data_type::name(to))),
    }
}

/// ONNX `Shape` with the opset-15 `start`/`end` range.
pub(super) fn shape_of(dims: &[usize], start: i64, end: Option<i64>) -> Const {
    let r = dims.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (s, e) = (clamp(start), clamp(end.unwrap_or(r)));
    let data: Vec<i64> = if s < e {
        dims[s..e].iter().map(|&d| d as i64).collect()
    } else {
        Vec::new()
    };
    Const::I64 {
        shape: vec![data.len()],
        data,
    }
}

/// ONNX `Gather`: `data` indexed along `axis` by `indices` (negative indices count from the end).
pub(super) fn gather(data: &Const, indices: &Const, axis: i64) -> FoldResult<Const> {
    let shape = data.shape();
    let axis = norm_axis(axis, shape.len())?;
    let idx = ints(indices).map_err(|_| "indices must be integers".to_string())?;
    let n = shape[axis] as i64;
    let mut resolved = Vec::with_capacity(idx.len());
    for &i in idx {
        if i < -n || i >= n {
            return Err(format!("index {i} is out of range for axis {axis} of size {n}"));
        }
        resolved.push(if i < 0 { (i + n) as usize } else { i as usize });
    }
    let mut out_shape = shape[..axis].to_vec();
    out_shape.extend_from_slice(indices.shape());
    out_shape.extend_from_slice(&shape[axis + 1..]);
    let g = per_type!(data, |x, s| dense::gather(x, s, axis, &resolved))?;
    with_shape(&g, &out_shape)
}

/// The output shape of ONNX `Unsqueeze` with `axes` (relative to the output rank).
pub(super) fn unsqueeze_shape(shape: &[usize], axes: &[i64]) -> FoldResult<Vec<usize>> {
    let rank = shape.len() + axes.len();
    let mut inserted = vec![false; rank];
    for &a in axes {
        let a = norm_axis(a, rank)?;
        if inserted[a] {
            return Err(format!("axis {a} is repeated"));
        }
        inserted[a] = true;
    }
    let mut rest = shape.iter();
    Ok(inserted
        .iter()
        .map(|&ins| if ins { 1 } else { *rest.next().expect("counts match") })
        .collect())
}

/// ONNX `Unsqueeze`.
pub(super) fn unsqueeze(c: &Const, axes: &[i64]) -> FoldResult<Const> {
    with_shape(c, &unsqueeze_shape(c.shape(), axes)?)
}

/// ONNX `Squeeze`; empty `axes` removes every axis of size 1.
pub(super) fn squeeze(c: &Const, axes: &[i64]) -> FoldResult<Const> {
    let shape = c.shape();
    let mut drop = vec![false; shape.len()];
    if axes.is_empty() {
        for (d, &s) in drop.iter_mut().zip(shape) {
            *d = s == 1;
        }
    }
    for &a in axes {
        let a = norm_axis(a, shape.len())?;
        if shape[a] != 1 {
            return Err(format!("cannot squeeze axis {a} of size {}", shape[a]));
        }
        drop[a] = true;
    }
    let out: Vec<usize> = shape.iter().zip(&drop).filter(|(_, d)| !**d).map(|(&s, _)| s).collect();
    with_shape(c, &out)
}

/// ONNX `Flatten` at `axis` (in `[-rank, rank]`).
pub(super) fn flatten(c: &Const, axis: i64) -> FoldResult<Const> {
    let shape = c.shape();
    let r = shape.len() as i64;
    if axis < -r || axis > r {
        return Err(format!("axis {axis} is out of range for rank {r}"));
    }
    let a = if axis < 0 { axis + r } else { axis } as usize;
    with_shape(c, &[numel(&shape[..a]), numel(&shape[a..])])
}

/// The output shape of ONNX `Reshape` (0 copies the input dimension unless `allowzero`, −1 infers).
pub(super) fn reshape_shape(input: &[usize], target: &[i64], allowzero: bool) -> FoldResult<Vec<usize>> {
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_some() => return Err("shape has more than one -1".into()),
            -1 => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => {
                let &d = input
                    .get(i)
                    .ok_or_else(|| format!("shape entry {i} is 0 but the input has rank {}", input.len()))?;
                out.push(d);
            }
            t if t < 0 => return Err(format!("shape entry {t} is negative")),
            t => out.push(t as usize),
        }
    }
    let total = numel(input);
    if let Some(i) = infer {
        let known = checked_numel(&out).ok_or("shape is too large")?;
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {input:?} to {target:?}"));
        }
        out[i] = total / known;
    }
    if checked_numel(&out) != Some(total) {
        return Err(format!("cannot reshape {input:?} to {target:?}"));
    }
    Ok(out)
}

/// ONNX `Reshape`.
pub(super) fn reshape(c: &Const, target: &[i64], allowzero: bool) -> FoldResult<Const> {
    with_shape(c, &reshape_shape(c.shape(), target, allowzero)?)
}

/// ONNX `Transpose`; an empty `perm` reverses the axes.
pub(super) fn transpose(c: &Const, perm: &[usize]) -> FoldResult<Const> {
    let shape = c.shape();
    let perm: Vec<usize> = if perm.is_empty() {
        (0..shape.len()).rev().collect()
    } else {
        perm.to_vec()
    };
    let mut seen = vec![false; shape.len()];
    if perm.len() != shape.len()
        || perm
            .iter()
            .any(|&p| p >= shape.len() || std::mem::replace(&mut seen[p], true))
    {
        return Err(format!(
            "perm {perm:?} is not a permutation of the {} axes",
            shape.len()
        ));
    }
    per_type!(c, |x, s| dense::permute(x, s, &perm))
}

/// ONNX `Concat` along `axis`; all parts must have the same element type and rank.
pub(super) fn concat(parts: &[&Const], axis: i64) -> FoldResult<Const> {
    let first = parts.first().ok_or("no inputs")?;
    let rank = first.shape().len();
    let axis = norm_axis(axis, rank)?;
    match first {
        Const::F32(_) => {
            let mut views: Vec<(&[f32], &[usize])> = Vec::with_capacity(parts.len());
            for p in parts {
                let Const::F32(t) = p else {
                    return Err("inputs mix float and integer tensors".into());
                };
                views.push((t.data(), t.shape()));
            }
            let d = dense::concat(&views, axis).map_err(|e| e.to_string())?;
            make_f32(&d.shape, d.data)
        }
        Const::I64 { .. } => {
            let mut views: Vec<(&[i64], &[usize])> = Vec::with_capacity(parts.len());
            for p in parts {
                let Const::I64 { shape, data } = p else {
                    return Err("inputs mix float and integer tensors".into());
                };
                views.push((data, shape));
            }
            let d = dense::concat(&views, axis).map_err(|e| e.to_string())?;
            make_i64(&d.shape, d.data)
        }
    }
}

/// ONNX `Slice` (opset ≥ 10): `starts`/`ends` clamped per axis, optional `axes` and `steps`.
pub(super) fn slice(
    c: &Const,
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> FoldResult<Const> {
    let spec = dense::onnx_slice(c.shape(), starts, ends, axes.unwrap_or(&[]), steps.unwrap_or(&[]))
        .map_err(|e| e.to_string())?;
    per_type!(c, |x, s| dense::slice(x, s, &spec))
}

/// The numpy broadcast of two shapes.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> FoldResult<Vec<usize>> {
    dense::broadcast_shape(a, b).map_err(|_| format!("shapes {a:?} and {b:?} do not broadcast"))
}

/// Elementwise `a op b` with numpy broadcasting; both must have the same element type. Integer
/// division truncates toward zero.
pub(super) fn binary(op: BinOp, a: &Const, b: &Const) -> FoldResult<Const> {
    let out = broadcast_shape(a.shape(), b.shape())?;
    let (sa, sb) = (a.shape(), b.shape());
    match (a, b) {
        (Const::F32(x), Const::F32(y)) => {
            let f = |u: f32, v: f32| match op {
                BinOp::Add => u + v,
                BinOp::Sub => u - v,
                BinOp::Mul => u * v,
                BinOp::Div => u / v,
            };
            let d = dense::zip_broadcast(x.data(), sa, y.data(), sb, "fold", f).map_err(|e| e.to_string())?;
            make_f32(&d.shape, d.data)
        }
        (Const::I64 { data: x, .. }, Const::I64 { data: y, .. }) => {
            if op == BinOp::Div && numel(&out) > 0 && y.contains(&0) {
                return Err("integer division by zero".into());
            }
            let f = |u: i64, v: i64| match op {
                BinOp::Add => u.wrapping_add(v),
                BinOp::Sub => u.wrapping_sub(v),
                BinOp::Mul => u.wrapping_mul(v),
                BinOp::Div => u.wrapping_div(v),
            };
            let d = dense::zip_broadcast(x, sa, y, sb, "fold", f).map_err(|e| e.to_string())?;
            make_i64(&d.shape, d.data)
        }
        _ => Err("inputs mix float and integer tensors".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(shape: &[usize], data: &[i64]) -> Const {
        make_i64(shape, data.to_vec()).unwrap()
    }

    fn f(shape: &[usize], data: &[f32]) -> Const {
        make_f32(shape, data.to_vec()).unwrap()
    }

    #[test]
    fn gather_axis0_and_axis1() {
        let d = i(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(gather(&d, &i(&[], &[1]), 0).unwrap(), i(&[3], &[4, 5, 6]));
        assert_eq!(gather(&d, &i(&[2], &[-1, 0]), 1).unwrap(), i(&[2, 2], &[3, 1, 6, 4]));
        assert!(gather(&d, &i(&[], &[2]), 0).unwrap_err().contains("out of range"));
    }

    #[test]
    fn shape_ops() {
        let c = f(&[2, 3], &[0., 1., 2., 3., 4., 5.]);
        assert_eq!(unsqueeze(&c, &[0, -1]).unwrap().shape(), &[1, 2, 3, 1]);
        assert_eq!(squeeze(&unsqueeze(&c, &[1]).unwrap(), &[]).unwrap().shape(), &[2, 3]);
        assert!(squeeze(&c, &[0]).is_err());
        assert_eq!(reshape(&c, &[0, -1], false).unwrap().shape(), &[2, 3]);
        assert_eq!(reshape(&c, &[-1], false).unwrap().shape(), &[6]);
        assert!(reshape(&c, &[4, -1], false).is_err());
        assert_eq!(flatten(&unsqueeze(&c, &[0]).unwrap(), 2).unwrap().shape(), &[2, 3]);
        assert_eq!(transpose(&c, &[1, 0]).unwrap(), f(&[3, 2], &[0., 3., 1., 4., 2., 5.]));
        assert_eq!(transpose(&c, &[]).unwrap(), f(&[3, 2], &[0., 3., 1., 4., 2., 5.]));
        assert!(transpose(&c, &[0, 0]).is_err());
    }

    #[test]
    fn concat_and_slice() {
        let a = i(&[2, 1], &[1, 2]);
        let b = i(&[2, 2], &[3, 4, 5, 6]);
        assert_eq!(concat(&[&a, &b], -1).unwrap(), i(&[2, 3], &[1, 3, 4, 2, 5, 6]));
        assert_eq!(
            concat(&[&i(&[1], &[7]), &i(&[2], &[8, 9])], 0).unwrap(),
            i(&[3], &[7, 8, 9])
        );
        let v = i(&[5], &[0, 1, 2, 3, 4]);
        assert_eq!(
            slice(&v, &[1], &[i64::MAX], None, None).unwrap(),
            i(&[4], &[1, 2, 3, 4])
        );
        assert_eq!(
            slice(&v, &[-1], &[i64::MIN], Some(&[0]), Some(&[-2])).unwrap(),
            i(&[3], &[4, 2, 0])
        );
        assert_eq!(slice(&v, &[3], &[1], None, None).unwrap(), i(&[0], &[]));
        assert_eq!(slice(&v, &[0], &[5], None, Some(&[i64::MAX])).unwrap(), i(&[1], &[0]));
        assert_eq!(slice(&v, &[4], &[0], None, Some(&[i64::MIN])).unwrap(), i(&[1], &[4]));
        assert_eq!(
            slice(&i(&[0], &[]), &[0], &[-1], None, Some(&[-1])).unwrap(),
            i(&[0], &[])
        );
        let m = i(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            slice(&m, &[1], &[3], Some(&[1]), None).unwrap(),
            i(&[2, 2], &[2, 3, 5, 6])
        );
    }

    #[test]
    fn arithmetic_and_cast() {
        assert_eq!(
            binary(BinOp::Mul, &i(&[2], &[2, 3]), &i(&[], &[4])).unwrap(),
            i(&[2], &[8, 12])
        );
        assert_eq!(
            binary(BinOp::Div, &i(&[2], &[7, -7]), &i(&[1], &[2])).unwrap(),
            i(&[2], &[3, -3])
        );
        assert!(binary(BinOp::Div, &i(&[1], &[1]), &i(&[1], &[0])).is_err());
        assert_eq!(
            binary(BinOp::Add, &f(&[2, 1], &[1., 2.]), &f(&[2], &[10., 20.])).unwrap(),
            f(&[2, 2], &[11., 21., 12., 22.])
        );
        assert!(binary(BinOp::Add, &f(&[1], &[1.]), &i(&[1], &[1])).is_err());
        assert_eq!(
            cast(&f(&[3], &[1.7, -1.7, 0.0]), data_type::INT64).unwrap(),
            i(&[3], &[1, -1, 0])
        );
        assert_eq!(cast(&f(&[2], &[2.5, 0.0]), data_type::BOOL).unwrap(), i(&[2], &[1, 0]));
        assert_eq!(cast(&i(&[1], &[3]), data_type::FLOAT).unwrap(), f(&[1], &[3.0]));
        assert_eq!(shape_of(&[2, 3, 4], 1, None), i(&[2], &[3, 4]));
        assert_eq!(shape_of(&[2, 3, 4], 0, Some(-1)), i(&[2], &[2, 3]));
    }
}
