//! Additive secret sharing among N parties with a dealer: the `2pc-ttp` family (N = 2) and the
//! base of `npc-additive`.
//!
//! A secret x is held as shares x_0..x_{N−1} with Σ x_i = x mod 2^64 (bit shares: ⊕ x_i = x).
//! This file holds the party (set-up, the dealer client) and its [`Protocol`] implementation; the
//! algorithms live by concern beside it:
//!
//! * [`open`]: input sharing (free online) and opening words to all parties;
//! * [`beaver`]: products from Beaver triples, squares, AND, prepared right operands;
//! * [`truncate`]: fixed-point truncation (local for two parties, else with a dealer mask);
//! * [`convert`]: A2B addends, B2A of packed bits, products with bits;
//! * [`dealer`]: the dealer of correlated randomness; [`request`] what it is asked for;
//! * [`ahead`]: the dealer running ahead of repeated computations (recorded plan, credits);
//! * [`fss`]: the `2pc-fss` family's sign bits and ReLU from dealt FSS keys (the same party with
//!   `fss_window` set overrides those hooks; everything else is 2pc-ttp's), [`keys`] the dealer's
//!   side of them.
//!
//! Cost formulas sit in each file's docs (n = elements, N = parties; bytes = payload each party
//! SENDS). Rounds are the critical path (`protocol::cost`): with the dealer endpoint (TTP) a step
//! that needs correlated randomness waits for the dealer's answer to party 0's request, sent at the
//! step's start, so it costs 2 rounds (1 between parties); with the insecure first-party dealer it
//! costs 1, and the offline column is 0 (party 0 computes the corrections).

mod ahead;
mod beaver;
mod convert;
pub(crate) mod dealer;
mod fss;
mod keys;
mod open;
mod request;
mod truncate;

pub use beaver::PreparedOperand;
pub use dealer::Dealer;

use super::bilinear::BilinearOp;
use super::config::{DealerKind, FunctionConfig, Leak, ProtocolConfig, Truncation};
use super::prg::Prg;
use super::setup::{SessionOptions, barrier, exchange_seeds, publish};
use super::{Linear2Fn, LinearFn, Protocol, gates};
use crate::error::{Error, PartyId, Result};
use crate::net::{MeterReport, Net, Phase, into_words};
use crate::ring::{RingTensor, numel};
use dealer::{Draws, MaskReuse, TripleMaker, draw_with};
use request::{Request, encode_batch, encode_done};

/// Where party 0's triple corrections come from.
enum Corrections {
    /// Parties 1.. need none.
    None,
    /// Party 0 asks the dealer endpoint.
    Dealer(PartyId),
    /// Party 0 computes them itself (insecure first-party variant).
    Local(Box<TripleMaker>),
}

/// This party's share of an arithmetic value: the parties' shares sum to it mod 2^64.
///
/// A distinct type from [`AdditiveBits`] (both hold one ring tensor), so that an arithmetic share
/// cannot be passed where a bit share is expected, or the other way round:
///
/// ```compile_fail
/// use testbed::protocol::{AdditiveBits, AdditiveParty, Protocol};
/// fn open_bits_as_values(p: &mut AdditiveParty, b: &AdditiveBits) {
///     let _ = p.reveal_many(&[b]); // reveal_many takes arithmetic shares
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditiveShare(RingTensor);

