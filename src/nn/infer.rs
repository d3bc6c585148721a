//! Private inference: the model owner's weights and the data owner's input are secret-shared from
//! their own parties, the graph runs on shares, and the result is revealed to the parties named.
//!
//! Who owns what (see `nn::owners`): party 0 owns the model, the last party (party 1 of two) the
//! data; each party reads only what it owns, and the owners publish what is public (input shapes,
//! the architecture) during set-up. A public model (`weights: public`) keeps its weights in the
//! clear and uses the cheaper public-operand products. Integer inputs are token ids: the data owner
//! one-hot encodes them before sharing (preprocessing stays on its side), so the ids stay private
//! and each lookup is a product with the embedding table. Outputs are revealed only to the parties
//! in `reveal_to` (the data owner unless told otherwise).
//!
//! A private model's product weights are prepared once after sharing (a Beaver family opens each
//! weight's mask δ = W − b then; see `crate::protocol::Protocol::prepare_many`). That setup is
//! timed and metered apart from the inferences, like the sharing of the weights itself.

use super::exec::{Value, run, run_borrowed};
use super::graph::{Const, Graph};
pub use super::input::{Input, WeightPrivacy, check_inputs};
use super::owners::{
    InputInfo, MODEL_OWNER, data_owner, publish_inputs, publish_model, reveal_outputs, share_inputs, share_params,
};
use super::plain::PlainBackend;
use super::private::{PrivateBackend, prepare_weights};
use super::tensor::F32Tensor;
use crate::error::{Error, PartyId, Result};
use crate::net::MeterReport;
use crate::protocol::{Job, Protocol, Repeat, Runs, Span, publish_value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

/// A graph output as a real tensor (integer outputs are converted).
fn output_tensor<T>(v: Value<T>, data: impl FnOnce(T) -> Result<F32Tensor>) -> Result<F32Tensor> {
    match v {
        Value::Data(t) => data(t),
        other => match other.public() {
            Some(Const::F32(t)) => Ok(t),
            Some(Const::I64 { shape, data }) => F32Tensor::from_vec(&shape, data.iter().map(|&v| v as f32).collect()),
            None => Err(Error::invalid("model", "an output has no value")),
        },
    }
}

/// Runs the graph in plaintext (the reference) on one input; returns the first output.
pub fn run_plain(graph: &Graph, input: &Input) -> Result<F32Tensor> {
    Ok(run_plain_all(graph, std::slice::from_ref(input))?.remove(0))
}

/// Runs the graph in plaintext on all its inputs (in graph order); returns every output.
pub fn run_plain_all(graph: &Graph, inputs: &[Input]) -> Result<Vec<F32Tensor>> {
    check_inputs(graph, inputs)?;
    let mut b = PlainBackend;
    let values = inputs
        .iter()
        .map(|x| match x {
            Input::F32(t) => Value::Data(t.clone()),
            other => Value::Public(other.to_const()),
        })
        .collect();
    run(graph, &mut b, values, HashMap::new())?
        .into_iter()
        .map(|v| output_tensor(v, Ok))
        .collect()
}

/// What the model owner holds: its model, loaded, or a loader that builds it for the data owner's
/// published input shapes (a zoo model sizes its layers by them).
#[derive(Clone, Copy)]
pub enum OwnedModel<'a> {
    Loaded(&'a Graph),
    Lazy(&'a (dyn Fn(&[InputInfo]) -> Result<Graph> + Sync)),
}

impl<'a> OwnedModel<'a> {
    /// The model for the data owner's published inputs.
    pub fn graph(self, inputs: &[InputInfo]) -> Result<Cow<'a, Graph>> {
        match self {
            OwnedModel::Loaded(g) => Ok(Cow::Borrowed(g)),
            OwnedModel::Lazy(load) => Ok(Cow::Owned(load(inputs)?)),
        }
    }
}

/// The owners' set-up of a private model run on every party: the data owner publishes its
/// inputs' shapes, the model owner the architecture; returns the graph every party runs and the
/// input facts. Only the owners read `model` and `inputs`.
fn set_up<'g, P: Protocol>(
    p: &mut P,
    model: Option<OwnedModel<'g>>,
    inputs: Option<&[Input]>,
    weights: WeightPrivacy,
) -> Result<(Cow<'g, Graph>, Vec<InputInfo>)> {
    let me = p.id();
    let infos = publish_inputs(p, inputs.filter(|_| me == data_owner(p.parties())))?;
    let own = match model.filter(|_| me == MODEL_OWNER) {
        Some(m) => Some(m.graph(&infos)?),
        None => None,
    };
    let graph = match own {
        Some(g) => {
            publish_model(p, Some(&g), weights)?;
            g
        }
        None => Cow::Owned(publish_model(p, None, weights)?),
    };
    Ok((graph, infos))
}

