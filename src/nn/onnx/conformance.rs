//! ONNX's own operator tests (the `node/` cases of Debian's `libonnx-testdata`, onnx 1.12) run
//! through the importer, the plaintext backend and private inference.
//!
//! A case is a folder with `model.onnx` and `test_data_set_*/{input,output}_K.pb` (serialized
//! `TensorProto`s). Each case gets one [`Status`]:
//!
//! - skipped, with the reason, when an op is outside [`supported_ops`], the op set is not the
//!   default domain or the case's opset is not covered (below). Cases below opset 13 run when
//!   every op they hold has the same definition there as at opset 13 (ONNX stamps each case with
//!   the opset of its op's newest definition, so e.g. Conv cases are opset 11 and are opset-13
//!   Conv); otherwise they are skipped.
//! - "supported op, unsupported variant" when every op is supported but the importer or a backend
//!   rejects an attribute or input form with an error that says so ("... is not supported").
//! - pass or fail: the plaintext backend, then private inference ([`InferJob`], the job of
//!   `testbed infer`) on each requested protocol, against the expected outputs within
//!   [`Tolerance`].
//!
//! Who owns what, as in `testbed infer`: every real-valued graph input is private to the data
//! owner. Integer and boolean inputs, and real inputs in a parameter slot (a shape, pads, a clip
//! bound, an exponent: see [`param_slot`]), are frozen into the model as initializers first, as a
//! PyTorch export would have them: they decide output shapes or are layer hyper-parameters, so they
//! are public. A case none of whose inputs stays private still runs, but it checks only the
//! plaintext evaluator of public values; it is reported as such.
//!
//! Integer outputs (ArgMax/ArgMin indices, comparison results) are private fixed-point shares of
//! the integer (exact: see `nn::private_ops`); they are revealed, decoded and compared with the
//! int64 expected values as reals, so the private tolerance (below 0.5) admits no wrong index.
//!
//! Private results are compared with the tolerance of the least accurate private function in the
//! case (the figures pinned by `tests/approx.rs` and `tests/functions.rs`), and only on the
//! functions' domains: when a private nonlinear function gets an input outside the domain its
//! accuracy is stated for (e.g. the logarithm of values below 0.1), the private run is reported as
//! "outside the private domain" instead of being compared.

use super::import::{default_opset, supported_ops};
use super::proto::{OperatorSetIdProto, TensorProto, data_type as dt};
use super::{decode_model, parse_onnx};
use crate::error::{Error, Result};
use crate::nn::graph::{Const, Graph, Op, ReduceKind};
use crate::nn::infer::{InferJob, Input, WeightPrivacy, run_plain_all};
use crate::nn::passes;
use crate::nn::tensor::F32Tensor;
use crate::protocol::{ProtocolConfig, SessionOptions, simulate};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads a serialized `TensorProto` (`input_K.pb`, `output_K.pb`): its name and value.
pub fn read_tensor(path: &Path) -> Result<(String, Const)> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    let t = TensorProto::decode(bytes.as_slice())
        .map_err(|e| Error::config(&file, format!("not a serialized TensorProto ({e})")))?;
    let c = super::import::tensor_to_const(&t).map_err(|d| Error::config(&file, d))?;
    Ok((t.name, c))
}

/// The case folders under `dir` (each holding a `model.onnx`), sorted by name.
pub fn list_cases(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |e| Error::Io {
        path: dir.display().to_string(),
        source: e,
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let p = e.map_err(io)?.path();
        if p.join("model.onnx").is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Plaintext and every private run match the expected outputs.
    Pass,
    /// Plaintext matches; the private runs were not compared because a private function got inputs
    /// outside its stated domain (the detail names the op and the range).
    PassPlainOutsideDomain(String),
    /// Wrong result or an unexpected error.
    Fail(String),
    /// Every op is supported, but a variant (attribute, input form) is rejected with a clear error.
    Variant(String),
    /// Not run: the reason.
    Skipped(String),
}

impl Status {
    /// A short label for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::PassPlainOutsideDomain(_) => "pass (plaintext; private outside domain)",
            Status::Fail(_) => "fail",
            Status::Variant(_) => "unsupported variant",
            Status::Skipped(_) => "skipped",
        }
    }

    /// The detail message, if any.
    pub fn detail(&self) -> &str {
        match self {
            Status::Pass => "",
            Status::PassPlainOutsideDomain(d) | Status::Fail(d) | Status::Variant(d) | Status::Skipped(d) => d,
        }
    }
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The folder name, e.g. `test_add_bcast`.
    pub name: String,
    /// The op types of its nodes (sorted, unique).
    pub ops: Vec<String>,
    pub status: Status,
    /// Whether some input stayed private (false: the case only exercised public evaluation).
    pub private_inputs: bool,
    /// Worst plaintext and private errors against the expected outputs, as a fraction of the
    /// tolerance (≤ 1 passes); `None` when not run.
    pub plain_margin: Option<f64>,
    pub private_margin: Option<f64>,
}

