//! Flag groups several commands share (`#[command(flatten)]`), and the closed sets of names the
//! command line accepts (`ValueEnum`), each converted once into its library type.

use crate::error::Error;
use crate::launch::TransportKind;
use crate::nn::autograd::Loss;
use crate::nn::infer::WeightPrivacy;
use crate::protocol::ProtocolConfig;
use crate::train::private::DataSplit;
use clap::{Args, ValueEnum};
use std::time::Duration;

/// The protocol of a private run, with the command line's overrides.
#[derive(Args, Debug)]
pub struct ProtocolArgs {
    /// Protocol variant: a name in protocols/ (e.g. 2pc-ttp) or a path to a YAML file.
    #[arg(long)]
    pub protocol: String,
    #[command(flatten)]
    pub parties: PartiesArg,
    /// Fractional bits (overrides the protocol file).
    #[arg(long)]
    pub precision_bits: Option<u32>,
}

impl ProtocolArgs {
    /// The protocol file with the overrides applied.
    pub fn load(&self) -> Result<ProtocolConfig, Error> {
        load_protocol(&self.protocol, self.parties.parties, self.precision_bits)
    }
}

/// `--parties`, for commands whose protocol flag differs (a default, or no precision override).
#[derive(Args, Debug)]
pub struct PartiesArg {
    /// Number of parties (overrides the protocol file, where the family allows it).
    #[arg(long)]
    pub parties: Option<usize>,
}

/// Loads a protocol with the command line's overrides.
pub fn load_protocol(name: &str, parties: Option<usize>, precision: Option<u32>) -> Result<ProtocolConfig, Error> {
    let mut cfg = ProtocolConfig::load(name)?;
    if let Some(n) = parties {
        cfg = cfg.with_parties(n)?;
    }
    if let Some(b) = precision {
        cfg = cfg.with_precision(b)?;
    }
    Ok(cfg)
}

/// Where the parties run.
#[derive(Args, Debug)]
pub struct TransportArgs {
    /// sim (threads in this process) or tcp (one process per party).
    #[arg(long, value_enum, default_value_t = Transport::Sim)]
    pub transport: Transport,
    /// With --transport tcp: plain TCP instead of TLS (loopback benchmarking only).
    #[arg(long)]
    pub no_tls: bool,
}

impl TransportArgs {
    pub fn kind(&self) -> TransportKind {
        self.transport.into()
    }

    pub fn tls(&self) -> bool {
        !self.no_tls
    }
}

/// `--transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Sim,
    Tcp,
}

impl From<Transport> for TransportKind {
    fn from(t: Transport) -> Self {
        match t {
            Transport::Sim => TransportKind::Sim,
            Transport::Tcp => TransportKind::Tcp,
        }
    }
}

/// Seeds of a run on synthetic data or a zoo model's random weights.
#[derive(Args, Debug)]
pub struct SeedArgs {
    /// Seed of the data side: synthetic inputs and a zoo model's random weights (shares come from
    /// the OS).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub share: ShareSeedArg,
}

/// `--insecure-share-seed`.
#[derive(Args, Debug)]
pub struct ShareSeedArg {
    /// INSECURE: derive every party's share randomness from this seed (tests only).
    #[arg(long, value_name = "S")]
    pub insecure_share_seed: Option<u64>,
}

impl ShareSeedArg {
    /// The insecure share seed, announced loudly on stderr when given.
    pub fn announced(&self) -> Option<u64> {
        if let Some(s) = self.insecure_share_seed {
            eprintln!(
                "warning: INSECURE: share randomness derived from the fixed seed {s}: anyone who knows it \
                 recomputes every party's masks (tests only)"
            );
        }
        self.insecure_share_seed
    }
}

/// `--json`.
#[derive(Args, Debug)]
pub struct JsonArg {
    /// Print one line of JSON last.
    #[arg(long)]
    pub json: bool,
}

/// `--sim-latency`.
#[derive(Args, Debug)]
pub struct SimLatencyArg {
    /// With --transport sim: delay every message by this one-way latency (milliseconds), to see
    /// the critical path in the wall time.
    #[arg(long, value_name = "MS")]
    pub sim_latency: Option<f64>,
}

impl SimLatencyArg {
    /// The latency as a duration (none when absent or zero).
    pub fn duration(&self) -> Result<Option<Duration>, Error> {
        match self.sim_latency {
            None => Ok(None),
            Some(ms) if ms.is_finite() && (0.0..=60_000.0).contains(&ms) => {
                Ok(Some(Duration::from_secs_f64(ms / 1e3)).filter(|d| !d.is_zero()))
            }
            Some(ms) => Err(Error::invalid(
                "--sim-latency",
                format!("{ms} is not a latency in milliseconds between 0 and 60000"),
            )),
        }
    }
}

/// `train --optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerName {
    Sgd,
    // Plaintext only. (No doc comment: clap would switch the whole help to its long form.)
    Adam,
}

/// `train --loss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossName {
    #[value(name = "ce", alias = "cross-entropy")]
    CrossEntropy,
    Nll,
    Mse,
    Bce,
    #[value(name = "bce-logits", alias = "bce-with-logits")]
    BceWithLogits,
}

impl From<LossName> for Loss {
    fn from(l: LossName) -> Self {
        match l {
            LossName::CrossEntropy => Loss::CrossEntropy,
            LossName::Nll => Loss::Nll,
            LossName::Mse => Loss::Mse,
            LossName::Bce => Loss::Bce,
            LossName::BceWithLogits => Loss::BceWithLogits,
        }
    }
}

/// `train --split`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitName {
    Rows,
    Features,
}

impl From<SplitName> for DataSplit {
    fn from(s: SplitName) -> Self {
        match s {
            SplitName::Rows => DataSplit::Rows,
            SplitName::Features => DataSplit::Features,
        }
    }
}

/// `certs --job`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CertsJob {
    // A ReLU benchmark.
    BenchOp,
    // Private inference.
    Infer,
}

impl CertsJob {
    /// The name `launch::make_certs` takes.
    pub fn name(self) -> &'static str {
        match self {
            CertsJob::BenchOp => "bench-op",
            CertsJob::Infer => "infer",
        }
    }
}

/// A model's name for reports: a file's stem, or the zoo name as given.
pub fn model_label(model: &str) -> String {
    std::path::Path::new(model)
        .file_stem()
        .map_or(model.to_string(), |s| s.to_string_lossy().into_owned())
}

/// `--public-model`.
#[derive(Args, Debug)]
pub struct PublicModelArg {
    /// Keep the model public (cheaper public-operand products) instead of secret-sharing it.
    #[arg(long)]
    pub public_model: bool,
}

impl PublicModelArg {
    pub fn privacy(&self) -> WeightPrivacy {
        if self.public_model {
            WeightPrivacy::Public
        } else {
            WeightPrivacy::Private
        }
    }
}

/// `testbed audit --op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditOpName {
    Mul,
    Matmul,
    Truncation,
    Relu,
    Max,
    Softmax,
    TruncRelu,
}

impl From<AuditOpName> for crate::audit::AuditOp {
    fn from(o: AuditOpName) -> Self {
        use crate::audit::AuditOp;
        match o {
            AuditOpName::Mul => AuditOp::Mul,
            AuditOpName::Matmul => AuditOp::MatMul,
            AuditOpName::Truncation => AuditOp::Truncation,
            AuditOpName::Relu => AuditOp::Relu,
            AuditOpName::Max => AuditOp::Max,
            AuditOpName::Softmax => AuditOp::Softmax,
            AuditOpName::TruncRelu => AuditOp::TruncRelu,
        }
    }
}
