//! Plaintext training before a private evaluation (`train:` in an accuracy task).
//!
//! ```yaml
//! train: { weights: results/digits/mlp.safetensors, epochs: 5, learning_rate: 0.1, batch_size: 32 }
//! ```
//!
//! means: train the task's model in plaintext (the library loop of `crate::train`) on the data
//! set's training split, preprocessed like the evaluated samples, cache the weights at `weights`,
//! then evaluate privately with them. The cache makes re-runs (and `--resume`) skip training; it is
//! written through a temporary file and a rename, so a crash never leaves a half-written cache.
//! Next to it, `<weights>.json` records the training report (accuracies, loss, time).

use super::schema::TrainFile;
use crate::data::model::ModelSource;
use crate::data::{Split, minilm};
use crate::error::{Error, Result};
use crate::nn::autograd::Sgd;
use crate::nn::io::write_atomic;
use crate::train::{Optimizer, TrainConfig, TrainReport, default_loss, train_plain};
use std::path::Path;

/// Defaults of a `train:` section.
pub const DEFAULT_EPOCHS: u32 = 5;
pub const DEFAULT_LEARNING_RATE: f64 = 0.05;
pub const DEFAULT_BATCH_SIZE: usize = 32;
pub const DEFAULT_MOMENTUM: f64 = 0.9;

/// Checks the values of a `train:` section (called before any run starts); `Err` carries the
/// field name and the problem.
pub fn check(spec: &TrainFile) -> std::result::Result<(), (&'static str, String)> {
    if spec.epochs == Some(0) {
        return Err(("epochs", "needs at least one epoch".into()));
    }
    if spec.batch_size == Some(0) {
        return Err(("batch_size", "needs at least one sample per batch".into()));
    }
    if let Some(lr) = spec.learning_rate
        && !(lr > 0.0 && lr.is_finite())
    {
        return Err(("learning_rate", format!("{lr} is not a positive number")));
    }
    if let Some(o) = &spec.optimizer
        && o != "sgd"
        && o != "adam"
    {
        return Err(("optimizer", format!("`{o}` is not sgd or adam")));
    }
    if spec.samples == Some(0) {
        return Err(("samples", "needs at least one training sample".into()));
    }
    Ok(())
}

/// Trains zoo model (or ONNX file) `model` in plaintext on `data.train` as `spec` says, from
/// `seed`, and writes the weights to `spec.weights` (and the report next to them).
///
/// `minilm_polarity` trains its head only: the frozen encoder's pooled embeddings of both splits
/// are computed once in plaintext, then a `logreg` (the head's layer `fc`) trains on them, and
/// its weights are what the cache holds.
pub fn train_weights(model: &str, data: &Split, spec: &TrainFile, seed: u64) -> Result<TrainReport> {
    let split = Split {
        train: data.train.clone(),
        test: data.test.clone(),
    };
    let (model, split) = if model == minilm::POLARITY_MODEL {
        eprintln!(
            "embedding {} words with the frozen MiniLM encoder ...",
            split.train.len() + split.test.len()
        );
        let encoder = minilm::encoder()?;
        let embedded = Split {
            train: minilm::embed(&encoder, &split.train)?,
            test: minilm::embed(&encoder, &split.test)?,
        };
        (crate::data::model::LOGREG, embedded)
    } else {
        (model, split)
    };
    let mut split = split;
    if let Some(n) = spec.samples {
        if n > split.train.len() {
            return Err(Error::invalid(
                "train.samples",
                format!("{} has only {} samples", split.train.name, split.train.len()),
            ));
        }
        split.train = split.train.take(n)?;
    }
    let batch = spec.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
    let mut shape = vec![batch];
    shape.extend_from_slice(split.train.sample_shape());
    let graph = ModelSource::new(model, seed)
        .with_classes(split.train.classes)
        .load_unprepared(&shape)?;
    let lr = spec.learning_rate.unwrap_or(DEFAULT_LEARNING_RATE);
    let weight_decay = spec.weight_decay.unwrap_or(0.0);
    let optimizer = match spec.optimizer.as_deref() {
        Some("adam") => Optimizer::Adam { lr, weight_decay },
        _ => Optimizer::Sgd(Sgd {
            lr,
            momentum: spec.momentum.unwrap_or(DEFAULT_MOMENTUM),
            weight_decay,
            ..Sgd::new(lr)
        }),
    };
    let cfg = TrainConfig {
        epochs: spec.epochs.unwrap_or(DEFAULT_EPOCHS) as usize,
        batch,
        optimizer,
        loss: default_loss(&graph),
        seed,
        progress: true,
    };
    let name = Path::new(model)
        .file_stem()
        .map_or(model.to_string(), |s| s.to_string_lossy().into_owned());
    eprintln!(
        "training {name} on {} ({} samples, {} epochs) for {} ...",
        split.train.name,
        split.train.len(),
        cfg.epochs,
        spec.weights
    );
    let (trained, report) = train_plain(&graph, &name, &split, &cfg, None)?;
    let path = Path::new(&spec.weights);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let report_json = serde_json::to_string_pretty(&report).expect("a report serialises");
    write_atomic(&path.with_extension("json"), report_json.as_bytes())?;
    // Both writes are atomic (`nn::io`): the report first, so a cache file always has one.
    crate::nn::weights::save_weights(&trained, path)?;
    eprintln!(
        "trained {name}: train accuracy {:.4}, test accuracy {:.4}, {:.1} s; weights at {}",
        report.train_accuracy, report.test_accuracy, report.wall_s, spec.weights
    );
    Ok(report)
}
