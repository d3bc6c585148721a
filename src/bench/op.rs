//! `testbed bench op`: one private op on secret-shared random inputs, timed, its rounds and
//! bytes counted, and checked against float64. The same job runs in a party process when a
//! session file names a `bench-op` job (`testbed party`).
//!
//! Inputs are uniform in [−1, 1] from a seeded non-cryptographic generator (test data only); x is
//! owned by party 0 and y by party 1. Each repetition is preceded by a barrier (setup traffic, not
//! counted) and timed on every party; a repetition's wall time runs from the last party's start to
//! the last party's end (`protocol::wall_of`), and the reported `wall_s` is the median over
//! repetitions. With a dealer and a warm-up, the dealer runs ahead and the same number of
//! online-only repetitions follows (`protocol::repeat`).

use super::funcs::Func;
use super::reference::{self, F64Tensor};
use crate::error::{Error, Result};
use crate::launch::TransportKind;
use crate::launch::report::{OpReport, ReportHead, assemble_report, errors};
use crate::protocol::{
    BilinearOp, Job, Protocol, ProtocolConfig, Repeat, Runs, SessionOptions, fixed_bilinear_many, fixed_square_many,
    reveal,
};
use crate::ring::{Conv1dParams, Conv2dParams, RingTensor, decode, encode, numel, shape_string};
use rand_core::{Rng, SeedableRng};

/// Ops that `bench op` knows: the linear-algebra primitives and every function of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Mul,
    Square,
    MatMul,
    Conv1d,
    Conv2d,
    Func(Func),
}

impl OpKind {
    /// All ops, by CLI name.
    pub const ALL: [(&'static str, OpKind); 6] = [
        ("add", OpKind::Add),
        ("mul", OpKind::Mul),
        ("square", OpKind::Square),
        ("matmul", OpKind::MatMul),
        ("conv1d", OpKind::Conv1d),
        ("conv2d", OpKind::Conv2d),
    ];

    /// Parses a CLI name.
    pub fn parse(name: &str) -> Result<Self> {
        if let Some(f) = Func::parse(name) {
            return Ok(OpKind::Func(f));
        }
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let mut names: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
                names.extend(Func::ALL.iter().map(|(n, _)| *n));
                Error::invalid("--op", format!("unknown op `{name}` (known: {})", names.join(", ")))
            })
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        if let OpKind::Func(f) = self {
            return f.name();
        }
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    fn arity(self) -> usize {
        match self {
            OpKind::Square => 1,
            OpKind::Func(f) => f.arity(),
            _ => 2,
        }
    }

    /// The interval inputs are drawn from.
    fn domain(self) -> (f64, f64) {
        match self {
            OpKind::Func(f) => f.domain(),
            _ => (-1.0, 1.0),
        }
    }
}

/// Convolution hyper-parameters from the command line (applied to both conv ops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvArgs {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for ConvArgs {
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

/// One op benchmark.
#[derive(Clone, Debug)]
pub struct OpSpec {
    pub op: OpKind,
    pub shapes: Vec<Vec<usize>>,
    pub conv: ConvArgs,
    pub reps: usize,
    /// Unmeasured repetitions before the measured ones (page faults, connection warm-up); the
    /// first records the dealer's plan, so that it runs ahead of the others.
    pub warmup: usize,
    /// Keep the dealer answering step by step (no running ahead, no online-only runs).
    pub on_demand: bool,
    /// Seed of the synthetic inputs (data side).
    pub seed: Option<u64>,
    pub transport: TransportKind,
    /// INSECURE: fixed share randomness (tests only); `None` draws from the OS.
    pub insecure_share_seed: Option<u64>,
}

impl OpSpec {
    /// Builds a spec from the plain fields a session file carries.
    pub fn from_parts(
        op: &str,
        shapes: Vec<Vec<usize>>,
        conv: [usize; 4],
        repeat: Repeat,
        seed: Option<u64>,
        transport: TransportKind,
    ) -> Result<Self> {
        let conv = ConvArgs {
            stride: conv[0],
            padding: conv[1],
            dilation: conv[2],
            groups: conv[3],
        };
        Ok(Self {
            op: OpKind::parse(op)?,
            shapes,
            conv,
            reps: repeat.reps,
            warmup: repeat.warmup,
            on_demand: repeat.on_demand,
            seed,
            transport,
            // A party process's share randomness comes from the session (`SessionOptions`).
            insecure_share_seed: None,
        })
    }

    /// How the repetitions run.
    pub fn repeat(&self) -> Repeat {
        Repeat {
            warmup: self.warmup,
            reps: self.reps,
            on_demand: self.on_demand,
        }
    }

