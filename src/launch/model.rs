//! Private model runs, started locally: `testbed infer`, `testbed bench model` and experiments'
//! latency tasks all come here (in the simulator or as party processes over TCP).
//!
//! The caller plays every party of a local run: it holds the model owner's model and the data
//! owner's input, so it computes the plaintext reference and the error here (in a real deployment
//! nobody holds both). Over TCP each party process gets only its own files: party 0 the model,
//! the data owner the input and the file its output goes to.

use super::report::{OpReport, ReportHead, WeightSetup, assemble_report, errors};
use super::{JobSpec, PartyInputs, TransportKind, run_job};
use crate::data::model::ModelSource;
use crate::error::{Error, PartyId, Result};
use crate::net::MeterReport;
use crate::nn::graph::Graph;
use crate::nn::infer::{InferJob, Input, OwnedModel, WeightPrivacy, run_plain};
use crate::nn::io::{NpyArray, read_npy, write_npy_f32, write_npy_i64};
use crate::nn::owners::data_owner;
use crate::nn::tensor::F32Tensor;
use crate::protocol::{ProtocolConfig, Runs, SessionOptions};
use crate::ring::shape_string;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A private model run: what the model owner names, what the data owner holds, and how to run.
pub struct ModelRunSpec<'a> {
    /// The name in the report.
    pub name: &'a str,
    /// The model as its owner names it (what party 0's process loads over TCP).
    pub source: &'a ModelSource,
    /// The same model, loaded here (the simulator's model owner and the plaintext reference).
    pub graph: &'a Graph,
    /// The data owner's input.
    pub input: &'a Input,
    pub weights: WeightPrivacy,
    pub reps: usize,
    /// Unmeasured repetitions before the measured ones.
    pub warmup: usize,
    /// Keep the dealer answering step by step (see `protocol::repeat`).
    pub on_demand: bool,
    /// INSECURE: fixed share randomness (tests only).
    pub insecure_share_seed: Option<u64>,
    pub transport: TransportKind,
    pub tls: bool,
    pub sim_latency: Option<Duration>,
    /// Who sees the outputs (`None`: the data owner).
    pub reveal_to: Option<Vec<PartyId>>,
}

/// The result of a private inference: the revealed output and the op-style report (with `op` set
/// to the model name).
pub struct ModelRun {
    pub output: F32Tensor,
    pub report: OpReport,
}

/// Runs the model privately on the input and compares the first output with the plaintext
/// backend's.
pub fn run_model(cfg: &ProtocolConfig, r: &ModelRunSpec<'_>) -> Result<ModelRun> {
    if r.reps == 0 {
        return Err(Error::invalid("--reps", "needs at least one repetition"));
    }
    let reference = run_plain(r.graph, r.input)?;
    let job = InferJob {
        model: Some(OwnedModel::Loaded(r.graph)),
        inputs: Some(std::slice::from_ref(r.input)),
        weights: r.weights,
        reps: r.reps,
        warmup: r.warmup,
        on_demand: r.on_demand,
        reveal_to: r.reveal_to.clone(),
    };
    let spec = JobSpec::Model {
        model_seed: r.source.seed,
        public_model: r.weights == WeightPrivacy::Public,
        reps: r.reps,
        warmup: r.warmup,
        on_demand: r.on_demand,
        reveal_to: r.reveal_to.clone(),
    };
    let opts = SessionOptions {
        insecure_share_seed: r.insecure_share_seed,
        sim_latency: r.sim_latency,
        ..Default::default()
    };
    let receiver = r
        .reveal_to
        .as_ref()
        .and_then(|t| t.first().copied())
        .unwrap_or(data_owner(cfg.parties));
    let (outcome, output) = match r.transport {
        TransportKind::Sim => {
            let outcome = run_job(cfg, &opts, &job, &spec, r.transport, r.tls, &[])?;
            let out = outcome.parties.get(receiver).and_then(|p| p.output.outputs.as_ref());
            let output = out.and_then(|o| o.first()).cloned();
            (outcome, output)
        }
        TransportKind::Tcp => {
            let files = ScratchFiles::new()?;
            let input = files.path("input.npy");
            match r.input {
                Input::F32(t) => write_npy_f32(&input, t)?,
                Input::Ids { shape, data } => write_npy_i64(&input, shape, data)?,
            }
            let output = files.path("output.npy");
            let mut inputs = vec![PartyInputs::default(); cfg.parties];
            inputs[0].model = Some(absolute(Path::new(&r.source.model)).display().to_string());
            inputs[0].weights = r.source.weights.as_deref().map(absolute);
            inputs[data_owner(cfg.parties)].input = Some(input);
            inputs[receiver].output = Some(output.clone());
            let outcome = run_job(cfg, &opts, &job, &spec, r.transport, r.tls, &inputs)?;
            let output = match read_npy(&output)? {
                NpyArray::F32(t) => t,
                NpyArray::I64 { .. } => return Err(Error::invalid("output", "expected reals")),
            };
            (outcome, Some(output))
        }
    };
    let output = output.ok_or_else(|| Error::invalid("model", format!("party {receiver} received no output")))?;
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
    let (max_abs_err, max_rel_err) = errors(&got, &want);
    let total: Vec<&Runs> = outcome.parties.iter().map(|p| &p.output.total).collect();
    let online: Option<Vec<&Runs>> = outcome.parties.iter().map(|p| p.output.online.as_ref()).collect();
    let head = ReportHead {
        name: r.name,
        transport: r.transport,
        shapes: vec![shape_string(r.input.shape())],
        reps: r.reps,
        warmup: r.warmup,
    };
    let mut report = assemble_report(
        cfg,
        head,
        &total,
        online.as_deref(),
        &outcome,
        (max_abs_err, max_rel_err),
    );
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
    Ok(ModelRun { output, report })
}

/// A file path as another process, started in a folder of its own, must see it: absolute when
/// the file exists here (a zoo name stays a name).
pub fn absolute(p: &Path) -> PathBuf {
    if p.exists() {
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
    } else {
        p.to_path_buf()
    }
}

/// A private temporary folder for the files a local run hands to its party processes, removed
/// when dropped.
pub struct ScratchFiles(PathBuf);

impl ScratchFiles {
    pub fn new() -> Result<Self> {
        let n = crate::protocol::prg::os_seed()?;
        let name = format!(
            "testbed-run-{:016x}",
            u64::from_le_bytes(n[..8].try_into().expect("8 bytes"))
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        Ok(Self(dir))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
