//! Benchmarks of single private operations (`testbed bench op`): run one op on secret-shared
//! random inputs, time it, count its rounds and bytes, and check it against float64.
//!
//! Inputs are uniform in [−1, 1] from a seeded non-cryptographic generator (test data only); x is
//! owned by party 0 and y by party 1. Each repetition is preceded by a barrier (setup traffic, not
//! counted) and timed on every party; a repetition's wall time runs from the last party's start to
//! the last party's end (`protocol::wall_of`), and the reported `wall_s` is the median over
//! repetitions.

pub mod funcs;
pub mod model;
pub mod reference;

use crate::error::{Error, Result};
pub use crate::launch::TransportKind;
use crate::net::MeterReport;
use crate::protocol::{
    BilinearOp, DealerKind, Job, Protocol, ProtocolConfig, SessionOptions, Span, fixed_bilinear_many,
    fixed_square_many, reveal, wall_of,
};
use crate::ring::{Conv1dParams, Conv2dParams, RingTensor, decode, encode, numel, shape_string};
use funcs::Func;
use rand_core::{Rng, SeedableRng};
use reference::F64Tensor;
use serde::Serialize;

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
        reps: usize,
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
            reps,
            seed,
            transport,
            // A party process's share randomness comes from the session (`SessionOptions`).
            insecure_share_seed: None,
        })
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

/// The result of an op benchmark: the `--json` line of the CLI contract.
#[derive(Clone, Debug, Serialize)]
pub struct OpReport {
    pub op: String,
    pub protocol: String,
    pub transport: String,
    pub parties: usize,
    pub shapes: Vec<String>,
    pub precision_bits: u32,
    pub reps: usize,
    /// Median over repetitions of the slowest party's time for the op.
    pub wall_s: f64,
    /// Every repetition's wall time.
    pub wall_s_reps: Vec<f64>,
    /// Rounds on the critical path: the longest chain of dependent messages of one repetition,
    /// dealer hops included (the depth of a Lamport clock; see `net::meter`).
    pub rounds: u64,
    /// The same chain counting only hops between computing parties (what CrypTen counts).
    pub rounds_between_parties: u64,
    /// Each party's own send-then-wait online rounds (not the critical path).
    pub rounds_per_party: Vec<u64>,
    /// Online payload bytes sent by each party for one op.
    pub bytes_sent_per_party: Vec<u64>,
    pub bytes_online_total: u64,
    /// Dealer-to-party payload for one op.
    pub bytes_offline_total: u64,
    /// Dealer rounds for one op.
    pub offline_rounds: u64,
    /// Requests to the dealer (descriptors, not payload) for one op.
    pub bytes_control_total: u64,
    /// Seed exchange and barriers over the whole session.
    pub bytes_setup_total: u64,
    /// Transport framing bytes over the whole session (0 in the simulator).
    pub framing_bytes_total: u64,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    /// Each party's traffic for the first repetition, with its round log (for network cost
    /// models; not part of the `--json` line).
    #[serde(skip)]
    pub meters: Vec<MeterReport>,
    /// Model benchmarks with private weights: the one-time preparation of the weights (per
    /// session, before the timed inferences; reported apart like the sharing of the weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_setup: Option<WeightSetup>,
}

/// The one-time preparation of a private model's weights (a Beaver family opens each product
/// weight's mask once).
#[derive(Clone, Debug, Serialize)]
pub struct WeightSetup {
    /// Weight uses prepared.
    pub weights: usize,
    /// The slowest party's time.
    pub wall_s: f64,
    /// Rounds on the critical path.
    pub rounds: u64,
    /// Payload bytes each party sends.
    pub bytes_sent_per_party: Vec<u64>,
}

/// What each party brings back from an op benchmark.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct PartyRun {
    output: Vec<f64>,
    spans: Vec<Span>,
    per_rep: Vec<MeterReport>,
}

