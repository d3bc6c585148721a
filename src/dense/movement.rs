//! Slicing (with steps), concatenation, gathers along an axis, broadcasting, tiling and padding
//! (constant, edge and reflect). Each one computes its output shape, checks its arguments and then
//! hands the copy to [`copy_box`] (or, for gathers, to plain run copies).

use super::layout::{alloc_numel, broadcast_strides, copy_box, normalize_axis, split_at_axis, strides};
use super::{Dense, Elem, shape_string};
use crate::error::{Error, Result};

fn check_axis(op: &'static str, shape: &[usize], axis: usize) -> Result<()> {
    if axis >= shape.len() {
        return Err(Error::shape(
            op,
            format!(
                "axis {axis} out of range for shape {} (rank {})",
                shape_string(shape),
                shape.len()
            ),
        ));
    }
    Ok(())
}

/// The positions one axis keeps: `start, start + step, ...` (`len` of them; `step` may be
/// negative). With `len == 0` the other fields are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisSlice {
    pub start: usize,
    pub step: isize,
    pub len: usize,
}

impl AxisSlice {
    /// Every position of an axis of size `d`.
    pub fn full(d: usize) -> Self {
        Self {
            start: 0,
            step: 1,
            len: d,
        }
    }
}

/// Keeps the positions `spec[i]` of every axis `i` (one entry per axis).
pub fn slice<E: Elem>(x: &[E], shape: &[usize], spec: &[AxisSlice]) -> Result<Dense<E>> {
    const OP: &str = "slice";
    if spec.len() != shape.len() {
        return Err(Error::shape(
            OP,
            format!("{} axis ranges given for shape {}", spec.len(), shape_string(shape)),
        ));
    }
    let src = strides(shape);
    let mut base = 0usize;
    let mut ss = Vec::with_capacity(shape.len());
    for (ax, (s, &d)) in spec.iter().zip(shape).enumerate() {
        if s.len > 0 {
            let last = s.start as i128 + (s.len as i128 - 1) * s.step as i128;
            if s.start >= d || last < 0 || last >= d as i128 {
                return Err(Error::shape(OP, format!("{s:?} does not fit axis {ax} of size {d}")));
            }
            base += s.start * src[ax];
        }
        // With one element or none the stride is never used.
        ss.push(if s.len > 1 { src[ax] as isize * s.step } else { 0 });
    }
    let out_shape: Vec<usize> = spec.iter().map(|s| s.len).collect();
    let n = alloc_numel::<E>(OP, &out_shape)?;
    let mut out = vec![E::default(); n];
    copy_box(x, base, &ss, &mut out, 0, &strides(&out_shape), &out_shape);
    Ok(Dense::new(out_shape, out))
}

/// Elements `start..end` (step 1) along `axis`.
pub fn slice_axis<E: Elem>(x: &[E], shape: &[usize], axis: usize, start: usize, end: usize) -> Result<Dense<E>> {
    check_axis("slice", shape, axis)?;
    let d = shape[axis];
    if start > end || end > d {
        return Err(Error::shape(
            "slice",
            format!("range {start}..{end} does not fit axis {axis} of size {d}"),
        ));
    }
    let mut spec: Vec<AxisSlice> = shape.iter().map(|&d| AxisSlice::full(d)).collect();
    spec[axis] = AxisSlice {
        start,
        step: 1,
        len: end - start,
    };
    slice(x, shape, &spec)
}

/// The per-axis ranges of an ONNX `Slice` (opset >= 10) of an array of `shape`: `axes` empty means
/// `0..starts.len()`, `steps` empty means all 1; negative starts/ends count from the end and
/// out-of-range values are clamped (to `[0, d]` for positive steps, `[0, d-1]` / `[-1, d-1]` for
/// negative ones).
pub fn onnx_slice(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
) -> Result<Vec<AxisSlice>> {
    const OP: &str = "slice";
    let r = shape.len();
    if ends.len() != starts.len()
        || (!axes.is_empty() && axes.len() != starts.len())
        || (!steps.is_empty() && steps.len() != starts.len())
    {
        return Err(Error::invalid(
            OP,
            format!("starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"),
        ));
    }
    if axes.is_empty() && starts.len() > r {
        return Err(Error::invalid(OP, format!("{} starts for rank {r}", starts.len())));
    }
    let mut spec: Vec<AxisSlice> = shape.iter().map(|&d| AxisSlice::full(d)).collect();
    let mut seen = vec![false; r];
    for k in 0..starts.len() {
        let a = match axes.get(k) {
            Some(&a) => normalize_axis(a, r)
                .ok_or_else(|| Error::invalid(OP, format!("axis {a} is out of range for rank {r}")))?,
            None => k,
        };
        if std::mem::replace(&mut seen[a], true) {
            return Err(Error::invalid(OP, format!("axes {axes:?} repeat axis {a}")));
        }
        let step = steps.get(k).copied().unwrap_or(1);
        if step == 0 {
            return Err(Error::invalid(OP, "step 0"));
        }
        let d = shape[a] as i64;
        let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (b, e) = if d == 0 {
            (0, 0)
        } else if step > 0 {
            (fix(starts[k]).clamp(0, d), fix(ends[k]).clamp(0, d))
        } else {
            (fix(starts[k]).clamp(0, d - 1), fix(ends[k]).clamp(-1, d - 1))
        };
        // ceil((e - b) / step) when positive, in i128 so extreme steps cannot overflow.
        let span = (e as i128 - b as i128) * step.signum() as i128;
        let len = if span <= 0 {
            0
        } else {
            (span - 1) / (step as i128).abs() + 1
        };
        spec[a] = AxisSlice {
            start: b as usize,
            // Only used when len > 1, and then |step| < d.
            step: if len > 1 { step as isize } else { 1 },
            len: len as usize,
        };
    }
    Ok(spec)
}

