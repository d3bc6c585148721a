//! Private inference runs and model benchmarks (`testbed infer`, `testbed bench model`).

use super::jobs::{JobSpec, run_job};
use super::{OpReport, TransportKind};
use crate::error::{Error, Result};
use crate::nn::graph::Graph;
use crate::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
use crate::nn::tensor::F32Tensor;
use crate::nn::{onnx, passes, zoo};
use crate::protocol::{DealerKind, ProtocolConfig, SessionOptions};
use crate::ring::shape_string;
use std::path::Path;

/// Loads a model: an `.onnx` file, or a zoo name built for `input_shape`. Batch norm is folded.
pub fn load_model(model: &str, input_shape: &[usize], seed: u64) -> Result<Graph> {
    let mut g = if model.ends_with(".onnx") || Path::new(model).is_file() {
        onnx::load_onnx(Path::new(model))?
    } else {
        zoo::build(model, input_shape, seed)?
    };
    passes::fold_batch_norm(&mut g)?;
    Ok(g)
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
) -> Result<ModelRun> {
    if reps == 0 {
        return Err(Error::invalid("--reps", "needs at least one repetition"));
    }
    let reference = run_plain(graph, input)?;
    let job = InferJob {
        graph,
        input,
        weights,
        reps,
    };
    let opts = SessionOptions {
        seed,
        ..Default::default()
    };
    let outcome = run_job(cfg, &opts, &job, spec, transport, tls)?;
    let out = &outcome.parties[0].output;
    if out.output.shape() != reference.shape() {
        return Err(Error::invalid(
            "model",
            format!(
                "private output shape {:?} differs from plaintext {:?}",
                out.output.shape(),
                reference.shape()
            ),
        ));
    }
    let got: Vec<f64> = out.output.data().iter().map(|&v| v as f64).collect();
    let want: Vec<f64> = reference.data().iter().map(|&v| v as f64).collect();
    let (max_abs_err, max_rel_err) = super::reference::errors(&got, &want);
    let mut wall: Vec<f64> = (0..reps)
        .map(|r| outcome.parties.iter().map(|p| p.output.wall[r]).fold(0.0, f64::max))
        .collect();
    let wall_s_reps = wall.clone();
    wall.sort_by(f64::total_cmp);
    let meters: Vec<_> = outcome.parties.iter().map(|p| &p.output.meter).collect();
    let rounds_per_party: Vec<u64> = meters.iter().map(|m| m.rounds_online).collect();
    let bytes_sent_per_party: Vec<u64> = meters.iter().map(|m| m.online()).collect();
    // The dealer serves weight/input sharing too (nothing) and every repetition alike.
    let (offline, offline_rounds) = match (&outcome.dealer, cfg.dealer) {
        (Some(d), DealerKind::Ttp) => (d.offline() / reps as u64, d.rounds_offline / reps as u64),
        _ => (0, 0),
    };
    let all = outcome.parties.iter().map(|p| &p.report).chain(outcome.dealer.iter());
    let (setup, framing) = all.fold((0, 0), |(s, f), m| (s + m.setup(), f + m.framing_bytes));
    let report = OpReport {
        op: name.to_string(),
        protocol: cfg.name.clone(),
        transport: transport.name().into(),
        parties: cfg.parties,
        shapes: vec![shape_string(input.shape())],
        precision_bits: cfg.precision_bits,
        reps,
        wall_s: wall[reps / 2],
        wall_s_reps,
        rounds: rounds_per_party.iter().copied().max().unwrap_or(0),
        rounds_per_party,
        bytes_online_total: bytes_sent_per_party.iter().sum(),
        bytes_sent_per_party,
        bytes_offline_total: offline,
        offline_rounds,
        bytes_control_total: meters.iter().map(|m| m.control()).sum(),
        bytes_setup_total: setup,
        framing_bytes_total: framing,
        max_abs_err,
        max_rel_err,
    };
    Ok(ModelRun {
        output: out.output.clone(),
        report,
    })
}
