//! Shape arithmetic shared by every backend: axes, reduction layouts, split sizes.

use crate::error::{Error, Result};
use crate::nn::graph::Const;
use crate::nn::value::ints;

/// A possibly negative axis of a rank-`rank` tensor as an index.
pub fn axis_of(axis: i64, rank: usize) -> Result<usize> {
    let ax = if axis < 0 { axis + rank as i64 } else { axis };
    if ax < 0 || ax >= rank as i64 {
        return Err(Error::invalid(
            "axis",
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(ax as usize)
}

/// The sizes of the `parts` pieces of Split on an axis of length `dim`: the public `split` input
/// when given (which must add up to `dim`), else equal parts of ⌈dim/parts⌉ (the last smaller).
pub fn split_sizes(dim: usize, parts: usize, split: Option<&Const>) -> Result<Vec<usize>> {
    let bad = |d: String| Error::invalid("split", d);
    let sizes: Vec<usize> = match split {
        Some(c) => {
            let v = ints(c);
            if v.iter().any(|&s| s < 0) {
                return Err(bad(format!("sizes {v:?} include a negative one")));
            }
            v.iter().map(|&s| s as usize).collect()
        }
        None => {
            let each = dim.div_ceil(parts.max(1));
            (0..parts).map(|i| each.min(dim.saturating_sub(i * each))).collect()
        }
    };
    if sizes.len() != parts || sizes.iter().sum::<usize>() != dim {
        return Err(bad(format!(
            "sizes {sizes:?} do not split an axis of {dim} into {parts} outputs"
        )));
    }
    Ok(sizes)
}

/// For a reduction over `axes` of a tensor of `shape`: the permutation that moves the reduced
/// axes last, the number of groups, the group size and the output shape.
pub fn reduce_layout(shape: &[usize], axes: &[i64], keepdims: bool) -> Result<(Vec<usize>, usize, usize, Vec<usize>)> {
    let r = shape.len() as i64;
    let mut reduced = vec![axes.is_empty(); shape.len()];
    for &a in axes {
        let ax = if a < 0 { a + r } else { a };
        if ax < 0 || ax >= r {
            return Err(Error::invalid(
                "reduce",
                format!("axis {a} is out of range for rank {r}"),
            ));
        }
        reduced[ax as usize] = true;
    }
    let kept: Vec<usize> = (0..shape.len()).filter(|&i| !reduced[i]).collect();
    let gone: Vec<usize> = (0..shape.len()).filter(|&i| reduced[i]).collect();
    let perm: Vec<usize> = kept.iter().chain(&gone).copied().collect();
    let rows: usize = kept.iter().map(|&i| shape[i]).product();
    let k: usize = gone.iter().map(|&i| shape[i]).product();
    let out: Vec<usize> = if keepdims {
        (0..shape.len())
            .map(|i| if reduced[i] { 1 } else { shape[i] })
            .collect()
    } else {
        kept.iter().map(|&i| shape[i]).collect()
    };
    Ok((perm, rows, k, out))
}
