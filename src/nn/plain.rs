//! Plaintext evaluation of graph nodes on float32 (and small integer) tensors: the reference
//! backend, and the evaluator of public values inside private models.

use super::exec::{Backend, Value, node_error};
use super::graph::{Const, DType, Node, Op, ReduceKind};
use super::tensor::F32Tensor;
use super::window::{Windows, pool_f32};
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

/// Whether the 1-D/2-D pooling kernels of [`F32Tensor`] apply (no dilation); otherwise the
/// general [`Windows`] path runs.
fn fast_pool(x: &F32Tensor, dilations: &[usize]) -> bool {
    matches!(x.rank(), 3 | 4) && dilations.iter().all(|&d| d == 1)
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
            let y = Const::F32(e(x.layer_norm(*axis, *epsilon, &scale, opt(2)?.as_ref()))?);
            if node.outputs.len() > 1 {
                let (mean, inv) = x
                    .layer_norm_moments(*axis, *epsilon)
                    .map_err(|err| node_error(node, err))?;
                vec![y, Const::F32(mean), Const::F32(inv)]
            } else {
                vec![y]
            }
        }
        Op::ReduceMean { axes, keepdims } => vec![Const::F32(e(f(0)?.reduce_mean(axes, *keepdims))?)],
        Op::ReduceSum { axes, keepdims } => wrap(e(f(0)?.reduce_sum(axes, *keepdims))?),
        Op::MaxPool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
        } => {
            let x = f(0)?;
            let y = if fast_pool(&x, dilations) {
                x.max_pool(kernel, strides, pads, *ceil_mode)
            } else {
                Windows::new(
                    &x.shape()[2.min(x.rank())..],
                    kernel,
                    strides,
                    pads,
                    dilations,
                    *ceil_mode,
                )
                .and_then(|w| pool_f32(&x, &w, true, false))
            };
            vec![Const::F32(e(y)?)]
        }
        Op::AveragePool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
            count_include_pad,
        } => {
            let x = f(0)?;
            let y = if fast_pool(&x, dilations) {
                x.avg_pool(kernel, strides, pads, *ceil_mode, *count_include_pad)
            } else {
                Windows::new(
                    &x.shape()[2.min(x.rank())..],
                    kernel,
                    strides,
                    pads,
                    dilations,
                    *ceil_mode,
                )
                .and_then(|w| pool_f32(&x, &w, false, *count_include_pad))
            };
            vec![Const::F32(e(y)?)]
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
        Op::Identity => vec![arg(0)?.clone()],
        // Inference: the mask (second output) is all true.
        Op::Dropout => {
            let x = arg(0)?;
            vec![
                x.clone(),
                Const::I64 {
                    shape: x.shape().to_vec(),
                    data: vec![1; x.shape().iter().product()],
                },
            ]
        }
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
        Op::Abs => wrap(f(0)?.map(f32::abs)),
        Op::Sign => wrap(f(0)?.map(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })),
        Op::LeakyRelu { alpha } => vec![Const::F32(f(0)?.map(|x| if x < 0.0 { alpha * x } else { x }))],
        Op::HardSigmoid { alpha, beta } => {
            vec![Const::F32(f(0)?.map(|x| (alpha * x + beta).clamp(0.0, 1.0)))]
        }
        Op::Clip { min, max } => {
            let (lo, hi) = (min.unwrap_or(f32::NEG_INFINITY), max.unwrap_or(f32::INFINITY));
            wrap(f(0)?.map(|x| x.max(lo).min(hi)))
        }
        Op::Max | Op::Min | Op::Sum | Op::Mean => {
            let parts: Vec<F32Tensor> = inputs.iter().flatten().map(to_f32).collect::<Result<_>>()?;
            let (first, rest) = parts.split_first().ok_or_else(|| node_error(node, "has no inputs"))?;
            let mut acc = first.clone();
            for t in rest {
                acc = e(match node.op {
                    Op::Max => acc.zip_with(t, "max", |a, b| if a >= b || a.is_nan() { a } else { b }),
                    Op::Min => acc.zip_with(t, "min", |a, b| if a <= b || a.is_nan() { a } else { b }),
                    _ => acc.add(t),
                })?;
            }
            if node.op == Op::Mean {
                vec![Const::F32(acc.scale(1.0 / parts.len() as f32))]
            } else {
                wrap(acc)
            }
        }
        Op::Equal | Op::Greater | Op::Less | Op::GreaterOrEqual | Op::LessOrEqual => {
            let cmp: fn(f32, f32) -> bool = match node.op {
                Op::Equal => |a, b| a == b,
                Op::Greater => |a, b| a > b,
                Op::Less => |a, b| a < b,
                Op::GreaterOrEqual => |a, b| a >= b,
                _ => |a, b| a <= b,
            };
            vec![to_i64(&e(
                f(0)?.zip_with(&f(1)?, "compare", |a, b| cmp(a, b) as u8 as f32)
            )?)]
        }
        Op::Where => {
            let (c, x, y) = (f(0)?, f(1)?, f(2)?);
            let shape = broadcast_shape(c.shape(), x.shape())
                .and_then(|s| broadcast_shape(&s, y.shape()))
                .map_err(|err| node_error(node, err))?;
            let (c, x, y) = (
                e(c.broadcast_to(&shape))?,
                e(x.broadcast_to(&shape))?,
                e(y.broadcast_to(&shape))?,
            );
            let data = c
                .data()
                .iter()
                .zip(x.data().iter().zip(y.data()))
                .map(|(&c, (&x, &y))| if c != 0.0 { x } else { y })
                .collect();
            let out = F32Tensor::from_vec(&shape, data)?;
            let ints = [1, 2]
                .iter()
                .all(|&k| matches!(inputs.get(k), Some(Some(Const::I64 { .. }))));
            vec![if ints { to_i64(&out) } else { Const::F32(out) }]
        }
        Op::Reduce { kind, axes, keepdims } => {
            let x = f(0)?;
            let y = reduce_rows(&x, axes, *keepdims, |row| match kind {
                ReduceKind::Max => row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
                ReduceKind::Min => row.iter().fold(f32::INFINITY, |m, &v| m.min(v)),
                ReduceKind::SumSquare => row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() as f32,
                ReduceKind::L1 => row.iter().map(|&v| (v as f64).abs()).sum::<f64>() as f32,
                ReduceKind::L2 => row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt() as f32,
            });
            wrap(e(y)?)
        }
        Op::Expand => {
            let x = f(0)?;
            let dims: Vec<usize> = ints(arg(1)?).iter().map(|&d| d.max(0) as usize).collect();
            let shape = broadcast_shape(x.shape(), &dims).map_err(|err| node_error(node, err))?;
            wrap(e(x.broadcast_to(&shape))?)
        }
        Op::ConstantOfShape(v) => {
            let dims: Vec<usize> = ints(arg(0)?).iter().map(|&d| d.max(0) as usize).collect();
            let n: usize = dims.iter().product();
            vec![match v {
                Const::F32(t) => Const::F32(F32Tensor::full(&dims, t.data()[0])),
                Const::I64 { data, .. } => Const::I64 {
                    shape: dims,
                    data: vec![data[0]; n],
                },
            }]
        }
        Op::GlobalMaxPool => {
            let x = f(0)?;
            if x.rank() < 3 {
                return Err(node_error(node, format!("input {:?} has no spatial axes", x.shape())));
            }
            let axes: Vec<i64> = (2..x.rank() as i64).collect();
            vec![Const::F32(e(reduce_rows(&x, &axes, true, |row| {
                row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
            }))?)]
        }
        Op::Size => vec![Const::I64 {
            shape: vec![],
            data: vec![arg(0)?.shape().iter().product::<usize>() as i64],
        }],
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
            min,
        } => {
            let better = |v: f32, best: f32| if *min { v < best } else { v > best };
            let y = reduce_rows(&f(0)?, &[*axis], *keepdims, |row| {
                let mut at = 0;
                for (j, &v) in row.iter().enumerate().skip(1) {
                    if better(v, row[at]) || (*select_last_index && v == row[at]) {
                        at = j;
                    }
                }
                at as f32
            });
            vec![to_i64(&e(y)?)]
        }
        Op::Split { axis, parts } => {
            let x = arg(0)?;
            let ax = axis_of(*axis, x.shape().len()).map_err(|err| node_error(node, err))?;
            let sizes = split_sizes(x.shape()[ax], *parts, inputs.get(1).and_then(Option::as_ref))
                .map_err(|err| node_error(node, err))?;
            let t = f(0)?;
            let mut at = 0i64;
            let mut outs = Vec::with_capacity(sizes.len());
            for s in sizes {
                let piece = e(t.slice(&[at], &[at + s as i64], &[ax as i64], &[1]))?;
                outs.extend(wrap(piece));
                at += s as i64;
            }
            outs
        }
    };
    Ok(out)
}