/// An absolute plus relative tolerance: |got − want| ≤ abs + rel·|want|.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

impl Tolerance {
    /// The plaintext (float32) tolerance.
    pub const PLAIN: Tolerance = Tolerance { abs: 1e-4, rel: 1e-4 };
    /// Private linear algebra and data movement: a few units in the last place of 16-bit fixed
    /// point on the magnitudes of the test data, plus the fixed-point encoding of the expected value.
    pub const PRIVATE_LINEAR: Tolerance = Tolerance { abs: 2e-3, rel: 1e-3 };

    fn max(self, o: Tolerance) -> Tolerance {
        Tolerance {
            abs: self.abs.max(o.abs),
            rel: self.rel.max(o.rel),
        }
    }

    /// The worst |got − want| / (abs + rel·|want|) (≤ 1 passes); NaN/infinite mismatches count as
    /// infinitely bad unless both are the same non-finite value.
    fn margin(&self, got: &[f32], want: &[f32]) -> f64 {
        let mut worst: f64 = 0.0;
        for (&g, &w) in got.iter().zip(want) {
            let (g, w) = (g as f64, w as f64);
            if !w.is_finite() || !g.is_finite() {
                if !(g == w || (g.is_nan() && w.is_nan())) {
                    return f64::INFINITY;
                }
                continue;
            }
            worst = worst.max((g - w).abs() / (self.abs + self.rel * w.abs()));
        }
        worst
    }
}

/// The private accuracy of an op and the input domain it is stated for (from `tests/approx.rs`
/// and `tests/functions.rs`): `None` domain bounds mean unbounded.
struct PrivateSpec {
    tol: Tolerance,
    /// Inclusive range of |x| (for `abs_domain`) or x that the accuracy holds on.
    domain: Option<(f64, f64)>,
    /// The domain is on |x| (reciprocal: both signs).
    abs_domain: bool,
}

fn private_spec(op: &Op) -> PrivateSpec {
    let t = |abs, rel| Tolerance { abs, rel };
    let s = |tol, domain, abs_domain| PrivateSpec {
        tol,
        domain,
        abs_domain,
    };
    match op {
        // exp: 6% relative on [0, 5], 4e-3 absolute below 0.
        Op::Exp => s(t(4e-3, 0.06), Some((-10.0, 5.0)), false),
        // log: 0.01 absolute on [0.1, 250].
        Op::Log => s(t(0.01, 0.0), Some((0.1, 250.0)), false),
        // reciprocal: 0.3% relative for 0.1 ≤ |x| ≤ 100.
        Op::Reciprocal | Op::Div => s(t(1e-3, 3e-3), Some((0.1, 100.0)), true),
        // sqrt: 1% relative on [0.1, 100]; ReduceL2 takes it of the sum of squares, so its
        // domain is checked on the output (√0.1 to 10).
        Op::Sqrt => s(t(1e-3, 0.01), Some((0.1, 100.0)), false),
        Op::Reduce {
            kind: ReduceKind::L2, ..
        } => s(t(1e-3, 0.01), Some((0.1f64.sqrt(), 10.0)), false),
        // sigmoid, tanh, erf, GELU: 1e-2 absolute.
        Op::Sigmoid | Op::Tanh | Op::Erf | Op::Gelu { .. } => s(t(1e-2, 0.0), None, false),
        // softmax, log-softmax, layer norm: 2e-2 absolute.
        Op::Softmax { .. } | Op::LogSoftmax { .. } | Op::LayerNormalization { .. } => s(t(2e-2, 0.0), None, false),
        _ => s(Tolerance::PRIVATE_LINEAR, None, false),
    }
}

