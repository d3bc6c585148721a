//! The interpreter: runs a [`Graph`] on a backend. Model code exists once, as a graph, and this
//! file holds the only `match` over graph ops ([`eval_node`]): it unpacks each op's attributes
//! and operands and calls one method of an op family (`nn::ops`).
//!
//! Values are either public ([`Const`]: weights of a public model, shapes, indices) or the
//! backend's own tensors (plaintext f32, or shares of a protocol). A node whose inputs are all
//! public is evaluated by the plaintext backend through the same family methods, whatever the
//! backend (shape plumbing costs nothing); any other node goes to the backend, which picks the
//! cheapest path per operand (public weights use local public-operand products, private ones
//! Beaver products).

use super::graph::{Const, DType, Graph, Node, Op, PadKind};
pub use super::ops::Backend;
use super::ops::shape::{axis_of, split_sizes};
use super::ops::{Cmp, ConvAttrs, GemmAttrs, Ops, PadMode, PoolAttrs, V, Weight};
use super::plain::PlainBackend;
use super::tensor::{F32Tensor, broadcast_shape};
pub use super::value::Value;
use super::value::{ints, to_i64};
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::collections::HashMap;

/// Errors of a node, with its name and op type prefixed.
pub fn node_error(node: &Node, detail: impl std::fmt::Display) -> Error {
    Error::invalid(
        format!("node \"{}\" ({})", node.name, node.op.onnx_name()),
        detail.to_string(),
    )
}

/// Runs `graph` with the given input values (by graph input order); `params` replaces
/// initializers by name (e.g. with secret-shared weights). Returns the graph outputs.
pub fn run<B: Ops>(
    graph: &Graph,
    backend: &mut B,
    inputs: Vec<Value<B::T>>,
    params: HashMap<String, Value<B::T>>,
) -> Result<Vec<Value<B::T>>> {
    let mut params = params;
    run_env(graph, backend, inputs, |name| params.remove(name).map(Cow::Owned))
}

/// [`run`] with borrowed parameters, so that repeated runs do not copy the weights.
pub fn run_borrowed<B: Ops>(
    graph: &Graph,
    backend: &mut B,
    inputs: Vec<Value<B::T>>,
    params: &HashMap<String, Value<B::T>>,
) -> Result<Vec<Value<B::T>>> {
    run_env(graph, backend, inputs, |name| params.get(name).map(Cow::Borrowed))
}

/// The interpreter loop; `param(name)` gives the value replacing initializer `name`, if any.
fn run_env<'p, B: Ops>(
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
        let outs = eval(backend, node, &args)?;
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

