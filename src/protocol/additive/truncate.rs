//! Fixed-point truncation of additive shares: local for two parties, with a dealer mask otherwise.
//!
//! Local (N = 2, SecureML): party 0 shifts its share arithmetically, party 1 shifts the negation
//! of its share and negates back. The result is ⌊x/2^f⌋ or ⌊x/2^f⌋ + 1 (at most 1 ulp off), except
//! with probability |x|/2^64 per element (x the value before the shift, at scale 2^2f), when party
//! 0's uniformly random share lands within |x| of the signed wrap point and the result is off by
//! about 2^(64−f). For |x·y| < 2^15 at f = 16 that is below 2^−17.
//!
//! Dealer mask (any N): see `truncate_with_dealer` below.
//!
//! Cost (n elements, N parties; rounds TTP / first-party dealer, see the parent module):
//!
//! | op | rounds, TTP / first party | party rounds | online bytes per party | offline bytes (dealer → party 0) |
//! |---|---|---|---|---|
//! | truncate, local (N = 2) | 0 | 0 | 0 | 0 |
//! | truncate, dealer mask | 2 / 1 | 1 | 8(N−1)n | 16n |

use super::AdditiveParty;
use super::request::Request;
use crate::error::{Error, Result};
use crate::protocol::config::{DealerKind, Truncation};
use crate::protocol::cost::Cost;
use crate::ring::RingTensor;
use rayon::prelude::*;

impl AdditiveParty {
    /// Cost of truncating n elements: free when local (two parties), else one opening plus two
    /// dealer words per element.
    pub fn truncate_cost(parties: usize, truncation: Truncation, dealer: DealerKind, n: usize) -> Cost {
        match truncation {
            Truncation::Local => Cost::default(),
            Truncation::Dealer => {
                let ttp = dealer == DealerKind::Ttp;
                Cost::round(
                    ttp,
                    8 * (parties as u64 - 1) * n as u64,
                    if ttp { 16 * n as u64 } else { 0 },
                )
            }
        }
    }

    /// Divides each share's value by 2^bits (see the module docs).
    pub(super) fn truncate_rings(&mut self, xs: Vec<RingTensor>, bits: u32) -> Result<Vec<RingTensor>> {
        if bits == 0 || bits >= 62 {
            return Err(Error::invalid("truncate", format!("cannot shift by {bits} bits")));
        }
        if self.truncation == Truncation::Dealer {
            return self.truncate_with_dealer(xs, bits);
        }
        if self.parties != 2 {
            return Err(self.protocol_error(
                "truncate",
                format!(
                    "local truncation needs exactly 2 parties (this session has {})",
                    self.parties
                ),
            ));
        }
        let party0 = self.id == 0;
        Ok(xs
            .into_iter()
            .map(|mut x| {
                if party0 {
                    x.map_inplace(move |v| ((v as i64) >> bits) as u64);
                } else {
                    x.map_inplace(move |v| (((v.wrapping_neg()) as i64 >> bits) as u64).wrapping_neg());
                }
                x
            })
            .collect())
    }

    /// Truncation with a dealer mask (any number of parties): open c = x + 2^62 + r, then
    /// ⌊(x + 2^62)/2^f⌋ = (c ≫ f) − (r mod 2^63 ≫ f) − r₆₃·2^(63−f) + w·2^(64−f) (+1 at most), where
    /// the wrap w = r₆₃·(1 − c₆₃) is linear in the shared top bit r₆₃ because x + 2^62 < 2^63.
    fn truncate_with_dealer(&mut self, xs: Vec<RingTensor>, bits: u32) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = xs.iter().map(|x| Request::Trunc { n: x.len(), bits }).collect();
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        let offset = if self.id == 0 { 1u64 << 62 } else { 0 };
        let mut msg = Vec::with_capacity(xs.iter().map(|x| x.len()).sum());
        for (x, d) in xs.iter().zip(&draws) {
            let r = d.common[0].data();
            msg.extend(
                x.data()
                    .iter()
                    .zip(r)
                    .map(|(&v, &r)| v.wrapping_add(r).wrapping_add(offset)),
            );
        }
        let opened = self.open_words(msg, false)?;
        self.fill_corrections(&reqs, &mut draws)?;
        let party0 = self.id == 0;
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(xs.len());
        for (x, d) in xs.into_iter().zip(draws) {
            let (c, tail) = rest.split_at(x.len());
            rest = tail;
            let mut own = d.own.into_iter();
            let (Some(low), Some(msb)) = (own.next(), own.next()) else {
                return Err(self.protocol_error("truncate", "missing truncation mask"));
            };
            let (low, msb) = (low.data(), msb.data());
            let data: Vec<u64> = (0..x.len())
                .into_par_iter()
                .with_min_len(1 << 12)
                .map(|i| {
                    let mut v = low[i].wrapping_neg().wrapping_sub(msb[i] << (63 - bits));
                    if c[i] >> 63 == 0 {
                        v = v.wrapping_add(msb[i] << (64 - bits));
                    }
                    if party0 {
                        v = v.wrapping_add(c[i] >> bits).wrapping_sub(1u64 << (62 - bits));
                    }
                    v
                })
                .collect();
            out.push(RingTensor::from_vec(x.shape(), data)?);
        }
        Ok(out)
    }
}
