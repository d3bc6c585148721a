//! Private training: the data owners secret-share their samples and one-hot labels, the model
//! owner (party 0) shares the initial weights, every party runs the same SGD steps on shares, and
//! the trained weights are revealed to the model owner only.
//!
//! Data ownership ([`DataSplit`]): `rows` gives party i the i-th contiguous block of samples (each
//! with its labels); `features` gives party i the i-th block of every sample's flattened features
//! (concatenated on shares, as CrypTen's split-MNIST example) and the labels to the last party.
//! The batch order is public (it comes from the run's seed), so a batch is a local gather of the
//! shared data set.

use super::{Model, Optimizer, TrainConfig, TrainReport, epoch_order, evaluate, initial_weights};
use super::{check_config, output_width, progress, step, targets, with_weights};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::net::MeterReport;
use crate::nn::exec::Value;
use crate::nn::graph::Graph;
use crate::nn::private::PrivateBackend;
use crate::nn::tensor::F32Tensor;
use crate::protocol::{DealerKind, Job, Outcome, Protocol, ProtocolConfig, SessionOptions, simulate};
use crate::ring::{RingTensor, decode, encode};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How the training data is divided among the parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSplit {
    /// Party i owns the i-th block of samples.
    Rows,
    /// Party i owns the i-th block of every sample's features; the last party owns the labels.
    Features,
}

impl DataSplit {
    /// Parses `rows` or `features`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "rows" => Ok(DataSplit::Rows),
            "features" => Ok(DataSplit::Features),
            _ => Err(Error::invalid("--split", format!("`{s}` is not rows or features"))),
        }
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            DataSplit::Rows => "rows",
            DataSplit::Features => "features",
        }
    }
}

/// What each party brings back from private training.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainRun {
    /// The trained weights and running statistics: party 0 only.
    pub weights: Option<BTreeMap<String, F32Tensor>>,
    /// Seconds of each epoch.
    pub epoch_wall: Vec<f64>,
    /// Traffic of sharing the data and the initial weights.
    pub sharing: MeterReport,
    /// Traffic of the training epochs.
    pub training: MeterReport,
}

/// The private training program every party runs.
pub struct TrainJob<'a> {
    pub graph: &'a Graph,
    /// The training set (only the parts a party owns are read on that party).
    pub data: &'a Dataset,
    pub cfg: &'a TrainConfig,
    pub split: DataSplit,
    /// The model's output width (classes, or 1).
    pub width: usize,
}

/// Contiguous block `i` of `0..n` split in `k` parts.
fn block(n: usize, k: usize, i: usize) -> std::ops::Range<usize> {
    (i * n / k)..((i + 1) * n / k)
}

impl TrainJob<'_> {
    /// Shares the data set: (inputs `[n, …]`, targets `[n, width]`).
    fn share_data<P: Protocol>(&self, p: &mut P) -> Result<(P::Share, P::Share)> {
        let (parties, me, f) = (p.parties(), p.id(), p.frac_bits());
        let n = self.data.len();
        let sample = self.data.sample_shape().to_vec();
        let feat: usize = sample.iter().product();
        let enc = |t: &F32Tensor| -> Result<RingTensor> {
            let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
            encode(&v, t.shape(), f)
        };
        let concat = |p: &P, acc: Option<P::Share>, part: P::Share, axis: usize| -> Result<P::Share> {
            match acc {
                None => Ok(part),
                Some(a) => p.linear2(&a, &part, &|u, v| RingTensor::concat(&[u, v], axis)),
            }
        };
        let (mut xs, mut ts) = (None, None);
        match self.split {
            DataSplit::Rows => {
                for owner in 0..parties {
                    let r = block(n, parties, owner);
                    if r.is_empty() {
                        continue;
                    }
                    let idx: Vec<usize> = r.clone().collect();
                    let mut xshape = vec![idx.len()];
                    xshape.extend_from_slice(&sample);
                    let (xv, tv) = if me == owner {
                        let (x, labels) = self.data.batch(&idx)?;
                        let t = targets(&labels, self.width, self.cfg.loss)?;
                        (Some(enc(&x)?), Some(enc(&t)?))
                    } else {
                        (None, None)
                    };
                    let x = p.share(owner, xv.as_ref(), &xshape)?;
                    let t = p.share(owner, tv.as_ref(), &[idx.len(), self.width])?;
                    xs = Some(concat(p, xs, x, 0)?);
                    ts = Some(concat(p, ts, t, 0)?);
                }
            }
            DataSplit::Features => {
                for owner in 0..parties {
                    let cols = block(feat, parties, owner);
                    if cols.is_empty() {
                        continue;
                    }
                    let xv = if me == owner {
                        let d = self.data.inputs.data();
                        let mut part = Vec::with_capacity(n * cols.len());
                        for i in 0..n {
                            part.extend_from_slice(&d[i * feat + cols.start..i * feat + cols.end]);
                        }
                        Some(enc(&F32Tensor::from_vec(&[n, cols.len()], part)?)?)
                    } else {
                        None
                    };
                    let x = p.share(owner, xv.as_ref(), &[n, cols.len()])?;
                    xs = Some(concat(p, xs, x, 1)?);
                }
                let last = parties - 1;
                let tv = if me == last {
                    Some(enc(&targets(&self.data.labels, self.width, self.cfg.loss)?)?)
                } else {
                    None
                };
                ts = Some(p.share(last, tv.as_ref(), &[n, self.width])?);
            }
        }
        let x = xs.ok_or_else(|| Error::invalid("data", "the training set is empty"))?;
        let mut full = vec![n];
        full.extend_from_slice(&sample);
        let x = p.linear(&x, &|t| t.clone().reshape(&full))?;
        Ok((x, ts.expect("targets are shared with the inputs")))
    }
}

