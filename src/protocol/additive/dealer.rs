//! The dealer of correlated randomness for additive sharing (CrypTen's trusted third party scheme).
//!
//! The dealer shares a PRG seed with each party. For every triple, each party draws its own shares
//! of a and b (and, for parties 1.., of c) from that PRG; the dealer draws the same words from its
//! copies, computes c = f(a, b) and sends party 0 only its correction c_0 = c − Σ_{i≥1} c_i. So the
//! offline traffic is one ring element per OUTPUT element, to party 0 only, and the parties never
//! talk to each other about triples. Party 0 names the triples it needs in a request (control
//! traffic: a few words per op, reported apart from payload).
//!
//! Prepared operands (model weights): for a shared y used as the right operand of many products,
//! a [`Request::Prepare`] makes every party draw its share of a mask b once; the parties open
//! δ = y − b once, and the dealer keeps b. Each later [`Request::BilinearPrepared`] draws a fresh
//! a and deals c = f(a, b) with the same b, so a product opens only ε = x − a. See the security
//! argument in [`super::beaver`].
//!
//! The same [`TripleMaker`] runs inside party 0 for the insecure "first party" variant.

use super::super::bilinear::BilinearOp;
use super::super::config::ProtocolConfig;
use super::super::prg::Prg;
use super::super::setup::{SessionOptions, exchange_seeds};
use super::request::{Control, MAX_REQUEST_ELEMENTS, Request, decode_message};
use crate::error::{Error, Result};
use crate::net::{MeterReport, Net, Phase};
use crate::ring::RingTensor;
use rayon::prelude::*;

/// What one party draws, in order, from the PRG it shares with the dealer for one request: the
/// masks everyone draws, then (parties 1..) its shares of the products. Party 0's product shares
/// are the corrections it receives instead.
pub(crate) struct Draws {
    pub common: Vec<RingTensor>,
    /// Shares of the products; empty at party 0 until the correction arrives.
    pub own: Vec<RingTensor>,
}

/// Draws one party's part of a request from `prg` (party `id`).
pub(crate) fn draw(prg: &mut Prg, id: usize, req: &Request) -> Result<Draws> {
    let (common, own) = req.layout()?;
    let common = common.iter().map(|s| prg.tensor(s)).collect();
    let own = if id == 0 {
        Vec::new()
    } else {
        own.iter().map(|s| prg.tensor(s)).collect()
    };
    Ok(Draws { common, own })
}

/// INSECURE (`leak: beaver-mask-reuse` only): the masks of Beaver products, one per shape, drawn
/// once and then reused. One per party's triple stream, on the party and in the dealer's copy,
/// so that both skip the same draws.
#[derive(Clone, Debug, Default)]
pub(crate) struct MaskReuse {
    masks: Vec<RingTensor>,
}

impl MaskReuse {
    /// Like [`draw`], except that a product's masks come from the cache when one of their shape
    /// was drawn before (and are kept for later otherwise).
    fn draw(&mut self, prg: &mut Prg, id: usize, req: &Request) -> Result<Draws> {
        let Request::Bilinear { .. } = req else {
            return draw(prg, id, req);
        };
        let (common, own) = req.layout()?;
        let mut masks = Vec::with_capacity(common.len());
        for shape in &common {
            let mask = match self.masks.iter().find(|m| m.shape() == &shape[..]) {
                Some(m) => m.clone(),
                None => {
                    let m = prg.tensor(shape);
                    self.masks.push(m.clone());
                    m
                }
            };
            masks.push(mask);
        }
        let own = if id == 0 {
            Vec::new()
        } else {
            own.iter().map(|s| prg.tensor(s)).collect()
        };
        Ok(Draws { common: masks, own })
    }
}

/// One party's draws for a request: fresh ([`draw`]), or through the leaky cache when there is one.
pub(crate) fn draw_with(reuse: Option<&mut MaskReuse>, prg: &mut Prg, id: usize, req: &Request) -> Result<Draws> {
    match reuse {
        Some(cache) => cache.draw(prg, id, req),
        None => draw(prg, id, req),
    }
}

