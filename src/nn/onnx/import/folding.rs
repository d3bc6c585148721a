//! Evaluates public "shape plumbing" at load time, so it becomes initializers.

use super::attrs::Ctx;
use super::{Importer, Parsed};
use crate::error::Result;
use crate::nn::graph::{Const, Node, Op};
use crate::nn::onnx::fold::{self, BinOp};
use crate::nn::onnx::proto::data_type as dt;

impl Importer {
    /// Evaluates the node at load time when it is public plumbing on constants.
    pub(super) fn try_fold(&self, ctx: &Ctx, p: &Parsed) -> Result<Option<Const>> {
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
                    relu_after: false,
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
    pub(super) fn check_unfolded(&self, ctx: &Ctx, p: &Parsed) -> Result<()> {
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
