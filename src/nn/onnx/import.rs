//! Reads an ONNX model (opsets 13 to 17) into the [`Graph`] IR.
//!
//! The importer parses every node's attributes into a typed [`Op`] with the ONNX defaults filled
//! in, folds the public "shape plumbing" (Constant, Shape, Gather on constants, Unsqueeze, Concat,
//! Reshape, ...) into initializers, drops nodes whose outputs nobody uses, and fuses the exported
//! erf-GELU pattern into [`Op::Gelu`].

use super::fold::{self, BinOp};
use super::proto::{
    AttributeProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, attribute_type as at, data_type as dt,
};
use crate::error::{Error, Result};
use crate::nn::graph::{Const, DType, Graph, Node, Op, ReduceKind, ValueInfo};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;
use std::path::Path;

/// The oldest default-domain opset the importer accepts.
pub const MIN_OPSET: i64 = 13;
/// The newest default-domain opset the importer accepts.
pub const MAX_OPSET: i64 = 17;

/// ONNX operator types the importer maps to an [`Op`] (one per variant), sorted.
const SUPPORTED: [&str; 68] = [
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

/// A node's identity for error messages.
struct Ctx<'a> {
    name: &'a str,
    op_type: &'a str,
}

impl Ctx<'_> {
    fn err(&self, detail: impl Display) -> Error {
        Error::invalid(format!("node \"{}\" ({})", self.name, self.op_type), detail.to_string())
    }
}

/// A node's attributes; records which were read so unknown ones are reported.
struct Attrs<'a> {
    ctx: &'a Ctx<'a>,
    list: &'a [AttributeProto],
    used: Vec<bool>,
}

fn attr_type_name(t: i32) -> &'static str {
    match t {
        at::FLOAT => "FLOAT",
        at::INT => "INT",
        at::STRING => "STRING",
        at::TENSOR => "TENSOR",
        at::GRAPH => "GRAPH",
        at::FLOATS => "FLOATS",
        at::INTS => "INTS",
        at::STRINGS => "STRINGS",
        at::TENSORS => "TENSORS",
        at::GRAPHS => "GRAPHS",
        at::SPARSE_TENSOR => "SPARSE_TENSOR",
        at::SPARSE_TENSORS => "SPARSE_TENSORS",
        at::TYPE_PROTO => "TYPE_PROTO",
        at::TYPE_PROTOS => "TYPE_PROTOS",
        _ => "UNDEFINED",
    }
}

impl<'a> Attrs<'a> {
    fn new(ctx: &'a Ctx<'a>, list: &'a [AttributeProto]) -> Self {
        Self {
            ctx,
            list,
            used: vec![false; list.len()],
        }
    }

    /// The attribute `name`, checked to have type `want`.
    fn get(&mut self, name: &str, want: i32) -> Result<Option<&'a AttributeProto>> {
        let Some(i) = self.list.iter().position(|a| a.name == name) else {
            return Ok(None);
        };
        self.used[i] = true;
        let a = &self.list[i];
        if !a.ref_attr_name.is_empty() {
            return Err(self.ctx.err(format!(
                "attribute {name} refers to a function attribute, which is not supported"
            )));
        }
        if a.r#type != want {
            return Err(self.ctx.err(format!(
                "attribute {name} has type {}, expected {}",
                attr_type_name(a.r#type),
                attr_type_name(want)
            )));
        }
        Ok(Some(a))
    }

    fn ignore(&mut self, name: &str) {
        for (u, a) in self.used.iter_mut().zip(self.list) {
            *u |= a.name == name;
        }
    }

    fn int(&mut self, name: &str) -> Result<Option<i64>> {
        Ok(self.get(name, at::INT)?.map(|a| a.i))
    }

    fn int_or(&mut self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    fn bool_or(&mut self, name: &str, default: bool) -> Result<bool> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.ctx.err(format!("attribute {name} is {v}, expected 0 or 1"))),
        }
    }

    fn float(&mut self, name: &str) -> Result<Option<f32>> {
        Ok(self.get(name, at::FLOAT)?.map(|a| a.f))
    }

    fn float_or(&mut self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    fn ints(&mut self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.get(name, at::INTS)?.map(|a| a.ints.clone()))
    }

    fn floats(&mut self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.get(name, at::FLOATS)?.map(|a| a.floats.clone()))
    }

    fn string(&mut self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(name, at::STRING)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    fn tensor(&mut self, name: &str) -> Result<Option<&'a TensorProto>> {
        Ok(self.get(name, at::TENSOR)?.and_then(|a| a.t.as_ref()))
    }

    /// Non-negative integers (sizes, strides, pads); `None` when absent.
    fn sizes(&mut self, name: &str) -> Result<Option<Vec<usize>>> {
        let Some(v) = self.ints(name)? else {
            return Ok(None);
        };
        if let Some(bad) = v.iter().find(|&&x| x < 0) {
            return Err(self.ctx.err(format!("attribute {name} has a negative value {bad}")));
        }
        Ok(Some(v.into_iter().map(|x| x as usize).collect()))
    }

    /// Errors on the first attribute nobody read.
    fn finish(&self) -> Result<()> {
        match self.used.iter().position(|u| !u) {
            Some(i) => Err(self
                .ctx
                .err(format!("attribute {} is not supported", self.list[i].name))),
            None => Ok(()),
        }
    }
}

/// Converts a `TensorProto` into a [`Const`]: FLOAT/DOUBLE to F32, integer and BOOL types to I64.
pub(super) fn tensor_to_const(t: &TensorProto) -> std::result::Result<Const, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err("tensor data is stored in an external file, which is not supported".into());
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("tensor has a negative dimension in {:?}", t.dims));
        }
        shape.push(d as usize);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n.checked_mul(8).is_some())
        .ok_or_else(|| format!("tensor dims {:?} are too large", t.dims))?;
    let raw = &t.raw_data;
    // Values from raw_data (little-endian, `w` bytes each) or from the typed field.
    fn from_raw<T, const W: usize>(
        raw: &[u8],
        n: usize,
        f: impl Fn([u8; W]) -> T,
    ) -> std::result::Result<Vec<T>, String> {
        if raw.len() != n * W {
            return Err(format!(
                "raw_data has {} bytes, expected {} for {n} values",
                raw.len(),
                n * W
            ));
        }
        Ok(raw
            .chunks_exact(W)
            .map(|c| f(c.try_into().expect("chunk width")))
            .collect())
    }
    let check = |got: usize| {
        if got == n {
            Ok(())
        } else {
            Err(format!("tensor holds {got} values, expected {n} for dims {:?}", t.dims))
        }
    };
    let use_raw = !raw.is_empty();
    let ints = |v: Vec<i64>| -> std::result::Result<Const, String> {
        check(v.len())?;
        Ok(Const::I64 {
            shape: shape.clone(),
            data: v,
        })
    };
    let floats = |v: Vec<f32>| -> std::result::Result<Const, String> {
        check(v.len())?;
        fold::make_f32(&shape, v)
    };
    let int32s = |f: fn(i32) -> i64| ints(t.int32_data.iter().map(|&v| f(v)).collect());
    match t.data_type {
        dt::FLOAT if use_raw => floats(from_raw(raw, n, f32::from_le_bytes)?),
        dt::FLOAT => floats(t.float_data.clone()),
        dt::DOUBLE if use_raw => floats(from_raw(raw, n, |b| f64::from_le_bytes(b) as f32)?),
        dt::DOUBLE => floats(t.double_data.iter().map(|&v| v as f32).collect()),
        dt::INT64 if use_raw => ints(from_raw(raw, n, i64::from_le_bytes)?),
        dt::INT64 => ints(t.int64_data.clone()),
        dt::INT32 if use_raw => ints(from_raw(raw, n, |b| i32::from_le_bytes(b) as i64)?),
        dt::INT32 => int32s(|v| v as i64),
        dt::INT16 if use_raw => ints(from_raw(raw, n, |b| i16::from_le_bytes(b) as i64)?),
        dt::INT16 => int32s(|v| v as i16 as i64),
        dt::UINT16 if use_raw => ints(from_raw(raw, n, |b| u16::from_le_bytes(b) as i64)?),
        dt::UINT16 => int32s(|v| v as u16 as i64),
        dt::INT8 if use_raw => ints(from_raw(raw, n, |b: [u8; 1]| b[0] as i8 as i64)?),
        dt::INT8 => int32s(|v| v as i8 as i64),
        dt::UINT8 if use_raw => ints(from_raw(raw, n, |b: [u8; 1]| b[0] as i64)?),
        dt::UINT8 => int32s(|v| v as u8 as i64),
        dt::BOOL if use_raw => ints(from_raw(raw, n, |b: [u8; 1]| (b[0] != 0) as i64)?),
        dt::BOOL => int32s(|v| (v != 0) as i64),
        other => Err(format!("tensor data type {} is not supported", dt::name(other))),
    }
}