/// This party's share of a tensor of packed bits: the parties' shares XOR to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditiveBits(RingTensor);

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
    /// The dealer endpoint, when there is one (every party; FSS keys come to both).
    dealer: Option<PartyId>,
    /// 2pc-fss: the comparison window of the FSS gates; `None` runs the generic circuits.
    fss: Option<u32>,
    /// 2pc-fss: ReLU in one round (`fss_relu_rounds: 1`).
    fss_relu_one_round: bool,
    /// INSECURE, `leak: beaver-mask-reuse` only: the reused product masks.
    reuse: Option<MaskReuse>,
    /// The dealer running ahead (recorded plan, prefetched messages).
    ahead: ahead::Ahead,
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
                    let first = prgs[0].clone();
                    (
                        first,
                        Corrections::Local(Box::new(TripleMaker::new(prgs).with_leak(cfg.leak))),
                    )
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
            dealer: (cfg.dealer == DealerKind::Ttp).then_some(cfg.parties),
            fss: cfg.fss_window(),
            fss_relu_one_round: cfg.fss_relu_one_round(),
            reuse: (cfg.leak == Some(Leak::BeaverMaskReuse)).then(MaskReuse::default),
            ahead: Default::default(),
        })
    }

    /// Ends the session (party 0 releases the dealer) and returns this party's traffic.
    pub fn finish(mut self) -> Result<MeterReport> {
        if let Corrections::Dealer(d) = self.corrections {
            self.net.send(Phase::Control, d, encode_done())?;
        }
        Ok(self.net.finish())
    }

    /// Party 0 (TTP) asks the dealer for these requests' corrections before computing, unless
    /// the dealer is running ahead with them already (see [`ahead`]).
    fn request(&mut self, reqs: &[Request]) -> Result<()> {
        if self.ahead_covers(reqs)? {
            return Ok(());
        }
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
                into_words(self.dealer_message(d, lens.iter().sum())?)
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
        let (prg, id) = (&mut self.triple_prg, self.id);
        reqs.iter()
            .map(|r| draw_with(self.reuse.as_mut(), prg, id, r))
            .collect()
    }

    fn protocol_error(&self, op: &'static str, detail: impl Into<String>) -> Error {
        Error::Protocol {
            party: self.id,
            op,
            detail: detail.into(),
        }
    }

    /// This party's share of a public tensor: party 0 holds it, the others zeros (for sums and
    /// XORs alike).
    fn public_share(&self, c: &RingTensor) -> RingTensor {
        if self.id == 0 {
            c.clone()
        } else {
            RingTensor::zeros(c.shape())
        }
    }

    /// x + c (or x ⊕ c) for a public c: party 0 adds it, the others keep their share.
    fn with_public(&self, x: &RingTensor, c: &RingTensor, xor: bool, op: &'static str) -> Result<RingTensor> {
        if self.id != 0 {
            x.check_same_shape(c, op)?;
            Ok(x.clone())
        } else if xor {
            x.xor(c)
        } else {
            x.add(c)
        }
    }
}

impl Protocol for AdditiveParty {
    type Share = AdditiveShare;
    type BitShare = AdditiveBits;
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

