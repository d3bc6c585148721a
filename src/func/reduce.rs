//! Reductions along a dimension: max / argmax (log-depth tournament), softmax, log-softmax,
//! LayerNorm.
//!
//! max along a dimension of length k: ⌈log2 k⌉ levels, each comparing neighbouring candidates
//! (one MSB circuit, 7 rounds) and keeping the larger with one bit-product round: 8 rounds per
//! level. A level with c candidates makes ⌊c/2⌋ comparisons per row and an odd last candidate
//! waits for the next level, so a row costs k − 1 comparisons in all (a 3x3 max-pool window 8,
//! not the 15 of padding it to 16); each level costs what a ReLU of its comparisons costs
//! (`compare.rs`). The argmax pads the row to K = 2^⌈log2 k⌉ with a very negative public value
//! instead (K − 1 comparisons), so that every candidate's one-hot spans equally many entries; a
//! level selects [c·oh_a, (1−c)·oh_b] in the same product round. Ties go to the earlier index (no
//! random tie-break).

use super::binary::not_bits;
use super::{approx, compare, fixed};
use crate::error::{Error, Result};
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};

/// Moves `dim` last and flattens to `[rows, k]`; returns the permutation used.
fn to_rows<P: Protocol>(p: &P, x: &P::Share, dim: usize) -> Result<(P::Share, Vec<usize>, usize)> {
    let shape = p.shape(x).to_vec();
    if dim >= shape.len() {
        return Err(Error::shape(
            "reduce",
            format!("dimension {dim} out of range for shape {shape:?}"),
        ));
    }
    let mut axes: Vec<usize> = (0..shape.len()).filter(|&a| a != dim).collect();
    axes.push(dim);
    let k = shape[dim];
    let rows = numel(&shape) / k.max(1);
    let moved = p.linear(x, &|t| t.permute(&axes)?.reshape(&[rows, k]))?;
    Ok((moved, axes, k))
}

/// Undoes [`to_rows`] for a `[rows, k]` result.
fn from_rows<P: Protocol>(p: &P, y: &P::Share, shape: &[usize], axes: &[usize]) -> Result<P::Share> {
    let moved: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    let mut inverse = vec![0; axes.len()];
    for (i, &a) in axes.iter().enumerate() {
        inverse[a] = i;
    }
    p.linear(y, &|t| t.clone().reshape(&moved)?.permute(&inverse))
}

/// Repeats every packed bit `times` times (bit e → bits e·times .. e·times+times−1).
fn repeat_bits(t: &RingTensor, n: usize, times: usize) -> RingTensor {
    let w = t.data();
    let mut out = vec![0u64; (n * times).div_ceil(64)];
    for e in 0..n {
        if (w[e / 64] >> (e % 64)) & 1 == 1 {
            for j in e * times..(e + 1) * times {
                out[j / 64] |= 1 << (j % 64);
            }
        }
    }
    RingTensor::from_vec(&[out.len()], out).expect("sized")
}

/// Max over the last axis of `[rows, k]` as `[rows]`: neighbours compared level by level, an odd
/// last candidate carried to the next level (k − 1 comparisons per row).
fn max_rows<P: Protocol>(p: &mut P, x: &P::Share, rows: usize, k: usize) -> Result<P::Share> {
    let mut v = x.clone();
    let mut c = k;
    while c > 1 {
        let half = c / 2;
        let a = p.linear(&v, &|t| even_odd_cols(t, rows, c, 0))?;
        let b = p.linear(&v, &|t| even_odd_cols(t, rows, c, 1))?;
        let d = p.sub(&a, &b)?;
        // max(a, b) = b + ReLU(a − b): the family's ReLU hook.
        let picked = p.relu_many(&[&d])?.remove(0);
        let won = p.add(&b, &picked)?;
        v = if c % 2 == 1 {
            // Append each row's last candidate after its winners.
            p.linear2(&won, &v, &|w, t| {
                let (w, t) = (w.data(), t.data());
                let mut out = Vec::with_capacity(rows * (half + 1));
                for r in 0..rows {
                    out.extend_from_slice(&w[r * half..(r + 1) * half]);
                    out.push(t[r * c + c - 1]);
                }
                RingTensor::from_vec(&[rows * (half + 1)], out)
            })?
        } else {
            won
        };
        c = half + c % 2;
    }
    p.linear(&v, &|t| t.clone().reshape(&[rows]))
}

