//! Jobs that can run in separate processes: a serialisable description every party turns into the
//! same [`Job`], the party-process entry point, and the transport switch (simulator or TCP).

use super::model::load_model_unprepared;
use super::{OpJob, OpSpec, PartyRun, TransportKind, make_inputs};
use crate::error::{Error, PartyId, Result};
use crate::launch::{LaunchOptions, SessionFile, launch_local, run_endpoint_process};
use crate::net::MeterReport;
use crate::nn::infer::{EvalJob, EvalRun, InferJob, InferRun, Input, WeightPrivacy, split_batches};
use crate::nn::io::{NpyArray, read_npy};
use crate::protocol::{
    EndpointResult, Job, Outcome, PartyOutcome, ProtocolConfig, SessionOptions, run_endpoint, simulate,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A job, as written into a session file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum JobSpec {
    /// `bench op`: inputs regenerated from `input_seed` by every party.
    BenchOp {
        op: String,
        shapes: Vec<Vec<usize>>,
        conv: [usize; 4],
        reps: usize,
        input_seed: u64,
    },
    /// `infer` / `bench model`: the model (zoo name or ONNX path), its input (an .npy path, or a
    /// random input from `input_seed`), and whether the weights are shared.
    Model {
        model: String,
        input_shape: Vec<usize>,
        input: Option<String>,
        weights: Option<String>,
        model_seed: u64,
        input_seed: u64,
        public_model: bool,
        reps: usize,
    },
    /// `train` on shares: every party loads the data set and builds the model itself, then
    /// uses only what it owns (see `train::private`).
    Train {
        model: String,
        data: String,
        subset: Option<usize>,
        weights: Option<String>,
        epochs: usize,
        batch: usize,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        nesterov: bool,
        grad_threshold: Option<f64>,
        loss: String,
        split: String,
        seed: u64,
    },
    /// A private evaluation: the model as in `Model`, and the samples (an .npy file of `[n, ...]`)
    /// run in batches of `batch_size` in one session, weights shared once.
    Eval {
        model: String,
        input_shape: Vec<usize>,
        weights: Option<String>,
        model_seed: u64,
        public_model: bool,
        samples: String,
        batch_size: usize,
        /// Unmeasured runs of the first batch before the evaluation.
        warmup: usize,
    },
}

/// The training set, model and configuration a `train` job describes.
pub fn train_setup(
    spec: &JobSpec,
) -> Result<(
    crate::data::Split,
    crate::nn::graph::Graph,
    crate::train::TrainConfig,
    crate::train::private::DataSplit,
)> {
    use crate::nn::autograd::{Loss, Sgd};
    use crate::train::{Optimizer, TrainConfig, build_model, private::DataSplit};
    let JobSpec::Train {
        model,
        data,
        subset,
        weights,
        epochs,
        batch,
        lr,
        momentum,
        weight_decay,
        nesterov,
        grad_threshold,
        loss,
        split,
        seed,
    } = spec
    else {
        return Err(Error::invalid("job", "not a training job"));
    };
    let mut sets = crate::data::load(data)?;
    if let Some(n) = subset {
        sets.train = sets.train.take(*n)?;
    }
    let mut shape = vec![*batch];
    shape.extend_from_slice(sets.train.sample_shape());
    let mut graph = build_model(model, &shape, sets.train.classes, *seed)?;
    if let Some(w) = weights {
        crate::nn::weights::load_weights(&mut graph, std::path::Path::new(w), false)?;
    }
    let cfg = TrainConfig {
        epochs: *epochs,
        batch: *batch,
        optimizer: Optimizer::Sgd(Sgd {
            lr: *lr,
            momentum: *momentum,
            weight_decay: *weight_decay,
            nesterov: *nesterov,
            grad_threshold: *grad_threshold,
        }),
        loss: Loss::parse(loss)?,
        seed: *seed,
        progress: false,
    };
    Ok((sets, graph, cfg, DataSplit::parse(split)?))
}

/// Runs a job on every party of `cfg` over the chosen transport and returns the outcome.
pub fn run_job<J>(
    cfg: &ProtocolConfig,
    opts: &SessionOptions,
    job: &J,
    spec: &JobSpec,
    transport: TransportKind,
    tls: bool,
) -> Result<Outcome<J::Output>>
where
    J: Job,
    J::Output: DeserializeOwned,
{
    match transport {
        TransportKind::Sim => simulate(cfg, opts, job),
        TransportKind::Tcp => {
            if opts.sim_latency.is_some() {
                return Err(Error::invalid(
                    "--sim-latency",
                    "delays deliveries of the simulator only (use --transport sim)",
                ));
            }
            let lo = LaunchOptions {
                tls,
                timeout_s: opts.timeout.as_secs_f64(),
                seed: opts.seed,
                parties: Some(cfg.parties),
                precision_bits: Some(cfg.precision_bits),
            };
            let lines = launch_local(cfg, serde_json::to_value(spec).expect("jobs serialise"), &lo)?;
            let mut parties = Vec::new();
            let mut dealer = None;
            for (i, line) in lines.iter().enumerate() {
                let r: EndpointLine<J::Output> = serde_json::from_str(line).map_err(|e| Error::Net {
                    party: i,
                    peer: format!("endpoint {i}"),
                    detail: format!("unreadable result: {e}"),
                })?;
                match r {
                    EndpointLine::Party { output, report } => parties.push(PartyOutcome { output, report }),
                    EndpointLine::Dealer { report } => dealer = Some(report),
                }
            }
            Ok(Outcome { parties, dealer })
        }
    }
}

/// What a party process prints last.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EndpointLine<T> {
    Party { output: T, report: MeterReport },
    Dealer { report: MeterReport },
}

