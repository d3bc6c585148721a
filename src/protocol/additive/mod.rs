//! Additive secret sharing among N parties with a dealer: the `2pc-ttp` family (N = 2) and the
//! base of `npc-additive`.
//!
//! A secret x is held as shares x_0..x_{N−1} with Σ x_i = x mod 2^64 (bit shares: ⊕ x_i = x).
//!
//! * Input sharing costs nothing online: every non-owner j draws its share from the PRG it shares
//!   with the owner, and the owner subtracts those draws from its value.
//! * Products use Beaver triples from the dealer (see [`dealer`]): ε = x − a and δ = y − b are
//!   opened in one round, then z_i = c_i + f(ε, b_i) + f(a_i, δ), plus f(ε, δ) at party 0, which
//!   party 0 folds in as f(ε, b_0 + δ) so that every party computes exactly two products.
//! * Truncation for N = 2 is local (SecureML): party 0 shifts its share arithmetically, party 1
//!   shifts the negation of its share and negates back. The result is ⌊x/2^f⌋ or ⌊x/2^f⌋ + 1 (at
//!   most 1 ulp off), except with probability |x|/2^64 per element (x the value before the shift,
//!   at scale 2^2f), when party 0's uniformly random share lands within |x| of the signed wrap point
//!   and the result is off by about 2^(64−f). For |x·y| < 2^15 at f = 16 that is below 2^−17.
//!
//! * Prepared operands (model weights, the right operand of many products): y is prepared once
//!   by opening δ = y − b for a dealer mask b that the dealer keeps; each product f(x, y) then
//!   draws a fresh a, opens only ε = x − a, and gets c = f(a, b) from the dealer with the same b:
//!   z_i = c_i + f(ε, y_i) + f(a_i, δ), which sums to f(a, b) + f(ε, y) + f(a, y − b) = f(x, y).
//!   Security (semi-honest, dealer not colluding): δ is y plus a uniform mask that is used in no
//!   other opening, so it is uniform; every ε = x − a has its own fresh uniform a, so the ε's are
//!   uniform and independent of δ and of each other; party 0's corrections c_0 = f(a, b) − Σ c_i
//!   are masked by the fresh uniform c_i of the other parties. A party's view (δ, the ε's, its own
//!   PRG draws and corrections) is thus simulated by uniform words, as for fresh triples. Reusing
//!   b is what CrypTen's per-product triples pay for again at every use: the opening of a
//!   weight-sized δ, online, in every inference. The dealer learns nothing new (it sees no
//!   opening). b must never serve as a fresh mask elsewhere, and a must never be reused: each
//!   product draws a new one.
//!
//! Cost formulas (n = elements, N = parties; bytes = payload each party SENDS). Rounds are the
//! critical path (`protocol::cost`): with the dealer endpoint (TTP) a step that needs correlated
//! randomness waits for the dealer's answer to party 0's request, sent at the step's start, so it
//! costs 2 rounds (1 between parties); with the insecure first-party dealer it costs 1.
//!
//! | op | rounds, TTP / first party | party rounds | online bytes per party | offline bytes (dealer → party 0) |
//! |---|---|---|---|---|
//! | share | 0 | 0 | 0 | 0 |
//! | reveal (to all) | 1 | 1 | 8(N−1)n | 0 |
//! | bilinear f(x, y) → z | 2 / 1 | 1 | 8(N−1)(\|x\| + \|y\|) | 8\|z\| |
//! | prepare y (once per weight, setup; the dealer answers nothing) | 1 | 1 | 8(N−1)\|y\| | 0 |
//! | bilinear f(x, y) → z, y prepared | 2 / 1 | 1 | 8(N−1)\|x\| | 8\|z\| |
//! | square | 2 / 1 | 1 | 8(N−1)n | 8n |
//! | AND (64-bit lanes) | 2 / 1 | 1 | 16(N−1)n | 8n |
//! | truncate, local (N = 2) | 0 | 0 | 0 | 0 |
//! | truncate, dealer mask | 2 / 1 | 1 | 8(N−1)n | 16n |
//! | B2A of n packed bits | 2 / 1 | 1 | 8(N−1)⌈n/64⌉ | 8n |
//! | x·b for n elements and packed bits b | 2 / 1 | 1 | 8(N−1)(n + ⌈n/64⌉) | 16n |
//! | A2B addends, N > 2 (open x + r) | 2 / 1 | 1 | 8(N−1)n | 8n |
//!
//! With the insecure first-party dealer the offline column is 0 (party 0 computes the corrections).