/// Bit e of a packed bit vector.
pub(crate) fn bit(words: &[u64], e: usize) -> u64 {
    (words[e / 64] >> (e % 64)) & 1
}

/// Regenerates every party's draws and computes party 0's corrections.
pub(crate) struct TripleMaker {
    prgs: Vec<Prg>,
    /// The masks b of prepared operands, by slot.
    prepared: Vec<RingTensor>,
    /// The dealer's own generator, for FSS key material that is not PRG-shared (2pc-fss).
    keygen: Option<Prg>,
    /// FSS requests served and their masks r, whose keys are not yet made (see
    /// [`TripleMaker::deal_pending`]).
    pending: Vec<(Request, Vec<u64>)>,
    /// INSECURE, `leak: beaver-mask-reuse` only: each party's reused product masks.
    reuse: Option<Vec<MaskReuse>>,
}

impl TripleMaker {
    /// `prgs[i]` must be a copy of the PRG party i draws from.
    pub(crate) fn new(prgs: Vec<Prg>) -> Self {
        Self {
            prgs,
            prepared: Vec::new(),
            keygen: None,
            pending: Vec::new(),
            reuse: None,
        }
    }

    /// Lets the maker deal FSS keys, drawing their private randomness from `prg`.
    pub(crate) fn with_keygen(mut self, prg: Prg) -> Self {
        self.keygen = Some(prg);
        self
    }

