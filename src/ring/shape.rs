//! Shape operations on ring tensors: transposes and permutations, slicing, concatenation,
//! padding, axis sums, broadcasting, reshaping helpers, gathers and stacking.
//!
//! Every operation here is a linear map (or a plain data movement), so it applies unchanged to
//! additive secret shares. Bad axes, indices or shapes give an [`Error::Shape`], never a panic.

use super::{PAR_THRESHOLD, RingTensor, numel, shape_string};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Output rows handled together by the tiled permutation kernel (one group of a transpose).
const TILE_ROWS: usize = 16;

/// Element count of a shape, or `None` when it overflows `usize`.
fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Wrapping sum of a slice, split across threads when it is long.
fn wrapping_sum(x: &[u64]) -> u64 {
    if x.len() >= PAR_THRESHOLD {
        x.par_chunks(PAR_THRESHOLD / 2)
            .map(wrapping_sum_seq)
            .reduce(|| 0, u64::wrapping_add)
    } else {
        wrapping_sum_seq(x)
    }
}

/// Sequential wrapping sum with independent accumulators (lets the compiler vectorise).
fn wrapping_sum_seq(x: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(v);
        }
    }
    let tail = chunks.remainder().iter().fold(0u64, |s, &v| s.wrapping_add(v));
    acc.iter().fold(tail, |s, &v| s.wrapping_add(v))
}

/// `dst[i] += src[i]` (wrapping).
fn add_assign(dst: &mut [u64], src: &[u64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = d.wrapping_add(s);
    }
}

/// Offset into a strided source of the linear index `lin` over `dims` (row-major), where
/// `src_strides[i]` is the source stride of axis `i`.
fn strided_offset(mut lin: usize, dims: &[usize], src_strides: &[usize]) -> usize {
    let mut off = 0;
    for i in (0..dims.len()).rev() {
        let d = dims[i];
        off += (lin % d) * src_strides[i];
        lin /= d;
    }
    off
}

/// Walks the row-major index space of `dims`, tracking the offset into a strided source.
struct Odometer<'a> {
    dims: &'a [usize],
    src_strides: &'a [usize],
    idx: Vec<usize>,
    offset: usize,
}

impl<'a> Odometer<'a> {
    /// Starts at linear index `start`.
    fn new(dims: &'a [usize], src_strides: &'a [usize], mut start: usize) -> Self {
        let mut idx = vec![0; dims.len()];
        let mut offset = 0;
        for i in (0..dims.len()).rev() {
            idx[i] = start % dims[i];
            start /= dims[i];
            offset += idx[i] * src_strides[i];
        }
        Self {
            dims,
            src_strides,
            idx,
            offset,
        }
    }

    /// Moves to the next index (wrapping to all zeros after the last one).
    fn advance(&mut self) {
        for i in (0..self.dims.len()).rev() {
            self.idx[i] += 1;
            self.offset += self.src_strides[i];
            if self.idx[i] < self.dims[i] {
                return;
            }
            self.offset -= self.idx[i] * self.src_strides[i];
            self.idx[i] = 0;
        }
    }
}

/// Simplifies a permutation of a tensor: drops unit axes and merges input axes that stay adjacent
/// and in order in the output. Returns the reduced input dims and the reduced permutation.
fn coalesce_permutation(shape: &[usize], axes: &[usize]) -> (Vec<usize>, Vec<usize>) {
    // New index of every kept (non-unit) input axis.
    let mut renumber = vec![usize::MAX; shape.len()];
    let mut dims1 = Vec::new();
    for (i, &d) in shape.iter().enumerate() {
        if d != 1 {
            renumber[i] = dims1.len();
            dims1.push(d);
        }
    }
    let perm1: Vec<usize> = axes.iter().filter(|&&a| shape[a] != 1).map(|&a| renumber[a]).collect();

    // Groups of input axes that are consecutive in the output: (first input axis, merged size).
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (i, &a) in perm1.iter().enumerate() {
        if i > 0 && a == perm1[i - 1] + 1 {
            groups.last_mut().expect("a group exists after the first axis").1 *= dims1[a];
        } else {
            groups.push((a, dims1[a]));
        }
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| groups[g].0);
    let dims: Vec<usize> = order.iter().map(|&g| groups[g].1).collect();
    let mut rank_of = vec![0; groups.len()];
    for (rank, &g) in order.iter().enumerate() {
        rank_of[g] = rank;
    }
    (dims, rank_of)
}

