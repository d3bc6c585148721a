//! Conversions between arithmetic and bit shares: A2B addends, the two-party zero-test split,
//! B2A of packed bits, and products with packed bits (x·b in one round).
//!
//! Cost (n elements, N parties; bytes = payload each party SENDS; rounds TTP / first-party dealer,
//! see the parent module):
//!
//! | op | rounds, TTP / first party | party rounds | online bytes per party | offline bytes (dealer → party 0) |
//! |---|---|---|---|---|
//! | A2B addends, N = 2 (each party bit-shares its share) | 0 | 0 | 0 | 0 |
//! | A2B addends, N > 2 (open x + r) | 2 / 1 | 1 | 8(N−1)n | 8n |
//! | B2A of n packed bits | 2 / 1 | 1 | 8(N−1)⌈n/64⌉ | 8n |
//! | x·b for n elements and packed bits b | 2 / 1 | 1 | 8(N−1)(n + ⌈n/64⌉) | 16n |

use super::AdditiveParty;
use super::dealer;
use super::open::mask_into;
use super::request::Request;
use crate::error::{Error, Result};
use crate::ring::RingTensor;
use rayon::prelude::*;

impl AdditiveParty {
    /// Bit shares of addends whose sum is x: for two parties each party's own share, bit-shared by
    /// its owner (no communication); for more, (c + 1) and ¬r with c = x + r opened.
    pub(super) fn a2b_rings(&mut self, x: &RingTensor) -> Result<Vec<RingTensor>> {
        if self.parties == 2 {
            // Each party XOR-shares its own share: no communication.
            return (0..2)
                .map(|j| self.share_with(j, (self.id == j).then_some(x), x.shape(), true))
                .collect();
        }
        // More parties: N addends would cost O(N²) bytes to add up. Instead open c = x + r for a
        // dealer word r shared both ways; then x = (c + 1) + ¬r, two addends whatever N is.
        let reqs = [Request::EdaBits { n: x.len() }];
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        self.fill_corrections(&reqs, &mut draws)?;
        let d = draws.pop().expect("one request");
        let r_arith = d
            .own
            .into_iter()
            .next()
            .ok_or_else(|| self.protocol_error("a2b", "missing random word"))?;
        let masked = x.add(&r_arith.reshape(x.shape())?)?;
        let c = self.open_words(masked.into_vec(), false)?;
        let c1 = RingTensor::from_vec(x.shape(), c.into_iter().map(|v| v.wrapping_add(1)).collect())?;
        let not_r = self.with_public(
            &d.common[0].clone().reshape(x.shape())?,
            &RingTensor::full(x.shape(), u64::MAX),
            true,
            "xor_public",
        )?;
        Ok(vec![self.public_share(&c1), not_r])
    }

    /// Bit shares of u and −v where x = u + v with u party 0's share and v party 1's (two
    /// parties only): equal exactly when x = 0.
    pub(super) fn zero_test_rings(&mut self, x: &RingTensor) -> Result<Option<(RingTensor, RingTensor)>> {
        if self.parties != 2 {
            return Ok(None);
        }
        let neg = x.neg();
        let u = self.share_with(0, (self.id == 0).then_some(x), x.shape(), true)?;
        let v = self.share_with(1, (self.id == 1).then_some(&neg), x.shape(), true)?;
        Ok(Some((u, v)))
    }

    /// Packed bits to arithmetic 0/1: open c = b ⊕ r for dealt random bits r, then b = c + r − 2cr.
    pub(super) fn b2a_rings(&mut self, items: &[(&RingTensor, usize)]) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = items.iter().map(|&(_, n)| Request::Bits { n }).collect();
        for &(b, n) in items {
            check_packed(b, n, "b2a")?;
        }
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        // Open c = b ⊕ r (packed); then b = c + r − 2cr with c public.
        let mut msg = Vec::new();
        for (&(b, _), d) in items.iter().zip(&draws) {
            mask_into(&mut msg, b.data(), d.common[0].data(), true);
        }
        let opened = self.open_words(msg, true)?;
        self.fill_corrections(&reqs, &mut draws)?;
        let party0 = self.id == 0;
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(items.len());
        for (&(b, n), d) in items.iter().zip(draws) {
            let (c, tail) = rest.split_at(b.len());
            rest = tail;
            let mut r = d
                .own
                .into_iter()
                .next()
                .ok_or_else(|| self.protocol_error("b2a", "missing random bits"))?;
            r.data_mut()
                .par_iter_mut()
                .enumerate()
                .with_min_len(1 << 12)
                .for_each(|(e, r)| {
                    if dealer::bit(c, e) == 1 {
                        *r = (party0 as u64).wrapping_sub(*r);
                    }
                });
            debug_assert_eq!(r.len(), n);
            out.push(r);
        }
        Ok(out)
    }

    /// x·b for packed bits b in one round (see the comment inside).
    pub(super) fn mul_bits_rings(&mut self, items: &[(&RingTensor, &RingTensor)]) -> Result<Vec<RingTensor>> {
        // x·b = c·x + (1 − 2c)·x·r with c = b ⊕ r opened, and x·r = ε·r + a·r with ε = x − a
        // opened in the same round.
        let reqs: Vec<Request> = items.iter().map(|(x, _)| Request::BitMul { n: x.len() }).collect();
        for (x, b) in items {
            check_packed(b, x.len(), "mul_bits")?;
        }
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        let mut msg = Vec::new();
        for ((x, b), d) in items.iter().zip(&draws) {
            mask_into(&mut msg, b.data(), d.common[0].data(), true);
            mask_into(&mut msg, x.data(), d.common[1].data(), false);
        }
        // The bit part is XOR-combined and the ε part added; open both in one message.
        let opened = self.open_mixed(msg, items.iter().map(|(x, b)| (b.len(), x.len())).collect())?;
        self.fill_corrections(&reqs, &mut draws)?;
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(items.len());
        for ((x, b), d) in items.iter().zip(draws) {
            let (c, tail) = rest.split_at(b.len());
            let (eps, tail) = tail.split_at(x.len());
            rest = tail;
            let mut own = d.own.into_iter();
            let (r, ar) = (own.next(), own.next());
            let (Some(r), Some(mut z)) = (r, ar) else {
                return Err(self.protocol_error("mul_bits", "missing bit triple"));
            };
            let (xv, rv) = (x.data(), r.data());
            z.data_mut()
                .par_iter_mut()
                .enumerate()
                .with_min_len(1 << 12)
                .for_each(|(i, z)| {
                    let xr = eps[i].wrapping_mul(rv[i]).wrapping_add(*z);
                    *z = if dealer::bit(c, i) == 1 {
                        xv[i].wrapping_sub(xr)
                    } else {
                        xr
                    };
                });
            out.push(RingTensor::from_vec(x.shape(), z.into_vec())?);
        }
        Ok(out)
    }
}

/// Errors unless `b` holds exactly ⌈n/64⌉ packed words.
fn check_packed(b: &RingTensor, n: usize, op: &'static str) -> Result<()> {
    if b.len() != n.div_ceil(64) {
        return Err(Error::shape(
            op,
            format!("{} packed words cannot hold {n} bits", b.len()),
        ));
    }
    Ok(())
}
