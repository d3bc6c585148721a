//! One party of a multi-process run (`testbed party`): reads the session file (what is public) and
//! its own files (what its owner has), runs its endpoint, writes what is revealed to it to its
//! `--output` file, and prints a short summary (the full report with `--json`).
//!
//! Each process holds only what its owner has: party 0 its model (`--model`, `--weights`), the
//! data owner its input or samples (`--input`, `--data`), a training party its rows or columns
//! and labels (`--data`, `--labels`), the dealer nothing. A file given to a party that does not own
//! that kind of input is refused, so that a mistaken command line cannot hand it over.

use crate::bench::op::{OpJob, OpSpec, PartyRun, make_inputs};
use crate::data::model::ModelSource;
use crate::error::{Error, PartyId, Result};
use crate::launch::{EndpointLine, JobSpec, PartyInputs, SessionFile, TransportKind, run_endpoint_process};
use crate::net::{MeterReport, critical_path};
use crate::nn::infer::{EvalJob, EvalRun, InferJob, InferRun, Input, OwnedModel, WeightPrivacy, split_batches_of};
use crate::nn::io::{NpyArray, read_npy, write_npy_f32};
use crate::nn::owners::{InputInfo, MODEL_OWNER, data_owner};
use crate::nn::tensor::F32Tensor;
use crate::protocol::{EndpointResult, ProtocolConfig, Repeat, SessionOptions, run_endpoint};
use crate::train::private::{DataSplit, TrainData, TrainJob, TrainRun};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// How a party prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// A few lines for a person.
    Human,
    /// One JSON line (what the local launcher reads).
    Json,
}