/// Copies `rows` output rows of length `l` into `dst` (`rows * l` elements) where output element
/// `(t, i)` is `src[base + i * sa + t * sb]`: a transpose of a tile when `sb == 1`.
fn tile_rows(dst: &mut [u64], src: &[u64], base: usize, l: usize, sa: usize, sb: usize) {
    let rows = dst.len() / l;
    if sb == 1 && rows == TILE_ROWS {
        // 8-column micro tiles: gather an 8x16 block of the source, write 16 row pieces of 8.
        let mut i0 = 0;
        while i0 + 8 <= l {
            let mut tile = [[0u64; TILE_ROWS]; 8];
            for (ii, trow) in tile.iter_mut().enumerate() {
                let start = base + (i0 + ii) * sa;
                trow.copy_from_slice(&src[start..start + TILE_ROWS]);
            }
            for (t, row) in dst.chunks_exact_mut(l).enumerate() {
                let piece = &mut row[i0..i0 + 8];
                for (ii, p) in piece.iter_mut().enumerate() {
                    *p = tile[ii][t];
                }
            }
            i0 += 8;
        }
        for i in i0..l {
            let start = base + i * sa;
            for (row, &v) in dst.chunks_exact_mut(l).zip(&src[start..start + rows]) {
                row[i] = v;
            }
        }
    } else if sb == 1 {
        for i in 0..l {
            let start = base + i * sa;
            let col = &src[start..start + rows];
            for (row, &v) in dst.chunks_exact_mut(l).zip(col) {
                row[i] = v;
            }
        }
    } else {
        for i in 0..l {
            let start = base + i * sa;
            for (t, row) in dst.chunks_exact_mut(l).enumerate() {
                row[i] = src[start + t * sb];
            }
        }
    }
}

/// Permutes the row-major data `src` with (already coalesced) input `dims` by `perm`.
fn permute_data(src: &[u64], dims: &[usize], perm: &[usize]) -> Vec<u64> {
    let r = dims.len();
    if r <= 1 {
        return src.to_vec();
    }
    let n = src.len();
    let istr = strides(dims);
    let od: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let ostr_src: Vec<usize> = perm.iter().map(|&p| istr[p]).collect();
    let mut out = vec![0u64; n];
    let l = od[r - 1];

    if perm[r - 1] == r - 1 {
        // The innermost axis survives: every output row is a contiguous input run.
        let outer_dims = &od[..r - 1];
        let outer_str = &ostr_src[..r - 1];
        let copy_rows = |(ci, chunk): (usize, &mut [u64]), rows_per_chunk: usize| {
            let mut odo = Odometer::new(outer_dims, outer_str, ci * rows_per_chunk);
            for row in chunk.chunks_exact_mut(l) {
                row.copy_from_slice(&src[odo.offset..odo.offset + l]);
                odo.advance();
            }
        };
        if n >= PAR_THRESHOLD {
            let rows_per_chunk = (PAR_THRESHOLD / 4).div_ceil(l);
            out.par_chunks_mut(rows_per_chunk * l)
                .enumerate()
                .for_each(|c| copy_rows(c, rows_per_chunk));
        } else {
            copy_rows((0, &mut out[..]), 0);
        }
        return out;
    }

    // General case: the output is a stack of matrices [n2, l]; output row t of a matrix, element
    // i, is read from input axis perm[r-2] (stride sb) and perm[r-1] (stride sa). Row groups of
    // TILE_ROWS make this a cache-blocked transpose when perm[r-2] is the input's innermost axis.
    let n2 = od[r - 2];
    let sa = ostr_src[r - 1];
    let sb = ostr_src[r - 2];
    let mat = n2 * l;
    let outer_dims = &od[..r - 2];
    let outer_str = &ostr_src[..r - 2];
    let do_matrix = |mi: usize, m: &mut [u64], parallel: bool| {
        let base = strided_offset(mi, outer_dims, outer_str);
        if parallel {
            m.par_chunks_mut(TILE_ROWS * l).enumerate().for_each(|(g, rows)| {
                tile_rows(rows, src, base + g * TILE_ROWS * sb, l, sa, sb);
            });
        } else {
            for (g, rows) in m.chunks_mut(TILE_ROWS * l).enumerate() {
                tile_rows(rows, src, base + g * TILE_ROWS * sb, l, sa, sb);
            }
        }
    };
    if n >= PAR_THRESHOLD {
        let inner_par = mat >= PAR_THRESHOLD;
        out.par_chunks_mut(mat)
            .enumerate()
            .for_each(|(mi, m)| do_matrix(mi, m, inner_par));
    } else {
        for (mi, m) in out.chunks_mut(mat).enumerate() {
            do_matrix(mi, m, false);
        }
    }
    out
}

/// Copies `src` (shape `dims`) into `dst` (shape `out_dims`, pre-filled) at offsets `pads[i].0`.
fn pad_copy(dst: &mut [u64], src: &[u64], dims: &[usize], pads: &[(usize, usize)], out_dims: &[usize]) {
    if dims.len() == 1 {
        dst[pads[0].0..pads[0].0 + dims[0]].copy_from_slice(src);
        return;
    }
    let in_sub = numel(&dims[1..]);
    let out_sub = numel(&out_dims[1..]);
    if in_sub == 0 {
        return;
    }
    for (i, s) in src.chunks_exact(in_sub).enumerate() {
        let o = pads[0].0 + i;
        pad_copy(
            &mut dst[o * out_sub..(o + 1) * out_sub],
            s,
            &dims[1..],
            &pads[1..],
            &out_dims[1..],
        );
    }
}