impl Job for TrainJob<'_> {
    type Output = TrainRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<TrainRun> {
        let Optimizer::Sgd(sgd) = &self.cfg.optimizer else {
            return Err(Error::invalid("--optimizer", "private training supports sgd only"));
        };
        let (me, f) = (p.id(), p.frac_bits());
        p.barrier()?;
        let m0 = p.meter();
        let (x_all, t_all) = self.share_data(p)?;
        // The model owner's initial weights (every party knows only the shapes).
        let (w0, b0) = initial_weights(self.graph);
        let share_weight = |p: &mut P, t: &F32Tensor| -> Result<P::Share> {
            let v = if me == 0 {
                let d: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
                Some(encode(&d, t.shape(), f)?)
            } else {
                None
            };
            p.share(0, v.as_ref(), t.shape())
        };
        let mut params = BTreeMap::new();
        for (k, t) in &w0 {
            params.insert(k.clone(), share_weight(p, t)?);
        }
        let mut buffers = BTreeMap::new();
        for (k, t) in &b0 {
            buffers.insert(k.clone(), Value::Data(share_weight(p, t)?));
        }
        let sharing = p.meter().since(&m0);
        p.barrier()?;
        let m1 = p.meter();
        let mut model = Model::new(self.graph, params, buffers);
        let n = self.data.len();
        let batches = n.div_ceil(self.cfg.batch);
        let bar = progress(batches * self.cfg.epochs, self.cfg.progress && me == 0);
        let mut epoch_wall = Vec::new();
        for epoch in 0..self.cfg.epochs {
            let t0 = Instant::now();
            let order = epoch_order(n, self.cfg.seed, epoch);
            for idx in order.chunks(self.cfg.batch) {
                let xb = p.linear(&x_all, &|t| t.index_select(0, idx))?;
                let tb = p.linear(&t_all, &|t| t.index_select(0, idx))?;
                let mut b = PrivateBackend::new(p);
                step(&mut b, self.graph, &mut model, xb, &tb, self.cfg.loss, Some(sgd), false)?;
                bar.inc(1);
                bar.set_message(format!("epoch {}/{}", epoch + 1, self.cfg.epochs));
            }
            epoch_wall.push(t0.elapsed().as_secs_f64());
        }
        bar.finish_and_clear();
        let training = p.meter().since(&m1);
        // Reveal the trained weights and statistics to the model owner only.
        let mut weights = BTreeMap::new();
        let all: Vec<(String, P::Share)> = model
            .params
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .chain(model.buffers.iter().map(|(k, v)| match v {
                Value::Data(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::invalid("training", format!("buffer {k} is not shared"))),
            }))
            .collect::<Result<_>>()?;
        for (k, s) in all {
            if let Some(r) = p.reveal_to(&s, 0)? {
                let v: Vec<f32> = decode(&r, f).iter().map(|&x| x as f32).collect();
                weights.insert(k, F32Tensor::from_vec(r.shape(), v)?);
            }
        }
        Ok(TrainRun {
            weights: (me == 0).then_some(weights),
            epoch_wall,
            sharing,
            training,
        })
    }
}

