//! `testbed train`: a model trained in plaintext or privately, with loss and accuracy reported.

use super::args::{
    JsonArg, LossName, OptimizerName, PartiesArg, ShareSeedArg, SplitName, TransportArgs, load_protocol, model_label,
};
use crate::data::model::ModelSource;
use crate::error::Error;
use crate::launch::model::absolute;
use crate::launch::{JobSpec, PartyInputs};
use crate::nn::autograd::{Loss, Sgd};
use crate::train::private::{DataSplit, TrainJob, run_train_job, train_private_with};
use crate::train::{Optimizer, TrainConfig, default_loss, train_plain};
use clap::Args;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A zoo model name, `logreg` (one linear layer) or an ONNX file.
    #[arg(long)]
    model: String,
    /// A data set name (see `testbed::data::NAMES`).
    #[arg(long)]
    data: String,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples per mini-batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// sgd or adam (adam: plaintext only).
    #[arg(long, value_enum, default_value_t = OptimizerName::Sgd)]
    optimizer: OptimizerName,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0)]
    momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Zero gradient elements whose magnitude exceeds this (CrypTen's grad_threshold).
    #[arg(long)]
    grad_threshold: Option<f64>,
    /// The loss (default: nll for models ending in LogSoftmax, else ce).
    #[arg(long, value_enum)]
    loss: Option<LossName>,
    /// `plaintext`, or a protocol variant (a name in protocols/ or a path) for private training.
    #[arg(long, default_value = "plaintext")]
    protocol: String,
    #[command(flatten)]
    parties: PartiesArg,
    /// Fractional bits (overrides the protocol file).
    #[arg(long)]
    precision_bits: Option<u32>,
    /// Private training: who owns the data, by rows or by features.
    #[arg(long, value_enum, default_value_t = SplitName::Rows)]
    split: SplitName,
    /// Train on the first N training samples only.
    #[arg(long)]
    subset: Option<usize>,
    /// Initial weights (safetensors, by tensor name) instead of the zoo's random ones.
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
    /// Write the trained weights here (safetensors; every epoch in plaintext).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Seed of the initial weights and the batch order (data side; shares come from the OS).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    share: ShareSeedArg,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    json: JsonArg,
}

pub fn run(a: TrainArgs) -> Result<(), Error> {
    let transport = a.transport.kind();
    let mut split = crate::data::load(&a.data)?;
    if let Some(n) = a.subset {
        split.train = split.train.take(n)?;
    }
    let mut input = vec![a.batch];
    input.extend_from_slice(split.train.sample_shape());
    let graph = ModelSource::new(&a.model, a.seed)
        .with_weights(a.weights.clone())
        .with_classes(split.train.classes)
        .load_unprepared(&input)?;
    let loss = match a.loss {
        Some(l) => Loss::from(l),
        None if default_loss(&graph) == Loss::Nll => Loss::Nll,
        None => Loss::CrossEntropy,
    };
    let sgd = Sgd {
        lr: a.lr,
        momentum: a.momentum,
        weight_decay: a.weight_decay,
        nesterov: a.nesterov,
        grad_threshold: a.grad_threshold,
    };
    let optimizer = match a.optimizer {
        OptimizerName::Sgd => Optimizer::Sgd(sgd),
        OptimizerName::Adam => Optimizer::Adam {
            lr: a.lr,
            weight_decay: a.weight_decay,
        },
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch: a.batch,
        optimizer,
        loss,
        seed: a.seed,
        progress: true,
    };
    let data_split = DataSplit::from(a.split);
    let name = model_label(&a.model);
    let (trained, report) = if a.protocol == "plaintext" {
        train_plain(&graph, &name, &split, &cfg, a.out.as_deref())?
    } else {
        let proto = load_protocol(&a.protocol, a.parties.parties, a.precision_bits)?;
        let spec = JobSpec::Train {
            epochs: a.epochs,
            batch: a.batch,
            lr: a.lr,
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            nesterov: a.nesterov,
            grad_threshold: a.grad_threshold,
            loss: loss.name().into(),
            split: data_split.name().into(),
            seed: a.seed,
            classes: split.train.classes,
        };
        let model_files = PartyInputs {
            model: Some(absolute(std::path::Path::new(&a.model)).display().to_string()),
            weights: a.weights.as_deref().map(absolute),
            ..Default::default()
        };
        let tls = a.transport.tls();
        let runner = |job: &TrainJob<'_>, opts: &crate::protocol::SessionOptions| {
            run_train_job(&proto, opts, job, &spec, transport, tls, &model_files)
        };
        train_private_with(
            &proto,
            &graph,
            &name,
            &split,
            &cfg,
            data_split,
            a.share.announced(),
            transport.name(),
            runner,
        )?
    };
    if let Some(out) = &a.out {
        crate::nn::weights::save_weights(&trained, out)?;
    }
    if a.json.json {
        out!("{}", serde_json::to_string(&report).expect("reports serialise"));
    } else {
        out!(
            "trained {} on {} ({}, {} epochs): loss {:.4}, train accuracy {:.4}, test accuracy {:.4}, {:.3} s/epoch",
            report.model,
            report.data,
            report.protocol,
            report.epochs,
            report.final_loss,
            report.train_accuracy,
            report.test_accuracy,
            report.seconds_per_epoch
        );
        if report.protocol != "plaintext" {
            out!(
                "  rounds {}, bytes sent per party {:?}, {:.0} bytes per sample",
                report.rounds,
                report.bytes_sent_per_party,
                report.bytes_per_sample
            );
        }
    }
    Ok(())
}