    /// The bilinear op behind a product op.
    fn bilinear(&self) -> Option<BilinearOp> {
        let c = self.conv;
        match self.op {
            OpKind::Mul => Some(BilinearOp::Mul),
            OpKind::MatMul => Some(BilinearOp::MatMul),
            OpKind::Conv1d => Some(BilinearOp::Conv1d(Conv1dParams {
                stride: c.stride,
                padding: c.padding,
                dilation: c.dilation,
                groups: c.groups,
            })),
            OpKind::Conv2d => Some(BilinearOp::Conv2d(Conv2dParams {
                stride: [c.stride; 2],
                padding: [c.padding; 2],
                dilation: [c.dilation; 2],
                groups: c.groups,
            })),
            OpKind::Add | OpKind::Square | OpKind::Func(_) => None,
        }
    }

    /// Checks the shapes against the op before anything runs; returns the output shape.
    pub fn validate(&self) -> Result<Vec<usize>> {
        let name = self.op.name();
        if self.shapes.len() != self.op.arity() {
            return Err(Error::invalid(
                "--shape",
                format!(
                    "op {name} takes {} --shape argument(s), got {}",
                    self.op.arity(),
                    self.shapes.len()
                ),
            ));
        }
        if self.reps == 0 {
            return Err(Error::invalid("--reps", "needs at least one repetition"));
        }
        let (x, y) = (&self.shapes[0], self.shapes.get(1));
        if let OpKind::Func(f) = self.op {
            return f.output_shape(&self.shapes);
        }
        match (self.op, self.bilinear()) {
            (OpKind::Square, _) => Ok(x.clone()),
            (OpKind::Add, _) => {
                if Some(x) != y {
                    return Err(Error::shape(
                        "add",
                        format!("shapes {} and {} differ", shape_string(x), shape_string(y.unwrap())),
                    ));
                }
                Ok(x.clone())
            }
            (_, Some(op)) => {
                let out = op.output_shape(x, y.unwrap())?;
                if op == BilinearOp::MatMul && (x.len() != 2 || y.unwrap().len() != 2) {
                    return Err(Error::shape("matmul", "bench op takes 2-D matrices"));
                }
                Ok(out)
            }
            _ => unreachable!("every product op has a bilinear form"),
        }
    }
}

/// What each party brings back from an op benchmark.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PartyRun {
    pub output: Vec<f64>,
    /// The measured runs (dealer included).
    pub total: Runs,
    /// The online-only runs, when the dealer ran ahead.
    pub online: Option<Runs>,
    pub ahead: bool,
}

pub struct OpJob<'a> {
    pub spec: &'a OpSpec,
    pub inputs: Vec<RingTensor>,
}

impl Job for OpJob<'_> {
    type Output = PartyRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<PartyRun> {
        let mut shares = Vec::new();
        for (k, (input, shape)) in self.inputs.iter().zip(&self.spec.shapes).enumerate() {
            let owner = k % p.parties();
            let mine = (p.id() == owner).then_some(input);
            shares.push(p.share(owner, mine, shape)?);
        }
        let timed = self.spec.repeat().run(p, |p| apply(p, self.spec, &shares))?;
        let z = reveal(p, &timed.last)?;
        Ok(PartyRun {
            output: decode(&z, p.frac_bits()),
            total: timed.total,
            online: timed.online,
            ahead: timed.ahead,
        })
    }
}

/// The op itself, on shares.
fn apply<P: Protocol>(p: &mut P, spec: &OpSpec, s: &[P::Share]) -> Result<P::Share> {
    let one = |v: Vec<P::Share>| v.into_iter().next().expect("one result");
    if let OpKind::Func(f) = spec.op {
        let refs: Vec<&P::Share> = s.iter().collect();
        return f.apply(p, &refs);
    }
    match spec.op {
        OpKind::Add => p.add(&s[0], &s[1]),
        OpKind::Square => Ok(one(fixed_square_many(p, &[&s[0]])?)),
        _ => {
            let op = spec.bilinear().expect("product op");
            Ok(one(fixed_bilinear_many(p, &[(&s[0], &s[1], op)])?))
        }
    }
}

/// The float64 result of the op on the same real inputs.
pub fn plaintext(spec: &OpSpec, xs: &[F64Tensor]) -> Vec<f64> {
    let zip = |f: fn(f64, f64) -> f64| xs[0].data.iter().zip(&xs[1].data).map(|(a, b)| f(*a, *b)).collect();
    if let OpKind::Func(f) = spec.op {
        return f.reference(xs);
    }
    match (spec.op, spec.bilinear()) {
        (OpKind::Add, _) => zip(|a, b| a + b),
        (OpKind::Mul, _) => zip(|a, b| a * b),
        (OpKind::Square, _) => xs[0].data.iter().map(|a| a * a).collect(),
        (OpKind::MatMul, _) => reference::matmul(&xs[0], &xs[1]).data,
        (OpKind::Conv1d, Some(BilinearOp::Conv1d(p))) => reference::conv1d(&xs[0], &xs[1], &p).data,
        (OpKind::Conv2d, Some(BilinearOp::Conv2d(p))) => reference::conv2d(&xs[0], &xs[1], &p).data,
        _ => unreachable!("ops and bilinear forms correspond"),
    }
}

