//! The tape: a recorded forward pass over a graph, and the reverse walk that turns an output
//! gradient into parameter gradients.

use super::AutodiffBackend;
pub use super::ctx::{Ctx, MapCache};
use super::rules::{self, Saved};
use crate::error::{Error, Result};
use crate::nn::exec::node_error;
use crate::nn::graph::{Const, Graph};
use crate::nn::value::Value;
pub use crate::nn::value::as_f32;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A recorded forward pass.
pub struct Tape<B: AutodiffBackend> {
    /// Every value the pass produced or read, by name.
    pub values: HashMap<String, Value<B::T>>,
    saved: Vec<Saved<B>>,
    requires: HashSet<String>,
    trainable: BTreeSet<String>,
    /// Updated running statistics of batch-norm layers in training mode (name → new value).
    pub buffers: Vec<(String, Value<B::T>)>,
}

impl<B: AutodiffBackend> Tape<B> {
    /// The value named `name`.
    pub fn value(&self, name: &str) -> Result<&Value<B::T>> {
        self.values
            .get(name)
            .ok_or_else(|| Error::invalid("model", format!("value \"{name}\" was not produced")))
    }
}

/// The trainable parameters of a graph: its real initializers, except batch-norm running
/// statistics and one-element constants that are not the weight, bias, scale or shift of a
/// Gemm, Conv or normalisation (e.g. an attention scale).
pub fn trainable_params(graph: &Graph) -> BTreeSet<String> {
    let mut slots: HashMap<&str, bool> = HashMap::new();
    for node in &graph.nodes {
        for (k, name) in node.inputs.iter().enumerate() {
            let is_stat = node.op.is_statistic_slot(k);
            let is_weight = node.op.is_weight_slot(k);
            let scalar = matches!(graph.initializers.get(name), Some(Const::F32(t)) if t.numel() <= 1);
            let e = slots.entry(name.as_str()).or_insert(true);
            if is_stat || (scalar && !is_weight) {
                *e = false;
            }
        }
    }
    graph
        .initializers
        .iter()
        .filter(|(name, c)| matches!(c, Const::F32(_)) && slots.get(name.as_str()).copied().unwrap_or(false))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Runs `graph` on `inputs` (by graph input order), with `params` replacing initializers by name
/// (moved into the tape; take them back from [`Tape::values`]),
/// recording what backward needs. `trainable` names the values gradients are wanted for; `train`
/// switches batch norm to batch statistics.
pub fn forward<B: AutodiffBackend>(
    cx: &mut Ctx<'_, B>,
    graph: &Graph,
    inputs: Vec<Value<B::T>>,
    mut params: HashMap<String, Value<B::T>>,
    trainable: &BTreeSet<String>,
    train: bool,
) -> Result<Tape<B>> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::invalid(
            "model",
            format!("expects {} inputs, got {}", graph.inputs.len(), inputs.len()),
        ));
    }
    let mut values: HashMap<String, Value<B::T>> = HashMap::new();
    for (info, v) in graph.inputs.iter().zip(inputs) {
        values.insert(info.name.clone(), v);
    }
    for (name, c) in &graph.initializers {
        let v = params.remove(name).unwrap_or_else(|| Value::Public(c.clone()));
        values.entry(name.clone()).or_insert(v);
    }
    let mut requires: HashSet<String> = trainable.iter().filter(|n| values.contains_key(*n)).cloned().collect();
    let mut saved = Vec::with_capacity(graph.nodes.len());
    let mut buffers = Vec::new();
    for node in &graph.nodes {
        let mut args: Vec<Option<&Value<B::T>>> = Vec::with_capacity(node.inputs.len());
        for name in &node.inputs {
            if name.is_empty() {
                args.push(None);
                continue;
            }
            let v = values
                .get(name.as_str())
                .ok_or_else(|| node_error(node, format!("input \"{name}\" is not defined")))?;
            args.push(Some(v));
        }
        let (outs, s) = rules::forward_node(cx, node, &args, train, &mut buffers)?;
        if outs.len() < node.outputs.len() {
            return Err(node_error(
                node,
                format!("produced {} outputs, expected {}", outs.len(), node.outputs.len()),
            ));
        }
        if node.inputs.iter().any(|i| requires.contains(i)) {
            requires.extend(node.outputs.iter().cloned());
        }
        saved.push(s);
        for (name, v) in node.outputs.iter().zip(outs) {
            values.insert(name.clone(), v);
        }
    }
    Ok(Tape {
        values,
        saved,
        requires,
        trainable: trainable.clone(),
        buffers,
    })
}

/// Back-propagates `seeds` (gradients of graph values, usually the loss gradient of the output)
/// and returns the gradient of every trainable parameter that the seeds depend on.
pub fn backward<B: AutodiffBackend>(
    cx: &mut Ctx<'_, B>,
    graph: &Graph,
    tape: &Tape<B>,
    seeds: Vec<(String, B::T)>,
) -> Result<HashMap<String, B::T>> {
    let mut grads: HashMap<String, B::T> = HashMap::new();
    for (name, g) in seeds {
        accumulate(cx, &mut grads, &name, g)?;
    }
    for (i, node) in graph.nodes.iter().enumerate().rev() {
        let Some(out) = node.outputs.first() else { continue };
        let Some(g) = grads.remove(out) else { continue };
        let need: Vec<bool> = node
            .inputs
            .iter()
            .map(|n| !n.is_empty() && tape.requires.contains(n))
            .collect();
        if !need.iter().any(|&b| b) {
            continue;
        }
        let args: Vec<Option<&Value<B::T>>> = node
            .inputs
            .iter()
            .map(|n| if n.is_empty() { None } else { tape.values.get(n) })
            .collect();
        let y = tape.value(out)?;
        let gin = rules::backward_node(cx, node, &args, y, &tape.saved[i], g, &need)?;
        for (k, gi) in gin.into_iter().enumerate() {
            if let (Some(gi), true) = (gi, need.get(k).copied().unwrap_or(false)) {
                accumulate(cx, &mut grads, &node.inputs[k], gi)?;
            }
        }
    }
    Ok(grads.into_iter().filter(|(k, _)| tape.trainable.contains(k)).collect())
}

fn accumulate<B: AutodiffBackend>(
    cx: &mut Ctx<'_, B>,
    grads: &mut HashMap<String, B::T>,
    name: &str,
    g: B::T,
) -> Result<()> {
    match grads.remove(name) {
        Some(old) => {
            let s = cx.b.add(&old, &g)?;
            grads.insert(name.to_string(), s);
        }
        None => {
            grads.insert(name.to_string(), g);
        }
    }
    Ok(())
}
