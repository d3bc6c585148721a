//! The tape: a recorded forward pass over a graph, and the reverse walk that turns an output
//! gradient into parameter gradients.

use super::rules::{self, Saved};
use super::{AutodiffBackend, IndexMap};
use crate::error::{Error, Result};
use crate::nn::exec::{Value, node_error};
use crate::nn::graph::{Const, Graph, Node, Op};
use crate::nn::plain;
use crate::nn::tensor::F32Tensor;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Index maps by op and shape, computed once and reused by every step (and by every share).
#[derive(Default)]
pub struct MapCache {
    maps: HashMap<String, Arc<IndexMap>>,
}

impl MapCache {
    /// The map stored under `key`, computing it with `make` the first time.
    pub fn get(&mut self, key: String, make: impl FnOnce() -> Result<IndexMap>) -> Result<Arc<IndexMap>> {
        if let Some(m) = self.maps.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(make()?);
        self.maps.insert(key, m.clone());
        Ok(m)
    }
}

/// A backend plus the map cache: what forward and backward rules run on.
pub struct Ctx<'a, B: AutodiffBackend> {
    pub b: &'a mut B,
    pub maps: &'a mut MapCache,
}

impl<B: AutodiffBackend> Ctx<'_, B> {
    /// Evaluates `node` like the interpreter: all-public inputs in plaintext, else on the backend.
    pub fn eval(&mut self, node: &Node, args: &[Option<&Value<B::T>>]) -> Result<Vec<Value<B::T>>> {
        if args.iter().all(|a| !matches!(a, Some(Value::Data(_)))) {
            let consts: Vec<Option<Const>> = args.iter().map(|a| a.and_then(Value::public)).collect();
            return Ok(plain::eval(node, &consts)?.into_iter().map(Value::Public).collect());
        }
        self.b.eval_node(node, args)
    }

    /// One op on values, as an anonymous node.
    pub fn op(&mut self, op: Op, args: &[&Value<B::T>]) -> Result<Value<B::T>> {
        let node = Node {
            name: "backward".into(),
            op,
            inputs: Vec::new(),
            outputs: vec!["y".into()],
        };
        let args: Vec<Option<&Value<B::T>>> = args.iter().map(|a| Some(*a)).collect();
        let mut out = self.eval(&node, &args)?;
        if out.is_empty() {
            return Err(node_error(&node, "produced no output"));
        }
        Ok(out.swap_remove(0))
    }

    /// One op whose result is needed as a backend tensor.
    pub fn t(&mut self, op: Op, args: &[&Value<B::T>]) -> Result<B::T> {
        let v = self.op(op, args)?;
        self.data(&v)
    }

    /// A value as a backend tensor (public values are lifted).
    pub fn data(&self, v: &Value<B::T>) -> Result<B::T> {
        match v {
            Value::Data(t) => Ok(t.clone()),
            other => self.b.lift(&as_f32(&other.public().expect("a public value"))?),
        }
    }

    /// The shape of a value.
    pub fn shape(&self, v: &Value<B::T>) -> Vec<usize> {
        match v {
            Value::Data(t) => self.b.shape_of(t),
            Value::Public(c) => c.shape().to_vec(),
            Value::Encoded { ring, .. } => ring.shape().to_vec(),
        }
    }

    /// a · b elementwise (broadcasting).
    pub fn mul(&mut self, a: &Value<B::T>, b: &Value<B::T>) -> Result<B::T> {
        self.t(Op::Mul, &[a, b])
    }

    /// x · c for a public real c.
    pub fn scale(&mut self, x: &B::T, c: f64) -> Result<B::T> {
        if c == 1.0 {
            return Ok(x.clone());
        }
        Ok(self.b.scale_many(&[(x, c)])?.remove(0))
    }

    /// Sums a broadcast gradient back to `shape` (numpy broadcasting in reverse).
    pub fn sum_to(&mut self, g: B::T, shape: &[usize]) -> Result<B::T> {
        let gs = self.b.shape_of(&g);
        if gs == shape {
            return Ok(g);
        }
        if gs.len() < shape.len() {
            return Err(Error::shape("backward", format!("cannot sum {gs:?} to {shape:?}")));
        }
        let lead = gs.len() - shape.len();
        let mut axes: Vec<i64> = (0..lead as i64).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && gs[lead + i] != 1 {
                axes.push((lead + i) as i64);
            }
        }
        let s = if axes.is_empty() {
            g
        } else {
            self.t(Op::ReduceSum { axes, keepdims: true }, &[&Value::Data(g)])?
        };
        self.b.reshape(&s, shape)
    }

    /// Broadcasts `g` to `shape`.
    pub fn expand(&mut self, g: B::T, shape: &[usize]) -> Result<B::T> {
        if self.b.shape_of(&g) == shape {
            return Ok(g);
        }
        let zeros = Value::Public(Const::F32(F32Tensor::zeros(shape)));
        self.t(Op::Add, &[&Value::Data(g), &zeros])
    }

    /// A value transposed by `perm`.
    pub fn transpose(&mut self, v: &Value<B::T>, perm: Vec<usize>) -> Result<Value<B::T>> {
        self.op(Op::Transpose { perm }, &[v])
    }

    /// A value with its two last axes swapped.
    pub fn swap_last(&mut self, v: &Value<B::T>) -> Result<Value<B::T>> {
        let r = self.shape(v).len();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 2, r - 1);
        self.transpose(v, perm)
    }

    /// A value reshaped.
    pub fn reshape_value(&self, v: &Value<B::T>, shape: &[usize]) -> Result<Value<B::T>> {
        Ok(match v {
            Value::Data(t) => Value::Data(self.b.reshape(t, shape)?),
            other => Value::Public(Const::F32(
                as_f32(&other.public().expect("public"))?.reshape_exact(shape)?,
            )),
        })
    }
}

/// A public constant as f32.
pub(crate) fn as_f32(c: &Const) -> Result<F32Tensor> {
    match c {
        Const::F32(t) => Ok(t.clone()),
        Const::I64 { shape, data } => F32Tensor::from_vec(shape, data.iter().map(|&v| v as f32).collect()),
    }
}

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
            let is_stat = matches!(node.op, Op::BatchNormalization { .. }) && k >= 3;
            let is_weight = match node.op {
                Op::Gemm { .. } | Op::Conv { .. } => k >= 1,
                Op::BatchNormalization { .. } | Op::LayerNormalization { .. } => k == 1 || k == 2,
                _ => false,
            };
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
