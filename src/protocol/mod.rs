//! Layer 3: the `Protocol` seam — one party's view of a secret-sharing scheme.
//!
//! May import `crate::error`, `crate::ring` and `crate::net`. A value of type `P::Share` is what ONE
//! party holds of a secret tensor: an additive share (one ring tensor), a replicated share (two), and
//! so on. The same program runs on every party; the simulator runs the parties as threads and the
//! TCP transport as processes, and nothing here can tell the difference.
//!
//! Signatures say who talks: local operations take `&self` and never communicate; interactive ones
//! take `&mut self` and return `Result`. Interactive operations come in `_many` forms that put all
//! their messages into ONE round, so callers batch independent work.
//!
//! Security model: semi-honest (honest-but-curious) parties; the dealer, where a family has one, is
//! trusted not to collude. Shares, masks and triples come from AES-128-CTR seeded from the OS.

mod additive;
pub mod bilinear;
pub mod binary;
pub mod config;
pub mod cost;
pub mod gates;
pub mod prg;
pub mod repeat;
mod replicated;
pub mod session;
mod setup;

pub use additive::{AdditiveBits, AdditiveParty, AdditiveShare, Dealer, PreparedOperand};
pub use bilinear::BilinearOp;
pub use config::{DealerKind, Family, FunctionConfig, ProtocolConfig, Truncation};
pub use cost::Cost;
pub use repeat::{Repeat, Runs, Timed};
pub use replicated::{ReplicatedParty, Rss, RssBits};
pub use session::{EndpointResult, Job, Outcome, PartyOutcome, Span, endpoints, run_endpoint, simulate, wall_of};
pub use setup::SessionOptions;

use crate::error::{PartyId, Result};
use crate::net::MeterReport;
use crate::ring::RingTensor;

/// A linear map applied to each ring component of a share. It must be a group homomorphism of
/// Z_2^64 tensors (reshape, transpose, slice, sum, negation, multiplication by a public integer or
/// public tensor, convolution with a public kernel, …), so that applying it to every share gives a
/// share of the image.
pub type LinearFn<'a> = &'a (dyn Fn(&RingTensor) -> crate::Result<RingTensor> + Sync);

/// A map linear in the pair of its arguments (add, sub, concat), applied componentwise.
pub type Linear2Fn<'a> = &'a (dyn Fn(&RingTensor, &RingTensor) -> crate::Result<RingTensor> + Sync);

/// One party's view of a secret-sharing protocol over Z_2^64.
pub trait Protocol: Send {
    /// This party's share of an arithmetic-shared tensor.
    type Share: Clone + Send + std::fmt::Debug;
    /// This party's share of a XOR-shared tensor whose elements are 64 independent bits each.
    type BitShare: Clone + Send + std::fmt::Debug;

    /// What a party keeps of a shared tensor prepared as the right operand of many products (a
    /// model weight); see [`Protocol::prepare_many`].
    type Prepared: Clone + Send + std::fmt::Debug;

