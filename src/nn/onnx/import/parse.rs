//! Maps each ONNX node to its typed [`Op`], with the ONNX defaults filled in.

use super::attrs::{Attrs, Ctx, dtype_of, tensor_to_const};
use super::{Importer, Parsed, Spatial, arity};
use crate::error::Result;
use crate::nn::graph::{Const, Op, PadKind, ReduceKind};
use crate::nn::onnx::fold::{self};
use crate::nn::onnx::proto::{NodeProto, data_type as dt};

impl Importer {
    /// Parses the node's attributes and inputs into a typed op.
    pub(super) fn parse(&self, ctx: &Ctx, n: &NodeProto) -> Result<Parsed> {
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
                let mode = match a.string("mode")?.as_deref().unwrap_or("constant") {
                    "constant" => PadKind::Constant,
                    "edge" => PadKind::Edge,
                    "reflect" => PadKind::Reflect,
                    other => {
                        return Err(ctx.err(format!(
                            "attribute mode \"{other}\" is not supported (constant, edge, reflect)"
                        )));
                    }
                };
                if ins.get(3).is_some_and(|s| !s.is_empty()) {
                    return Err(ctx.err("the axes input is not supported"));
                }
                inputs.truncate(3);
                Op::Pad { mode }
            }
            "Tile" => {
                arity(ctx, ins, 2, 2)?;
                Op::Tile
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
}
