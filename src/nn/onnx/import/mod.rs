//! Reads an ONNX model (opsets 13 to 17) into the [`Graph`] IR.
//!
//! The importer parses every node's attributes into a typed [`Op`] with the ONNX defaults filled
//! in, folds the public "shape plumbing" (Constant, Shape, Gather on constants, Unsqueeze, Concat,
//! Reshape, ...) into initializers, drops nodes whose outputs nobody uses, and fuses the exported
//! erf-GELU pattern into [`Op::Gelu`].
//!
//! Rooms: this file drives the import (the model, the graph, each node in order); `attrs` reads
//! attributes and tensors, `parse` maps each ONNX op to its [`Op`] (one arm per op group), `folding`
//! evaluates public plumbing at load time, `gelu` fuses the erf-GELU pattern; the tests are in
//! `tests`.

mod attrs;
mod folding;
mod gelu;
mod parse;
#[cfg(test)]
mod tests;

use super::fold;
use super::proto::{ModelProto, NodeProto, data_type as dt};
use crate::error::{Error, Result};
use crate::nn::graph::{Const, Graph, Node, Op, ValueInfo};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// The oldest default-domain opset the importer accepts.
pub const MIN_OPSET: i64 = 13;
/// The newest default-domain opset the importer accepts.
pub const MAX_OPSET: i64 = 17;

/// ONNX operator types the importer maps to an [`Op`] (one per variant), sorted.
const SUPPORTED: [&str; 69] = [
    "Abs",
    "Add",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Sign",
    "Size",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
];

/// The ONNX operator types [`parse_onnx`] accepts, sorted.
pub fn supported_ops() -> &'static [&'static str] {
    &SUPPORTED
}

/// Reads and imports the ONNX model at `path`.
pub fn load_onnx(path: &Path) -> Result<Graph> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    parse_onnx(&bytes, &file)
}

/// Imports an ONNX model from its serialized bytes; `file` names it in errors.
pub fn parse_onnx(bytes: &[u8], file: &str) -> Result<Graph> {
    let model = decode_model(bytes, file)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::config(file, "onnx model has no graph"))?;
    default_opset(&model, file)?;
    Importer::new(graph)?.run(graph)
}

/// Decodes the raw protobuf of an ONNX model without interpreting it.
pub fn decode_model(bytes: &[u8], file: &str) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| {
        let msg = e.to_string();
        let detail = msg.strip_prefix("failed to decode Protobuf message: ").unwrap_or(&msg);
        Error::config(
            file,
            format!("not a valid onnx model (protobuf decoding failed: {detail})"),
        )
    })
}

/// The model's opset of the default (`ai.onnx`) domain; an error when missing or outside
/// [`MIN_OPSET`]..=[`MAX_OPSET`].
pub fn default_opset(model: &ModelProto, file: &str) -> Result<i64> {
    let version = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| Error::config(file, "onnx model has no opset_import for the default domain"))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&version) {
        return Err(Error::config(
            file,
            format!(
                "onnx opset {version} is not supported; supported: {MIN_OPSET} to {MAX_OPSET} (re-export the model with opset_version={MAX_OPSET})"
            ),
        ));
    }
    Ok(version)
}

pub(super) use attrs::tensor_to_const;
use attrs::{Ctx, dtype_of, value_shape};
use gelu::fuse_gelu;

/// A parsed node before folding.
struct Parsed {
    op: Op,
    inputs: Vec<String>,
    /// The first output, then the extra outputs the op produces (empty names: omitted).
    outputs: Vec<String>,
    /// `Cast.to` as an ONNX data type (folding distinguishes BOOL and the integer widths).
    cast_to: i32,
    /// `Shape` start/end (opset 15).
    shape_range: (i64, Option<i64>),
    /// `Reshape.allowzero`.
    allowzero: bool,
}

/// Attributes shared by Conv and the pools.
struct Spatial {
    kernel: Option<Vec<usize>>,
    strides: Vec<usize>,
    pads: Vec<usize>,
    dilations: Vec<usize>,
}

struct Importer {
    /// Every value known at load time: initializers and the outputs of folded nodes.
    consts: HashMap<String, Const>,
    /// Every value defined so far (graph inputs, constants, outputs of kept nodes).
    defined: HashSet<String>,
    /// Shapes of the (non-initializer) graph inputs.
    input_shapes: HashMap<String, Vec<Option<usize>>>,
    /// Ranks known from graph inputs, outputs and `value_info`.
    ranks: HashMap<String, usize>,
    /// Values read by some node or by the graph outputs.
    consumed: HashSet<String>,
    inputs: Vec<ValueInfo>,
    nodes: Vec<Node>,
    node_names: HashSet<String>,
}

