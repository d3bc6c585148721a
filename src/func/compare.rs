//! Comparisons and what is built from them: ltz, lt/le/gt/ge, eq/ne, sign, abs, ReLU, where,
//! clamp. Results named `*_bits` are packed bit shares (one bit per element, row-major); the others
//! are arithmetic 0/1 (or ±1) integers at scale 1, ready to multiply fixed-point values without
//! truncation.
//!
//! Cost, two parties with a dealer, n elements (rounds between the parties, twice that on the
//! critical path with the dealer's answers, see the `func` module; bytes sent per party):
//!
//! | function | rounds | bytes per party (≈) | CrypTen |
//! |---|---|---|---|
//! | ltz, lt, gt, le, ge | 8 | 47.25n + n/8 | 8 rounds, 216n |
//! | relu | 8 | 47.25n + 8n + n/8 | 9 rounds, 232n |
//! | abs | 8 | as relu | 9 rounds, 232n |
//! | eq, ne (2PC) | 7 | 16n + n/8 | 7 rounds, 104n |
//! | where(c, x, y) | 1 | 8n + n/8 | 2 rounds |
//! | clamp | 8 | 2·(47.25n + 8n + n/8) | |
//!
//! These are the default circuits (`protocol::gates`). ltz, ReLU, where, clamp and the max
//! tournament call the family hooks (`Protocol::ltz_bits_many`, `relu_many`, `select_many`), so
//! a family that does a gate natively (`2pc-fss`) pays its own formula instead.
//!
//! ReLU multiplies x by the bit [x ≥ 0] in one round with a dealer "bit triple" (see
//! `Protocol::mul_bits_many`), so it needs no B2A round and no truncation: it is exact.

use super::binary::not_bits;
use super::fixed;
use crate::error::Result;
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};

/// Packed bits [x < 0] (the family's sign-bit hook).
pub fn ltz_bits<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::BitShare> {
    Ok(p.ltz_bits_many(&[x])?.remove(0))
}

/// Packed bits as an arithmetic 0/1 share of x's shape.
pub fn bits_to_int<P: Protocol>(p: &mut P, bits: &P::BitShare, shape: &[usize]) -> Result<P::Share> {
    let n = numel(shape);
    let b = p.b2a_bits_many(&[(bits, n)])?.remove(0);
    p.linear(&b, &|t| t.clone().reshape(shape))
}

/// [x < 0] as an integer share (0 or 1 at scale 1).
pub fn ltz<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    Ok(p.ltz_many(&[x])?.remove(0))
}

/// [x < y].
pub fn lt<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    let d = p.sub(x, y)?;
    ltz(p, &d)
}

/// [x > y].
pub fn gt<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    lt(p, y, x)
}

/// [x ≥ y] = 1 − [x < y].
pub fn ge<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    let l = lt(p, x, y)?;
    one_minus(p, &l)
}

/// [x ≤ y] = 1 − [x > y].
pub fn le<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    let g = gt(p, x, y)?;
    one_minus(p, &g)
}

/// Packed bits [x = y] (the family's zero-test hook on x − y).
pub fn eq_bits<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::BitShare> {
    let d = p.sub(x, y)?;
    Ok(p.eqz_bits_many(&[&d])?.remove(0))
}

/// [x = y].
pub fn eq<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let b = eq_bits(p, x, y)?;
    bits_to_int(p, &b, &shape)
}

/// [x ≠ y].
pub fn ne<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    let e = eq(p, x, y)?;
    one_minus(p, &e)
}

/// 1 − b for an integer share b.
fn one_minus<P: Protocol>(p: &P, b: &P::Share) -> Result<P::Share> {
    let shape = p.shape(b).to_vec();
    let neg = p.neg(b)?;
    p.add_public(&neg, &RingTensor::full(&shape, 1))
}

/// sign(x) ∈ {−1, +1} as an integer share at scale 1 (0 counts as positive).
pub fn sign<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let l = ltz(p, x)?;
    let shape = p.shape(x).to_vec();
    let m = p.mul_scalar(&l, (-2i64) as u64)?;
    p.add_public(&m, &RingTensor::full(&shape, 1))
}

/// x · b for packed bits b (one per element of x), exact.
pub fn mul_bits<P: Protocol>(p: &mut P, x: &P::Share, b: &P::BitShare) -> Result<P::Share> {
    Ok(p.mul_bits_many(&[(x, b)])?.remove(0))
}

/// max(x, 0), exact (the family's ReLU hook).
pub fn relu<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    Ok(p.relu_many(&[x])?.remove(0))
}

/// |x| = 2·ReLU(x) − x, exact (the family's ReLU hook; the generic ReLU costs what
/// x − 2·x·[x < 0] does: one MSB circuit and one bit product).
pub fn abs<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let r = relu(p, x)?;
    let twice = p.mul_scalar(&r, 2)?;
    p.sub(&twice, x)
}

/// c ? x : y elementwise, for packed condition bits c.
pub fn where_bits<P: Protocol>(p: &mut P, c: &P::BitShare, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    Ok(p.select_many(&[(c, x, y)])?.remove(0))
}

/// c ? x : y for an integer 0/1 condition share c (one product round; no truncation).
pub fn where_int<P: Protocol>(p: &mut P, c: &P::Share, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    let d = p.sub(x, y)?;
    let picked = fixed::mul_by_int_share(p, &d, c)?;
    p.add(y, &picked)
}

/// min(max(x, lo), hi) for public reals lo < hi: lo + relu(x − lo) − relu(x − hi), with both
/// comparisons in one circuit and both products in one round.
pub fn clamp<P: Protocol>(p: &mut P, x: &P::Share, lo: f64, hi: f64) -> Result<P::Share> {
    let a = fixed::add_const(p, x, -lo)?;
    let b = fixed::add_const(p, x, -hi)?;
    let mut r = p.relu_many(&[&a, &b])?;
    let rb = r.pop().expect("two tensors");
    let ra = r.pop().expect("two tensors");
    let d = p.sub(&ra, &rb)?;
    fixed::add_const(p, &d, lo)
}

/// Packed [x ≥ 0] bits for several tensors in one circuit (shared by max and pooling).
pub fn nonneg_bits_many<P: Protocol>(p: &mut P, xs: &[&P::Share]) -> Result<Vec<P::BitShare>> {
    let neg = p.ltz_bits_many(xs)?;
    neg.iter()
        .zip(xs)
        .map(|(b, x)| not_bits(p, b, numel(p.shape(x))))
        .collect()
}