/// `(outer, dim, inner)` sizes around `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

impl RingTensor {
    /// Errors unless `axis` is an axis of this tensor.
    fn check_axis(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis >= self.shape().len() {
            return Err(Error::shape(
                op,
                format!(
                    "axis {axis} out of range for shape {} (rank {})",
                    shape_string(self.shape()),
                    self.shape().len()
                ),
            ));
        }
        Ok(())
    }

    /// Swaps the last two axes (a matrix transpose, batched over leading axes). Needs rank >= 2.
    pub fn transpose(&self) -> Result<RingTensor> {
        let r = self.shape().len();
        if r < 2 {
            return Err(Error::shape(
                "transpose",
                format!("needs rank >= 2, got shape {} (rank {r})", shape_string(self.shape())),
            ));
        }
        let mut axes: Vec<usize> = (0..r).collect();
        axes.swap(r - 2, r - 1);
        self.permute(&axes)
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]` (like `torch.permute`).
    pub fn permute(&self, axes: &[usize]) -> Result<RingTensor> {
        let shape = self.shape();
        let r = shape.len();
        if axes.len() != r {
            return Err(Error::shape(
                "permute",
                format!("{} axes given for shape {} (rank {r})", axes.len(), shape_string(shape)),
            ));
        }
        let mut seen = vec![false; r];
        for &a in axes {
            if a >= r || seen[a] {
                return Err(Error::shape(
                    "permute",
                    format!("{axes:?} is not a permutation of the axes 0..{r}"),
                ));
            }
            seen[a] = true;
        }
        let out_shape: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        if self.is_empty() {
            return Ok(RingTensor::from_parts(out_shape, Vec::new()));
        }
        let (dims, perm) = coalesce_permutation(shape, axes);
        Ok(RingTensor::from_parts(
            out_shape,
            permute_data(self.data(), &dims, &perm),
        ))
    }

    /// Elements `start..end` (step 1) along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<RingTensor> {
        self.check_axis("slice", axis)?;
        let (outer, d, inner) = split_at_axis(self.shape(), axis);
        if start > end || end > d {
            return Err(Error::shape(
                "slice",
                format!("range {start}..{end} does not fit axis {axis} of size {d}"),
            ));
        }
        let mut out_shape = self.shape().to_vec();
        out_shape[axis] = end - start;
        let run = (end - start) * inner;
        let src = self.data();
        let mut out = vec![0u64; outer * run];
        if run > 0 {
            let copy = |(o, dst): (usize, &mut [u64])| {
                let s = (o * d + start) * inner;
                dst.copy_from_slice(&src[s..s + run]);
            };
            if out.len() >= PAR_THRESHOLD && outer > 1 {
                out.par_chunks_mut(run).enumerate().for_each(copy);
            } else {
                out.chunks_mut(run).enumerate().for_each(copy);
            }
        }
        Ok(RingTensor::from_parts(out_shape, out))
    }

    /// Joins tensors along an existing `axis`; all other axes must agree.
    pub fn concat(parts: &[&RingTensor], axis: usize) -> Result<RingTensor> {
        let first = parts
            .first()
            .ok_or_else(|| Error::shape("concat", "no tensors to concatenate"))?;
        first.check_axis("concat", axis)?;
        let shape0 = first.shape();
        let mut total = 0usize;
        for p in parts {
            let s = p.shape();
            let fits =
                s.len() == shape0.len() && s.iter().zip(shape0).enumerate().all(|(i, (a, b))| i == axis || a == b);
            if !fits {
                return Err(Error::shape(
                    "concat",
                    format!(
                        "shapes {} and {} differ outside axis {axis}",
                        shape_string(shape0),
                        shape_string(s)
                    ),
                ));
            }
            total = total
                .checked_add(s[axis])
                .ok_or_else(|| Error::shape("concat", "result too large"))?;
        }
        let mut out_shape = shape0.to_vec();
        out_shape[axis] = total;
        let n = checked_numel(&out_shape).ok_or_else(|| Error::shape("concat", "result too large"))?;
        let (outer, _, inner) = split_at_axis(shape0, axis);
        let out_row = total * inner;
        if n == 0 {
            return Ok(RingTensor::from_parts(out_shape, Vec::new()));
        }
        if outer == 1 {
            let mut out = Vec::with_capacity(n);
            for p in parts {
                out.extend_from_slice(p.data());
            }
            return Ok(RingTensor::from_parts(out_shape, out));
        }
        let mut out = vec![0u64; n];
        let fill = |(o, dst): (usize, &mut [u64])| {
            let mut at = 0;
            for p in parts {
                let run = p.shape()[axis] * inner;
                dst[at..at + run].copy_from_slice(&p.data()[o * run..(o + 1) * run]);
                at += run;
            }
        };
        if n >= PAR_THRESHOLD {
            out.par_chunks_mut(out_row).enumerate().for_each(fill);
        } else {
            out.chunks_mut(out_row).enumerate().for_each(fill);
        }
        Ok(RingTensor::from_parts(out_shape, out))
    }

    /// Pads every axis with `value`: `pads[i] = (before, after)` for axis `i`.
    pub fn pad(&self, pads: &[(usize, usize)], value: u64) -> Result<RingTensor> {
        let shape = self.shape();
        if pads.len() != shape.len() {
            return Err(Error::shape(
                "pad",
                format!(
                    "{} (before, after) pairs given for shape {}",
                    pads.len(),
                    shape_string(shape)
                ),
            ));
        }
        let too_large = || {
            Error::shape(
                "pad",
                format!("padding {pads:?} of shape {} is too large", shape_string(shape)),
            )
        };
        let mut out_shape = Vec::with_capacity(shape.len());
        for (&d, &(b, a)) in shape.iter().zip(pads) {
            out_shape.push(d.checked_add(b).and_then(|x| x.checked_add(a)).ok_or_else(too_large)?);
        }
        let n = checked_numel(&out_shape).ok_or_else(too_large)?;
        if n.checked_mul(8).is_none_or(|bytes| bytes > isize::MAX as usize) {
            return Err(too_large());
        }
        if shape.is_empty() {
            return Ok(self.clone());
        }
        let mut out = vec![value; n];
        if !self.is_empty() {
            let src = self.data();
            if n >= PAR_THRESHOLD && shape.len() >= 2 {
                let in_sub = numel(&shape[1..]);
                let out_sub = numel(&out_shape[1..]);
                let b0 = pads[0].0;
                out[b0 * out_sub..(b0 + shape[0]) * out_sub]
                    .par_chunks_mut(out_sub)
                    .zip(src.par_chunks(in_sub))
                    .for_each(|(dst, s)| pad_copy(dst, s, &shape[1..], &pads[1..], &out_shape[1..]));
            } else {
                pad_copy(&mut out, src, shape, pads, &out_shape);
            }
        }
        Ok(RingTensor::from_parts(out_shape, out))
    }

    /// Sum over `axis` (wrapping); `keepdim` keeps it as a unit axis.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<RingTensor> {
        self.check_axis("sum_axis", axis)?;
        let (outer, d, inner) = split_at_axis(self.shape(), axis);
        let mut out_shape = self.shape().to_vec();
        if keepdim {
            out_shape[axis] = 1;
        } else {
            out_shape.remove(axis);
        }
        let src = self.data();
        let mut out = vec![0u64; outer * inner];
        if d == 0 || out.is_empty() {
            return Ok(RingTensor::from_parts(out_shape, out));
        }
        let par = src.len() >= PAR_THRESHOLD;
        if inner == 1 {
            if par && outer > 1 {
                out.par_iter_mut()
                    .enumerate()
                    .for_each(|(o, x)| *x = wrapping_sum_seq(&src[o * d..(o + 1) * d]));
            } else {
                for (o, x) in out.iter_mut().enumerate() {
                    *x = wrapping_sum(&src[o * d..(o + 1) * d]);
                }
            }
        } else {
            // Accumulate whole rows of `inner` elements, in column blocks that stay in cache.
            const BLOCK: usize = 2048;
            let sum_block = |o: usize, c0: usize, dst: &mut [u64]| {
                let w = dst.len();
                for j in 0..d {
                    let s = (o * d + j) * inner + c0;
                    add_assign(dst, &src[s..s + w]);
                }
            };
            let sum_outer = |(o, dst): (usize, &mut [u64])| {
                for (b, blk) in dst.chunks_mut(BLOCK).enumerate() {
                    sum_block(o, b * BLOCK, blk);
                }
            };
            if par && outer > 1 {
                out.par_chunks_mut(inner).enumerate().for_each(sum_outer);
            } else if par {
                out.par_chunks_mut(BLOCK)
                    .enumerate()
                    .for_each(|(b, blk)| sum_block(0, b * BLOCK, blk));
            } else {
                out.chunks_mut(inner).enumerate().for_each(sum_outer);
            }
        }
        Ok(RingTensor::from_parts(out_shape, out))
    }

    /// Wrapping sum of all elements.
    pub fn sum_all(&self) -> u64 {
        wrapping_sum(self.data())
    }

    /// Broadcasts to `shape` by numpy rules (axes aligned from the right; size-1 axes repeat).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<RingTensor> {
        let s0 = self.shape();
        let r = shape.len();
        let fail = || {
            Error::shape(
                "broadcast_to",
                format!("cannot broadcast {} to {}", shape_string(s0), shape_string(shape)),
            )
        };
        if s0.len() > r {
            return Err(fail());
        }
        let mut s = vec![1usize; r - s0.len()];
        s.extend_from_slice(s0);
        if s.iter().zip(shape).any(|(&a, &b)| a != b && a != 1) {
            return Err(fail());
        }
        let n = checked_numel(shape).ok_or_else(fail)?;
        if n.checked_mul(8).is_none_or(|bytes| bytes > isize::MAX as usize) {
            return Err(fail());
        }
        if n == 0 {
            return Ok(RingTensor::from_parts(shape.to_vec(), Vec::new()));
        }
        // Expand one broadcast axis at a time from the innermost; `block` is the element count of
        // the already-expanded trailing axes.
        let mut cur = self.data().to_vec();
        let mut block = 1usize;
        for k in (0..r).rev() {
            let rep = shape[k];
            if s[k] != rep {
                let outer = cur.len() / block;
                let mut next = Vec::with_capacity(cur.len() * rep);
                for b in cur.chunks_exact(block).take(outer) {
                    if block == 1 {
                        next.resize(next.len() + rep, b[0]);
                    } else {
                        for _ in 0..rep {
                            next.extend_from_slice(b);
                        }
                    }
                }
                cur = next;
            }
            block *= rep;
        }
        Ok(RingTensor::from_parts(shape.to_vec(), cur))
    }

    /// Inserts a unit axis at position `axis` (`0..=rank`).
    pub fn unsqueeze(&self, axis: usize) -> Result<RingTensor> {
        let r = self.shape().len();
        if axis > r {
            return Err(Error::shape(
                "unsqueeze",
                format!(
                    "axis {axis} out of range for shape {} (rank {r})",
                    shape_string(self.shape())
                ),
            ));
        }
        let mut s = self.shape().to_vec();
        s.insert(axis, 1);
        Ok(RingTensor::from_parts(s, self.data().to_vec()))
    }

    /// Removes `axis`, which must have size 1.
    pub fn squeeze(&self, axis: usize) -> Result<RingTensor> {
        self.check_axis("squeeze", axis)?;
        if self.shape()[axis] != 1 {
            return Err(Error::shape(
                "squeeze",
                format!(
                    "axis {axis} of shape {} has size {}, not 1",
                    shape_string(self.shape()),
                    self.shape()[axis]
                ),
            ));
        }
        let mut s = self.shape().to_vec();
        s.remove(axis);
        Ok(RingTensor::from_parts(s, self.data().to_vec()))
    }

    /// Merges axes `start_axis..=end_axis` into one (like `torch.flatten`; a scalar becomes `[1]`).
    pub fn flatten(&self, start_axis: usize, end_axis: usize) -> Result<RingTensor> {
        let shape = self.shape();
        if shape.is_empty() && start_axis == 0 && end_axis == 0 {
            return Ok(RingTensor::from_parts(vec![1], self.data().to_vec()));
        }
        if start_axis > end_axis || end_axis >= shape.len() {
            return Err(Error::shape(
                "flatten",
                format!(
                    "axes {start_axis}..={end_axis} out of range for shape {} (rank {})",
                    shape_string(shape),
                    shape.len()
                ),
            ));
        }
        let mut s = shape[..start_axis].to_vec();
        s.push(numel(&shape[start_axis..=end_axis]));
        s.extend_from_slice(&shape[end_axis + 1..]);
        Ok(RingTensor::from_parts(s, self.data().to_vec()))
    }

    /// Gathers the entries `indices` (in that order, repeats allowed) along `axis`.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<RingTensor> {
        self.check_axis("index_select", axis)?;
        let (outer, d, inner) = split_at_axis(self.shape(), axis);
        if let Some(&bad) = indices.iter().find(|&&i| i >= d) {
            return Err(Error::shape(
                "index_select",
                format!("index {bad} out of range for axis {axis} of size {d}"),
            ));
        }
        let mut out_shape = self.shape().to_vec();
        out_shape[axis] = indices.len();
        let n = checked_numel(&out_shape).ok_or_else(|| Error::shape("index_select", "result too large"))?;
        let src = self.data();
        let mut out = Vec::with_capacity(n);
        for o in 0..outer {
            for &i in indices {
                let s = (o * d + i) * inner;
                out.extend_from_slice(&src[s..s + inner]);
            }
        }
        Ok(RingTensor::from_parts(out_shape, out))
    }

    /// Stacks equally shaped tensors along a new leading axis.
    pub fn stack(parts: &[&RingTensor]) -> Result<RingTensor> {
        let first = parts
            .first()
            .ok_or_else(|| Error::shape("stack", "no tensors to stack"))?;
        if let Some(p) = parts.iter().find(|p| p.shape() != first.shape()) {
            return Err(Error::shape(
                "stack",
                format!(
                    "shapes {} and {} differ",
                    shape_string(first.shape()),
                    shape_string(p.shape())
                ),
            ));
        }
        let mut out_shape = vec![parts.len()];
        out_shape.extend_from_slice(first.shape());
        let mut out = Vec::with_capacity(parts.len() * first.len());
        for p in parts {
            out.extend_from_slice(p.data());
        }
        Ok(RingTensor::from_parts(out_shape, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rand_tensor(shape: &[usize], seed: u64) -> RingTensor {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let data = (0..numel(shape)).map(|_| rng.next_u64()).collect();
        RingTensor::from_vec(shape, data).unwrap()
    }

    /// Multi-index of a linear row-major index.
    fn unravel(mut lin: usize, shape: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for i in (0..shape.len()).rev() {
            idx[i] = lin % shape[i];
            lin /= shape[i];
        }
        idx
    }

    fn ravel(idx: &[usize], shape: &[usize]) -> usize {
        idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
    }

    fn naive_permute(t: &RingTensor, axes: &[usize]) -> RingTensor {
        let out_shape: Vec<usize> = axes.iter().map(|&a| t.shape()[a]).collect();
        let mut out = vec![0; t.len()];
        for (lin, o) in out.iter_mut().enumerate() {
            let oi = unravel(lin, &out_shape);
            let mut ii = vec![0; axes.len()];
            for (k, &a) in axes.iter().enumerate() {
                ii[a] = oi[k];
            }
            *o = t.data()[ravel(&ii, t.shape())];
        }
        RingTensor::from_vec(&out_shape, out).unwrap()
    }

    fn all_perms(r: usize) -> Vec<Vec<usize>> {
        if r == 0 {
            return vec![vec![]];
        }
        let mut res = Vec::new();
        for p in all_perms(r - 1) {
            for pos in 0..=p.len() {
                let mut q = p.clone();
                q.insert(pos, r - 1);
                res.push(q);
            }
        }
        res
    }

    #[test]
    fn permute_matches_naive_all_perms() {
        let shapes: &[&[usize]] = &[
            &[3, 5],
            &[2, 3, 4],
            &[1, 3, 1, 5],
            &[2, 1, 3, 4],
            &[3, 2, 5, 1, 2],
            &[17, 19, 3],
        ];
        for (si, s) in shapes.iter().enumerate() {
            let t = rand_tensor(s, si as u64);
            for p in all_perms(s.len()) {
                assert_eq!(t.permute(&p).unwrap(), naive_permute(&t, &p), "shape {s:?} perm {p:?}");
            }
        }
    }

    #[test]
    fn permute_large_parallel_paths() {
        for (s, p) in [
            (vec![40, 50, 30], vec![2, 0, 1]),
            (vec![40, 50, 30], vec![1, 0, 2]),
            (vec![40, 50, 30], vec![0, 2, 1]),
            (vec![3, 257, 129], vec![0, 2, 1]),
            (vec![70000, 2], vec![1, 0]),
            (vec![2, 70000], vec![1, 0]),
            (vec![9, 8, 7, 6, 5], vec![4, 2, 0, 3, 1]),
        ] {
            let t = rand_tensor(&s, 7);
            assert_eq!(t.permute(&p).unwrap(), naive_permute(&t, &p), "shape {s:?} perm {p:?}");
        }
    }

    #[test]
    fn transpose_round_trips() {
        for s in [
            vec![1, 1],
            vec![1, 7],
            vec![7, 1],
            vec![31, 17],
            vec![300, 301],
            vec![2, 3, 5, 7],
            vec![4, 129, 65],
        ] {
            let t = rand_tensor(&s, 3);
            let tt = t.transpose().unwrap();
            let r = s.len();
            let mut expect_shape = s.clone();
            expect_shape.swap(r - 2, r - 1);
            assert_eq!(tt.shape(), &expect_shape[..]);
            let mut axes: Vec<usize> = (0..r).collect();
            axes.swap(r - 2, r - 1);
            assert_eq!(tt, naive_permute(&t, &axes));
            assert_eq!(tt.transpose().unwrap(), t);
        }
        let t = rand_tensor(&[2, 3, 4, 5], 9);
        let p = [2, 0, 3, 1];
        let mut inv = [0; 4];
        for (i, &a) in p.iter().enumerate() {
            inv[a] = i;
        }
        assert_eq!(t.permute(&p).unwrap().permute(&inv).unwrap(), t);
    }

    #[test]
    fn permute_and_transpose_errors() {
        let t = rand_tensor(&[2, 3, 4], 1);
        assert!(t.permute(&[0, 1]).is_err());
        assert!(t.permute(&[0, 1, 1]).is_err());
        assert!(t.permute(&[0, 1, 3]).is_err());
        assert!(t.permute(&[0, 1, 2, 3]).is_err());
        assert!(rand_tensor(&[5], 1).transpose().is_err());
        assert!(RingTensor::scalar(3).transpose().is_err());
        assert_eq!(RingTensor::scalar(3).permute(&[]).unwrap(), RingTensor::scalar(3));
        let e = RingTensor::zeros(&[0, 3]).transpose().unwrap();
        assert_eq!(e.shape(), &[3, 0]);
    }

    #[test]
    fn slice_concat_index_select() {
        let s = [3, 7, 5];
        let t = rand_tensor(&s, 11);
        for axis in 0..3 {
            let d = s[axis];
            for (a, b) in [(0, d), (0, 1), (1, d), (d / 2, d / 2 + 1), (2, 2)] {
                let sl = t.slice(axis, a, b).unwrap();
                let idx: Vec<usize> = (a..b).collect();
                // Oracle: direct indexing.
                for lin in 0..sl.len() {
                    let mut ii = unravel(lin, sl.shape());
                    ii[axis] += a;
                    assert_eq!(sl.data()[lin], t.data()[ravel(&ii, &s)]);
                }
                assert_eq!(sl, t.index_select(axis, &idx).unwrap());
            }
            // Cutting into three parts and concatenating restores the tensor.
            let (p, q) = (1, d - 1);
            let parts = [
                t.slice(axis, 0, p).unwrap(),
                t.slice(axis, p, q).unwrap(),
                t.slice(axis, q, d).unwrap(),
            ];
            let refs: Vec<&RingTensor> = parts.iter().collect();
            assert_eq!(RingTensor::concat(&refs, axis).unwrap(), t);
            // index_select with repeats and reordering.
            let idx = vec![d - 1, 0, d - 1, 1];
            let g = t.index_select(axis, &idx).unwrap();
            for lin in 0..g.len() {
                let mut ii = unravel(lin, g.shape());
                ii[axis] = idx[ii[axis]];
                assert_eq!(g.data()[lin], t.data()[ravel(&ii, &s)]);
            }
        }
        // Large, parallel paths.
        let big = rand_tensor(&[64, 300, 3], 5);
        let parts = [big.slice(1, 0, 123).unwrap(), big.slice(1, 123, 300).unwrap()];
        assert_eq!(RingTensor::concat(&[&parts[0], &parts[1]], 1).unwrap(), big);
    }

    #[test]
    fn slice_concat_index_select_errors() {
        let t = rand_tensor(&[3, 4], 1);
        assert!(t.slice(2, 0, 1).is_err());
        assert!(t.slice(0, 2, 1).is_err());
        assert!(t.slice(1, 0, 5).is_err());
        assert!(RingTensor::concat(&[], 0).is_err());
        assert!(RingTensor::concat(&[&t], 2).is_err());
        let u = rand_tensor(&[3, 5], 2);
        assert!(RingTensor::concat(&[&t, &u], 0).is_err());
        assert_eq!(RingTensor::concat(&[&t, &u], 1).unwrap().shape(), &[3, 9]);
        let v = rand_tensor(&[3, 4, 1], 2);
        assert!(RingTensor::concat(&[&t, &v], 0).is_err());
        assert!(t.index_select(0, &[0, 3]).is_err());
        assert!(t.index_select(2, &[0]).is_err());
        assert!(RingTensor::scalar(1).slice(0, 0, 1).is_err());
        assert_eq!(t.index_select(1, &[]).unwrap().shape(), &[3, 0]);
    }

    #[test]
    fn pad_matches_naive() {
        for (s, pads) in [
            (vec![3, 4], vec![(1, 2), (0, 3)]),
            (vec![2, 3, 5], vec![(0, 0), (2, 1), (1, 1)]),
            (vec![5], vec![(3, 0)]),
            (vec![2, 0, 3], vec![(1, 1), (1, 0), (0, 2)]),
            (vec![8, 64, 70], vec![(1, 1), (2, 3), (1, 0)]),
        ] {
            let t = rand_tensor(&s, 4);
            let v = 0xdead_beef_u64;
            let p = t.pad(&pads, v).unwrap();
            let os: Vec<usize> = s.iter().zip(&pads).map(|(d, (b, a))| d + b + a).collect();
            assert_eq!(p.shape(), &os[..]);
            for lin in 0..p.len() {
                let oi = unravel(lin, &os);
                let inside = oi
                    .iter()
                    .zip(&pads)
                    .zip(&s)
                    .all(|((&o, &(b, _)), &d)| o >= b && o < b + d);
                let expect = if inside {
                    let ii: Vec<usize> = oi.iter().zip(&pads).map(|(&o, &(b, _))| o - b).collect();
                    t.data()[ravel(&ii, &s)]
                } else {
                    v
                };
                assert_eq!(p.data()[lin], expect);
            }
        }
        let t = rand_tensor(&[2, 2], 1);
        assert!(t.pad(&[(1, 1)], 0).is_err());
        assert!(t.pad(&[(1, 1), (0, 0), (0, 0)], 0).is_err());
        assert!(t.pad(&[(usize::MAX, 1), (0, 0)], 0).is_err());
        assert!(t.pad(&[(usize::MAX / 4, 0), (usize::MAX / 4, 0)], 0).is_err());
        assert_eq!(RingTensor::scalar(5).pad(&[], 0).unwrap(), RingTensor::scalar(5));
    }

    #[test]
    fn sums_match_naive() {
        for s in [
            vec![3, 4, 5],
            vec![1, 7],
            vec![9],
            vec![200, 3, 70],
            vec![2, 40000],
            vec![40000, 2],
            vec![1, 50000, 1],
            vec![3, 0, 2],
        ] {
            let t = rand_tensor(&s, 8);
            let total = t.data().iter().fold(0u64, |a, &b| a.wrapping_add(b));
            assert_eq!(t.sum_all(), total);
            for axis in 0..s.len() {
                for keepdim in [false, true] {
                    let r = t.sum_axis(axis, keepdim).unwrap();
                    let mut ks = s.clone();
                    ks[axis] = 1;
                    let mut expect = vec![0u64; numel(&ks)];
                    for lin in 0..t.len() {
                        let mut ii = unravel(lin, &s);
                        ii[axis] = 0;
                        let o = ravel(&ii, &ks);
                        expect[o] = expect[o].wrapping_add(t.data()[lin]);
                    }
                    let mut es = s.clone();
                    if keepdim {
                        es[axis] = 1;
                    } else {
                        es.remove(axis);
                    }
                    assert_eq!(r, RingTensor::from_vec(&es, expect).unwrap(), "shape {s:?} axis {axis}");
                }
            }
            assert!(t.sum_axis(s.len(), false).is_err());
        }
        assert_eq!(RingTensor::scalar(7).sum_all(), 7);
        assert!(RingTensor::scalar(7).sum_axis(0, true).is_err());
    }

    #[test]
    fn broadcast_matches_naive() {
        for (s, to) in [
            (vec![3, 1], vec![3, 4]),
            (vec![1, 4], vec![3, 4]),
            (vec![4], vec![2, 3, 4]),
            (vec![2, 1, 3, 1], vec![5, 2, 4, 3, 6]),
            (vec![1], vec![7]),
            (vec![], vec![2, 2]),
            (vec![2, 3], vec![2, 3]),
            (vec![1, 3], vec![0, 3]),
        ] {
            let t = rand_tensor(&s, 2);
            let b = t.broadcast_to(&to).unwrap();
            assert_eq!(b.shape(), &to[..]);
            let off = to.len() - s.len();
            for lin in 0..b.len() {
                let oi = unravel(lin, &to);
                let ii: Vec<usize> = s
                    .iter()
                    .enumerate()
                    .map(|(k, &d)| if d == 1 { 0 } else { oi[k + off] })
                    .collect();
                assert_eq!(b.data()[lin], t.data()[ravel(&ii, &s)]);
            }
        }
        let t = rand_tensor(&[2, 3], 1);
        assert!(t.broadcast_to(&[3]).is_err());
        assert!(t.broadcast_to(&[2, 4]).is_err());
        assert!(t.broadcast_to(&[3, 3]).is_err());
        assert!(rand_tensor(&[1], 1).broadcast_to(&[usize::MAX, usize::MAX]).is_err());
    }

    #[test]
    fn reshaping_helpers() {
        let t = rand_tensor(&[2, 3, 4], 1);
        assert_eq!(t.unsqueeze(0).unwrap().shape(), &[1, 2, 3, 4]);
        assert_eq!(t.unsqueeze(3).unwrap().shape(), &[2, 3, 4, 1]);
        assert!(t.unsqueeze(4).is_err());
        let u = t.unsqueeze(1).unwrap();
        assert_eq!(u.squeeze(1).unwrap(), t);
        assert!(t.squeeze(0).is_err());
        assert!(t.squeeze(3).is_err());
        assert_eq!(t.flatten(0, 2).unwrap().shape(), &[24]);
        assert_eq!(t.flatten(1, 2).unwrap().shape(), &[2, 12]);
        assert_eq!(t.flatten(1, 1).unwrap().shape(), &[2, 3, 4]);
        assert_eq!(t.flatten(1, 2).unwrap().data(), t.data());
        assert!(t.flatten(2, 1).is_err());
        assert!(t.flatten(0, 3).is_err());
        assert_eq!(RingTensor::scalar(4).flatten(0, 0).unwrap().shape(), &[1]);
        assert_eq!(RingTensor::scalar(4).unsqueeze(0).unwrap().shape(), &[1]);
    }

    #[test]
    fn stack_works() {
        let a = rand_tensor(&[2, 3], 1);
        let b = rand_tensor(&[2, 3], 2);
        let s = RingTensor::stack(&[&a, &b, &a]).unwrap();
        assert_eq!(s.shape(), &[3, 2, 3]);
        assert_eq!(s.slice(0, 1, 2).unwrap().squeeze(0).unwrap(), b);
        assert_eq!(s.index_select(0, &[2]).unwrap().squeeze(0).unwrap(), a);
        assert!(RingTensor::stack(&[]).is_err());
        assert!(RingTensor::stack(&[&a, &rand_tensor(&[3, 2], 1)]).is_err());
    }
}