/// Which value of a private op its domain applies to: input `k` (the denominator of Div) or,
/// with `None`, the output (ReduceL2).
fn domain_input(op: &Op) -> Option<usize> {
    match op {
        Op::Div => Some(1),
        Op::Reduce {
            kind: ReduceKind::L2, ..
        } => None,
        _ => Some(0),
    }
}

/// Whether input `k` of an ONNX op is a parameter (a shape, axes, pads, a bound, an exponent)
/// rather than data: such graph inputs are frozen into the model as public constants.
pub fn param_slot(op_type: &str, k: usize) -> bool {
    match op_type {
        "Reshape" | "Expand" | "Tile" | "Squeeze" | "Unsqueeze" | "Split" | "Pow" => k == 1,
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceL1" | "ReduceL2" | "ReduceSumSquare"
        | "ReduceProd" | "ReduceLogSum" | "ReduceLogSumExp" => k == 1,
        // Batch-norm statistics are the model's weights.
        "Pad" | "Clip" | "Slice" | "BatchNormalization" => k >= 1,
        "ConstantOfShape" | "Range" => true,
        _ => false,
    }
}

/// The definition of an op in force at opset 13 dates from this opset (for the ops whose test
/// cases are stamped below 13); every other op is taken to have changed at 13.
fn since_at_13(op_type: &str) -> i64 {
    match op_type {
        "GlobalAveragePool" | "GlobalMaxPool" | "Softplus" | "Softsign" | "Not" => 1,
        "Elu" | "HardSigmoid" | "Selu" | "LeakyRelu" => 6,
        "And" | "Or" | "Xor" => 7,
        "ConstantOfShape" | "Where" | "BatchNormalization" => 9,
        "ThresholdedRelu" => 10,
        "Conv" | "ConvTranspose" | "AveragePool" | "Range" | "Round" => 11,
        "MaxPool" | "Celu" | "Einsum" => 12,
        _ => 13,
    }
}

/// What to run: the directory of cases and the private protocols.
pub struct Options<'a> {
    /// Protocols for the private runs (empty: plaintext only).
    pub protocols: &'a [ProtocolConfig],
    /// INSECURE: fixed share randomness of the private sessions (reproducible reports); `None`
    /// draws from the OS.
    pub insecure_share_seed: Option<u64>,
}

/// One loaded test data set: inputs by graph input order, expected outputs by graph output order.
struct DataSet {
    inputs: Vec<(String, Const)>,
    outputs: Vec<Const>,
}

fn data_sets(dir: &Path) -> Result<Vec<DataSet>> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
        })
        .collect();
    sets.sort();
    let mut out = Vec::new();
    for s in sets {
        let read_all = |prefix: &str| -> Result<Vec<(String, Const)>> {
            let mut v = Vec::new();
            for k in 0.. {
                let p = s.join(format!("{prefix}_{k}.pb"));
                if !p.is_file() {
                    break;
                }
                v.push(read_tensor(&p)?);
            }
            Ok(v)
        };
        let inputs = read_all("input")?;
        let outputs = read_all("output")?.into_iter().map(|(_, c)| c).collect();
        out.push(DataSet { inputs, outputs });
    }
    Ok(out)
}

/// Runs one case folder.
pub fn run_case(dir: &Path, opts: &Options) -> CaseResult {
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut result = CaseResult {
        name,
        ops: Vec::new(),
        status: Status::Skipped(String::new()),
        private_inputs: false,
        plain_margin: None,
        private_margin: None,
    };
    result.status = match run_case_inner(dir, opts, &mut result) {
        Ok(s) => s,
        Err(e) => Status::Fail(e.to_string()),
    };
    result
}

/// Errors that reject a variant clearly (as opposed to failing).
fn is_variant_error(e: &Error) -> bool {
    let m = e.to_string();
    m.contains("supported")
}