pub(crate) struct OpJob<'a> {
    pub(crate) spec: &'a OpSpec,
    pub(crate) inputs: Vec<RingTensor>,
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
        let mut spans = Vec::new();
        let mut per_rep = Vec::new();
        let mut out = None;
        for _ in 0..self.spec.reps {
            p.barrier()?;
            let before = p.meter();
            let span = Span::start_now();
            out = Some(apply(p, self.spec, &shares)?);
            spans.push(span.end_now());
            per_rep.push(p.meter().since(&before));
        }
        let z = reveal(p, &out.expect("at least one repetition"))?;
        Ok(PartyRun {
            output: decode(&z, p.frac_bits()),
            spans,
            per_rep,
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
fn plaintext(spec: &OpSpec, xs: &[F64Tensor]) -> Vec<f64> {
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
pub(crate) fn make_inputs(cfg: &ProtocolConfig, spec: &OpSpec) -> Result<(Vec<F64Tensor>, Vec<RingTensor>)> {
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
        input_seed: spec.seed.unwrap_or(0x5eed),
    };
    let outcome = crate::launch::run_job(cfg, &opts, &job, &job_spec, spec.transport, tls, &[])?;

    let want = plaintext(spec, &reals);
    let got = &outcome.parties[0].output.output;
    let (max_abs_err, max_rel_err) = reference::errors(got, &want);
    let spans: Vec<&[Span]> = outcome.parties.iter().map(|p| p.output.spans.as_slice()).collect();
    let first: Vec<&MeterReport> = outcome.parties.iter().map(|p| &p.output.per_rep[0]).collect();
    let shapes = spec.shapes.iter().map(|s| shape_string(s)).collect();
    let _ = f;
    Ok(assemble_report(
        cfg,
        ReportHead {
            name: spec.op.name(),
            transport: spec.transport,
            shapes,
            reps: spec.reps,
        },
        &spans,
        &first,
        &outcome,
        (max_abs_err, max_rel_err),
    ))
}

/// What a report says about the run itself.
pub(crate) struct ReportHead<'a> {
    pub name: &'a str,
    pub transport: TransportKind,
    pub shapes: Vec<String>,
    pub reps: usize,
}

/// Builds the `--json` report from a session's outcome: per-party time spans (each repetition's
/// wall time from the last start to the last end, median over repetitions), the first repetition's meter of each party, the dealer's
/// offline traffic per repetition, and setup/framing over the session.
pub(crate) fn assemble_report<T>(
    cfg: &ProtocolConfig,
    head: ReportHead<'_>,
    spans: &[&[Span]],
    first: &[&MeterReport],
    outcome: &crate::protocol::Outcome<T>,
    (max_abs_err, max_rel_err): (f64, f64),
) -> OpReport {
    let reps = head.reps;
    let mut wall: Vec<f64> = (0..reps).map(|r| wall_of(spans.iter().map(|s| &s[r]))).collect();
    let wall_s_reps = wall.clone();
    wall.sort_by(f64::total_cmp);
    let rounds_per_party: Vec<u64> = first.iter().map(|m| m.rounds_online).collect();
    let path = crate::net::critical_path(first.iter().copied());
    let bytes_sent_per_party: Vec<u64> = first.iter().map(|m| m.online()).collect();
    let (offline, offline_rounds) = match (&outcome.dealer, cfg.dealer) {
        (Some(d), DealerKind::Ttp) => (d.offline() / reps as u64, d.rounds_offline / reps as u64),
        _ => (0, 0),
    };
    let all = outcome.parties.iter().map(|p| &p.report).chain(outcome.dealer.iter());
    let (setup, framing) = all.fold((0, 0), |(s, fr), m| (s + m.setup(), fr + m.framing_bytes));
    OpReport {
        op: head.name.to_string(),
        protocol: cfg.name.clone(),
        transport: head.transport.name().into(),
        parties: cfg.parties,
        shapes: head.shapes,
        precision_bits: cfg.precision_bits,
        reps,
        wall_s: wall[reps / 2],
        wall_s_reps,
        rounds: path.critical,
        rounds_between_parties: path.between_parties,
        rounds_per_party,
        bytes_online_total: bytes_sent_per_party.iter().sum(),
        bytes_sent_per_party,
        bytes_offline_total: offline,
        offline_rounds,
        bytes_control_total: first.iter().map(|m| m.control()).sum(),
        bytes_setup_total: setup,
        framing_bytes_total: framing,
        max_abs_err,
        max_rel_err,
        weight_setup: None,
        meters: first.iter().map(|m| (*m).clone()).collect(),
    }
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

/// One row of the function accuracy/cost table.
#[derive(Clone, Debug, Serialize)]
pub struct FunctionRow {
    pub function: String,
    pub domain: String,
    pub shape: String,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    /// The critical path (dealer hops included) and the rounds between parties.
    pub rounds: u64,
    pub rounds_between_parties: u64,
    pub bytes_per_element: f64,
    pub offline_bytes_per_element: f64,
    pub wall_s: f64,
    /// Outputs that failed outright ([`funcs::is_failure`]) over a separate, larger evaluation.
    pub failures: funcs::Failures,
}

/// The shape each function is tabulated on, for about `n` elements.
fn table_shape(f: Func, n: usize) -> Vec<usize> {
    match f {
        Func::Max | Func::Argmax | Func::Softmax | Func::LogSoftmax => vec![n.div_ceil(10), 10],
        Func::LayerNorm => vec![n.div_ceil(64), 64],
        Func::MaxPool2d => {
            let side = 2 * (((n as f64).sqrt() as usize) / 2).max(1);
            vec![1, 1, side, side]
        }
        _ => vec![n],
    }
}

/// Measures every catalogue function on about `n` elements of its domain: errors against float64,
/// rounds, bytes per element (sent per party) and offline bytes per element; then counts failed
/// outputs over `failure_n` more elements (rare truncation wraps need ~10^6 to show).
pub fn function_table(cfg: &ProtocolConfig, n: usize, failure_n: usize, seed: u64) -> Result<Vec<FunctionRow>> {
    let mut rows = Vec::new();
    for &(_, f) in Func::ALL.iter() {
        // Other seeds than the table's run, so the two samples are independent.
        let failures = funcs::count_failures(cfg, f, failure_n, funcs::FAILURE_CHUNK, seed.wrapping_add(1_000))?;
        let shape = table_shape(f, n);
        let spec = OpSpec {
            op: OpKind::Func(f),
            shapes: vec![shape.clone(); f.arity()],
            conv: ConvArgs::default(),
            reps: 1,
            seed: Some(seed),
            transport: TransportKind::Sim,
            insecure_share_seed: None,
        };
        let r = run_op(cfg, &spec)?;
        let elems = numel(&shape) as f64;
        let (lo, hi) = f.domain();
        rows.push(FunctionRow {
            function: f.name().to_string(),
            domain: format!("[{lo}, {hi}]"),
            shape: shape_string(&shape),
            max_abs_err: r.max_abs_err,
            max_rel_err: r.max_rel_err,
            rounds: r.rounds,
            rounds_between_parties: r.rounds_between_parties,
            bytes_per_element: r.bytes_sent_per_party.iter().copied().max().unwrap_or(0) as f64 / elems,
            offline_bytes_per_element: r.bytes_offline_total as f64 / elems,
            wall_s: r.wall_s,
            failures,
        });
    }
    Ok(rows)
}

/// Writes the function table as `functions.md` and `functions.csv` in `dir` (atomically).
pub fn write_function_table(rows: &[FunctionRow], protocol: &str, dir: &std::path::Path) -> Result<()> {
    let io = |path: &std::path::Path, e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let inputs = rows.first().map_or(0, |r| r.failures.inputs);
    let mut md = format!(
        "# Private functions on {protocol}\n\nErrors against float64 on each function's domain; rounds are the critical path (dealer hops \
         included) and, in brackets, the rounds between the parties; bytes are sent per party per element. \
         Failures: outputs off by more than 1.0 and more than the true value's magnitude (a wrapped truncation, not an \
         approximation's error), counted over a separate evaluation of about {inputs} input elements per function \
         (failed / outputs checked; worst error of a failed output).\n\n\
         | function | domain | shape | max abs err | max rel err | rounds | bytes/elem | offline bytes/elem | failures | worst failure |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    let mut csv = String::from(
        "function,domain,shape,max_abs_err,max_rel_err,rounds,rounds_between_parties,bytes_per_element,offline_bytes_per_element,wall_s,\
         failure_inputs,failure_outputs,failures,worst_failure_err\n",
    );
    for r in rows {
        let fl = &r.failures;
        md.push_str(&format!(
            "| {} | {} | {} | {:.2e} | {:.2e} | {} ({}) | {:.2} | {:.2} | {} / {} | {} |\n",
            r.function,
            r.domain,
            r.shape,
            r.max_abs_err,
            r.max_rel_err,
            r.rounds,
            r.rounds_between_parties,
            r.bytes_per_element,
            r.offline_bytes_per_element,
            fl.failed,
            fl.outputs,
            if fl.failed > 0 {
                format!("{:.2e}", fl.worst)
            } else {
                "-".into()
            }
        ));
        csv.push_str(&format!(
            "{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.function,
            r.domain,
            r.shape,
            r.max_abs_err,
            r.max_rel_err,
            r.rounds,
            r.rounds_between_parties,
            r.bytes_per_element,
            r.offline_bytes_per_element,
            r.wall_s,
            fl.inputs,
            fl.outputs,
            fl.failed,
            fl.worst
        ));
    }
    for (name, text) in [("functions.md", md), ("functions.csv", csv)] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// A random input for a model: token ids where the model's input is integer, else uniform reals
/// in [−1, 1] (test data).
pub fn random_model_input(
    graph: &crate::nn::graph::Graph,
    shape: &[usize],
    seed: u64,
) -> Result<crate::nn::infer::Input> {
    use crate::nn::graph::DType;
    let int = graph.inputs.first().is_some_and(|i| i.dtype == DType::I64);
    let t = random_inputs(&[shape.to_vec()], (-1.0, 1.0), seed).remove(0);
    if int {
        let vocab = crate::nn::exec::token_inputs(graph)
            .values()
            .copied()
            .min()
            .unwrap_or(2) as i64;
        let data = t
            .data
            .iter()
            .map(|&v| (((v + 1.0) / 2.0 * vocab as f64) as i64).clamp(0, vocab - 1))
            .collect();
        return Ok(crate::nn::infer::Input::Ids {
            shape: shape.to_vec(),
            data,
        });
    }
    let data = t.data.iter().map(|&v| v as f32).collect();
    Ok(crate::nn::infer::Input::F32(crate::nn::tensor::F32Tensor::from_vec(
        shape, data,
    )?))
}
