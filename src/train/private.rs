//! Private training: the data owners secret-share their samples and one-hot labels, the model
//! owner (party 0) shares the initial weights, every party runs the same SGD steps on shares, and
//! the trained weights are revealed to the model owner only.
//!
//! Data ownership ([`DataSplit`]): `rows` gives party i the i-th contiguous block of samples (each
//! with its labels); `features` gives party i the i-th block of every sample's flattened features
//! (concatenated on shares, as CrypTen's split-MNIST example) and the labels to the last party.
//! The batch order is public (it comes from the run's seed), so a batch is a local gather of the
//! shared data set.

use super::{Model, Optimizer, TrainConfig, TrainReport, epoch_order, evaluate};
use super::{check_config, progress, step, targets, with_weights};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::net::MeterReport;
use crate::nn::autograd::tape::trainable_params;
use crate::nn::exec::Value;
use crate::nn::graph::Const;
use crate::nn::graph::Graph;
use crate::nn::infer::{OwnedModel, WeightPrivacy};
use crate::nn::owners::{InputInfo, MODEL_OWNER, encode_f32, private_weights, publish_model};
use crate::nn::private::PrivateBackend;
use crate::nn::tensor::F32Tensor;
use crate::protocol::publish_value;
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
    /// The trained weights and running statistics: party 0 only. Never in a party process's
    /// report: that process writes them to its `--output` file.
    #[serde(skip)]
    pub weights: Option<BTreeMap<String, F32Tensor>>,
    /// Seconds of each epoch.
    pub epoch_wall: Vec<f64>,
    /// Traffic of sharing the data and the initial weights.
    pub sharing: MeterReport,
    /// Traffic of the training epochs.
    pub training: MeterReport,
}

/// What one party holds for private training.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainData {
    /// `rows`: this party's samples `[n_i, ...]`; `features`: its block of every sample's
    /// flattened features `[n, c_i]`.
    pub x: Option<F32Tensor>,
    /// The labels this party owns: of its rows (`rows`), of every sample (`features`, the last
    /// party).
    pub labels: Option<Vec<usize>>,
}

impl TrainData {
    /// Divides a data set among `parties` as `split` says: what the simulator and the local
    /// launcher, which hold everything, hand to each party.
    pub fn divide(data: &Dataset, split: DataSplit, parties: usize) -> Result<Vec<TrainData>> {
        let n = data.len();
        let sample = data.sample_shape();
        let feat: usize = sample.iter().product();
        (0..parties)
            .map(|i| match split {
                DataSplit::Rows => {
                    let idx: Vec<usize> = block(n, parties, i).collect();
                    let (x, labels) = data.batch(&idx)?;
                    Ok(TrainData {
                        x: Some(x),
                        labels: Some(labels),
                    })
                }
                DataSplit::Features => {
                    let cols = block(feat, parties, i);
                    let d = data.inputs.data();
                    let mut part = Vec::with_capacity(n * cols.len());
                    for r in 0..n {
                        part.extend_from_slice(&d[r * feat + cols.start..r * feat + cols.end]);
                    }
                    Ok(TrainData {
                        x: Some(F32Tensor::from_vec(&[n, cols.len()], part)?),
                        labels: (i + 1 == parties).then(|| data.labels.clone()),
                    })
                }
            })
            .collect()
    }
}

/// What a party publishes about its training data: the shape of its block and how many labels it
/// has.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct DataInfo {
    shape: Vec<usize>,
    labels: Option<usize>,
}

/// The private training program every party runs. A party process holds only its own entry of
/// `data` (and party 0 the model); in the simulator every party sees the job and reads only its
/// own part.
pub struct TrainJob<'a> {
    /// The model owner's model with its initial weights, built for the published input shape
    /// `[batch, ...sample]`.
    pub model: Option<OwnedModel<'a>>,
    /// Each party's data, by party id.
    pub data: &'a [TrainData],
    pub cfg: &'a TrainConfig,
    pub split: DataSplit,
}

/// Contiguous block `i` of `0..n` split in `k` parts.
fn block(n: usize, k: usize, i: usize) -> std::ops::Range<usize> {
    (i * n / k)..((i + 1) * n / k)
}

/// The public facts every party published, checked against each other: rows, sample shape.
fn check_infos(infos: &[DataInfo], split: DataSplit) -> Result<(usize, Vec<usize>)> {
    let bad = |who: usize, what: String| Error::invalid("data", format!("party {who}: {what}"));
    match split {
        DataSplit::Rows => {
            let sample = infos.iter().find(|i| i.shape.len() > 1).map(|i| i.shape[1..].to_vec());
            let sample = sample.ok_or_else(|| Error::invalid("data", "no party has training rows"))?;
            let mut n = 0;
            for (who, i) in infos.iter().enumerate() {
                let rows = i.shape.first().copied().unwrap_or(0);
                if rows > 0 && i.shape[1..] != sample[..] {
                    return Err(bad(
                        who,
                        format!("samples of shape {:?}, others {sample:?}", &i.shape[1..]),
                    ));
                }
                if i.labels != Some(rows) {
                    return Err(bad(who, format!("{rows} rows but {:?} labels", i.labels)));
                }
                n += rows;
            }
            Ok((n, sample))
        }
        DataSplit::Features => {
            let n = infos.first().and_then(|i| i.shape.first().copied()).unwrap_or(0);
            let mut width = 0;
            for (who, i) in infos.iter().enumerate() {
                if i.shape.len() != 2 || i.shape[0] != n {
                    return Err(bad(
                        who,
                        format!("columns of shape {:?}; every party needs [{n}, c]", i.shape),
                    ));
                }
                width += i.shape[1];
                let want = (who + 1 == infos.len()).then_some(n);
                if i.labels != want {
                    return Err(bad(who, format!("{:?} labels; the last party owns all {n}", i.labels)));
                }
            }
            Ok((n, vec![width]))
        }
    }
}

