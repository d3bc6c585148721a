//! Runs an experiment: executes each run, prices it on its network profile, appends its row to
//! runs.csv at once, then writes the summary and the plots.
//!
//! Runs that differ only in the network profile are executed once (the network is a model, not a
//! setting of the transport). With `resume`, runs whose id is already in runs.csv are skipped. A
//! progress bar on stderr shows the runs (hidden when stderr is not a terminal, e.g. CI logs,
//! which get one line per finished run instead).

use super::expand::RunSpec;
use super::netmodel::predict;
use super::plan::{EvalData, Experiment, ModelRef, Task, TaskKind};
use super::results::{self, RunsWriter, Table};
use super::schema::TrainFile;
use super::train;
use crate::bench::op::{OpSpec, run_op_with};
use crate::bench::random_model_input;
use crate::data::model::ModelSource;
use crate::error::{Error, Result};
use crate::launch::model::{ModelRunSpec, ScratchFiles, absolute, run_model};
use crate::launch::report::{OpReport, errors};
use crate::launch::{JobSpec, PartyInputs, TransportKind, run_job};
use crate::net::MeterReport;
use crate::nn::graph::Graph;
use crate::nn::infer::{EvalJob, OwnedModel, WeightPrivacy, run_plain, split_batches};
use crate::nn::io::{NpyArray, read_npy, write_npy_f32, write_npy_i64};
use crate::nn::owners::data_owner;
use crate::nn::tensor::F32Tensor;
use crate::protocol::{DealerKind, SessionOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The results folder.
    pub out: PathBuf,
    /// Keep runs.csv and skip the runs it already holds.
    pub resume: bool,
}

/// What a call to [`run_experiment`] did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub out: PathBuf,
    /// Runs executed now, and runs skipped because runs.csv already had them.
    pub ran: usize,
    pub skipped: usize,
    pub total: usize,
    /// Files written besides runs.csv.
    pub files: Vec<PathBuf>,
}

/// Test hook: `TESTBED_EXPERIMENT_PAUSE_MS=N` sleeps N ms after each persisted run, so a test can
/// kill `testbed run` between runs.
const PAUSE_ENV: &str = "TESTBED_EXPERIMENT_PAUSE_MS";