fn run_case_inner(dir: &Path, opts: &Options, r: &mut CaseResult) -> Result<Status> {
    let file = dir.join("model.onnx");
    let file_name = file.display().to_string();
    let bytes = std::fs::read(&file).map_err(|source| Error::Io {
        path: file_name.clone(),
        source,
    })?;
    let mut model = decode_model(&bytes, &file_name)?;
    let Some(graph) = model.graph.as_mut() else {
        return Err(Error::config(&file_name, "onnx model has no graph"));
    };
    let mut ops: Vec<String> = graph.node.iter().map(|n| n.op_type.clone()).collect();
    ops.sort();
    ops.dedup();
    r.ops = ops.clone();
    if let Some(n) = graph
        .node
        .iter()
        .find(|n| !n.domain.is_empty() && n.domain != "ai.onnx")
    {
        return Ok(Status::Skipped(format!("op {} of domain {}", n.op_type, n.domain)));
    }
    let unsupported: Vec<&str> = ops
        .iter()
        .map(String::as_str)
        .filter(|o| !supported_ops().contains(o))
        .collect();
    if !unsupported.is_empty() {
        return Ok(Status::Skipped(format!("unsupported op {}", unsupported.join(", "))));
    }
    // The opset: 13..=17, or below with the opset-13 definitions of every op (then stamped 13).
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    if opset > 17 {
        return Ok(Status::Skipped(format!("opset {opset}")));
    }
    if opset < 13 {
        if let Some(o) = ops.iter().find(|o| since_at_13(o) > opset) {
            return Ok(Status::Skipped(format!(
                "opset {opset}: {o} has a different definition at opset 13"
            )));
        }
        model.opset_import = vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }];
    }
    default_opset(&model, &file_name)?;
    let graph = model.graph.as_ref().expect("checked");
    // Element types: float32 data, integer/boolean parameters.
    let initialized: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let real_inputs: Vec<usize> = (0..graph.input.len())
        .filter(|&i| !initialized.contains(&graph.input[i].name))
        .collect();
    let elem = |v: &super::proto::ValueInfoProto| {
        v.r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .map_or(dt::UNDEFINED, |t| t.elem_type)
    };
    let allowed = |t: i32| matches!(t, dt::FLOAT | dt::INT64 | dt::INT32 | dt::BOOL);
    for &i in &real_inputs {
        let t = elem(&graph.input[i]);
        if !allowed(t) {
            return Ok(Status::Skipped(format!("input data type {}", dt::name(t))));
        }
    }
    for o in &graph.output {
        let t = elem(o);
        if !allowed(t) {
            return Ok(Status::Skipped(format!("output data type {}", dt::name(t))));
        }
    }
    let sets = data_sets(dir)?;
    if sets.is_empty() {
        return Err(Error::config(dir.display().to_string(), "no test_data_set_* folder"));
    }
    let mut worst_plain: f64 = 0.0;
    let mut worst_private: f64 = 0.0;
    let mut outside = None;
    for (si, set) in sets.iter().enumerate() {
        if set.inputs.len() != real_inputs.len() || set.outputs.len() != graph.output.len() {
            return Err(Error::config(
                dir.display().to_string(),
                format!(
                    "data set {si} has {} inputs and {} outputs, the model {} and {}",
                    set.inputs.len(),
                    set.outputs.len(),
                    real_inputs.len(),
                    graph.output.len()
                ),
            ));
        }
        // Freeze public inputs into initializers.
        let mut m = model.clone();
        let g = m.graph.as_mut().expect("checked");
        let mut private = Vec::new();
        for (k, &i) in real_inputs.iter().enumerate() {
            let info = &g.input[i];
            let is_real = elem(info) == dt::FLOAT;
            let in_param_slot = g.node.iter().any(|n| {
                n.input
                    .iter()
                    .enumerate()
                    .any(|(j, x)| x == &info.name && param_slot(&n.op_type, j))
            });
            if is_real && !in_param_slot {
                private.push(k);
                continue;
            }
            let pb =
                std::fs::read(dir.join(format!("test_data_set_{si}/input_{k}.pb"))).map_err(|source| Error::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
            let mut t = TensorProto::decode(pb.as_slice())
                .map_err(|e| Error::config(dir.display().to_string(), format!("input {k}: {e}")))?;
            t.name = info.name.clone();
            g.initializer.push(t);
        }
        r.private_inputs = !private.is_empty();
        let mut graph = match parse_onnx(&m.encode_to_vec(), &file_name) {
            Ok(g) => g,
            Err(e) if is_variant_error(&e) => return Ok(Status::Variant(e.to_string())),
            Err(e) => return Err(e),
        };
        passes::prepare_inference(&mut graph)?;
        let inputs: Vec<Input> = private
            .iter()
            .map(|&k| match &set.inputs[k].1 {
                Const::F32(t) => Ok(Input::F32(t.clone())),
                Const::I64 { .. } => Err(Error::invalid("input", "integer data input")),
            })
            .collect::<Result<_>>()?;
        let want: Vec<F32Tensor> = set.outputs.iter().map(to_f32).collect::<Result<_>>()?;
        // Plaintext.
        let got = match run_plain_all(&graph, &inputs) {
            Ok(g) => g,
            Err(e) if is_variant_error(&e) => return Ok(Status::Variant(e.to_string())),
            Err(e) => return Err(e),
        };
        let m = compare(&got, &want, Tolerance::PLAIN)?;
        worst_plain = worst_plain.max(m);
        r.plain_margin = Some(worst_plain);
        if m > 1.0 {
            return Ok(Status::Fail(format!(
                "plaintext: data set {si}: error {m:.3} × the tolerance"
            )));
        }
        if opts.protocols.is_empty() || outside.is_some() {
            continue;
        }
        // Private: the domain check on plaintext intermediate values, then each protocol.
        let (tol, out_of_domain) = private_tolerance(&graph, &inputs)?;
        if let Some(d) = out_of_domain {
            outside = Some(d);
            continue;
        }
        for cfg in opts.protocols {
            // Node tests carry no weights: initializers are the frozen public parameters.
            let job = InferJob::local(&graph, &inputs, WeightPrivacy::Public, 1);
            let session = SessionOptions {
                insecure_share_seed: opts.insecure_share_seed,
                ..Default::default()
            };
            let outcome = match simulate(cfg, &session, &job) {
                Ok(o) => o,
                Err(e) if is_variant_error(&e) => {
                    return Ok(Status::Variant(format!("{} (private): {e}", cfg.name)));
                }
                Err(e) => return Ok(Status::Fail(format!("{}: {e}", cfg.name))),
            };
            // The outputs go to the data owner.
            let receiver = outcome.parties.last().and_then(|p| p.output.outputs.as_ref());
            let got = receiver.ok_or_else(|| Error::invalid("conformance", "the data owner got no outputs"))?;
            let m = compare(got, &want, tol)?;
            worst_private = worst_private.max(m);
            r.private_margin = Some(worst_private);
            if m > 1.0 {
                return Ok(Status::Fail(format!(
                    "{}: data set {si}: error {m:.3} × the tolerance (abs {}, rel {})",
                    cfg.name, tol.abs, tol.rel
                )));
            }
        }
    }
    Ok(match outside {
        Some(d) => Status::PassPlainOutsideDomain(d),
        None => Status::Pass,
    })
}