/// Joins `parts` (data, shape) along an existing `axis`; all other axes must agree.
pub fn concat<E: Elem>(parts: &[(&[E], &[usize])], axis: usize) -> Result<Dense<E>> {
    const OP: &str = "concat";
    let &(_, shape0) = parts
        .first()
        .ok_or_else(|| Error::shape(OP, "no tensors to concatenate"))?;
    check_axis(OP, shape0, axis)?;
    let mut total = 0usize;
    for &(_, s) in parts {
        let fits = s.len() == shape0.len() && s.iter().zip(shape0).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !fits {
            return Err(Error::shape(
                OP,
                format!(
                    "shapes {} and {} differ outside axis {axis}",
                    shape_string(shape0),
                    shape_string(s)
                ),
            ));
        }
        total = total
            .checked_add(s[axis])
            .ok_or_else(|| Error::shape(OP, "result too large"))?;
    }
    let mut out_shape = shape0.to_vec();
    out_shape[axis] = total;
    let n = alloc_numel::<E>(OP, &out_shape)?;
    let (outer, _, inner) = split_at_axis(shape0, axis);
    if outer == 1 || n == 0 {
        let mut out = Vec::with_capacity(n);
        for &(x, _) in parts {
            out.extend_from_slice(x);
        }
        out.truncate(n);
        return Ok(Dense::new(out_shape, out));
    }
    let mut out = vec![E::default(); n];
    let ds = [total * inner, 1];
    let mut at = 0;
    for &(x, s) in parts {
        let run = s[axis] * inner;
        copy_box(x, 0, &[run as isize, 1], &mut out, at, &ds, &[outer, run]);
        at += run;
    }
    Ok(Dense::new(out_shape, out))
}

/// Gathers the entries `indices` (in that order, repeats allowed) along `axis`: the output has
/// `indices.len()` positions on that axis.
pub fn gather<E: Elem>(x: &[E], shape: &[usize], axis: usize, indices: &[usize]) -> Result<Dense<E>> {
    const OP: &str = "index_select";
    check_axis(OP, shape, axis)?;
    let (outer, d, inner) = split_at_axis(shape, axis);
    if let Some(&bad) = indices.iter().find(|&&i| i >= d) {
        return Err(Error::shape(
            OP,
            format!("index {bad} out of range for axis {axis} of size {d}"),
        ));
    }
    let mut out_shape = shape.to_vec();
    out_shape[axis] = indices.len();
    let n = alloc_numel::<E>(OP, &out_shape)?;
    let mut out = Vec::with_capacity(n);
    if inner > 0 {
        for o in 0..outer {
            for &i in indices {
                let s = (o * d + i) * inner;
                out.extend_from_slice(&x[s..s + inner]);
            }
        }
    }
    Ok(Dense::new(out_shape, out))
}

/// Broadcasts to `to` by numpy rules (axes aligned from the right; size-1 axes repeat).
pub fn broadcast_to<E: Elem>(x: &[E], shape: &[usize], to: &[usize]) -> Result<Dense<E>> {
    const OP: &str = "broadcast_to";
    let fail = || {
        Error::shape(
            OP,
            format!("cannot broadcast {} to {}", shape_string(shape), shape_string(to)),
        )
    };
    let lead = to.len().checked_sub(shape.len()).ok_or_else(fail)?;
    if shape.iter().zip(&to[lead..]).any(|(&a, &b)| a != b && a != 1) {
        return Err(fail());
    }
    let n = alloc_numel::<E>(OP, to).map_err(|_| fail())?;
    if shape == to {
        return Ok(Dense::new(to.to_vec(), x.to_vec()));
    }
    let mut out = vec![E::default(); n];
    let ss: Vec<isize> = broadcast_strides(shape, to).iter().map(|&s| s as isize).collect();
    copy_box(x, 0, &ss, &mut out, 0, &strides(to), to);
    Ok(Dense::new(to.to_vec(), out))
}

