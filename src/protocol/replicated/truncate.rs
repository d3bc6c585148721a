//! Truncation of fixed-point values, two ways:
//!
//! * **Of replicated shares** (after a product with a public value, a public scaling): as in the
//!   module docs, parties 0 and 2 shift x_0, party 1 shifts x_1 + x_2 and re-shares: one round,
//!   8n bytes sent by party 1 alone.
//! * **Fused with a product** (ABY3's truncation pairs, made by one of the parties): a product
//!   ends with 3-out-of-3 shares z_0 + z_1 + z_2 = z, which the plain product re-shares in a round
//!   of its own. Instead, the pair maker m (party 2; see `PAIR_MAKER`) draws r uniform in Z_2^64
//!   from its own OS-seeded randomness, computes r' = r >> f (arithmetic shift) and replicated-shares r': components m and m + 1 come from the PRGs it
//!   shares with its neighbours, component m + 2 = r' − r'_m − r'_{m+1} is sent to the other two.
//!   That is input-independent (it could be made ahead of time), so it is metered in the offline
//!   phase. Online, the maker sends d = z_m − r to the other two, and those swap their z_i; both
//!   now know c = z − r, which is uniform and says nothing about z since r is unknown to them (the
//!   maker, which knows r, sees nothing of z). The result is r' with c >> f added to component
//!   m + 2, which is held exactly by those two: one round for the product and its truncation
//!   instead of two.
//!
//!   Correctness: with z, r and c read as signed, z = c + r over the integers unless z − r
//!   overflows, which happens with probability |z|/2^64 per element; then
//!   ⌊z/2^f⌋ − (c >> f) − (r >> f) ∈ {0, 1}; adding one unit makes the result ⌊z/2^f⌋ or
//!   ⌊z/2^f⌋ + 1, within one unit in the last place of z/2^f as every other truncation here.
//!   Security: semi-honest with an honest majority, as the rest of the family: no single party
//!   sees both r and c.
//!
//! | step | rounds | bytes sent | offline |
//! |---|---|---|---|
//! | truncate n replicated values | 1 | party 1: 8n, others 0 | 0 |
//! | product f(x, y) → z with truncation | 1 | maker: 16\|z\|, others 8\|z\| | maker: 16\|z\| |

use super::{ReplicatedParty, Rss};
use crate::error::{Error, Result};
use crate::net::{Phase, into_words};
use crate::protocol::cost::Cost;
use crate::ring::RingTensor;

/// The party that makes the truncation pairs.
const PAIR_MAKER: usize = 2;

/// ⌊v/2^bits⌋ of a ring element read as signed.
fn shift_signed(v: u64, bits: u32) -> u64 {
    ((v as i64) >> bits) as u64
}

