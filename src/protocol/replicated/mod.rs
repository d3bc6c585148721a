//! Three-party replicated secret sharing (ABY3 / Falcon style): honest majority, semi-honest, no
//! dealer.
//!
//! A secret x = x_0 + x_1 + x_2 (mod 2^64; bits: x_0 ⊕ x_1 ⊕ x_2); party i holds the pair
//! (x_i, x_{i+1}), indices mod 3, so any two parties can open x and no single party learns
//! anything. Each party shares a PRG seed with each neighbour, which gives correlated zero shares
//! α_0 + α_1 + α_2 = 0 for free.
//!
//! * Products: party i computes its 3-out-of-3 share z_i = f(x_i, y_i + y_{i+1}) + f(x_{i+1}, y_i)
//!   + α_i and sends it to party i−1; one round, one ring element per output element sent per
//!   party. The α_i re-randomise the result: without them z_i would leak (CrypTen's replicated
//!   mode omits this step, its issue #518).
//! * Truncation (one round): view x as the two-party sharing (x_0) + (x_1 + x_2): parties 0 and 2
//!   know x_0, party 1 knows x_1 + x_2. They shift as in two-party local truncation (SecureML),
//!   then re-share: y_0 = ⌊x_0/2^f⌋, y_1 = r (a PRG draw of parties 0 and 1), y_2 = t_1 − r, sent by
//!   party 1 to party 2. Off by at most one ulp, except with probability |x|/2^64 per element (x
//!   before the shift), since x_0 is uniform after every product's re-randomisation.
//! * Fixed-point products (a product and its truncation) in ONE round: instead of re-sharing the
//!   3-out-of-3 product shares, the parties open z − r to parties 0 and 1 for a truncation pair
//!   (r, r >> f) made by party 2 (offline traffic); see `truncate.rs`.
//! * Comparisons: the three components are free bit-share addends (component k is known to the
//!   two parties holding it); one carry-save layer reduces them to two, then the shared MSB circuit.
//! * B2A of bits: party 0 knows u = b_0 ⊕ b_1, parties 1 and 2 know v = b_2; b = u + v − 2uv, with
//!   u input-shared by party 0 and one product: two rounds.
//!
//! Cost, n elements (bytes = payload each party sends; the figure is the busiest party's). Rounds
//! are the critical path (there is no dealer, so party rounds are the same). A one-way message
//! (input sharing, truncation) is a round of its own on the path: a product then a truncation is
//! 2 rounds, since party 2 can only use its truncated share once party 1's message has arrived.
//!
//! | op | rounds | bytes per party | offline |
//! |---|---|---|---|
//! | share (from one owner) | 1 | 8n (owner only) | 0 |
//! | reveal to all | 1 | 8n | 0 |
//! | bilinear f(x, y) → z (mul, matmul, conv) | 1 | 8\|z\| | 0 |
//! | fixed-point f(x, y) → z (product + truncation) | 1 | 8\|z\|, party 2: 16\|z\| | 16\|z\| (party 2) |
//! | prepare y (nothing to open: products have no masks) | 0 | 0 | 0 |
//! | bilinear f(x, y) → z, y prepared (the same product) | 1 | 8\|z\| | 0 |
//! | square | 1 | 8n | 0 |
//! | truncate (party 1 → party 2) | 1 | 8n (party 1 only) | 0 |
//! | AND (64-bit lanes) | 1 | 8n | 0 |
//! | B2A of n packed bits | 2 | 8n + 8n | 0 |

mod truncate;

use super::bilinear::BilinearOp;
use super::config::{FunctionConfig, ProtocolConfig};
use super::cost::Cost;
use super::prg::Prg;
use super::setup::{SessionOptions, barrier, exchange_seeds, publish};
use super::{Linear2Fn, LinearFn, Protocol};
use crate::error::{Error, PartyId, Result};
use crate::net::{MeterReport, Net, Phase, into_words};
use crate::ring::RingTensor;

/// One party's replicated share of an arithmetic value: (x_i, x_{i+1}) with x_0 + x_1 + x_2 = x.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rss {
    /// Component i.
    pub a: RingTensor,
    /// Component i + 1.
    pub b: RingTensor,
}

