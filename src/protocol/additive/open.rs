//! Sharing and opening: input sharing from PRGs, and every opening of words to all parties (the
//! one round that reveals, masks for Beaver products and conversions all go through).
//!
//! Input sharing costs nothing online: every non-owner j draws its share from the PRG it shares
//! with the owner, and the owner subtracts those draws from its value (XOR for bit shares).
//!
//! Cost (n elements, N parties; bytes = payload each party SENDS):
//!
//! | op | rounds | party rounds | online bytes per party | offline bytes |
//! |---|---|---|---|---|
//! | share | 0 | 0 | 0 | 0 |
//! | reveal (to all) | 1 | 1 | 8(N−1)n | 0 |

use super::AdditiveParty;
use crate::error::{Error, PartyId, Result};
use crate::net::{Phase, into_words};
use crate::protocol::cost::Cost;
use crate::ring::{RingTensor, numel};
use rayon::prelude::*;
use std::sync::Arc;

impl AdditiveParty {
    /// Cost of opening n elements to all N parties.
    pub fn reveal_cost(parties: usize, n: usize) -> Cost {
        Cost::round(false, 8 * (parties as u64 - 1) * n as u64, 0)
    }

    /// Every party but this one.
    pub(super) fn others(&self) -> impl Iterator<Item = PartyId> + use<> {
        let id = self.id;
        (0..self.parties).filter(move |&j| j != id)
    }

    /// Sends `own` to every other party and returns the elementwise combination (sum or XOR) of all
    /// parties' messages, ours included: one round.
    pub(super) fn open_words(&mut self, own: Vec<u64>, xor: bool) -> Result<Vec<u64>> {
        let len = own.len();
        let own = Arc::new(own);
        let others: Vec<_> = self.others().collect();
        for &j in &others {
            self.net.send_shared(Phase::Online, j, &own)?;
        }
        let mut acc: Option<Vec<u64>> = None;
        for &j in &others {
            let m = self.net.recv(j, len)?;
            match &mut acc {
                None => acc = Some(combine_new(&own, &m, xor)),
                Some(a) => combine_into(a, &m, xor),
            }
        }
        Ok(acc.unwrap_or_else(|| into_words(own)))
    }

    /// Like [`Self::open_words`] for a message made of (XOR-combined, added) segment pairs.
    pub(super) fn open_mixed(&mut self, own: Vec<u64>, segments: Vec<(usize, usize)>) -> Result<Vec<u64>> {
        let len = own.len();
        let own = Arc::new(own);
        let others: Vec<_> = self.others().collect();
        for &j in &others {
            self.net.send_shared(Phase::Online, j, &own)?;
        }
        let mut acc = own.as_ref().clone();
        for &j in &others {
            let m = self.net.recv(j, len)?;
            let mut at = 0;
            for &(xor_len, add_len) in &segments {
                combine_into(&mut acc[at..at + xor_len], &m[at..at + xor_len], true);
                at += xor_len;
                combine_into(&mut acc[at..at + add_len], &m[at..at + add_len], false);
                at += add_len;
            }
        }
        Ok(acc)
    }

    /// Shares `value` from `owner` with no communication: non-owners draw their share from the
    /// PRG they share with the owner; the owner draws the same words and keeps value − Σ draws
    /// (or ⊕).
    pub(super) fn share_with(
        &mut self,
        owner: PartyId,
        value: Option<&RingTensor>,
        shape: &[usize],
        xor: bool,
    ) -> Result<RingTensor> {
        let p = self;
        if owner >= p.parties {
            return Err(Error::invalid("share", format!("there is no party {owner}")));
        }
        if p.id != owner {
            let prg = p.pair[owner].as_mut().expect("a seed with every party");
            return Ok(prg.tensor(shape));
        }
        let value = value.ok_or_else(|| p.protocol_error("share", "the owner must supply the value"))?;
        if value.shape() != shape {
            return Err(Error::shape(
                "share",
                format!(
                    "value has shape {:?} but the public shape is {:?}",
                    value.shape(),
                    shape
                ),
            ));
        }
        let mut mine = value.clone();
        let mut draw = vec![0u64; numel(shape)];
        for j in p.others().collect::<Vec<_>>() {
            p.pair[j].as_mut().expect("a seed with every party").fill(&mut draw);
            let d = RingTensor::from_vec(shape, std::mem::take(&mut draw))?;
            if xor {
                mine.xor_assign(&d)?;
            } else {
                mine.sub_assign(&d)?;
            }
            draw = d.into_vec();
        }
        Ok(mine)
    }

    /// Opens tensors to all parties in one round.
    pub(super) fn reveal_with(&mut self, xs: &[&RingTensor], xor: bool) -> Result<Vec<RingTensor>> {
        let p = self;
        let mut msg = Vec::with_capacity(xs.iter().map(|x| x.len()).sum());
        for x in xs {
            msg.extend_from_slice(x.data());
        }
        let opened = p.open_words(msg, xor)?;
        let mut rest = &opened[..];
        xs.iter()
            .map(|x| {
                let (head, tail) = rest.split_at(x.len());
                rest = tail;
                RingTensor::from_vec(x.shape(), head.to_vec())
            })
            .collect()
    }

    /// Opens x to party `to` only (the others send it their shares).
    pub(super) fn reveal_ring_to(&mut self, x: &RingTensor, to: PartyId) -> Result<Option<RingTensor>> {
        if to >= self.parties {
            return Err(Error::invalid("reveal_to", format!("there is no party {to}")));
        }
        if self.id != to {
            self.net.send(Phase::Online, to, x.data().to_vec())?;
            return Ok(None);
        }
        let mut acc = x.data().to_vec();
        for j in self.others().collect::<Vec<_>>() {
            let m = self.net.recv(j, acc.len())?;
            combine_into(&mut acc, &m, false);
        }
        Ok(Some(RingTensor::from_vec(x.shape(), acc)?))
    }
}

/// Addition or XOR of two words.
fn combine_op(xor: bool) -> impl Fn(u64, u64) -> u64 + Sync + Send + Copy {
    move |a, b| if xor { a ^ b } else { a.wrapping_add(b) }
}

/// acc[i] = acc[i] + m[i] (or XOR), in parallel for large messages.
fn combine_into(acc: &mut [u64], m: &[u64], xor: bool) {
    let f = combine_op(xor);
    if acc.len() >= crate::ring::PAR_THRESHOLD {
        acc.par_iter_mut().zip(m.par_iter()).for_each(|(a, &b)| *a = f(*a, b));
    } else {
        acc.iter_mut().zip(m).for_each(|(a, &b)| *a = f(*a, b));
    }
}

/// A new vector x[i] + y[i] (or XOR), written once.
fn combine_new(x: &[u64], y: &[u64], xor: bool) -> Vec<u64> {
    let f = combine_op(xor);
    if x.len() >= crate::ring::PAR_THRESHOLD {
        x.par_iter().zip(y.par_iter()).map(|(&a, &b)| f(a, b)).collect()
    } else {
        x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect()
    }
}

/// Appends x[i] − a[i] (or XOR) to `out`.
pub(super) fn mask_into(out: &mut Vec<u64>, x: &[u64], a: &[u64], xor: bool) {
    let f = move |(&x, &a): (&u64, &u64)| if xor { x ^ a } else { x.wrapping_sub(a) };
    if x.len() >= crate::ring::PAR_THRESHOLD {
        out.par_extend(x.par_iter().zip(a.par_iter()).map(f));
    } else {
        out.extend(x.iter().zip(a).map(f));
    }
}
