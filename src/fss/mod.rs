//! Function secret sharing: the dealer-generated keys behind the `2pc-fss` family's non-linear
//! gates (see ../shared/reference/fss.md for the constructions and their costs).
//!
//! - [`prg`]: the tree PRG, fixed-key AES-128 in Matyas–Meyer–Oseas form, batched;
//! - [`dpf`]: distributed point functions with early termination, and the 1-bit comparison
//!   `[x < α]` read off their evaluation path (a DCF at DPF key size);
//! - [`drelu`]: the sign bit of masked ring values from one comparison on k − 1 bits;
//! - [`relu`]: ReLU in two rounds (DReLU, then a select without a triple), and B2A of the sign;
//! - [`dcf`]: comparison keys with a two-word ring payload (additive shares out);
//! - [`relu_one_round`]: ReLU in one round from a ring-payload DCF (larger keys);
//! - [`trunc`]: truncation with 2^62 of slack, exact below 2^62, unbiased stochastic rounding;
//! - [`trunc_relu`]: ReLU(x / 2^f) in a ReLU's two rounds, the truncation on the same opening;
//! - [`wire`]: keys as the u64 words the dealer sends, with their exact sizes.
//!
//! Everything works on whole batches (structure of arrays, one AES call per tree level) and is
//! generic in the domain size, so the tests check every mask and input exhaustively at 6–12 bits.
//! Layer 0: imports nothing from the crate; randomness comes from the caller.

pub mod dcf;
pub mod dpf;
pub mod drelu;
pub mod prg;
pub mod relu;
pub mod relu_one_round;
pub mod trunc;
pub mod trunc_relu;
pub mod wire;

#[cfg(test)]
mod tests;

/// Splits each value into two additive shares (mod 2^64), the first drawn from `rand`: how the
/// dealer hands out the ring-valued parts of every key.
pub fn split_additive(values: &[u64], rand: &mut dyn FnMut(&mut [u64])) -> (Vec<u64>, Vec<u64>) {
    let mut s0 = vec![0u64; values.len()];
    rand(&mut s0);
    let s1 = values.iter().zip(&s0).map(|(v, a)| v.wrapping_sub(*a)).collect();
    (s0, s1)
}