/// Evaluates one node: in plaintext when every input is public (the result is public), else on
/// the backend. `args[k]` is `None` for an omitted optional input.
pub fn eval<B: Ops>(b: &mut B, node: &Node, args: &[Option<&V<B>>]) -> Result<Vec<V<B>>> {
    if args.iter().any(|a| matches!(a, Some(Value::Data(_)))) {
        return eval_node(b, node, args);
    }
    let public: Vec<Option<Value<F32Tensor>>> = args
        .iter()
        .map(|a| {
            a.map(|v| v.require_public("a public input").map(Value::Public))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let refs: Vec<Option<&Value<F32Tensor>>> = public.iter().map(Option::as_ref).collect();
    Ok(eval_node(&mut PlainBackend, node, &refs)?
        .into_iter()
        .map(|v| match v {
            Value::Data(t) => Value::Public(Const::F32(t)),
            Value::Public(c) => Value::Public(c),
            Value::Encoded { ring, frac } => Value::Encoded { ring, frac },
        })
        .collect())
}

/// Evaluates one node on public constants in plaintext (constant folding, shape arithmetic).
pub fn eval_public(node: &Node, args: &[Option<Const>]) -> Result<Vec<Const>> {
    let values: Vec<Option<Value<F32Tensor>>> = args.iter().map(|a| a.clone().map(Value::Public)).collect();
    let refs: Vec<Option<&Value<F32Tensor>>> = values.iter().map(Option::as_ref).collect();
    eval_node(&mut PlainBackend, node, &refs)?
        .into_iter()
        .map(|v| match v {
            Value::Data(t) => Ok(Const::F32(t)),
            other => other.require_public("a folded value"),
        })
        .collect()
}

/// Whether op `op` takes pre-encoded public operands as they are (the products); every other op
/// sees them as plain public values.
fn keeps_encoded(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul
            | Op::Gemm {
                trans_a: false,
                trans_b: false,
                ..
            }
            | Op::Conv { .. }
    )
}

/// Evaluates one node on backend `b`, whatever its inputs: the only `match` over graph ops.
pub fn eval_node<B: Ops>(b: &mut B, node: &Node, args: &[Option<&V<B>>]) -> Result<Vec<V<B>>> {
    if node.relu_after && !matches!(node.op, Op::Conv { .. } | Op::Gemm { .. }) {
        return Err(node_error(node, "only a Conv or a Gemm takes a fused ReLU"));
    }
    let keep = keeps_encoded(&node.op);
    let inputs: Vec<Option<Cow<'_, V<B>>>> = args
        .iter()
        .map(|a| {
            a.map(|v| match v {
                Value::Encoded { .. } if !keep => v
                    .require_public("an encoded value")
                    .map(|c| Cow::Owned(Value::Public(c))),
                other => Ok(Cow::Borrowed(other)),
            })
            .transpose()
        })
        .collect::<Result<_>>()?;
    let e = |err: Error| node_error(node, err);
    let arg = |k: usize| -> Result<&V<B>> {
        inputs
            .get(k)
            .and_then(Option::as_deref)
            .ok_or_else(|| node_error(node, format!("missing input {k}")))
    };
    let opt = |k: usize| inputs.get(k).and_then(Option::as_deref);
    let present: Vec<&V<B>> = inputs.iter().flatten().map(|v| &**v).collect();
    // A public parameter (shape, axes, exponent, pad value).
    let public = |k: usize| -> Result<Const> {
        arg(k)?
            .require_public("a parameter")
            .map_err(|_| node_error(node, format!("input {k} must be public")))
    };
    // Integer-in, integer-out for the ops that move or combine shape vectors.
    let all_int = present.iter().all(|v| matches!(v, Value::Public(Const::I64 { .. })));
    let int_of = |b: &B, y: B::T| -> V<B> {
        match b.plaintext(&y) {
            Some(t) => Value::Public(to_i64(t)),
            None => Value::Data(y),
        }
    };
    let wrap = |b: &B, y: B::T| -> Vec<V<B>> { vec![if all_int { int_of(b, y) } else { Value::Data(y) }] };
    let one = |y: B::T| -> Vec<V<B>> { vec![Value::Data(y)] };
    let weight = |k: usize| -> Result<Weight<'_, B::T>> {
        Ok(Weight {
            value: arg(k)?,
            name: node.inputs.get(k).map_or("", String::as_str),
        })
    };
    let x = |b: &B| -> Result<B::T> { b.tensor(arg(0)?) };
    let out = match &node.op {
        // ----- products -----
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let g = GemmAttrs {
                alpha: *alpha,
                beta: *beta,
                trans_a: *trans_a,
                trans_b: *trans_b,
            };
            if node.relu_after {
                one(b.gemm_relu(arg(0)?, weight(1)?, opt(2), g).map_err(e)?)
            } else {
                one(b.gemm(arg(0)?, weight(1)?, opt(2), g).map_err(e)?)
            }
        }
        Op::MatMul => one(b.matmul(arg(0)?, weight(1)?).map_err(e)?),
        Op::Conv {
            strides,
            pads,
            dilations,
            group,
        } => {
            let c = ConvAttrs {
                strides: strides.clone(),
                pads: pads.clone(),
                dilations: dilations.clone(),
                group: *group,
            };
            let xt = x(b)?;
            if node.relu_after {
                one(b.conv_relu(&xt, weight(1)?, opt(2), &c).map_err(e)?)
            } else {
                one(b.conv(&xt, weight(1)?, opt(2), &c).map_err(e)?)
            }
        }
        Op::Mul => {
            let y = b.mul(arg(0)?, arg(1)?).map_err(e)?;
            wrap(b, y)
        }
        Op::Div => {
            let y = b.div(arg(0)?, arg(1)?).map_err(e)?;
            // Integer division truncates, as ONNX does for integer tensors.
            match b.plaintext(&y) {
                Some(t) if all_int => vec![Value::Public(to_i64(&t.map(f32::trunc)))],
                _ => one(y),
            }
        }
        Op::Gather { axis } if opt(1).is_some_and(Value::is_data) => {
            // Private token ids arrive one-hot encoded ([.., vocab]); the lookup is a product.
            if *axis != 0 {
                return Err(node_error(node, "private indices are supported for axis 0 only"));
            }
            let Value::Data(ids) = arg(1)? else {
                unreachable!("checked above")
            };
            one(b.embed(weight(0)?, ids).map_err(e)?)
        }
        // ----- linear maps and movement -----
        Op::Add | Op::Sub => {
            let y = b.add_values(arg(0)?, arg(1)?, node.op == Op::Sub).map_err(e)?;
            wrap(b, y)
        }
        Op::Neg => {
            let y = b.neg(&x(b)?).map_err(e)?;
            wrap(b, y)
        }
        Op::Flatten { .. } | Op::Reshape | Op::Unsqueeze { .. } | Op::Squeeze { .. } => {
            let xt = x(b)?;
            let zeros = F32Tensor::zeros(&b.shape_of(&xt));
            let shaped = match &node.op {
                Op::Flatten { axis } => zeros.flatten(*axis),
                Op::Reshape => zeros.reshape(&ints(&public(1)?)),
                Op::Unsqueeze { axes } if axes.is_empty() => zeros.unsqueeze(&ints(&public(1)?)),
                Op::Unsqueeze { axes } => zeros.unsqueeze(axes),
                Op::Squeeze { axes } if axes.is_empty() && opt(1).is_some() => zeros.squeeze(&ints(&public(1)?)),
                Op::Squeeze { axes } => zeros.squeeze(axes),
                _ => unreachable!("a reshape"),
            }
            .map_err(e)?;
            let y = b.reshape(&xt, shaped.shape()).map_err(e)?;
            wrap(b, y)
        }
        Op::Transpose { perm } => {
            let xt = x(b)?;
            let perm: Vec<usize> = if perm.is_empty() {
                (0..b.shape_of(&xt).len()).rev().collect()
            } else {
                perm.clone()
            };
            let y = b.transpose(&xt, &perm).map_err(e)?;
            wrap(b, y)
        }
        Op::Concat { axis } => {
            let parts: Vec<B::T> = present.iter().map(|v| b.tensor(v)).collect::<Result<_>>()?;
            let refs: Vec<&B::T> = parts.iter().collect();
            let y = b.concat(&refs, *axis).map_err(e)?;
            wrap(b, y)
        }
        Op::Slice => {
            let starts = ints(&public(1)?);
            let ends = ints(&public(2)?);
            let axes = match opt(3) {
                Some(_) => ints(&public(3)?),
                None => (0..starts.len() as i64).collect(),
            };
            let steps = match opt(4) {
                Some(_) => ints(&public(4)?),
                None => vec![1; starts.len()],
            };
            let y = b.slice(&x(b)?, &starts, &ends, &axes, &steps).map_err(e)?;
            wrap(b, y)
        }
        Op::Pad { mode } => {
            let mode = match mode {
                PadKind::Constant => PadMode::Constant(match opt(2) {
                    Some(_) => super::value::as_f32(&public(2)?)?
                        .data()
                        .first()
                        .copied()
                        .unwrap_or(0.0),
                    None => 0.0,
                }),
                PadKind::Edge => PadMode::Edge,
                PadKind::Reflect => PadMode::Reflect,
            };
            let y = b.pad(&x(b)?, &ints(&public(1)?), mode).map_err(e)?;
            wrap(b, y)
        }
        Op::Tile => {
            let repeats: Vec<usize> = ints(&public(1)?)
                .iter()
                .map(|&r| usize::try_from(r).map_err(|_| node_error(node, format!("negative repeat {r}"))))
                .collect::<Result<_>>()?;
            let y = b.tile(&x(b)?, &repeats).map_err(e)?;
            wrap(b, y)
        }
        Op::Gather { axis } => {
            let idx = public(1)?;
            let y = b.gather(&x(b)?, *axis, &ints(&idx), idx.shape()).map_err(e)?;
            wrap(b, y)
        }
        Op::Expand => {
            let xt = x(b)?;
            let dims: Vec<usize> = ints(&public(1)?).iter().map(|&d| d.max(0) as usize).collect();
            let shape = broadcast_shape(&b.shape_of(&xt), &dims).map_err(e)?;
            let y = b.expand(&xt, &shape).map_err(e)?;
            wrap(b, y)
        }
        Op::Split { axis, parts } => {
            let xt = x(b)?;
            let shape = b.shape_of(&xt);
            let ax = axis_of(*axis, shape.len()).map_err(e)?;
            let split = match opt(1) {
                Some(_) => Some(public(1)?),
                None => None,
            };
            let sizes = split_sizes(shape[ax], *parts, split.as_ref()).map_err(e)?;
            let pieces = b.split(&xt, ax, &sizes).map_err(e)?;
            pieces.into_iter().flat_map(|p| wrap(b, p)).collect()
        }
        Op::Identity | Op::Cast { to: DType::F32 } if !all_int => vec![arg(0)?.clone()],
        Op::Identity => vec![arg(0)?.clone()],
        Op::Cast { to } => {
            let y = x(b)?;
            match to {
                DType::I64 => vec![int_of(b, y)],
                DType::F32 => one(y),
            }
        }
        // Inference: the mask (second output) is all true.
        Op::Dropout => {
            let shape = b.value_shape(arg(0)?);
            let n = shape.iter().product();
            vec![
                arg(0)?.clone(),
                Value::Public(Const::I64 {
                    shape,
                    data: vec![1; n],
                }),
            ]
        }
        Op::Shape => {
            let s = b.value_shape(arg(0)?);
            vec![Value::Public(Const::I64 {
                shape: vec![s.len()],
                data: s.iter().map(|&d| d as i64).collect(),
            })]
        }
        Op::Size => vec![Value::Public(Const::I64 {
            shape: vec![],
            data: vec![b.value_shape(arg(0)?).iter().product::<usize>() as i64],
        })],
        Op::Constant(c) => vec![Value::Public(c.clone())],
        Op::ConstantOfShape(v) => {
            let dims: Vec<usize> = ints(&public(0)?).iter().map(|&d| d.max(0) as usize).collect();
            let n: usize = dims.iter().product();
            vec![Value::Public(match v {
                Const::F32(t) => Const::F32(F32Tensor::full(&dims, t.data()[0])),
                Const::I64 { data, .. } => Const::I64 {
                    shape: dims,
                    data: vec![data[0]; n],
                },
            })]
        }
        // ----- activations and comparisons -----
        Op::Relu => one(b.relu(&x(b)?).map_err(e)?),
        Op::Sigmoid => one(b.sigmoid(&x(b)?).map_err(e)?),
        Op::Tanh => one(b.tanh(&x(b)?).map_err(e)?),
        Op::Exp => one(b.exp(&x(b)?).map_err(e)?),
        Op::Log => one(b.log(&x(b)?).map_err(e)?),
        Op::Sqrt => one(b.sqrt(&x(b)?).map_err(e)?),
        Op::Reciprocal => one(b.reciprocal(&x(b)?).map_err(e)?),
        Op::Erf => one(b.erf(&x(b)?).map_err(e)?),
        Op::Gelu { tanh } => one(b.gelu(&x(b)?, *tanh).map_err(e)?),
        Op::Abs => {
            let y = b.abs(&x(b)?).map_err(e)?;
            wrap(b, y)
        }
        Op::Sign => {
            let y = b.sign(&x(b)?).map_err(e)?;
            wrap(b, y)
        }
        Op::LeakyRelu { alpha } => one(b.leaky_relu(&x(b)?, *alpha).map_err(e)?),
        Op::HardSigmoid { alpha, beta } => one(b.hard_sigmoid(&x(b)?, *alpha, *beta).map_err(e)?),
        Op::Clip { min, max } => {
            let y = b.clip(&x(b)?, *min, *max).map_err(e)?;
            wrap(b, y)
        }
        Op::Pow => {
            if !arg(0)?.is_data() && arg(1)?.is_data() && b.plaintext(&b.tensor(arg(1)?)?).is_none() {
                return Err(node_error(
                    node,
                    "a public base with a private exponent is not supported",
                ));
            }
            let ex = match arg(1)? {
                // A plaintext backend computes with data exponents too.
                Value::Data(t) => b
                    .plaintext(t)
                    .cloned()
                    .ok_or_else(|| node_error(node, "a private exponent is not supported"))?,
                other => other.public_f32("the exponent")?,
            };
            one(b.pow(&x(b)?, &ex).map_err(e)?)
        }
        Op::Equal | Op::Greater | Op::Less | Op::GreaterOrEqual | Op::LessOrEqual => {
            let cmp = match node.op {
                Op::Equal => Cmp::Equal,
                Op::Greater => Cmp::Greater,
                Op::Less => Cmp::Less,
                Op::GreaterOrEqual => Cmp::GreaterOrEqual,
                _ => Cmp::LessOrEqual,
            };
            let y = b.compare(arg(0)?, arg(1)?, cmp).map_err(e)?;
            vec![int_of(b, y)]
        }
        Op::Max | Op::Min | Op::Sum | Op::Mean => {
            let (first, rest) = present.split_first().ok_or_else(|| node_error(node, "has no inputs"))?;
            let mut acc: Cow<'_, V<B>> = Cow::Borrowed(*first);
            for v in rest {
                let y = match node.op {
                    Op::Max => b.max(&acc, v),
                    Op::Min => b.min(&acc, v),
                    _ => b.add_values(&acc, v, false),
                }
                .map_err(e)?;
                acc = Cow::Owned(Value::Data(y));
            }
            let acc = b.tensor(&acc)?;
            if node.op == Op::Mean {
                one(b.scale(&acc, 1.0 / present.len() as f64).map_err(e)?)
            } else {
                wrap(b, acc)
            }
        }
        Op::Where => {
            let y = b.select(arg(0)?, arg(1)?, arg(2)?).map_err(e)?;
            let ints_in = [1, 2]
                .iter()
                .all(|&k| matches!(opt(k), Some(Value::Public(Const::I64 { .. }))));
            vec![if ints_in { int_of(b, y) } else { Value::Data(y) }]
        }
        // ----- reductions and normalisation -----
        Op::ReduceSum { axes, keepdims } => {
            let y = b.reduce_sum(&x(b)?, axes, *keepdims).map_err(e)?;
            wrap(b, y)
        }
        Op::ReduceMean { axes, keepdims } => one(b.reduce_mean(&x(b)?, axes, *keepdims).map_err(e)?),
        Op::Reduce { kind, axes, keepdims } => {
            let y = b.reduce(&x(b)?, *kind, axes, *keepdims).map_err(e)?;
            wrap(b, y)
        }
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
            min,
        } => {
            let y = b
                .argmax(&x(b)?, *axis, *keepdims, *select_last_index, *min)
                .map_err(e)?;
            vec![int_of(b, y)]
        }
        Op::Softmax { axis } => one(b.softmax(&x(b)?, *axis).map_err(e)?),
        Op::LogSoftmax { axis } => one(b.log_softmax(&x(b)?, *axis).map_err(e)?),
        Op::LayerNormalization { axis, epsilon } => {
            let ys = b
                .layer_norm(&x(b)?, *axis, *epsilon, opt(1), opt(2), node.outputs.len() > 1)
                .map_err(e)?;
            ys.into_iter().map(Value::Data).collect()
        }
        Op::BatchNormalization { epsilon } => {
            let y = b
                .batch_norm(&x(b)?, arg(1)?, arg(2)?, arg(3)?, arg(4)?, *epsilon)
                .map_err(e)?;
            one(y)
        }
        // ----- pooling -----
        Op::MaxPool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
        }
        | Op::AveragePool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
            ..
        } => {
            let a = PoolAttrs {
                kernel: kernel.clone(),
                strides: strides.clone(),
                pads: pads.clone(),
                dilations: dilations.clone(),
                ceil_mode: *ceil_mode,
            };
            let xt = x(b)?;
            let y = match node.op {
                Op::AveragePool { count_include_pad, .. } => b.avg_pool(&xt, &a, count_include_pad),
                _ => b.max_pool(&xt, &a),
            };
            one(y.map_err(e)?)
        }
        Op::GlobalAveragePool => one(b.global_avg_pool(&x(b)?).map_err(e)?),
        Op::GlobalMaxPool => one(b.global_max_pool(&x(b)?).map_err(e)?),
    };
    Ok(out)
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

/// A weight as a product node uses it: input `name` as stored, or transposed (Gemm's transB).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WeightUse {
    pub name: String,
    pub transposed: bool,
}

/// The initializers that are the right operand of a product (Conv and MatMul weights, Gemm's B,
/// the table of an embedding looked up with private token ids), in node order without repeats.
pub fn product_weights(graph: &Graph) -> Vec<WeightUse> {
    let tokens = token_inputs(graph);
    let mut out: Vec<WeightUse> = Vec::new();
    for node in &graph.nodes {
        let (k, transposed) = match &node.op {
            Op::Conv { .. } | Op::MatMul => (1, false),
            Op::Gemm {
                trans_a: false,
                trans_b,
                ..
            } => (1, *trans_b),
            Op::Gather { axis: 0 } if node.inputs.get(1).is_some_and(|i| tokens.contains_key(i)) => (0, false),
            _ => continue,
        };
        let Some(name) = node.inputs.get(k) else { continue };
        let u = WeightUse {
            name: name.clone(),
            transposed,
        };
        if graph.initializers.contains_key(name) && !out.contains(&u) {
            out.push(u);
        }
    }
    out
}