/// A possibly negative axis of a rank-`rank` tensor as an index.
pub fn axis_of(axis: i64, rank: usize) -> Result<usize> {
    let ax = if axis < 0 { axis + rank as i64 } else { axis };
    if ax < 0 || ax >= rank as i64 {
        return Err(crate::error::Error::invalid(
            "axis",
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(ax as usize)
}

/// The sizes of the `parts` pieces of Split on an axis of length `dim`: the public `split` input
/// when given (which must add up to `dim`), else equal parts of ⌈dim/parts⌉ (the last smaller).
pub fn split_sizes(dim: usize, parts: usize, split: Option<&Const>) -> Result<Vec<usize>> {
    let bad = |d: String| crate::error::Error::invalid("split", d);
    let sizes: Vec<usize> = match split {
        Some(c) => {
            let v = ints(c);
            if v.iter().any(|&s| s < 0) {
                return Err(bad(format!("sizes {v:?} include a negative one")));
            }
            v.iter().map(|&s| s as usize).collect()
        }
        None => {
            let each = dim.div_ceil(parts.max(1));
            (0..parts).map(|i| each.min(dim.saturating_sub(i * each))).collect()
        }
    };
    if sizes.len() != parts || sizes.iter().sum::<usize>() != dim {
        return Err(bad(format!(
            "sizes {sizes:?} do not split an axis of {dim} into {parts} outputs"
        )));
    }
    Ok(sizes)
}

/// Reduces axes `axes` (all when empty; negative allowed) with `f` over each group of elements:
/// the reduced axes are moved last, so each group is a contiguous row.
pub fn reduce_rows(x: &F32Tensor, axes: &[i64], keepdims: bool, f: impl Fn(&[f32]) -> f32) -> Result<F32Tensor> {
    let (perm, rows, k, out_shape) = reduce_layout(x.shape(), axes, keepdims)?;
    let t = x.transpose(&perm)?;
    let data: Vec<f32> = if k == 0 {
        vec![f(&[]); rows]
    } else {
        t.data().chunks_exact(k).map(f).collect()
    };
    F32Tensor::from_vec(&out_shape, data)
}

/// For a reduction over `axes` of a tensor of `shape`: the permutation that moves the reduced
/// axes last, the number of groups, the group size and the output shape.
pub fn reduce_layout(shape: &[usize], axes: &[i64], keepdims: bool) -> Result<(Vec<usize>, usize, usize, Vec<usize>)> {
    let r = shape.len() as i64;
    let mut reduced = vec![axes.is_empty(); shape.len()];
    for &a in axes {
        let ax = if a < 0 { a + r } else { a };
        if ax < 0 || ax >= r {
            return Err(crate::error::Error::invalid(
                "reduce",
                format!("axis {a} is out of range for rank {r}"),
            ));
        }
        reduced[ax as usize] = true;
    }
    let kept: Vec<usize> = (0..shape.len()).filter(|&i| !reduced[i]).collect();
    let gone: Vec<usize> = (0..shape.len()).filter(|&i| reduced[i]).collect();
    let perm: Vec<usize> = kept.iter().chain(&gone).copied().collect();
    let rows: usize = kept.iter().map(|&i| shape[i]).product();
    let k: usize = gone.iter().map(|&i| shape[i]).product();
    let out: Vec<usize> = if keepdims {
        (0..shape.len())
            .map(|i| if reduced[i] { 1 } else { shape[i] })
            .collect()
    } else {
        kept.iter().map(|&i| shape[i]).collect()
    };
    Ok((perm, rows, k, out))
}