fn to_f32(c: &Const) -> Result<F32Tensor> {
    match c {
        Const::F32(t) => Ok(t.clone()),
        Const::I64 { shape, data } => F32Tensor::from_vec(shape, data.iter().map(|&v| v as f32).collect()),
    }
}

/// The worst margin over all outputs; a shape mismatch is an error.
fn compare(got: &[F32Tensor], want: &[F32Tensor], tol: Tolerance) -> Result<f64> {
    if got.len() != want.len() {
        return Err(Error::invalid(
            "outputs",
            format!("got {} outputs, expected {}", got.len(), want.len()),
        ));
    }
    let mut worst: f64 = 0.0;
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if g.shape() != w.shape() {
            return Err(Error::shape(
                "output",
                format!("output {k} has shape {:?}, expected {:?}", g.shape(), w.shape()),
            ));
        }
        worst = worst.max(tol.margin(g.data(), w.data()));
    }
    Ok(worst)
}

/// The tolerance of the least accurate op of the graph, and the first private op whose input
/// leaves its domain (evaluated in plaintext on the case's inputs).
fn private_tolerance(graph: &Graph, inputs: &[Input]) -> Result<(Tolerance, Option<String>)> {
    let mut tol = Tolerance::PRIVATE_LINEAR;
    let mut probe = graph.clone();
    probe.outputs = graph.nodes.iter().flat_map(|n| n.outputs.clone()).collect();
    let values: BTreeMap<&str, F32Tensor> = probe
        .outputs
        .iter()
        .map(String::as_str)
        .zip(run_plain_all(&probe, inputs)?)
        .collect();
    let input_value = |name: &str| -> Option<F32Tensor> {
        if let Some(v) = values.get(name) {
            return Some(v.clone());
        }
        if let Some(i) = graph.inputs.iter().position(|i| i.name == name) {
            return match &inputs[i] {
                Input::F32(t) => Some(t.clone()),
                Input::Ids { .. } => None,
            };
        }
        None
    };
    for node in &graph.nodes {
        let spec = private_spec(&node.op);
        tol = tol.max(spec.tol);
        let Some((lo, hi)) = spec.domain else { continue };
        let name = match domain_input(&node.op) {
            Some(k) => node.inputs.get(k),
            None => node.outputs.first(),
        };
        // Only private operands are approximated: a public one (an initializer) is exact.
        let Some(name) = name else { continue };
        if graph.initializers.contains_key(name) {
            continue;
        }
        let Some(v) = input_value(name) else { continue };
        let bad = v.data().iter().find(|&&x| {
            let x = if spec.abs_domain { x.abs() } else { x } as f64;
            !(lo..=hi).contains(&x)
        });
        if let Some(x) = bad {
            let range = if spec.abs_domain {
                format!("{lo} ≤ |x| ≤ {hi}")
            } else {
                format!("[{lo}, {hi}]")
            };
            return Ok((
                tol,
                Some(format!(
                    "{} {} {x} of node \"{}\" is outside {range}",
                    node.op.onnx_name(),
                    if domain_input(&node.op).is_some() {
                        "input"
                    } else {
                        "output"
                    },
                    node.name
                )),
            ));
        }
    }
    Ok((tol, None))
}