/// The parties outputs go to: `reveal_to`, else the data owner.
fn targets(reveal_to: &Option<Vec<PartyId>>, parties: usize) -> Result<Vec<PartyId>> {
    let to = reveal_to.clone().unwrap_or_else(|| vec![data_owner(parties)]);
    super::owners::check_reveal_to(&to, parties)?;
    Ok(to)
}

/// What one party brings back from private inference.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct InferRun {
    /// The revealed outputs, in graph order: at the parties they were revealed to only. Never in
    /// a party process's report: a process writes them to its `--output` file.
    #[serde(skip)]
    pub outputs: Option<Vec<F32Tensor>>,
    /// The measured repetitions (sharing of weights and input excluded), dealer included.
    pub total: Runs,
    /// The online-only repetitions, when the dealer ran ahead (`protocol::repeat`).
    pub online: Option<Runs>,
    pub ahead: bool,
    /// Seconds spent preparing the private weights (once per session, before the repetitions).
    pub setup_wall: f64,
    /// Traffic of that preparation.
    pub setup_meter: MeterReport,
    /// Number of weight uses prepared.
    pub prepared: usize,
}

/// The private inference program every party runs. A party process holds only its own part (the
/// model owner `model`, the data owner `inputs`); in the simulator every party sees the same job
/// and reads only its own part.
pub struct InferJob<'a> {
    /// The model owner's model.
    pub model: Option<OwnedModel<'a>>,
    /// The data owner's inputs, one per graph input, in graph order.
    pub inputs: Option<&'a [Input]>,
    pub weights: WeightPrivacy,
    pub reps: usize,
    /// Unmeasured repetitions before the measured ones (page faults, connection warm-up).
    pub warmup: usize,
    /// Keep the dealer answering step by step (see `protocol::repeat`).
    pub on_demand: bool,
    /// The parties the outputs are revealed to (`None`: the data owner).
    pub reveal_to: Option<Vec<PartyId>>,
}

impl<'a> InferJob<'a> {
    /// A job whose model and inputs are both at hand (the simulator, tests), revealed to the data
    /// owner.
    pub fn local(graph: &'a Graph, inputs: &'a [Input], weights: WeightPrivacy, reps: usize) -> Self {
        Self {
            model: Some(OwnedModel::Loaded(graph)),
            inputs: Some(inputs),
            weights,
            reps,
            warmup: 0,
            on_demand: false,
            reveal_to: None,
        }
    }
}

impl Job for InferJob<'_> {
    type Output = InferRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<InferRun> {
        let to = targets(&self.reveal_to, p.parties())?;
        let (graph, infos) = set_up(p, self.model, self.inputs, self.weights)?;
        let mine = self.inputs.filter(|_| p.id() == data_owner(p.parties()));
        let xs = share_inputs(p, &graph, mine, &infos)?;
        let params = share_params(p, &graph, self.weights)?;
        p.barrier()?;
        let before = p.meter();
        let t0 = Instant::now();
        let prepared = prepare_weights(p, &graph, &params)?;
        let setup_wall = t0.elapsed().as_secs_f64();
        let setup_meter = p.meter().since(&before);
        let repeat = Repeat {
            warmup: self.warmup,
            reps: self.reps,
            on_demand: self.on_demand,
        };
        let timed = repeat.run(p, |p| {
            let mut b = PrivateBackend::with_prepared(p, &prepared);
            let xs = xs.iter().map(|x| Value::Data(x.clone())).collect();
            run_borrowed(&graph, &mut b, xs, &params)
        })?;
        let outputs = reveal_outputs(p, timed.last, &to)?;
        Ok(InferRun {
            outputs,
            total: timed.total,
            online: timed.online,
            ahead: timed.ahead,
            setup_wall,
            setup_meter,
            prepared: prepared.len(),
        })
    }
}

/// What one party brings back from a private evaluation over many batches.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EvalRun {
    /// The revealed output of each batch, in order: at the parties they were revealed to only.
    /// Never in a party process's report (see [`InferRun::outputs`]).
    #[serde(skip)]
    pub outputs: Option<Vec<F32Tensor>>,
    /// Seconds for the whole evaluation (weight sharing and preparation excluded; input sharing,
    /// inference and reveal of every batch included).
    pub span: Span,
    /// Traffic of the whole evaluation (the same region as `span`).
    pub meter: MeterReport,
}

