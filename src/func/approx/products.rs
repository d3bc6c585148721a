//! The fixed-point helpers and the batched product round every approximation is built from.
//!
//! * **Product rounds.** All products of a round go into one `bilinear_many` call. Products that
//!   share a factor a (a·b₁, …, a·bₘ) are sent as one batched matrix product `[n,1,1]·[n,1,m]`,
//!   so a is masked and opened once: 8(m+1)n bytes instead of 16mn on 2pc-ttp. A round made only
//!   of squares uses `square_many` (8n each).
//! * **Powers** x, x², …, x^k by the doubling tree (round j multiplies x^(2^(j−1)) by every lower
//!   power it needs): ⌈log₂ k⌉ rounds, shared by `log` and `polynomial`.

use crate::error::{Error, Result};
use crate::protocol::{BilinearOp, Protocol};
use crate::ring::{RingTensor, encode_value, numel};

/// The public real c at `bits` fractional bits, as a share shaped like x.
pub(super) fn const_like<P: Protocol>(p: &P, x: &P::Share, c: f64, bits: u32) -> P::Share {
    p.constant(&RingTensor::full(p.shape(x), encode_value(c, bits)))
}

/// x + c for x at `bits` fractional bits.
pub(super) fn add_at<P: Protocol>(p: &P, x: &P::Share, c: f64, bits: u32) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    p.add_public(x, &RingTensor::full(&shape, encode_value(c, bits)))
}

/// x / 2^bits (truncation; nothing for bits = 0).
pub(super) fn shr<P: Protocol>(p: &mut P, x: P::Share, bits: u32) -> Result<P::Share> {
    if bits == 0 {
        return Ok(x);
    }
    Ok(p.truncate_many(vec![x], bits)?.remove(0))
}

/// c₀ + Σ cᵢ·xᵢ for public reals cᵢ and fixed-point shares xᵢ, with one truncation.
pub(super) fn lin<P: Protocol>(p: &mut P, terms: &[(f64, &P::Share)], c0: f64) -> Result<P::Share> {
    let f = p.frac_bits();
    let mut acc: Option<P::Share> = None;
    for (c, x) in terms {
        let t = p.mul_scalar(x, encode_value(*c, f))?;
        acc = Some(match acc {
            None => t,
            Some(a) => p.add(&a, &t)?,
        });
    }
    let Some(acc) = acc else {
        return Err(Error::invalid("approx", "a linear combination needs at least one term"));
    };
    let y = shr(p, acc, f)?;
    add_at(p, &y, c0, f)
}

/// A bit (or any integer) share at scale 1 as a fixed-point share, times k.
pub(super) fn int_times<P: Protocol>(p: &P, b: &P::Share, k: i64) -> Result<P::Share> {
    p.mul_scalar(b, (k << p.frac_bits()) as u64)
}

/// A left factor with its right factors, each with the number of bits to truncate the product by.
pub(super) type Group<'a, S> = (&'a S, &'a [(&'a S, u32)]);