/// Every case under `dir`, in name order.
pub fn run_all(dir: &Path, opts: &Options) -> Result<Vec<CaseResult>> {
    Ok(list_cases(dir)?.iter().map(|c| run_case(c, opts)).collect())
}

/// Counts per status: pass, plaintext-only pass, fail, unsupported variant, skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub pass_plain: usize,
    pub fail: usize,
    pub variant: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, s: &Status) {
        match s {
            Status::Pass => self.pass += 1,
            Status::PassPlainOutsideDomain(_) => self.pass_plain += 1,
            Status::Fail(_) => self.fail += 1,
            Status::Variant(_) => self.variant += 1,
            Status::Skipped(_) => self.skipped += 1,
        }
    }

    /// Cases whose ops are all supported (everything but the skipped ones).
    pub fn supported(&self) -> usize {
        self.pass + self.pass_plain + self.fail + self.variant
    }
}

/// Overall counts.
pub fn totals(results: &[CaseResult]) -> Counts {
    let mut c = Counts::default();
    for r in results {
        c.add(&r.status);
    }
    c
}

/// How the cases are run, for the top of the report.
const HEADER: &str = "# ONNX operator conformance

ONNX's own node tests (`data/node` of Debian's `libonnx-testdata` 1.12.0: a `model.onnx` and
input/expected-output `TensorProto`s per case), run by `testbed onnx-conformance` (this file is its
`--out`; fetch the data with `scripts/fetch-data.sh onnx-testdata`). `tests/onnx_node.rs` runs the
same cases in `cargo test` and fails if any supported case fails or if support shrinks.

How a case runs:

- **Skipped** when an op is not in the importer's list (the unsupported ops are listed at the
  end), the data types are not float32 data with int64/int32/bool parameters, or the opset is
  not covered. ONNX stamps each case with the opset of its op's newest definition, so Conv cases
  are opset 11: a case below 13 runs (re-stamped 13) when each of its ops has the same definition
  at its opset as at 13, and is skipped otherwise (e.g. Unsqueeze at opset 11).
