//! Jobs that run in separate processes: the public description every party shares ([`JobSpec`],
//! written into the session file), what each party holds of its own ([`PartyInputs`], given on its
//! command line only), and the switch between the simulator and party processes ([`run_job`]).

use super::{EndpointLaunch, LaunchOptions, launch_local};
use crate::error::{Error, Result};
use crate::net::MeterReport;
use crate::protocol::{Job, Outcome, PartyOutcome, ProtocolConfig, SessionOptions, simulate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::PathBuf;

/// Where the parties run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Threads of this process.
    Sim,
    /// Processes over TCP.
    Tcp,
}

impl TransportKind {
    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Sim => "sim",
            TransportKind::Tcp => "tcp",
        }
    }

    /// Parses `sim` or `tcp`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sim" => Ok(TransportKind::Sim),
            "tcp" => Ok(TransportKind::Tcp),
            _ => Err(Error::invalid(
                "--transport",
                format!("unknown transport `{s}` (known: sim, tcp)"),
            )),
        }
    }
}

/// A job as the session file describes it: only what is public. What each party owns (the model,
/// the input, its training rows) is named on that party's own command line ([`PartyInputs`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum JobSpec {
    /// `bench op`: synthetic inputs regenerated from `input_seed` (test data, not private).
    BenchOp {
        op: String,
        shapes: Vec<Vec<usize>>,
        conv: [usize; 4],
        reps: usize,
        /// Unmeasured repetitions first.
        #[serde(default)]
        warmup: usize,
        /// The dealer answers step by step instead of running ahead.
        #[serde(default)]
        on_demand: bool,
        input_seed: u64,
    },
    /// `infer` / `bench model`: party 0 names its model (`--model`, `--weights`), the data owner
    /// its input (`--input`); outputs go to `reveal_to` (default: the data owner).
    Model {
        /// Seed of a zoo model's random weights (benchmarks; real models bring `--weights`).
        model_seed: u64,
        public_model: bool,
        reps: usize,
        /// Unmeasured repetitions first.
        #[serde(default)]
        warmup: usize,
        /// The dealer answers step by step instead of running ahead.
        #[serde(default)]
        on_demand: bool,
        #[serde(default)]
        reveal_to: Option<Vec<usize>>,
    },
    /// `train` on shares: party 0 names the model (and initial weights), every data owner its rows
    /// or feature columns (`--data`), the label owners their labels (`--labels`).
    Train {
        epochs: usize,
        batch: usize,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        nesterov: bool,
        grad_threshold: Option<f64>,
        loss: String,
        split: String,
        /// Initial weights of a zoo model and the batch order.
        seed: u64,
        /// Classes of the task (sizes the model's output).
        classes: usize,
    },
    /// A private evaluation of the data owner's samples (`--data`, an .npy of `[n, ...]`) in
    /// batches of `batch_size`, in one session with the weights shared once.
    Eval {
        model_seed: u64,
        public_model: bool,
        batch_size: usize,
        /// Unmeasured runs of the first batch before the evaluation.
        warmup: usize,
        #[serde(default)]
        reveal_to: Option<Vec<usize>>,
    },
}

impl JobSpec {
    /// The job kind as the session file spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::BenchOp { .. } => "bench-op",
            JobSpec::Model { .. } => "model",
            JobSpec::Train { .. } => "train",
            JobSpec::Eval { .. } => "eval",
        }
    }
}

/// What one party holds of its own: files only it reads, named on its command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyInputs {
    /// The model owner's model: a zoo name or an ONNX file.
    pub model: Option<String>,
    /// The model owner's weights (safetensors, by tensor name).
    pub weights: Option<PathBuf>,
    /// The data owner's input (.npy).
    pub input: Option<PathBuf>,
    /// Where this party writes what is revealed to it (.npy).
    pub output: Option<PathBuf>,
    /// This party's data: its training rows or feature columns, or the samples to evaluate (.npy).
    pub data: Option<PathBuf>,
    /// This party's labels (.npy of integers).
    pub labels: Option<PathBuf>,
}

impl PartyInputs {
    /// The `testbed party` arguments that pass these inputs.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out = Vec::new();
        let mut put = |flag: &str, v: Option<OsString>| {
            if let Some(v) = v {
                out.push(OsString::from(flag));
                out.push(v);
            }
        };
        put("--model", self.model.clone().map(OsString::from));
        put("--weights", self.weights.clone().map(OsString::from));
        put("--input", self.input.clone().map(OsString::from));
        put("--output", self.output.clone().map(OsString::from));
        put("--data", self.data.clone().map(OsString::from));
        put("--labels", self.labels.clone().map(OsString::from));
        out
    }
}

/// What a party process prints last with `--json` (and the launcher reads).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointLine<T> {
    Party { output: T, report: MeterReport },
    Dealer { report: MeterReport },
}

/// Runs a job on every party of `cfg` over the chosen transport and returns the outcome. In the
/// simulator every party sees `job` (and reads only its own part); over TCP each party process
/// gets the public `spec` and its own `inputs[i]` (a party without an entry holds nothing).
pub fn run_job<J>(
    cfg: &ProtocolConfig,
    opts: &SessionOptions,
    job: &J,
    spec: &JobSpec,
    transport: TransportKind,
    tls: bool,
    inputs: &[PartyInputs],
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
                insecure_share_seed: opts.insecure_share_seed,
                parties: Some(cfg.parties),
                precision_bits: Some(cfg.precision_bits),
            };
            let launch: Vec<EndpointLaunch> = inputs
                .iter()
                .map(|i| EndpointLaunch {
                    args: i.to_args(),
                    dir: None,
                })
                .collect();
            let lines = launch_local(cfg, serde_json::to_value(spec).expect("jobs serialise"), &lo, &launch)?;
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