/// Max over the last axis of `[rows, k]`, with the one-hot argmax `[rows, k]` when asked.
fn tournament<P: Protocol>(
    p: &mut P,
    x: &P::Share,
    rows: usize,
    k: usize,
    onehot: bool,
) -> Result<(P::Share, Option<P::Share>)> {
    let big = k.next_power_of_two();
    // Pad to a power of two with a public value far below any input (−2^(f+24)).
    let pad_value = fixed::encode_const(p, -((1u64 << 24) as f64));
    let mut v = p.linear(x, &|t| t.pad(&[(0, 0), (0, big - k)], 0))?;
    if big > k {
        let mut mask = RingTensor::zeros(&[rows, big]);
        for r in 0..rows {
            for j in k..big {
                mask.data_mut()[r * big + j] = pad_value;
            }
        }
        v = p.add_public(&v, &mask)?;
    }
    // One-hot of each candidate over its subtree: [rows, candidates, span].
    let mut oh = onehot.then(|| {
        let eye: Vec<u64> = (0..rows * big).map(|i| u64::from(i % big < k)).collect();
        p.constant(&RingTensor::from_vec(&[rows, big, 1], eye).expect("sized"))
    });
    let (mut c, mut span) = (big, 1);
    while c > 1 {
        let half = c / 2;
        // Pair candidate 2j (a, earlier) with 2j+1 (b).
        let a = p.linear(&v, &|t| even_odd_cols(t, rows, c, 0))?;
        let b = p.linear(&v, &|t| even_odd_cols(t, rows, c, 1))?;
        let d = p.sub(&a, &b)?;
        let n = rows * half;
        let neg = compare::ltz_bits(p, &d)?;
        let ge = not_bits(p, &neg, n)?;
        match oh.take() {
            None => {
                let picked = p.mul_bits_many(&[(&d, &ge)])?.remove(0);
                v = p.add(&b, &picked)?;
            }
            Some(h) => {
                let ha = p.linear(&h, &|t| even_odd_blocks(t, rows, c, span, 0))?;
                let hb = p.linear(&h, &|t| even_odd_blocks(t, rows, c, span, 1))?;
                let rep = p.bit_linear(&ge, &|t| Ok(repeat_bits(t, n, span)))?;
                let mut r = p.mul_bits_many(&[(&d, &ge), (&ha, &rep), (&hb, &rep)])?;
                let (hb_c, ha_c, picked) = (r.pop().expect("3"), r.pop().expect("3"), r.pop().expect("3"));
                v = p.add(&b, &picked)?;
                let hb_keep = p.sub(&hb, &hb_c)?;
                oh = Some(p.linear2(&ha_c, &hb_keep, &|x, y| {
                    let x = x.clone().reshape(&[rows, half, span])?;
                    let y = y.clone().reshape(&[rows, half, span])?;
                    RingTensor::concat(&[&x, &y], 2)
                })?);
            }
        }
        c = half;
        span *= 2;
    }
    let v = p.linear(&v, &|t| t.clone().reshape(&[rows]))?;
    let oh = match oh {
        Some(h) => Some(p.linear(&h, &|t| t.clone().reshape(&[rows, big])?.slice(1, 0, k))?),
        None => None,
    };
    Ok((v, oh))
}

/// Columns 2j + `parity`, j < ⌊c/2⌋, of a `[rows, c]` tensor, as `[rows·⌊c/2⌋]`.
fn even_odd_cols(t: &RingTensor, rows: usize, c: usize, parity: usize) -> Result<RingTensor> {
    let d = t.data();
    let out: Vec<u64> = (0..rows)
        .flat_map(|r| (0..c / 2).map(move |j| d[r * c + 2 * j + parity]))
        .collect();
    RingTensor::from_vec(&[rows * (c / 2)], out)
}

/// Blocks 2j + `parity` of a `[rows, c, span]` tensor, as `[rows·c/2·span]`.
fn even_odd_blocks(t: &RingTensor, rows: usize, c: usize, span: usize, parity: usize) -> Result<RingTensor> {
    let d = t.data();
    let mut out = Vec::with_capacity(rows * c / 2 * span);
    for r in 0..rows {
        for j in 0..c / 2 {
            let at = (r * c + 2 * j + parity) * span;
            out.extend_from_slice(&d[at..at + span]);
        }
    }
    RingTensor::from_vec(&[out.len()], out)
}