/// Uniform reals in [lo, hi] (test data; not for anything secret).
pub fn random_inputs(shapes: &[Vec<usize>], (lo, hi): (f64, f64), seed: u64) -> Vec<F64Tensor> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    shapes
        .iter()
        .map(|s| F64Tensor {
            shape: s.clone(),
            data: (0..numel(s))
                .map(|_| lo + (hi - lo) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64))
                .collect(),
        })
        .collect()
}

/// Runs an op benchmark on protocol `cfg`.
pub fn run_op(cfg: &ProtocolConfig, spec: &OpSpec) -> Result<OpReport> {
    run_op_with(cfg, spec, true)
}

/// The real inputs (quantised to the encoding) and their ring encodings for an op benchmark,
/// the same in every process for the same seed.
pub fn make_inputs(cfg: &ProtocolConfig, spec: &OpSpec) -> Result<(Vec<F64Tensor>, Vec<RingTensor>)> {
    let f = cfg.precision_bits;
    let mut reals = random_inputs(&spec.shapes, spec.op.domain(), spec.seed.unwrap_or(0x5eed));
    // Quantise first, so comparisons of the reference see exactly the encoded values; equality
    // tests get equal operands on every other element.
    for t in &mut reals {
        t.data = crate::ring::decode(&encode(&t.data, &t.shape, f)?, f);
    }
    if let (OpKind::Func(Func::Eq | Func::Ne), [x, y]) = (spec.op, &mut reals[..]) {
        for i in (0..x.data.len()).step_by(2) {
            y.data[i] = x.data[i];
        }
    }
    let inputs = reals
        .iter()
        .map(|t| encode(&t.data, &t.shape, f))
        .collect::<Result<Vec<_>>>()?;
    Ok((reals, inputs))
}

/// [`run_op`] with TLS on or off for the TCP transport.
pub fn run_op_with(cfg: &ProtocolConfig, spec: &OpSpec, tls: bool) -> Result<OpReport> {
    run_op_delayed(cfg, spec, tls, None)
}

/// [`run_op_with`] on a simulator whose deliveries are delayed by `sim_latency` (one way).
pub fn run_op_delayed(
    cfg: &ProtocolConfig,
    spec: &OpSpec,
    tls: bool,
    sim_latency: Option<std::time::Duration>,
) -> Result<OpReport> {
    spec.validate()?;
    let f = cfg.precision_bits;
    let (reals, inputs) = make_inputs(cfg, spec)?;
    let job = OpJob { spec, inputs };
    let opts = SessionOptions {
        // The benchmark's seed fixes its synthetic inputs; share randomness stays the OS's unless
        // the spec asks for an insecure fixed seed (tests).
        insecure_share_seed: spec.insecure_share_seed,
        sim_latency,
        ..Default::default()
    };
    let c = spec.conv;
    let job_spec = crate::launch::JobSpec::BenchOp {
        op: spec.op.name().to_string(),
        shapes: spec.shapes.clone(),
        conv: [c.stride, c.padding, c.dilation, c.groups],
        reps: spec.reps,
        warmup: spec.warmup,
        on_demand: spec.on_demand,
        input_seed: spec.seed.unwrap_or(0x5eed),
    };
    let outcome = crate::launch::run_job(cfg, &opts, &job, &job_spec, spec.transport, tls, &[])?;

    let want = plaintext(spec, &reals);
    let got = &outcome.parties[0].output.output;
    let (max_abs_err, max_rel_err) = errors(got, &want);
    let total: Vec<&Runs> = outcome.parties.iter().map(|p| &p.output.total).collect();
    let online: Option<Vec<&Runs>> = outcome.parties.iter().map(|p| p.output.online.as_ref()).collect();
    let shapes = spec.shapes.iter().map(|s| shape_string(s)).collect();
    let _ = f;
    Ok(assemble_report(
        cfg,
        ReportHead {
            name: spec.op.name(),
            transport: spec.transport,
            shapes,
            reps: spec.reps,
            warmup: spec.warmup,
        },
        &total,
        online.as_deref(),
        &outcome,
        (max_abs_err, max_rel_err),
    ))
}

/// Parses `1x3x224x224` (or `1000000`) into dimensions.
pub fn parse_shape(s: &str) -> Result<Vec<usize>> {
    let dims: std::result::Result<Vec<usize>, _> = s.split('x').map(str::parse::<usize>).collect();
    match dims {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => Ok(d),
        _ => Err(Error::invalid(
            "--shape",
            format!("`{s}` is not a shape like 1000000 or 1x3x224x224"),
        )),
    }
}