/// One party's replicated share of packed bits: (x_i, x_{i+1}) with x_0 ⊕ x_1 ⊕ x_2 = x. A
/// distinct type from [`Rss`], so that the two kinds of share cannot be mixed up:
///
/// ```compile_fail
/// use testbed::protocol::{Protocol, ReplicatedParty, Rss};
/// fn and_of_values(p: &mut ReplicatedParty, x: &Rss) {
///     let _ = p.and_many(&[(x, x)]); // and_many takes bit shares
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RssBits {
    /// Component i.
    pub a: RingTensor,
    /// Component i + 1.
    pub b: RingTensor,
}

/// The two components a party holds, whatever the kind of share: sharing, opening, resharing and
/// componentwise maps are the same code for both, told apart only by `xor`.
trait Pair: Sized {
    fn from_parts(a: RingTensor, b: RingTensor) -> Self;
    fn parts(&self) -> (&RingTensor, &RingTensor);

    /// f applied to each component (a linear map of the shared value).
    fn map(&self, f: LinearFn<'_>) -> Result<Self> {
        let (a, b) = self.parts();
        Ok(Self::from_parts(f(a)?, f(b)?))
    }

    /// f applied to each pair of components.
    fn zip(&self, other: &Self, f: Linear2Fn<'_>) -> Result<Self> {
        let ((a, b), (c, d)) = (self.parts(), other.parts());
        Ok(Self::from_parts(f(a, c)?, f(b, d)?))
    }
}

impl Pair for Rss {
    fn from_parts(a: RingTensor, b: RingTensor) -> Self {
        Rss { a, b }
    }

    fn parts(&self) -> (&RingTensor, &RingTensor) {
        (&self.a, &self.b)
    }
}

impl Pair for RssBits {
    fn from_parts(a: RingTensor, b: RingTensor) -> Self {
        RssBits { a, b }
    }

    fn parts(&self) -> (&RingTensor, &RingTensor) {
        (&self.a, &self.b)
    }
}

/// One party of a three-party replicated session.
pub struct ReplicatedParty {
    id: PartyId,
    frac_bits: u32,
    functions: FunctionConfig,
    net: Net,
    /// Shared with party id + 1.
    next: Prg,
    /// Shared with party id − 1.
    prev: Prg,
    /// This party's own randomness (the truncation pairs it makes).
    own: Prg,
    /// Whether products add the zero share α (false only in the audit's leaky control,
    /// `leak: no-rerandomise`).
    rerandomise: bool,
}

impl ReplicatedParty {
    /// Exchanges seeds with both other parties.
    pub fn setup(cfg: &ProtocolConfig, mut net: Net, opts: &SessionOptions) -> Result<Self> {
        let id = net.id();
        let (mut pair, own) = exchange_seeds(&mut net, opts.insecure_share_seed)?;
        let next = pair[(id + 1) % 3].take().expect("a seed with every party");
        let prev = pair[(id + 2) % 3].take().expect("a seed with every party");
        Ok(Self {
            id,
            frac_bits: cfg.precision_bits,
            functions: cfg.functions.clone(),
            net,
            next,
            prev,
            own,
            rerandomise: cfg.leak != Some(super::config::Leak::NoRerandomise),
        })
    }

    /// Ends the session and returns this party's traffic.
    pub fn finish(mut self) -> Result<MeterReport> {
        Ok(self.net.finish())
    }

    /// Cost of a bilinear product with |z| output elements.
    pub fn bilinear_cost(z: usize) -> Cost {
        Cost::round(false, 8 * z as u64, 0)
    }

    /// Cost of truncating n elements: one message, from party 1 to party 2.
    pub fn truncate_cost(n: usize) -> Cost {
        Cost::round(false, 8 * n as u64, 0)
    }

    /// Cost of opening n elements to all.
    pub fn reveal_cost(n: usize) -> Cost {
        Cost::round(false, 8 * n as u64, 0)
    }

    fn next_id(&self) -> PartyId {
        (self.id + 1) % 3
    }

    fn prev_id(&self) -> PartyId {
        (self.id + 2) % 3
    }

    /// This party's 3-out-of-3 share z_i of f(x, y) for each item:
    /// z_i = f(x_i, y_i + y_{i+1}) + f(x_{i+1}, y_i) + α_i (α re-randomises it).
    fn product_shares(&mut self, items: &[(&Rss, &Rss, BilinearOp)]) -> Result<Vec<RingTensor>> {
        let mut zs = Vec::with_capacity(items.len());
        for (x, y, op) in items {
            let shape = op.output_shape(x.a.shape(), y.a.shape())?;
            let mut z = op.apply(&x.a, &y.a.add(&y.b)?)?;
            z.add_assign(&op.apply(&x.b, &y.a)?)?;
            if self.rerandomise {
                z.add_assign(&self.zero_share(&shape, false))?;
            }
            zs.push(z);
        }
        Ok(zs)
    }

