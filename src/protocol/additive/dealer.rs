//! The dealer of correlated randomness for additive sharing (CrypTen's trusted third party scheme).
//!
//! The dealer shares a PRG seed with each party. For every triple, each party draws its own shares
//! of a and b (and, for parties 1.., of c) from that PRG; the dealer draws the same words from its
//! copies, computes c = f(a, b) and sends party 0 only its correction c_0 = c − Σ_{i≥1} c_i. So the
//! offline traffic is one ring element per OUTPUT element, to party 0 only, and the parties never
//! talk to each other about triples. Party 0 names the triples it needs in a request (control
//! traffic: a few words per op, reported apart from payload).
//!
//! The same [`TripleMaker`] runs inside party 0 for the insecure "first party" variant.

use super::super::bilinear::{small, take, BilinearOp};
use super::super::config::ProtocolConfig;
use super::super::prg::Prg;
use super::super::session::{exchange_seeds, SessionOptions};
use crate::error::{Error, Result};
use crate::net::{MeterReport, Net, Phase};
use crate::ring::{numel, RingTensor};
use rayon::prelude::*;

/// Correlated randomness one op needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// A Beaver triple (a, b, c = f(a, b)) with a of shape `x`, b of shape `y`.
    Bilinear { op: BilinearOp, x: Vec<usize>, y: Vec<usize> },
    /// A square pair (r, r²).
    Square { shape: Vec<usize> },
    /// A binary triple (a, b, a AND b) over 64-bit lanes.
    And { shape: Vec<usize> },
}

const TAG_DONE: u64 = 0;
const TAG_BATCH: u64 = 1;

impl Request {
    /// Words of party 0's correction for this request.
    pub(crate) fn correction_len(&self) -> Result<usize> {
        Ok(match self {
            Request::Bilinear { op, x, y } => numel(&op.output_shape(x, y)?),
            Request::Square { shape } | Request::And { shape } => numel(shape),
        })
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
                Request::Bilinear { op, x: shape(words)?, y: shape(words)? }
            }
            1 => Request::Square { shape: shape(words)? },
            2 => Request::And { shape: shape(words)? },
            t => return Err(Error::invalid("dealer request", format!("unknown request tag {t}"))),
        };
        Ok(req)
    }
}

/// Encodes a batch of requests as one control message.
pub(crate) fn encode_batch(reqs: &[Request]) -> Vec<u64> {
    let mut out = vec![TAG_BATCH, reqs.len() as u64];
    for r in reqs {
        r.encode(&mut out);
    }
    out
}

/// The message that ends a session.
pub(crate) fn encode_done() -> Vec<u64> {
    vec![TAG_DONE]
}

/// Decodes a control message: `None` for "done", else the batch.
fn decode_message(msg: &[u64]) -> Result<Option<Vec<Request>>> {
    let mut words = msg;
    match take(&mut words, 1)?[0] {
        TAG_DONE => Ok(None),
        TAG_BATCH => {
            let count = small(take(&mut words, 1)?[0])?;
            let reqs = (0..count.min(1 << 16)).map(|_| Request::decode(&mut words)).collect::<Result<Vec<_>>>()?;
            if reqs.len() != count || !words.is_empty() {
                return Err(Error::invalid("dealer request", "batch length does not match its contents"));
            }
            Ok(Some(reqs))
        }
        t => Err(Error::invalid("dealer request", format!("unknown message tag {t}"))),
    }
}

/// What each party draws, in order, from the PRG it shares with the dealer for one request.
/// Parties `1..` also draw their share of the product; party 0 gets a correction instead.
pub(crate) struct Draws {
    pub a: RingTensor,
    pub b: RingTensor,
    /// Party i ≥ 1: its share of c. Party 0: empty until the correction arrives.
    pub c: Option<RingTensor>,
}

/// Draws one party's part of a request from `prg` (party `id`).
pub(crate) fn draw(prg: &mut Prg, id: usize, req: &Request) -> Result<Draws> {
    Ok(match req {
        Request::Bilinear { op, x, y } => {
            let z = op.output_shape(x, y)?;
            let a = prg.tensor(x);
            let b = prg.tensor(y);
            let c = (id != 0).then(|| prg.tensor(&z));
            Draws { a, b, c }
        }
        Request::Square { shape } | Request::And { shape } => {
            // Square pairs use `a` = r and `c` = share of r²; `b` is unused and left empty.
            let a = prg.tensor(shape);
            let b = if matches!(req, Request::And { .. }) { prg.tensor(shape) } else { RingTensor::zeros(&[0]) };
            let c = (id != 0).then(|| prg.tensor(shape));
            Draws { a, b, c }
        }
    })
}

/// Regenerates every party's draws and computes party 0's corrections.
pub(crate) struct TripleMaker {
    prgs: Vec<Prg>,
}

