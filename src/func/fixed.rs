//! Fixed-point arithmetic on shares: products with truncation, public constants, scaling.

use crate::error::Result;
use crate::protocol::{BilinearOp, Protocol, fixed_bilinear_many, fixed_square_many};
use crate::ring::{RingTensor, encode_value};

/// The ring encoding of the real `c` at the session's precision.
pub fn encode_const<P: Protocol>(p: &P, c: f64) -> u64 {
    encode_value(c, p.frac_bits())
}

/// x + c for a public real c.
pub fn add_const<P: Protocol>(p: &P, x: &P::Share, c: f64) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    p.add_public(x, &RingTensor::full(&shape, encode_const(p, c)))
}

/// c − x for a public real c.
pub fn const_sub<P: Protocol>(p: &P, c: f64, x: &P::Share) -> Result<P::Share> {
    let neg = p.neg(x)?;
    add_const(p, &neg, c)
}

/// x · k for a public integer k: exact, no truncation.
pub fn mul_int<P: Protocol>(p: &P, x: &P::Share, k: i64) -> Result<P::Share> {
    p.mul_scalar(x, k as u64)
}

/// x · c for a public real c, truncated back to the session's precision.
pub fn mul_const<P: Protocol>(p: &mut P, x: &P::Share, c: f64) -> Result<P::Share> {
    let y = p.mul_scalar(x, encode_const(p, c))?;
    let bits = p.frac_bits();
    Ok(p.truncate_many(vec![y], bits)?.remove(0))
}

/// x · c elementwise for a public real tensor c (same shape), truncated.
pub fn mul_public<P: Protocol>(p: &mut P, x: &P::Share, c: &[f64]) -> Result<P::Share> {
    let shape = p.shape(x).to_vec();
    let enc = crate::ring::encode(c, &shape, p.frac_bits())?;
    let y = p.linear(x, &|t| t.mul(&enc))?;
    let bits = p.frac_bits();
    Ok(p.truncate_many(vec![y], bits)?.remove(0))
}

/// x / 2^k (an arithmetic shift of the fixed-point value; costs one truncation).
pub fn div_pow2<P: Protocol>(p: &mut P, x: &P::Share, k: u32) -> Result<P::Share> {
    Ok(p.truncate_many(vec![x.clone()], k)?.remove(0))
}

/// Fixed-point x·y.
pub fn mul<P: Protocol>(p: &mut P, x: &P::Share, y: &P::Share) -> Result<P::Share> {
    Ok(fixed_bilinear_many(p, &[(x, y, BilinearOp::Mul)])?.remove(0))
}

/// Fixed-point x_i·y_i for each pair, in one round.
pub fn mul_many<P: Protocol>(p: &mut P, pairs: &[(&P::Share, &P::Share)]) -> Result<Vec<P::Share>> {
    let items: Vec<_> = pairs.iter().map(|(x, y)| (*x, *y, BilinearOp::Mul)).collect();
    fixed_bilinear_many(p, &items)
}

/// Fixed-point x².
pub fn square<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    Ok(fixed_square_many(p, &[x])?.remove(0))
}

/// x · b where b holds integers (0/1 bits, signs) at scale 1: no truncation needed.
pub fn mul_by_int_share<P: Protocol>(p: &mut P, x: &P::Share, b: &P::Share) -> Result<P::Share> {
    Ok(p.bilinear_many(&[(x, b, BilinearOp::Mul)])?.remove(0))
}

/// Converts an integer share (scale 1) to a fixed-point share (scale 2^f): multiply by 2^f.
pub fn int_to_fixed<P: Protocol>(p: &P, b: &P::Share) -> Result<P::Share> {
    p.mul_scalar(b, 1u64 << p.frac_bits())
}
