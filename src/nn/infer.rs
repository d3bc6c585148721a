//! Private inference: the model owner's weights and the data owner's input are secret-shared from
//! their own parties, the graph runs on shares, and the result is revealed.
//!
//! Who owns what: party 0 owns the model, the last party owns the data (party 1 with two
//! parties). A public model (`weights: public`) keeps its weights in the clear and uses the
//! cheaper public-operand products. Integer inputs are token ids: the data owner one-hot encodes
//! them in plaintext before sharing (preprocessing stays on the data owner's side), so the ids stay
//! private and each lookup is a product with the embedding table.
//!
//! A private model's product weights are prepared once after sharing (a Beaver family opens each
//! weight's mask δ = W − b then; see `crate::protocol::Protocol::prepare_many`). That setup is
//! timed and metered apart from the inferences, like the sharing of the weights itself.

use super::exec::{Value, run, run_borrowed, token_inputs};
use super::graph::{Const, DType, Graph};
use super::plain::PlainBackend;
use super::private::{PrivateBackend, prepare_weights};
use super::tensor::F32Tensor;
use crate::error::{Error, Result};
use crate::net::MeterReport;
use crate::protocol::{Job, Protocol, Span};
use crate::ring::{decode, encode};
use std::collections::HashMap;
use std::time::Instant;

/// A model input as the data owner holds it.
#[derive(Clone, Debug)]
pub enum Input {
    /// Real values.
    F32(F32Tensor),
    /// Token ids.
    Ids { shape: Vec<usize>, data: Vec<i64> },
}

impl Input {
    /// The input's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Input::F32(t) => t.shape(),
            Input::Ids { shape, .. } => shape,
        }
    }

    /// As a public value (for the plaintext reference).
    pub fn to_const(&self) -> Const {
        match self {
            Input::F32(t) => Const::F32(t.clone()),
            Input::Ids { shape, data } => Const::I64 {
                shape: shape.clone(),
                data: data.clone(),
            },
        }
    }
}

/// Whether the model's weights are shared (private model) or public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightPrivacy {
    Private,
    Public,
}

/// Checks that `inputs` fit the graph's inputs: one per graph input, each with the declared rank
/// and fixed dimensions, reals for real inputs and integers for integer ones.
pub fn check_inputs(graph: &Graph, inputs: &[Input]) -> Result<()> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::invalid(
            "input",
            format!("the model has {} inputs, got {}", graph.inputs.len(), inputs.len()),
        ));
    }
    for (info, x) in graph.inputs.iter().zip(inputs) {
        let what = || format!("input \"{}\"", info.name);
        // An empty declared shape is a scalar or an unknown rank: the importer cannot tell them apart.
        let fits = info.shape.is_empty()
            || (info.shape.len() == x.shape().len()
                && info.shape.iter().zip(x.shape()).all(|(d, &n)| d.is_none_or(|d| d == n)));
        if !fits {
            let want: Vec<String> = info
                .shape
                .iter()
                .map(|d| d.map_or("?".into(), |d| d.to_string()))
                .collect();
            return Err(Error::shape(
                "input",
                format!(
                    "\"{}\" has shape {:?}, the model expects [{}]",
                    info.name,
                    x.shape(),
                    want.join(", ")
                ),
            ));
        }
        match (info.dtype, x) {
            (DType::F32, Input::Ids { .. }) => {
                return Err(Error::invalid(what(), "the model expects reals, got integers"));
            }
            (DType::I64, Input::F32(_)) => {
                return Err(Error::invalid(what(), "the model expects integers, got reals"));
            }
            _ => {}
        }
    }
    Ok(())
}

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

/// One-hot rows for token ids (vocabulary `vocab`): `[.., vocab]`.
fn one_hot(shape: &[usize], ids: &[i64], vocab: usize) -> Result<F32Tensor> {
    let mut data = vec![0.0f32; ids.len() * vocab];
    for (i, &id) in ids.iter().enumerate() {
        if id < 0 || id as usize >= vocab {
            return Err(Error::invalid(
                "input",
                format!("token id {id} is outside the vocabulary of {vocab}"),
            ));
        }
        data[i * vocab + id as usize] = 1.0;
    }
    let mut s = shape.to_vec();
    s.push(vocab);
    F32Tensor::from_vec(&s, data)
}