/// Max along `dim` (removed from the shape) and the one-hot argmax (x's shape, integers 0/1).
pub fn argmax<P: Protocol>(p: &mut P, x: &P::Share, dim: usize) -> Result<(P::Share, P::Share)> {
    let shape = p.shape(x).to_vec();
    let (rows_x, axes, k) = to_rows(p, x, dim)?;
    let rows = numel(&shape) / k.max(1);
    let (v, oh) = tournament(p, &rows_x, rows, k, true)?;
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter(|&(a, _)| a != dim)
        .map(|(_, &d)| d)
        .collect();
    let v = p.linear(&v, &|t| t.clone().reshape(&out_shape))?;
    let oh = from_rows(p, &oh.expect("asked for the one-hot"), &shape, &axes)?;
    Ok((v, oh))
}

/// Max along `dim` (removed from the shape), with the one-hot argmax; see [`argmax`].
pub fn max<P: Protocol>(p: &mut P, x: &P::Share, dim: usize) -> Result<(P::Share, P::Share)> {
    argmax(p, x, dim)
}

/// Max along `dim` only (no argmax), keeping `dim` with size 1.
pub fn max_values<P: Protocol>(p: &mut P, x: &P::Share, dim: usize) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let (rows_x, _, k) = to_rows(p, x, dim)?;
    let rows = numel(&shape) / k.max(1);
    let v = if k == 0 {
        tournament(p, &rows_x, rows, k, false)?.0
    } else {
        max_rows(p, &rows_x, rows, k)?
    };
    let mut keep = shape.clone();
    keep[dim] = 1;
    p.linear(&v, &|t| {
        // [rows] is in "dim last" order, which equals the keepdim layout.
        t.clone().reshape(&keep)
    })
}

/// x − max(x) along `dim`, broadcast back (the stable shift of softmax).
fn shifted<P: Protocol>(p: &mut P, x: &P::Share, dim: usize) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let m = max_values(p, x, dim)?;
    let mb = p.linear(&m, &|t| t.broadcast_to(&shape))?;
    p.sub(x, &mb)
}

/// softmax along `dim`: e^(x − max) / Σ e^(x − max).
pub fn softmax<P: Protocol>(p: &mut P, x: &P::Share, dim: usize) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let z = shifted(p, x, dim)?;
    let e = approx::exp(p, &z)?;
    let s = p.linear(&e, &|t| t.sum_axis(dim, true))?;
    let r = approx::reciprocal_positive(p, &s)?;
    let rb = p.linear(&r, &|t| t.broadcast_to(&shape))?;
    fixed::mul(p, &e, &rb)
}

/// log_softmax along `dim`: (x − max) − log Σ e^(x − max).
pub fn log_softmax<P: Protocol>(p: &mut P, x: &P::Share, dim: usize) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let z = shifted(p, x, dim)?;
    let e = approx::exp(p, &z)?;
    let s = p.linear(&e, &|t| t.sum_axis(dim, true))?;
    let l = approx::log(p, &s)?;
    let lb = p.linear(&l, &|t| t.broadcast_to(&shape))?;
    p.sub(&z, &lb)
}

/// LayerNorm over the last axis without affine parameters: (x − mean) / √(var + eps).
pub fn layer_norm<P: Protocol>(p: &mut P, x: &P::Share, eps: f64) -> Result<P::Share> {
    Ok(layer_norm_stats(p, x, eps)?.0)
}

/// [`layer_norm`] and its statistics: (normalised x, mean, 1/√(var + eps)), the statistics with
/// the last axis kept at size 1. Same cost as [`layer_norm`] (the statistics are intermediates).
pub fn layer_norm_stats<P: Protocol>(p: &mut P, x: &P::Share, eps: f64) -> Result<(P::Share, P::Share, P::Share)> {
    let shape = p.shape(x).to_vec();
    let last = shape.len() - 1;
    let k = shape[last] as f64;
    let sum = p.linear(x, &|t| t.sum_axis(last, true))?;
    let mean = fixed::mul_const(p, &sum, 1.0 / k)?;
    let mb = p.linear(&mean, &|t| t.broadcast_to(&shape))?;
    let d = p.sub(x, &mb)?;
    let sq = fixed::square(p, &d)?;
    let ssum = p.linear(&sq, &|t| t.sum_axis(last, true))?;
    let var = fixed::mul_const(p, &ssum, 1.0 / k)?;
    let var = fixed::add_const(p, &var, eps)?;
    let iters = p.functions().layernorm_nr_iters;
    let inv = approx::inv_sqrt_iters(p, &var, iters)?;
    let ib = p.linear(&inv, &|t| t.broadcast_to(&shape))?;
    Ok((fixed::mul(p, &d, &ib)?, mean, inv))
}
