//! What party 0 asks the dealer for: the requests of correlated randomness, their layouts and
//! limits, and the control messages that carry them (a batch to serve now, a plan of batches to
//! make ahead, a credit, the end of the session). Everything decoded here is checked before the
//! dealer allocates anything for it.

use super::super::bilinear::{BilinearOp, small, take};
use crate::error::{Error, Result};
use crate::ring::numel;

/// Correlated randomness one op needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// A Beaver triple (a, b, c = f(a, b)) with a of shape `x`, b of shape `y`.
    Bilinear {
        op: BilinearOp,
        x: Vec<usize>,
        y: Vec<usize>,
    },
    /// A square pair (r, r²).
    Square { shape: Vec<usize> },
    /// A binary triple (a, b, a AND b) over 64-bit lanes.
    And { shape: Vec<usize> },
    /// n random bits r, XOR-shared packed 64 to a word and additively shared one per element.
    Bits { n: usize },
    /// n random bits r (XOR-shared, packed; additively shared) with a random ring element a and
    /// additive shares of a·r, for a product with a bit in one round.
    BitMul { n: usize },
    /// A truncation mask: r uniform (additively shared), with shares of (r mod 2^63) >> bits and
    /// of r's top bit.
    Trunc { n: usize, bits: u32 },
    /// n random words r, XOR-shared bitwise and additively shared (for A2B with more than two
    /// parties: open x + r, then subtract r in binary).
    EdaBits { n: usize },
    /// A mask b of `shape` for a prepared operand; the dealer keeps b in the next table slot.
    Prepare { shape: Vec<usize> },
    /// A triple (a, b, c = f(a, b)) with a fresh a of shape `x` and the b of prepared operand
    /// `slot` (of shape `y`).
    BilinearPrepared {
        op: BilinearOp,
        x: Vec<usize>,
        y: Vec<usize>,
        slot: usize,
    },
    /// 2pc-fss: DReLU keys for n elements with comparison window k, masks r drawn by the parties
    /// from the dealer PRGs (additively shared); the keys go to both parties (see `super::fss`).
    Drelu { n: usize, window: u32 },
    /// 2pc-fss: ReLU keys (DReLU keys plus the select's shares), masks as for `Drelu`.
    Relu { n: usize, window: u32 },
    /// 2pc-fss with `fss_relu_rounds: 1`: one-round ReLU keys (a ring-payload DCF and shares of
    /// c and c·r, `crate::fss::relu_one_round`), masks as for `Drelu`.
    ReluOneRound { n: usize, window: u32 },
    /// 2pc-fss: fused ReLU(x / 2^bits) keys (DReLU keys plus the truncation's and the select's
    /// shares, `crate::fss::trunc_relu`), masks as for `Drelu`.
    TruncRelu { n: usize, window: u32, bits: u32 },
    /// 2pc-fss: zero-test (DPF) keys on the window's low bits, masks as for `Drelu`.
    Eqz { n: usize, window: u32 },
}

const TAG_DONE: u64 = 0;
pub(super) const TAG_BATCH: u64 = 1;
/// The plan of a repeated computation: its batches of requests, in order (see `super::ahead`).
pub(super) const TAG_PLAN: u64 = 2;
/// A credit: make one copy of the plan now.
const TAG_GO: u64 = 3;

/// Most ring elements one request may make the dealer hold (its masks, products and convolution
/// scratch together): 2^32 elements, 32 GiB. A batch together holds no more either, so a hostile
/// or broken party 0 gets an error, not an allocation the machine cannot make.
pub(crate) const MAX_REQUEST_ELEMENTS: u64 = 1 << 32;

/// Elements of `shape`, or `None` when the count overflows.
fn checked_numel(shape: &[usize]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
}

impl Request {
    /// Shapes of what every party draws (the masks), and of what parties 1.. draw while party 0
    /// receives a correction instead (the products).
    pub(crate) fn layout(&self) -> Result<(Vec<Vec<usize>>, Vec<Vec<usize>>)> {
        Ok(match self {
            Request::Bilinear { op, x, y } => (vec![x.clone(), y.clone()], vec![op.output_shape(x, y)?]),
            Request::Square { shape } => (vec![shape.clone()], vec![shape.clone()]),
            Request::And { shape } => (vec![shape.clone(), shape.clone()], vec![shape.clone()]),
            Request::Bits { n } => (vec![vec![n.div_ceil(64)]], vec![vec![*n]]),
            Request::BitMul { n } => (vec![vec![n.div_ceil(64)], vec![*n]], vec![vec![*n], vec![*n]]),
            Request::Trunc { n, .. } => (vec![vec![*n]], vec![vec![*n], vec![*n]]),
            Request::EdaBits { n } => (vec![vec![*n]], vec![vec![*n]]),
            Request::Prepare { shape } => (vec![shape.clone()], vec![]),
            Request::BilinearPrepared { op, x, y, .. } => (vec![x.clone()], vec![op.output_shape(x, y)?]),
            Request::Drelu { n, .. }
            | Request::Relu { n, .. }
            | Request::ReluOneRound { n, .. }
            | Request::Eqz { n, .. }
            | Request::TruncRelu { n, .. } => (vec![vec![*n]], vec![]),
        })
    }

