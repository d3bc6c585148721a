//! The tape: a recorded forward pass over a graph, and the reverse walk that turns an output
//! gradient into parameter gradients. The graph runs through the interpreter on the recording
//! backend ([`Autodiff`]), which keeps each op's backward; the walk calls them in reverse.

use super::AutodiffBackend;
pub use super::ctx::{Ctx, MapCache};
use super::record::{Autodiff, Entry, Tracked, into_inner, untracked};
use crate::error::{Error, Result};
use crate::nn::exec::{eval, node_error};
use crate::nn::graph::{Const, Graph};
use crate::nn::value::Value;
pub use crate::nn::value::as_f32;
use std::collections::{BTreeSet, HashMap};

/// A recorded forward pass. `'t` bounds what the recorded backward rules hold (backend tensors).
pub struct Tape<'t, B: AutodiffBackend> {
    /// Every value the pass produced or read, by name.
    pub values: HashMap<String, Value<B::T>>,
    /// Tape ids of the values a gradient can reach, by name.
    ids: HashMap<String, usize>,
    /// The recorded ops, in forward order.
    entries: Vec<Entry<'t, B>>,
    /// The trainable parameters' tape ids.
    leaves: Vec<(String, usize)>,
    /// Updated running statistics of batch-norm layers in training mode (name → new value).
    pub buffers: Vec<(String, Value<B::T>)>,
}

impl<B: AutodiffBackend> Tape<'_, B> {
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
/// (moved into the tape; take them back from [`Tape::values`]), recording what backward needs.
/// `trainable` names the values gradients are wanted for; `train` switches batch norm to batch
/// statistics.
pub fn forward<'t, B: AutodiffBackend + 't>(
    cx: &mut Ctx<'_, B>,
    graph: &Graph,
    inputs: Vec<Value<B::T>>,
    mut params: HashMap<String, Value<B::T>>,
    trainable: &BTreeSet<String>,
    train: bool,
) -> Result<Tape<'t, B>> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::invalid(
            "model",
            format!("expects {} inputs, got {}", graph.inputs.len(), inputs.len()),
        ));
    }
    let mut ad: Autodiff<'_, 't, B> = Autodiff::new(&mut *cx.b, &mut *cx.maps, train);
    let mut values: HashMap<String, Value<Tracked<B::T>>> = HashMap::new();
    for (info, v) in graph.inputs.iter().zip(inputs) {
        values.insert(info.name.clone(), untracked(v));
    }
    let mut leaves = Vec::new();
    for (name, c) in &graph.initializers {
        if values.contains_key(name) {
            continue;
        }
        let v = params.remove(name).unwrap_or_else(|| Value::Public(c.clone()));
        let v = if trainable.contains(name) {
            // A trainable parameter is backend data with a tape entry of its own.
            let t = match v {
                Value::Data(t) => t,
                public => ad.b.tensor(&public)?,
            };
            let leaf = ad.leaf(t);
            leaves.push((name.clone(), leaf.id.expect("a leaf is tracked")));
            Value::Data(leaf)
        } else {
            untracked(v)
        };
        values.insert(name.clone(), v);
    }
    let mut buffers = Vec::new();
    for node in &graph.nodes {
        let mut args: Vec<Option<&Value<Tracked<B::T>>>> = Vec::with_capacity(node.inputs.len());
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
        let outs = eval(&mut ad, node, &args)?;
        if outs.len() < node.outputs.len() {
            return Err(node_error(
                node,
                format!("produced {} outputs, expected {}", outs.len(), node.outputs.len()),
            ));
        }
        // Running statistics (batch norm in training) go to the node's statistic inputs.
        let slots = (0..node.inputs.len()).filter(|&k| node.op.is_statistic_slot(k));
        for (k, stat) in slots.zip(ad.take_stats()) {
            buffers.push((node.inputs[k].clone(), stat));
        }
        for (name, v) in node.outputs.iter().zip(outs) {
            values.insert(name.clone(), v);
        }
    }
    let mut ids = HashMap::new();
    let values = values
        .into_iter()
        .map(|(name, v)| {
            if let Value::Data(Tracked { id: Some(id), .. }) = &v {
                ids.insert(name.clone(), *id);
            }
            (name, into_inner(v))
        })
        .collect();
    Ok(Tape {
        values,
        ids,
        entries: ad.into_entries(),
        leaves,
        buffers,
    })
}

/// Back-propagates `seeds` (gradients of graph values, usually the loss gradient of the output)
/// and returns the gradient of every trainable parameter that the seeds depend on.
pub fn backward<B: AutodiffBackend>(
    cx: &mut Ctx<'_, B>,
    _graph: &Graph,
    tape: &Tape<'_, B>,
    seeds: Vec<(String, B::T)>,
) -> Result<HashMap<String, B::T>> {
    let mut grads: Vec<Option<B::T>> = (0..tape.entries.len()).map(|_| None).collect();
    for (name, g) in seeds {
        if let Some(&id) = tape.ids.get(&name) {
            accumulate(cx, &mut grads[id], g)?;
        }
    }
    for (id, entry) in tape.entries.iter().enumerate().rev() {
        let Some(backward) = &entry.backward else { continue };
        let Some(g) = grads[id].take() else { continue };
        let need: Vec<bool> = entry.parents.iter().map(Option::is_some).collect();
        let gin = backward(cx, g, &need)?;
        for (parent, gi) in entry.parents.iter().zip(gin) {
            if let (Some(p), Some(gi)) = (parent, gi) {
                accumulate(cx, &mut grads[*p], gi)?;
            }
        }
    }
    Ok(tape
        .leaves
        .iter()
        .filter_map(|(name, id)| grads[*id].take().map(|g| (name.clone(), g)))
        .collect())
}

fn accumulate<B: AutodiffBackend>(cx: &mut Ctx<'_, B>, slot: &mut Option<B::T>, g: B::T) -> Result<()> {
    *slot = Some(match slot.take() {
        Some(old) => cx.b.add(&old, &g)?,
        None => g,
    });
    Ok(())
}
