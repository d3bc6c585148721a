//! Binary circuits on XOR-shared words: packing, the most-significant-bit circuit behind every
//! comparison, the full adder behind A2B, AND-reductions, and B2A of multi-bit values.
//!
//! Bits travel packed: a "bit vector" of n bits is a tensor of ⌈n/64⌉ words, bit e in word e/64 at
//! position e%64. Packing and unpacking are XOR-linear, hence local; ANDs on packed words cost one
//! Beaver AND per word, so a circuit level that needs m bits costs ⌈m/64⌉ words instead of m.
//!
//! MSB of x (x additively shared as x = a + b over two addends): the carry into bit 63 of a + b
//! is the group-generate of bits 0..62, computed by a binary tree that halves the bit count each
//! level: G = G_hi ⊕ (P_hi ∧ G_lo), P = P_hi ∧ P_lo (G and P_hi ∧ G_lo never overlap, so ⊕ = ∨).
//! One round for g = a ∧ b, then six levels; then msb = a_63 ⊕ b_63 ⊕ carry.
//!
//! Cost, two parties with a dealer, n elements (rounds between the parties, twice that on the
//! critical path with the dealer's answers; bytes sent per party, offline bytes):
//!
//! | circuit | rounds | bytes per party | offline |
//! |---|---|---|---|
//! | msb_bits | 7 | 16n + Σ_{l=1..5} 2·8·⌈64n/2^l/64⌉ + 16⌈n/64⌉ ≈ 47.25n | ≈ 3n |
//! | eq_zero_bits (2PC) | 6 | Σ_{l=1..6} 16⌈64n/2^l/64⌉ ≈ 16n | ≈ n |
//! | a2b (Kogge–Stone adder) | 7 | 16n + 5·32n + 16n = 192n | 8n + 5·16n + 8n |
//!
//! The exact figures (with the ⌈·⌉ roundings) are asserted by tests in `tests/functions.rs`.

use crate::error::Result;
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};
use rayon::prelude::*;

/// The even-position bits of `w` packed into its low 32 bits (an inverse Morton spread).
pub fn evens(w: u64) -> u64 {
    let mut x = w & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
    (x | (x >> 16)) & 0x0000_0000_ffff_ffff
}

/// The even-indexed (`parity` 0) or odd-indexed (1) bits of a dense bit vector, dense.
pub fn half_bits(t: &RingTensor, parity: u32) -> RingTensor {
    let w = t.data();
    let out_words = w.len().div_ceil(2);
    let one = |k: usize| {
        let lo = w[2 * k] >> parity;
        let hi = w.get(2 * k + 1).copied().unwrap_or(0) >> parity;
        evens(lo) | (evens(hi) << 32)
    };
    let out: Vec<u64> = if out_words >= 1 << 14 {
        (0..out_words).into_par_iter().with_min_len(1 << 12).map(one).collect()
    } else {
        (0..out_words).map(one).collect()
    };
    RingTensor::from_vec(&[out_words], out).expect("sized")
}

/// Splits a dense bit vector into its even-indexed and odd-indexed bits, each dense.
pub fn split_even_odd(t: &RingTensor) -> (RingTensor, RingTensor) {
    let w = t.data();
    let out_words = w.len().div_ceil(2);
    let mut even = Vec::with_capacity(out_words);
    let mut odd = Vec::with_capacity(out_words);
    for k in 0..out_words {
        let lo = w[2 * k];
        let hi = w.get(2 * k + 1).copied().unwrap_or(0);
        even.push(evens(lo) | (evens(hi) << 32));
        odd.push(evens(lo >> 1) | (evens(hi >> 1) << 32));
    }
    let shape = [out_words];
    (
        RingTensor::from_vec(&shape, even).expect("sized"),
        RingTensor::from_vec(&shape, odd).expect("sized"),
    )
}

/// Bit 63 of every word, packed.
pub fn pack_top_bits(t: &RingTensor) -> RingTensor {
    pack_bit(t, 63)
}

/// Bit `pos` of every word, packed (bit e of the result = bit `pos` of word e).
pub fn pack_bit(t: &RingTensor, pos: u32) -> RingTensor {
    let w = t.data();
    let mut out = vec![0u64; w.len().div_ceil(64)];
    for (e, &x) in w.iter().enumerate() {
        out[e / 64] |= ((x >> pos) & 1) << (e % 64);
    }
    RingTensor::from_vec(&[out.len()], out).expect("sized")
}