impl ReplicatedParty {
    /// Truncates replicated shares (one round, party 1 → party 2; see the module docs).
    pub(super) fn truncate_replicated(&mut self, xs: Vec<Rss>, bits: u32) -> Result<Vec<Rss>> {
        if bits == 0 || bits >= 62 {
            return Err(Error::invalid("truncate", format!("cannot shift by {bits} bits")));
        }
        let shift = move |v: u64| ((v as i64) >> bits) as u64;
        let neg_shift = move |v: u64| (((v.wrapping_neg()) as i64 >> bits) as u64).wrapping_neg();
        match self.id {
            0 => Ok(xs
                .into_iter()
                .map(|x| {
                    let r = self.next.tensor(x.a.shape());
                    Rss {
                        a: x.a.map(shift),
                        b: r,
                    }
                })
                .collect()),
            1 => {
                let mut out = Vec::with_capacity(xs.len());
                let mut msg = Vec::new();
                for x in &xs {
                    let r = self.prev.tensor(x.a.shape());
                    let t1 = x.a.add(&x.b)?.map(neg_shift);
                    let y2 = t1.sub(&r)?;
                    msg.extend_from_slice(y2.data());
                    out.push(Rss { a: r, b: y2 });
                }
                self.net.send(Phase::Online, 2, msg)?;
                Ok(out)
            }
            _ => {
                let total = xs.iter().map(|x| x.a.len()).sum();
                let got = self.net.recv(1, total)?;
                let mut at = 0;
                xs.into_iter()
                    .map(|x| {
                        let n = x.a.len();
                        let y2 = RingTensor::from_vec(x.a.shape(), got[at..at + n].to_vec())?;
                        at += n;
                        Ok(Rss {
                            a: y2,
                            b: x.b.map(shift),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Replicated shares of ⌊z/2^bits⌋ from this party's 3-out-of-3 shares z_i of each tensor:
    /// one round (see the module docs).
    pub(super) fn truncate_shares(&mut self, zs: Vec<RingTensor>, bits: u32) -> Result<Vec<Rss>> {
        if bits == 0 || bits >= 62 {
            return Err(Error::invalid("truncate", format!("cannot shift by {bits} bits")));
        }
        let total: usize = zs.iter().map(RingTensor::len).sum();
        // Party 2 makes the pairs. Measured on the CI models (experiments/ci.yaml), this gives the
        // shortest critical paths: party 2 is the one that waits in a truncation of replicated
        // shares, and a maker never waits in this one (LeNet 34 rounds, against 37 with party 0 and
        // 36 with the role taking turns).
        let m = PAIR_MAKER;
        if self.id == m {
            // The maker: the pair (r, r'), component m+2 of r' to the others, and d = z_m − r.
            let (mut pair_msg, mut masked) = (Vec::with_capacity(total), Vec::with_capacity(total));
            let mut out = Vec::with_capacity(zs.len());
            for z in &zs {
                let r = self.own.tensor(z.shape());
                // Component m (shared with party m − 1) and m + 1 (with party m + 1) of r'.
                let rm = self.prev.tensor(z.shape());
                let rn = self.next.tensor(z.shape());
                for (((&rv, &a), &b), &zv) in r.data().iter().zip(rm.data()).zip(rn.data()).zip(z.data()) {
                    pair_msg.push(shift_signed(rv, bits).wrapping_sub(a).wrapping_sub(b));
                    masked.push(zv.wrapping_sub(rv));
                }
                out.push(Rss { a: rm, b: rn });
            }
            for to in [(m + 1) % 3, (m + 2) % 3] {
                self.net.send(Phase::Offline, to, pair_msg.clone())?;
                self.net.send(Phase::Online, to, masked.clone())?;
            }
            return Ok(out);
        }
        // The other two: swap their product shares, receive component m + 2 of r' and d from the
        // maker; c = z − r goes to component m + 2, which they both hold.
        let other = 3 - m - self.id;
        let mut msg = Vec::with_capacity(total);
        for z in &zs {
            msg.extend_from_slice(z.data());
        }
        self.net.send(Phase::Online, other, msg)?;
        let theirs = into_words(self.net.recv(other, total)?);
        let pair = into_words(self.net.recv(m, total)?);
        let masked = into_words(self.net.recv(m, total)?);
        let mut at = 0;
        zs.into_iter()
            .map(|z| {
                let n = z.len();
                let range = at..at + n;
                at += n;
                let y1: Vec<u64> = z
                    .data()
                    .iter()
                    .zip(&theirs[range.clone()])
                    .zip(&masked[range.clone()])
                    .zip(&pair[range])
                    .map(|(((&mine, &t), &d), &p)| {
                        // + 1: ⌊z/2^f⌋ − carry + 1 is ⌊z/2^f⌋ or ⌊z/2^f⌋ + 1, within one unit
                        // of z/2^f (as the other truncations).
                        let c = mine.wrapping_add(t).wrapping_add(d);
                        shift_signed(c, bits).wrapping_add(p).wrapping_add(1)
                    })
                    .collect();
                let y1 = RingTensor::from_vec(z.shape(), y1)?;
                // Party m + 1 holds (x_{m+1}, x_{m+2}), party m + 2 holds (x_{m+2}, x_m).
                Ok(if self.id == (m + 1) % 3 {
                    Rss {
                        a: self.prev.tensor(z.shape()),
                        b: y1,
                    }
                } else {
                    Rss {
                        a: y1,
                        b: self.next.tensor(z.shape()),
                    }
                })
            })
            .collect()
    }

    /// Cost of a product with |z| output elements and its fused truncation: one round; the pair
    /// maker (the busiest) sends 16|z| online and 16|z| offline, the other two 8|z| each.
    pub fn fixed_bilinear_cost(z: usize) -> Cost {
        Cost {
            rounds: 1,
            party_rounds: 1,
            bytes_per_party: 16 * z as u64,
            offline_bytes: 16 * z as u64,
        }
    }
}
