//! Shape operations on ring tensors: thin wrappers over the [`crate::dense`] movements
//! (transposes, slices, concatenation, padding, broadcasting, gathers, stacking, tiling), the
//! reshaping helpers, and the wrapping axis sums.
//!
//! Every operation here is a linear map (or a plain data movement), so it applies unchanged to
//! additive secret shares. Bad axes, indices or shapes give an [`Error::Shape`], never a panic.

use super::{PAR_THRESHOLD, RingTensor, numel, shape_string};
use crate::dense::{self, Dense, PadMode, split_at_axis};
use crate::error::{Error, Result};
use rayon::prelude::*;

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

impl From<Dense<u64>> for RingTensor {
    fn from(d: Dense<u64>) -> Self {
        RingTensor::from_parts(d.shape, d.data)
    }
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
        dense::transpose(self.data(), self.shape()).map(Into::into)
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]` (like `torch.permute`).
    pub fn permute(&self, axes: &[usize]) -> Result<RingTensor> {
        dense::permute(self.data(), self.shape(), axes).map(Into::into)
    }

    /// Elements `start..end` (step 1) along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<RingTensor> {
        dense::slice_axis(self.data(), self.shape(), axis, start, end).map(Into::into)
    }

    /// Joins tensors along an existing `axis`; all other axes must agree.
    pub fn concat(parts: &[&RingTensor], axis: usize) -> Result<RingTensor> {
        let views: Vec<(&[u64], &[usize])> = parts.iter().map(|p| (p.data(), p.shape())).collect();
        dense::concat(&views, axis).map(Into::into)
    }

    /// Pads every axis with `value`: `pads[i] = (before, after)` for axis `i`.
    pub fn pad(&self, pads: &[(usize, usize)], value: u64) -> Result<RingTensor> {
        self.pad_mode(pads, PadMode::Constant(value))
    }

    /// Pads every axis by `pads[i] = (before, after)` with a constant, the edge values or their
    /// mirror image (see [`PadMode`]).
    pub fn pad_mode(&self, pads: &[(usize, usize)], mode: PadMode<u64>) -> Result<RingTensor> {
        let signed = pads
            .iter()
            .map(|&(b, a)| Some((i64::try_from(b).ok()?, i64::try_from(a).ok()?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                Error::shape(
                    "pad",
                    format!("padding {pads:?} of shape {} is too large", shape_string(self.shape())),
                )
            })?;
        dense::pad(self.data(), self.shape(), &signed, mode).map(Into::into)
    }

    /// Repeats the tensor `repeats[i]` times along every axis `i` (numpy `tile`).
    pub fn tile(&self, repeats: &[usize]) -> Result<RingTensor> {
        dense::tile(self.data(), self.shape(), repeats).map(Into::into)
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
        dense::broadcast_to(self.data(), self.shape(), shape).map(Into::into)
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
        dense::gather(self.data(), self.shape(), axis, indices).map(Into::into)
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
        let mut unit = vec![1];
        unit.extend_from_slice(first.shape());
        let views: Vec<(&[u64], &[usize])> = parts.iter().map(|p| (p.data(), &unit[..])).collect();
        dense::concat(&views, 0).map(Into::into)
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
    fn pad_shapes_and_errors() {
        let t = rand_tensor(&[2, 3], 4);
        let p = t.pad(&[(1, 0), (0, 2)], 9).unwrap();
        assert_eq!(p.shape(), &[3, 5]);
        assert_eq!(&p.data()[5..8], &t.data()[..3]);
        let e = t.pad_mode(&[(0, 0), (2, 0)], PadMode::Edge).unwrap();
        assert_eq!(&e.data()[..3], &[t.data()[0]; 3]);
        let r = t.pad_mode(&[(0, 0), (1, 1)], PadMode::Reflect).unwrap();
        assert_eq!(r.data()[0], t.data()[1]);
        assert_eq!(t.tile(&[2, 1]).unwrap().data()[6..], t.data()[..]);
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
    fn broadcast_shapes_and_errors() {
        let t = rand_tensor(&[3, 1], 2);
        let b = t.broadcast_to(&[2, 3, 4]).unwrap();
        assert_eq!(b.shape(), &[2, 3, 4]);
        assert_eq!(&b.data()[4..8], &[t.data()[1]; 4]);
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
