//! One audit trial: a fresh simulated session (fresh OS randomness) that runs the op once on the
//! inputs of one setting, with every endpoint's view recorded.
//!
//! The secret inputs come from outside the parties, as from a client: the harness splits each
//! input tensor into uniformly random additive pieces, one per party, and each party inputs its
//! piece; the parties add the sharings. So no party knows an input, and every piece on its own is
//! uniform whatever the setting. The op's output is never revealed: a party's view (see
//! [`View`]) ends before any reveal, so what it may legitimately learn from the output is not in it.

use crate::error::{Error, Result};
use crate::func;
use crate::net::sim;
use crate::protocol::prg::{self, Prg};
use crate::protocol::session::{EndpointResult, endpoints, run_endpoint};
use crate::protocol::{BilinearOp, Job, Protocol, ProtocolConfig, SessionOptions, fixed_bilinear_many};
use crate::ring::{RingTensor, encode_value, numel};
use rand_core::{Rng, SeedableRng};

/// The ops the audit runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOp {
    /// x ⊙ y for x, y of shape [S], fixed point (product and truncation).
    Mul,
    /// x · y for x of shape [4, S] and y of shape [S, 4], fixed point.
    MatMul,
    /// x / 2^f for x of shape [S] at 2f fractional bits (a product's scale).
    Truncation,
    /// ReLU of x of shape [S].
    Relu,
    /// The maximum of x of shape [S].
    Max,
    /// Softmax of x of shape [S].
    Softmax,
    /// ReLU(x / 2^f) for x of shape [S] at 2f fractional bits (`Protocol::trunc_relu_many`: the
    /// fused gate where a family has one).
    TruncRelu,
}

impl AuditOp {
    /// Every op, by CLI name.
    pub const ALL: [(&'static str, AuditOp); 7] = [
        ("mul", AuditOp::Mul),
        ("matmul", AuditOp::MatMul),
        ("truncation", AuditOp::Truncation),
        ("relu", AuditOp::Relu),
        ("max", AuditOp::Max),
        ("softmax", AuditOp::Softmax),
        ("trunc-relu", AuditOp::TruncRelu),
    ];

    /// Parses a CLI name.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| *o)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                Error::invalid("--op", format!("unknown op `{name}` (known: {})", names.join(", ")))
            })
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, o)| *o == self).map_or("?", |(n, _)| n)
    }

    /// The secret inputs' shapes at size `s`.
    pub fn input_shapes(self, s: usize) -> Vec<Vec<usize>> {
        match self {
            AuditOp::Mul => vec![vec![s], vec![s]],
            AuditOp::MatMul => vec![vec![4, s], vec![s, 4]],
            _ => vec![vec![s]],
        }
    }

    /// Real values inputs are drawn from, and their fractional bits (f, or 2f for truncation).
    fn domain(self, frac: u32) -> (f64, u32) {
        match self {
            AuditOp::Softmax => (2.0, frac),
            AuditOp::Truncation | AuditOp::TruncRelu => (1.0, 2 * frac),
            _ => (1.0, frac),
        }
    }

    /// Runs the op on shared inputs; the output share is dropped, never revealed.
    fn run<P: Protocol>(self, p: &mut P, xs: &[P::Share]) -> Result<()> {
        match self {
            AuditOp::Mul | AuditOp::MatMul => {
                let op = if self == AuditOp::Mul {
                    BilinearOp::Mul
                } else {
                    BilinearOp::MatMul
                };
                fixed_bilinear_many(p, &[(&xs[0], &xs[1], op)])?;
            }
            AuditOp::Truncation => {
                let f = p.frac_bits();
                p.truncate_many(vec![xs[0].clone()], f)?;
            }
            AuditOp::Relu => {
                func::compare::relu(p, &xs[0])?;
            }
            AuditOp::Max => {
                func::reduce::max_values(p, &xs[0], 0)?;
            }
            AuditOp::Softmax => {
                func::reduce::softmax(p, &xs[0], 0)?;
            }
            AuditOp::TruncRelu => {
                let f = p.frac_bits();
                p.trunc_relu_many(vec![xs[0].clone()], f)?;
            }
        }
        Ok(())
    }
}

/// The two fixed settings of the secret inputs (A, then B), encoded. Drawn once from a fixed seed,
/// then adjusted so that a sum of input elements differs in its low bit between the settings:
/// every element of a one-input op differs in parity; for two inputs, x differs at even and y at
/// odd positions, so any fixed combination ±x ± y differs somewhere. About half the elements
/// differ in sign.
pub fn settings(op: AuditOp, s: usize, frac: u32) -> [Vec<RingTensor>; 2] {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0xA0D1_7000 + s as u64);
    let (range, bits) = op.domain(frac);
    let shapes = op.input_shapes(s);
    let two = shapes.len() == 2;
    let mut a = Vec::new();
    let mut b = Vec::new();
    for (k, shape) in shapes.iter().enumerate() {
        let n = numel(shape);
        let mut draw = || {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            encode_value((2.0 * u - 1.0) * range, bits)
        };
        let va: Vec<u64> = (0..n).map(|_| draw()).collect();
        let mut vb: Vec<u64> = (0..n).map(|_| draw()).collect();
        for (e, (x, y)) in va.iter().zip(vb.iter_mut()).enumerate() {
            let differ = !two || (e + k) % 2 == 0;
            if ((x ^ *y) & 1 == 1) != differ {
                *y ^= 1;
            }
        }
        a.push(RingTensor::from_parts(shape.clone(), va));
        b.push(RingTensor::from_parts(shape.clone(), vb));
    }
    [a, b]
}

