//! Plaintext evaluation of graph nodes on float32 (and small integer) tensors: the reference
//! backend, and the evaluator of public values inside private models.

use super::exec::{Backend, Value, node_error};
use super::graph::{Const, DType, Node, Op};
use super::tensor::F32Tensor;
use crate::error::Result;

pub use super::tensor::broadcast_shape;

/// The plaintext backend: backend tensors are f32 tensors.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainBackend;

impl Backend for PlainBackend {
    type T = F32Tensor;

    fn shape_of(&self, x: &F32Tensor) -> Vec<usize> {
        x.shape().to_vec()
    }

    fn eval(&mut self, node: &Node, inputs: &[Option<&Value<F32Tensor>>]) -> Result<Vec<Value<F32Tensor>>> {
        let consts: Vec<Option<Const>> = inputs
            .iter()
            .map(|v| {
                v.map(|v| match v {
                    Value::Data(t) => Const::F32(t.clone()),
                    other => other.public().expect("public"),
                })
            })
            .collect();
        Ok(eval(node, &consts)?
            .into_iter()
            .map(|c| match c {
                Const::F32(t) => Value::Data(t),
                other => Value::Public(other),
            })
            .collect())
    }
}

fn to_f32(c: &Const) -> Result<F32Tensor> {
    match c {
        Const::F32(t) => Ok(t.clone()),
        Const::I64 { shape, data } => F32Tensor::from_vec(shape, data.iter().map(|&v| v as f32).collect()),
    }
}

fn to_i64(t: &F32Tensor) -> Const {
    Const::I64 {
        shape: t.shape().to_vec(),
        data: t.data().iter().map(|&v| v.round() as i64).collect(),
    }
}

/// The integers of a public value (shapes, axes, indices).
pub fn ints(c: &Const) -> Vec<i64> {
    match c {
        Const::I64 { data, .. } => data.clone(),
        Const::F32(t) => t.data().iter().map(|&v| v as i64).collect(),
    }
}

