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
use super::graph::{Const, Graph};
use super::plain::PlainBackend;
use super::private::{PrivateBackend, prepare_weights};
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
    /// The input, as its owner holds it (every party gets the job; only the owner's copy is used).
    pub input: &'a Input,
    pub weights: WeightPrivacy,
    pub reps: usize,
}

impl Job for InferJob<'_> {
    type Output = InferRun;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<InferRun> {
        let model_owner = 0;
        let data_owner = p.parties() - 1;
        let f = p.frac_bits();
        let enc = |t: &F32Tensor| -> Result<crate::ring::RingTensor> {
            let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
            encode(&v, t.shape(), f)
        };
        // The data owner's input: reals, or one-hot encoded token ids.
        let tokens = token_inputs(self.graph);
        let input_name = &self
            .graph
            .inputs
            .first()
            .ok_or_else(|| Error::invalid("model", "has no input"))?
            .name;
        let plain_input = match (self.input, tokens.get(input_name)) {
            (Input::F32(t), _) => t.clone(),
            (Input::Ids { shape, data }, Some(&vocab)) => one_hot(shape, data, vocab)?,
            (Input::Ids { .. }, None) => {
                return Err(Error::invalid(
                    "input",
                    "integer input, but the model does not use it as token ids of an embedding",
                ));
            }
        };
        let mine = p.id() == data_owner;
        let x = p.share(
            data_owner,
            if mine { Some(enc(&plain_input)?) } else { None }.as_ref(),
            plain_input.shape(),
        )?;
        // The model owner's weights: every real parameter with more than one element.
        let mut params = HashMap::new();
        if self.weights == WeightPrivacy::Public {
            // Encode a public model's weights once, not at every use.
            for (name, c) in &self.graph.initializers {
                if let Const::F32(t) = c {
                    if t.data().len() > 1 {
                        params.insert(
                            name.clone(),
                            Value::Encoded {
                                ring: std::sync::Arc::new(enc(t)?),
                                frac: f,
                            },
                        );
                    }
                }
            }
        }
        if self.weights == WeightPrivacy::Private {
            for (name, c) in &self.graph.initializers {
                if let Const::F32(t) = c {
                    if t.data().len() > 1 {
                        let v = if p.id() == model_owner { Some(enc(t)?) } else { None };
                        params.insert(name.clone(), Value::Data(p.share(model_owner, v.as_ref(), t.shape())?));
                    }
                }
            }
        }
        p.barrier()?;
        let before = p.meter();
        let t0 = Instant::now();
        let prepared = prepare_weights(p, self.graph, &params)?;
        let setup_wall = t0.elapsed().as_secs_f64();
        let setup_meter = p.meter().since(&before);
        let mut wall = Vec::new();
        let mut meter = None;
        let mut out = None;
        for _ in 0..self.reps.max(1) {
            p.barrier()?;
            let before = p.meter();
            let t0 = Instant::now();
            let y = {
                let mut b = PrivateBackend::with_prepared(p, &prepared);
                run_borrowed(self.graph, &mut b, vec![Value::Data(x.clone())], &params)?.remove(0)
            };
            wall.push(t0.elapsed().as_secs_f64());
            meter.get_or_insert_with(|| p.meter().since(&before));
            out = Some(y);
        }
        let output = match out.expect("at least one repetition") {
            Value::Data(s) => {
                let r = crate::protocol::reveal(p, &s)?;
                let v: Vec<f32> = decode(&r, f).iter().map(|&x| x as f32).collect();
                F32Tensor::from_vec(r.shape(), v)?
            }
            other => match other.public() {
                Some(Const::F32(t)) => t,
                _ => return Err(Error::invalid("model", "the output is not a real tensor")),
            },
        };
        Ok(InferRun {
            output,
            wall,
            meter: meter.expect("at least one repetition"),
            setup_wall,
            setup_meter,
            prepared: prepared.len(),
        })
    }
}