- **Unsupported variant**: every op is supported, but an attribute or input form is rejected with
  an error saying so (edge/reflect Pad, MaxPool's Indices output, training-mode Dropout...).
- Otherwise the model is imported, run on the plaintext backend and then privately with the
  private inference job of `testbed infer` (`InferJob`) on each protocol, and compared with the
  expected outputs. The data owner (the last party) secret-shares every real-valued graph input.
  Integer and boolean inputs and real inputs in a parameter slot (shapes, pads, axes, clip bounds,
  exponents, batch-norm statistics) are frozen into the model as public initializers first, as
  a PyTorch export has them; a case left without private inputs checks public evaluation only
  and is listed below.
- Tolerances: plaintext |got − want| ≤ 1e-4 + 1e-4·|want|. Private: linear algebra, data
  movement and comparisons 2e-3 + 1e-3·|want|; the least accurate function of the case sets the
  rest, with the figures `tests/approx.rs` pins on each function's domain: exp 4e-3 + 6%, log 0.01
  on [0.1, 250], reciprocal and division 0.3% for 0.1 ≤ |x| ≤ 100, sqrt (and ReduceL2) 1% on
  [0.1, 100], sigmoid/tanh/erf/GELU 0.01, softmax/log-softmax/LayerNorm 0.02.
- Integer outputs (ArgMax/ArgMin indices, comparison results) are private fixed-point values
  holding the integer exactly; revealed and decoded they are compared with the int64 expected
  values as reals, so the private tolerance (below 0.5) admits no wrong index.
- **Pass (plaintext; private outside domain)**: when a private function gets an input outside the
  domain its accuracy is stated for (computed from the plaintext intermediate values), the private
  run is not compared and the case says which input it was; the plaintext run still must pass.

";

/// The report as markdown: overall counts, a table per supported op, the failing and rejected
/// cases with their messages, and the unsupported ops by number of cases.
pub fn markdown(results: &[CaseResult], protocols: &[ProtocolConfig]) -> String {
    let t = totals(results);
    let names: Vec<&str> = protocols.iter().map(|p| p.name.as_str()).collect();
    let mut s = String::from(HEADER);
    s.push_str(&format!(
        "Cases: {} · pass {} · pass in plaintext, private outside a function's domain {} · fail {} · \
         supported op, unsupported variant {} · skipped {}\n\n",
        results.len(),
        t.pass,
        t.pass_plain,
        t.fail,
        t.variant,
        t.skipped
    ));
    s.push_str(&format!(
        "Private runs: {} (plaintext tolerance |err| ≤ {} + {}·|want|).\n\n",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        },
        Tolerance::PLAIN.abs,
        Tolerance::PLAIN.rel
    ));
    let mut per_op: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut unsupported: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        for op in &r.ops {
            if supported_ops().contains(&op.as_str()) {
                per_op.entry(op).or_default().add(&r.status);
            } else {
                *unsupported.entry(op).or_default() += 1;
            }
        }
    }
    s.push_str("| op (cases containing it) | pass | pass (plaintext only) | fail | unsupported variant | skipped |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    for (op, c) in &per_op {
        s.push_str(&format!(
            "| {op} | {} | {} | {} | {} | {} |\n",
            c.pass, c.pass_plain, c.fail, c.variant, c.skipped
        ));
    }
    for (title, pick) in [
        ("Failing cases", 0),
        ("Supported ops, unsupported variants", 1),
        (
            "Passing in plaintext only (private input outside a function's domain)",
            2,
        ),
        ("Skipped cases with supported ops only", 3),
    ] {
        let rows: Vec<&CaseResult> = results
            .iter()
            .filter(|r| match (&r.status, pick) {
                (Status::Fail(_), 0) | (Status::Variant(_), 1) | (Status::PassPlainOutsideDomain(_), 2) => true,
                (Status::Skipped(d), 3) => !d.starts_with("unsupported op"),
                _ => false,
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        s.push_str(&format!("\n### {title} ({})\n\n", rows.len()));
        for r in rows {
            s.push_str(&format!("- `{}`: {}\n", r.name, r.status.detail()));
        }
    }
    let public_only: Vec<&CaseResult> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Pass) && !r.private_inputs)
        .collect();
    if !public_only.is_empty() {
        s.push_str(&format!(
            "\n### Passing cases without a private input ({}: every input is a frozen public parameter)\n\n",
            public_only.len()
        ));
        let names: Vec<String> = public_only.iter().map(|r| format!("`{}`", r.name)).collect();
        s.push_str(&names.join(", "));
        s.push('\n');
    }
    let mut un: Vec<(&str, usize)> = unsupported.into_iter().collect();
    un.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    s.push_str(&format!("\n### Unsupported ops ({}), by number of cases\n\n", un.len()));
    let items: Vec<String> = un.iter().map(|(o, n)| format!("{o} ({n})")).collect();
    s.push_str(&items.join(", "));
    s.push('\n');
    s
}