/// Element type of a graph input.
fn dtype_of(elem_type: i32) -> Option<DType> {
    match elem_type {
        dt::FLOAT | dt::DOUBLE | dt::FLOAT16 | dt::BFLOAT16 => Some(DType::F32),
        dt::INT64 | dt::INT32 | dt::INT16 | dt::INT8 | dt::UINT8 | dt::UINT16 | dt::UINT32 | dt::BOOL => {
            Some(DType::I64)
        }
        _ => None,
    }
}

/// Shape of a value (`None` entries are symbolic); `None` when the rank is unknown.
fn value_shape(v: &ValueInfoProto) -> Option<Vec<Option<usize>>> {
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| d.dim_value.filter(|&x| x >= 0).map(|x| x as usize))
            .collect(),
    )
}

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

    /// Parses the node's attributes and inputs into a typed op.
    fn parse(&self, ctx: &Ctx, n: &NodeProto) -> Result<Parsed> {
        let mut a = Attrs::new(ctx, &n.attribute);
        let ins = &n.input;
        let mut inputs = ins.clone();
        let mut cast_to = 0;
        let mut shape_range = (0, None);
        let mut allowzero = false;
        // How many outputs after the first may appear (unused) and are dropped, and how many of
        // them the op can compute.
        let mut optional_outputs = 0;
        let mut computed_outputs = 0;
        let op = match n.op_type.as_str() {
            "Gemm" => {
                arity(ctx, ins, 2, 3)?;
                Op::Gemm {
                    alpha: a.float_or("alpha", 1.0)?,
                    beta: a.float_or("beta", 1.0)?,
                    trans_a: a.bool_or("transA", false)?,
                    trans_b: a.bool_or("transB", false)?,
                }
            }
            "MatMul" => {
                arity(ctx, ins, 2, 2)?;
                Op::MatMul
            }
            "Conv" => {
                arity(ctx, ins, 2, 3)?;
                let w = self.const_input(ins, 1);
                let w_kernel = match w {
                    Some(w) if w.shape().len() < 3 => {
                        return Err(ctx.err(format!("weight has shape {:?}, expected rank 3 or more", w.shape())));
                    }
                    Some(w) => Some(w.shape()[2..].to_vec()),
                    None => None,
                };
                let s = self.spatial(ctx, &mut a, w_kernel, &ins[0], false)?;
                let group = a.int_or("group", 1)?;
                if group < 1 {
                    return Err(ctx.err(format!("attribute group is {group}, expected a positive value")));
                }
                Op::Conv {
                    strides: s.strides,
                    pads: s.pads,
                    dilations: s.dilations,
                    group: group as usize,
                }
            }
            "BatchNormalization" => {
                arity(ctx, ins, 5, 5)?;
                a.ignore("momentum");
                if a.bool_or("training_mode", false)? {
                    return Err(ctx.err("training_mode=1 is not supported (export the model in eval mode)"));
                }
                optional_outputs = 2;
                Op::BatchNormalization {
                    epsilon: a.float_or("epsilon", 1e-5)?,
                }
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
                arity(ctx, ins, 2, 2)?;
                match n.op_type.as_str() {
                    "Add" => Op::Add,
                    "Sub" => Op::Sub,
                    "Mul" => Op::Mul,
                    "Div" => Op::Div,
                    _ => Op::Pow,
                }
            }
            "Neg" | "Sqrt" | "Exp" | "Log" | "Reciprocal" | "Relu" | "Sigmoid" | "Tanh" | "Erf" | "Identity" => {
                arity(ctx, ins, 1, 1)?;
                match n.op_type.as_str() {
                    "Neg" => Op::Neg,
                    "Sqrt" => Op::Sqrt,
                    "Exp" => Op::Exp,
                    "Log" => Op::Log,
                    "Reciprocal" => Op::Reciprocal,
                    "Relu" => Op::Relu,
                    "Sigmoid" => Op::Sigmoid,
                    "Tanh" => Op::Tanh,
                    "Erf" => Op::Erf,
                    _ => Op::Identity,
                }
            }
            "Abs" | "Sign" | "GlobalMaxPool" | "Size" => {
                arity(ctx, ins, 1, 1)?;
                match n.op_type.as_str() {
                    "Abs" => Op::Abs,
                    "Sign" => Op::Sign,
                    "GlobalMaxPool" => Op::GlobalMaxPool,
                    _ => Op::Size,
                }
            }
            "LeakyRelu" => {
                arity(ctx, ins, 1, 1)?;
                Op::LeakyRelu {
                    alpha: a.float_or("alpha", 0.01)?,
                }
            }
            "HardSigmoid" => {
                arity(ctx, ins, 1, 1)?;
                Op::HardSigmoid {
                    alpha: a.float_or("alpha", 0.2)?,
                    beta: a.float_or("beta", 0.5)?,
                }
            }
            "Clip" => {
                arity(ctx, ins, 1, 3)?;
                let bound = |i: usize, what: &str| -> Result<Option<f32>> {
                    let Some(name) = ins.get(i).filter(|s| !s.is_empty()) else {
                        return Ok(None);
                    };
                    match self.consts.get(name) {
                        Some(c) if c.shape().iter().product::<usize>() == 1 => Ok(Some(match c {
                            Const::F32(t) => t.data()[0],
                            Const::I64 { data, .. } => data[0] as f32,
                        })),
                        Some(_) => Err(ctx.err(format!("{what} input \"{name}\" must be a scalar"))),
                        None => Err(ctx.err(format!(
                            "{what} input \"{name}\" is not a constant, which is not supported"
                        ))),
                    }
                };
                let (min, max) = (bound(1, "min")?, bound(2, "max")?);
                inputs.truncate(1);
                Op::Clip { min, max }
            }
            "Max" | "Min" | "Sum" | "Mean" => {
                arity(ctx, ins, 1, usize::MAX)?;
                if ins.iter().any(|i| i.is_empty()) {
                    return Err(ctx.err("an input is empty"));
                }
                match n.op_type.as_str() {
                    "Max" => Op::Max,
                    "Min" => Op::Min,
                    "Sum" => Op::Sum,
                    _ => Op::Mean,
                }
            }
            "Equal" | "Greater" | "Less" | "GreaterOrEqual" | "LessOrEqual" => {
                arity(ctx, ins, 2, 2)?;
                match n.op_type.as_str() {
                    "Equal" => Op::Equal,
                    "Greater" => Op::Greater,
                    "Less" => Op::Less,
                    "GreaterOrEqual" => Op::GreaterOrEqual,
                    _ => Op::LessOrEqual,
                }
            }
            "Where" => {
                arity(ctx, ins, 3, 3)?;
                Op::Where
            }
            "ReduceMax" | "ReduceMin" | "ReduceSumSquare" | "ReduceL1" | "ReduceL2" => {
                // Opset 13: axes is an attribute (an input from opset 18).
                arity(ctx, ins, 1, 1)?;
                let kind = match n.op_type.as_str() {
                    "ReduceMax" => ReduceKind::Max,
                    "ReduceMin" => ReduceKind::Min,
                    "ReduceSumSquare" => ReduceKind::SumSquare,
                    "ReduceL1" => ReduceKind::L1,
                    _ => ReduceKind::L2,
                };
                Op::Reduce {
                    kind,
                    axes: a.ints("axes")?.unwrap_or_default(),
                    keepdims: a.bool_or("keepdims", true)?,
                }
            }
            "Expand" => {
                arity(ctx, ins, 2, 2)?;
                Op::Expand
            }
            "ArgMax" | "ArgMin" => {
                arity(ctx, ins, 1, 1)?;
                Op::ArgMax {
                    axis: a.int_or("axis", 0)?,
                    keepdims: a.bool_or("keepdims", true)?,
                    select_last_index: a.bool_or("select_last_index", false)?,
                    min: n.op_type == "ArgMin",
                }
            }
            "Split" => {
                // Opset 13: the sizes are the optional input 1 (`num_outputs` is opset 18).
                arity(ctx, ins, 1, 2)?;
                let parts = n.output.len().max(1);
                optional_outputs = parts - 1;
                computed_outputs = parts - 1;
                Op::Split {
                    axis: a.int_or("axis", 0)?,
                    parts,
                }
            }
            "ConstantOfShape" => {
                arity(ctx, ins, 1, 1)?;
                let value = match a.tensor("value")? {
                    Some(t) => tensor_to_const(t).map_err(|d| ctx.err(format!("attribute value: {d}")))?,
                    None => Const::F32(crate::nn::tensor::F32Tensor::from_vec(&[1], vec![0.0])?),
                };
                if value.shape().iter().product::<usize>() != 1 {
                    return Err(ctx.err("attribute value must hold one element"));
                }
                Op::ConstantOfShape(value)
            }
            "Gelu" => {
                arity(ctx, ins, 1, 1)?;
                let tanh = match a.string("approximate")?.as_deref() {
                    None | Some("none") => false,
                    Some("tanh") => true,
                    Some(other) => {
                        return Err(ctx.err(format!("attribute approximate is \"{other}\", expected none or tanh")));
                    }
                };
                Op::Gelu { tanh }
            }
            "Softmax" | "LogSoftmax" => {
                arity(ctx, ins, 1, 1)?;
                let axis = a.int_or("axis", -1)?;
                if n.op_type == "Softmax" {
                    Op::Softmax { axis }
                } else {
                    Op::LogSoftmax { axis }
                }
            }
            "LayerNormalization" => {
                arity(ctx, ins, 2, 3)?;
                a.ignore("stash_type");
                optional_outputs = 2;
                computed_outputs = 2;
                Op::LayerNormalization {
                    axis: a.int_or("axis", -1)?,
                    epsilon: a.float_or("epsilon", 1e-5)?,
                }
            }
            "ReduceMean" | "ReduceSum" => {
                arity(ctx, ins, 1, 2)?;
                let keepdims = a.bool_or("keepdims", true)?;
                let noop = a.bool_or("noop_with_empty_axes", false)?;
                let mut axes = a.ints("axes")?;
                if let Some(v) = self.const_ints(ctx, ins, 1, "axes")? {
                    axes = Some(v);
                }
                inputs.truncate(1);
                let axes = axes.unwrap_or_default();
                if axes.is_empty() && noop {
                    Op::Identity
                } else if n.op_type == "ReduceMean" {
                    Op::ReduceMean { axes, keepdims }
                } else {
                    Op::ReduceSum { axes, keepdims }
                }
            }
            "MaxPool" => {
                arity(ctx, ins, 1, 1)?;
                a.ignore("storage_order");
                optional_outputs = 1;
                let s = self.spatial(ctx, &mut a, None, &ins[0], true)?;
                Op::MaxPool {
                    kernel: s.kernel.expect("required"),
                    strides: s.strides,
                    pads: s.pads,
                    dilations: s.dilations,
                    ceil_mode: a.bool_or("ceil_mode", false)?,
                }
            }
            "AveragePool" => {
                arity(ctx, ins, 1, 1)?;
                let s = self.spatial(ctx, &mut a, None, &ins[0], true)?;
                Op::AveragePool {
                    kernel: s.kernel.expect("required"),
                    strides: s.strides,
                    pads: s.pads,
                    dilations: s.dilations,
                    ceil_mode: a.bool_or("ceil_mode", false)?,
                    count_include_pad: a.bool_or("count_include_pad", false)?,
                }
            }
            "GlobalAveragePool" => {
                arity(ctx, ins, 1, 1)?;
                Op::GlobalAveragePool
            }
            "Flatten" => {
                arity(ctx, ins, 1, 1)?;
                Op::Flatten {
                    axis: a.int_or("axis", 1)?,
                }
            }
            "Reshape" => {
                arity(ctx, ins, 2, 2)?;
                allowzero = a.bool_or("allowzero", false)?;
                Op::Reshape
            }
            "Transpose" => {
                arity(ctx, ins, 1, 1)?;
                let perm = match a.sizes("perm")? {
                    Some(p) => p,
                    None => self
                        .rank_of(&ins[0])
                        .map(|r| (0..r).rev().collect())
                        .unwrap_or_default(),
                };
                let mut seen = vec![false; perm.len()];
                if perm
                    .iter()
                    .any(|&p| p >= perm.len() || std::mem::replace(&mut seen[p], true))
                {
                    return Err(ctx.err(format!("attribute perm {perm:?} is not a permutation")));
                }
                Op::Transpose { perm }
            }
            "Concat" => {
                arity(ctx, ins, 1, usize::MAX)?;
                if ins.iter().any(|i| i.is_empty()) {
                    return Err(ctx.err("an input is empty"));
                }
                Op::Concat {
                    axis: a.int("axis")?.ok_or_else(|| ctx.err("attribute axis is required"))?,
                }
            }
            "Unsqueeze" | "Squeeze" => {
                arity(ctx, ins, 1, 2)?;
                let mut axes = a.ints("axes")?;
                if let Some(v) = self.const_ints(ctx, ins, 1, "axes")? {
                    axes = Some(v);
                }
                inputs.truncate(1);
                if n.op_type == "Unsqueeze" {
                    Op::Unsqueeze {
                        axes: axes
                            .filter(|v| !v.is_empty())
                            .ok_or_else(|| ctx.err("axes are required"))?,
                    }
                } else {
                    Op::Squeeze {
                        axes: axes.unwrap_or_default(),
                    }
                }
            }
            "Slice" => {
                arity(ctx, ins, 3, 5)?;
                Op::Slice
            }
            "Pad" => {
                arity(ctx, ins, 2, 4)?;
                let mode = a.string("mode")?.unwrap_or_else(|| "constant".into());
                if mode != "constant" {
                    return Err(ctx.err(format!("attribute mode \"{mode}\" is not supported, only constant")));
                }
                if ins.get(3).is_some_and(|s| !s.is_empty()) {
                    return Err(ctx.err("the axes input is not supported"));
                }
                inputs.truncate(3);
                Op::Pad
            }
            "Gather" => {
                arity(ctx, ins, 2, 2)?;
                Op::Gather {
                    axis: a.int_or("axis", 0)?,
                }
            }
            "Dropout" => {
                arity(ctx, ins, 1, 3)?;
                a.ignore("seed");
                if let Some(t) = ins.get(2).filter(|s| !s.is_empty()) {
                    match self.consts.get(t).map(fold::ints) {
                        Some(Ok(v)) if v.iter().all(|&x| x == 0) => {}
                        _ => return Err(ctx.err("training_mode must be a constant false: training is not supported")),
                    }
                }
                optional_outputs = 1;
                computed_outputs = 1;
                inputs.truncate(1);
                Op::Dropout
            }
            "Shape" => {
                arity(ctx, ins, 1, 1)?;
                shape_range = (a.int_or("start", 0)?, a.int("end")?);
                Op::Shape
            }
            "Cast" => {
                arity(ctx, ins, 1, 1)?;
                a.ignore("saturate");
                cast_to = a.int("to")?.ok_or_else(|| ctx.err("attribute to is required"))? as i32;
                let to = dtype_of(cast_to)
                    .ok_or_else(|| ctx.err(format!("cast to {} is not supported", dt::name(cast_to))))?;
                Op::Cast { to }
            }
            "Constant" => {
                arity(ctx, ins, 0, 0)?;
                let mut values = Vec::new();
                if let Some(t) = a.tensor("value")? {
                    values.push(tensor_to_const(t).map_err(|d| ctx.err(format!("attribute value: {d}")))?);
                }
                if let Some(v) = a.float("value_float")? {
                    values.push(Const::F32(crate::nn::tensor::F32Tensor::from_vec(&[], vec![v])?));
                }
                if let Some(v) = a.floats("value_floats")? {
                    values.push(Const::F32(crate::nn::tensor::F32Tensor::from_vec(&[v.len()], v)?));
                }
                if let Some(v) = a.int("value_int")? {
                    values.push(Const::I64 {
                        shape: vec![],
                        data: vec![v],
                    });
                }
                if let Some(v) = a.ints("value_ints")? {
                    values.push(Const::I64 {
                        shape: vec![v.len()],
                        data: v,
                    });
                }
                a.finish()?;
                if values.len() != 1 {
                    return Err(ctx.err(format!("has {} value attributes, expected exactly one", values.len())));
                }
                Op::Constant(values.pop().expect("one value"))
            }
            other => return Err(ctx.err(format!("op {other} is not supported"))),
        };
        a.finish()?;
        let outputs = self.node_outputs(ctx, n, optional_outputs, computed_outputs)?;
        Ok(Parsed {
            op,
            inputs,
            outputs,
            cast_to,
            shape_range,
            allowzero,
        })
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

    /// Kernel, strides, pads (after `auto_pad`) and dilations of a Conv or pool.
    fn spatial(
        &self,
        ctx: &Ctx,
        a: &mut Attrs,
        w_kernel: Option<Vec<usize>>,
        x: &str,
        need_kernel: bool,
    ) -> Result<Spatial> {
        let ks = a.sizes("kernel_shape")?;
        if let (Some(k), Some(w)) = (&ks, &w_kernel)
            && k != w
        {
            return Err(ctx.err(format!(
                "attribute kernel_shape {k:?} does not match the weight's kernel {w:?}"
            )));
        }
        let kernel = ks.or(w_kernel);
        if need_kernel && kernel.is_none() {
            return Err(ctx.err("attribute kernel_shape is required"));
        }
        if kernel.as_ref().is_some_and(|k| k.contains(&0)) {
            return Err(ctx.err("attribute kernel_shape has a zero entry"));
        }
        let strides = a.sizes("strides")?;
        let pads = a.sizes("pads")?;
        let dilations = a.sizes("dilations")?;
        let k = kernel
            .as_ref()
            .map(|k| k.len())
            .or(strides.as_ref().map(|s| s.len()))
            .or(dilations.as_ref().map(|d| d.len()))
            .or(pads.as_ref().map(|p| p.len() / 2))
            .or(self.rank_of(x).filter(|&r| r >= 3).map(|r| r - 2))
            .ok_or_else(|| ctx.err("cannot tell the number of spatial axes: no kernel_shape attribute and the weight is not a constant"))?;
        let check = |name: &str, v: Option<Vec<usize>>, len: usize, default: usize, min: usize| -> Result<Vec<usize>> {
            let v = v.unwrap_or_else(|| vec![default; len]);
            if v.len() != len {
                return Err(ctx.err(format!("attribute {name} has {} values, expected {len}", v.len())));
            }
            if v.iter().any(|&x| x < min) {
                return Err(ctx.err(format!("attribute {name} {v:?} has a value below {min}")));
            }
            Ok(v)
        };
        let strides = check("strides", strides, k, 1, 1)?;
        let dilations = check("dilations", dilations, k, 1, 1)?;
        let explicit = pads.is_some();
        let pads = check("pads", pads, 2 * k, 0, 0)?;
        let auto_pad = a.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
        let pads = match auto_pad.as_str() {
            "NOTSET" => pads,
            "VALID" | "SAME_UPPER" | "SAME_LOWER" if explicit && pads.iter().any(|&p| p != 0) => {
                return Err(ctx.err(format!("attributes pads and auto_pad {auto_pad} are both set")));
            }
            "VALID" => vec![0; 2 * k],
            "SAME_UPPER" | "SAME_LOWER" => {
                let kernel = kernel
                    .as_ref()
                    .ok_or_else(|| ctx.err(format!("auto_pad {auto_pad} needs kernel_shape or a constant weight")))?;
                // Output size ceil(n / s): the total padding depends on the input size unless s = 1.
                let dims: Option<Vec<usize>> = self
                    .input_shapes
                    .get(x)
                    .filter(|s| s.len() == k + 2)
                    .and_then(|s| s[2..].iter().copied().collect());
                if strides.iter().any(|&s| s != 1) && dims.is_none() {
                    return Err(ctx.err(format!(
                        "auto_pad {auto_pad} with strides {strides:?} is not supported unless the input shape is static"
                    )));
                }
                let mut out = vec![0; 2 * k];
                for i in 0..k {
                    let span = dilations[i] * (kernel[i] - 1) + 1;
                    let total = match &dims {
                        Some(d) if strides[i] != 1 => {
                            ((d[i].div_ceil(strides[i]) - 1) * strides[i] + span).saturating_sub(d[i])
                        }
                        _ => span - 1,
                    };
                    let small = total / 2;
                    let (begin, end) = if auto_pad == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    out[i] = begin;
                    out[k + i] = end;
                }
                out
            }
            other => {
                return Err(ctx.err(format!("attribute auto_pad has unknown value \"{other}\"")));
            }
        };
        Ok(Spatial {
            kernel,
            strides,
            pads,
            dilations,
        })
    }

    /// Evaluates the node at load time when it is public plumbing on constants.
    fn try_fold(&self, ctx: &Ctx, p: &Parsed) -> Result<Option<Const>> {
        let c = |i: usize| self.const_input(&p.inputs, i);
        let all_const = p.inputs.iter().all(|s| s.is_empty() || self.consts.contains_key(s));
        let ints = |i: usize| c(i).map(fold::ints).transpose();
        let value = match &p.op {
            Op::Constant(v) => Ok(v.clone()),
            Op::Shape => {
                let (start, end) = p.shape_range;
                if let Some(x) = c(0) {
                    Ok(fold::shape_of(x.shape(), start, end))
                } else if let Some(dims) = self
                    .input_shapes
                    .get(&p.inputs[0])
                    .and_then(|s| s.iter().copied().collect::<Option<Vec<usize>>>())
                {
                    Ok(fold::shape_of(&dims, start, end))
                } else {
                    return Ok(None);
                }
            }
            Op::Size => {
                let dims = match c(0) {
                    Some(x) => Some(x.shape().to_vec()),
                    None => self
                        .input_shapes
                        .get(&p.inputs[0])
                        .and_then(|s| s.iter().copied().collect::<Option<Vec<usize>>>()),
                };
                match dims {
                    Some(d) => Ok(Const::I64 {
                        shape: vec![],
                        data: vec![d.iter().product::<usize>() as i64],
                    }),
                    None => return Ok(None),
                }
            }
            _ if !all_const => return Ok(None),
            // Shape plumbing of newer exports, evaluated by the plaintext backend.
            Op::Expand
            | Op::ConstantOfShape(_)
            | Op::Where
            | Op::Equal
            | Op::Greater
            | Op::Less
            | Op::GreaterOrEqual
            | Op::LessOrEqual
            | Op::Max
            | Op::Min
            | Op::Sum
            | Op::Abs
            | Op::Sign => {
                let node = Node {
                    name: ctx.name.to_string(),
                    op: p.op.clone(),
                    inputs: p.inputs.clone(),
                    outputs: p.outputs.clone(),
                };
                let args: Vec<Option<Const>> = (0..p.inputs.len()).map(|i| c(i).cloned()).collect();
                return Ok(Some(crate::nn::exec::eval_public(&node, &args)?.remove(0)));
            }
            Op::Identity | Op::Dropout => Ok(c(0).expect("const").clone()),
            Op::Cast { .. } => fold::cast(c(0).expect("const"), p.cast_to),
            Op::Gather { axis } => fold::gather(c(0).expect("const"), c(1).expect("const"), *axis),
            Op::Unsqueeze { axes } => fold::unsqueeze(c(0).expect("const"), axes),
            Op::Squeeze { axes } => fold::squeeze(c(0).expect("const"), axes),
            Op::Flatten { axis } => fold::flatten(c(0).expect("const"), *axis),
            Op::Reshape => ints(1).and_then(|t| fold::reshape(c(0).expect("const"), t.expect("const"), p.allowzero)),
            Op::Transpose { perm } => fold::transpose(c(0).expect("const"), perm),
            Op::Concat { axis } => {
                let parts: Vec<&Const> = (0..p.inputs.len()).map(|i| c(i).expect("const")).collect();
                fold::concat(&parts, *axis)
            }
            Op::Slice => (|| {
                let (starts, ends) = (ints(1)?.expect("required"), ints(2)?.expect("required"));
                fold::slice(c(0).expect("const"), starts, ends, ints(3)?, ints(4)?)
            })(),
            Op::Add => fold::binary(BinOp::Add, c(0).expect("const"), c(1).expect("const")),
            Op::Sub => fold::binary(BinOp::Sub, c(0).expect("const"), c(1).expect("const")),
            Op::Mul => fold::binary(BinOp::Mul, c(0).expect("const"), c(1).expect("const")),
            Op::Div => fold::binary(BinOp::Div, c(0).expect("const"), c(1).expect("const")),
            _ => return Ok(None),
        };
        value.map(Some).map_err(|d| ctx.err(d))
    }

    /// Options that only folding can honour.
    fn check_unfolded(&self, ctx: &Ctx, p: &Parsed) -> Result<()> {
        match &p.op {
            Op::Cast { .. } if p.cast_to == dt::BOOL => {
                Err(ctx.err("cast to BOOL of a non-constant value is not supported"))
            }
            Op::Shape if p.shape_range != (0, None) => {
                Err(ctx.err("attributes start/end need a constant or static input shape"))
            }
            Op::Reshape if p.allowzero => match self.const_input(&p.inputs, 1).map(fold::ints) {
                Some(Ok(v)) if !v.contains(&0) => Ok(()),
                _ => Err(ctx.err("allowzero=1 is only supported with a constant shape without zeros")),
            },
            _ => Ok(()),
        }
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

/// Replaces `x·0.5·(1 + erf(x/√2))` as exported by PyTorch (Div or Mul by 1/√2, Erf, Add 1, then
/// two Muls in any order/association) with one [`Op::Gelu`].
fn fuse_gelu(nodes: Vec<Node>, consts: &HashMap<String, Const>, outputs: &[String]) -> Vec<Node> {
    const GRAPH_OUTPUT: usize = usize::MAX;
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut uses: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.outputs {
            producer.insert(o, i);
        }
        for x in &n.inputs {
            uses.entry(x).or_default().push(i);
        }
    }
    for o in outputs {
        uses.entry(o).or_default().push(GRAPH_OUTPUT);
    }
    let scalar = |name: &str, v: f32| match consts.get(name) {
        Some(Const::F32(t)) => {
            t.data().len() == 1 && t.shape().len() <= 1 && (t.data()[0] - v).abs() <= 1e-4 * v.abs().max(1.0)
        }
        _ => false,
    };
    let sole = |name: &str| match uses.get(name).map(Vec::as_slice) {
        Some(&[i]) if i != GRAPH_OUTPUT => Some(i),
        _ => None,
    };
    // The other input of a binary node, given one of them.
    let other = |n: &Node, x: &str| -> Option<String> {
        match n.inputs.as_slice() {
            [a, b] if a == x => Some(b.clone()),
            [a, b] if b == x => Some(a.clone()),
            _ => None,
        }
    };
    let is_mul_by = |n: &Node, v: f32| -> Option<String> {
        match n.inputs.as_slice() {
            [a, b] if n.op == Op::Mul && scalar(b, v) => Some(a.clone()),
            [a, b] if n.op == Op::Mul && scalar(a, v) => Some(b.clone()),
            _ => None,
        }
    };
    let mut removed = vec![false; nodes.len()];
    let mut replaced: HashMap<usize, Node> = HashMap::new();
    for (ei, e) in nodes.iter().enumerate() {
        if e.op != Op::Erf {
            continue;
        }
        let matched = (|| -> Option<(usize, Vec<usize>, String)> {
            let t1 = &e.inputs[0];
            let pi = *producer.get(t1.as_str())?;
            let p = &nodes[pi];
            if sole(t1) != Some(ei) {
                return None;
            }
            let x = match p.op {
                Op::Div if scalar(&p.inputs[1], std::f32::consts::SQRT_2) => p.inputs[0].clone(),
                Op::Mul => is_mul_by(p, std::f32::consts::FRAC_1_SQRT_2)?,
                _ => return None,
            };
            if consts.contains_key(&x) {
                return None;
            }
            let ai = sole(&e.outputs[0])?;
            let add = &nodes[ai];
            if add.op != Op::Add || !scalar(&other(add, &e.outputs[0])?, 1.0) {
                return None;
            }
            let t3 = &add.outputs[0];
            let m1i = sole(t3)?;
            let m1 = &nodes[m1i];
            if m1.op != Op::Mul {
                return None;
            }
            let o1 = other(m1, t3)?;
            let mut chain = vec![pi, ei, ai, m1i];
            let last = if o1 == x {
                // (x · (1 + erf)) · 0.5
                let m2i = sole(&m1.outputs[0])?;
                is_mul_by(&nodes[m2i], 0.5).filter(|y| *y == m1.outputs[0])?;
                m2i
            } else if scalar(&o1, 0.5) {
                // ((1 + erf) · 0.5) · x
                let m2i = sole(&m1.outputs[0])?;
                let m2 = &nodes[m2i];
                (m2.op == Op::Mul && other(m2, &m1.outputs[0])? == x).then_some(())?;
                m2i
            } else {
                // (x · 0.5) · (1 + erf)
                let qi = *producer.get(o1.as_str())?;
                (sole(&o1) == Some(m1i) && is_mul_by(&nodes[qi], 0.5)? == x).then_some(())?;
                chain.push(qi);
                m1i
            };
            if !chain.contains(&last) {
                chain.push(last);
            }
            Some((last, chain, x))
        })();
        let Some((last, chain, x)) = matched else {
            continue;
        };
        if chain.iter().any(|&i| removed[i]) {
            continue;
        }
        for &i in &chain {
            removed[i] = true;
        }
        replaced.insert(
            last,
            Node {
                name: e.name.clone(),
                op: Op::Gelu { tanh: false },
                inputs: vec![x],
                outputs: nodes[last].outputs.clone(),
            },
        );
    }
    nodes
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| match replaced.remove(&i) {
            Some(g) => Some(g),
            None if removed[i] => None,
            None => Some(n),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::onnx::proto::{
        Dimension, GraphProto, OperatorSetIdProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    };
    use crate::nn::tensor::F32Tensor;

    fn node(op: &str, ins: &[&str], outs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: ins.iter().map(|s| s.to_string()).collect(),
            output: outs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        }
    }

    fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: at::INTS,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn str_attr(name: &str, v: &str) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: at::STRING,
            s: v.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn f32_init(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: dt::FLOAT,
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn i64_init(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: dt::INT64,
            int64_data: v.to_vec(),
            ..Default::default()
        }
    }

    fn value(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|&d| {
                if d < 0 {
                    Dimension {
                        dim_param: Some("n".into()),
                        ..Default::default()
                    }
                } else {
                    Dimension {
                        dim_value: Some(d),
                        ..Default::default()
                    }
                }
            })
            .collect();
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type,
                    shape: Some(TensorShapeProto { dim }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, input: &[i64], opset: i64) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            graph: Some(GraphProto {
                node: nodes,
                initializer: inits,
                input: vec![value("x", dt::FLOAT, input)],
                output: vec![value("y", dt::FLOAT, &[])],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn counts(g: &Graph) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for n in &g.nodes {
            *m.entry(n.op.onnx_name()).or_default() += 1;
        }
        m
    }

    fn fixture(name: &str) -> Graph {
        let path = format!("{}/tests/data/onnx/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
        load_onnx(Path::new(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn supported_covers_every_op_variant() {
        let c = Const::I64 {
            shape: vec![],
            data: vec![0],
        };
        let all = [
            Op::Gemm {
                alpha: 1.0,
                beta: 1.0,
                trans_a: false,
                trans_b: false,
            },
            Op::MatMul,
            Op::Conv {
                strides: vec![],
                pads: vec![],
                dilations: vec![],
                group: 1,
            },
            Op::BatchNormalization { epsilon: 0.0 },
            Op::Add,
            Op::Sub,
            Op::Mul,
            Op::Div,
            Op::Pow,
            Op::Neg,
            Op::Sqrt,
            Op::Exp,
            Op::Log,
            Op::Reciprocal,
            Op::Relu,
            Op::Sigmoid,
            Op::Tanh,
            Op::Erf,
            Op::Gelu { tanh: false },
            Op::Softmax { axis: 0 },
            Op::LogSoftmax { axis: 0 },
            Op::LayerNormalization { axis: 0, epsilon: 0.0 },
            Op::ReduceMean {
                axes: vec![],
                keepdims: true,
            },
            Op::ReduceSum {
                axes: vec![],
                keepdims: true,
            },
            Op::MaxPool {
                kernel: vec![],
                strides: vec![],
                pads: vec![],
                dilations: vec![],
                ceil_mode: false,
            },
            Op::AveragePool {
                kernel: vec![],
                strides: vec![],
                pads: vec![],
                dilations: vec![],
                ceil_mode: false,
                count_include_pad: false,
            },
            Op::GlobalAveragePool,
            Op::Flatten { axis: 1 },
            Op::Reshape,
            Op::Transpose { perm: vec![] },
            Op::Concat { axis: 0 },
            Op::Unsqueeze { axes: vec![] },
            Op::Squeeze { axes: vec![] },
            Op::Slice,
            Op::Pad,
            Op::Gather { axis: 0 },
            Op::Identity,
            Op::Dropout,
            Op::Shape,
            Op::Cast { to: DType::F32 },
            Op::Constant(c.clone()),
            Op::Abs,
            Op::Sign,
            Op::LeakyRelu { alpha: 0.0 },
            Op::HardSigmoid { alpha: 0.0, beta: 0.0 },
            Op::Clip { min: None, max: None },
            Op::Max,
            Op::Min,
            Op::Sum,
            Op::Mean,
            Op::Equal,
            Op::Greater,
            Op::Less,
            Op::GreaterOrEqual,
            Op::LessOrEqual,
            Op::Where,
            Op::Expand,
            Op::ConstantOfShape(c),
            Op::GlobalMaxPool,
            Op::Size,
            Op::ArgMax {
                axis: 0,
                keepdims: true,
                select_last_index: false,
                min: false,
            },
            Op::ArgMax {
                axis: 0,
                keepdims: true,
                select_last_index: false,
                min: true,
            },
            Op::Split { axis: 0, parts: 2 },
        ];
        let reduces = [
            ReduceKind::Max,
            ReduceKind::Min,
            ReduceKind::SumSquare,
            ReduceKind::L1,
            ReduceKind::L2,
        ]
        .map(|kind| Op::Reduce {
            kind,
            axes: vec![],
            keepdims: true,
        });
        let all: Vec<Op> = all.into_iter().chain(reduces).collect();
        let names: Vec<&str> = all.iter().map(Op::onnx_name).collect();
        for n in &names {
            assert!(SUPPORTED.contains(n), "{n} missing from SUPPORTED");
        }
        assert_eq!(names.len(), SUPPORTED.len());
        assert!(SUPPORTED.windows(2).all(|w| w[0] < w[1]), "SUPPORTED must be sorted");
    }

    #[test]
    fn fixtures_import_with_expected_op_counts() {
        let expect: [(&str, &[(&str, usize)]); 6] = [
            (
                "lenet_small",
                &[
                    ("AveragePool", 1),
                    ("Conv", 2),
                    ("Flatten", 1),
                    ("Gemm", 2),
                    ("MaxPool", 1),
                    ("Pad", 1),
                    ("Relu", 3),
                ],
            ),
            (
                "cnn_bn",
                &[
                    ("BatchNormalization", 1),
                    ("Conv", 1),
                    ("Flatten", 1),
                    ("Gemm", 1),
                    ("MaxPool", 1),
                    ("Relu", 1),
                ],
            ),
            (
                "mlp_ln_gelu",
                &[("Gelu", 1), ("Gemm", 2), ("LayerNormalization", 1), ("LogSoftmax", 1)],
            ),
            (
                "attn_small",
                &[
                    ("Add", 5),
                    ("Gather", 3),
                    ("Gelu", 1),
                    ("Gemm", 2),
                    ("LayerNormalization", 2),
                    ("MatMul", 5),
                    ("Mul", 1),
                    ("ReduceMean", 1),
                    ("Reshape", 9),
                    ("Softmax", 1),
                    ("Squeeze", 1),
                    ("Transpose", 8),
                    ("Unsqueeze", 1),
                ],
            ),
            ("conv1d_small", &[("Conv", 3), ("LogSoftmax", 1), ("Relu", 2)]),
            ("embed_cls", &[("Gather", 1), ("Gemm", 1), ("ReduceMean", 1)]),
        ];
        for (name, want) in expect {
            let g = fixture(name);
            let want: BTreeMap<&str, usize> = want.iter().copied().collect();
            assert_eq!(counts(&g), want, "{name}");
            assert_eq!(g.outputs, vec!["output".to_string()], "{name}");
            // Every node input is available and every initializer is used.
            let mut avail: HashSet<&String> = g.inputs.iter().map(|i| &i.name).chain(g.initializers.keys()).collect();
            for n in &g.nodes {
                assert!(
                    n.inputs.iter().all(|i| i.is_empty() || avail.contains(i)),
                    "{name}: {}",
                    n.name
                );
                avail.extend(&n.outputs);
            }
            for k in g.initializers.keys() {
                assert!(
                    g.nodes.iter().any(|n| n.inputs.contains(k)),
                    "{name}: unused initializer {k}"
                );
            }
        }
    }

    #[test]
    fn fixture_attributes() {
        let g = fixture("lenet_small");
        assert_eq!(
            g.nodes[0].op,
            Op::Conv {
                strides: vec![1, 1],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                group: 1
            }
        );
        let pad = g.nodes.iter().find(|n| n.op == Op::Pad).unwrap();
        assert_eq!(
            g.initializers[&pad.inputs[1]],
            Const::I64 {
                shape: vec![8],
                data: vec![0; 8]
            }
        );
        let g = fixture("conv1d_small");
        assert_eq!(
            g.nodes[0].op,
            Op::Conv {
                strides: vec![2],
                pads: vec![2, 2],
                dilations: vec![1],
                group: 1
            }
        );
        let g = fixture("attn_small");
        let unsq = g.nodes.iter().find(|n| matches!(n.op, Op::Unsqueeze { .. })).unwrap();
        assert_eq!((&unsq.op, unsq.inputs.len()), (&Op::Unsqueeze { axes: vec![0] }, 1));
        let sq = g.nodes.iter().find(|n| matches!(n.op, Op::Squeeze { .. })).unwrap();
        assert_eq!(sq.op, Op::Squeeze { axes: vec![3] });
        let gelu = g.nodes.iter().find(|n| matches!(n.op, Op::Gelu { .. })).unwrap();
        assert_eq!(
            (gelu.inputs[0].as_str(), gelu.outputs[0].as_str()),
            ("/enc/linear1/Add_output_0", "/enc/Mul_1_output_0")
        );
        let g = fixture("embed_cls");
        assert_eq!(
            g.inputs,
            vec![ValueInfo {
                name: "input".into(),
                dtype: DType::I64,
                shape: vec![Some(2), Some(6)]
            }]
        );
        assert_eq!(
            g.nodes[1].op,
            Op::ReduceMean {
                axes: vec![1],
                keepdims: false
            }
        );
    }

    #[test]
    fn folds_shape_plumbing_of_a_static_input() {
        // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))  with x: [2, 3, 4]
        let nodes = vec![
            node("Shape", &["x"], &["s"], vec![]),
            node(
                "Constant",
                &[],
                &["zero"],
                vec![AttributeProto {
                    name: "value_int".into(),
                    r#type: at::INT,
                    i: 0,
                    ..Default::default()
                }],
            ),
            node("Gather", &["s", "zero"], &["b"], vec![]),
            node("Unsqueeze", &["b", "ax"], &["b1"], vec![]),
            node(
                "Concat",
                &["b1", "minus1"],
                &["shape"],
                vec![AttributeProto {
                    name: "axis".into(),
                    r#type: at::INT,
                    i: 0,
                    ..Default::default()
                }],
            ),
            node(
                "Cast",
                &["shape"],
                &["shape64"],
                vec![AttributeProto {
                    name: "to".into(),
                    r#type: at::INT,
                    i: dt::INT64 as i64,
                    ..Default::default()
                }],
            ),
            node("Reshape", &["x", "shape64"], &["y"], vec![]),
            node("Relu", &["x"], &["unused"], vec![]),
        ];
        let inits = vec![i64_init("ax", &[1], &[0]), i64_init("minus1", &[1], &[-1])];
        let g = parse_onnx(&model(nodes, inits, &[2, 3, 4], 17), "m.onnx").unwrap();
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].op, Op::Reshape);
        assert_eq!(g.initializers.len(), 1);
        assert_eq!(
            g.initializers["shape64"],
            Const::I64 {
                shape: vec![2],
                data: vec![2, -1]
            }
        );
        // A symbolic dimension keeps Shape as a node.
        let nodes = vec![
            node("Shape", &["x"], &["s"], vec![]),
            node("Reshape", &["x", "s"], &["y"], vec![]),
        ];
        let g = parse_onnx(&model(nodes, vec![], &[-1, 3], 17), "m.onnx").unwrap();
        assert_eq!(counts(&g), BTreeMap::from([("Reshape", 1), ("Shape", 1)]));
        assert_eq!(g.inputs[0].shape, vec![None, Some(3)]);
    }

    #[test]
    fn gelu_fusion_orders() {
        let c = |n: &str, v: f32| f32_init(n, &[], &[v]);
        let consts = || {
            vec![
                c("sqrt2", std::f32::consts::SQRT_2),
                c("one", 1.0),
                c("half", 0.5),
                c("rsqrt2", std::f32::consts::FRAC_1_SQRT_2),
            ]
        };
        let head = |first: NodeProto| {
            vec![
                first,
                node("Erf", &["t1"], &["t2"], vec![]),
                node("Add", &["one", "t2"], &["t3"], vec![]),
            ]
        };
        let variants: Vec<Vec<NodeProto>> = vec![
            [
                head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
                vec![
                    node("Mul", &["x", "t3"], &["t4"], vec![]),
                    node("Mul", &["t4", "half"], &["y"], vec![]),
                ],
            ]
            .concat(),
            [
                head(node("Mul", &["rsqrt2", "x"], &["t1"], vec![])),
                vec![
                    node("Mul", &["t3", "x"], &["t4"], vec![]),
                    node("Mul", &["half", "t4"], &["y"], vec![]),
                ],
            ]
            .concat(),
            [
                head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
                vec![
                    node("Mul", &["t3", "half"], &["t4"], vec![]),
                    node("Mul", &["x", "t4"], &["y"], vec![]),
                ],
            ]
            .concat(),
            [
                vec![node("Mul", &["x", "half"], &["h"], vec![])],
                head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
                vec![node("Mul", &["h", "t3"], &["y"], vec![])],
            ]
            .concat(),
        ];
        for (i, nodes) in variants.into_iter().enumerate() {
            let g = parse_onnx(&model(nodes, consts(), &[2, 3], 17), "m.onnx").unwrap();
            assert_eq!(g.nodes.len(), 1, "variant {i}: {:?}", g.nodes);
            assert_eq!(
                (&g.nodes[0].op, &g.nodes[0].inputs, &g.nodes[0].outputs),
                (
                    &Op::Gelu { tanh: false },
                    &vec!["x".to_string()],
                    &vec!["y".to_string()]
                )
            );
            assert!(g.initializers.is_empty());
        }
        // A wrong constant or an intermediate used elsewhere keeps the unfused form.
        let nodes = [
            head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
            vec![
                node("Mul", &["x", "t3"], &["t4"], vec![]),
                node("Mul", &["t4", "one"], &["t5"], vec![]),
                node("Add", &["t5", "t2"], &["y"], vec![]),
            ],
        ]
        .concat();
        let g = parse_onnx(&model(nodes, consts(), &[2, 3], 17), "m.onnx").unwrap();
        assert_eq!(
            counts(&g),
            BTreeMap::from([("Add", 2), ("Div", 1), ("Erf", 1), ("Mul", 2)])
        );
    }

    #[test]
    fn conv_defaults_and_auto_pad() {
        let w = f32_init("w", &[4, 2, 3, 5], &[0.0; 120]);
        let g = parse_onnx(
            &model(
                vec![node(
                    "Conv",
                    &["x", "w"],
                    &["y"],
                    vec![str_attr("auto_pad", "SAME_UPPER"), ints_attr("dilations", &[2, 1])],
                )],
                vec![w.clone()],
                &[1, 2, 8, 8],
                13,
            ),
            "m",
        )
        .unwrap();
        assert_eq!(
            g.nodes[0].op,
            Op::Conv {
                strides: vec![1, 1],
                pads: vec![2, 2, 2, 2],
                dilations: vec![2, 1],
                group: 1
            }
        );
        let g = parse_onnx(
            &model(
                vec![node(
                    "MaxPool",
                    &["x"],
                    &["y"],
                    vec![ints_attr("kernel_shape", &[2]), str_attr("auto_pad", "SAME_LOWER")],
                )],
                vec![],
                &[1, 2, 8],
                13,
            ),
            "m",
        )
        .unwrap();
        assert_eq!(
            g.nodes[0].op,
            Op::MaxPool {
                kernel: vec![2],
                strides: vec![1],
                pads: vec![1, 0],
                dilations: vec![1],
                ceil_mode: false
            }
        );
        // Strides: the padding follows the static input size (8 → 4 outputs: total 1 + 2·1 = 3).
        let g = parse_onnx(
            &model(
                vec![node(
                    "Conv",
                    &["x", "w"],
                    &["y"],
                    vec![str_attr("auto_pad", "SAME_UPPER"), ints_attr("strides", &[2, 2])],
                )],
                vec![w.clone()],
                &[1, 2, 8, 8],
                13,
            ),
            "m",
        )
        .unwrap();
        assert_eq!(
            g.nodes[0].op,
            Op::Conv {
                strides: vec![2, 2],
                pads: vec![0, 1, 1, 2],
                dilations: vec![1, 1],
                group: 1
            }
        );
        let err = parse_onnx(
            &model(
                vec![node(
                    "Conv",
                    &["x", "w"],
                    &["y"],
                    vec![str_attr("auto_pad", "SAME_UPPER"), ints_attr("strides", &[2, 2])],
                )],
                vec![w.clone()],
                &[1, 2, -1, 8],
                13,
            ),
            "m",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("auto_pad SAME_UPPER with strides [2, 2] is not supported unless the input shape is static"),
            "{err}"
        );
        let err = parse_onnx(
            &model(
                vec![node("Conv", &["x", "w"], &["y"], vec![ints_attr("pads", &[1, 1, 1])])],
                vec![w],
                &[1, 2, 8, 8],
                13,
            ),
            "m",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "node \"Conv_0\" (Conv): attribute pads has 3 values, expected 4"
        );
    }

    #[test]
    fn errors_are_one_line() {
        let relu = || vec![node("Relu", &["x"], &["y"], vec![])];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                model(vec![node("Foo", &["x"], &["y"], vec![])], vec![], &[1], 17),
                "unsupported op Foo in node \"Foo_0\"; supported: Abs, Add, ArgMax, ArgMin, AveragePool, ",
            ),
            (
                model(
                    vec![node("Gemm", &["x", "fc.weight"], &["y"], vec![])],
                    vec![],
                    &[1],
                    17,
                ),
                "node \"Gemm_0\" (Gemm): missing initializer or input \"fc.weight\"",
            ),
            (
                model(relu(), vec![], &[1], 9),
                "m.onnx: onnx opset 9 is not supported; supported: 13 to 17",
            ),
            (model(relu(), vec![], &[1], 18), "opset 18 is not supported"),
            (
                model(vec![node("Relu", &["x"], &["z"], vec![])], vec![], &[1], 17),
                "graph output \"y\": is not produced",
            ),
            (
                model(
                    vec![node("Softmax", &["x"], &["y"], vec![ints_attr("axis", &[1])])],
                    vec![],
                    &[1],
                    17,
                ),
                "node \"Softmax_0\" (Softmax): attribute axis has type INTS, expected INT",
            ),
            (
                model(
                    vec![node("Relu", &["x"], &["y"], vec![ints_attr("alpha", &[1])])],
                    vec![],
                    &[1],
                    17,
                ),
                "node \"Relu_0\" (Relu): attribute alpha is not supported",
            ),
            (
                model(
                    vec![node("Pad", &["x", "p"], &["y"], vec![str_attr("mode", "reflect")])],
                    vec![i64_init("p", &[2], &[0, 0])],
                    &[1],
                    17,
                ),
                "attribute mode \"reflect\" is not supported",
            ),
            (
                model(vec![node("Unsqueeze", &["x", "x"], &["y"], vec![])], vec![], &[1], 17),
                "axes input \"x\" must be a constant",
            ),
            (
                model(relu(), vec![f32_init("w", &[2, 2], &[1.0; 3])], &[1], 17),
                "initializer \"w\": raw_data has 12 bytes, expected 16",
            ),
            (b"\x0a\xff\xff".to_vec(), "m.onnx: not a valid onnx model"),
        ];
        for (bytes, want) in cases {
            let msg = parse_onnx(&bytes, "m.onnx").unwrap_err().to_string();
            assert!(msg.contains(want), "got {msg:?}, want {want:?}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn corrupted_fixtures_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for name in ["lenet_small", "attn_small", "embed_cls", "mlp_ln_gelu"] {
            let path = format!("{}/tests/data/onnx/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(path).unwrap();
            for _ in 0..500 {
                let mut b = bytes.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % b.len() as u64) as usize;
                    b[at] = next() as u8;
                }
                if let Err(e) = parse_onnx(&b, name) {
                    assert!(!e.to_string().contains('\n'));
                }
            }
        }
    }

    #[test]
    fn constant_forms_and_raw_data_types() {
        let c = |name: &str, a: AttributeProto| node("Constant", &[], &[name], vec![a]);
        let t = TensorProto {
            dims: vec![3],
            data_type: dt::INT8,
            raw_data: vec![1, 0xff, 3],
            ..Default::default()
        };
        let b = TensorProto {
            dims: vec![2],
            data_type: dt::BOOL,
            raw_data: vec![1, 0],
            ..Default::default()
        };
        let nodes = vec![
            c(
                "a",
                AttributeProto {
                    name: "value".into(),
                    r#type: at::TENSOR,
                    t: Some(t),
                    ..Default::default()
                },
            ),
            c(
                "b",
                AttributeProto {
                    name: "value".into(),
                    r#type: at::TENSOR,
                    t: Some(b),
                    ..Default::default()
                },
            ),
            c(
                "f",
                AttributeProto {
                    name: "value_floats".into(),
                    r#type: at::FLOATS,
                    floats: vec![1.5, 2.5],
                    ..Default::default()
                },
            ),
            node(
                "Concat",
                &["a", "b"],
                &["ab"],
                vec![AttributeProto {
                    name: "axis".into(),
                    r#type: at::INT,
                    i: 0,
                    ..Default::default()
                }],
            ),
            node("Slice", &["ab", "st", "en"], &["s"], vec![]),
            node("Mul", &["s", "s"], &["s2"], vec![]),
            node("Reshape", &["x", "s2"], &["y"], vec![]),
        ];
        let inits = vec![i64_init("st", &[1], &[1]), i64_init("en", &[1], &[4])];
        let g = parse_onnx(&model(nodes, inits, &[1, 1], 17), "m").unwrap();
        assert_eq!(
            g.initializers["s2"],
            Const::I64 {
                shape: vec![3],
                data: vec![1, 9, 1]
            }
        );
        let d = TensorProto {
            dims: vec![2],
            data_type: dt::DOUBLE,
            raw_data: [0.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        assert_eq!(
            tensor_to_const(&d).unwrap(),
            Const::F32(F32Tensor::from_vec(&[2], vec![0.5, -2.0]).unwrap())
        );
        let i32t = TensorProto {
            dims: vec![2],
            data_type: dt::INT32,
            raw_data: [-3i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        assert_eq!(
            tensor_to_const(&i32t).unwrap(),
            Const::I64 {
                shape: vec![2],
                data: vec![-3, 7]
            }
        );
        let f16 = TensorProto {
            dims: vec![1],
            data_type: dt::FLOAT16,
            raw_data: vec![0, 0x3c],
            ..Default::default()
        };
        assert_eq!(
            tensor_to_const(&f16).unwrap_err(),
            "tensor data type FLOAT16 is not supported"
        );
    }
}
