//! Training: mini-batch loops over a [`Dataset`] in plaintext (f32, the models our experiments
//! measure) and on shares ([`private`]), both on the one autograd of `nn::autograd`.
//!
//! May import `nn`, `data`, `protocol` and the layers below. A run is fixed by its
//! [`TrainConfig`]: the same seed gives the same initial weights (the zoo's), the same batch order
//! (a Fisher–Yates shuffle per epoch from the seed) and hence comparable plaintext and private
//! runs. Reported losses and accuracies come from the trained weights evaluated in plaintext
//! (`no_grad` inference), on the training and test sets.

pub mod private;

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::nn::autograd::{Adam, Ctx, Loss, MapCache, Sgd, backward, forward, trainable_params};
use crate::nn::exec::{Value, run};
use crate::nn::graph::{Const, Graph};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::F32Tensor;
use rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

/// The optimiser of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    Sgd(Sgd),
    /// Adam with this learning rate (plaintext only).
    Adam {
        lr: f64,
        weight_decay: f64,
    },
}

/// Everything that fixes a training run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: Optimizer,
    pub loss: Loss,
    /// Initial weights, batch order.
    pub seed: u64,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// The loss a model trains with when none is named: NLL for models whose output is a
/// LogSoftmax (they already return log-probabilities), cross-entropy on logits otherwise.
pub fn default_loss(graph: &Graph) -> Loss {
    let ends_in_log_softmax = graph.nodes.last().is_some_and(|n| {
        matches!(n.op, crate::nn::graph::Op::LogSoftmax { .. }) && graph.outputs.first() == n.outputs.first()
    });
    if ends_in_log_softmax {
        Loss::Nll
    } else {
        Loss::CrossEntropy
    }
}

/// The trainable weights and running statistics of a model being trained.
pub struct Model<T> {
    pub params: BTreeMap<String, T>,
    pub buffers: BTreeMap<String, Value<T>>,
    trainable: BTreeSet<String>,
    velocity: HashMap<String, T>,
    maps: MapCache,
}

impl<T: Clone> Model<T> {
    /// A model from its parameters and buffers (as backend values).
    pub fn new(graph: &Graph, params: BTreeMap<String, T>, buffers: BTreeMap<String, Value<T>>) -> Self {
        Self {
            params,
            buffers,
            trainable: trainable_params(graph),
            velocity: HashMap::new(),
            maps: MapCache::default(),
        }
    }
}

/// Names of the batch-norm running statistics of a graph.
pub fn buffer_names(graph: &Graph) -> BTreeSet<String> {
    graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, crate::nn::graph::Op::BatchNormalization { .. }))
        .flat_map(|n| n.inputs.iter().skip(3).cloned())
        .collect()
}

/// One training step: forward on `x`, loss against `target`, backward, and (for SGD) the update.
/// Returns the model output and, with `want_loss`, the loss; gradients are returned for
/// optimisers applied by the caller.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn step<B: crate::nn::autograd::AutodiffBackend>(
    b: &mut B,
    graph: &Graph,
    model: &mut Model<B::T>,
    x: B::T,
    target: &B::T,
    loss: Loss,
    sgd: Option<&Sgd>,
    want_loss: bool,
) -> Result<(B::T, Option<B::T>, HashMap<String, B::T>)> {
    let mut maps = std::mem::take(&mut model.maps);
    // The parameters move into the tape and back, so large weights are never copied.
    let mut values: HashMap<String, Value<B::T>> = model.buffers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let names: Vec<String> = model.params.keys().cloned().collect();
    for (k, p) in std::mem::take(&mut model.params) {
        values.insert(k, Value::Data(p));
    }
    let result = (|| {
        let mut cx = Ctx {
            b: &mut *b,
            maps: &mut maps,
        };
        let mut tape = forward(&mut cx, graph, vec![Value::Data(x)], values, &model.trainable, true)?;
        let out_name = graph
            .outputs
            .first()
            .ok_or_else(|| Error::invalid("model", "has no output"))?;
        let out = cx.data(tape.value(out_name)?)?;
        let (g, l) = loss.grad(&mut cx, &out, target, want_loss)?;
        let grads = backward(&mut cx, graph, &tape, vec![(out_name.clone(), g)])?;
        for (name, v) in std::mem::take(&mut tape.buffers) {
            model.buffers.insert(name, v);
        }
        for k in &names {
            match tape.values.remove(k) {
                Some(Value::Data(p)) => {
                    model.params.insert(k.clone(), p);
                }
                _ => return Err(Error::invalid("model", format!("parameter {k} was lost"))),
            }
        }
        Ok((out, l, grads))
    })();
    model.maps = maps;
    let (out, l, grads) = result?;
    if let Some(sgd) = sgd {
        sgd.step(b, &mut model.params, &grads, &mut model.velocity)?;
    }
    Ok((out, l, grads))
}