/// Private evaluation of one model on many batches in one session: the weights are shared (or
/// encoded) once, then each batch is shared by the data owner, run and revealed. As for
/// [`InferJob`], each party reads only its own part; the data owner publishes how many batches of
/// which shape it has.
pub struct EvalJob<'a> {
    pub model: Option<OwnedModel<'a>>,
    pub batches: Option<&'a [Input]>,
    pub weights: WeightPrivacy,
    /// Unmeasured runs of the first batch before the measured region (warm-up).
    pub warmup: usize,
    /// The parties the outputs are revealed to (`None`: the data owner).
    pub reveal_to: Option<Vec<PartyId>>,
}

impl Job for EvalJob<'_> {
    type Output = EvalRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<EvalRun> {
        let to = targets(&self.reveal_to, p.parties())?;
        let owner = data_owner(p.parties());
        let mine = self.batches.filter(|_| p.id() == owner);
        if mine.is_some_and(|b| b.is_empty() || b.iter().any(|x| x.shape() != b[0].shape())) {
            return Err(Error::invalid("samples", "needs one or more batches of one shape"));
        }
        let count = publish_value(p, owner, mine.map(|b| b.len()).as_ref())?;
        if count == 0 {
            return Err(Error::invalid("samples", format!("party {owner} has no batches")));
        }
        let first = mine.map(|b| &b[..1]);
        let (graph, infos) = set_up(p, self.model, first, self.weights)?;
        let params = share_params(p, &graph, self.weights)?;
        let prepared = prepare_weights(p, &graph, &params)?;
        let batch = |k: usize| mine.map(|b| std::slice::from_ref(&b[k]));
        // Every batch has the same shape and so the same gates: the first warm-up run records
        // them, and the dealer runs ahead of every later batch (`protocol::repeat`).
        let ahead = self.warmup > 0 && p.deals_ahead();
        for w in 0..self.warmup {
            if ahead && w == 0 {
                p.record_ahead()?;
            } else if ahead {
                p.next_ahead(false)?;
            }
            let xs = share_inputs(p, &graph, batch(0), &infos)?;
            let mut b = PrivateBackend::with_prepared(p, &prepared);
            run_borrowed(&graph, &mut b, xs.into_iter().map(Value::Data).collect(), &params)?;
            if ahead && w == 0 {
                p.plan_ahead(self.warmup - 1 + count)?;
            }
        }
        p.barrier()?;
        let before = p.meter();
        let span = Span::start_now();
        let mut outputs = Vec::with_capacity(count);
        for k in 0..count {
            if ahead {
                p.next_ahead(false)?;
            }
            let xs = share_inputs(p, &graph, batch(k), &infos)?;
            let y = {
                let mut b = PrivateBackend::with_prepared(p, &prepared);
                run_borrowed(&graph, &mut b, xs.into_iter().map(Value::Data).collect(), &params)?
            };
            if let Some(mut y) = reveal_outputs(p, y, &to)? {
                outputs.push(y.swap_remove(0));
            }
        }
        Ok(EvalRun {
            outputs: (!outputs.is_empty()).then_some(outputs),
            span: span.end_now(),
            meter: p.meter().since(&before),
        })
    }
}

/// Splits stacked samples `[n, ...]` into model inputs of `batch` samples each; the last batch is
/// padded with zero samples so every batch has the same shape (and cost). Samples become token ids
/// when the model's input is integer.
pub fn split_batches(graph: &Graph, samples: &F32Tensor, batch: usize) -> Result<Vec<Input>> {
    let ids = graph
        .inputs
        .first()
        .is_some_and(|i| i.dtype == super::graph::DType::I64);
    split_batches_of(samples, batch, ids)
}

/// [`split_batches`] for a model whose input is token ids (`ids`) or reals: what the data owner
/// does without the model at hand.
pub fn split_batches_of(samples: &F32Tensor, batch: usize, ids: bool) -> Result<Vec<Input>> {
    let n = samples.shape().first().copied().unwrap_or(0);
    if batch == 0 || n == 0 {
        return Err(Error::invalid(
            "batch_size",
            "needs at least one sample and a batch of one or more",
        ));
    }
    let per: usize = samples.shape()[1..].iter().product();
    let mut shape = samples.shape().to_vec();
    shape[0] = batch;
    let mut out = Vec::with_capacity(n.div_ceil(batch));
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let mut data = samples.data()[start * per..end * per].to_vec();
        data.resize(batch * per, 0.0);
        out.push(if ids {
            Input::Ids {
                shape: shape.clone(),
                data: data.iter().map(|&v| v.round() as i64).collect(),
            }
        } else {
            Input::F32(F32Tensor::from_vec(&shape, data)?)
        });
    }
    Ok(out)
}