    /// α_i of a zero sharing (sum or XOR over the three parties is 0).
    fn zero_share(&mut self, shape: &[usize], xor: bool) -> RingTensor {
        let mut mine = self.next.tensor(shape);
        let theirs = self.prev.tensor(shape);
        let (m, t) = (mine.data_mut(), theirs.data());
        for (x, &y) in m.iter_mut().zip(t) {
            *x = if xor { *x ^ y } else { x.wrapping_sub(y) };
        }
        mine
    }

    /// Turns 3-out-of-3 shares z_i (one per item) into replicated shares: send z_i to party i−1,
    /// receive z_{i+1} from party i+1. One round.
    fn reshare<S: Pair>(&mut self, zs: Vec<RingTensor>) -> Result<Vec<S>> {
        let lens: Vec<usize> = zs.iter().map(RingTensor::len).collect();
        let mut msg = Vec::with_capacity(lens.iter().sum());
        for z in &zs {
            msg.extend_from_slice(z.data());
        }
        let (prev, next) = (self.prev_id(), self.next_id());
        self.net.send(Phase::Online, prev, msg)?;
        let got = into_words(self.net.recv(next, lens.iter().sum())?);
        let mut at = 0;
        zs.into_iter()
            .map(|a| {
                let b = RingTensor::from_vec(a.shape(), got[at..at + a.len()].to_vec())?;
                at += a.len();
                Ok(S::from_parts(a, b))
            })
            .collect()
    }

    fn share_with<S: Pair>(
        &mut self,
        owner: PartyId,
        value: Option<&RingTensor>,
        shape: &[usize],
        xor: bool,
    ) -> Result<S> {
        if owner >= 3 {
            return Err(Error::invalid("share", format!("there is no party {owner}")));
        }
        // x_{o+1} = r from the PRG of parties o and o+1; x_{o+2} = 0; x_o = v − r, sent to o+2.
        let id = self.id;
        if id == owner {
            let v = value.ok_or_else(|| Error::Protocol {
                party: id,
                op: "share",
                detail: "the owner must supply the value".into(),
            })?;
            if v.shape() != shape {
                return Err(Error::shape(
                    "share",
                    format!("value has shape {:?} but the public shape is {:?}", v.shape(), shape),
                ));
            }
            let r = self.next.tensor(shape);
            let xo = if xor { v.xor(&r)? } else { v.sub(&r)? };
            self.net.send(Phase::Online, (owner + 2) % 3, xo.data().to_vec())?;
            Ok(S::from_parts(xo, r))
        } else if id == (owner + 1) % 3 {
            let r = self.prev.tensor(shape);
            Ok(S::from_parts(r, RingTensor::zeros(shape)))
        } else {
            let n = crate::ring::numel(shape);
            let xo = into_words(self.net.recv(owner, n)?);
            Ok(S::from_parts(
                RingTensor::zeros(shape),
                RingTensor::from_vec(shape, xo)?,
            ))
        }
    }

    fn reveal_with<S: Pair>(&mut self, xs: &[&S], xor: bool) -> Result<Vec<RingTensor>> {
        // Party j sends its second component (x_{j+1}) to party j−1, which lacks it.
        let xs: Vec<(&RingTensor, &RingTensor)> = xs.iter().map(|x| x.parts()).collect();
        let mut msg = Vec::new();
        for (_, b) in &xs {
            msg.extend_from_slice(b.data());
        }
        let total = msg.len();
        let (prev, next) = (self.prev_id(), self.next_id());
        self.net.send(Phase::Online, prev, msg)?;
        let got = self.net.recv(next, total)?;
        let mut at = 0;
        xs.iter()
            .map(|(a, b)| {
                let third = &got[at..at + a.len()];
                at += a.len();
                let data = a
                    .data()
                    .iter()
                    .zip(b.data())
                    .zip(third)
                    .map(|((&a, &b), &c)| {
                        if xor {
                            a ^ b ^ c
                        } else {
                            a.wrapping_add(b).wrapping_add(c)
                        }
                    })
                    .collect();
                RingTensor::from_vec(a.shape(), data)
            })
            .collect()
    }