impl TrainJob<'_> {
    /// Shares the data: (inputs `[n, ...sample]`, targets `[n, width]`).
    fn share_data<P: Protocol>(
        &self,
        p: &mut P,
        infos: &[DataInfo],
        sample: &[usize],
        width: usize,
    ) -> Result<(P::Share, P::Share)> {
        let (me, f) = (p.id(), p.frac_bits());
        let mine = self.data.get(me);
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
        let axis = match self.split {
            DataSplit::Rows => 0,
            DataSplit::Features => 1,
        };
        let (mut xs, mut ts) = (None, None);
        for (owner, info) in infos.iter().enumerate() {
            if info.shape.iter().product::<usize>() == 0 {
                continue;
            }
            let own = mine.filter(|_| me == owner);
            let xv = own.and_then(|d| d.x.as_ref()).map(enc).transpose()?;
            let x = p.share(owner, xv.as_ref(), &info.shape)?;
            xs = Some(concat(p, xs, x, axis)?);
            if let Some(rows) = info.labels {
                let labels = own.and_then(|d| d.labels.as_ref());
                let tv = labels.map(|l| enc(&targets(l, width, self.cfg.loss)?)).transpose()?;
                let t = p.share(owner, tv.as_ref(), &[rows, width])?;
                ts = Some(concat(p, ts, t, 0)?);
            }
        }
        let x = xs.ok_or_else(|| Error::invalid("data", "the training set is empty"))?;
        let t = ts.ok_or_else(|| Error::invalid("data", "nobody owns labels"))?;
        let n = infos.iter().map(|i| i.labels.unwrap_or(0)).sum::<usize>();
        let full: Vec<usize> = [n].into_iter().chain(sample.iter().copied()).collect();
        let x = p.linear(&x, &|t| t.clone().reshape(&full))?;
        Ok((x, t))
    }
}

impl Job for TrainJob<'_> {
    type Output = TrainRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<TrainRun> {
        let Optimizer::Sgd(sgd) = &self.cfg.optimizer else {
            return Err(Error::invalid("--optimizer", "private training supports sgd only"));
        };
        let me = p.id();
        // What every party's data looks like, then the model built for it by its owner.
        let mut infos = Vec::with_capacity(p.parties());
        for owner in 0..p.parties() {
            let mine = self.data.get(owner).filter(|_| me == owner).map(|d| DataInfo {
                shape: d.x.as_ref().map_or(vec![0], |x| x.shape().to_vec()),
                labels: d.labels.as_ref().map(Vec::len),
            });
            infos.push(publish_value(p, owner, mine.as_ref())?);
        }
        let (n, sample) = check_infos(&infos, self.split)?;
        let input: Vec<usize> = [self.cfg.batch].into_iter().chain(sample.iter().copied()).collect();
        let own = match self.model.filter(|_| me == MODEL_OWNER) {
            Some(m) => Some(m.graph(&[InputInfo {
                shape: input.clone(),
                ids: false,
            }])?),
            None => None,
        };
        let graph = publish_model(p, own.as_deref(), WeightPrivacy::Private)?;
        let width = output_width_of(&graph, &sample)?;
        p.barrier()?;
        let m0 = p.meter();
        let (x_all, t_all) = self.share_data(p, &infos, &sample, width)?;
        // The model owner's initial weights (every party knows only the shapes): the trainable
        // ones train, the other private initializers (batch-norm statistics, constants) ride along.
        let trainable = trainable_params(&graph);
        let mut params = BTreeMap::new();
        let mut buffers = BTreeMap::new();
        for name in private_weights(&graph, WeightPrivacy::Private) {
            let Some(Const::F32(t)) = graph.initializers.get(&name) else {
                continue;
            };
            let v = (me == MODEL_OWNER).then(|| encode_f32(p, t)).transpose()?;
            let s = p.share(MODEL_OWNER, v.as_ref(), t.shape())?;
            if trainable.contains(&name) {
                params.insert(name, s);
            } else {
                buffers.insert(name, Value::Data(s));
            }
        }
        let sharing = p.meter().since(&m0);
        p.barrier()?;
        let m1 = p.meter();
        let mut model = Model::new(&graph, params, buffers);
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
                step(&mut b, &graph, &mut model, xb, &tb, self.cfg.loss, Some(sgd), false)?;
                bar.inc(1);
                bar.set_message(format!("epoch {}/{}", epoch + 1, self.cfg.epochs));
            }
            epoch_wall.push(t0.elapsed().as_secs_f64());
        }
        bar.finish_and_clear();
        let training = p.meter().since(&m1);
        // Reveal the trained weights and statistics to the model owner only.
        let f = p.frac_bits();
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
            if let Some(r) = p.reveal_to(&s, MODEL_OWNER)? {
                let v: Vec<f32> = decode(&r, f).iter().map(|&x| x as f32).collect();
                weights.insert(k, F32Tensor::from_vec(r.shape(), v)?);
            }
        }
        Ok(TrainRun {
            weights: (me == MODEL_OWNER).then_some(weights),
            epoch_wall,
            sharing,
            training,
        })
    }
}