/// Evaluates one node on public values.
pub fn eval(node: &Node, inputs: &[Option<Const>]) -> Result<Vec<Const>> {
    let arg = |k: usize| -> Result<&Const> {
        inputs
            .get(k)
            .and_then(Option::as_ref)
            .ok_or_else(|| node_error(node, format!("missing input {k}")))
    };
    let f = |k: usize| -> Result<F32Tensor> { to_f32(arg(k)?) };
    let opt =
        |k: usize| -> Result<Option<F32Tensor>> { inputs.get(k).and_then(Option::as_ref).map(to_f32).transpose() };
    // Integer-in, integer-out for the ops that move or combine shape vectors.
    let all_int = inputs.iter().flatten().all(|c| matches!(c, Const::I64 { .. }));
    let wrap = |t: F32Tensor| -> Vec<Const> { vec![if all_int { to_i64(&t) } else { Const::F32(t) }] };
    let e = |r: Result<F32Tensor>| r.map_err(|err| node_error(node, err));
    let out = match &node.op {
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let c = opt(2)?;
            vec![Const::F32(e(f(0)?.gemm(
                &f(1)?,
                c.as_ref(),
                *alpha,
                *beta,
                *trans_a,
                *trans_b,
            ))?)]
        }
        Op::MatMul => vec![Const::F32(e(f(0)?.matmul(&f(1)?))?)],
        Op::Conv {
            strides,
            pads,
            dilations,
            group,
        } => {
            let b = opt(2)?;
            vec![Const::F32(e(f(0)?.conv(
                &f(1)?,
                b.as_ref(),
                strides,
                pads,
                dilations,
                *group,
            ))?)]
        }
        Op::BatchNormalization { epsilon } => vec![Const::F32(e(f(0)?.batch_norm(
            &f(1)?,
            &f(2)?,
            &f(3)?,
            &f(4)?,
            *epsilon,
        ))?)],
        Op::Add => wrap(e(f(0)?.add(&f(1)?))?),
        Op::Sub => wrap(e(f(0)?.sub(&f(1)?))?),
        Op::Mul => wrap(e(f(0)?.mul(&f(1)?))?),
        Op::Div => {
            let q = e(f(0)?.div(&f(1)?))?;
            // Integer division truncates, as ONNX does for integer tensors.
            if all_int {
                vec![to_i64(&q.map(f32::trunc))]
            } else {
                vec![Const::F32(q)]
            }
        }
        Op::Pow => vec![Const::F32(e(f(0)?.pow(&f(1)?))?)],
        Op::Neg => wrap(f(0)?.neg()),
        Op::Sqrt => vec![Const::F32(f(0)?.sqrt())],
        Op::Exp => vec![Const::F32(f(0)?.exp())],
        Op::Log => vec![Const::F32(f(0)?.log())],
        Op::Reciprocal => vec![Const::F32(f(0)?.reciprocal())],
        Op::Relu => vec![Const::F32(f(0)?.relu())],
        Op::Sigmoid => vec![Const::F32(f(0)?.sigmoid())],
        Op::Tanh => vec![Const::F32(f(0)?.tanh())],
        Op::Erf => vec![Const::F32(f(0)?.erf())],
        Op::Gelu { tanh } => vec![Const::F32(f(0)?.gelu(*tanh))],
        Op::Softmax { axis } => vec![Const::F32(e(f(0)?.softmax(*axis))?)],
        Op::LogSoftmax { axis } => vec![Const::F32(e(f(0)?.log_softmax(*axis))?)],
        Op::LayerNormalization { axis, epsilon } => {
            let x = f(0)?;
            let scale = match opt(1)? {
                Some(s) => s,
                None => F32Tensor::full(&[*x.shape().last().unwrap_or(&1)], 1.0),
            };
            vec![Const::F32(e(x.layer_norm(*axis, *epsilon, &scale, opt(2)?.as_ref()))?)]
        }
        Op::ReduceMean { axes, keepdims } => vec![Const::F32(e(f(0)?.reduce_mean(axes, *keepdims))?)],
        Op::ReduceSum { axes, keepdims } => wrap(e(f(0)?.reduce_sum(axes, *keepdims))?),
        Op::MaxPool {
            kernel,
            strides,
            pads,
            ceil_mode,
        } => vec![Const::F32(e(f(0)?.max_pool(kernel, strides, pads, *ceil_mode))?)],
        Op::AveragePool {
            kernel,
            strides,
            pads,
            ceil_mode,
            count_include_pad,
        } => {
            vec![Const::F32(e(f(0)?.avg_pool(
                kernel,
                strides,
                pads,
                *ceil_mode,
                *count_include_pad,
            ))?)]
        }
        Op::GlobalAveragePool => vec![Const::F32(e(f(0)?.global_avg_pool())?)],
        Op::Flatten { axis } => wrap(e(f(0)?.flatten(*axis))?),
        Op::Reshape => wrap(e(f(0)?.reshape(&ints(arg(1)?)))?),
        Op::Transpose { perm } => {
            let x = f(0)?;
            let perm: Vec<usize> = if perm.is_empty() {
                (0..x.shape().len()).rev().collect()
            } else {
                perm.clone()
            };
            wrap(e(x.transpose(&perm))?)
        }
        Op::Concat { axis } => {
            let parts: Vec<F32Tensor> = inputs.iter().flatten().map(to_f32).collect::<Result<_>>()?;
            let refs: Vec<&F32Tensor> = parts.iter().collect();
            wrap(e(F32Tensor::concat(&refs, *axis))?)
        }
        Op::Unsqueeze { axes } => {
            let axes = if axes.is_empty() { ints(arg(1)?) } else { axes.clone() };
            wrap(e(f(0)?.unsqueeze(&axes))?)
        }
        Op::Squeeze { axes } => {
            let axes = match (axes.is_empty(), inputs.get(1).and_then(Option::as_ref)) {
                (true, Some(a)) => ints(a),
                _ => axes.clone(),
            };
            wrap(e(f(0)?.squeeze(&axes))?)
        }
        Op::Slice => {
            let x = f(0)?;
            let starts = ints(arg(1)?);
            let ends = ints(arg(2)?);
            let axes = match inputs.get(3).and_then(Option::as_ref) {
                Some(a) => ints(a),
                None => (0..starts.len() as i64).collect(),
            };
            let steps = match inputs.get(4).and_then(Option::as_ref) {
                Some(s) => ints(s),
                None => vec![1; starts.len()],
            };
            wrap(e(x.slice(&starts, &ends, &axes, &steps))?)
        }
        Op::Pad => {
            let value = match inputs.get(2).and_then(Option::as_ref) {
                Some(v) => to_f32(v)?.data().first().copied().unwrap_or(0.0),
                None => 0.0,
            };
            wrap(e(f(0)?.pad(&ints(arg(1)?), value))?)
        }
        Op::Gather { axis } => {
            let idx = arg(1)?;
            wrap(e(f(0)?.gather(*axis, &ints(idx), idx.shape()))?)
        }
        Op::Identity | Op::Dropout => vec![arg(0)?.clone()],
        Op::Shape => {
            let s = arg(0)?.shape();
            vec![Const::I64 {
                shape: vec![s.len()],
                data: s.iter().map(|&d| d as i64).collect(),
            }]
        }
        Op::Cast { to } => match to {
            DType::F32 => vec![Const::F32(f(0)?)],
            DType::I64 => vec![to_i64(&f(0)?)],
        },
        Op::Constant(c) => vec![c.clone()],
    };
    Ok(out)
}