    /// The share of a public value placed in component `k` (held by parties k and k−1).
    fn component_share<S: Pair>(&self, k: usize, v: &RingTensor) -> S {
        let zeros = RingTensor::zeros(v.shape());
        if self.id == k {
            S::from_parts(v.clone(), zeros)
        } else if (self.id + 1) % 3 == k {
            S::from_parts(zeros, v.clone())
        } else {
            S::from_parts(zeros.clone(), zeros)
        }
    }
}

impl Protocol for ReplicatedParty {
    type Share = Rss;
    type BitShare = RssBits;
    type Prepared = ();

    fn id(&self) -> PartyId {
        self.id
    }

    fn parties(&self) -> usize {
        3
    }

    fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    fn functions(&self) -> &FunctionConfig {
        &self.functions
    }

    fn shape<'a>(&self, x: &'a Rss) -> &'a [usize] {
        x.a.shape()
    }

    fn bit_shape<'a>(&self, x: &'a RssBits) -> &'a [usize] {
        x.a.shape()
    }

    fn meter(&self) -> MeterReport {
        self.net.meter().report()
    }

    fn share(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<Rss> {
        self.share_with(owner, value, shape, false)
    }

    fn reveal_many(&mut self, xs: &[&Rss]) -> Result<Vec<RingTensor>> {
        self.reveal_with(xs, false)
    }

    fn reveal_to(&mut self, x: &Rss, to: PartyId) -> Result<Option<RingTensor>> {
        if to >= 3 {
            return Err(Error::invalid("reveal_to", format!("there is no party {to}")));
        }
        if self.id == (to + 1) % 3 {
            self.net.send(Phase::Online, to, x.b.data().to_vec())?;
            return Ok(None);
        }
        if self.id != to {
            return Ok(None);
        }
        let third = self.net.recv((to + 1) % 3, x.a.len())?;
        let data =
            x.a.data()
                .iter()
                .zip(x.b.data())
                .zip(third.iter())
                .map(|((&a, &b), &c)| a.wrapping_add(b).wrapping_add(c))
                .collect();
        Ok(Some(RingTensor::from_vec(x.a.shape(), data)?))
    }

    fn share_bits(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<RssBits> {
        self.share_with(owner, value, shape, true)
    }

    fn reveal_bits_many(&mut self, xs: &[&RssBits]) -> Result<Vec<RingTensor>> {
        self.reveal_with(xs, true)
    }

    fn constant(&self, c: &RingTensor) -> Rss {
        self.component_share(0, c)
    }

    fn linear(&self, x: &Rss, f: LinearFn<'_>) -> Result<Rss> {
        x.map(f)
    }

    fn linear2(&self, x: &Rss, y: &Rss, f: Linear2Fn<'_>) -> Result<Rss> {
        x.zip(y, f)
    }

    fn add_public(&self, x: &Rss, c: &RingTensor) -> Result<Rss> {
        let k = self.component_share(0, c);
        self.add(x, &k)
    }

    fn bit_constant(&self, c: &RingTensor) -> RssBits {
        self.component_share(0, c)
    }

    fn bit_linear(&self, x: &RssBits, f: LinearFn<'_>) -> Result<RssBits> {
        x.map(f)
    }

    fn bit_linear2(&self, x: &RssBits, y: &RssBits, f: Linear2Fn<'_>) -> Result<RssBits> {
        x.zip(y, f)
    }

    fn xor_public(&self, x: &RssBits, c: &RingTensor) -> Result<RssBits> {
        let k = self.component_share(0, c);
        self.xor(x, &k)
    }

    fn bilinear_many(&mut self, items: &[(&Rss, &Rss, BilinearOp)]) -> Result<Vec<Rss>> {
        let zs = self.product_shares(items)?;
        self.reshare(zs)
    }

    fn bilinear_truncated_many(&mut self, items: &[(&Rss, &Rss, BilinearOp)], bits: u32) -> Result<Vec<Rss>> {
        let zs = self.product_shares(items)?;
        self.truncate_shares(zs, bits)
    }

    fn bilinear_prepared_truncated_many(
        &mut self,
        items: &[(&Rss, &Rss, &(), BilinearOp)],
        bits: u32,
    ) -> Result<Vec<Rss>> {
        let plain: Vec<_> = items.iter().map(|&(x, y, _, op)| (x, y, op)).collect();
        self.bilinear_truncated_many(&plain, bits)
    }

    fn square_truncated_many(&mut self, xs: &[&Rss], bits: u32) -> Result<Vec<Rss>> {
        let items: Vec<_> = xs.iter().map(|x| (*x, *x, BilinearOp::Mul)).collect();
        self.bilinear_truncated_many(&items, bits)
    }

    fn prepare_many(&mut self, ys: &[&Rss]) -> Result<Vec<()>> {
        Ok(vec![(); ys.len()])
    }

    fn bilinear_prepared_many(&mut self, items: &[(&Rss, &Rss, &(), BilinearOp)]) -> Result<Vec<Rss>> {
        let plain: Vec<_> = items.iter().map(|&(x, y, _, op)| (x, y, op)).collect();
        self.bilinear_many(&plain)
    }

    fn square_many(&mut self, xs: &[&Rss]) -> Result<Vec<Rss>> {
        let items: Vec<_> = xs.iter().map(|x| (*x, *x, BilinearOp::Mul)).collect();
        self.bilinear_many(&items)
    }

    fn truncate_many(&mut self, xs: Vec<Rss>, bits: u32) -> Result<Vec<Rss>> {
        self.truncate_replicated(xs, bits)
    }

    fn and_many(&mut self, items: &[(&RssBits, &RssBits)]) -> Result<Vec<RssBits>> {
        let mut zs = Vec::with_capacity(items.len());
        for (x, y) in items {
            x.a.check_same_shape(&y.a, "and")?;
            let (xa, xb, ya, yb) = (x.a.data(), x.b.data(), y.a.data(), y.b.data());
            let alpha = self.zero_share(x.a.shape(), true);
            let z: Vec<u64> = (0..xa.len())
                .map(|i| (xa[i] & ya[i]) ^ (xa[i] & yb[i]) ^ (xb[i] & ya[i]) ^ alpha.data()[i])
                .collect();
            zs.push(RingTensor::from_vec(x.a.shape(), z)?);
        }
        self.reshare(zs)
    }

    fn barrier(&mut self) -> Result<()> {
        barrier(&mut self.net, 3)
    }

    fn publish(&mut self, owner: PartyId, words: Option<Vec<u64>>) -> Result<Vec<u64>> {
        publish(&mut self.net, 3, owner, words)
    }

    fn a2b_addends(&mut self, x: &Rss) -> Result<Vec<RssBits>> {
        // Component k is known to parties k and k−1, so it is its own bit share: free.
        Ok((0..3)
            .map(|k| {
                let zeros = RingTensor::zeros(x.a.shape());
                if self.id == k {
                    RssBits {
                        a: x.a.clone(),
                        b: zeros,
                    }
                } else if (self.id + 1) % 3 == k {
                    RssBits {
                        a: zeros,
                        b: x.b.clone(),
                    }
                } else {
                    RssBits {
                        a: zeros.clone(),
                        b: zeros,
                    }
                }
            })
            .collect())
    }

    fn b2a_bits_many(&mut self, items: &[(&RssBits, usize)]) -> Result<Vec<Rss>> {
        // u = b_0 ⊕ b_1 is known to party 0, v = b_2 to parties 1 and 2; b = u + v − 2uv.
        let unpack = |words: &RingTensor, n: usize| -> RingTensor {
            let w = words.data();
            RingTensor::from_parts(vec![n], (0..n).map(|e| (w[e / 64] >> (e % 64)) & 1).collect())
        };
        let mut us = Vec::with_capacity(items.len());
        for &(b, n) in items {
            if b.a.len() != n.div_ceil(64) {
                return Err(Error::shape(
                    "b2a",
                    format!("{} packed words cannot hold {n} bits", b.a.len()),
                ));
            }
            let u = (self.id == 0).then(|| unpack(&b.a.xor(&b.b).expect("same shapes"), n));
            us.push(self.share(0, u.as_ref(), &[n])?);
        }
        let vs: Vec<Rss> = items
            .iter()
            .map(|&(b, n)| match self.id {
                1 => self.component_share(2, &unpack(&b.b, n)),
                2 => self.component_share(2, &unpack(&b.a, n)),
                _ => self.component_share(2, &RingTensor::zeros(&[n])),
            })
            .collect();
        let prods: Vec<_> = us.iter().zip(&vs).map(|(u, v)| (u, v, BilinearOp::Mul)).collect();
        let uv = self.bilinear_many(&prods)?;
        us.iter()
            .zip(&vs)
            .zip(uv)
            .map(|((u, v), w)| {
                let s = self.add(u, v)?;
                let w2 = self.mul_scalar(&w, 2)?;
                self.sub(&s, &w2)
            })
            .collect()
    }
}