/// The batch order of `epoch`: a Fisher–Yates shuffle of `0..n` seeded by (seed, epoch).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng =
        rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    idx
}

/// Targets of `labels` for a model whose output rows have `width` values: one-hot rows for the
/// class losses and for MSE with several outputs, the label itself for one output (binary).
pub fn targets(labels: &[usize], width: usize, loss: Loss) -> Result<F32Tensor> {
    if width == 1 {
        if loss.is_class() {
            return Err(Error::invalid("--loss", "a class loss needs one output per class"));
        }
        return F32Tensor::from_vec(&[labels.len(), 1], labels.iter().map(|&l| l as f32).collect());
    }
    let mut data = vec![0.0f32; labels.len() * width];
    for (i, &l) in labels.iter().enumerate() {
        if l >= width {
            return Err(Error::invalid(
                "data",
                format!("label {l} does not fit a model with {width} outputs"),
            ));
        }
        data[i * width + l] = 1.0;
    }
    F32Tensor::from_vec(&[labels.len(), width], data)
}

/// The model's output width for a batch of `batch` inputs of the data set's sample shape.
pub fn output_width(graph: &Graph, data: &Dataset) -> Result<usize> {
    let (x, _) = data.batch(&[0])?;
    let y = infer(graph, &x)?;
    if y.rank() != 2 {
        return Err(Error::invalid(
            "model",
            format!("training needs outputs [batch, classes], got {:?}", y.shape()),
        ));
    }
    Ok(y.shape()[1])
}

/// Plaintext inference (`no_grad`): the graph's first output for input `x`.
pub fn infer(graph: &Graph, x: &F32Tensor) -> Result<F32Tensor> {
    let mut b = PlainBackend;
    match run(graph, &mut b, vec![Value::Data(x.clone())], HashMap::new())?.remove(0) {
        Value::Data(t) => Ok(t),
        other => match other.public() {
            Some(Const::F32(t)) => Ok(t),
            _ => Err(Error::invalid("model", "the output is not a real tensor")),
        },
    }
}