    /// Ring elements the dealer holds for this request: every tensor of its layout, plus the im2col
    /// scratch of a convolution. Refuses, before anything is allocated, shapes whose sizes overflow
    /// or exceed [`MAX_REQUEST_ELEMENTS`].
    fn checked_elements(&self) -> Result<u64> {
        let too_large = |what: String| {
            Error::invalid(
                "dealer request",
                format!("{what} exceeds the limit of {MAX_REQUEST_ELEMENTS} elements per request"),
            )
        };
        let bounded = |shape: &[usize]| match checked_numel(shape) {
            Some(n) if n <= MAX_REQUEST_ELEMENTS => Ok(n),
            _ => Err(too_large(format!("a tensor of shape {shape:?}"))),
        };
        // The operands first: the layout's output shapes are computed from them.
        let operands: Vec<&[usize]> = match self {
            Request::Bilinear { x, y, .. } | Request::BilinearPrepared { x, y, .. } => vec![x, y],
            Request::Square { shape } | Request::And { shape } | Request::Prepare { shape } => vec![shape],
            Request::Bits { .. }
            | Request::BitMul { .. }
            | Request::Trunc { .. }
            | Request::EdaBits { .. }
            | Request::Drelu { .. }
            | Request::Relu { .. }
            | Request::ReluOneRound { .. }
            | Request::Eqz { .. }
            | Request::TruncRelu { .. } => vec![],
        };
        for s in operands {
            bounded(s)?;
        }
        if let Request::Bits { n }
        | Request::BitMul { n }
        | Request::Trunc { n, .. }
        | Request::EdaBits { n }
        | Request::Drelu { n, .. }
        | Request::Relu { n, .. }
        | Request::ReluOneRound { n, .. }
        | Request::Eqz { n, .. }
        | Request::TruncRelu { n, .. } = self
        {
            bounded(&[*n])?;
        }
        let (common, own) = self.layout()?;
        let mut total = 0u64;
        for s in common.iter().chain(&own) {
            total = total.saturating_add(bounded(s)?);
        }
        if let Request::Bilinear { op, x, y } | Request::BilinearPrepared { op, x, y, .. } = self {
            let out = &own[0];
            // im2col: (weight elements per output channel) × (output positions per channel).
            let (weight, spatial): (&[usize], &[usize]) = match op {
                BilinearOp::Conv1d(_) | BilinearOp::Conv2d(_) => (y, out),
                BilinearOp::Conv2dGradWeight { .. } => (out, y),
                BilinearOp::Conv2dGradInput { .. } => (y, x),
                BilinearOp::Mul | BilinearOp::MatMul => (&[], &[]),
            };
            if weight.len() > 1 && spatial.len() > 2 {
                let scratch = checked_numel(&weight[1..]).and_then(|k| k.checked_mul(checked_numel(&spatial[2..])?));
                total = total.saturating_add(scratch.unwrap_or(u64::MAX));
            }
        }
        if let Some((gate, window)) = self.fss_gate() {
            // Both parties' keys.
            total = total.saturating_add(2 * super::keys::key_words(gate, self.fss_elements(), window) as u64);
        }
        if total > MAX_REQUEST_ELEMENTS {
            return Err(too_large(format!("{self:?}, holding {total} elements,")));
        }
        Ok(total)
    }

    /// Elements of a 2pc-fss request (0 for any other).
    pub(crate) fn fss_elements(&self) -> usize {
        match *self {
            Request::Drelu { n, .. }
            | Request::Relu { n, .. }
            | Request::ReluOneRound { n, .. }
            | Request::Eqz { n, .. }
            | Request::TruncRelu { n, .. } => n,
            _ => 0,
        }
    }

