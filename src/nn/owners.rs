//! Who holds what in a private model run, and what the owners tell the others.
//!
//! Party 0 owns the model, the last party (party 1 of two) owns the data. Each party's process
//! holds only what its owner has; before the measured region the owners publish (setup traffic,
//! through [`Protocol::publish`]) what is public about their private inputs:
//!
//! 1. the data owner: the shape and element type of each input ([`InputInfo`]);
//! 2. the model owner: the model's [`Architecture`], the graph with the values of its private
//!    weights left out (their names and shapes stay). With a private model every real-valued
//!    initializer is a weight and is secret-shared, scalars included, except operands an operator
//!    needs in the clear by its definition ([`public_by_role`]: the exponent of Pow, the bounds of
//!    Clip, and the parameters of data-movement ops such as Pad's value); integer initializers
//!    (shapes, axes, indices) are public. A public model publishes its weights too.
//!
//! Then the data owner shares its inputs (token ids one-hot encoded on its side), the model owner
//! its weights, and the outputs are revealed only to the parties named in `reveal_to`.

use super::exec::token_inputs;
use super::graph::{Const, DType, Graph};
use super::input::{Input, WeightPrivacy, check_inputs};
use super::tensor::F32Tensor;
use super::value::Value;
use crate::error::{Error, PartyId, Result};
use crate::protocol::{Protocol, publish_value};
use crate::ring::{RingTensor, decode, encode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The model owner.
pub const MODEL_OWNER: PartyId = 0;

/// The data owner of a session of `parties` parties.
pub fn data_owner(parties: usize) -> PartyId {
    parties.saturating_sub(1)
}

/// What is public about one input: its shape and element type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputInfo {
    pub shape: Vec<usize>,
    pub ids: bool,
}

impl InputInfo {
    /// The public facts about `x`.
    pub fn of(x: &Input) -> Self {
        Self {
            shape: x.shape().to_vec(),
            ids: matches!(x, Input::Ids { .. }),
        }
    }
}

/// The data owner publishes its inputs' shapes and types; every party returns them. `inputs` is
/// `Some` exactly at the data owner.
pub fn publish_inputs<P: Protocol>(p: &mut P, inputs: Option<&[Input]>) -> Result<Vec<InputInfo>> {
    let owner = data_owner(p.parties());
    let mine: Option<Vec<InputInfo>> = inputs.map(|xs| xs.iter().map(InputInfo::of).collect());
    if p.id() == owner && mine.is_none() {
        return Err(Error::invalid(
            "--input",
            format!("party {owner} owns the data but has no input"),
        ));
    }
    publish_value(p, owner, mine.as_ref())
}

/// A model as its owner publishes it: the graph without the values of its private weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    graph: Graph,
    /// The private weights' names and shapes (their values are left out of `graph`).
    private: Vec<(String, Vec<usize>)>,
}

impl Architecture {
    /// The architecture of `graph` when its weights are `weights` (public: nothing is left out).
    pub fn of(graph: &Graph, weights: WeightPrivacy) -> Self {
        let private = private_weights(graph, weights);
        let mut g = graph.clone();
        let shapes = private
            .iter()
            .map(|name| {
                let c = g.initializers.remove(name).expect("a private weight is an initializer");
                (name.clone(), c.shape().to_vec())
            })
            .collect();
        Self {
            graph: g,
            private: shapes,
        }
    }

    /// The graph every party runs: private weights stand as zeros of their shapes, which the
    /// shared values replace (`exec::run` takes parameters over initializers).
    pub fn into_graph(self) -> Result<Graph> {
        let mut g = self.graph;
        for (name, shape) in self.private {
            let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if n.is_none_or(|n| n > 1 << 31) {
                return Err(Error::invalid(
                    "architecture",
                    format!("weight {name} of shape {shape:?} is too large"),
                ));
            }
            g.initializers.insert(name, Const::F32(F32Tensor::zeros(&shape)));
        }
        Ok(g)
    }
}

