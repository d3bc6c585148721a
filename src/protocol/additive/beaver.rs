//! Beaver products of additive shares: bilinear maps (mul, matmul, convolutions), squares, AND,
//! and products with a prepared right operand.
//!
//! Products use Beaver triples from the dealer (see [`super::dealer`]): ε = x − a and δ = y − b are
//! opened in one round, then z_i = c_i + f(ε, b_i) + f(a_i, δ), plus f(ε, δ) at party 0, which
//! party 0 folds in as f(ε, b_0 + δ) so that every party computes exactly two products.
//!
//! Prepared operands (model weights, the right operand of many products): y is prepared once by
//! opening δ = y − b for a dealer mask b that the dealer keeps; each product f(x, y) then draws a
//! fresh a, opens only ε = x − a, and gets c = f(a, b) from the dealer with the same b:
//! z_i = c_i + f(ε, y_i) + f(a_i, δ), which sums to f(a, b) + f(ε, y) + f(a, y − b) = f(x, y).
//! Security (semi-honest, dealer not colluding): δ is y plus a uniform mask that is used in no
//! other opening, so it is uniform; every ε = x − a has its own fresh uniform a, so the ε's are
//! uniform and independent of δ and of each other; party 0's corrections c_0 = f(a, b) − Σ c_i are
//! masked by the fresh uniform c_i of the other parties. A party's view (δ, the ε's, its own PRG
//! draws and corrections) is thus simulated by uniform words, as for fresh triples. Reusing b is
//! what CrypTen's per-product triples pay for again at every use: the opening of a weight-sized δ,
//! online, in every inference. The dealer learns nothing new (it sees no opening). b must never
//! serve as a fresh mask elsewhere, and a must never be reused: each product draws a new one.
//!
//! Cost (N parties; bytes = payload each party SENDS; rounds TTP / first-party dealer, see the
//! parent module):
//!
//! | op | rounds, TTP / first party | party rounds | online bytes per party | offline bytes (dealer → party 0) |
//! |---|---|---|---|---|
//! | bilinear f(x, y) → z | 2 / 1 | 1 | 8(N−1)(\|x\| + \|y\|) | 8\|z\| |
//! | prepare y (once per weight, setup; the dealer answers nothing) | 1 | 1 | 8(N−1)\|y\| | 0 |
//! | bilinear f(x, y) → z, y prepared | 2 / 1 | 1 | 8(N−1)\|x\| | 8\|z\| |
//! | square (n elements) | 2 / 1 | 1 | 8(N−1)n | 8n |
//! | AND (n 64-bit lanes) | 2 / 1 | 1 | 16(N−1)n | 8n |
//!
//! `leak: beaver-mask-reuse` (an audit negative control, [`super::dealer::MaskReuse`]) breaks
//! exactly the rule above: the parties and the dealer alike keep the first mask drawn of each shape
//! and use it again, so products stay correct while openings x − a and y − a reveal x − y.

use super::AdditiveParty;
use super::open::mask_into;
use super::request::Request;
use crate::error::{PartyId, Result};
use crate::protocol::bilinear::BilinearOp;
use crate::protocol::config::DealerKind;
use crate::protocol::cost::Cost;
use crate::ring::RingTensor;
use rayon::prelude::*;
use std::sync::Arc;

/// What a party keeps of a prepared operand y: its slot in the dealer's table of masks and the
/// opened δ = y − b (public, shared by every clone).
#[derive(Clone, Debug)]
pub struct PreparedOperand {
    slot: usize,
    delta: Arc<RingTensor>,
}

impl AdditiveParty {
    /// Cost of one Beaver product f(x, y) with |x|, |y| input and |z| output elements.
    pub fn bilinear_cost(parties: usize, dealer: DealerKind, x: usize, y: usize, z: usize) -> Cost {
        let ttp = dealer == DealerKind::Ttp;
        Cost::round(
            ttp,
            8 * (parties as u64 - 1) * (x + y) as u64,
            if ttp { 8 * z as u64 } else { 0 },
        )
    }

