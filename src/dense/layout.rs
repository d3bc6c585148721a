//! Shape arithmetic shared by every movement (element counts, strides, broadcasting, axis
//! normalisation) and the one strided box copy that slices, pads, concatenations, broadcasts and
//! tiles all reduce to.

use super::{Dense, Elem, PAR_THRESHOLD};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Number of elements of a shape (1 for a scalar `[]`).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Element count of a shape, or `None` when it overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Element count of an output `shape` of `E`s, or a shape error in `op` when it (or its byte size)
/// does not fit the address space.
pub(crate) fn alloc_numel<E>(op: &'static str, shape: &[usize]) -> Result<usize> {
    checked_numel(shape)
        .filter(|&n| {
            n.checked_mul(std::mem::size_of::<E>().max(1))
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| Error::shape(op, format!("result of shape {} is too large", shape_string(shape))))
}

/// Writes a shape the way the CLI does: `1x3x224x224`.
pub fn shape_string(shape: &[usize]) -> String {
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

/// Row-major strides of `dims`.
pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// `(outer, dim, inner)` sizes around `axis`.
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

/// An axis in `[-rank, rank)` (negative counts from the end) as an index, `None` when out of range.
pub fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = if axis < 0 { axis.checked_add(r)? } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// The numpy broadcast of shapes `a` and `b` (axes aligned from the right; size 1 stretches).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let get = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(Error::shape(
                "broadcast",
                format!("shapes {a:?} and {b:?} do not broadcast"),
            )),
        })
        .collect()
}

/// Source strides that read an array of shape `from` as if broadcast to `to` (0 on stretched and
/// missing leading axes). `from` must broadcast to `to`.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let src = strides(from);
    let lead = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < lead || from[i - lead] == 1 {
                0
            } else {
                src[i - lead]
            }
        })
        .collect()
}

/// One axis of a strided box: `n` positions, source step `s` (may be 0 or negative), destination
/// step `d`.
#[derive(Clone, Copy, Debug)]
struct Run {
    n: usize,
    s: isize,
    d: usize,
}

/// Drops unit axes and merges neighbours that are contiguous in both source and destination, so
/// the innermost run is as long as possible (a plain slice copy in the common cases).
fn coalesce(shape: &[usize], ss: &[isize], ds: &[usize]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::with_capacity(shape.len());
    for i in 0..shape.len() {
        if shape[i] == 1 {
            continue;
        }
        let run = Run {
            n: shape[i],
            s: ss[i],
            d: ds[i],
        };
        out.push(run);
    }
    let mut merged: Vec<Run> = Vec::with_capacity(out.len());
    for run in out.into_iter().rev() {
        match merged.last_mut() {
            Some(inner) if run.s == inner.s * inner.n as isize && run.d == inner.d * inner.n => {
                inner.n *= run.n;
            }
            _ => merged.push(run),
        }
    }
    merged.reverse();
    merged
}

/// Copies one innermost run of `n` elements.
#[inline]
fn copy_run<E: Elem>(src: &[E], so: isize, s: isize, dst: &mut [E], d0: usize, d: usize, n: usize) {
    let so = so as usize;
    match (s, d) {
        (1, 1) => dst[d0..d0 + n].copy_from_slice(&src[so..so + n]),
        (0, 1) => dst[d0..d0 + n].fill(src[so]),
        (s, 1) => {
            for (j, x) in dst[d0..d0 + n].iter_mut().enumerate() {
                *x = src[(so as isize + j as isize * s) as usize];
            }
        }
        (s, d) => {
            for j in 0..n {
                dst[d0 + j * d] = src[(so as isize + j as isize * s) as usize];
            }
        }
    }
}

/// Sequential walk over `runs` (outer axes by odometer, the last one copied as a run).
fn copy_runs<E: Elem>(src: &[E], so: isize, dst: &mut [E], d0: usize, runs: &[Run]) {
    let Some((inner, outer)) = runs.split_last() else {
        dst[d0] = src[so as usize];
        return;
    };
    let mut idx = vec![0usize; outer.len()];
    let (mut s, mut d) = (so, d0);
    loop {
        copy_run(src, s, inner.s, dst, d, inner.d, inner.n);
        let mut k = outer.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            s += outer[k].s;
            d += outer[k].d;
            if idx[k] < outer[k].n {
                break;
            }
            s -= outer[k].s * outer[k].n as isize;
            d -= outer[k].d * outer[k].n;
            idx[k] = 0;
        }
    }
}