/// One round of products. Each group is a left factor with the right factors it multiplies, each
/// with the number of bits to truncate its product by (0 for integer factors). Returns the
/// products group by group. Groups with several right factors go out as one batched matrix
/// product `[n,1,1]·[n,1,m]`, so the left factor is masked and opened once; a round of squares
/// only uses `square_many`. All factors of a group share one shape.
pub(super) fn products<P: Protocol>(p: &mut P, groups: &[Group<'_, P::Share>]) -> Result<Vec<Vec<P::Share>>> {
    let all_squares = groups.iter().all(|(l, rs)| rs.len() == 1 && std::ptr::eq(*l, rs[0].0));
    // One product per group, all truncated by the same bits: the family's fused step (the same
    // calls as below where the family does not fuse).
    let single = groups.iter().all(|(_, rs)| rs.len() == 1);
    let bits: Vec<u32> = groups.iter().flat_map(|(_, rs)| rs.iter().map(|r| r.1)).collect();
    if let (true, Some(&b)) = (single, bits.first())
        && b > 0
        && bits.iter().all(|&x| x == b)
    {
        let out = if all_squares {
            let xs: Vec<&P::Share> = groups.iter().map(|(l, _)| *l).collect();
            p.square_truncated_many(&xs, b)?
        } else {
            let items: Vec<_> = groups.iter().map(|(l, rs)| (*l, rs[0].0, BilinearOp::Mul)).collect();
            p.bilinear_truncated_many(&items, b)?
        };
        return Ok(out.into_iter().map(|z| vec![z]).collect());
    }
    let raw: Vec<Vec<P::Share>> = if all_squares {
        let xs: Vec<&P::Share> = groups.iter().map(|(l, _)| *l).collect();
        p.square_many(&xs)?.into_iter().map(|z| vec![z]).collect()
    } else {
        let mut packed: Vec<Option<(P::Share, P::Share)>> = Vec::with_capacity(groups.len());
        for (l, rs) in groups {
            if rs.is_empty() {
                return Err(Error::invalid("approx", "a product group without right factors"));
            }
            let shape = p.shape(l).to_vec();
            if let Some((r, _)) = rs.iter().find(|(r, _)| p.shape(r) != shape.as_slice()) {
                return Err(Error::shape(
                    "mul",
                    format!("shapes {:?} and {:?} differ", shape, p.shape(r)),
                ));
            }
            if rs.len() == 1 {
                packed.push(None);
                continue;
            }
            let n = numel(&shape);
            let left = p.linear(l, &|t| t.clone().reshape(&[n, 1, 1]))?;
            let right = stack_last(p, rs, n)?;
            packed.push(Some((left, right)));
        }
        let items: Vec<(&P::Share, &P::Share, BilinearOp)> = groups
            .iter()
            .zip(&packed)
            .map(|((l, rs), pk)| match pk {
                None => (*l, rs[0].0, BilinearOp::Mul),
                Some((a, b)) => (a, b, BilinearOp::MatMul),
            })
            .collect();
        let zs = p.bilinear_many(&items)?;
        let mut out = Vec::with_capacity(groups.len());
        for (((l, rs), pk), z) in groups.iter().zip(&packed).zip(zs) {
            if pk.is_none() {
                out.push(vec![z]);
                continue;
            }
            let shape = p.shape(l).to_vec();
            let (n, m) = (numel(&shape), rs.len());
            let rows = p.linear(&z, &|t| t.clone().reshape(&[n, m])?.transpose())?;
            let mut parts = Vec::with_capacity(m);
            for j in 0..m {
                parts.push(p.linear(&rows, &|t| t.slice(0, j, j + 1)?.reshape(&shape))?);
            }
            out.push(parts);
        }
        out
    };
    // Truncate: one call per distinct bit count.
    let mut slots: Vec<Vec<Option<P::Share>>> = raw.into_iter().map(|g| g.into_iter().map(Some).collect()).collect();
    let mut counts: Vec<u32> = groups
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(|r| r.1))
        .filter(|&b| b > 0)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    for bits in counts {
        let mut at = Vec::new();
        let mut xs = Vec::new();
        for (g, (_, rs)) in groups.iter().enumerate() {
            for (j, r) in rs.iter().enumerate() {
                if r.1 == bits {
                    at.push((g, j));
                    xs.push(slots[g][j].take().expect("each product truncated once"));
                }
            }
        }
        for ((g, j), y) in at.into_iter().zip(p.truncate_many(xs, bits)?) {
            slots[g][j] = Some(y);
        }
    }
    Ok(slots
        .into_iter()
        .map(|g| g.into_iter().map(|s| s.expect("every product present")).collect())
        .collect())
}

/// The right factors of a group as one `[n, 1, m]` share (factor j in column j).
fn stack_last<P: Protocol>(p: &P, rs: &[(&P::Share, u32)], n: usize) -> Result<P::Share> {
    let m = rs.len();
    let mut acc = p.linear(rs[0].0, &|t| t.clone().reshape(&[n]))?;
    for (r, _) in &rs[1..] {
        acc = p.linear2(&acc, r, &|a, b| RingTensor::concat(&[a, &b.clone().reshape(&[n])?], 0))?;
    }
    p.linear(&acc, &|t| t.clone().reshape(&[m, n])?.transpose()?.reshape(&[n, 1, m]))
}

/// x, x², …, x^k (k ≥ 1) by the doubling tree: ⌈log₂ k⌉ rounds; the round with top power
/// t = 2^(j−1) computes x^t·[x, …, x^min(t, k−t)].
pub(super) fn powers<P: Protocol>(p: &mut P, x: &P::Share, k: usize) -> Result<Vec<P::Share>> {
    let f = p.frac_bits();
    let mut pw: Vec<P::Share> = vec![x.clone()];
    let mut top = 1;
    while top < k {
        let m = top.min(k - top);
        let out = {
            let rights: Vec<(&P::Share, u32)> = pw[..m].iter().map(|s| (s, f)).collect();
            products(p, &[(&pw[top - 1], &rights)])?.remove(0)
        };
        pw.extend(out);
        top *= 2;
    }
    Ok(pw)
}