/// Where a slot of a view comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The party's own piece of secret input k.
    Input(usize),
    /// A fill of one of its PRGs.
    Draw,
    /// A message consumed from this endpoint.
    From(usize),
}

/// One endpoint's view in one trial: records (input pieces, then PRG fills in order, then consumed
/// messages in order), each a run of words.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub records: Vec<(Source, Vec<u64>)>,
}

impl View {
    /// The record layout (sources and lengths), which must be the same in every trial.
    pub fn layout(&self) -> Vec<(Source, usize)> {
        self.records.iter().map(|(s, w)| (*s, w.len())).collect()
    }

    /// The slots, flattened in record order.
    pub fn words(&self) -> impl Iterator<Item = u64> + '_ {
        self.records.iter().flat_map(|(_, w)| w.iter().copied())
    }
}

/// The job every party runs: share its pieces, add the sharings, run the op.
struct TrialJob<'a> {
    op: AuditOp,
    shapes: &'a [Vec<usize>],
    /// pieces[party][input].
    pieces: &'a [Vec<RingTensor>],
}

impl Job for TrialJob<'_> {
    type Output = ();

    fn run<P: Protocol>(&self, p: &mut P) -> Result<()> {
        let id = p.id();
        let mut inputs = Vec::with_capacity(self.shapes.len());
        for (k, shape) in self.shapes.iter().enumerate() {
            let mut acc: Option<P::Share> = None;
            for owner in 0..p.parties() {
                let mine = (owner == id).then(|| &self.pieces[id][k]);
                let s = p.share(owner, mine, shape)?;
                acc = Some(match acc {
                    None => s,
                    Some(a) => p.add(&a, &s)?,
                });
            }
            inputs.push(acc.expect("at least one party"));
        }
        self.op.run(p, &inputs)
    }
}

/// Splits each input into one uniformly random additive piece per party (from `rng`).
fn split(inputs: &[RingTensor], parties: usize, rng: &mut Prg) -> Result<Vec<Vec<RingTensor>>> {
    let mut pieces: Vec<Vec<RingTensor>> = vec![Vec::new(); parties];
    for x in inputs {
        let mut last = x.clone();
        for piece in pieces.iter_mut().take(parties - 1) {
            let r = rng.tensor(x.shape());
            last = last.sub(&r)?;
            piece.push(r);
        }
        pieces[parties - 1].push(last);
    }
    Ok(pieces)
}

/// Runs one trial of `op` on `inputs` (one setting) and returns every endpoint's view, parties
/// first, then the dealer where there is one.
pub fn run_trial(cfg: &ProtocolConfig, op: AuditOp, inputs: &[RingTensor], rng: &mut Prg) -> Result<Vec<View>> {
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|x| x.shape().to_vec()).collect();
    let pieces = split(inputs, cfg.parties, rng)?;
    let job = TrialJob {
        op,
        shapes: &shapes,
        pieces: &pieces,
    };
    let opts = SessionOptions::default();
    let mut transports = sim::network_with_latency(endpoints(cfg), cfg.parties, opts.timeout, None);
    let recorders: Vec<sim::Recorder> = transports.iter_mut().map(|t| t.record()).collect();
    let results: Vec<Result<(Vec<Vec<u64>>, bool)>> = std::thread::scope(|s| {
        let handles: Vec<_> = transports
            .into_iter()
            .map(|t| {
                let (job, opts) = (&job, &opts);
                s.spawn(move || {
                    prg::record_draws();
                    let r = run_endpoint(cfg, Box::new(t), opts, job);
                    let draws = prg::take_draws();
                    r.map(|e| (draws, matches!(e, EndpointResult::Party(_))))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Protocol {
                        party: 0,
                        op: "audit",
                        detail: "an endpoint's thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut views = Vec::with_capacity(results.len());
    for (e, (r, rec)) in results.into_iter().zip(recorders).enumerate() {
        let (draws, is_party) = r?;
        let mut records = Vec::new();
        if is_party {
            for (k, piece) in pieces[e].iter().enumerate() {
                records.push((Source::Input(k), piece.data().to_vec()));
            }
        }
        records.extend(draws.into_iter().map(|d| (Source::Draw, d)));
        records.extend(
            rec.messages()
                .into_iter()
                .map(|(from, m)| (Source::From(from), m.to_vec())),
        );
        views.push(View { records });
    }
    Ok(views)
}