/// Repeats the whole array `repeats[i]` times along every axis `i` (numpy `tile`, ONNX `Tile`).
pub fn tile<E: Elem>(x: &[E], shape: &[usize], repeats: &[usize]) -> Result<Dense<E>> {
    const OP: &str = "tile";
    if repeats.len() != shape.len() {
        return Err(Error::shape(
            OP,
            format!("{} repeats given for shape {}", repeats.len(), shape_string(shape)),
        ));
    }
    let mut out_shape = Vec::with_capacity(shape.len());
    for (&d, &r) in shape.iter().zip(repeats) {
        out_shape.push(d.checked_mul(r).ok_or_else(|| Error::shape(OP, "result too large"))?);
    }
    let n = alloc_numel::<E>(OP, &out_shape)?;
    let mut out = vec![E::default(); n];
    // Read as the box [r0, d0, r1, d1, ...] whose repeat axes have source stride 0.
    let src = strides(shape);
    let mut box_shape = Vec::with_capacity(2 * shape.len());
    let mut ss = Vec::with_capacity(2 * shape.len());
    for i in 0..shape.len() {
        box_shape.extend([repeats[i], shape[i]]);
        ss.extend([0, src[i] as isize]);
    }
    copy_box(x, 0, &ss, &mut out, 0, &strides(&box_shape), &box_shape);
    Ok(Dense::new(out_shape, out))
}

/// How [`pad`] fills the new positions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode<E> {
    /// A constant value.
    Constant(E),
    /// The nearest edge element (numpy `edge`, ONNX `edge`).
    Edge,
    /// The mirror image without repeating the edge (numpy `reflect`, ONNX `reflect`).
    Reflect,
}

/// Input position that output position `o` of an axis of size `d` padded by `before` reads in
/// `Edge` / `Reflect` mode (`d > 0`).
fn source_index<E>(mode: PadMode<E>, o: i64, before: i64, d: i64) -> usize {
    let i = o - before;
    match mode {
        PadMode::Reflect if d > 1 => {
            let period = 2 * (d - 1);
            let m = i.rem_euclid(period);
            (if m < d { m } else { period - m }) as usize
        }
        _ => i.clamp(0, d - 1) as usize,
    }
}

/// Pads every axis `i` with `pads[i] = (before, after)` positions; negative values crop instead.
pub fn pad<E: Elem>(x: &[E], shape: &[usize], pads: &[(i64, i64)], mode: PadMode<E>) -> Result<Dense<E>> {
    const OP: &str = "pad";
    let r = shape.len();
    if pads.len() != r {
        return Err(Error::shape(
            OP,
            format!(
                "{} (before, after) pairs given for shape {}",
                pads.len(),
                shape_string(shape)
            ),
        ));
    }
    let too_large = || {
        Error::shape(
            OP,
            format!(
                "padding {pads:?} of shape {} is too large or crops too much",
                shape_string(shape)
            ),
        )
    };
    let mut out_shape = Vec::with_capacity(r);
    for (&d, &(b, a)) in shape.iter().zip(pads) {
        let o = i64::try_from(d)
            .ok()
            .and_then(|d| d.checked_add(b))
            .and_then(|v| v.checked_add(a))
            .filter(|&v| v >= 0)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(too_large)?;
        out_shape.push(o);
    }
    let n = alloc_numel::<E>(OP, &out_shape).map_err(|_| too_large())?;
    match mode {
        PadMode::Constant(value) => {
            let mut out = vec![value; n];
            // The input box that lands inside the output, and where it lands.
            let (mut box_shape, mut so, mut dof) = (Vec::with_capacity(r), 0usize, 0usize);
            let (ss, ds) = (strides(shape), strides(&out_shape));
            for i in 0..r {
                let (d, (b, _)) = (shape[i] as i64, pads[i]);
                let lo = (-b).clamp(0, d);
                let hi = (out_shape[i] as i64 - b).clamp(lo, d);
                box_shape.push((hi - lo) as usize);
                so += lo as usize * ss[i];
                dof += (lo + b).max(0) as usize * ds[i];
            }
            let ssi: Vec<isize> = ss.iter().map(|&s| s as isize).collect();
            copy_box(x, so, &ssi, &mut out, dof, &ds, &box_shape);
            Ok(Dense::new(out_shape, out))
        }
        PadMode::Edge | PadMode::Reflect => {
            if n > 0 && shape.iter().zip(pads).any(|(&d, &p)| d == 0 && p != (0, 0)) {
                return Err(Error::shape(OP, "cannot pad an empty axis from its edges"));
            }
            let mut cur = Dense::new(shape.to_vec(), x.to_vec());
            for (ax, &(b, _)) in pads.iter().enumerate() {
                if pads[ax] == (0, 0) || n == 0 {
                    continue;
                }
                let d = shape[ax] as i64;
                let map: Vec<usize> = (0..out_shape[ax] as i64).map(|o| source_index(mode, o, b, d)).collect();
                cur = gather(&cur.data, &cur.shape, ax, &map)?;
            }
            if n == 0 {
                cur = Dense::new(out_shape, Vec::new());
            }
            Ok(cur)
        }
    }
}