/// The strided box copy every movement reduces to: box element `idx` (of `shape`) is read from
/// `src[src_off + Σ idx·ss]` and written to `dst[dst_off + Σ idx·ds]`.
///
/// Source strides may be 0 (broadcast) or negative (reversed slices); destination strides must not
/// make two box elements overlap. Axes are merged first, so contiguous regions become single
/// `copy_from_slice` runs, and large boxes are split across threads along their outermost axis.
pub fn copy_box<E: Elem>(
    src: &[E],
    src_off: usize,
    ss: &[isize],
    dst: &mut [E],
    dst_off: usize,
    ds: &[usize],
    shape: &[usize],
) {
    if shape.contains(&0) {
        return;
    }
    let runs = coalesce(shape, ss, ds);
    let total = numel(shape);
    if total >= PAR_THRESHOLD && runs.len() >= 2 {
        let (first, rest) = (runs[0], &runs[1..]);
        // Each outermost position owns the destination chunk [d·i, d·(i+1)) of the box when the
        // rest of the box fits in one destination step.
        let extent: usize = rest.iter().map(|r| (r.n - 1) * r.d).sum::<usize>() + 1;
        if extent <= first.d {
            dst[dst_off..]
                .par_chunks_mut(first.d)
                .take(first.n)
                .enumerate()
                .for_each(|(i, chunk)| copy_runs(src, src_off as isize + i as isize * first.s, chunk, 0, rest));
            return;
        }
    }
    copy_runs(src, src_off as isize, dst, dst_off, &runs);
}

/// Combines `a` and `b` elementwise with numpy broadcasting: `out[idx] = f(a[idx'], b[idx''])`.
pub fn zip_broadcast<A: Elem, B: Elem, O: Elem>(
    a: &[A],
    sa: &[usize],
    b: &[B],
    sb: &[usize],
    op: &'static str,
    f: impl Fn(A, B) -> O,
) -> Result<Dense<O>> {
    if sa == sb {
        return Ok(Dense::new(
            sa.to_vec(),
            a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect(),
        ));
    }
    let shape =
        broadcast_shape(sa, sb).map_err(|_| Error::shape(op, format!("shapes {sa:?} and {sb:?} do not broadcast")))?;
    let n = alloc_numel::<O>(op, &shape)?;
    if b.len() == 1 && shape == sa {
        let y = b[0];
        return Ok(Dense::new(shape, a.iter().map(|&x| f(x, y)).collect()));
    }
    if a.len() == 1 && shape == sb {
        let x = a[0];
        return Ok(Dense::new(shape, b.iter().map(|&y| f(x, y)).collect()));
    }
    let mut data = Vec::with_capacity(n);
    if n == 0 {
        return Ok(Dense::new(shape, data));
    }
    let stra = broadcast_strides(sa, &shape);
    let strb = broadcast_strides(sb, &shape);
    let r = shape.len();
    let inner = shape[r - 1];
    let (ia, ib) = (stra[r - 1], strb[r - 1]);
    let mut idx = vec![0usize; r - 1];
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        match (ia != 0, ib != 0) {
            (true, true) => data.extend(a[oa..oa + inner].iter().zip(&b[ob..ob + inner]).map(|(&x, &y)| f(x, y))),
            (true, false) => {
                let y = b[ob];
                data.extend(a[oa..oa + inner].iter().map(|&x| f(x, y)));
            }
            (false, true) => {
                let x = a[oa];
                data.extend(b[ob..ob + inner].iter().map(|&y| f(x, y)));
            }
            (false, false) => data.extend(std::iter::repeat_n(f(a[oa], b[ob]), inner)),
        }
        let mut k = r - 1;
        loop {
            if k == 0 {
                return Ok(Dense::new(shape, data));
            }
            k -= 1;
            idx[k] += 1;
            oa += stra[k];
            ob += strb[k];
            if idx[k] < shape[k] {
                break;
            }
            oa -= stra[k] * shape[k];
            ob -= strb[k] * shape[k];
            idx[k] = 0;
        }
    }
}