    /// Makes the keys of the FSS requests served since the last call, in request order, in
    /// chunks of at most `keys::KEY_CHUNK` elements, handing each chunk's (party 0's words,
    /// party 1's words) to `send` as soon as it is made: a party never waits for a whole tensor's
    /// keys, and no message grows with the tensor.
    pub(crate) fn deal_pending(&mut self, send: &mut dyn FnMut(Vec<u64>, Vec<u64>) -> Result<()>) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let Some(keygen) = self.keygen.as_mut() else {
            return Ok(());
        };
        for (req, masks) in pending {
            let (gate, window) = req.fss_gate().expect("only FSS requests wait here");
            for chunk in masks.chunks(super::keys::KEY_CHUNK) {
                let (k0, k1) = super::keys::deal(gate, window, chunk, keygen);
                send(k0, k1)?;
            }
        }
        Ok(())
    }

    /// With `leak: beaver-mask-reuse`, draws each party's product masks as that party does.
    pub(crate) fn with_leak(mut self, leak: Option<super::super::config::Leak>) -> Self {
        if leak == Some(super::super::config::Leak::BeaverMaskReuse) {
            self.reuse = Some(vec![Default::default(); self.prgs.len()]);
        }
        self
    }

    /// Party 0's corrections for a batch, concatenated (a single request is not copied).
    pub(crate) fn corrections(&mut self, reqs: &[Request]) -> Result<Vec<u64>> {
        if let [one] = reqs {
            return self.correction(one);
        }
        let mut out = Vec::new();
        for r in reqs {
            out.extend_from_slice(&self.correction(r)?);
        }
        Ok(out)
    }

    /// Party 0's correction for `req`: the true products minus the other parties' shares of them.
    pub(crate) fn correction(&mut self, req: &Request) -> Result<Vec<u64>> {
        if self.prgs.len() < 2 {
            return Err(Error::invalid("dealer", "a dealer needs at least two parties"));
        }
        if let Request::BilinearPrepared { y, slot, .. } = req {
            match self.prepared.get(*slot) {
                Some(b) if b.shape() == &y[..] => {}
                _ => {
                    return Err(Error::invalid(
                        "dealer request",
                        format!("no prepared operand of shape {y:?} in slot {slot}"),
                    ));
                }
            }
        }
        let mut common: Vec<RingTensor> = Vec::new();
        let mut rest: Vec<RingTensor> = Vec::new();
        for (i, prg) in self.prgs.iter_mut().enumerate() {
            let reuse = self.reuse.as_mut().map(|r| &mut r[i]);
            let d = draw_with(reuse, prg, i, req)?;
            if i == 0 {
                common = d.common;
                continue;
            }
            for (k, t) in d.common.into_iter().enumerate() {
                if req.common_is_xor(k) {
                    common[k].xor_assign(&t)?
                } else {
                    common[k].add_assign(&t)?
                }
            }
            if rest.is_empty() {
                rest = d.own;
            } else {
                for (acc, t) in rest.iter_mut().zip(&d.own) {
                    if matches!(req, Request::And { .. }) {
                        acc.xor_assign(t)?
                    } else {
                        acc.add_assign(t)?
                    }
                }
            }
        }
        if req.fss_gate().is_some() {
            if self.keygen.is_none() {
                return Err(Error::invalid("dealer request", "this dealer deals no FSS keys"));
            }
            let masks = common.pop().expect("one mask");
            self.pending.push((req.clone(), masks.into_vec()));
            return Ok(Vec::new());
        }
        // Each product is written over the others' sum, in one fused pass where it is elementwise.
        let fused = |rest: &mut RingTensor, f: &(dyn Fn(usize, u64) -> u64 + Sync)| {
            rest.data_mut()
                .par_iter_mut()
                .enumerate()
                .with_min_len(1 << 12)
                .for_each(|(i, r)| *r = f(i, *r));
        };
        match req {
            Request::Bilinear {
                op: BilinearOp::Mul, ..
            } => {
                let (a, b) = (common[0].data(), common[1].data());
                fused(&mut rest[0], &|i, r| a[i].wrapping_mul(b[i]).wrapping_sub(r));
            }
            Request::Bilinear { op, .. } => {
                rest[0].map_inplace(u64::wrapping_neg);
                op.apply_acc(&common[0], &common[1], &mut rest[0])?;
            }
            Request::BilinearPrepared { op, slot, .. } => {
                rest[0].map_inplace(u64::wrapping_neg);
                op.apply_acc(&common[0], &self.prepared[*slot], &mut rest[0])?;
            }
            Request::Prepare { .. } => {
                self.prepared.push(common.pop().expect("one mask"));
                return Ok(Vec::new());
            }
            Request::Square { .. } => {
                let a = common[0].data();
                fused(&mut rest[0], &|i, r| a[i].wrapping_mul(a[i]).wrapping_sub(r));
            }
            Request::And { .. } => {
                let (a, b) = (common[0].data(), common[1].data());
                fused(&mut rest[0], &|i, r| (a[i] & b[i]) ^ r);
            }
            Request::Bits { .. } => {
                let r = common[0].data();
                fused(&mut rest[0], &|i, s| bit(r, i).wrapping_sub(s));
            }
            Request::BitMul { .. } => {
                let (r, a) = (common[0].data(), common[1].data());
                let (first, second) = rest.split_at_mut(1);
                fused(&mut first[0], &|i, s| bit(r, i).wrapping_sub(s));
                fused(&mut second[0], &|i, s| a[i].wrapping_mul(bit(r, i)).wrapping_sub(s));
            }
            Request::EdaBits { .. } => {
                let r = common[0].data();
                fused(&mut rest[0], &|i, s| r[i].wrapping_sub(s));
            }
            // Dealt above, before the products.
            Request::Drelu { .. }
            | Request::Relu { .. }
            | Request::ReluOneRound { .. }
            | Request::Eqz { .. }
            | Request::TruncRelu { .. } => {
                return Ok(Vec::new());
            }
            Request::Trunc { bits, .. } => {
                let (r, bits) = (common[0].data(), *bits);
                let (first, second) = rest.split_at_mut(1);
                fused(&mut first[0], &|i, s| {
                    ((r[i] & (u64::MAX >> 1)) >> bits).wrapping_sub(s)
                });
                fused(&mut second[0], &|i, s| (r[i] >> 63).wrapping_sub(s));
            }
        }
        if let [one] = &mut rest[..] {
            return Ok(std::mem::replace(one, RingTensor::zeros(&[0])).into_vec());
        }
        Ok(rest.iter().flat_map(|t| t.data().iter().copied()).collect())
    }
}