    /// The FSS gate and window of a 2pc-fss request.
    pub(crate) fn fss_gate(&self) -> Option<(super::keys::Gate, u32)> {
        use super::keys::Gate;
        match *self {
            Request::Drelu { window, .. } => Some((Gate::Drelu, window)),
            Request::Relu { window, .. } => Some((Gate::Relu, window)),
            Request::ReluOneRound { window, .. } => Some((Gate::ReluOneRound, window)),
            Request::Eqz { window, .. } => Some((Gate::Eqz, window)),
            Request::TruncRelu { window, bits, .. } => Some((Gate::TruncRelu { bits }, window)),
            _ => None,
        }
    }

    /// Words of party 0's correction for this request.
    pub(crate) fn correction_len(&self) -> Result<usize> {
        Ok(self.layout()?.1.iter().map(|s| numel(s)).sum())
    }

    /// Whether the k-th common draw is XOR-shared (else additively).
    pub(super) fn common_is_xor(&self, k: usize) -> bool {
        match self {
            Request::And { .. } => true,
            Request::Bits { .. } | Request::BitMul { .. } | Request::EdaBits { .. } => k == 0,
            _ => false,
        }
    }

    fn encode(&self, out: &mut Vec<u64>) {
        let shape = |out: &mut Vec<u64>, s: &[usize]| {
            out.push(s.len() as u64);
            out.extend(s.iter().map(|&d| d as u64));
        };
        match self {
            Request::Bilinear { op, x, y } => {
                out.push(0);
                op.encode(out);
                shape(out, x);
                shape(out, y);
            }
            Request::Square { shape: s } => {
                out.push(1);
                shape(out, s);
            }
            Request::And { shape: s } => {
                out.push(2);
                shape(out, s);
            }
            Request::Bits { n } => out.extend([3, *n as u64]),
            Request::BitMul { n } => out.extend([4, *n as u64]),
            Request::Trunc { n, bits } => out.extend([5, *n as u64, *bits as u64]),
            Request::EdaBits { n } => out.extend([6, *n as u64]),
            Request::Prepare { shape: s } => {
                out.push(7);
                shape(out, s);
            }
            Request::BilinearPrepared { op, x, y, slot } => {
                out.push(8);
                op.encode(out);
                shape(out, x);
                shape(out, y);
                out.push(*slot as u64);
            }
            Request::Drelu { n, window } => out.extend([9, *n as u64, *window as u64]),
            Request::Relu { n, window } => out.extend([10, *n as u64, *window as u64]),
            Request::ReluOneRound { n, window } => out.extend([13, *n as u64, *window as u64]),
            Request::TruncRelu { n, window, bits } => out.extend([12, *n as u64, *window as u64, *bits as u64]),
            Request::Eqz { n, window } => out.extend([11, *n as u64, *window as u64]),
        }
    }

    fn decode(words: &mut &[u64]) -> Result<Self> {
        fn shape(words: &mut &[u64]) -> Result<Vec<usize>> {
            let rank = small(take(words, 1)?[0])?;
            if rank > 8 {
                return Err(Error::invalid("dealer request", format!("rank {rank} is too large")));
            }
            take(words, rank)?.iter().map(|&d| small(d)).collect()
        }
        let req = match take(words, 1)?[0] {
            0 => {
                let op = BilinearOp::decode(words)?;
                Request::Bilinear {
                    op,
                    x: shape(words)?,
                    y: shape(words)?,
                }
            }
            1 => Request::Square { shape: shape(words)? },
            2 => Request::And { shape: shape(words)? },
            3 => Request::Bits {
                n: small(take(words, 1)?[0])?,
            },
            4 => Request::BitMul {
                n: small(take(words, 1)?[0])?,
            },
            5 => {
                let w = take(words, 2)?;
                if w[1] == 0 || w[1] >= 63 {
                    return Err(Error::invalid(
                        "dealer request",
                        format!("cannot truncate by {} bits", w[1]),
                    ));
                }
                Request::Trunc {
                    n: small(w[0])?,
                    bits: w[1] as u32,
                }
            }
            6 => Request::EdaBits {
                n: small(take(words, 1)?[0])?,
            },
            7 => Request::Prepare { shape: shape(words)? },
            8 => {
                let op = BilinearOp::decode(words)?;
                Request::BilinearPrepared {
                    op,
                    x: shape(words)?,
                    y: shape(words)?,
                    slot: small(take(words, 1)?[0])?,
                }
            }
            tag @ (9..=11 | 13) => {
                let w = take(words, 2)?;
                if !(2..=64).contains(&w[1]) {
                    return Err(Error::invalid(
                        "dealer request",
                        format!("a comparison window of {} bits", w[1]),
                    ));
                }
                let (n, window) = (small(w[0])?, w[1] as u32);
                match tag {
                    9 => Request::Drelu { n, window },
                    10 => Request::Relu { n, window },
                    13 => Request::ReluOneRound { n, window },
                    _ => Request::Eqz { n, window },
                }
            }
            12 => {
                let w = take(words, 3)?;
                if !(2..=64).contains(&w[1]) || !(1..62).contains(&w[2]) {
                    return Err(Error::invalid(
                        "dealer request",
                        format!("a fused gate with window {} and shift {}", w[1], w[2]),
                    ));
                }
                Request::TruncRelu {
                    n: small(w[0])?,
                    window: w[1] as u32,
                    bits: w[2] as u32,
                }
            }
            t => return Err(Error::invalid("dealer request", format!("unknown request tag {t}"))),
        };
        Ok(req)
    }
}

