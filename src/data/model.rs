//! Where a model comes from, as its owner names it: a zoo name, `logreg` (training), an ONNX file,
//! or a pretrained model of the data registry, with an optional safetensors weights file and the
//! seed of random weights. The one model loader behind `infer`, `bench model`, `train`,
//! experiments and `testbed party`.

use crate::error::{Error, Result};
use crate::nn::graph::{DType, Graph, Op};
use crate::nn::{onnx, passes, zoo};
use std::path::{Path, PathBuf};

/// A model as its owner names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSource {
    /// A zoo name, a pretrained model of the registry (`minilm_polarity`), or an `.onnx` file.
    pub model: String,
    /// Weights replacing the model's own, by tensor name.
    pub weights: Option<PathBuf>,
    /// Seed of a zoo model's random weights.
    pub seed: u64,
    /// Classes of the task, for models sized by it (`logreg`); zoo models bring their own.
    pub classes: Option<usize>,
}

/// The model name of multinomial logistic regression: one linear layer, sized by the input and the
/// task's classes.
pub const LOGREG: &str = "logreg";

impl ModelSource {
    /// A model with its own (or seeded random) weights.
    pub fn new(model: &str, seed: u64) -> Self {
        Self {
            model: model.to_string(),
            weights: None,
            seed,
            classes: None,
        }
    }

    /// The same model sized for a task of `classes` classes (training; see [`LOGREG`]).
    pub fn with_classes(mut self, classes: usize) -> Self {
        self.classes = Some(classes);
        self
    }

    /// The same model with weights from `path`.
    pub fn with_weights(mut self, path: Option<PathBuf>) -> Self {
        self.weights = path;
        self
    }

    /// The graph for inputs of `input_shape` (zoo models size their layers by it), weights loaded,
    /// before any inference pass: batch norm is still a layer of its own (training reads it so).
    pub fn load_unprepared(&self, input_shape: &[usize]) -> Result<Graph> {
        let m = &self.model;
        let mut graph = if m.ends_with(".onnx") || Path::new(m).is_file() {
            onnx::load_onnx(Path::new(m))?
        } else if m == super::minilm::POLARITY_MODEL {
            super::minilm::polarity_model(self.seed)?
        } else if m == LOGREG {
            let classes = self
                .classes
                .ok_or_else(|| Error::invalid("--model", "logreg is sized by a task's classes (train only)"))?;
            logreg(input_shape, classes, self.seed)
        } else {
            zoo::build(m, input_shape, self.seed)?
        };
        if let Some(w) = &self.weights {
            crate::nn::weights::load_weights(&mut graph, w, false)?;
        }
        Ok(graph)
    }

    /// [`ModelSource::load_unprepared`] prepared for inference (`passes::prepare_inference`: batch
    /// norm folded, ReLU after max pool). Weights load before the passes: folding batch norm
    /// first would drop a file's statistics.
    pub fn load(&self, input_shape: &[usize]) -> Result<Graph> {
        let mut graph = self.load_unprepared(input_shape)?;
        passes::prepare_inference(&mut graph)?;
        Ok(graph)
    }
}

/// One linear layer from the flattened sample to `classes` logits, random weights from `seed`.
fn logreg(input: &[usize], classes: usize, seed: u64) -> Graph {
    let mut b = zoo::Builder::new(seed);
    let x = b.input("input", DType::F32, input);
    let features: usize = input[1..].iter().product();
    let x = if input.len() > 2 {
        b.node(Op::Flatten { axis: 1 }, &[&x])
    } else {
        x
    };
    let y = b.linear(&x, "fc", features, classes);
    b.output(&y);
    b.graph
}
