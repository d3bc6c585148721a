//! A validated experiment, as [`super::check`] builds it from the file: every name resolved
//! (protocols, zoo models, data sets, network profiles, sweep keys), every file checked, data sets
//! loaded and preprocessed. [`super::expand`] turns it into runs.

use super::netmodel::NetworkProfile;
use super::schema::{CompareFile, PreprocessFile, TrainFile};
use super::sweep::Dim;
use crate::bench::op::OpKind;
use crate::nn::infer::WeightPrivacy;
use crate::nn::tensor::F32Tensor;
use crate::protocol::ProtocolConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// A checked experiment, ready to expand into runs.
#[derive(Debug)]
pub struct Experiment {
    pub name: String,
    pub description: Option<String>,
    /// The file as named on the command line, and its text (for error positions).
    pub file: String,
    pub text: String,
    pub tasks: Vec<Task>,
    pub protocols: Vec<ProtocolConfig>,
    pub networks: Vec<NetworkProfile>,
    /// Fixed settings first, then the sweep in the order written.
    pub dims: Vec<Dim>,
    pub repetitions: usize,
    /// Unmeasured repetitions at the start of each run's session (first-touch memory, thread
    /// start-up), so wall times are warm.
    pub warmup: usize,
    pub seed: u64,
    /// INSECURE: fixed share randomness (tests); `None`: from the OS.
    pub insecure_share_seed: Option<u64>,
    pub tls: bool,
    /// results/<name> unless `outputs.dir` says otherwise.
    pub out_dir: PathBuf,
    pub plots: bool,
    /// The runs.csv column plot lines run along.
    pub line: Option<String>,
    pub compare: CompareFile,
}

/// A checked task.
#[derive(Debug)]
pub struct Task {
    pub name: String,
    /// What the task's numbers mean, for summaries.
    pub description: Option<String>,
    pub kind: TaskKind,
    /// The task's definition as written, for run ids.
    pub canonical: String,
    /// Default samples per batch (latency: the input shape's first dimension).
    pub batch_size: Option<usize>,
    pub weights_privacy: Option<WeightPrivacy>,
    /// Repetitions of this task's runs, when it overrides the experiment's (an accuracy task over
    /// many samples needs one; a latency task several for a median).
    pub repetitions: Option<usize>,
}

/// What a task measures.
#[derive(Debug)]
pub enum TaskKind {
    /// One private op on random inputs (`testbed bench op`).
    Op { op: OpKind, shapes: Vec<Vec<usize>> },
    /// A model on a random input: time, rounds, bytes, error against plaintext.
    Latency { model: ModelRef, input_shape: Vec<usize> },
    /// A model on samples of a data set: private and plaintext top-1, agreement, cost.
    Accuracy { model: ModelRef, data: Arc<EvalData> },
}

/// A model and its weights.
#[derive(Clone, Debug)]
pub struct ModelRef {
    /// A zoo name, or an absolute path to an ONNX file.
    pub model: String,
    /// Short name for tables.
    pub label: String,
    /// Absolute path of safetensors weights (for a `train:` task, the cache, which may not exist
    /// yet).
    pub weights: Option<String>,
    /// Plaintext training to run first when the cached weights do not exist yet.
    pub train: Option<TrainFile>,
}

/// The samples an accuracy task evaluates, preprocessed.
#[derive(Debug)]
pub struct EvalData {
    /// The data set's registered name (`digits`).
    pub dataset: String,
    /// The split's name, e.g. `digits/test`.
    pub name: String,
    /// `[n, ...sample shape]`.
    pub samples: F32Tensor,
    pub labels: Vec<usize>,
    /// Samples per class among `labels`.
    pub class_counts: Vec<usize>,
    /// The size of the split the samples come from.
    pub population: usize,
    /// The seed of the stratified sample; `None` when the whole split is evaluated.
    pub sample_seed: Option<u64>,
    /// Where the data came from (`data::provenance`).
    pub provenance: Option<String>,
    /// The preprocessing applied to `samples` (and to the training split before training).
    pub preprocess: Option<PreprocessFile>,
}

impl EvalData {
    /// One line for tables: the split and how the samples were chosen.
    pub fn describe(&self) -> String {
        match self.sample_seed {
            Some(seed) => format!(
                "{}: stratified sample of {} of {} (seed {seed})",
                self.name,
                self.labels.len(),
                self.population
            ),
            None => format!("{}: all {}", self.name, self.population),
        }
    }
}