/// Encodes a batch of requests as one control message.
pub(crate) fn encode_batch(reqs: &[Request]) -> Vec<u64> {
    let mut out = vec![TAG_BATCH];
    put_batch(&mut out, reqs);
    out
}

/// Encodes a plan (batches of requests, in order) as one control message.
pub(crate) fn encode_plan(plan: &[Vec<Request>]) -> Vec<u64> {
    let mut out = vec![TAG_PLAN, plan.len() as u64];
    for batch in plan {
        put_batch(&mut out, batch);
    }
    out
}

/// The credit for one copy of the plan.
pub(crate) fn encode_go() -> Vec<u64> {
    vec![TAG_GO]
}

/// The message that ends a session.
pub(crate) fn encode_done() -> Vec<u64> {
    vec![TAG_DONE]
}

fn put_batch(out: &mut Vec<u64>, reqs: &[Request]) {
    out.push(reqs.len() as u64);
    for r in reqs {
        r.encode(out);
    }
}

/// A control message from party 0.
#[derive(Debug, PartialEq)]
pub(super) enum Control {
    Done,
    /// A batch to serve now, with the elements it holds.
    Batch(Vec<Request>, u64),
    /// A plan to keep, with the most elements any of its batches holds.
    Plan(Vec<Vec<Request>>, u64),
    Go,
}

/// Decodes a control message. Every request is checked ([`Request::checked_elements`]), and a
/// batch together holds at most [`MAX_REQUEST_ELEMENTS`] (the dealer serves a plan batch by batch).
pub(super) fn decode_message(msg: &[u64]) -> Result<Control> {
    let mut words = msg;
    let control = match take(&mut words, 1)?[0] {
        TAG_DONE => Control::Done,
        TAG_GO => Control::Go,
        TAG_BATCH => {
            let (batch, total) = take_batch(&mut words)?;
            Control::Batch(batch, total)
        }
        TAG_PLAN => {
            let count = small(take(&mut words, 1)?[0])?;
            let mut plan = Vec::new();
            let mut most = 0;
            // A batch takes at least one word, so the message bounds the count.
            while plan.len() < count && !words.is_empty() {
                let (batch, total) = take_batch(&mut words)?;
                most = most.max(total);
                plan.push(batch);
            }
            if plan.len() != count {
                return Err(Error::invalid(
                    "dealer request",
                    "plan length does not match its contents",
                ));
            }
            Control::Plan(plan, most)
        }
        t => return Err(Error::invalid("dealer request", format!("unknown message tag {t}"))),
    };
    if !words.is_empty() {
        return Err(Error::invalid(
            "dealer request",
            "message length does not match its contents",
        ));
    }
    Ok(control)
}

/// Reads one batch (count, then the requests) with the elements it holds.
fn take_batch(words: &mut &[u64]) -> Result<(Vec<Request>, u64)> {
    let count = small(take(words, 1)?[0])?;
    let mut reqs = Vec::new();
    let mut total = 0u64;
    // A request takes at least one word, so the message bounds the count before anything is
    // allocated for it.
    while reqs.len() < count && !words.is_empty() {
        let req = Request::decode(words)?;
        total = total.saturating_add(req.checked_elements()?);
        if total > MAX_REQUEST_ELEMENTS {
            return Err(Error::invalid(
                "dealer request",
                format!("a batch of {count} requests holds more than the limit of {MAX_REQUEST_ELEMENTS} elements"),
            ));
        }
        reqs.push(req);
    }
    if reqs.len() != count {
        return Err(Error::invalid(
            "dealer request",
            "batch length does not match its contents",
        ));
    }
    Ok((reqs, total))
}