/// Index of the largest value of each row.
fn argmax_rows(y: &F32Tensor) -> Vec<usize> {
    let w = y.shape().get(1).copied().unwrap_or(1).max(1);
    y.data()
        .chunks(w)
        .map(|r| {
            if w == 1 {
                // One output: class 1 above 0 (a logit; probabilities are shifted first).
                return usize::from(r[0] > 0.0);
            }
            let mut best = 0;
            for (j, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// Loss and accuracy of the trained `graph` on `data`, in plaintext batches.
pub fn evaluate(graph: &Graph, data: &Dataset, loss: Loss, batch: usize) -> Result<(f64, f64)> {
    let width = output_width(graph, data)?;
    let (mut total, mut correct) = (0.0f64, 0usize);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let (x, labels) = data.batch(chunk)?;
        let mut y = infer(graph, &x)?;
        let t = targets(&labels, width, loss)?;
        let mut b = PlainBackend;
        let mut maps = MapCache::default();
        let mut cx = Ctx {
            b: &mut b,
            maps: &mut maps,
        };
        let (_, l) = loss.grad(&mut cx, &y, &t, true)?;
        total += l.map_or(0.0, |l| l.data()[0] as f64) * chunk.len() as f64;
        if width == 1 && loss == Loss::Bce {
            y = y.map(|p| p - 0.5);
        }
        correct += argmax_rows(&y).iter().zip(&labels).filter(|(a, b)| a == b).count();
    }
    let n = data.len().max(1) as f64;
    Ok((total / n, correct as f64 / n))
}

/// A copy of `graph` with its initializers replaced by `weights`.
pub fn with_weights(graph: &Graph, weights: &BTreeMap<String, F32Tensor>) -> Graph {
    let mut g = graph.clone();
    for (k, t) in weights {
        g.initializers.insert(k.clone(), Const::F32(t.clone()));
    }
    g
}

/// The real initializers of `graph` that training changes (parameters, then running statistics).
fn initial_weights(graph: &Graph) -> (BTreeMap<String, F32Tensor>, BTreeMap<String, F32Tensor>) {
    let buffers = buffer_names(graph);
    let train = trainable_params(graph);
    let mut p = BTreeMap::new();
    let mut b = BTreeMap::new();
    for (k, c) in &graph.initializers {
        if let Const::F32(t) = c {
            if train.contains(k) {
                p.insert(k.clone(), t.clone());
            } else if buffers.contains(k) {
                b.insert(k.clone(), t.clone());
            }
        }
    }
    (p, b)
}

/// What a training run reports (one JSON line with `--json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainReport {
    pub model: String,
    pub data: String,
    pub protocol: String,
    pub transport: String,
    pub parties: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub optimizer: String,
    pub loss: String,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Loss of the final weights on the training set.
    pub final_loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// Mean training loss of each epoch, as seen during training (plaintext runs).
    pub epoch_loss: Vec<f64>,
    pub wall_s: f64,
    pub seconds_per_epoch: f64,
    /// Private runs: online rounds of training (critical path; sharing excluded).
    pub rounds: u64,
    /// Private runs: online bytes each party sent during training.
    pub bytes_sent_per_party: Vec<u64>,
    /// Private runs: the busiest party's online bytes per training sample and epoch.
    pub bytes_per_sample: f64,
    /// Private runs: dealer-to-party bytes of the whole session.
    pub bytes_offline_total: u64,
    /// Private runs: online bytes each party sent to share the data and weights.
    pub bytes_sharing_per_party: Vec<u64>,
}

fn lr_of(o: &Optimizer) -> f64 {
    match o {
        Optimizer::Sgd(s) => s.lr,
        Optimizer::Adam { lr, .. } => *lr,
    }
}

/// A progress bar over `total` batches, hidden unless asked for and stderr is a terminal.
pub(crate) fn progress(total: usize, show: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Trains `graph` in plaintext on `split.train`; returns the trained graph and the report.
/// With `checkpoint`, the weights are written there (safetensors) after every epoch.
pub fn train_plain(
    graph: &Graph,
    name: &str,
    split: &Split,
    cfg: &TrainConfig,
    checkpoint: Option<&Path>,
) -> Result<(Graph, TrainReport)> {
    check_config(cfg, split)?;
    let width = output_width(graph, &split.train)?;
    let (p0, b0) = initial_weights(graph);
    let buffers = b0.into_iter().map(|(k, t)| (k, Value::Data(t))).collect();
    let mut model = Model::new(graph, p0, buffers);
    let mut adam = match &cfg.optimizer {
        Optimizer::Adam { lr, weight_decay } => {
            let mut a = Adam::new(*lr);
            a.weight_decay = *weight_decay;
            Some(a)
        }
        Optimizer::Sgd(_) => None,
    };
    let sgd = match &cfg.optimizer {
        Optimizer::Sgd(s) => Some(s.clone()),
        Optimizer::Adam { .. } => None,
    };
    let n = split.train.len();
    let batches = n.div_ceil(cfg.batch);
    let bar = progress(batches * cfg.epochs, cfg.progress);
    let mut b = PlainBackend;
    let mut epoch_loss = Vec::new();
    let mut current = graph.clone();
    let t0 = Instant::now();
    for epoch in 0..cfg.epochs {
        let order = epoch_order(n, cfg.seed, epoch);
        let (mut sum, mut correct) = (0.0f64, 0usize);
        for idx in order.chunks(cfg.batch) {
            let (x, labels) = split.train.batch(idx)?;
            let t = targets(&labels, width, cfg.loss)?;
            let (y, l, grads) = step(&mut b, graph, &mut model, x, &t, cfg.loss, sgd.as_ref(), true)?;
            if let Some(a) = adam.as_mut() {
                a.step(&mut model.params, &grads);
            }
            let l = l.map_or(f64::NAN, |l| l.data()[0] as f64);
            sum += l * idx.len() as f64;
            correct += argmax_rows(&y).iter().zip(&labels).filter(|(a, b)| a == b).count();
            bar.inc(1);
            bar.set_message(format!(
                "epoch {}/{} loss {:.4} acc {:.3}",
                epoch + 1,
                cfg.epochs,
                l,
                correct as f64 / n as f64
            ));
        }
        if !sum.is_finite() {
            return Err(Error::invalid(
                "training",
                format!("the loss diverged in epoch {} (try a smaller --lr)", epoch + 1),
            ));
        }
        epoch_loss.push(sum / n as f64);
        current = with_weights(graph, &plain_weights(&model)?);
        if let Some(path) = checkpoint {
            crate::nn::weights::save_weights(&current, path)?;
        }
    }
    bar.finish_and_clear();
    let wall = t0.elapsed().as_secs_f64();
    let (final_loss, train_acc) = evaluate(&current, &split.train, cfg.loss, 256)?;
    let (_, test_acc) = evaluate(&current, &split.test, cfg.loss, 256)?;
    let report = TrainReport {
        model: name.to_string(),
        data: split.train.name.trim_end_matches("/train").to_string(),
        protocol: "plaintext".into(),
        transport: "none".into(),
        parties: 1,
        epochs: cfg.epochs,
        batch: cfg.batch,
        lr: lr_of(&cfg.optimizer),
        optimizer: optimizer_name(&cfg.optimizer).into(),
        loss: cfg.loss.name().into(),
        train_samples: n,
        test_samples: split.test.len(),
        final_loss,
        train_accuracy: train_acc,
        test_accuracy: test_acc,
        epoch_loss,
        wall_s: wall,
        seconds_per_epoch: wall / cfg.epochs.max(1) as f64,
        rounds: 0,
        bytes_sent_per_party: Vec::new(),
        bytes_per_sample: 0.0,
        bytes_offline_total: 0,
        bytes_sharing_per_party: Vec::new(),
    };
    Ok((current, report))
}

fn optimizer_name(o: &Optimizer) -> &'static str {
    match o {
        Optimizer::Sgd(_) => "sgd",
        Optimizer::Adam { .. } => "adam",
    }
}

/// The f32 weights and buffers of a plaintext model.
fn plain_weights(model: &Model<F32Tensor>) -> Result<BTreeMap<String, F32Tensor>> {
    let mut w = model.params.clone();
    for (k, v) in &model.buffers {
        let t = match v {
            Value::Data(t) => t.clone(),
            Value::Public(c) => crate::nn::autograd::tape::as_f32(c)?,
            // Only a private session encodes public values in the ring; plaintext buffers are f32.
            Value::Encoded { .. } => {
                return Err(Error::invalid(
                    "weights",
                    format!("buffer `{k}` is ring-encoded, not a plaintext tensor"),
                ));
            }
        };
        w.insert(k.clone(), t);
    }
    Ok(w)
}

fn check_config(cfg: &TrainConfig, split: &Split) -> Result<()> {
    if cfg.epochs == 0 {
        return Err(Error::invalid("--epochs", "needs at least one epoch"));
    }
    if cfg.batch == 0 {
        return Err(Error::invalid("--batch", "needs at least one sample per batch"));
    }
    if split.train.is_empty() {
        return Err(Error::invalid("data", "the training set is empty"));
    }
    let lr = lr_of(&cfg.optimizer);
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::invalid("--lr", format!("{lr} is not a positive learning rate")));
    }
    Ok(())
}