/// What one party brings back from private inference.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct InferRun {
    /// The revealed outputs, in graph order.
    pub outputs: Vec<F32Tensor>,
    /// Each repetition's time span (sharing of weights and input excluded).
    pub spans: Vec<Span>,
    /// Traffic of the first repetition.
    pub meter: MeterReport,
    /// Seconds spent preparing the private weights (once per session, before the repetitions).
    pub setup_wall: f64,
    /// Traffic of that preparation.
    pub setup_meter: MeterReport,
    /// Number of weight uses prepared.
    pub prepared: usize,
}

/// The private inference program every party runs.
pub struct InferJob<'a> {
    pub graph: &'a Graph,
    /// One input per graph input, in graph order, as the data owner holds them (every party gets
    /// the job; only the owner's copy is used).
    pub inputs: &'a [Input],
    pub weights: WeightPrivacy,
    pub reps: usize,
}

impl Job for InferJob<'_> {
    type Output = InferRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<InferRun> {
        let xs = share_inputs(p, self.graph, self.inputs)?;
        let params = share_params(p, self.graph, self.weights)?;
        p.barrier()?;
        let before = p.meter();
        let t0 = Instant::now();
        let prepared = prepare_weights(p, self.graph, &params)?;
        let setup_wall = t0.elapsed().as_secs_f64();
        let setup_meter = p.meter().since(&before);
        let mut spans = Vec::new();
        let mut meter = None;
        let mut out = None;
        for _ in 0..self.reps.max(1) {
            p.barrier()?;
            let before = p.meter();
            let span = Span::start_now();
            let y = {
                let mut b = PrivateBackend::with_prepared(p, &prepared);
                let xs = xs.iter().map(|x| Value::Data(x.clone())).collect();
                run_borrowed(self.graph, &mut b, xs, &params)?
            };
            spans.push(span.end_now());
            meter.get_or_insert_with(|| p.meter().since(&before));
            out = Some(y);
        }
        let outputs = reveal_outputs(p, out.expect("at least one repetition"))?;
        Ok(InferRun {
            outputs,
            spans,
            meter: meter.expect("at least one repetition"),
            setup_wall,
            setup_meter,
            prepared: prepared.len(),
        })
    }
}

/// Encodes a real tensor at the protocol's fixed-point precision.
fn encode_f32<P: Protocol>(p: &P, t: &F32Tensor) -> Result<crate::ring::RingTensor> {
    let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
    encode(&v, t.shape(), p.frac_bits())
}

/// The data owner's (last party's) input, secret-shared: reals, or one-hot encoded token ids.
fn share_inputs<P: Protocol>(p: &mut P, graph: &Graph, inputs: &[Input]) -> Result<Vec<P::Share>> {
    check_inputs(graph, inputs)?;
    let data_owner = p.parties() - 1;
    let tokens = token_inputs(graph);
    let mut xs = Vec::with_capacity(inputs.len());
    for (info, input) in graph.inputs.iter().zip(inputs) {
        let plain_input = match (input, tokens.get(&info.name)) {
            (Input::F32(t), _) => t.clone(),
            (Input::Ids { shape, data }, Some(&vocab)) => one_hot(shape, data, vocab)?,
            (Input::Ids { .. }, None) => {
                return Err(Error::invalid(
                    format!("input \"{}\"", info.name),
                    "integer input, but the model does not use it as token ids of an embedding",
                ));
            }
        };
        let mine = if p.id() == data_owner {
            Some(encode_f32(p, &plain_input)?)
        } else {
            None
        };
        xs.push(p.share(data_owner, mine.as_ref(), plain_input.shape())?);
    }
    Ok(xs)
}

/// The model owner's (party 0's) weights, every real parameter with more than one element: shared
/// (private model) or encoded once (public model), by initializer name.
fn share_params<P: Protocol>(
    p: &mut P,
    graph: &Graph,
    weights: WeightPrivacy,
) -> Result<HashMap<String, Value<P::Share>>> {
    let model_owner = 0;
    let f = p.frac_bits();
    let mut params = HashMap::new();
    for (name, c) in &graph.initializers {
        let Const::F32(t) = c else { continue };
        if t.data().len() <= 1 {
            continue;
        }
        let v = match weights {
            // Encode a public model's weights once, not at every use.
            WeightPrivacy::Public => Value::Encoded {
                ring: std::sync::Arc::new(encode_f32(p, t)?),
                frac: f,
            },
            WeightPrivacy::Private => {
                let mine = if p.id() == model_owner {
                    Some(encode_f32(p, t)?)
                } else {
                    None
                };
                Value::Data(p.share(model_owner, mine.as_ref(), t.shape())?)
            }
        };
        params.insert(name.clone(), v);
    }
    Ok(params)
}