    /// Cost of preparing y (|y| elements) as a fixed right operand: one opening of δ = y − b (the
    /// dealer is told to keep b and answers nothing).
    pub fn prepare_cost(parties: usize, y: usize) -> Cost {
        Self::reveal_cost(parties, y)
    }

    /// Cost of a product f(x, y) with y prepared: only ε = x − a is opened.
    pub fn bilinear_prepared_cost(parties: usize, dealer: DealerKind, x: usize, z: usize) -> Cost {
        Self::bilinear_cost(parties, dealer, x, 0, z)
    }

    /// Cost of squaring n elements.
    pub fn square_cost(parties: usize, dealer: DealerKind, n: usize) -> Cost {
        let ttp = dealer == DealerKind::Ttp;
        Cost::round(
            ttp,
            8 * (parties as u64 - 1) * n as u64,
            if ttp { 8 * n as u64 } else { 0 },
        )
    }

    /// Cost of AND on n 64-bit lanes.
    pub fn and_cost(parties: usize, dealer: DealerKind, n: usize) -> Cost {
        Self::bilinear_cost(parties, dealer, n, n, n)
    }

    /// f(x, y) for each item, one round (see the module docs).
    pub(super) fn beaver_many(&mut self, items: &[(&RingTensor, &RingTensor, BilinearOp)]) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = items
            .iter()
            .map(|(x, y, op)| {
                op.output_shape(x.shape(), y.shape())?;
                Ok(Request::Bilinear {
                    op: *op,
                    x: x.shape().to_vec(),
                    y: y.shape().to_vec(),
                })
            })
            .collect::<Result<_>>()?;
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        // ε_i = x_i − a_i and δ_i = y_i − b_i for every item, in one message.
        let total: usize = items.iter().map(|(x, y, _)| x.len() + y.len()).sum();
        let mut msg = Vec::with_capacity(total);
        for ((x, y, _), d) in items.iter().zip(&draws) {
            mask_into(&mut msg, x.data(), d.common[0].data(), false);
            mask_into(&mut msg, y.data(), d.common[1].data(), false);
        }
        let opened = self.open_words(msg, false)?;
        // Products other than Mul compute their local terms before waiting for party 0's
        // corrections, so the dealer's product overlaps with the parties' own.
        let mut pieces = Vec::with_capacity(items.len());
        let mut rest = &opened[..];
        for ((x, y, op), d) in items.iter().zip(&draws) {
            let (eps, tail) = rest.split_at(x.len());
            let (delta, tail) = tail.split_at(y.len());
            rest = tail;
            pieces.push(if *op == BilinearOp::Mul {
                None
            } else {
                let [a, b] = &d.common[..] else {
                    unreachable!("a bilinear draw has a and b")
                };
                Some(beaver_local_terms(
                    self.id,
                    *op,
                    (x.shape(), eps),
                    (y.shape(), delta),
                    a,
                    b,
                )?)
            });
        }
        self.fill_corrections(&reqs, &mut draws)?;
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(items.len());
        for (((x, y, op), d), piece) in items.iter().zip(draws).zip(pieces) {
            let (eps, tail) = rest.split_at(x.len());
            let (delta, tail) = tail.split_at(y.len());
            rest = tail;
            let c = d
                .own
                .into_iter()
                .next()
                .ok_or_else(|| self.protocol_error(op.name(), "missing triple correction"))?;
            out.push(match piece {
                Some(mut z) => {
                    z.add_assign(&c)?;
                    z
                }
                None => beaver_mul(self.id, eps, delta, &d.common[0], &d.common[1], c),
            });
        }
        Ok(out)
    }

    /// Opens δ = y − b for each y, one round (see the module docs).
    pub(super) fn prepare_rings(&mut self, ys: &[&RingTensor]) -> Result<Vec<PreparedOperand>> {
        let reqs: Vec<Request> = ys
            .iter()
            .map(|y| Request::Prepare {
                shape: y.shape().to_vec(),
            })
            .collect();
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        let mut msg = Vec::with_capacity(ys.iter().map(|y| y.len()).sum());
        for (y, d) in ys.iter().zip(&draws) {
            mask_into(&mut msg, y.data(), d.common[0].data(), false);
        }
        let opened = self.open_words(msg, false)?;
        self.fill_corrections(&reqs, &mut draws)?;
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(ys.len());
        for y in ys {
            let (delta, tail) = rest.split_at(y.len());
            rest = tail;
            out.push(PreparedOperand {
                slot: self.prepared,
                delta: Arc::new(RingTensor::from_vec(y.shape(), delta.to_vec())?),
            });
            self.prepared += 1;
        }
        Ok(out)
    }

    /// f(x, y) for each item with y prepared: opens only ε = x − a.
    pub(super) fn beaver_prepared_many(
        &mut self,
        items: &[(&RingTensor, &RingTensor, &PreparedOperand, BilinearOp)],
    ) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = items
            .iter()
            .map(|(x, y, prep, op)| {
                y.check_same_shape(&prep.delta, op.name())?;
                op.output_shape(x.shape(), y.shape())?;
                Ok(Request::BilinearPrepared {
                    op: *op,
                    x: x.shape().to_vec(),
                    y: y.shape().to_vec(),
                    slot: prep.slot,
                })
            })
            .collect::<Result<_>>()?;
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        let mut msg = Vec::with_capacity(items.iter().map(|(x, ..)| x.len()).sum());
        for ((x, ..), d) in items.iter().zip(&draws) {
            mask_into(&mut msg, x.data(), d.common[0].data(), false);
        }
        let opened = self.open_words(msg, false)?;
        // The local terms f(ε, y_i) + f(a_i, δ) first, while the dealer computes its product.
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(items.len());
        for ((x, y, prep, op), d) in items.iter().zip(&draws) {
            let (eps, tail) = rest.split_at(x.len());
            rest = tail;
            let eps = RingTensor::from_vec(x.shape(), eps.to_vec())?;
            let mut z = RingTensor::zeros(&op.output_shape(x.shape(), y.shape())?);
            op.apply_acc(&eps, y, &mut z)?;
            op.apply_acc(&d.common[0], &prep.delta, &mut z)?;
            out.push(z);
        }
        self.fill_corrections(&reqs, &mut draws)?;
        for ((z, d), (_, _, _, op)) in out.iter_mut().zip(&draws).zip(items) {
            let c = d
                .own
                .first()
                .ok_or_else(|| self.protocol_error(op.name(), "missing triple correction"))?;
            z.add_assign(c)?;
        }
        Ok(out)
    }

    /// x² for each tensor from a square pair (r, r²): opens only ε = x − r.
    pub(super) fn square_rings(&mut self, xs: &[&RingTensor]) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = xs
            .iter()
            .map(|x| Request::Square {
                shape: x.shape().to_vec(),
            })
            .collect();
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        let mut msg = Vec::with_capacity(xs.iter().map(|x| x.len()).sum());
        for (x, d) in xs.iter().zip(&draws) {
            mask_into(&mut msg, x.data(), d.common[0].data(), false);
        }
        let opened = self.open_words(msg, false)?;
        self.fill_corrections(&reqs, &mut draws)?;
        let mut rest = &opened[..];
        let mut out = Vec::with_capacity(xs.len());
        for (x, d) in xs.iter().zip(draws) {
            let (eps, tail) = rest.split_at(x.len());
            rest = tail;
            // x² = (ε + r)² = s + 2εr + ε²; party 0 adds the public ε².
            let s = d
                .own
                .into_iter()
                .next()
                .ok_or_else(|| self.protocol_error("square", "missing square correction"))?;
            let party0 = self.id == 0;
            let mut z = s;
            let r = d.common[0].data();
            z.data_mut()
                .par_iter_mut()
                .zip(eps.par_iter())
                .zip(r.par_iter())
                .for_each(|((z, &e), &r)| {
                    let mut v = z.wrapping_add(e.wrapping_mul(r).wrapping_mul(2));
                    if party0 {
                        v = v.wrapping_add(e.wrapping_mul(e));
                    }
                    *z = v;
                });
            out.push(z);
        }
        Ok(out)
    }

    /// Bitwise AND of each pair from a binary triple, one round.
    pub(super) fn and_rings(&mut self, items: &[(&RingTensor, &RingTensor)]) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = items
            .iter()
            .map(|(x, y)| {
                x.check_same_shape(y, "and")?;
                Ok(Request::And {
                    shape: x.shape().to_vec(),
                })
            })
            .collect::<Result<_>>()?;
        self.request(&reqs)?;
        let mut draws = self.draw_all(&reqs)?;
        let mut msg = Vec::with_capacity(2 * items.iter().map(|(x, _)| x.len()).sum::<usize>());
        for ((x, y), d) in items.iter().zip(&draws) {
            mask_into(&mut msg, x.data(), d.common[0].data(), true);
            mask_into(&mut msg, y.data(), d.common[1].data(), true);
        }
        let opened = self.open_words(msg, true)?;
        self.fill_corrections(&reqs, &mut draws)?;
        let mut rest = &opened[..];
        let party0 = self.id == 0;
        let mut out = Vec::with_capacity(items.len());
        for ((x, _), d) in items.iter().zip(draws) {
            let n = x.len();
            let (e, tail) = rest.split_at(n);
            let (dl, tail) = tail.split_at(n);
            rest = tail;
            // x∧y = c ⊕ (e∧b) ⊕ (a∧d) ⊕ (e∧d), the last term at party 0 only.
            let (a, b) = (d.common[0].data(), d.common[1].data());
            let mut z = d
                .own
                .into_iter()
                .next()
                .ok_or_else(|| self.protocol_error("and", "missing triple correction"))?;
            z.data_mut()
                .par_iter_mut()
                .enumerate()
                .with_min_len(1 << 12)
                .for_each(|(i, z)| {
                    let mut v = *z ^ (e[i] & b[i]) ^ (a[i] & dl[i]);
                    if party0 {
                        v ^= e[i] & dl[i];
                    }
                    *z = v;
                });
            out.push(z);
        }
        Ok(out)
    }
}