/// Loads a model with optional safetensors weights, prepared for inference (`passes::prepare_inference`).
pub fn prepare_model(
    model: &str,
    input_shape: &[usize],
    seed: u64,
    weights: Option<&str>,
) -> Result<crate::nn::graph::Graph> {
    // Weights load before the passes: folding batch norm first would drop the file's statistics.
    let mut graph = load_model_unprepared(model, input_shape, seed)?;
    if let Some(w) = weights {
        crate::nn::weights::load_weights(&mut graph, std::path::Path::new(w), false)?;
    }
    crate::nn::passes::prepare_inference(&mut graph)?;
    Ok(graph)
}

/// The input of a model job, as the data owner reads it.
pub(crate) fn model_input(spec: &JobSpec, graph: &crate::nn::graph::Graph) -> Result<Input> {
    let JobSpec::Model {
        input,
        input_shape,
        input_seed,
        ..
    } = spec
    else {
        unreachable!("a model job")
    };
    match input {
        Some(path) => Ok(match read_npy(path)? {
            NpyArray::F32(t) => Input::F32(t),
            NpyArray::I64 { shape, data } => Input::Ids { shape, data },
        }),
        None => super::random_model_input(graph, input_shape, *input_seed),
    }
}

/// The `testbed party` entry point: runs endpoint `id` of a session and prints its JSON result.
pub fn party_main(session: &SessionFile, id: PartyId, launched: bool) -> Result<()> {
    fault_hook(id);
    let spec: JobSpec = serde_json::from_value(session.job.clone())
        .map_err(|e| Error::config("session", format!("field `job`: {e}")))?;
    let opts = SessionOptions {
        seed: session.seed,
        timeout: Duration::from_secs_f64(session.timeout_s.max(0.05)),

        ..Default::default()
    };
    let line = run_endpoint_process(session, id, launched, |cfg, transport| match &spec {
        JobSpec::BenchOp {
            op,
            shapes,
            conv,
            reps,
            input_seed,
        } => {
            let spec = OpSpec::from_parts(op, shapes.clone(), *conv, *reps, Some(*input_seed), TransportKind::Tcp)?;
            let (_, inputs) = make_inputs(cfg, &spec)?;
            let job = OpJob { spec: &spec, inputs };
            line::<PartyRun>(run_endpoint(cfg, Box::new(transport), &opts, &job)?)
        }
        JobSpec::Model {
            model,
            input_shape,
            model_seed,
            public_model,
            reps,
            weights,
            ..
        } => {
            let graph = prepare_model(model, input_shape, *model_seed, weights.as_deref())?;
            let input = model_input(&spec, &graph)?;
            let weights = if *public_model {
                WeightPrivacy::Public
            } else {
                WeightPrivacy::Private
            };
            let job = InferJob {
                graph: &graph,
                inputs: std::slice::from_ref(&input),
                weights,
                reps: *reps,
            };
            line::<InferRun>(run_endpoint(cfg, Box::new(transport), &opts, &job)?)
        }
        JobSpec::Train { .. } => {
            let (sets, graph, train, data_split) = train_setup(&spec)?;
            let width = crate::train::output_width(&graph, &sets.train)?;
            let job = crate::train::private::TrainJob {
                graph: &graph,
                data: &sets.train,
                cfg: &train,
                split: data_split,
                width,
            };
            line::<crate::train::private::TrainRun>(run_endpoint(cfg, Box::new(transport), &opts, &job)?)
        }
        JobSpec::Eval {
            model,
            input_shape,
            weights,
            model_seed,
            public_model,
            samples,
            batch_size,
            warmup,
        } => {
            let graph = prepare_model(model, input_shape, *model_seed, weights.as_deref())?;
            let samples = match read_npy(samples)? {
                NpyArray::F32(t) => t,
                NpyArray::I64 { .. } => return Err(Error::invalid("samples", "expected float32 samples")),
            };
            let batches = split_batches(&graph, &samples, *batch_size)?;
            let job = EvalJob {
                graph: &graph,
                batches: &batches,
                weights: if *public_model {
                    WeightPrivacy::Public
                } else {
                    WeightPrivacy::Private
                },
                warmup: *warmup,
            };
            line::<EvalRun>(run_endpoint(cfg, Box::new(transport), &opts, &job)?)
        }
    })?;
    println!("{line}");
    Ok(())
}

fn line<T: Serialize>(r: EndpointResult<T>) -> Result<String> {
    let l = match r {
        EndpointResult::Party(p) => EndpointLine::Party {
            output: p.output,
            report: p.report,
        },
        EndpointResult::Dealer(report) => EndpointLine::Dealer { report },
    };
    Ok(serde_json::to_string(&l).expect("results serialise"))
}

/// Test hook for fault tests: `TESTBED_FAULT_EXIT=ID:MS` makes party process ID exit abruptly
/// (as if killed) MS milliseconds after it starts.
fn fault_hook(id: PartyId) {
    let Ok(v) = std::env::var("TESTBED_FAULT_EXIT") else {
        return;
    };
    let Some((who, ms)) = v.split_once(':') else { return };
    if who.parse::<usize>().ok() == Some(id) {
        if let Ok(ms) = ms.parse::<u64>() {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                std::process::exit(137);
            });
        }
    }
}