/// Runs every run of `exp` not already finished, then writes summary.json, summary.md and plots.
pub fn run_experiment(exp: &Experiment, opts: &RunOptions) -> Result<RunReport> {
    let runs = exp.runs()?;
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|e| Error::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let header = results::header(&exp.param_columns());
    let csv = out.join("runs.csv");
    let (mut writer, done) = if opts.resume && csv.is_file() {
        let (table, valid) = Table::read(&csv)?;
        if table.header != header {
            return Err(Error::config(
                csv.display().to_string(),
                "was written for a different experiment (its columns differ); use another --out or remove it",
            ));
        }
        let done: HashSet<String> = table.rows.iter().map(|r| table.get(r, "run_id").to_string()).collect();
        (RunsWriter::resume(&csv, valid)?, done)
    } else {
        (RunsWriter::create(&csv, &header)?, HashSet::new())
    };
    let pb = progress(runs.len() as u64);
    let pause = std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse::<u64>().ok());
    let mut last: Option<(String, Measurement)> = None;
    let mut models = Models::default();
    let (mut ran, mut skipped) = (0, 0);
    for (i, run) in runs.iter().enumerate() {
        let task = &exp.tasks[run.task];
        if done.contains(&run.run_id) {
            skipped += 1;
            pb.inc(1);
            continue;
        }
        pb.set_message(label(exp, run));
        let m = match &last {
            Some((key, m)) if *key == run.exec_key => m.clone(),
            _ => {
                let m = execute(exp, task, run, &mut models)?;
                last = Some((run.exec_key.clone(), m.clone()));
                m
            }
        };
        let row = row(exp, task, run, &m);
        writer.write_row(&row)?;
        ran += 1;
        let line = format!(
            "[{}/{}] {}: {:.4} s measured, {:.4} s predicted, {} rounds, {:.3} MB sent/party",
            i + 1,
            runs.len(),
            label(exp, run),
            m.wall_s,
            row_num(&header, &row, "predicted_s"),
            m.rounds,
            m.bytes_sent_per_party as f64 / 1e6
        );
        if pb.is_hidden() {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
        pb.inc(1);
        if let Some(ms) = pause {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    pb.finish_and_clear();
    drop(writer);
    let (mut table, _) = Table::read(&csv)?;
    let ids: HashSet<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let col = table.col("run_id").expect("runs.csv has run_id");
    table.rows.retain(|r| ids.contains(r[col].as_str()));
    let notes: Vec<(String, String)> = exp
        .tasks
        .iter()
        .filter_map(|t| t.description.clone().map(|d| (t.name.clone(), d)))
        .collect();
    results::write_summary(
        out,
        &exp.name,
        exp.description.as_deref(),
        &notes,
        &table,
        exp.insecure_share_seed,
    )?;
    let mut files = vec![out.join("summary.json"), out.join("summary.md")];
    if exp.plots {
        files.extend(super::plot::draw_all(&table, out, &exp.name, exp.line.as_deref())?);
    }
    Ok(RunReport {
        out: out.clone(),
        ran,
        skipped,
        total: runs.len(),
        files,
    })
}

fn progress(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if std::io::stderr().is_terminal() {
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(style);
        pb.enable_steady_tick(Duration::from_millis(200));
    } else {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb
}

/// `task · protocol · network · swept values`.
fn label(exp: &Experiment, run: &RunSpec) -> String {
    let mut parts = vec![exp.tasks[run.task].name.clone()];
    for (k, v) in &run.columns {
        if k == "protocol" || k == "network" {
            parts.push(v.clone());
        }
    }
    for d in exp.dims.iter().filter(|d| d.swept) {
        let c = d.param.column();
        if let Some((_, v)) = run.columns.iter().find(|(k, _)| *k == c) {
            parts.push(format!("{c}={v}"));
        }
    }
    if exp.repetitions > 1 {
        parts.push(format!("rep {}", run.rep));
    }
    parts.join(" · ")
}

fn row_num(header: &[String], row: &[String], col: &str) -> f64 {
    header
        .iter()
        .position(|h| h == col)
        .and_then(|i| row[i].parse().ok())
        .unwrap_or(f64::NAN)
}

/// What one execution measured.
#[derive(Clone, Debug)]
struct Measurement {
    /// Slowest party's wall time of the measured region (the dealer running ahead where it can).
    wall_s: f64,
    /// The same region with the dealer's randomness delivered first (online phase alone).
    online_wall_s: Option<f64>,
    /// Each party's traffic in the measured region, with round logs.
    meters: Vec<MeterReport>,
    /// Critical path of the measured region, and the same counting only hops between parties.
    rounds: u64,
    rounds_between_parties: u64,
    bytes_sent_per_party: u64,
    bytes_online_total: u64,
    bytes_offline_total: u64,
    max_abs_err: f64,
    max_rel_err: f64,
    accuracy: Option<Accuracy>,
}

#[derive(Clone, Debug)]
struct Accuracy {
    samples: usize,
    batches: usize,
    private_top1: f64,
    plain_top1: f64,
    agreement: f64,
}

impl Measurement {
    /// From a benchmark whose first repetitions were warm-up: the last repetition's time (the
    /// counts of every repetition are the same).
    fn from_report(r: OpReport) -> Self {
        Self {
            wall_s: r.wall_s,
            online_wall_s: r.online_wall_s,
            rounds: r.rounds,
            rounds_between_parties: r.rounds_between_parties,
            bytes_sent_per_party: r.bytes_sent_per_party.iter().copied().max().unwrap_or(0),
            bytes_online_total: r.bytes_online_total,
            bytes_offline_total: r.bytes_offline_total,
            max_abs_err: r.max_abs_err,
            max_rel_err: r.max_rel_err,
            meters: r.meters,
            accuracy: None,
        }
    }
}

/// Models built per task and batch size (only the current task's are kept).
#[derive(Default)]
struct Models {
    task: Option<usize>,
    graphs: HashMap<Vec<usize>, Arc<Graph>>,
}

impl Models {
    fn get(&mut self, task: usize, m: &ModelRef, shape: &[usize], seed: u64) -> Result<Arc<Graph>> {
        if self.task != Some(task) {
            self.graphs.clear();
            self.task = Some(task);
        }
        if let Some(g) = self.graphs.get(shape) {
            return Ok(g.clone());
        }
        let g = Arc::new(source(m, seed).load(shape)?);
        self.graphs.insert(shape.to_vec(), g.clone());
        Ok(g)
    }
}

/// The model as its owner names it.
fn source(m: &ModelRef, seed: u64) -> ModelSource {
    ModelSource::new(&m.model, seed).with_weights(m.weights.as_ref().map(PathBuf::from))
}

fn privacy(run: &RunSpec) -> WeightPrivacy {
    run.weights.unwrap_or(WeightPrivacy::Private)
}

fn execute(exp: &Experiment, task: &Task, run: &RunSpec, models: &mut Models) -> Result<Measurement> {
    let seed = exp.seed;
    match &task.kind {
        TaskKind::Op { op, shapes } => {
            let spec = OpSpec {
                op: *op,
                shapes: shapes.clone(),
                conv: Default::default(),
                reps: 1,
                warmup: exp.warmup,
                on_demand: false,
                seed: Some(seed),
                transport: run.transport,
                insecure_share_seed: exp.insecure_share_seed,
            };
            Ok(Measurement::from_report(run_op_with(&run.cfg, &spec, exp.tls)?))
        }
        TaskKind::Latency { model, input_shape } => {
            let mut shape = input_shape.clone();
            shape[0] = run.batch_size.unwrap_or(shape[0]);
            let graph = models.get(run.task, model, &shape, seed)?;
            let input = random_model_input(&graph, &shape, seed)?;
            let r = run_model(
                &run.cfg,
                &ModelRunSpec {
                    name: &model.label,
                    source: &source(model, seed),
                    graph: &graph,
                    input: &input,
                    weights: privacy(run),
                    reps: 1,
                    warmup: exp.warmup,
                    on_demand: false,
                    insecure_share_seed: exp.insecure_share_seed,
                    transport: run.transport,
                    tls: exp.tls,
                    sim_latency: None,
                    reveal_to: None,
                },
            )?;
            Ok(Measurement::from_report(r.report))
        }
        TaskKind::Accuracy { model, data } => {
            ensure_trained(model, data, seed)?;
            evaluate(exp, run, model, data, models)
        }
    }
}

/// Trains in plaintext and caches the weights when a `train:` cache does not exist yet (see
/// `train`); the training split gets the task's preprocessing.
fn ensure_trained(model: &ModelRef, data: &EvalData, seed: u64) -> Result<()> {
    let (Some(spec), Some(path)) = (&model.train, &model.weights) else {
        return Ok(());
    };
    if Path::new(path).is_file() {
        return Ok(());
    }
    // Speech trains on the split whose held-out part is the validation set: the training
    // report's accuracy is then a validation accuracy (`data::training_set`).
    let mut split = crate::data::load(crate::data::training_set(&data.dataset))?;
    if let Some(pre) = &data.preprocess {
        for set in [&mut split.train, &mut split.test] {
            set.inputs = super::check::preprocess(&set.inputs, pre)?;
        }
    }
    let spec = TrainFile {
        weights: path.clone(),
        ..spec.clone()
    };
    train::train_weights(&model.model, &split, &spec, seed).map(|_| ())
}

/// Private evaluation of an accuracy task in one session, against the plaintext model.
fn evaluate(
    exp: &Experiment,
    run: &RunSpec,
    model: &ModelRef,
    data: &EvalData,
    models: &mut Models,
) -> Result<Measurement> {
    let batch = run.batch_size.unwrap_or(8);
    let mut shape = vec![batch];
    shape.extend_from_slice(&data.samples.shape()[1..]);
    let graph = models.get(run.task, model, &shape, exp.seed)?;
    let batches = split_batches(&graph, &data.samples, batch)?;
    let plain: Vec<F32Tensor> = batches.iter().map(|b| run_plain(&graph, b)).collect::<Result<_>>()?;
    let job = EvalJob {
        model: Some(OwnedModel::Loaded(&graph)),
        batches: Some(&batches),
        weights: privacy(run),
        warmup: exp.warmup,
        reveal_to: None,
    };
    let spec = JobSpec::Eval {
        model_seed: exp.seed,
        public_model: privacy(run) == WeightPrivacy::Public,
        batch_size: batch,
        warmup: exp.warmup,
        reveal_to: None,
    };
    let opts = SessionOptions {
        insecure_share_seed: exp.insecure_share_seed,
        ..Default::default()
    };
    let receiver = data_owner(run.cfg.parties);
    let (outcome, private) = match run.transport {
        TransportKind::Sim => {
            let outcome = run_job(&run.cfg, &opts, &job, &spec, run.transport, exp.tls, &[])?;
            let private = outcome.parties.get(receiver).and_then(|p| p.output.outputs.clone());
            (outcome, private)
        }
        TransportKind::Tcp => {
            // Each party process gets its own files only: party 0 the model, the data owner
            // the samples (token ids as integers) and the file its outputs go to.
            let files = ScratchFiles::new()?;
            let samples = files.path("samples.npy");
            if graph
                .inputs
                .first()
                .is_some_and(|i| i.dtype == crate::nn::graph::DType::I64)
            {
                let ids: Vec<i64> = data.samples.data().iter().map(|&v| v.round() as i64).collect();
                write_npy_i64(&samples, data.samples.shape(), &ids)?;
            } else {
                write_npy_f32(&samples, &data.samples)?;
            }
            let outputs = files.path("outputs.npy");
            let mut inputs = vec![PartyInputs::default(); run.cfg.parties];
            inputs[0].model = Some(absolute(Path::new(&model.model)).display().to_string());
            inputs[0].weights = model.weights.as_deref().map(|w| absolute(Path::new(w)));
            inputs[receiver].data = Some(samples);
            inputs[receiver].output = Some(outputs.clone());
            let outcome = run_job(&run.cfg, &opts, &job, &spec, run.transport, exp.tls, &inputs)?;
            let stacked = match read_npy(&outputs)? {
                NpyArray::F32(t) => t,
                NpyArray::I64 { .. } => return Err(Error::invalid("accuracy", "expected real outputs")),
            };
            (outcome, Some(vec![stacked]))
        }
    };
    let private = private.ok_or_else(|| Error::invalid("accuracy", format!("party {receiver} received no outputs")))?;
    let n = data.labels.len();
    let (want, got) = (scores(&plain, n)?, scores(&private, n)?);
    let (mut private_ok, mut plain_ok, mut agree) = (0, 0, 0);
    for (i, &label) in data.labels.iter().enumerate() {
        let (p, q) = (argmax(&got[i]), argmax(&want[i]));
        private_ok += usize::from(p == label);
        plain_ok += usize::from(q == label);
        agree += usize::from(p == q);
    }
    let flat = |v: &[Vec<f64>]| v.iter().flatten().copied().collect::<Vec<f64>>();
    let (max_abs_err, max_rel_err) = errors(&flat(&got), &flat(&want));
    let meters: Vec<MeterReport> = outcome.parties.iter().map(|p| p.output.meter.clone()).collect();
    // The dealer's traffic is counted over the session: every batch (the warm-up ones too) has
    // the same shape and so the same cost; keep the measured batches' share.
    let bytes_offline_total = match (&outcome.dealer, run.cfg.dealer) {
        (Some(d), DealerKind::Ttp) => d.offline() / (batches.len() + exp.warmup) as u64 * batches.len() as u64,
        _ => 0,
    };
    let path = crate::net::critical_path(&meters);
    Ok(Measurement {
        wall_s: crate::protocol::wall_of(outcome.parties.iter().map(|p| &p.output.span)),
        online_wall_s: None,
        rounds: path.critical,
        rounds_between_parties: path.between_parties,
        bytes_sent_per_party: meters.iter().map(MeterReport::online).max().unwrap_or(0),
        bytes_online_total: meters.iter().map(MeterReport::online).sum(),
        bytes_offline_total,
        max_abs_err,
        max_rel_err,
        meters,
        accuracy: Some(Accuracy {
            samples: n,
            batches: batches.len(),
            private_top1: private_ok as f64 / n as f64,
            plain_top1: plain_ok as f64 / n as f64,
            agreement: agree as f64 / n as f64,
        }),
    })
}

/// Class scores of the first `n` samples from batch outputs `[batch, classes, ...]` (trailing
/// dimensions such as time are averaged).
fn scores(outputs: &[F32Tensor], n: usize) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(n);
    for t in outputs {
        let s = t.shape();
        if s.len() < 2 {
            return Err(Error::invalid(
                "accuracy",
                format!("the model's output {s:?} is not [batch, classes, ...]"),
            ));
        }
        let (b, c) = (s[0], s[1]);
        let rest: usize = s[2..].iter().product();
        for i in 0..b {
            let mut row = vec![0.0; c];
            for (k, r) in row.iter_mut().enumerate() {
                let at = (i * c + k) * rest;
                *r = t.data()[at..at + rest].iter().map(|&v| v as f64).sum::<f64>() / rest as f64;
            }
            out.push(row);
        }
    }
    out.truncate(n);
    if out.len() < n {
        return Err(Error::invalid("accuracy", "fewer outputs than samples"));
    }
    Ok(out)
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap_or(0)
}

/// The runs.csv row of a run.
fn row(exp: &Experiment, task: &Task, run: &RunSpec, m: &Measurement) -> Vec<String> {
    let net = &exp.networks[run.network];
    let dealer = run.cfg.has_dealer_endpoint().then_some(run.cfg.parties);
    let p = predict(&m.meters, dealer, net);
    let model = match &task.kind {
        TaskKind::Op { op, .. } => op.name().to_string(),
        TaskKind::Latency { model, .. } | TaskKind::Accuracy { model, .. } => model.label.clone(),
    };
    let kind = match task.kind {
        TaskKind::Op { .. } => "op",
        TaskKind::Latency { .. } => "latency",
        TaskKind::Accuracy { .. } => "accuracy",
    };
    let mut r = vec![
        exp.name.clone(),
        run.run_id.clone(),
        run.config_id.clone(),
        task.name.clone(),
        kind.to_string(),
        model,
        run.rep.to_string(),
    ];
    r.extend(run.columns.iter().map(|(_, v)| v.clone()));
    let acc = m.accuracy.as_ref();
    let opt = |v: Option<String>| v.unwrap_or_default();
    r.extend([
        m.wall_s.to_string(),
        opt(m.online_wall_s.map(|w| w.to_string())),
        (m.wall_s + p.comm_s).to_string(),
        p.dealer_s.to_string(),
        m.rounds.to_string(),
        m.rounds_between_parties.to_string(),
        m.bytes_sent_per_party.to_string(),
        m.bytes_online_total.to_string(),
        m.bytes_offline_total.to_string(),
        opt(acc.map(|a| a.samples.to_string())),
        acc.map_or("1".into(), |a| a.batches.to_string()),
        opt(acc.map(|a| a.private_top1.to_string())),
        opt(acc.map(|a| a.plain_top1.to_string())),
        opt(acc.map(|a| a.agreement.to_string())),
        m.max_abs_err.to_string(),
        m.max_rel_err.to_string(),
        results::timestamp(),
    ]);
    // Which samples an accuracy row is about (empty for other tasks).
    let data = match &task.kind {
        TaskKind::Accuracy { data, .. } => Some(data),
        _ => None,
    };
    r.extend([
        opt(data.map(|d| d.describe())),
        opt(data.map(|d| results::counts_field(&d.class_counts))),
        opt(data.and_then(|d| d.provenance.clone())),
        super::machine::describe(),
    ]);
    r
}