impl TripleMaker {
    /// `prgs[i]` must be a copy of the PRG party i draws from.
    pub(crate) fn new(prgs: Vec<Prg>) -> Self {
        Self { prgs }
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

    /// Party 0's correction for `req`.
    pub(crate) fn correction(&mut self, req: &Request) -> Result<Vec<u64>> {
        let is_and = matches!(req, Request::And { .. });
        let mut a: Option<RingTensor> = None;
        let mut b: Option<RingTensor> = None;
        let mut c_rest: Option<RingTensor> = None;
        for (i, prg) in self.prgs.iter_mut().enumerate() {
            let d = draw(prg, i, req)?;
            accumulate(&mut a, d.a, is_and)?;
            accumulate(&mut b, d.b, is_and)?;
            if let Some(c) = d.c {
                accumulate(&mut c_rest, c, is_and)?;
            }
        }
        let (a, b) = (a.expect("at least one party"), b.expect("at least one party"));
        let Some(mut rest) = c_rest else {
            return Err(Error::invalid("dealer", "a dealer needs at least two parties"));
        };
        // Elementwise requests: one fused pass, c_0 = f(a, b) − Σ_{i≥1} c_i, written over the sum.
        let fused: Option<fn(u64, u64, u64) -> u64> = match req {
            Request::Bilinear { op: BilinearOp::Mul, .. } => Some(|a, b, r| a.wrapping_mul(b).wrapping_sub(r)),
            Request::Square { .. } => Some(|a, _, r| a.wrapping_mul(a).wrapping_sub(r)),
            Request::And { .. } => Some(|a, b, r| (a & b) ^ r),
            Request::Bilinear { .. } => None,
        };
        if let Some(f) = fused {
            let (av, bv) = (a.data(), b.data());
            let square = matches!(req, Request::Square { .. });
            rest.data_mut().par_iter_mut().enumerate().with_min_len(1 << 12).for_each(|(i, r)| {
                *r = f(av[i], if square { 0 } else { bv[i] }, *r);
            });
            return Ok(rest.into_vec());
        }
        let Request::Bilinear { op, .. } = req else { unreachable!("elementwise requests are fused") };
        Ok(op.apply(&a, &b)?.sub(&rest)?.into_vec())
    }
}

/// acc ← acc + t (or ⊕ t); the first tensor is taken as is.
fn accumulate(acc: &mut Option<RingTensor>, t: RingTensor, xor: bool) -> Result<()> {
    match acc {
        None => *acc = Some(t),
        Some(s) if xor => s.xor_assign(&t)?,
        Some(s) => s.add_assign(&t)?,
    }
    Ok(())
}

/// The trusted third party: answers party 0's requests until it says it is done.
pub struct Dealer {
    net: Net,
    parties: usize,
    maker: TripleMaker,
}

impl Dealer {
    /// Exchanges seeds with every party (the dealer is endpoint `parties`).
    pub fn setup(cfg: &ProtocolConfig, mut net: Net, opts: &SessionOptions) -> Result<Self> {
        let (pair, _own) = exchange_seeds(&mut net, opts.seed)?;
        let prgs = pair.into_iter().take(cfg.parties).map(|p| p.expect("a seed with every party")).collect();
        Ok(Self { net, parties: cfg.parties, maker: TripleMaker::new(prgs) })
    }

    /// Serves requests until party 0 sends "done"; returns the dealer's traffic.
    pub fn serve(mut self) -> Result<MeterReport> {
        debug_assert!(self.parties >= 2);
        loop {
            let msg = self.net.recv_any(0)?;
            let Some(reqs) = decode_message(&msg)? else { break };
            let out = self.maker.corrections(&reqs)?;
            self.net.send(Phase::Offline, 0, out)?;
        }
        Ok(self.net.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Conv2dParams;

    #[test]
    fn requests_round_trip_and_garbage_is_an_error() {
        let reqs = vec![
            Request::Bilinear { op: BilinearOp::MatMul, x: vec![2, 3], y: vec![3, 4] },
            Request::Bilinear { op: BilinearOp::Conv2d(Conv2dParams::default()), x: vec![1, 1, 4, 4], y: vec![2, 1, 3, 3] },
            Request::Square { shape: vec![5] },
            Request::And { shape: vec![2, 2] },
        ];
        let msg = encode_batch(&reqs);
        assert_eq!(decode_message(&msg).unwrap().unwrap(), reqs);
        assert_eq!(decode_message(&encode_done()).unwrap(), None);
        for bad in [&[][..], &[7], &[1, 2, 0], &[1, 1, 0, 0, 99], &[1, 1, 1, 1, 5, 9]] {
            assert!(decode_message(bad).is_err(), "{bad:?}");
        }
    }
}