pub(crate) mod dealer;

pub use dealer::Dealer;

use super::bilinear::BilinearOp;
use super::config::{DealerKind, FunctionConfig, ProtocolConfig, Truncation};
use super::cost::Cost;
use super::prg::Prg;
use super::session::{SessionOptions, barrier, exchange_seeds, publish};
use super::{Linear2Fn, LinearFn, Protocol};
use crate::error::{Error, PartyId, Result};
use crate::net::{MeterReport, Net, Phase, into_words};
use crate::ring::{RingTensor, numel};
use dealer::{Draws, Request, TripleMaker, draw, encode_batch, encode_done};
use rayon::prelude::*;
use std::sync::Arc;

/// Where party 0's triple corrections come from.
enum Corrections {
    /// Parties 1.. need none.
    None,
    /// Party 0 asks the dealer endpoint.
    Dealer(PartyId),
    /// Party 0 computes them itself (insecure first-party variant).
    Local(Box<TripleMaker>),
}

/// One party of an additive-sharing session.
pub struct AdditiveParty {
    id: PartyId,
    parties: usize,
    frac_bits: u32,
    functions: FunctionConfig,
    truncation: Truncation,
    net: Net,
    /// PRGs shared with each other party (input sharing).
    pair: Vec<Option<Prg>>,
    /// PRG shared with whoever deals (triple draws).
    triple_prg: Prg,
    corrections: Corrections,
    /// Operands prepared so far (the next one's slot in the dealer's table).
    prepared: usize,
}

/// What a party keeps of a prepared operand y: its slot in the dealer's table of masks and the
/// opened δ = y − b (public, shared by every clone).
#[derive(Clone, Debug)]
pub struct PreparedOperand {
    slot: usize,
    delta: Arc<RingTensor>,
}

impl AdditiveParty {
    /// Sets up seeds with every endpoint. For the first-party dealer, party 0 sends each party a
    /// fresh triple seed (setup traffic) and keeps copies of all of them.
    pub fn setup(cfg: &ProtocolConfig, mut net: Net, opts: &SessionOptions) -> Result<Self> {
        let id = net.id();
        let (mut pair, mut own) = exchange_seeds(&mut net, opts.insecure_share_seed)?;
        let (triple_prg, corrections) = match cfg.dealer {
            DealerKind::Ttp => {
                let dealer = cfg.parties;
                let prg = pair[dealer].take().expect("a seed with the dealer");
                let corr = if id == 0 {
                    Corrections::Dealer(dealer)
                } else {
                    Corrections::None
                };
                (prg, corr)
            }
            DealerKind::FirstParty => {
                if id == 0 {
                    let seeds: Vec<_> = (0..cfg.parties).map(|_| own.next_seed()).collect();
                    for (j, s) in seeds.iter().enumerate().skip(1) {
                        net.send(Phase::Setup, j, bytemuck::cast::<_, [u64; 2]>(*s).to_vec())?;
                    }
                    let prgs: Vec<Prg> = seeds.iter().map(Prg::new).collect();
                    (prgs[0].clone(), Corrections::Local(Box::new(TripleMaker::new(prgs))))
                } else {
                    let m = net.recv(0, 2)?;
                    (Prg::new(&bytemuck::cast([m[0], m[1]])), Corrections::None)
                }
            }
        };
        Ok(Self {
            id,
            parties: cfg.parties,
            frac_bits: cfg.precision_bits,
            functions: cfg.functions.clone(),
            truncation: cfg.truncation(),
            net,
            pair,
            triple_prg,
            corrections,
            prepared: 0,
        })
    }

    /// Ends the session (party 0 releases the dealer) and returns this party's traffic.
    pub fn finish(mut self) -> Result<MeterReport> {
        if let Corrections::Dealer(d) = self.corrections {
            self.net.send(Phase::Control, d, encode_done())?;
        }
        Ok(self.net.finish())
    }

    // ----- cost formulas (see the module table) -----

    /// Cost of opening n elements to all N parties.
    pub fn reveal_cost(parties: usize, n: usize) -> Cost {
        Cost::round(false, 8 * (parties as u64 - 1) * n as u64, 0)
    }

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