/// The all-ones mask of a packed vector of n bits (padding bits stay zero).
pub fn ones(n: usize) -> RingTensor {
    let mut w = vec![u64::MAX; n.div_ceil(64)];
    if n % 64 != 0 {
        *w.last_mut().expect("n > 0") = (1u64 << (n % 64)) - 1;
    }
    RingTensor::from_vec(&[w.len()], w).expect("sized")
}

/// NOT of a packed bit vector of n bits.
pub fn not_bits<P: Protocol>(p: &P, b: &P::BitShare, n: usize) -> Result<P::BitShare> {
    p.xor_public(b, &ones(n))
}

/// Concatenates packed bit vectors of `lens` bits into one packed vector (local).
pub fn concat_bits<P: Protocol>(p: &P, parts: &[(&P::BitShare, usize)]) -> Result<P::BitShare> {
    let mut acc: Option<(P::BitShare, usize)> = None;
    for (part, n) in parts {
        acc = Some(match acc {
            None => ((*part).clone(), *n),
            Some((a, m)) => (p.bit_linear2(&a, part, &|x, y| Ok(concat_packed(x, m, y, *n)))?, m + n),
        });
    }
    Ok(acc.expect("at least one part").0)
}

/// Concatenation of two packed vectors of m and n bits.
fn concat_packed(x: &RingTensor, m: usize, y: &RingTensor, n: usize) -> RingTensor {
    let total = m + n;
    let mut out = vec![0u64; total.div_ceil(64)];
    out[..x.len()].copy_from_slice(x.data());
    if m % 64 == 0 {
        out[m / 64..m / 64 + y.len()].copy_from_slice(y.data());
    } else {
        let shift = m % 64;
        for (k, &w) in y.data().iter().enumerate() {
            let at = m / 64 + k;
            out[at] |= w << shift;
            if at + 1 < out.len() {
                out[at + 1] |= w >> (64 - shift);
            }
        }
    }
    RingTensor::from_vec(&[out.len()], out).expect("sized")
}

/// Bits [start, start+n) of a packed vector, packed from bit 0.
pub fn slice_bits<P: Protocol>(p: &P, b: &P::BitShare, start: usize, n: usize) -> Result<P::BitShare> {
    p.bit_linear(b, &|t| {
        let w = t.data();
        let mut out = vec![0u64; n.div_ceil(64)];
        for (k, o) in out.iter_mut().enumerate() {
            let bit = start + 64 * k;
            let (q, r) = (bit / 64, bit % 64);
            let lo = w.get(q).copied().unwrap_or(0) >> r;
            let hi = if r == 0 {
                0
            } else {
                w.get(q + 1).copied().unwrap_or(0) << (64 - r)
            };
            *o = lo | hi;
        }
        if n % 64 != 0 {
            *out.last_mut().expect("n > 0") &= (1u64 << (n % 64)) - 1;
        }
        RingTensor::from_vec(&[out.len()], out)
    })
}

/// Reduces any number of addends to two with carry-save adders (one AND round per layer).
fn reduce_to_two<P: Protocol>(p: &mut P, mut adds: Vec<P::BitShare>) -> Result<(P::BitShare, P::BitShare)> {
    while adds.len() > 2 {
        let groups = adds.len() / 3;
        let mut pairs = Vec::with_capacity(groups);
        let mut sums = Vec::with_capacity(groups);
        let mut cs = Vec::with_capacity(groups);
        for g in 0..groups {
            let (a, b, c) = (&adds[3 * g], &adds[3 * g + 1], &adds[3 * g + 2]);
            sums.push(p.xor(&p.xor(a, b)?, c)?);
            pairs.push((p.xor(a, c)?, p.xor(b, c)?));
            cs.push(c.clone());
        }
        let refs: Vec<_> = pairs.iter().map(|(x, y)| (x, y)).collect();
        let ands = p.and_many(&refs)?;
        let mut next = Vec::with_capacity(adds.len());
        for ((s, m), c) in sums.into_iter().zip(ands).zip(cs) {
            // majority(a, b, c) = ((a⊕c) ∧ (b⊕c)) ⊕ c, shifted into the next position.
            let maj = p.xor(&m, &c)?;
            next.push(s);
            next.push(p.bit_linear(&maj, &|t| Ok(t.shl(1)))?);
        }
        next.extend(adds.drain(3 * groups..));
        adds = next;
    }
    let mut it = adds.into_iter();
    let a = it.next().expect("at least one addend");
    let b = match it.next() {
        Some(b) => b,
        None => p.bit_constant(&RingTensor::zeros(&[0])),
    };
    Ok((a, b))
}