    /// This party's id, in `0..parties()`.
    fn id(&self) -> PartyId;
    /// Number of computing parties.
    fn parties(&self) -> usize;
    /// Fractional bits of fixed-point values in this session.
    fn frac_bits(&self) -> u32;
    /// Parameters of the nonlinear function approximations.
    fn functions(&self) -> &FunctionConfig;
    /// The shape of the tensor a share stands for.
    fn shape<'a>(&self, x: &'a Self::Share) -> &'a [usize];
    /// The shape of the tensor a bit share stands for.
    fn bit_shape<'a>(&self, x: &'a Self::BitShare) -> &'a [usize];
    /// This party's traffic so far.
    fn meter(&self) -> MeterReport;

    // ----- sharing and revealing -----

    /// Secret-shares `value`, known to `owner` only (others pass `None`); `shape` is public.
    fn share(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<Self::Share>;
    /// Opens several tensors to every party in one round.
    fn reveal_many(&mut self, xs: &[&Self::Share]) -> Result<Vec<RingTensor>>;
    /// Opens a tensor to party `to` only; others get `None`.
    fn reveal_to(&mut self, x: &Self::Share, to: PartyId) -> Result<Option<RingTensor>>;
    /// XOR-shares `value`, known to `owner` only.
    fn share_bits(&mut self, owner: PartyId, value: Option<&RingTensor>, shape: &[usize]) -> Result<Self::BitShare>;
    /// Opens several bit tensors to every party in one round.
    fn reveal_bits_many(&mut self, xs: &[&Self::BitShare]) -> Result<Vec<RingTensor>>;

    // ----- local arithmetic (no communication) -----

    /// The share of a public tensor that needs no communication.
    fn constant(&self, c: &RingTensor) -> Self::Share;
    /// Applies a linear map to a share (see [`LinearFn`]).
    fn linear(&self, x: &Self::Share, f: LinearFn<'_>) -> Result<Self::Share>;
    /// Applies a map linear in the pair (x, y) to two shares.
    fn linear2(&self, x: &Self::Share, y: &Self::Share, f: Linear2Fn<'_>) -> Result<Self::Share>;
    /// x + c for a public c (only some shares change).
    fn add_public(&self, x: &Self::Share, c: &RingTensor) -> Result<Self::Share>;

    /// x + y.
    fn add(&self, x: &Self::Share, y: &Self::Share) -> Result<Self::Share> {
        self.linear2(x, y, &|a, b| a.add(b))
    }
    /// x − y.
    fn sub(&self, x: &Self::Share, y: &Self::Share) -> Result<Self::Share> {
        self.linear2(x, y, &|a, b| a.sub(b))
    }
    /// −x.
    fn neg(&self, x: &Self::Share) -> Result<Self::Share> {
        self.linear(x, &|a| Ok(a.neg()))
    }
    /// x · c for a public ring scalar (no truncation).
    fn mul_scalar(&self, x: &Self::Share, c: u64) -> Result<Self::Share> {
        self.linear(x, &|a| Ok(a.mul_scalar(c)))
    }
    /// f(x, c) with the public tensor c on the right (e.g. x·W for public weights), no truncation.
    fn bilinear_public_right(&self, x: &Self::Share, c: &RingTensor, op: BilinearOp) -> Result<Self::Share> {
        self.linear(x, &|a| op.apply(a, c))
    }
    /// f(c, y) with the public tensor c on the left, no truncation.
    fn bilinear_public_left(&self, c: &RingTensor, y: &Self::Share, op: BilinearOp) -> Result<Self::Share> {
        self.linear(y, &|b| op.apply(c, b))
    }

    // ----- local bit operations (no communication) -----

    /// The bit share of a public tensor.
    fn bit_constant(&self, c: &RingTensor) -> Self::BitShare;
    /// Applies an XOR-linear map (shifts, AND with a public mask, reshape, slicing, …).
    fn bit_linear(&self, x: &Self::BitShare, f: LinearFn<'_>) -> Result<Self::BitShare>;
    /// Applies a map XOR-linear in the pair (x, y): XOR, concat.
    fn bit_linear2(&self, x: &Self::BitShare, y: &Self::BitShare, f: Linear2Fn<'_>) -> Result<Self::BitShare>;
    /// x ⊕ c for a public c.
    fn xor_public(&self, x: &Self::BitShare, c: &RingTensor) -> Result<Self::BitShare>;

    /// x ⊕ y.
    fn xor(&self, x: &Self::BitShare, y: &Self::BitShare) -> Result<Self::BitShare> {
        self.bit_linear2(x, y, &|a, b| a.xor(b))
    }

    // ----- interactive operations -----

    /// f(x, y) for each item, all in one round, without truncation (the result carries the sum of
    /// the operands' fractional bits).
    fn bilinear_many(&mut self, items: &[(&Self::Share, &Self::Share, BilinearOp)]) -> Result<Vec<Self::Share>>;
    /// Prepares shared tensors as right operands of later [`Protocol::bilinear_prepared_many`]
    /// calls (a setup step, like sharing the weights): Beaver families open each one's mask here,
    /// in one round, so that its products open only the left operand's mask.
    fn prepare_many(&mut self, ys: &[&Self::Share]) -> Result<Vec<Self::Prepared>>;
    /// f(x, y) for each item `(x, y, prep, op)`, where `prep` is what [`Protocol::prepare_many`]
    /// returned for y; all in one round, without truncation.
    fn bilinear_prepared_many(
        &mut self,
        items: &[(&Self::Share, &Self::Share, &Self::Prepared, BilinearOp)],
    ) -> Result<Vec<Self::Share>>;
    /// x² for each tensor, in one round, without truncation.
    fn square_many(&mut self, xs: &[&Self::Share]) -> Result<Vec<Self::Share>>;
    /// Divides each shared value by 2^bits (fixed-point truncation after a product). The result may
    /// be off by one unit in the last place; each family documents its failure probability.
    fn truncate_many(&mut self, xs: Vec<Self::Share>, bits: u32) -> Result<Vec<Self::Share>>;

    /// f(x, y) for each item, truncated by `bits` (a fixed-point product). The default is the
    /// product's round, then [`Protocol::truncate_many`]; a family may fuse them (3pc-replicated
    /// truncates while it reshares: one round).
    fn bilinear_truncated_many(
        &mut self,
        items: &[(&Self::Share, &Self::Share, BilinearOp)],
        bits: u32,
    ) -> Result<Vec<Self::Share>> {
        let raw = self.bilinear_many(items)?;
        self.truncate_many(raw, bits)
    }

    /// [`Protocol::bilinear_prepared_many`] truncated by `bits` (see
    /// [`Protocol::bilinear_truncated_many`]).
    fn bilinear_prepared_truncated_many(
        &mut self,
        items: &[(&Self::Share, &Self::Share, &Self::Prepared, BilinearOp)],
        bits: u32,
    ) -> Result<Vec<Self::Share>> {
        let raw = self.bilinear_prepared_many(items)?;
        self.truncate_many(raw, bits)
    }

    /// x² for each tensor, truncated by `bits` (see [`Protocol::bilinear_truncated_many`]).
    fn square_truncated_many(&mut self, xs: &[&Self::Share], bits: u32) -> Result<Vec<Self::Share>> {
        let raw = self.square_many(xs)?;
        self.truncate_many(raw, bits)
    }
    /// Bitwise AND of each pair, in one round.
    fn and_many(&mut self, items: &[(&Self::BitShare, &Self::BitShare)]) -> Result<Vec<Self::BitShare>>;

    /// Waits until every party has reached this point (booked as setup traffic, not online).
    fn barrier(&mut self) -> Result<()>;

    /// Sends public data from `owner` to every other party (setup traffic): the owner passes
    /// `Some(words)`, the others `None`; every party returns the owner's words. How an owner tells
    /// the others what is public about its private inputs (shapes, a model's architecture).
    fn publish(&mut self, owner: PartyId, words: Option<Vec<u64>>) -> Result<Vec<u64>>;

    // ----- the dealer running ahead (see `additive::ahead`; [`Repeat`] drives these) -----

    /// Whether a dealer can deal a repeated computation's correlated randomness ahead of use.
    /// Families without a dealer keep the defaults: nothing to deal, nothing to do.
    fn deals_ahead(&self) -> bool {
        false
    }
    /// Starts recording the correlated randomness the next computation asks for.
    fn record_ahead(&mut self) -> Result<()> {
        Ok(())
    }
    /// Ends the recording: the dealer gets the plan for `copies` more runs of the computation.
    fn plan_ahead(&mut self, _copies: usize) -> Result<()> {
        Ok(())
    }
    /// Starts the next run of the planned computation, the dealer making its randomness while
    /// the parties compute; with `prefetch`, this party holds all of it before returning.
    fn next_ahead(&mut self, _prefetch: bool) -> Result<()> {
        Ok(())
    }

    // ----- conversions (the hooks the function library builds comparisons on) -----

    /// Bit shares of values whose arithmetic sum (mod 2^64) is x: one per additive share, or
    /// however a family splits x. Adding them with a binary circuit converts x to binary.
    fn a2b_addends(&mut self, x: &Self::Share) -> Result<Vec<Self::BitShare>>;

    /// Converts packed bits to arithmetic 0/1 integers (scale 1): for each item, the first `n` bits
    /// of the packed bit tensor (bit e of word e/64) become a share of shape `[n]`. One round.
    fn b2a_bits_many(&mut self, items: &[(&Self::BitShare, usize)]) -> Result<Vec<Self::Share>>;

    /// x · b for each item, where b holds one packed bit per element of x (in x's row-major
    /// order). No truncation: the result has x's scale. The default converts the bits and then
    /// multiplies (two rounds); families may do it in one.
    fn mul_bits_many(&mut self, items: &[(&Self::Share, &Self::BitShare)]) -> Result<Vec<Self::Share>> {
        let conv: Vec<(&Self::BitShare, usize)> = items
            .iter()
            .map(|(x, b)| (*b, crate::ring::numel(self.shape(x))))
            .collect();
        let bits = self.b2a_bits_many(&conv)?;
        let mut shaped = Vec::with_capacity(items.len());
        for ((x, _), b) in items.iter().zip(&bits) {
            let shape = self.shape(x).to_vec();
            shaped.push(self.linear(b, &|t| t.clone().reshape(&shape))?);
        }
        let prods: Vec<_> = items
            .iter()
            .zip(&shaped)
            .map(|((x, _), b)| (*x, b, BilinearOp::Mul))
            .collect();
        self.bilinear_many(&prods)
    }

    // ----- family hooks: gates a family may do natively (defaults: the circuits in `gates`) -----

    /// Packed [x < 0] bits of each tensor (the complement of DReLU), in one circuit. Default: the
    /// MSB circuit over all tensors at once.
    fn ltz_bits_many(&mut self, xs: &[&Self::Share]) -> Result<Vec<Self::BitShare>>
    where
        Self: Sized,
    {
        gates::ltz_bits_many(self, xs)
    }

    /// Packed [x = 0] bits of each tensor. Default: the two-party zero test, else the MSB circuit
    /// on x and −x.
    fn eqz_bits_many(&mut self, xs: &[&Self::Share]) -> Result<Vec<Self::BitShare>>
    where
        Self: Sized,
    {
        gates::eqz_bits_many(self, xs)
    }

    /// [x < 0] of each tensor as arithmetic 0/1 shares (scale 1). Default: the sign bits, then a
    /// B2A round.
    fn ltz_many(&mut self, xs: &[&Self::Share]) -> Result<Vec<Self::Share>>
    where
        Self: Sized,
    {
        gates::ltz_many(self, xs)
    }

    /// max(x, 0) of each tensor, exact. Default: sign bits, then one product with them.
    fn relu_many(&mut self, xs: &[&Self::Share]) -> Result<Vec<Self::Share>>
    where
        Self: Sized,
    {
        gates::relu_many(self, xs)
    }

    /// c ? x : y elementwise for each item `(c, x, y)`, c packed bits (one per element of x, in
    /// row-major order). Default: y + c·(x − y), one bit-product round.
    fn select_many(&mut self, items: &[(&Self::BitShare, &Self::Share, &Self::Share)]) -> Result<Vec<Self::Share>>
    where
        Self: Sized,
    {
        gates::select_many(self, items)
    }

    /// ReLU(x / 2^bits) of each tensor (a product's truncation fused with the ReLU that reads it).
    /// Default: [`Protocol::truncate_many`], then [`Protocol::relu_many`].
    /// Whether [`Protocol::trunc_relu_many`] costs less than a product's own truncation followed
    /// by a ReLU: then the nn backend hands it untruncated products (a Conv fused with its ReLU)
    /// instead of truncating them first. False by default (the hook's default body is exactly
    /// that sequence, and some families truncate inside the product for free).
    fn fuses_trunc_relu(&self) -> bool {
        false
    }
    fn trunc_relu_many(&mut self, xs: Vec<Self::Share>, bits: u32) -> Result<Vec<Self::Share>>
    where
        Self: Sized,
    {
        gates::trunc_relu_many(self, xs, bits)
    }

    /// For families where x = u + v with u known to one party and v to another (two-party
    /// additive sharing): bit shares of u and of −v, which are equal exactly when x = 0. Lets
    /// equality tests skip the adder. `None` where the family has no such split.
    fn zero_test_pair(&mut self, x: &Self::Share) -> Result<Option<(Self::BitShare, Self::BitShare)>> {
        let _ = x;
        Ok(None)
    }
}

/// Fixed-point product f(x, y) for each item: the product and its truncation by the session's
/// fractional bits ([`Protocol::bilinear_truncated_many`]: the family's product then truncation
/// costs, or one fused step).
pub fn fixed_bilinear_many<P: Protocol>(
    p: &mut P,
    items: &[(&P::Share, &P::Share, BilinearOp)],
) -> Result<Vec<P::Share>> {
    let bits = p.frac_bits();
    p.bilinear_truncated_many(items, bits)
}

/// Fixed-point x² for each tensor.
pub fn fixed_square_many<P: Protocol>(p: &mut P, xs: &[&P::Share]) -> Result<Vec<P::Share>> {
    let bits = p.frac_bits();
    p.square_truncated_many(xs, bits)
}

/// [`Protocol::publish`] of a serialisable value (JSON, packed eight bytes to a word). A value from
/// another party is input like any other: it is parsed, never trusted to be well formed.
pub fn publish_value<P: Protocol, T: serde::Serialize + serde::de::DeserializeOwned>(
    p: &mut P,
    owner: PartyId,
    value: Option<&T>,
) -> Result<T> {
    let words = match value {
        Some(v) => {
            let bytes = serde_json::to_vec(v).map_err(|e| crate::Error::invalid("publish", e.to_string()))?;
            let mut words = vec![bytes.len() as u64];
            words.extend(bytes.chunks(8).map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(w)
            }));
            Some(words)
        }
        None => None,
    };
    let words = p.publish(owner, words)?;
    let bad = |detail: String| crate::Error::Protocol {
        party: p.id(),
        op: "publish",
        detail: format!("party {owner} sent {detail}"),
    };
    let (&len, body) = words.split_first().ok_or_else(|| bad("an empty message".into()))?;
    let bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= bytes.len() && bytes.len() - l < 8);
    let len = len.ok_or_else(|| bad("a message whose length does not match its contents".into()))?;
    serde_json::from_slice(&bytes[..len]).map_err(|e| bad(format!("an unreadable value: {e}")))
}

/// Opens one tensor to every party.
pub fn reveal<P: Protocol>(p: &mut P, x: &P::Share) -> Result<RingTensor> {
    Ok(p.reveal_many(&[x])?.pop().expect("one tensor in, one out"))
}