/// The model owner publishes the architecture of its model; every party returns the graph it
/// runs (the owner its own). `graph` is `Some` exactly at the model owner.
pub fn publish_model<P: Protocol>(p: &mut P, graph: Option<&Graph>, weights: WeightPrivacy) -> Result<Graph> {
    if p.id() == MODEL_OWNER && graph.is_none() {
        return Err(Error::invalid("--model", "party 0 owns the model but has none"));
    }
    let arch = graph.map(|g| Architecture::of(g, weights));
    let arch = publish_value(p, MODEL_OWNER, arch.as_ref())?;
    match graph {
        Some(g) => Ok(g.clone()),
        None => arch.into_graph(),
    }
}

/// Names of the initializers an operator needs in the clear by its definition: they define which
/// function the node computes, not learned values (Pow's exponent, Clip's bounds, the parameters
/// of data-movement ops).
pub fn public_by_role(graph: &Graph) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for node in &graph.nodes {
        let Some(from) = node.op.parameter_slots_from() else {
            continue;
        };
        out.extend(node.inputs.iter().skip(from).filter(|i| !i.is_empty()).cloned());
    }
    // An embedding table read by a Gather is a weight (input 0); its indices (input 1) are not.
    out
}

/// The initializers a model with `weights` privacy keeps private, in name order: every non-empty
/// real-valued one, scalars included, except those public by role. A public model keeps none.
pub fn private_weights(graph: &Graph, weights: WeightPrivacy) -> Vec<String> {
    if weights == WeightPrivacy::Public {
        return Vec::new();
    }
    let public = public_by_role(graph);
    graph
        .initializers
        .iter()
        .filter(|(name, c)| matches!(c, Const::F32(t) if !t.data().is_empty()) && !public.contains(*name))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Encodes a real tensor at the protocol's fixed-point precision.
pub(crate) fn encode_f32<P: Protocol>(p: &P, t: &F32Tensor) -> Result<RingTensor> {
    let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
    encode(&v, t.shape(), p.frac_bits())
}

/// The data owner's inputs, secret-shared: reals, or token ids one-hot encoded on its side.
/// `inputs` is `Some` exactly at the data owner; `infos` are what it published.
pub fn share_inputs<P: Protocol>(
    p: &mut P,
    graph: &Graph,
    inputs: Option<&[Input]>,
    infos: &[InputInfo],
) -> Result<Vec<P::Share>> {
    if let Some(xs) = inputs {
        check_inputs(graph, xs)?;
    }
    if infos.len() != graph.inputs.len() {
        return Err(Error::invalid(
            "input",
            format!(
                "the model has {} inputs, the data owner has {}",
                graph.inputs.len(),
                infos.len()
            ),
        ));
    }
    let owner = data_owner(p.parties());
    let tokens = token_inputs(graph);
    let mut xs = Vec::with_capacity(infos.len());
    for (k, (graph_input, info)) in graph.inputs.iter().zip(infos).enumerate() {
        let what = || format!("input \"{}\"", graph_input.name);
        let vocab = tokens.get(&graph_input.name).copied();
        let shape = match (info.ids, vocab, graph_input.dtype) {
            (false, _, DType::F32) => info.shape.clone(),
            (true, Some(v), DType::I64) => info.shape.iter().copied().chain([v]).collect(),
            (true, None, DType::I64) => {
                return Err(Error::invalid(
                    what(),
                    "integer input, but the model does not use it as token ids of an embedding",
                ));
            }
            (true, _, _) => return Err(Error::invalid(what(), "the model expects reals, got integers")),
            (false, _, _) => return Err(Error::invalid(what(), "the model expects integers, got reals")),
        };
        let mine = match inputs.and_then(|xs| xs.get(k)) {
            Some(Input::F32(t)) => Some(encode_f32(p, t)?),
            Some(Input::Ids { shape, data }) => {
                let v = vocab.expect("checked above");
                Some(encode_f32(p, &one_hot(shape, data, v)?)?)
            }
            None => None,
        };
        xs.push(p.share(owner, mine.as_ref(), &shape)?);
    }
    Ok(xs)
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

/// The model's weights by initializer name: shared by the model owner (private model; its
/// process passes `values`, the others the same graph with placeholders), or encoded once
/// (public model, whose weights were published with the architecture).
pub fn share_params<P: Protocol>(
    p: &mut P,
    graph: &Graph,
    weights: WeightPrivacy,
) -> Result<HashMap<String, Value<P::Share>>> {
    let f = p.frac_bits();
    let mut params = HashMap::new();
    if weights == WeightPrivacy::Public {
        // Encode a public model's weights once, not at every use.
        for (name, c) in &graph.initializers {
            if let Const::F32(t) = c {
                if t.data().len() > 1 {
                    let ring = std::sync::Arc::new(encode_f32(p, t)?);
                    params.insert(name.clone(), Value::Encoded { ring, frac: f });
                }
            }
        }
        return Ok(params);
    }
    for name in private_weights(graph, weights) {
        let Some(Const::F32(t)) = graph.initializers.get(&name) else {
            continue;
        };
        let mine = if p.id() == MODEL_OWNER {
            Some(encode_f32(p, t)?)
        } else {
            None
        };
        params.insert(name, Value::Data(p.share(MODEL_OWNER, mine.as_ref(), t.shape())?));
    }
    Ok(params)
}

/// Reveals the graph outputs to the parties in `to` (every private output to a party in one
/// round): those parties return the outputs as reals, the others `None`.
pub fn reveal_outputs<P: Protocol>(
    p: &mut P,
    outs: Vec<Value<P::Share>>,
    to: &[PartyId],
) -> Result<Option<Vec<F32Tensor>>> {
    let f = p.frac_bits();
    let mut mine: Option<Vec<Option<RingTensor>>> = None;
    for &target in to {
        let mut got = Vec::with_capacity(outs.len());
        for v in &outs {
            got.push(match v {
                Value::Data(s) => p.reveal_to(s, target)?,
                _ => None,
            });
        }
        if p.id() == target {
            mine = Some(got);
        }
    }
    let Some(revealed) = mine else { return Ok(None) };
    let mut tensors = Vec::with_capacity(outs.len());
    for (v, r) in outs.into_iter().zip(revealed) {
        tensors.push(match (v, r) {
            (_, Some(r)) => {
                let x: Vec<f32> = decode(&r, f).iter().map(|&x| x as f32).collect();
                F32Tensor::from_vec(r.shape(), x)?
            }
            (v, None) => public_tensor(v)?,
        });
    }
    Ok(Some(tensors))
}

/// A public graph output as a real tensor (integer outputs are converted).
pub(crate) fn public_tensor<T>(v: Value<T>) -> Result<F32Tensor> {
    match v.public() {
        Some(Const::F32(t)) => Ok(t),
        Some(Const::I64 { shape, data }) => F32Tensor::from_vec(&shape, data.iter().map(|&v| v as f32).collect()),
        None => Err(Error::invalid("model", "an output has no value")),
    }
}

/// Checks a `reveal_to` list: parties of the session, no repeats, at least one.
pub fn check_reveal_to(to: &[PartyId], parties: usize) -> Result<()> {
    if to.is_empty() {
        return Err(Error::invalid("--reveal-to", "names no party"));
    }
    for (k, &t) in to.iter().enumerate() {
        if t >= parties {
            return Err(Error::invalid(
                "--reveal-to",
                format!("there is no party {t} (parties 0..{parties})"),
            ));
        }
        if to[..k].contains(&t) {
            return Err(Error::invalid("--reveal-to", format!("party {t} is named twice")));
        }
    }
    Ok(())
}
