//! Comparisons and what is built from them. (STUB: being written.)

use crate::error::Result;
use crate::protocol::Protocol;

/// [x < 0] as an integer share (0 or 1 at scale 1).
pub fn ltz<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// sign(x) ∈ {−1, +1} as an integer share at scale 1 (0 counts as positive).
pub fn sign<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// max(x, 0).
pub fn relu<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// min(max(x, lo), hi) for public reals lo < hi.
pub fn clamp<P: Protocol>(p: &mut P, x: &P::Share, lo: f64, hi: f64) -> Result<P::Share> {
    let _ = (p, x, lo, hi);
    todo!()
}