/// The `testbed party` entry point: runs endpoint `id` of a session with this party's own files.
pub fn party_main(session: &SessionFile, id: PartyId, launched: bool, own: &PartyInputs, report: Report) -> Result<()> {
    fault_hook(id);
    let spec: JobSpec = serde_json::from_value(session.job.clone())
        .map_err(|e| Error::config("session", format!("field `job`: {e}")))?;
    let cfg = session.protocol()?;
    check_ownership(&cfg, id, &spec, own)?;
    if let Some(s) = session.insecure_share_seed {
        eprintln!(
            "warning: INSECURE: share randomness from the fixed seed {s} (anyone who knows it recomputes every mask)"
        );
    }
    let opts = SessionOptions {
        insecure_share_seed: session.insecure_share_seed,
        timeout: Duration::from_secs_f64(session.timeout_s.max(0.05)),
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let done = run_endpoint_process(session, id, launched, |cfg, transport| {
        let t: Box<dyn crate::net::Transport> = Box::new(transport);
        run_spec(cfg, t, &opts, &spec, own)
    })?;
    let wall = t0.elapsed().as_secs_f64();
    match report {
        Report::Json => println!("{}", done.line),
        Report::Human => {
            println!("{}", summary(&cfg, id, &spec, &done, wall));
        }
    }
    Ok(())
}

/// What an endpoint produced: its JSON line, its traffic and where its outputs went.
struct Done {
    line: String,
    report: MeterReport,
    wrote: Option<String>,
}

fn run_spec(
    cfg: &ProtocolConfig,
    transport: Box<dyn crate::net::Transport>,
    opts: &SessionOptions,
    spec: &JobSpec,
    own: &PartyInputs,
) -> Result<Done> {
    match spec {
        JobSpec::BenchOp {
            op,
            shapes,
            conv,
            reps,
            warmup,
            on_demand,
            input_seed,
        } => {
            let repeat = Repeat {
                warmup: *warmup,
                reps: *reps,
                on_demand: *on_demand,
            };
            let spec = OpSpec::from_parts(op, shapes.clone(), *conv, repeat, Some(*input_seed), TransportKind::Tcp)?;
            let (_, inputs) = make_inputs(cfg, &spec)?;
            let job = OpJob { spec: &spec, inputs };
            finish::<PartyRun>(run_endpoint(cfg, transport, opts, &job)?, |_| Ok(None))
        }
        JobSpec::Model {
            model_seed,
            public_model,
            reps,
            warmup,
            on_demand,
            reveal_to,
        } => {
            let source = owner_source(own, *model_seed);
            let load = |infos: &[InputInfo]| load_owned(source.as_ref(), infos);
            let input = own.input.as_deref().map(read_input).transpose()?;
            let job = InferJob {
                model: source.as_ref().map(|_| OwnedModel::Lazy(&load)),
                inputs: input.as_ref().map(std::slice::from_ref),
                weights: privacy(*public_model),
                reps: *reps,
                warmup: *warmup,
                on_demand: *on_demand,
                reveal_to: reveal_to.clone(),
            };
            let out = run_endpoint(cfg, transport, opts, &job)?;
            let outputs = match &out {
                EndpointResult::Party(p) => p.output.outputs.clone(),
                EndpointResult::Dealer(_) => None,
            };
            finish::<InferRun>(out, |_| write_outputs(own, outputs.as_deref()))
        }
        JobSpec::Eval {
            model_seed,
            public_model,
            batch_size,
            warmup,
            reveal_to,
        } => {
            let source = owner_source(own, *model_seed);
            let load = |infos: &[InputInfo]| load_owned(source.as_ref(), infos);
            let batches = match own.data.as_deref() {
                Some(path) => Some(match read_npy(path)? {
                    NpyArray::F32(t) => split_batches_of(&t, *batch_size, false)?,
                    NpyArray::I64 { shape, data } => {
                        let t = F32Tensor::from_vec(&shape, data.iter().map(|&v| v as f32).collect())?;
                        split_batches_of(&t, *batch_size, true)?
                    }
                }),
                None => None,
            };
            let job = EvalJob {
                model: source.as_ref().map(|_| OwnedModel::Lazy(&load)),
                batches: batches.as_deref(),
                weights: privacy(*public_model),
                warmup: *warmup,
                reveal_to: reveal_to.clone(),
            };
            let out = run_endpoint(cfg, transport, opts, &job)?;
            let outputs = match &out {
                EndpointResult::Party(p) => p.output.outputs.as_ref().map(|o| stack(o)).transpose()?,
                EndpointResult::Dealer(_) => None,
            };
            finish::<EvalRun>(out, |_| write_outputs(own, outputs.as_ref().map(std::slice::from_ref)))
        }
        JobSpec::Train {
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
            classes,
        } => {
            use crate::nn::autograd::{Loss, Sgd};
            use crate::train::{Optimizer, TrainConfig};
            let train = TrainConfig {
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
            let load = |infos: &[InputInfo]| -> Result<crate::nn::graph::Graph> {
                let name = own.model.as_deref().expect("the owner names a model");
                let shape = infos.first().map_or(&[][..], |i| &i.shape[..]);
                ModelSource::new(name, *seed)
                    .with_weights(own.weights.clone())
                    .with_classes(*classes)
                    .load_unprepared(shape)
            };
            let me = transport.id();
            let mut data = vec![TrainData::default(); cfg.parties];
            if let Some(d) = data.get_mut(me) {
                d.x = own.data.as_deref().map(read_reals).transpose()?;
                d.labels = own.labels.as_deref().map(read_labels).transpose()?;
            }
            let job = TrainJob {
                model: own.model.as_ref().map(|_| OwnedModel::Lazy(&load)),
                data: &data,
                cfg: &train,
                split: DataSplit::parse(split)?,
            };
            let out = run_endpoint(cfg, transport, opts, &job)?;
            let weights = match &out {
                EndpointResult::Party(p) => p.output.weights.clone(),
                EndpointResult::Dealer(_) => None,
            };
            finish::<TrainRun>(out, |_| match (weights, &own.output) {
                (Some(w), Some(path)) => {
                    crate::nn::io::save_safetensors(path, &w)?;
                    Ok(Some(path.display().to_string()))
                }
                _ => Ok(None),
            })
        }
    }
}

/// The JSON line and summary facts of an endpoint's result; `write` stores what was revealed to
/// it and says where.
fn finish<T: Serialize>(
    r: EndpointResult<T>,
    write: impl FnOnce(&EndpointResult<T>) -> Result<Option<String>>,
) -> Result<Done> {
    let wrote = write(&r)?;
    let (line, report) = match r {
        EndpointResult::Party(p) => {
            let report = p.report.clone();
            (
                serde_json::to_string(&EndpointLine::Party {
                    output: p.output,
                    report: p.report,
                }),
                report,
            )
        }
        EndpointResult::Dealer(report) => (
            serde_json::to_string(&EndpointLine::<T>::Dealer { report: report.clone() }),
            report,
        ),
    };
    Ok(Done {
        line: line.expect("results serialise"),
        report,
        wrote,
    })
}

/// The model owner's model source (None on the other endpoints).
fn owner_source(own: &PartyInputs, model_seed: u64) -> Option<ModelSource> {
    own.model
        .as_ref()
        .map(|m| ModelSource::new(m, model_seed).with_weights(own.weights.clone()))
}

/// Loads the owner's model for the data owner's published input shapes; only called on the
/// endpoint that holds a source (the job asks for the model only where it was given one).
fn load_owned(source: Option<&ModelSource>, infos: &[InputInfo]) -> Result<crate::nn::graph::Graph> {
    let s = source.expect("the owner has a source");
    s.load(&infos.first().map_or(&[][..], |i| &i.shape[..]))
}

fn privacy(public_model: bool) -> WeightPrivacy {
    if public_model {
        WeightPrivacy::Public
    } else {
        WeightPrivacy::Private
    }
}

/// Writes the first revealed output to `--output`; a party that received outputs without one
/// keeps nothing (and says so in its summary).
fn write_outputs(own: &PartyInputs, outputs: Option<&[F32Tensor]>) -> Result<Option<String>> {
    match (outputs.and_then(|o| o.first()), &own.output) {
        (Some(y), Some(path)) => {
            write_npy_f32(path, y)?;
            Ok(Some(path.display().to_string()))
        }
        (Some(_), None) => Ok(Some("nowhere (no --output given)".into())),
        (None, _) => Ok(None),
    }
}

/// Batch outputs `[b, ...]` stacked into one `[n, ...]` tensor.
fn stack(outputs: &[F32Tensor]) -> Result<F32Tensor> {
    let first = outputs.first().ok_or_else(|| Error::invalid("eval", "no outputs"))?;
    let mut shape = first.shape().to_vec();
    shape[0] = outputs.iter().map(|o| o.shape()[0]).sum();
    let data: Vec<f32> = outputs.iter().flat_map(|o| o.data().iter().copied()).collect();
    F32Tensor::from_vec(&shape, data)
}

/// A model input from an .npy file: reals, or int64 token ids.
pub fn read_input(path: &Path) -> Result<Input> {
    Ok(match read_npy(path)? {
        NpyArray::F32(t) => Input::F32(t),
        NpyArray::I64 { shape, data } => Input::Ids { shape, data },
    })
}

fn read_reals(path: &Path) -> Result<F32Tensor> {
    match read_npy(path)? {
        NpyArray::F32(t) => Ok(t),
        NpyArray::I64 { .. } => Err(Error::invalid(
            path.display().to_string(),
            "expected reals (float32/float64)",
        )),
    }
}

fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let what = || path.display().to_string();
    match read_npy(path)? {
        NpyArray::I64 { data, .. } => data
            .iter()
            .map(|&l| usize::try_from(l).map_err(|_| Error::invalid(what(), format!("label {l} is negative"))))
            .collect(),
        NpyArray::F32(_) => Err(Error::invalid(what(), "expected integer labels (int64)")),
    }
}

/// Refuses files a party does not own in this job (and missing ones it needs), naming the flag.
fn check_ownership(cfg: &ProtocolConfig, id: PartyId, spec: &JobSpec, own: &PartyInputs) -> Result<()> {
    let dealer = cfg.has_dealer_endpoint() && id == cfg.parties;
    let data = data_owner(cfg.parties);
    let refuse = |flag: &str, why: &str| Err(Error::invalid(flag, format!("endpoint {id} {why}")));
    let has = |flag: &str| match flag {
        "--model" => own.model.is_some(),
        "--weights" => own.weights.is_some(),
        "--input" => own.input.is_some(),
        "--output" => own.output.is_some(),
        "--data" => own.data.is_some(),
        _ => own.labels.is_some(),
    };
    let all = ["--model", "--weights", "--input", "--output", "--data", "--labels"];
    if dealer {
        if let Some(f) = all.iter().find(|f| has(f)) {
            return refuse(f, "is the dealer, which holds nothing");
        }
        return Ok(());
    }
    let (allowed, needed): (Vec<&str>, Vec<&str>) = match spec {
        JobSpec::BenchOp { .. } => (vec![], vec![]),
        JobSpec::Model { .. } | JobSpec::Eval { .. } => {
            let input = if matches!(spec, JobSpec::Model { .. }) {
                "--input"
            } else {
                "--data"
            };
            let mut allowed = vec!["--output"];
            let mut needed = vec![];
            if id == MODEL_OWNER {
                allowed.extend(["--model", "--weights"]);
                needed.push("--model");
            }
            if id == data {
                allowed.push(input);
                needed.push(input);
            }
            (allowed, needed)
        }
        JobSpec::Train { .. } => {
            let mut allowed = vec!["--data", "--labels"];
            let mut needed = vec!["--data"];
            if id == MODEL_OWNER {
                allowed.extend(["--model", "--weights", "--output"]);
                needed.push("--model");
            }
            if id == data {
                needed.push("--labels");
            }
            (allowed, needed)
        }
    };
    if let Some(f) = all.iter().find(|f| has(f) && !allowed.contains(f)) {
        return refuse(f, &format!("does not own this input in a `{}` job", spec.kind()));
    }
    if let Some(f) = needed.iter().find(|f| !has(f)) {
        return refuse(f, &format!("owns this input in a `{}` job: name its file", spec.kind()));
    }
    Ok(())
}

/// A few lines for a person: what ran, how long, what it cost, where the output went.
fn summary(cfg: &ProtocolConfig, id: PartyId, spec: &JobSpec, done: &Done, wall: f64) -> String {
    let who = if cfg.has_dealer_endpoint() && id == cfg.parties {
        "dealer".to_string()
    } else {
        format!("party {id}")
    };
    let rounds = critical_path([&done.report]);
    let sent: u64 = done.report.online() + done.report.offline();
    let mut s = format!(
        "{who} of {} ({} parties): `{}` job done in {wall:.3} s\n  \
         this endpoint: {} messages, {:.3} MB sent, longest chain it saw {} rounds ({} between parties)",
        cfg.name,
        cfg.parties,
        spec.kind(),
        done.report.log.iter().filter(|m| m.from == id).count(),
        sent as f64 / 1e6,
        rounds.critical,
        rounds.between_parties,
    );
    if let Some(w) = &done.wrote {
        s.push_str(&format!("\n  output written to {w}"));
    }
    s
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
