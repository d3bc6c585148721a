//! Private inference runs and model benchmarks (`testbed infer`, `testbed bench model`).

use super::jobs::{JobSpec, run_job};
use super::{OpReport, TransportKind, WeightSetup};
use super::{ReportHead, assemble_report};
use crate::error::{Error, Result};
use crate::net::MeterReport;
use crate::nn::graph::Graph;
use crate::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
use crate::nn::tensor::F32Tensor;
use crate::nn::{onnx, passes, zoo};
use crate::protocol::{ProtocolConfig, SessionOptions};
use crate::ring::shape_string;
use std::path::Path;

/// Loads a model: an `.onnx` file, or a zoo name built for `input_shape`, prepared for inference
/// (`passes::prepare_inference`: batch norm folded, ReLU after max pool).
pub fn load_model(model: &str, input_shape: &[usize], seed: u64) -> Result<Graph> {
    let mut g = load_model_unprepared(model, input_shape, seed)?;
    passes::prepare_inference(&mut g)?;
    Ok(g)
}

/// [`load_model`] before the inference passes: batch norm still a layer of its own, so weights
/// files with batch-norm statistics load into it (then fold with `passes::prepare_inference`).
pub fn load_model_unprepared(model: &str, input_shape: &[usize], seed: u64) -> Result<Graph> {
    Ok(if model.ends_with(".onnx") || Path::new(model).is_file() {
        onnx::load_onnx(Path::new(model))?
    } else if model == crate::data::minilm::POLARITY_MODEL {
        crate::data::minilm::polarity_model(seed)?
    } else {
        zoo::build(model, input_shape, seed)?
    })
}

/// The result of a private inference: the revealed output and the op-style report (with `op` set
/// to the model name).
pub struct ModelRun {
    pub output: F32Tensor,
    pub report: OpReport,
}

/// Runs `graph` privately on `input` and compares with the plaintext backend.
#[allow(clippy::too_many_arguments)]
pub fn run_model(
    cfg: &ProtocolConfig,
    name: &str,
    graph: &Graph,
    input: &Input,
    weights: WeightPrivacy,
    reps: usize,
    seed: Option<u64>,
    transport: TransportKind,
    spec: &JobSpec,
    tls: bool,
    sim_latency: Option<std::time::Duration>,
) -> Result<ModelRun> {
    if reps == 0 {
        return Err(Error::invalid("--reps", "needs at least one repetition"));
    }
    let reference = run_plain(graph, input)?;
    let job = InferJob {
        graph,
        inputs: std::slice::from_ref(input),
        weights,
        reps,
    };
    let opts = SessionOptions {
        seed,
        sim_latency,
        ..Default::default()
    };
    let outcome = run_job(cfg, &opts, &job, spec, transport, tls)?;
    let out = &outcome.parties[0].output;
    let output = &out.outputs[0];
    if output.shape() != reference.shape() {
        return Err(Error::invalid(
            "model",
            format!(
                "private output shape {:?} differs from plaintext {:?}",
                output.shape(),
                reference.shape()
            ),
        ));
    }
    let got: Vec<f64> = output.data().iter().map(|&v| v as f64).collect();
    let want: Vec<f64> = reference.data().iter().map(|&v| v as f64).collect();
    let (max_abs_err, max_rel_err) = super::reference::errors(&got, &want);
    let spans: Vec<&[crate::protocol::Span]> = outcome.parties.iter().map(|p| p.output.spans.as_slice()).collect();
    let first: Vec<&MeterReport> = outcome.parties.iter().map(|p| &p.output.meter).collect();
    let head = ReportHead {
        name,
        transport,
        shapes: vec![shape_string(input.shape())],
        reps,
    };
    let mut report = assemble_report(cfg, head, &spans, &first, &outcome, (max_abs_err, max_rel_err));
    let prepared = outcome.parties[0].output.prepared;
    if prepared > 0 {
        let setups: Vec<&MeterReport> = outcome.parties.iter().map(|p| &p.output.setup_meter).collect();
        report.weight_setup = Some(WeightSetup {
            weights: prepared,
            wall_s: outcome.parties.iter().map(|p| p.output.setup_wall).fold(0.0, f64::max),
            rounds: crate::net::critical_path(setups.iter().copied()).critical,
            bytes_sent_per_party: setups.iter().map(|m| m.online()).collect(),
        });
    }
    Ok(ModelRun {
        output: output.clone(),
        report,
    })
}