impl Importer {
    fn new(g: &super::proto::GraphProto) -> Result<Self> {
        let mut imp = Importer {
            consts: HashMap::new(),
            defined: HashSet::new(),
            input_shapes: HashMap::new(),
            ranks: HashMap::new(),
            consumed: HashSet::new(),
            inputs: Vec::new(),
            nodes: Vec::new(),
            node_names: g
                .node
                .iter()
                .map(|n| n.name.clone())
                .filter(|n| !n.is_empty())
                .collect(),
        };
        for t in &g.initializer {
            let what = || format!("initializer \"{}\"", t.name);
            if t.name.is_empty() {
                return Err(Error::invalid("initializer", "an initializer has no name"));
            }
            let c = tensor_to_const(t).map_err(|d| Error::invalid(what(), d))?;
            if imp.consts.insert(t.name.clone(), c).is_some() {
                return Err(Error::invalid(what(), "is defined twice"));
            }
            imp.defined.insert(t.name.clone());
        }
        for v in g.input.iter().filter(|v| !imp.consts.contains_key(&v.name)) {
            let what = || format!("graph input \"{}\"", v.name);
            let tt = v
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .ok_or_else(|| Error::invalid(what(), "is not a tensor"))?;
            let dtype = dtype_of(tt.elem_type).ok_or_else(|| {
                Error::invalid(
                    what(),
                    format!("element type {} is not supported", dt::name(tt.elem_type)),
                )
            })?;
            let shape = value_shape(v);
            if let Some(s) = &shape {
                imp.input_shapes.insert(v.name.clone(), s.clone());
            }
            if !imp.defined.insert(v.name.clone()) {
                return Err(Error::invalid(what(), "is defined twice"));
            }
            imp.inputs.push(ValueInfo {
                name: v.name.clone(),
                dtype,
                shape: shape.unwrap_or_default(),
            });
        }
        for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
            if let Some(s) = value_shape(v) {
                imp.ranks.insert(v.name.clone(), s.len());
            }
        }
        imp.consumed = g
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .chain(g.output.iter().map(|o| &o.name))
            .cloned()
            .collect();
        Ok(imp)
    }

    fn run(mut self, g: &super::proto::GraphProto) -> Result<Graph> {
        for (index, n) in g.node.iter().enumerate() {
            self.import_node(index, n)?;
        }
        let outputs: Vec<String> = g.output.iter().map(|o| o.name.clone()).collect();
        for o in &outputs {
            if !self.defined.contains(o) {
                return Err(Error::invalid(
                    format!("graph output \"{o}\""),
                    "is not produced by any node, initializer or input",
                ));
            }
        }
        let nodes = remove_unused(self.nodes, &outputs);
        let nodes = fuse_gelu(nodes, &self.consts, &outputs);
        let live: HashSet<&String> = nodes.iter().flat_map(|n| n.inputs.iter()).chain(&outputs).collect();
        let initializers: BTreeMap<String, Const> = self.consts.into_iter().filter(|(k, _)| live.contains(k)).collect();
        Ok(Graph {
            inputs: self.inputs,
            outputs,
            nodes,
            initializers,
        })
    }

    /// A fresh name `{op_type}_{index}` for a nameless node.
    fn fresh_name(&mut self, op_type: &str, index: usize) -> String {
        let mut name = format!("{op_type}_{index}");
        let mut k = 1;
        while self.node_names.contains(&name) {
            name = format!("{op_type}_{index}_{k}");
            k += 1;
        }
        self.node_names.insert(name.clone());
        name
    }

    fn import_node(&mut self, index: usize, n: &NodeProto) -> Result<()> {
        let name = if n.name.is_empty() {
            self.fresh_name(&n.op_type, index)
        } else {
            n.name.clone()
        };
        let ctx = Ctx {
            name: &name,
            op_type: &n.op_type,
        };
        let default_domain = n.domain.is_empty() || n.domain == "ai.onnx";
        if !default_domain || !SUPPORTED.contains(&n.op_type.as_str()) {
            let op = if default_domain {
                n.op_type.clone()
            } else {
                format!("{}.{}", n.domain, n.op_type)
            };
            return Err(Error::invalid(
                format!("unsupported op {op} in node \"{name}\"; supported"),
                SUPPORTED.join(", "),
            ));
        }
        if let Some(missing) = n.input.iter().find(|i| !i.is_empty() && !self.defined.contains(*i)) {
            return Err(ctx.err(format!("missing initializer or input \"{missing}\"")));
        }
        let p = self.parse(&ctx, n)?;
        for o in p.outputs.iter().filter(|o| !o.is_empty()) {
            if !self.defined.insert(o.clone()) {
                return Err(ctx.err(format!("output \"{o}\" is already defined")));
            }
        }
        if p.outputs.len() > 1 {
            // Multi-output nodes are never folded.
        } else if let Some(c) = self.try_fold(&ctx, &p)? {
            self.consts.insert(p.outputs[0].clone(), c);
            return Ok(());
        }
        self.check_unfolded(&ctx, &p)?;
        self.nodes.push(Node {
            name,
            op: p.op,
            inputs: p.inputs,
            outputs: p.outputs,
            relu_after: false,
        });
        Ok(())
    }

    /// The constant value of input `i`, if it is one.
    fn const_input<'s>(&'s self, ins: &[String], i: usize) -> Option<&'s Const> {
        ins.get(i).filter(|s| !s.is_empty()).and_then(|s| self.consts.get(s))
    }

    /// The integers of constant input `i` (axes, shapes); `None` when the input is omitted.
    fn const_ints(&self, ctx: &Ctx, ins: &[String], i: usize, what: &str) -> Result<Option<Vec<i64>>> {
        let Some(name) = ins.get(i).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let c = self
            .consts
            .get(name)
            .ok_or_else(|| ctx.err(format!("{what} input \"{name}\" must be a constant")))?;
        fold::ints(c)
            .map(|v| Some(v.to_vec()))
            .map_err(|d| ctx.err(format!("{what} input \"{name}\": {d}")))
    }

    fn rank_of(&self, name: &str) -> Option<usize> {
        self.consts
            .get(name)
            .map(|c| c.shape().len())
            .or_else(|| self.ranks.get(name).copied())
    }

    /// The node's outputs: the first is required; of the `optional` extra ones, the first
    /// `computed` are kept when some node or the graph reads them, and the others must be unused.
    fn node_outputs(&self, ctx: &Ctx, n: &NodeProto, optional: usize, computed: usize) -> Result<Vec<String>> {
        let first = n
            .output
            .first()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ctx.err("has no output"))?;
        if n.output.len() > 1 + optional {
            return Err(ctx.err(format!(
                "has {} outputs, expected at most {}",
                n.output.len(),
                1 + optional
            )));
        }
        let used = |o: &String| !o.is_empty() && self.consumed.contains(o);
        if let Some(extra) = n.output.iter().skip(1 + computed).find(|o| used(o)) {
            return Err(ctx.err(format!("output \"{extra}\" is used, which is not supported")));
        }
        let mut outs = vec![first.clone()];
        let kept = n.output.iter().take(1 + computed).skip(1);
        outs.extend(kept.map(|o| if used(o) { o.clone() } else { String::new() }));
        while outs.len() > 1 && outs.last().is_some_and(String::is_empty) {
            outs.pop();
        }
        Ok(outs)
    }
}

/// Checks the number of inputs (trailing optional ones may be omitted) and that the required
/// ones are not empty.
fn arity(ctx: &Ctx, ins: &[String], min: usize, max: usize) -> Result<()> {
    if ins.len() < min || ins.len() > max {
        let expected = match (min, max) {
            (a, b) if a == b => format!("{a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return Err(ctx.err(format!("has {} inputs, expected {expected}", ins.len())));
    }
    if let Some(i) = ins[..min].iter().position(|s| s.is_empty()) {
        return Err(ctx.err(format!("required input {i} is empty")));
    }
    Ok(())
}

/// Drops nodes whose outputs neither a later node nor the graph outputs read.
fn remove_unused(nodes: Vec<Node>, outputs: &[String]) -> Vec<Node> {
    let mut live: HashSet<String> = outputs.iter().cloned().collect();
    let mut keep = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(n.inputs.iter().filter(|s| !s.is_empty()).cloned());
        }
    }
    nodes
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(n, _)| n)
        .collect()
}