/// How long the dealer waits for party 0's next request.
const DEALER_IDLE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The trusted third party: answers party 0's requests until it says it is done.
pub struct Dealer {
    net: Net,
    parties: usize,
    maker: TripleMaker,
    /// The plan of a repeated computation, made once per credit (see `super::ahead`).
    plan: Vec<Vec<Request>>,
}

impl Dealer {
    /// Exchanges seeds with every party (the dealer is endpoint `parties`).
    pub fn setup(cfg: &ProtocolConfig, mut net: Net, opts: &SessionOptions) -> Result<Self> {
        let (pair, own) = exchange_seeds(&mut net, opts.insecure_share_seed)?;
        let prgs = pair
            .into_iter()
            .take(cfg.parties)
            .map(|p| p.expect("a seed with every party"))
            .collect();
        Ok(Self {
            net,
            parties: cfg.parties,
            maker: TripleMaker::new(prgs).with_keygen(own).with_leak(cfg.leak),
            plan: Vec::new(),
        })
    }

    /// Most ring elements the dealer holds for one request, or one batch together.
    pub const MAX_REQUEST_ELEMENTS: u64 = MAX_REQUEST_ELEMENTS;

    /// Checks a control message as the dealer does before serving it (for fuzzing and tests):
    /// `Ok(None)` for "done", `Ok(Some(elements))` for a batch or plan the dealer would accept,
    /// with the most ring elements it would hold at once (at most
    /// [`Dealer::MAX_REQUEST_ELEMENTS`]; 0 for a credit); an error for anything else.
    pub fn check_request_message(msg: &[u64]) -> Result<Option<u64>> {
        Ok(match decode_message(msg)? {
            Control::Done => None,
            Control::Go => Some(0),
            Control::Batch(_, elements) | Control::Plan(_, elements) => Some(elements),
        })
    }

    /// Serves requests until party 0 sends "done"; returns the dealer's traffic.
    ///
    /// The dealer idles while the parties compute, for as long as they like: it waits up to
    /// [`DEALER_IDLE`] for the next request. A party that vanishes closes its link, which ends the
    /// wait at once.
    pub fn serve(mut self) -> Result<MeterReport> {
        debug_assert!(self.parties >= 2);
        self.net.set_timeout(DEALER_IDLE);
        loop {
            let msg = self.net.recv_any(0)?;
            match decode_message(&msg)? {
                Control::Done => break,
                Control::Batch(reqs, _) => self.serve_batch(&reqs)?,
                Control::Plan(plan, _) => self.plan = plan,
                Control::Go => {
                    let plan = std::mem::take(&mut self.plan);
                    for batch in &plan {
                        self.serve_batch(batch)?;
                    }
                    self.plan = plan;
                }
            }
        }
        Ok(self.net.finish())
    }

