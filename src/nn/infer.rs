//! Private inference: the model owner's weights and the data owner's input are secret-shared from
//! their own parties, the graph runs on shares, and the result is revealed.
//!
//! Who owns what: party 0 owns the model, the last party owns the data (party 1 with two
//! parties). A public model (`weights: public`) keeps its weights in the clear and uses the
//! cheaper public-operand products. Integer inputs are token ids: the data owner one-hot encodes
//! them in plaintext before sharing (preprocessing stays on the data owner's side), so the ids stay
//! private and each lookup is a product with the embedding table.

use super::exec::{Value, run, token_inputs};
use super::graph::{Const, Graph};
use super::plain::PlainBackend;
use super::private::PrivateBackend;
use super::tensor::F32Tensor;
use crate::error::{Error, Result};
use crate::net::MeterReport;
use crate::protocol::{Job, Protocol};
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

/// Runs the graph in plaintext (the reference).
pub fn run_plain(graph: &Graph, input: &Input) -> Result<F32Tensor> {
    let mut b = PlainBackend;
    let v = match input {
        Input::F32(t) => Value::Data(t.clone()),
        other => Value::Public(other.to_const()),
    };
    let out = run(graph, &mut b, vec![v], HashMap::new())?.remove(0);
    match out {
        Value::Data(t) => Ok(t),
        other => match other.public() {
            Some(Const::F32(t)) => Ok(t),
            _ => Err(Error::invalid("model", "the output is not a real tensor")),
        },
    }
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
    /// The revealed output.
    pub output: F32Tensor,
    /// Seconds for each repetition (sharing of weights and input excluded).
    pub wall: Vec<f64>,
    /// Traffic of the first repetition.
    pub meter: MeterReport,
}

/// The private inference program every party runs.
pub struct InferJob<'a> {
    pub graph: &'a Graph,
    /// The input, as its owner holds it (every party gets the job; only the owner's copy is used).
    pub input: &'a Input,
    pub weights: WeightPrivacy,
    pub reps: usize,
}

impl Job for InferJob<'_> {
    type Output = InferRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<InferRun> {
        let x = share_input(p, self.graph, self.input)?;
        let params = share_params(p, self.graph, self.weights)?;
        let mut wall = Vec::new();
        let mut meter = None;
        let mut out = None;
        for _ in 0..self.reps.max(1) {
            p.barrier()?;
            let before = p.meter();
            let t0 = Instant::now();
            let y = {
                let mut b = PrivateBackend::new(p);
                run(self.graph, &mut b, vec![Value::Data(x.clone())], params.clone())?.remove(0)
            };
            wall.push(t0.elapsed().as_secs_f64());
            meter.get_or_insert_with(|| p.meter().since(&before));
            out = Some(y);
        }
        let output = reveal_output(p, out.expect("at least one repetition"))?;
        Ok(InferRun {
            output,
            wall,
            meter: meter.expect("at least one repetition"),
        })
    }
}

/// Encodes a real tensor at the protocol's fixed-point precision.
fn encode_f32<P: Protocol>(p: &P, t: &F32Tensor) -> Result<crate::ring::RingTensor> {
    let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
    encode(&v, t.shape(), p.frac_bits())
}

/// The data owner's (last party's) input, secret-shared: reals, or one-hot encoded token ids.
fn share_input<P: Protocol>(p: &mut P, graph: &Graph, input: &Input) -> Result<P::Share> {
    let data_owner = p.parties() - 1;
    let tokens = token_inputs(graph);
    let input_name = &graph
        .inputs
        .first()
        .ok_or_else(|| Error::invalid("model", "has no input"))?
        .name;
    let plain_input = match (input, tokens.get(input_name)) {
        (Input::F32(t), _) => t.clone(),
        (Input::Ids { shape, data }, Some(&vocab)) => one_hot(shape, data, vocab)?,
        (Input::Ids { .. }, None) => {
            return Err(Error::invalid(
                "input",
                "integer input, but the model does not use it as token ids of an embedding",
            ));
        }
    };
    let mine = if p.id() == data_owner {
        Some(encode_f32(p, &plain_input)?)
    } else {
        None
    };
    p.share(data_owner, mine.as_ref(), plain_input.shape())
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

/// Reveals a graph output to every party as reals.
fn reveal_output<P: Protocol>(p: &mut P, out: Value<P::Share>) -> Result<F32Tensor> {
    match out {
        Value::Data(s) => {
            let r = crate::protocol::reveal(p, &s)?;
            let v: Vec<f32> = decode(&r, p.frac_bits()).iter().map(|&x| x as f32).collect();
            F32Tensor::from_vec(r.shape(), v)
        }
        other => match other.public() {
            Some(Const::F32(t)) => Ok(t),
            _ => Err(Error::invalid("model", "the output is not a real tensor")),
        },
    }
}

/// What one party brings back from a private evaluation over many batches.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EvalRun {
    /// The revealed output of each batch, in order.
    pub outputs: Vec<F32Tensor>,
    /// Seconds for the whole evaluation (weight sharing excluded; input sharing, inference and
    /// reveal of every batch included).
    pub wall: f64,
    /// Traffic of the whole evaluation (the same region as `wall`).
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
        for input in self.batches.iter().take(1).cycle().take(self.warmup) {
            let x = share_input(p, self.graph, input)?;
            let mut b = PrivateBackend::new(p);
            run(self.graph, &mut b, vec![Value::Data(x)], params.clone())?;
        }
        p.barrier()?;
        let before = p.meter();
        let t0 = Instant::now();
        let mut outputs = Vec::with_capacity(self.batches.len());
        for input in self.batches {
            let x = share_input(p, self.graph, input)?;
            let y = {
                let mut b = PrivateBackend::new(p);
                run(self.graph, &mut b, vec![Value::Data(x)], params.clone())?.remove(0)
            };
            outputs.push(reveal_output(p, y)?);
        }
        Ok(EvalRun {
            outputs,
            wall: t0.elapsed().as_secs_f64(),
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