/// The most significant bit (the sign) of each element of x, packed: n = numel(x) bits.
pub fn msb_bits<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::BitShare> {
    let shape = p.shape(x).to_vec();
    let n = numel(&shape);
    let adds = p.a2b_addends(x)?;
    let (a, b) = reduce_to_two(p, adds)?;
    let flat = |t: &RingTensor| t.clone().reshape(&[t.len()]);
    let (a, b) = (p.bit_linear(&a, &flat)?, p.bit_linear(&b, &flat)?);
    let top = p.bit_linear2(&a, &b, &|x, y| Ok(pack_top_bits(&x.xor(y)?)))?;
    // Shift left by one so that bit position i+1 holds bit i: the group over all 64 positions is
    // then the carry into bit 63.
    let a1 = p.bit_linear(&a, &|t| Ok(t.shl(1)))?;
    let b1 = p.bit_linear(&b, &|t| Ok(t.shl(1)))?;
    let mut g = p.and_many(&[(&a1, &b1)])?.remove(0);
    let mut prop = p.xor(&a1, &b1)?;
    for level in 0..6 {
        // One AND on stacked words: [P_hi, P_hi] ∧ [G_lo, P_lo] (just P_hi ∧ G_lo at the last level).
        let last = level == 5;
        let lhs = p.bit_linear(&prop, &|t| {
            let odd = half_bits(t, 1);
            if last {
                Ok(odd)
            } else {
                RingTensor::concat(&[&odd, &odd], 0)
            }
        })?;
        let rhs = p.bit_linear2(&g, &prop, &|gt, pt| {
            let g_lo = half_bits(gt, 0);
            if last {
                Ok(g_lo)
            } else {
                RingTensor::concat(&[&g_lo, &half_bits(pt, 0)], 0)
            }
        })?;
        let g_hi = p.bit_linear(&g, &|t| Ok(half_bits(t, 1)))?;
        let r = p.and_many(&[(&lhs, &rhs)])?.remove(0);
        let half = p.bit_shape(&g_hi)[0];
        let t = p.bit_linear(&r, &|x| x.slice(0, 0, half))?;
        g = p.xor(&g_hi, &t)?;
        if !last {
            prop = p.bit_linear(&r, &|x| x.slice(0, half, 2 * half))?;
        }
    }
    // After six halvings each element has one bit: the carry. Trim padding words.
    let carry = p.bit_linear(&g, &|t| Ok(trim(t, n)))?;
    p.xor(&top, &carry)
}

/// Keeps the first ⌈n/64⌉ words of a packed vector and clears bits past n.
fn trim(t: &RingTensor, n: usize) -> RingTensor {
    let words = n.div_ceil(64);
    let mut w = t.data()[..words].to_vec();
    if n % 64 != 0 {
        w[words - 1] &= (1u64 << (n % 64)) - 1;
    }
    RingTensor::from_vec(&[words], w).expect("sized")
}

/// Packed bits [x = 0] for each element of x, or `None` where the family gives no zero-test pair.
/// Two-party additive sharing: x = u + v is zero iff u = −v, so AND-reduce the 64 bits of
/// ¬(u ⊕ (−v)) with six halving levels.
pub fn eq_zero_bits<P: Protocol>(p: &mut P, x: &P::Share) -> Result<Option<P::BitShare>> {
    let n = numel(p.shape(x));
    let Some((u, v)) = p.zero_test_pair(x)? else {
        return Ok(None);
    };
    let diff = p.bit_linear2(&u, &v, &|a, b| a.xor(b)?.reshape(&[a.len()]))?;
    // NOT is a public XOR with all-ones: only one party's share flips.
    let mut w = p.xor_public(&diff, &RingTensor::full(&[n], u64::MAX))?;
    for _ in 0..6 {
        let lo = p.bit_linear(&w, &|t| Ok(half_bits(t, 0)))?;
        let hi = p.bit_linear(&w, &|t| Ok(half_bits(t, 1)))?;
        w = p.and_many(&[(&lo, &hi)])?.remove(0);
    }
    Ok(Some(p.bit_linear(&w, &|t| Ok(trim(t, n)))?))
}