/// Trains `graph` privately under protocol `proto` (simulated parties) and evaluates the revealed
/// weights in plaintext. `session_seed` makes shares reproducible.
pub fn train_private(
    proto: &ProtocolConfig,
    graph: &Graph,
    name: &str,
    split: &Split,
    cfg: &TrainConfig,
    data_split: DataSplit,
    session_seed: Option<u64>,
) -> Result<(Graph, TrainReport)> {
    let sim = |job: &TrainJob<'_>, opts: &SessionOptions| simulate(proto, opts, job);
    train_private_with(proto, graph, name, split, cfg, data_split, session_seed, "sim", sim)
}

/// [`train_private`] with the parties run by `runner` (the simulator, or party processes over TCP;
/// `transport` names it in the report).
#[allow(clippy::too_many_arguments)]
pub fn train_private_with(
    proto: &ProtocolConfig,
    graph: &Graph,
    name: &str,
    split: &Split,
    cfg: &TrainConfig,
    data_split: DataSplit,
    session_seed: Option<u64>,
    transport: &str,
    runner: impl FnOnce(&TrainJob<'_>, &SessionOptions) -> Result<Outcome<TrainRun>>,
) -> Result<(Graph, TrainReport)> {
    check_config(cfg, split)?;
    if !matches!(cfg.optimizer, Optimizer::Sgd(_)) {
        return Err(Error::invalid("--optimizer", "private training supports sgd only"));
    }
    let width = output_width(graph, &split.train)?;
    let job = TrainJob {
        graph,
        data: &split.train,
        cfg,
        split: data_split,
        width,
    };
    let opts = SessionOptions {
        seed: session_seed,
        timeout: Duration::from_secs(600),

        ..Default::default()
    };
    let t0 = Instant::now();
    let outcome = runner(&job, &opts)?;
    let wall = t0.elapsed().as_secs_f64();
    let weights = outcome
        .parties
        .first()
        .and_then(|p| p.output.weights.clone())
        .ok_or_else(|| Error::invalid("training", "party 0 received no weights"))?;
    let trained = with_weights(graph, &weights);
    let (final_loss, train_accuracy) = evaluate(&trained, &split.train, cfg.loss, 256)?;
    let (_, test_accuracy) = evaluate(&trained, &split.test, cfg.loss, 256)?;
    let train_wall = outcome
        .parties
        .iter()
        .map(|p| p.output.epoch_wall.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let bytes: Vec<u64> = outcome.parties.iter().map(|p| p.output.training.online()).collect();
    let n = split.train.len();
    let offline = match (&outcome.dealer, proto.dealer) {
        (Some(d), DealerKind::Ttp) => d.offline(),
        _ => 0,
    };
    let report = TrainReport {
        model: name.to_string(),
        data: split.train.name.trim_end_matches("/train").to_string(),
        protocol: proto.name.clone(),
        transport: transport.into(),
        parties: proto.parties,
        epochs: cfg.epochs,
        batch: cfg.batch,
        lr: super::lr_of(&cfg.optimizer),
        optimizer: "sgd".into(),
        loss: cfg.loss.name().into(),
        train_samples: n,
        test_samples: split.test.len(),
        final_loss,
        train_accuracy,
        test_accuracy,
        epoch_loss: Vec::new(),
        wall_s: wall,
        seconds_per_epoch: train_wall / cfg.epochs.max(1) as f64,
        rounds: crate::net::critical_path(outcome.parties.iter().map(|p| &p.output.training)).critical,
        bytes_per_sample: bytes.iter().copied().max().unwrap_or(0) as f64 / (n * cfg.epochs).max(1) as f64,
        bytes_sent_per_party: bytes,
        bytes_offline_total: offline,
        bytes_sharing_per_party: outcome.parties.iter().map(|p| p.output.sharing.online()).collect(),
    };
    Ok((trained, report))
}