    /// Makes and sends one batch's corrections (to party 0) and FSS keys (to parties 0 and 1).
    fn serve_batch(&mut self, reqs: &[Request]) -> Result<()> {
        let out = self.maker.corrections(reqs)?;
        // Batches with nothing to correct (mask preparation) get no reply.
        if !out.is_empty() {
            self.net.send(Phase::Offline, 0, out)?;
        }
        // FSS keys go to both parties (2pc-fss), one message per chunk each.
        let net = &mut self.net;
        self.maker.deal_pending(&mut |k0, k1| {
            net.send(Phase::Offline, 0, k0)?;
            net.send(Phase::Offline, 1, k1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::{encode_batch, encode_done, encode_go, encode_plan};
    use super::*;
    use crate::ring::Conv2dParams;

    #[test]
    fn requests_round_trip_and_garbage_is_an_error() {
        let reqs = vec![
            Request::Bilinear {
                op: BilinearOp::MatMul,
                x: vec![2, 3],
                y: vec![3, 4],
            },
            Request::Bilinear {
                op: BilinearOp::Conv2d(Conv2dParams::default()),
                x: vec![1, 1, 4, 4],
                y: vec![2, 1, 3, 3],
            },
            Request::Square { shape: vec![5] },
            Request::And { shape: vec![2, 2] },
            Request::Prepare { shape: vec![3, 4] },
            Request::BilinearPrepared {
                op: BilinearOp::MatMul,
                x: vec![2, 3],
                y: vec![3, 4],
                slot: 0,
            },
            Request::Drelu { n: 70, window: 64 },
            Request::Relu { n: 5, window: 2 },
            Request::ReluOneRound { n: 65, window: 64 },
            Request::TruncRelu {
                n: 9,
                window: 64,
                bits: 16,
            },
            Request::Eqz { n: 0, window: 32 },
        ];
        let msg = encode_batch(&reqs);
        match decode_message(&msg).unwrap() {
            Control::Batch(got, _) => assert_eq!(got, reqs),
            other => panic!("{other:?}"),
        }
        let plan = vec![reqs[..2].to_vec(), vec![], reqs[6..].to_vec()];
        match decode_message(&encode_plan(&plan)).unwrap() {
            Control::Plan(got, _) => assert_eq!(got, plan),
            other => panic!("{other:?}"),
        }
        assert_eq!(decode_message(&encode_go()).unwrap(), Control::Go);
        // Preparing answers nothing; a product needs a prepared slot of the right shape.
        let prgs = (0..2)
            .map(|i| Prg::new(&super::super::super::prg::seed_from_u64(1, i)))
            .collect();
        let mut maker = TripleMaker::new(prgs);
        let product = |y: Vec<usize>, slot| Request::BilinearPrepared {
            op: BilinearOp::MatMul,
            x: vec![2, 3],
            y,
            slot,
        };
        assert!(maker.correction(&product(vec![3, 4], 0)).is_err());
        assert!(maker.correction(&reqs[4]).unwrap().is_empty());
        assert_eq!(maker.correction(&product(vec![3, 4], 0)).unwrap().len(), 8);
        assert!(maker.correction(&product(vec![3, 5], 0)).is_err());
        assert!(maker.correction(&product(vec![3, 4], 1)).is_err());
        assert_eq!(decode_message(&encode_done()).unwrap(), Control::Done);
        // FSS keys need a dealer with its own generator, and a window within 2..=64.
        assert!(maker.correction(&reqs[6]).is_err());
        let mut dealer = TripleMaker::new(
            (0..2)
                .map(|i| Prg::new(&super::super::super::prg::seed_from_u64(2, i)))
                .collect(),
        )
        .with_keygen(Prg::new(&super::super::super::prg::seed_from_u64(3, 0)));
        assert!(dealer.correction(&reqs[6]).unwrap().is_empty(), "keys travel apart");
        let mut sent = Vec::new();
        dealer
            .deal_pending(&mut |k0, k1| {
                sent.push((k0.len(), k1.len()));
                Ok(())
            })
            .unwrap();
        let words = super::super::keys::key_words(super::super::keys::Gate::Drelu, 70, 64);
        assert_eq!(sent, [(words, words)]);
        for bad_window in [0u64, 1, 65] {
            assert!(decode_message(&[1, 1, 10, 5, bad_window]).is_err());
            assert!(decode_message(&[1, 1, 12, 5, bad_window, 16]).is_err());
        }
        // A fused gate shifts by 1..=61 bits.
        for bad_shift in [0u64, 62, 64] {
            assert!(decode_message(&[1, 1, 12, 5, 64, bad_shift]).is_err());
        }
        assert!(decode_message(&[1, 1, 12, 5, 64, 16]).is_ok());
        for bad in [&[][..], &[7], &[1, 2, 0], &[1, 1, 0, 0, 99], &[1, 1, 1, 1, 5, 9]] {
            assert!(decode_message(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod hostile {
    use super::super::request::{TAG_BATCH, TAG_PLAN, encode_batch, encode_done, encode_go, encode_plan};
    use super::*;
    use crate::ring::{Conv1dParams, Conv2dParams};

    fn refused(reqs: &[Request]) -> String {
        Dealer::check_request_message(&encode_batch(reqs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn hostile_requests_are_refused_before_anything_is_allocated() {
        let mm = |x: Vec<usize>, y: Vec<usize>| Request::Bilinear {
            op: BilinearOp::MatMul,
            x,
            y,
        };
        // Element counts that overflow u64, or merely exceed the bound.
        let big = u32::MAX as usize;
        for shape in [vec![big; 8], vec![big, big, big], vec![1 << 17, 1 << 16]] {
            let e = refused(&[Request::Square { shape: shape.clone() }]);
            assert_eq!(
                e,
                format!(
                    "dealer request: a tensor of shape {shape:?} exceeds the limit of 4294967296 elements per request"
                )
            );
        }
        assert!(refused(&[Request::Bits { n: big }]).contains("exceeds the limit"));
        // Operands within the bound whose product is not: [2^16, 1] · [1, 2^17].
        let e = refused(&[mm(vec![1 << 16, 1], vec![1, 1 << 17])]);
        assert!(e.contains("[65536, 131072]") && e.contains("exceeds the limit"), "{e}");
        // A convolution whose im2col scratch would be 2^40 elements.
        let conv = Request::Bilinear {
            op: BilinearOp::Conv2d(Conv2dParams::default()),
            x: vec![1, 1, 1 << 15, 1 << 15],
            y: vec![1, 1, 1 << 10, 1 << 10],
        };
        assert!(refused(&[conv]).contains("holding"), "scratch counts");
        // Each fits; together they do not.
        let half = Request::Square { shape: vec![1 << 30] };
        let e = refused(&[half.clone(), half.clone(), half.clone()]);
        assert!(e.contains("a batch of 3 requests holds more than"), "{e}");
        // A count far beyond the message's words.
        assert!(Dealer::check_request_message(&[TAG_BATCH, u32::MAX as u64, 1, 1, 5]).is_err());
        // Bad convolution parameters are errors, not panics.
        let zero_stride = Request::Bilinear {
            op: BilinearOp::Conv1d(Conv1dParams {
                stride: 0,
                padding: 0,
                dilation: 1,
                groups: 1,
            }),
            x: vec![1, 1, 8],
            y: vec![1, 1, 3],
        };
        assert!(refused(&[zero_stride]).contains("stride"));
        // Sound requests pass and report what they hold: 2·3 + 3·4 masks and a 2·4 product.
        assert_eq!(
            Dealer::check_request_message(&encode_batch(&[mm(vec![2, 3], vec![3, 4])])).unwrap(),
            Some(26)
        );
        assert_eq!(Dealer::check_request_message(&encode_done()).unwrap(), None);
        // A plan is checked batch by batch, and reports its largest batch; a credit holds nothing.
        let plan = encode_plan(&[vec![mm(vec![2, 3], vec![3, 4])], vec![half.clone()]]);
        assert_eq!(Dealer::check_request_message(&plan).unwrap(), Some(1 << 31));
        let e = Dealer::check_request_message(&encode_plan(&[vec![], vec![half.clone(), half.clone(), half]]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a batch of 3 requests holds more than"), "{e}");
        assert!(Dealer::check_request_message(&[TAG_PLAN, u32::MAX as u64, 0]).is_err());
        assert_eq!(Dealer::check_request_message(&encode_go()).unwrap(), Some(0));
        assert!(Dealer::check_request_message(&[3, 0]).is_err(), "a credit has no body");
    }
}