/// Full conversion of an arithmetic share to a binary share of the same 64-bit value
/// (Kogge–Stone parallel-prefix adder over the addends: 1 + 6 AND rounds).
pub fn a2b<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::BitShare> {
    let adds = p.a2b_addends(x)?;
    let (a, b) = reduce_to_two(p, adds)?;
    let mut g = p.and_many(&[(&a, &b)])?.remove(0);
    let sum0 = p.xor(&a, &b)?;
    let mut prop = sum0.clone();
    for (level, s) in [1u32, 2, 4, 8, 16, 32].into_iter().enumerate() {
        let g_sh = p.bit_linear(&g, &|t| Ok(t.shl(s)))?;
        let p_sh = p.bit_linear(&prop, &|t| Ok(t.shl(s)))?;
        if level == 5 {
            let t = p.and_many(&[(&prop, &g_sh)])?.remove(0);
            g = p.xor(&g, &t)?;
        } else {
            let mut r = p.and_many(&[(&prop, &g_sh), (&prop, &p_sh)])?;
            let pp = r.pop().expect("two results");
            let t = r.pop().expect("two results");
            g = p.xor(&g, &t)?;
            prop = pp;
        }
    }
    let carries = p.bit_linear(&g, &|t| Ok(t.shl(1)))?;
    p.xor(&sum0, &carries)
}

/// Arithmetic shares of the low `k` bits of each binary-shared word, as integers (scale 1):
/// Σ_i 2^i·bit_i. One round (all k·n bits are converted together).
pub fn b2a_low_bits<P: Protocol>(p: &mut P, x: &P::BitShare, k: u32) -> Result<P::Share> {
    let shape = p.bit_shape(x).to_vec();
    let n = numel(&shape);
    let planes: Vec<P::BitShare> = (0..k)
        .map(|i| p.bit_linear(x, &|t| Ok(pack_bit(t, i))))
        .collect::<Result<_>>()?;
    let parts: Vec<(&P::BitShare, usize)> = planes.iter().map(|b| (b, n)).collect();
    let all = concat_bits(p, &parts)?;
    let ints = p.b2a_bits_many(&[(&all, k as usize * n)])?.remove(0);
    p.linear(&ints, &|t| {
        let d = t.data();
        let mut out = vec![0u64; n];
        for i in 0..k as usize {
            for (e, o) in out.iter_mut().enumerate() {
                *o = o.wrapping_add(d[i * n + e] << i);
            }
        }
        RingTensor::from_vec(&shape, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evens_and_splits() {
        assert_eq!(evens(0b1011), 0b01);
        assert_eq!(evens(0b0101), 0b11);
        let naive = |w: u64| (0..32).fold(0, |acc, i| acc | (((w >> (2 * i)) & 1) << i));
        for w in [0u64, 1, 0xdead_beef_cafe_f00d, u64::MAX / 3, 1 << 62] {
            assert_eq!(evens(w), naive(w));
        }
        assert_eq!(evens(u64::MAX), u32::MAX as u64);
        let t = RingTensor::from_vec(&[3], vec![0xAAAA_AAAA_AAAA_AAAA, 0x5555_5555_5555_5555, 1]).unwrap();
        let (e, o) = split_even_odd(&t);
        assert_eq!(e.data(), &[0xFFFF_FFFF_0000_0000, 1]);
        assert_eq!(o.data(), &[0x0000_0000_FFFF_FFFF, 0]);
    }

    #[test]
    fn packing_concat_and_ones() {
        let t = RingTensor::from_vec(&[3], vec![1 << 63, 0, 1 << 63]).unwrap();
        assert_eq!(pack_top_bits(&t).data(), &[0b101]);
        assert_eq!(ones(70).data(), &[u64::MAX, 0b111111]);
        let x = RingTensor::from_vec(&[1], vec![0b1]).unwrap();
        let y = RingTensor::from_vec(&[2], vec![u64::MAX, 0b1]).unwrap();
        let c = concat_packed(&x, 3, &y, 65);
        assert_eq!(c.data(), &[(u64::MAX << 3) | 1, 0b1111]);
    }
}
