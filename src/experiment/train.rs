//! EXTENSION POINT for plaintext training before a private evaluation (`train:` in a task).
//!
//! An accuracy task may say
//!
//! ```yaml
//! train: { weights: results/digits/mlp.safetensors, epochs: 5, learning_rate: 0.1, batch_size: 32 }
//! ```
//!
//! meaning: train the model in plaintext on the data set's training split, cache the weights at
//! `weights`, then evaluate privately with them. The cache makes re-runs (and `--resume`) skip
//! training. The training loop itself belongs to the autograd/training layer; until it is wired in
//! here, [`AVAILABLE`] is false and an experiment whose cache file does not exist yet is rejected
//! before anything runs (an existing cache file is used as is).
//!
//! To wire it in: set [`AVAILABLE`] to true and make [`train_weights`] call the library training
//! loop with `spec` (epochs, learning rate, batch size) on `data.train`, then save the trained
//! initializers of `graph` as safetensors at `spec.weights` (`crate::nn::io::save_safetensors`).

use super::schema::TrainFile;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::nn::graph::Graph;

/// Whether this build can train (see the module docs).
pub const AVAILABLE: bool = false;

/// Trains `graph` in plaintext on `data.train` and writes the weights to `spec.weights`.
pub fn train_weights(graph: &mut Graph, data: &Split, spec: &TrainFile) -> Result<()> {
    let _ = (graph, data);
    Err(Error::invalid(
        "train",
        format!(
            "plaintext training is not available in this build; provide trained weights at {}",
            spec.weights
        ),
    ))
}
