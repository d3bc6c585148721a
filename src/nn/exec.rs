//! The interpreter: runs a [`Graph`] on a backend. Model code exists once, as a graph.
//!
//! Values are either public ([`Const`]: weights of a public model, shapes, indices) or the
//! backend's own tensors (plaintext f32, or shares of a protocol). A node whose inputs are all
//! public is evaluated in plaintext, whatever the backend (shape plumbing costs nothing); any other
//! node goes to the backend, which picks the cheapest path per operand (public weights use local
//! public-operand products, private ones Beaver products).

use super::graph::{Const, DType, Graph, Node, Op};
use super::plain;
use super::tensor::F32Tensor;
use crate::error::{Error, Result};
use crate::ring::RingTensor;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// A value flowing through the graph.
#[derive(Clone, Debug)]
pub enum Value<T> {
    /// Known to every party.
    Public(Const),
    /// A public value already encoded in the ring at `frac` fractional bits (a public model's
    /// weights, encoded once per session instead of once per use).
    Encoded { ring: Arc<RingTensor>, frac: u32 },
    /// The backend's tensor (private on a protocol backend).
    Data(T),
}

impl<T> Value<T> {
    /// The public value of a `Public` or `Encoded` value.
    pub fn public(&self) -> Option<Const> {
        match self {
            Value::Public(c) => Some(c.clone()),
            Value::Encoded { ring, frac } => {
                let v: Vec<f32> = crate::ring::decode(ring, *frac).iter().map(|&x| x as f32).collect();
                Some(Const::F32(F32Tensor::from_vec(ring.shape(), v).expect("sized")))
            }
            Value::Data(_) => None,
        }
    }
}

/// What a backend must provide to run graphs.
pub trait Backend {
    /// The backend's tensor type.
    type T: Clone;
    /// The shape of a backend tensor.
    fn shape_of(&self, x: &Self::T) -> Vec<usize>;
    /// Evaluates one node whose inputs include at least one backend tensor. `inputs[k]` is `None`
    /// for an omitted optional input.
    fn eval(&mut self, node: &Node, inputs: &[Option<&Value<Self::T>>]) -> Result<Vec<Value<Self::T>>>;
}

/// Errors of a node, with its name and op type prefixed.
pub fn node_error(node: &Node, detail: impl std::fmt::Display) -> Error {
    Error::invalid(
        format!("node \"{}\" ({})", node.name, node.op.onnx_name()),
        detail.to_string(),
    )
}

/// Runs `graph` with the given input values (by graph input order); `params` replaces
/// initializers by name (e.g. with secret-shared weights). Returns the graph outputs.
pub fn run<B: Backend>(
    graph: &Graph,
    backend: &mut B,
    inputs: Vec<Value<B::T>>,
    params: HashMap<String, Value<B::T>>,
) -> Result<Vec<Value<B::T>>> {
    let mut params = params;
    run_env(graph, backend, inputs, |name| params.remove(name).map(Cow::Owned))
}

/// [`run`] with borrowed parameters, so that repeated runs do not copy the weights.
pub fn run_borrowed<B: Backend>(
    graph: &Graph,
    backend: &mut B,
    inputs: Vec<Value<B::T>>,
    params: &HashMap<String, Value<B::T>>,
) -> Result<Vec<Value<B::T>>> {
    run_env(graph, backend, inputs, |name| params.get(name).map(Cow::Borrowed))
}

/// The interpreter loop; `param(name)` gives the value replacing initializer `name`, if any.
fn run_env<'p, B: Backend>(
    graph: &Graph,
    backend: &mut B,
    inputs: Vec<Value<B::T>>,
    mut param: impl FnMut(&str) -> Option<Cow<'p, Value<B::T>>>,
) -> Result<Vec<Value<B::T>>>
where
    B::T: 'p,
{
    if inputs.len() != graph.inputs.len() {
        return Err(Error::invalid(
            "model",
            format!("expects {} inputs, got {}", graph.inputs.len(), inputs.len()),
        ));
    }
    let mut env: HashMap<&str, Cow<'p, Value<B::T>>> = HashMap::new();
    for (info, v) in graph.inputs.iter().zip(inputs) {
        env.insert(info.name.as_str(), Cow::Owned(v));
    }
    for (name, c) in &graph.initializers {
        let v = param(name).unwrap_or_else(|| Cow::Owned(Value::Public(c.clone())));
        env.entry(name.as_str()).or_insert(v);
    }
    // Drop each value after its last use, to bound memory on big models.
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for inp in &node.inputs {
            last_use.insert(inp.as_str(), i);
        }
    }
    for out in &graph.outputs {
        last_use.insert(out.as_str(), usize::MAX);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let mut args: Vec<Option<&Value<B::T>>> = Vec::with_capacity(node.inputs.len());
        for name in &node.inputs {
            if name.is_empty() {
                args.push(None);
                continue;
            }
            let v = env
                .get(name.as_str())
                .ok_or_else(|| node_error(node, format!("input \"{name}\" is not defined")))?;
            args.push(Some(&**v));
        }
        let all_public = args.iter().all(|a| !matches!(a, Some(Value::Data(_))));
        let outs = if all_public {
            let consts: Vec<Option<Const>> = args.iter().map(|a| a.and_then(Value::public)).collect();
            plain::eval(node, &consts)?.into_iter().map(Value::Public).collect()
        } else {
            backend.eval(node, &args)?
        };
        if outs.len() < node.outputs.len() {
            return Err(node_error(
                node,
                format!("produced {} outputs, expected {}", outs.len(), node.outputs.len()),
            ));
        }
        for (name, v) in node.outputs.iter().zip(outs) {
            env.insert(name.as_str(), Cow::Owned(v));
        }
        for name in &node.inputs {
            if last_use.get(name.as_str()) == Some(&i) && !graph.initializers.contains_key(name) {
                env.remove(name.as_str());
            }
        }
    }
    graph
        .outputs
        .iter()
        .map(|o| {
            env.remove(o.as_str())
                .map(Cow::into_owned)
                .ok_or_else(|| Error::invalid("model", format!("output \"{o}\" was not produced")))
        })
        .collect()
}

/// Indices of Gather nodes whose indices come straight from an integer graph input: those inputs
/// are token ids, which the data owner one-hot encodes before sharing (so ids stay private and the
/// lookup becomes a product with the table). Returns (input name → vocabulary size).
pub fn token_inputs(graph: &Graph) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for node in &graph.nodes {
        if let Op::Gather { axis } = node.op {
            let (Some(table), Some(ids)) = (node.inputs.first(), node.inputs.get(1)) else {
                continue;
            };
            let is_int_input = graph.inputs.iter().any(|i| &i.name == ids && i.dtype == DType::I64);
            if let (true, Some(t)) = (is_int_input, graph.initializers.get(table)) {
                let ax = if axis < 0 { axis + t.shape().len() as i64 } else { axis };
                if ax == 0 {
                    out.insert(ids.clone(), t.shape()[0]);
                }
            }
        }
    }
    out
}