/// Reveals the graph outputs to every party as reals, every private one in the same round.
fn reveal_outputs<P: Protocol>(p: &mut P, outs: Vec<Value<P::Share>>) -> Result<Vec<F32Tensor>> {
    let shares: Vec<&P::Share> = outs
        .iter()
        .filter_map(|v| match v {
            Value::Data(s) => Some(s),
            _ => None,
        })
        .collect();
    let revealed = if shares.is_empty() {
        Vec::new()
    } else {
        p.reveal_many(&shares)?
    };
    let f = p.frac_bits();
    let mut revealed = revealed.into_iter();
    outs.into_iter()
        .map(|y| {
            output_tensor(y, |_| {
                let r = revealed.next().expect("one per private output");
                let v: Vec<f32> = decode(&r, f).iter().map(|&x| x as f32).collect();
                F32Tensor::from_vec(r.shape(), v)
            })
        })
        .collect()
}

/// What one party brings back from a private evaluation over many batches.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EvalRun {
    /// The revealed output of each batch, in order.
    pub outputs: Vec<F32Tensor>,
    /// Seconds for the whole evaluation (weight sharing and preparation excluded; input sharing,
    /// inference and reveal of every batch included).
    pub span: Span,
    /// Traffic of the whole evaluation (the same region as `span`).
    pub meter: MeterReport,
}

/// Private evaluation of one model on many batches in one session: the weights are shared (or
/// encoded) once, then each batch is shared by the data owner, run and revealed. Every party gets
/// the job; only the data owner's copy of the batches is used (the others need their shapes).
pub struct EvalJob<'a> {
    pub graph: &'a Graph,
    pub batches: &'a [Input],
    pub weights: WeightPrivacy,
    /// Unmeasured runs of the first batch before the measured region (warm-up).
    pub warmup: usize,
}

impl Job for EvalJob<'_> {
    type Output = EvalRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<EvalRun> {
        let params = share_params(p, self.graph, self.weights)?;
        let prepared = prepare_weights(p, self.graph, &params)?;
        for input in self.batches.iter().take(1).cycle().take(self.warmup) {
            let xs = share_inputs(p, self.graph, std::slice::from_ref(input))?;
            let mut b = PrivateBackend::with_prepared(p, &prepared);
            run_borrowed(self.graph, &mut b, xs.into_iter().map(Value::Data).collect(), &params)?;
        }
        p.barrier()?;
        let before = p.meter();
        let span = Span::start_now();
        let mut outputs = Vec::with_capacity(self.batches.len());
        for input in self.batches {
            let xs = share_inputs(p, self.graph, std::slice::from_ref(input))?;
            let y = {
                let mut b = PrivateBackend::with_prepared(p, &prepared);
                run_borrowed(self.graph, &mut b, xs.into_iter().map(Value::Data).collect(), &params)?
            };
            outputs.push(reveal_outputs(p, y)?.swap_remove(0));
        }
        Ok(EvalRun {
            outputs,
            span: span.end_now(),
            meter: p.meter().since(&before),
        })
    }
}

/// Splits stacked samples `[n, ...]` into model inputs of `batch` samples each; the last batch is
/// padded with zero samples so every batch has the same shape (and cost). Samples become token ids
/// when the model's input is integer.
pub fn split_batches(graph: &Graph, samples: &F32Tensor, batch: usize) -> Result<Vec<Input>> {
    let n = samples.shape().first().copied().unwrap_or(0);
    if batch == 0 || n == 0 {
        return Err(Error::invalid(
            "batch_size",
            "needs at least one sample and a batch of one or more",
        ));
    }
    let per: usize = samples.shape()[1..].iter().product();
    let ids = graph
        .inputs
        .first()
        .is_some_and(|i| i.dtype == super::graph::DType::I64);
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