    fn shape<'a>(&self, x: &'a AdditiveShare) -> &'a [usize] {
        x.0.shape()
    }

    fn bit_shape<'a>(&self, x: &'a AdditiveBits) -> &'a [usize] {
        x.0.shape()
    }

    fn meter(&self) -> MeterReport {
        self.net.meter().report()
    }

    fn share(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<AdditiveShare> {
        self.share_with(owner, value, shape, false).map(AdditiveShare)
    }

    fn share_bits(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<AdditiveBits> {
        self.share_with(owner, value, shape, true).map(AdditiveBits)
    }

    fn reveal_many(&mut self, xs: &[&AdditiveShare]) -> Result<Vec<RingTensor>> {
        self.reveal_with(&rings(xs, |x| &x.0), false)
    }

    fn reveal_bits_many(&mut self, xs: &[&AdditiveBits]) -> Result<Vec<RingTensor>> {
        self.reveal_with(&rings(xs, |x| &x.0), true)
    }

    fn reveal_to(&mut self, x: &AdditiveShare, to: PartyId) -> Result<Option<RingTensor>> {
        self.reveal_ring_to(&x.0, to)
    }

    fn constant(&self, c: &RingTensor) -> AdditiveShare {
        AdditiveShare(self.public_share(c))
    }

    fn linear(&self, x: &AdditiveShare, f: LinearFn<'_>) -> Result<AdditiveShare> {
        f(&x.0).map(AdditiveShare)
    }

    fn linear2(&self, x: &AdditiveShare, y: &AdditiveShare, f: Linear2Fn<'_>) -> Result<AdditiveShare> {
        f(&x.0, &y.0).map(AdditiveShare)
    }

    fn add_public(&self, x: &AdditiveShare, c: &RingTensor) -> Result<AdditiveShare> {
        self.with_public(&x.0, c, false, "add_public").map(AdditiveShare)
    }

    fn bit_constant(&self, c: &RingTensor) -> AdditiveBits {
        AdditiveBits(self.public_share(c))
    }

    fn bit_linear(&self, x: &AdditiveBits, f: LinearFn<'_>) -> Result<AdditiveBits> {
        f(&x.0).map(AdditiveBits)
    }

    fn bit_linear2(&self, x: &AdditiveBits, y: &AdditiveBits, f: Linear2Fn<'_>) -> Result<AdditiveBits> {
        f(&x.0, &y.0).map(AdditiveBits)
    }

    fn xor_public(&self, x: &AdditiveBits, c: &RingTensor) -> Result<AdditiveBits> {
        self.with_public(&x.0, c, true, "xor_public").map(AdditiveBits)
    }

    fn bilinear_many(&mut self, items: &[(&AdditiveShare, &AdditiveShare, BilinearOp)]) -> Result<Vec<AdditiveShare>> {
        let items: Vec<_> = items.iter().map(|(x, y, op)| (&x.0, &y.0, *op)).collect();
        Ok(wrap(self.beaver_many(&items)?, AdditiveShare))
    }

    fn prepare_many(&mut self, ys: &[&AdditiveShare]) -> Result<Vec<PreparedOperand>> {
        self.prepare_rings(&rings(ys, |y| &y.0))
    }

    fn bilinear_prepared_many(
        &mut self,
        items: &[(&AdditiveShare, &AdditiveShare, &PreparedOperand, BilinearOp)],
    ) -> Result<Vec<AdditiveShare>> {
        let items: Vec<_> = items.iter().map(|(x, y, prep, op)| (&x.0, &y.0, *prep, *op)).collect();
        Ok(wrap(self.beaver_prepared_many(&items)?, AdditiveShare))
    }

    fn square_many(&mut self, xs: &[&AdditiveShare]) -> Result<Vec<AdditiveShare>> {
        Ok(wrap(self.square_rings(&rings(xs, |x| &x.0))?, AdditiveShare))
    }

    fn truncate_many(&mut self, xs: Vec<AdditiveShare>, bits: u32) -> Result<Vec<AdditiveShare>> {
        let xs = xs.into_iter().map(|x| x.0).collect();
        Ok(wrap(self.truncate_rings(xs, bits)?, AdditiveShare))
    }

    fn and_many(&mut self, items: &[(&AdditiveBits, &AdditiveBits)]) -> Result<Vec<AdditiveBits>> {
        let items: Vec<_> = items.iter().map(|(x, y)| (&x.0, &y.0)).collect();
        Ok(wrap(self.and_rings(&items)?, AdditiveBits))
    }

    fn barrier(&mut self) -> Result<()> {
        barrier(&mut self.net, self.parties)
    }

    fn publish(&mut self, owner: PartyId, words: Option<Vec<u64>>) -> Result<Vec<u64>> {
        publish(&mut self.net, self.parties, owner, words)
    }

    fn a2b_addends(&mut self, x: &AdditiveShare) -> Result<Vec<AdditiveBits>> {
        Ok(wrap(self.a2b_rings(&x.0)?, AdditiveBits))
    }

    fn zero_test_pair(&mut self, x: &AdditiveShare) -> Result<Option<(AdditiveBits, AdditiveBits)>> {
        Ok(self
            .zero_test_rings(&x.0)?
            .map(|(u, v)| (AdditiveBits(u), AdditiveBits(v))))
    }

    fn b2a_bits_many(&mut self, items: &[(&AdditiveBits, usize)]) -> Result<Vec<AdditiveShare>> {
        let items: Vec<_> = items.iter().map(|(b, n)| (&b.0, *n)).collect();
        Ok(wrap(self.b2a_rings(&items)?, AdditiveShare))
    }

    fn mul_bits_many(&mut self, items: &[(&AdditiveShare, &AdditiveBits)]) -> Result<Vec<AdditiveShare>> {
        let items: Vec<_> = items.iter().map(|(x, b)| (&x.0, &b.0)).collect();
        Ok(wrap(self.mul_bits_rings(&items)?, AdditiveShare))
    }

    fn ltz_bits_many(&mut self, xs: &[&AdditiveShare]) -> Result<Vec<AdditiveBits>> {
        match self.fss {
            Some(window) => Ok(wrap(self.fss_ltz_rings(&rings(xs, |x| &x.0), window)?, AdditiveBits)),
            None => gates::ltz_bits_many(self, xs),
        }
    }

    fn eqz_bits_many(&mut self, xs: &[&AdditiveShare]) -> Result<Vec<AdditiveBits>> {
        match self.fss {
            Some(window) => Ok(wrap(self.fss_eqz_rings(&rings(xs, |x| &x.0), window)?, AdditiveBits)),
            None => gates::eqz_bits_many(self, xs),
        }
    }

    fn fuses_trunc_relu(&self) -> bool {
        // With the one-round ReLU, truncating first costs the same two rounds as the fused gate.
        self.fss.is_some() && self.truncation == Truncation::Dealer && !self.fss_relu_one_round
    }

    fn trunc_relu_many(&mut self, xs: Vec<AdditiveShare>, bits: u32) -> Result<Vec<AdditiveShare>> {
        match self.fss {
            Some(window) if self.truncation == Truncation::Dealer => {
                let xs: Vec<RingTensor> = xs.into_iter().map(|x| x.0).collect();
                Ok(wrap(self.fss_trunc_relu_rings(&xs, window, bits)?, AdditiveShare))
            }
            _ => gates::trunc_relu_many(self, xs, bits),
        }
    }

    fn deals_ahead(&self) -> bool {
        self.deals_ahead_impl()
    }

    fn record_ahead(&mut self) -> Result<()> {
        self.record_ahead_impl()
    }

    fn plan_ahead(&mut self, copies: usize) -> Result<()> {
        self.plan_ahead_impl(copies)
    }

    fn next_ahead(&mut self, prefetch: bool) -> Result<()> {
        self.next_ahead_impl(prefetch)
    }

    fn ltz_many(&mut self, xs: &[&AdditiveShare]) -> Result<Vec<AdditiveShare>> {
        match self.fss {
            // The one-round ReLU's keys give the sign as a ring share: no B2A round.
            Some(window) if self.fss_relu_one_round => Ok(wrap(
                self.fss_ltz_one_round_rings(&rings(xs, |x| &x.0), window)?,
                AdditiveShare,
            )),
            _ => gates::ltz_many(self, xs),
        }
    }

    fn relu_many(&mut self, xs: &[&AdditiveShare]) -> Result<Vec<AdditiveShare>> {
        match self.fss {
            Some(window) if self.fss_relu_one_round => Ok(wrap(
                self.fss_relu_one_round_rings(&rings(xs, |x| &x.0), window)?,
                AdditiveShare,
            )),
            Some(window) => Ok(wrap(self.fss_relu_rings(&rings(xs, |x| &x.0), window)?, AdditiveShare)),
            None => gates::relu_many(self, xs),
        }
    }
}

/// The ring tensors inside a slice of shares (the algorithms work on ring tensors).
fn rings<'a, S>(xs: &[&'a S], inner: impl Fn(&'a S) -> &'a RingTensor) -> Vec<&'a RingTensor> {
    xs.iter().map(|x| inner(x)).collect()
}

/// Ring tensors computed by an algorithm, wrapped as the share kind they are.
fn wrap<S>(xs: Vec<RingTensor>, kind: fn(RingTensor) -> S) -> Vec<S> {
    xs.into_iter().map(kind).collect()
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<AdditiveParty>();
}