/// The width of the model's output rows for samples of `sample` shape: run in plaintext on zeros
/// (every party can, from the architecture alone).
fn output_width_of(graph: &Graph, sample: &[usize]) -> Result<usize> {
    let shape: Vec<usize> = [1].into_iter().chain(sample.iter().copied()).collect();
    let y = super::infer(graph, &F32Tensor::zeros(&shape))?;
    if y.rank() != 2 {
        return Err(Error::invalid(
            "model",
            format!("training needs outputs [batch, classes], got {:?}", y.shape()),
        ));
    }
    Ok(y.shape()[1])
}

/// Trains `graph` privately under protocol `proto` (simulated parties) and evaluates the revealed
/// weights in plaintext (here, where both the weights and the test set are at hand: the caller
/// plays every party). `insecure_share_seed` makes shares reproducible (tests only).
pub fn train_private(
    proto: &ProtocolConfig,
    graph: &Graph,
    name: &str,
    split: &Split,
    cfg: &TrainConfig,
    data_split: DataSplit,
    insecure_share_seed: Option<u64>,
) -> Result<(Graph, TrainReport)> {
    let sim = |job: &TrainJob<'_>, opts: &SessionOptions| simulate(proto, opts, job);
    train_private_with(
        proto,
        graph,
        name,
        split,
        cfg,
        data_split,
        insecure_share_seed,
        "sim",
        sim,
    )
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
    insecure_share_seed: Option<u64>,
    transport: &str,
    runner: impl FnOnce(&TrainJob<'_>, &SessionOptions) -> Result<Outcome<TrainRun>>,
) -> Result<(Graph, TrainReport)> {
    check_config(cfg, split)?;
    if !matches!(cfg.optimizer, Optimizer::Sgd(_)) {
        return Err(Error::invalid("--optimizer", "private training supports sgd only"));
    }
    let data = TrainData::divide(&split.train, data_split, proto.parties)?;
    let job = TrainJob {
        model: Some(OwnedModel::Loaded(graph)),
        data: &data,
        cfg,
        split: data_split,
    };
    let opts = SessionOptions {
        insecure_share_seed,
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

/// Runs a training job on the chosen transport: in the simulator every party sees `job`; over
/// TCP each party process gets only its own part of `job.data` as files (rows or columns and
/// labels), party 0 also `model` (its model and initial weights), and party 0 writes the trained
/// weights to a file, which is read back here (the caller of a local run plays every party).
pub fn run_train_job(
    proto: &ProtocolConfig,
    opts: &SessionOptions,
    job: &TrainJob<'_>,
    spec: &crate::launch::JobSpec,
    transport: crate::launch::TransportKind,
    tls: bool,
    model: &crate::launch::PartyInputs,
) -> Result<Outcome<TrainRun>> {
    use crate::launch::{PartyInputs, TransportKind, run_job};
    use crate::nn::io::{load_safetensors, write_npy_f32, write_npy_i64};
    if transport == TransportKind::Sim {
        return run_job(proto, opts, job, spec, transport, tls, &[]);
    }
    let files = crate::bench::model::ScratchFiles::new()?;
    let mut inputs = vec![PartyInputs::default(); proto.parties];
    for (i, (d, own)) in job.data.iter().zip(inputs.iter_mut()).enumerate() {
        if let Some(x) = &d.x {
            let path = files.path(&format!("data{i}.npy"));
            write_npy_f32(&path, x)?;
            own.data = Some(path);
        }
        if let Some(l) = &d.labels {
            let path = files.path(&format!("labels{i}.npy"));
            let ids: Vec<i64> = l.iter().map(|&v| v as i64).collect();
            write_npy_i64(&path, &[ids.len()], &ids)?;
            own.labels = Some(path);
        }
    }
    let trained = files.path("trained.safetensors");
    inputs[MODEL_OWNER].model = model.model.clone();
    inputs[MODEL_OWNER].weights = model.weights.clone();
    inputs[MODEL_OWNER].output = Some(trained.clone());
    let mut outcome = run_job(proto, opts, job, spec, transport, tls, &inputs)?;
    if let Some(p) = outcome.parties.get_mut(MODEL_OWNER) {
        p.output.weights = Some(load_safetensors(&trained)?);
    }
    Ok(outcome)
}
