//! Axis permutations (transposes): the one kernel behind `RingTensor::permute`/`transpose`,
//! `F32Tensor::transpose` and the folded ONNX `Transpose`.
//!
//! Unit axes are dropped and axes that stay neighbours are merged first. When the innermost axis
//! survives, every output row is a contiguous input run; otherwise the output is built from
//! cache-blocked tiles of 16 rows (an 8x16 register tile when the input's innermost axis becomes
//! the output's second-to-last).

use super::layout::{copy_box, strides};
use super::{Dense, Elem, PAR_THRESHOLD, shape_string};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Output rows handled together by the tiled permutation kernel (one group of a transpose).
const TILE_ROWS: usize = 16;

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
fn tile_rows<E: Elem>(dst: &mut [E], src: &[E], base: usize, l: usize, sa: usize, sb: usize) {
    let rows = dst.len() / l;
    if sb == 1 && rows == TILE_ROWS {
        // 8-column micro tiles: gather an 8x16 block of the source, write 16 row pieces of 8.
        let mut i0 = 0;
        while i0 + 8 <= l {
            let mut tile = [[E::default(); TILE_ROWS]; 8];
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
fn permute_data<E: Elem>(src: &[E], dims: &[usize], perm: &[usize]) -> Vec<E> {
    let r = dims.len();
    if r <= 1 {
        return src.to_vec();
    }
    let n = src.len();
    let istr = strides(dims);
    let od: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let ostr_src: Vec<usize> = perm.iter().map(|&p| istr[p]).collect();
    let mut out = vec![E::default(); n];
    let l = od[r - 1];

    if perm[r - 1] == r - 1 {
        // The innermost axis survives: every output row is a contiguous input run.
        let ss: Vec<isize> = ostr_src.iter().map(|&v| v as isize).collect();
        copy_box(src, 0, &ss, &mut out, 0, &strides(&od), &od);
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
    let do_matrix = |mi: usize, m: &mut [E], parallel: bool| {
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

/// Reorders the axes of `x` (shape `shape`): output axis `i` is input axis `axes[i]` (like
/// `torch.permute`). Errors unless `axes` is a permutation of `0..rank`.
pub fn permute<E: Elem>(x: &[E], shape: &[usize], axes: &[usize]) -> Result<Dense<E>> {
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
    if x.is_empty() {
        return Ok(Dense::new(out_shape, Vec::new()));
    }
    let (dims, perm) = coalesce_permutation(shape, axes);
    Ok(Dense::new(out_shape, permute_data(x, &dims, &perm)))
}

/// Swaps the last two axes (a matrix transpose, batched over leading axes). Needs rank >= 2.
pub fn transpose<E: Elem>(x: &[E], shape: &[usize]) -> Result<Dense<E>> {
    let r = shape.len();
    if r < 2 {
        return Err(Error::shape(
            "transpose",
            format!("needs rank >= 2, got shape {} (rank {r})", shape_string(shape)),
        ));
    }
    let mut axes: Vec<usize> = (0..r).collect();
    axes.swap(r - 2, r - 1);
    permute(x, shape, &axes)
}
