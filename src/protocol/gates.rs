//! The generic circuits behind the `Protocol` trait's family hooks (sign bits, ReLU, select,
//! truncation + ReLU): the default bodies every family runs unless it does the gate natively
//! (`2pc-fss` deals function-secret-sharing keys for them instead). They are free functions so
//! that a family overriding a hook can still fall back to them.
//!
//! Costs are the circuits' (`binary.rs`): the MSB circuit (7 rounds, ≈ 47.25n bytes per party for
//! two parties) plus one bit-product round (8(n + ⌈n/64⌉) bytes) for ReLU and select. Batches are
//! flattened into ONE circuit, so k tensors cost what one tensor of their total size costs.

use super::Protocol;
use super::binary::{eq_zero_bits, msb_bits, not_bits, slice_bits};
use crate::error::Result;
use crate::ring::{RingTensor, numel};

/// The tensors flattened and concatenated into one `[Σ n_i]` share, with their sizes.
pub fn concat_flat<P: Protocol>(p: &P, xs: &[&P::Share]) -> Result<(P::Share, Vec<usize>)> {
    let sizes: Vec<usize> = xs.iter().map(|x| numel(p.shape(x))).collect();
    let mut flat: Option<P::Share> = None;
    for x in xs {
        let f = p.linear(x, &|t| t.clone().reshape(&[t.len()]))?;
        flat = Some(match flat {
            None => f,
            Some(acc) => p.linear2(&acc, &f, &|a, b| RingTensor::concat(&[a, b], 0))?,
        });
    }
    let flat = flat.ok_or_else(|| crate::Error::invalid("gate", "no tensor given"))?;
    Ok((flat, sizes))
}

/// Splits a flat share back into tensors of the given shapes.
pub fn split_flat<P: Protocol>(p: &P, flat: &P::Share, shapes: &[Vec<usize>]) -> Result<Vec<P::Share>> {
    let mut at = 0;
    let mut out = Vec::with_capacity(shapes.len());
    for s in shapes {
        let n = numel(s);
        out.push(p.linear(flat, &|t| t.slice(0, at, at + n)?.reshape(s))?);
        at += n;
    }
    Ok(out)
}

/// Packed [x < 0] bits of each tensor, all from one MSB circuit.
pub fn ltz_bits_many<P: Protocol>(p: &mut P, xs: &[&P::Share]) -> Result<Vec<P::BitShare>> {
    if let [x] = xs {
        return Ok(vec![msb_bits(p, x)?]);
    }
    let (flat, sizes) = concat_flat(p, xs)?;
    let neg = msb_bits(p, &flat)?;
    let mut out = Vec::with_capacity(xs.len());
    let mut at = 0;
    for n in sizes {
        out.push(slice_bits(p, &neg, at, n)?);
        at += n;
    }
    Ok(out)
}

/// Packed [x = 0] bits of each tensor: the two-party zero test where the family has one (6
/// rounds, ≈ 16n bytes), else both signs of x and −x from one MSB circuit.
pub fn eqz_bits_many<P: Protocol>(p: &mut P, xs: &[&P::Share]) -> Result<Vec<P::BitShare>> {
    let mut out = Vec::with_capacity(xs.len());
    for d in xs {
        if let Some(bits) = eq_zero_bits(p, d)? {
            out.push(bits);
            continue;
        }
        // d = 0 iff neither d < 0 nor −d < 0.
        let n = numel(p.shape(d));
        let neg = p.neg(d)?;
        let both = p.linear2(d, &neg, &|a, b| RingTensor::concat(&[a, b], 0))?;
        let m = msb_bits(p, &both)?;
        let (m1, m2) = (slice_bits(p, &m, 0, n)?, slice_bits(p, &m, n, n)?);
        let either = p.xor(&m1, &m2)?;
        out.push(not_bits(p, &either, n)?);
    }
    Ok(out)
}

/// [x < 0] of each tensor as arithmetic 0/1 shares (scale 1, x's shape): the sign bits, then one
/// B2A round for all of them.
pub fn ltz_many<P: Protocol>(p: &mut P, xs: &[&P::Share]) -> Result<Vec<P::Share>> {
    let bits = p.ltz_bits_many(xs)?;
    let items: Vec<(&P::BitShare, usize)> = bits.iter().zip(xs).map(|(b, x)| (b, numel(p.shape(x)))).collect();
    let ints = p.b2a_bits_many(&items)?;
    xs.iter()
        .zip(&ints)
        .map(|(x, b)| {
            let shape = p.shape(x).to_vec();
            p.linear(b, &|t| t.clone().reshape(&shape))
        })
        .collect()
}

/// max(x, 0) of each tensor, exact: one MSB circuit, then one product with the bits [x ≥ 0].
pub fn relu_many<P: Protocol>(p: &mut P, xs: &[&P::Share]) -> Result<Vec<P::Share>> {
    if let [x] = xs {
        let n = numel(p.shape(x));
        let neg = msb_bits(p, x)?;
        let pos = not_bits(p, &neg, n)?;
        return p.mul_bits_many(&[(x, &pos)]);
    }
    let shapes: Vec<Vec<usize>> = xs.iter().map(|x| p.shape(x).to_vec()).collect();
    let (flat, sizes) = concat_flat(p, xs)?;
    let neg = msb_bits(p, &flat)?;
    let pos = not_bits(p, &neg, sizes.iter().sum())?;
    let r = p.mul_bits_many(&[(&flat, &pos)])?.remove(0);
    split_flat(p, &r, &shapes)
}

/// c ? x : y elementwise for each item (packed condition bits c), as y + c·(x − y): one product
/// round for all items.
pub fn select_many<P: Protocol>(p: &mut P, items: &[(&P::BitShare, &P::Share, &P::Share)]) -> Result<Vec<P::Share>> {
    let diffs: Vec<P::Share> = items.iter().map(|(_, x, y)| p.sub(x, y)).collect::<Result<_>>()?;
    let prods: Vec<(&P::Share, &P::BitShare)> = diffs.iter().zip(items).map(|(d, (c, _, _))| (d, *c)).collect();
    let picked = p.mul_bits_many(&prods)?;
    items.iter().zip(&picked).map(|((_, _, y), s)| p.add(y, s)).collect()
}

/// ReLU of x / 2^bits for each tensor: truncation, then ReLU (a family may fuse the two).
pub fn trunc_relu_many<P: Protocol>(p: &mut P, xs: Vec<P::Share>, bits: u32) -> Result<Vec<P::Share>> {
    let t = p.truncate_many(xs, bits)?;
    let refs: Vec<&P::Share> = t.iter().collect();
    p.relu_many(&refs)
}