    // ----- internals -----

    fn others(&self) -> impl Iterator<Item = PartyId> + use<> {
        let id = self.id;
        (0..self.parties).filter(move |&j| j != id)
    }

    /// Sends `own` to every other party and returns the elementwise combination (sum or XOR) of all
    /// parties' messages, ours included: one round.
    fn open_words(&mut self, own: Vec<u64>, xor: bool) -> Result<Vec<u64>> {
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
    fn open_mixed(&mut self, own: Vec<u64>, segments: Vec<(usize, usize)>) -> Result<Vec<u64>> {
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

    /// Party 0 (TTP) asks the dealer for these requests' corrections before computing.
    fn request(&mut self, reqs: &[Request]) -> Result<()> {
        if let Corrections::Dealer(d) = self.corrections {
            self.net.send(Phase::Control, d, encode_batch(reqs))?;
        }
        Ok(())
    }

    /// Party 0 collects the corrections for `reqs` (from the dealer or computed locally) and stores
    /// them as each draw's product shares.
    fn fill_corrections(&mut self, reqs: &[Request], draws: &mut [Draws]) -> Result<()> {
        let mut lens = Vec::with_capacity(reqs.len());
        for r in reqs {
            lens.push(r.correction_len()?);
        }
        let mut words = match &mut self.corrections {
            Corrections::None => return Ok(()),
            // Nothing to correct (mask preparation): the dealer sends no reply.
            Corrections::Dealer(_) if lens.iter().sum::<usize>() == 0 => Vec::new(),
            Corrections::Dealer(d) => {
                let d = *d;
                into_words(self.net.recv(d, lens.iter().sum())?)
            }
            Corrections::Local(maker) => maker.corrections(reqs)?,
        };
        // Split from the back so that each piece is moved, not copied, when there is one product.
        for (r, d) in reqs.iter().zip(draws.iter_mut()).rev() {
            let shapes = r.layout()?.1;
            let mut own = Vec::with_capacity(shapes.len());
            for shape in shapes.iter().rev() {
                let piece = words.split_off(words.len() - numel(shape));
                own.push(RingTensor::from_vec(shape, piece)?);
            }
            own.reverse();
            d.own = own;
        }
        Ok(())
    }

    /// Draws this party's part of each request from the triple PRG.
    fn draw_all(&mut self, reqs: &[Request]) -> Result<Vec<Draws>> {
        reqs.iter().map(|r| draw(&mut self.triple_prg, self.id, r)).collect()
    }

    fn protocol_error(&self, op: &'static str, detail: impl Into<String>) -> Error {
        Error::Protocol {
            party: self.id,
            op,
            detail: detail.into(),
        }
    }
}

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
fn mask_into(out: &mut Vec<u64>, x: &[u64], a: &[u64], xor: bool) {
    let f = move |(&x, &a): (&u64, &u64)| if xor { x ^ a } else { x.wrapping_sub(a) };
    if x.len() >= crate::ring::PAR_THRESHOLD {
        out.par_extend(x.par_iter().zip(a.par_iter()).map(f));
    } else {
        out.extend(x.iter().zip(a).map(f));
    }
}

impl Protocol for AdditiveParty {
    type Share = RingTensor;
    type BitShare = RingTensor;
    type Prepared = PreparedOperand;

    fn id(&self) -> PartyId {
        self.id
    }

    fn parties(&self) -> usize {
        self.parties
    }

    fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    fn functions(&self) -> &FunctionConfig {
        &self.functions
    }

    fn shape<'a>(&self, x: &'a RingTensor) -> &'a [usize] {
        x.shape()
    }