/// Elementwise Beaver product in one fused pass: c + ε·b' + a·δ with b' = b (+ δ at party 0).
fn beaver_mul(
    id: PartyId,
    eps: &[u64],
    delta: &[u64],
    a: &RingTensor,
    b: &RingTensor,
    mut c: RingTensor,
) -> RingTensor {
    let party0 = id == 0;
    let (a, b) = (a.data(), b.data());
    c.data_mut()
        .par_iter_mut()
        .enumerate()
        .with_min_len(1 << 12)
        .for_each(|(i, z)| {
            let bb = if party0 { b[i].wrapping_add(delta[i]) } else { b[i] };
            *z = z
                .wrapping_add(eps[i].wrapping_mul(bb))
                .wrapping_add(a[i].wrapping_mul(delta[i]));
        });
    c
}

/// The local terms of a Beaver product, f(ε, b_i) + f(a_i, δ), plus the public f(ε, δ) at party 0
/// (folded into one of the other two terms through the smaller operand: f(ε, b_0) + f(a_0 + ε, δ)
/// or f(ε, b_0 + δ) + f(a_0, δ)). Party i's share is this plus c_i.
fn beaver_local_terms(
    id: PartyId,
    op: BilinearOp,
    (eps_shape, eps): (&[usize], &[u64]),
    (delta_shape, delta): (&[usize], &[u64]),
    a: &RingTensor,
    b: &RingTensor,
) -> Result<RingTensor> {
    let eps = RingTensor::from_vec(eps_shape, eps.to_vec())?;
    let delta = RingTensor::from_vec(delta_shape, delta.to_vec())?;
    let mut z = RingTensor::zeros(&op.output_shape(eps_shape, delta_shape)?);
    if id != 0 {
        op.apply_acc(&eps, b, &mut z)?;
        op.apply_acc(a, &delta, &mut z)?;
    } else if eps.len() <= delta.len() {
        op.apply_acc(&eps, b, &mut z)?;
        op.apply_acc(&a.add(&eps)?, &delta, &mut z)?;
    } else {
        op.apply_acc(&eps, &b.add(&delta)?, &mut z)?;
        op.apply_acc(a, &delta, &mut z)?;
    }
    Ok(z)
}