    fn bit_shape<'a>(&self, x: &'a RingTensor) -> &'a [usize] {
        x.shape()
    }

    fn meter(&self) -> MeterReport {
        self.net.meter().report()
    }

    fn share(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<RingTensor> {
        share_with(self, owner, value, shape, false)
    }

    fn share_bits(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<RingTensor> {
        share_with(self, owner, value, shape, true)
    }

    fn reveal_many(&mut self, xs: &[&RingTensor]) -> Result<Vec<RingTensor>> {
        reveal_with(self, xs, false)
    }

    fn reveal_bits_many(&mut self, xs: &[&RingTensor]) -> Result<Vec<RingTensor>> {
        reveal_with(self, xs, true)
    }

    fn reveal_to(&mut self, x: &RingTensor, to: PartyId) -> Result<Option<RingTensor>> {
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

    fn constant(&self, c: &RingTensor) -> RingTensor {
        if self.id == 0 {
            c.clone()
        } else {
            RingTensor::zeros(c.shape())
        }
    }

    fn linear(&self, x: &RingTensor, f: LinearFn<'_>) -> Result<RingTensor> {
        f(x)
    }

    fn linear2(&self, x: &RingTensor, y: &RingTensor, f: Linear2Fn<'_>) -> Result<RingTensor> {
        f(x, y)
    }

    fn add_public(&self, x: &RingTensor, c: &RingTensor) -> Result<RingTensor> {
        if self.id == 0 {
            x.add(c)
        } else {
            x.check_same_shape(c, "add_public")?;
            Ok(x.clone())
        }
    }

    fn bit_constant(&self, c: &RingTensor) -> RingTensor {
        self.constant(c)
    }

    fn bit_linear(&self, x: &RingTensor, f: LinearFn<'_>) -> Result<RingTensor> {
        f(x)
    }

    fn bit_linear2(&self, x: &RingTensor, y: &RingTensor, f: Linear2Fn<'_>) -> Result<RingTensor> {
        f(x, y)
    }

    fn xor_public(&self, x: &RingTensor, c: &RingTensor) -> Result<RingTensor> {
        if self.id == 0 {
            x.xor(c)
        } else {
            x.check_same_shape(c, "xor_public")?;
            Ok(x.clone())
        }
    }

    fn bilinear_many(&mut self, items: &[(&RingTensor, &RingTensor, BilinearOp)]) -> Result<Vec<RingTensor>> {
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

    fn prepare_many(&mut self, ys: &[&RingTensor]) -> Result<Vec<PreparedOperand>> {
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

    fn bilinear_prepared_many(
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

    fn square_many(&mut self, xs: &[&RingTensor]) -> Result<Vec<RingTensor>> {
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

    fn truncate_many(&mut self, xs: Vec<RingTensor>, bits: u32) -> Result<Vec<RingTensor>> {
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

    fn and_many(&mut self, items: &[(&RingTensor, &RingTensor)]) -> Result<Vec<RingTensor>> {
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

    fn barrier(&mut self) -> Result<()> {
        barrier(&mut self.net, self.parties)
    }

    fn publish(&mut self, owner: PartyId, words: Option<Vec<u64>>) -> Result<Vec<u64>> {
        publish(&mut self.net, self.parties, owner, words)
    }

    fn a2b_addends(&mut self, x: &RingTensor) -> Result<Vec<RingTensor>> {
        if self.parties == 2 {
            // Each party XOR-shares its own share: no communication.
            return (0..2)
                .map(|j| self.share_bits(j, (self.id == j).then_some(x), x.shape()))
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
        let not_r = self.xor_public(
            &d.common[0].clone().reshape(x.shape())?,
            &RingTensor::full(x.shape(), u64::MAX),
        )?;
        Ok(vec![self.bit_constant(&c1), not_r])
    }

    fn zero_test_pair(&mut self, x: &RingTensor) -> Result<Option<(RingTensor, RingTensor)>> {
        if self.parties != 2 {
            return Ok(None);
        }
        let neg = x.neg();
        let u = self.share_bits(0, (self.id == 0).then_some(x), x.shape())?;
        let v = self.share_bits(1, (self.id == 1).then_some(&neg), x.shape())?;
        Ok(Some((u, v)))
    }

    fn b2a_bits_many(&mut self, items: &[(&RingTensor, usize)]) -> Result<Vec<RingTensor>> {
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

    fn mul_bits_many(&mut self, items: &[(&RingTensor, &RingTensor)]) -> Result<Vec<RingTensor>> {
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

/// Shares `value` from `owner` with no communication: non-owners draw their share from the PRG
/// they share with the owner; the owner draws the same words and keeps value − Σ draws (or ⊕).
fn share_with(
    p: &mut AdditiveParty,
    owner: PartyId,
    value: Option<&RingTensor>,
    shape: &[usize],
    xor: bool,
) -> Result<RingTensor> {
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
fn reveal_with(p: &mut AdditiveParty, xs: &[&RingTensor], xor: bool) -> Result<Vec<RingTensor>> {
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

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<AdditiveParty>();
}
