//! Forward recording and backward rules, one per op family. Every rule is written once, as graph
//! ops on values plus the primitives of [`AutodiffBackend`], so it serves every backend.
//!
//! Rules (g the output gradient, y the output):
//! * Gemm / MatMul: dA = g·Bᵀ, dB = Aᵀ·g (with the transposes and α, β of Gemm; batch axes summed
//!   back to each operand's shape).
//! * Conv: dX and dW by the backend's convolution gradients, db = Σ g over batch and space.
//! * Add/Sub/Mul/Div, Neg, Pow, Sqrt, Exp, Log, Reciprocal, Erf: the calculus rules, gradients of
//!   broadcast operands summed back.
//! * ReLU: g·mask; sigmoid g·y(1−y); tanh g(1−y²); GELU g·(Φ(x) + xφ(x)) (erf form) or the
//!   derivative of the tanh form.
//! * softmax: y·(g − Σ y·g); log_softmax: g − e^y·Σ g.
//! * LayerNorm / BatchNorm (training): dx = inv·(d − mean d − x̂·mean(d·x̂)), d = g·γ; dγ = Σ g·x̂,
//!   dβ = Σ g.
//! * MaxPool: g spread over the window by the one-hot argmax, scattered back; AveragePool: g
//!   divided by the window size, scattered back; GlobalAveragePool: g/area broadcast.
//! * Data movement (reshape, transpose, slice, pad, gather with public indices, concat): the
//!   adjoint of the movement's index map (a scatter-add); embedding with private one-hot ids:
//!   dTable = onehotᵀ·g.

use super::ctx::Ctx;
use super::{AutodiffBackend, ConvAttrs, IndexMap};
use crate::error::{Error, Result};
use crate::nn::exec::{eval_node, node_error};
use crate::nn::graph::{Const, Node, Op};
use crate::nn::ops::Backend;
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::F32Tensor;
use crate::nn::value::{Value, as_f32};
use crate::ring::pool::avg_pool2d_divisors;
use std::sync::Arc;

/// What a node's backward needs besides its inputs and output.
pub enum Saved<B: AutodiffBackend> {
    None,
    /// ReLU: the positive elements.
    Mask(B::Mask),
    /// MaxPool: the one-hot argmax of each window and the window map.
    Pool {
        onehot: B::T,
        map: Arc<IndexMap>,
    },
    /// LayerNorm / BatchNorm in training: x̂ and the inverse standard deviation.
    Norm {
        xhat: B::T,
        inv: B::T,
    },
}

type V<B> = Value<<B as Backend>::T>;

fn public(t: F32Tensor) -> Const {
    Const::F32(t)
}

fn scalar<T>(c: f32) -> Value<T> {
    Value::Public(public(F32Tensor::scalar(c)))
}

fn arg<'v, T>(node: &Node, args: &[Option<&'v Value<T>>], k: usize) -> Result<&'v Value<T>> {
    args.get(k)
        .copied()
        .flatten()
        .ok_or_else(|| node_error(node, format!("missing input {k}")))
}

/// Pooling geometry as 2-D: (input shape as 4-D, kernel, strides, symmetric pads).
fn pool2d(node: &Node, xs: &[usize], kernel: &[usize], strides: &[usize], pads: &[usize]) -> Result<PoolGeom> {
    let sp = kernel.len();
    let sym = pads.len() == 2 * sp && (0..sp).all(|i| pads[i] == pads[i + sp]);
    if !(1..=2).contains(&sp) || xs.len() != sp + 2 || !(sym || pads.is_empty()) {
        return Err(node_error(
            node,
            "training supports 1-D/2-D pooling with symmetric padding",
        ));
    }
    let at = |v: &[usize], i: usize, d: usize| v.get(i).copied().unwrap_or(d);
    Ok(if sp == 1 {
        PoolGeom {
            x4: vec![xs[0], xs[1], 1, xs[2]],
            k: [1, kernel[0]],
            s: [1, at(strides, 0, 1)],
            p: [0, at(pads, 0, 0)],
        }
    } else {
        PoolGeom {
            x4: xs.to_vec(),
            k: [kernel[0], kernel[1]],
            s: [at(strides, 0, 1), at(strides, 1, 1)],
            p: [at(pads, 0, 0), at(pads, 1, 0)],
        }
    })
}

/// Training supports pooling windows without dilation.
fn undilated(node: &Node, dilations: &[usize]) -> Result<()> {
    if dilations.iter().any(|&d| d != 1) {
        return Err(node_error(node, "training supports pooling without dilation"));
    }
    Ok(())
}

struct PoolGeom {
    x4: Vec<usize>,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
}

impl PoolGeom {
    fn map<B: AutodiffBackend>(&self, cx: &mut Ctx<'_, B>, ceil: bool) -> Result<Arc<IndexMap>> {
        let (k, s, p) = (self.k, self.s, self.p);
        let key = format!("unfold {:?} {k:?} {s:?} {p:?} {ceil}", self.x4);
        cx.maps
            .get(key, || IndexMap::of_ring(&self.x4, &|t| t.unfold2d(k, s, p, ceil, 0)))
    }
}

/// Forward of one node, with what its backward needs. BatchNorm in training mode appends its
/// updated running statistics to `buffers`.
pub(crate) fn forward_node<B: AutodiffBackend>(
    cx: &mut Ctx<'_, B>,
    node: &Node,
    args: &[Option<&V<B>>],
    train: bool,
    buffers: &mut Vec<(String, V<B>)>,
) -> Result<(Vec<V<B>>, Saved<B>)> {
    let private_x = matches!(args.first(), Some(Some(Value::Data(_))));
    match &node.op {
        Op::Relu if private_x => {
            let x = cx.data(arg(node, args, 0)?)?;
            let (y, m) = cx.b.relu_masked(&x)?;
            Ok((vec![Value::Data(y)], Saved::Mask(m)))
        }
        Op::MaxPool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
        } if private_x => {
            undilated(node, dilations)?;
            let x = cx.data(arg(node, args, 0)?)?;
            let xs = cx.b.shape_of(&x);
            let geo = pool2d(node, &xs, kernel, strides, pads)?;
            let map = geo.map(cx, *ceil_mode)?;
            let x4 = cx.b.reshape(&x, &geo.x4)?;
            let mut w = cx.b.gather_map(&x4, &map)?;
            if map.src.contains(&IndexMap::NONE) {
                // Padding never wins: a public value far below any input.
                let low: Vec<f32> = map
                    .src
                    .iter()
                    .map(|&s| if s == IndexMap::NONE { -16_777_216.0 } else { 0.0 })
                    .collect();
                let mask = Value::Public(public(F32Tensor::from_vec(&map.out_shape, low)?));
                w = cx.t(Op::Add, &[&Value::Data(w), &mask])?;
            }
            let (v, onehot) = cx.b.max_onehot(&w)?;
            let mut ys = xs[..2].to_vec();
            ys.extend_from_slice(&map.out_shape[if xs.len() == 3 { 3 } else { 2 }..4]);
            let y = cx.b.reshape(&v, &ys)?;
            Ok((vec![Value::Data(y)], Saved::Pool { onehot, map }))
        }
        Op::LayerNormalization { axis, epsilon } if private_x => {
            let x = cx.data(arg(node, args, 0)?)?;
            let r = cx.b.shape_of(&x).len() as i64;
            let ax = if *axis < 0 { axis + r } else { *axis };
            if ax < 0 || ax >= r {
                return Err(node_error(node, format!("axis {axis} is out of range")));
            }
            let axes: Vec<i64> = (ax..r).collect();
            let (xhat, inv, _, _) = normalize(cx, &x, axes, *epsilon)?;
            let mut y = Value::Data(xhat.clone());
            if let Some(Some(g)) = args.get(1) {
                y = cx.op(Op::Mul, &[&y, g])?;
            }
            if let Some(Some(b)) = args.get(2) {
                y = cx.op(Op::Add, &[&y, b])?;
            }
            Ok((vec![y], Saved::Norm { xhat, inv }))
        }
        Op::BatchNormalization { epsilon } if private_x && train => {
            let x = cx.data(arg(node, args, 0)?)?;
            let xs = cx.b.shape_of(&x);
            if xs.len() < 2 {
                return Err(node_error(node, "the input needs a channel axis"));
            }
            let mut axes: Vec<i64> = vec![0];
            axes.extend(2..xs.len() as i64);
            let (xhat, inv, mean, var) = normalize(cx, &x, axes, *epsilon)?;
            let cshape = channel_shape(&xs);
            let g = cx.reshape_value(arg(node, args, 1)?, &cshape)?;
            let b = cx.reshape_value(arg(node, args, 2)?, &cshape)?;
            let y = cx.op(Op::Mul, &[&Value::Data(xhat.clone()), &g])?;
            let y = cx.op(Op::Add, &[&y, &b])?;
            // Running statistics, PyTorch style: momentum 0.1, unbiased variance.
            let count = (xs.iter().product::<usize>() / xs[1]) as f64;
            let c = [xs[1]];
            let mean = cx.b.reshape(&mean, &c)?;
            let var = cx.b.reshape(&var, &c)?;
            let unbiased = count / (count - 1.0).max(1.0);
            for (k, new, f) in [(3, mean, 1.0), (4, var, unbiased)] {
                let old = arg(node, args, k)?;
                let kept = cx.op(Op::Mul, &[old, &scalar(0.9)])?;
                let step = cx.scale(&new, 0.1 * f)?;
                let upd = cx.op(Op::Add, &[&kept, &Value::Data(step)])?;
                buffers.push((node.inputs[k].clone(), upd));
            }
            Ok((vec![y], Saved::Norm { xhat, inv }))
        }
        _ => Ok((cx.eval(node, args)?, Saved::None)),
    }
}

/// `[1, C, 1, …]` for an input of shape `xs`.
fn channel_shape(xs: &[usize]) -> Vec<usize> {
    let mut s = vec![1; xs.len()];
    s[1] = xs[1];
    s
}

/// (x̂, inv, mean, var) of a normalisation.
type Stats<T> = (T, T, T, T);

/// x̂ = (x − mean)·inv, inv = 1/√(var + eps) over `axes` (kept as size 1): (x̂, inv, mean, var).
fn normalize<B: AutodiffBackend>(cx: &mut Ctx<'_, B>, x: &B::T, axes: Vec<i64>, eps: f32) -> Result<Stats<B::T>> {
    let xv = Value::Data(x.clone());
    let mean = cx.t(
        Op::ReduceMean {
            axes: axes.clone(),
            keepdims: true,
        },
        &[&xv],
    )?;
    let d = cx.op(Op::Sub, &[&xv, &Value::Data(mean.clone())])?;
    let sq = cx.op(Op::Pow, &[&d, &scalar(2.0)])?;
    let var = cx.t(Op::ReduceMean { axes, keepdims: true }, &[&sq])?;
    let ve = cx.t(Op::Add, &[&Value::Data(var.clone()), &scalar(eps)])?;
    let inv = cx.b.inv_sqrt(&ve)?;
    let xhat = cx.mul(&d, &Value::Data(inv.clone()))?;
    Ok((xhat, inv, mean, var))
}

/// Gradients of one node's inputs (`None` where not needed) for the output gradient `g`.
pub(crate) fn backward_node<B: AutodiffBackend>(
    cx: &mut Ctx<'_, B>,
    node: &Node,
    args: &[Option<&V<B>>],
    y: &V<B>,
    saved: &Saved<B>,
    g: B::T,
    need: &[bool],
) -> Result<Vec<Option<B::T>>> {
    let want = |k: usize| need.get(k).copied().unwrap_or(false);
    let a = |k: usize| arg(node, args, k);
    let gv = Value::Data(g.clone());
    let mut out: Vec<Option<B::T>> = vec![None; node.inputs.len()];
    match &node.op {
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let (av, bv) = (a(0)?, a(1)?);
            if want(0) {
                let d = if !trans_a {
                    let bt = if *trans_b {
                        bv.clone()
                    } else {
                        cx.transpose(bv, vec![1, 0])?
                    };
                    cx.t(Op::MatMul, &[&gv, &bt])?
                } else {
                    let ob = if *trans_b {
                        cx.transpose(bv, vec![1, 0])?
                    } else {
                        bv.clone()
                    };
                    let gt = cx.transpose(&gv, vec![1, 0])?;
                    cx.t(Op::MatMul, &[&ob, &gt])?
                };
                out[0] = Some(cx.scale(&d, *alpha as f64)?);
            }
            if want(1) {
                let d = if !trans_b {
                    let at = if *trans_a {
                        av.clone()
                    } else {
                        cx.transpose(av, vec![1, 0])?
                    };
                    cx.t(Op::MatMul, &[&at, &gv])?
                } else {
                    let oa = if *trans_a {
                        cx.transpose(av, vec![1, 0])?
                    } else {
                        av.clone()
                    };
                    let gt = cx.transpose(&gv, vec![1, 0])?;
                    cx.t(Op::MatMul, &[&gt, &oa])?
                };
                out[1] = Some(cx.scale(&d, *alpha as f64)?);
            }
            if want(2) {
                let cs = cx.shape(a(2)?);
                let d = cx.sum_to(g, &cs)?;
                out[2] = Some(cx.scale(&d, *beta as f64)?);
            }
        }
        Op::MatMul => {
            let (av, bv) = (a(0)?, a(1)?);
            let (sa, sb) = (cx.shape(av), cx.shape(bv));
            if sa.len() < 2 || sb.len() < 2 {
                return Err(node_error(node, "training needs matmul operands of rank 2 or more"));
            }
            if want(0) {
                let bt = cx.swap_last(bv)?;
                let d = cx.t(Op::MatMul, &[&gv, &bt])?;
                out[0] = Some(cx.sum_to(d, &sa)?);
            }
            if want(1) {
                let at = cx.swap_last(av)?;
                let d = cx.t(Op::MatMul, &[&at, &gv])?;
                out[1] = Some(cx.sum_to(d, &sb)?);
            }
        }
        Op::Conv {
            strides,
            pads,
            dilations,
            group,
        } => {
            let attrs = ConvAttrs {
                strides: strides.clone(),
                pads: pads.clone(),
                dilations: dilations.clone(),
                group: *group,
            };
            let (xv, wv) = (a(0)?, a(1)?);
            if want(0) {
                let xs = cx.shape(xv);
                out[0] = Some(cx.b.conv_grad_input(&g, wv, &attrs, &xs)?);
            }
            if want(1) {
                let ws = cx.shape(wv);
                out[1] = Some(cx.b.conv_grad_weight(xv, &g, &attrs, &ws[2..])?);
            }
            if want(2) {
                let r = cx.b.shape_of(&g).len() as i64;
                let mut axes = vec![0];
                axes.extend(2..r);
                out[2] = Some(cx.b.reduce_sum(&g, &axes, false)?);
            }
        }
        Op::Add | Op::Sub =>
        {
            #[allow(clippy::needless_range_loop)]
            for k in 0..2 {
                if want(k) {
                    let s = cx.shape(a(k)?);
                    let d = if k == 1 && node.op == Op::Sub {
                        cx.b.neg(&g)?
                    } else {
                        g.clone()
                    };
                    out[k] = Some(cx.sum_to(d, &s)?);
                }
            }
        }
        Op::Mul =>
        {
            #[allow(clippy::needless_range_loop)]
            for k in 0..2 {
                if want(k) {
                    let s = cx.shape(a(k)?);
                    let d = cx.mul(&gv, a(1 - k)?)?;
                    out[k] = Some(cx.sum_to(d, &s)?);
                }
            }
        }
        Op::Div => {
            let bv = a(1)?;
            let q = cx.t(Op::Div, &[&gv, bv])?;
            if want(0) {
                let s = cx.shape(a(0)?);
                out[0] = Some(cx.sum_to(q.clone(), &s)?);
            }
            if want(1) {
                let s = cx.shape(bv);
                let d = cx.mul(&Value::Data(q), y)?;
                let d = cx.b.neg(&d)?;
                out[1] = Some(cx.sum_to(d, &s)?);
            }
        }
        Op::Neg => out[0] = Some(cx.b.neg(&g)?),
        Op::Pow => {
            let e = match a(1)?.public() {
                Some(c) if c.shape().iter().product::<usize>() == 1 => as_f32(&c)?.data()[0],
                _ => return Err(node_error(node, "training needs a public scalar exponent")),
            };
            let x = a(0)?;
            let d = if e == 1.0 {
                g
            } else if e == 2.0 {
                let t = cx.mul(&gv, x)?;
                cx.scale(&t, 2.0)?
            } else {
                let p = cx.op(Op::Pow, &[x, &scalar(e - 1.0)])?;
                let t = cx.mul(&gv, &p)?;
                cx.scale(&t, e as f64)?
            };
            out[0] = Some(d);
        }
        Op::Sqrt => {
            let r = cx.op(Op::Reciprocal, &[y])?;
            let t = cx.mul(&gv, &r)?;
            out[0] = Some(cx.scale(&t, 0.5)?);
        }
        Op::Exp => out[0] = Some(cx.mul(&gv, y)?),
        Op::Log => {
            let r = cx.op(Op::Reciprocal, &[a(0)?])?;
            out[0] = Some(cx.mul(&gv, &r)?);
        }
        Op::Reciprocal => {
            let y2 = cx.op(Op::Pow, &[y, &scalar(2.0)])?;
            let t = cx.mul(&gv, &y2)?;
            out[0] = Some(cx.b.neg(&t)?);
        }
        Op::Relu => {
            let Saved::Mask(m) = saved else {
                return Err(node_error(node, "no mask was recorded"));
            };
            out[0] = Some(cx.b.mul_mask(&g, m)?);
        }
        Op::Sigmoid => {
            let one_minus = cx.op(Op::Sub, &[&scalar(1.0), y])?;
            let d = cx.op(Op::Mul, &[y, &one_minus])?;
            out[0] = Some(cx.mul(&gv, &d)?);
        }
        Op::Tanh => {
            let y2 = cx.op(Op::Pow, &[y, &scalar(2.0)])?;
            let d = cx.op(Op::Sub, &[&scalar(1.0), &y2])?;
            out[0] = Some(cx.mul(&gv, &d)?);
        }
        Op::Erf => {
            let x2 = cx.op(Op::Pow, &[a(0)?, &scalar(2.0)])?;
            let e = cx.op(Op::Neg, &[&x2])?;
            let e = cx.op(Op::Exp, &[&e])?;
            let t = cx.mul(&gv, &e)?;
            out[0] = Some(cx.scale(&t, 2.0 / std::f64::consts::PI.sqrt())?);
        }
        Op::Gelu { tanh } => {
            let d = gelu_derivative(cx, a(0)?, *tanh)?;
            out[0] = Some(cx.mul(&gv, &d)?);
        }
        Op::Softmax { axis } => {
            let yg = cx.op(Op::Mul, &[y, &gv])?;
            let s = cx.op(
                Op::ReduceSum {
                    axes: vec![*axis],
                    keepdims: true,
                },
                &[&yg],
            )?;
            let d = cx.op(Op::Sub, &[&gv, &s])?;
            out[0] = Some(cx.mul(y, &d)?);
        }
        Op::LogSoftmax { axis } => {
            let p = cx.op(Op::Exp, &[y])?;
            let s = cx.op(
                Op::ReduceSum {
                    axes: vec![*axis],
                    keepdims: true,
                },
                &[&gv],
            )?;
            let ps = cx.op(Op::Mul, &[&p, &s])?;
            out[0] = Some(cx.t(Op::Sub, &[&gv, &ps])?);
        }
        Op::LayerNormalization { .. } | Op::BatchNormalization { .. } => {
            let Saved::Norm { xhat, inv } = saved else {
                return Err(node_error(
                    node,
                    "batch norm is differentiated in training mode only (batch statistics)",
                ));
            };
            let xs = cx.b.shape_of(xhat);
            let bn = matches!(node.op, Op::BatchNormalization { .. });
            let axes: Vec<i64> = if bn {
                std::iter::once(0).chain(2..xs.len() as i64).collect()
            } else {
                let Op::LayerNormalization { axis, .. } = node.op else {
                    unreachable!()
                };
                let r = xs.len() as i64;
                ((if axis < 0 { axis + r } else { axis })..r).collect()
            };
            // γ and β as they broadcast against x.
            let gamma = match args.get(1).copied().flatten() {
                Some(v) if bn => Some(cx.reshape_value(v, &channel_shape(&xs))?),
                other => other.cloned(),
            };
            let xh = Value::Data(xhat.clone());
            let d = match &gamma {
                Some(gm) => cx.op(Op::Mul, &[&gv, gm])?,
                None => gv.clone(),
            };
            if want(0) {
                let mean = |cx: &mut Ctx<'_, B>, v: &V<B>| {
                    cx.op(
                        Op::ReduceMean {
                            axes: axes.clone(),
                            keepdims: true,
                        },
                        &[v],
                    )
                };
                let m1 = mean(cx, &d)?;
                let dx = cx.op(Op::Mul, &[&d, &xh])?;
                let m2 = mean(cx, &dx)?;
                let xm = cx.op(Op::Mul, &[&xh, &m2])?;
                let t = cx.op(Op::Sub, &[&d, &m1])?;
                let t = cx.op(Op::Sub, &[&t, &xm])?;
                out[0] = Some(cx.mul(&t, &Value::Data(inv.clone()))?);
            }
            for k in [1, 2] {
                if !want(k) {
                    continue;
                }
                let ps = cx.shape(a(k)?);
                let target = if bn { channel_shape(&xs) } else { ps.clone() };
                let t = if k == 1 { cx.mul(&gv, &xh)? } else { g.clone() };
                let s = cx.sum_to(t, &target)?;
                out[k] = Some(cx.b.reshape(&s, &ps)?);
            }
        }
        Op::ReduceSum { axes, keepdims } | Op::ReduceMean { axes, keepdims } => {
            let xs = cx.shape(a(0)?);
            let r = xs.len() as i64;
            let axes: Vec<usize> = if axes.is_empty() {
                (0..xs.len()).collect()
            } else {
                axes.iter()
                    .map(|&ax| (if ax < 0 { ax + r } else { ax }) as usize)
                    .collect()
            };
            let keep: Vec<usize> = (0..xs.len())
                .map(|i| if axes.contains(&i) { 1 } else { xs[i] })
                .collect();
            let _ = keepdims;
            let gk = cx.b.reshape(&g, &keep)?;
            let mut d = cx.expand(gk, &xs)?;
            if matches!(node.op, Op::ReduceMean { .. }) {
                let count: usize = axes.iter().map(|&i| xs[i]).product();
                d = cx.scale(&d, 1.0 / count as f64)?;
            }
            out[0] = Some(d);
        }
        Op::MaxPool { .. } => {
            let Saved::Pool { onehot, map } = saved else {
                return Err(node_error(node, "no argmax was recorded"));
            };
            let os = &map.out_shape;
            let g5 = cx.b.reshape(&g, &[os[0], os[1], os[2], os[3], 1])?;
            let spread = cx.expand(g5, os)?;
            let picked = cx.b.mul_onehot(&spread, onehot)?;
            let dx = cx.b.scatter_add(&picked, map)?;
            let xs = cx.shape(a(0)?);
            out[0] = Some(cx.b.reshape(&dx, &xs)?);
        }
        Op::AveragePool {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
            count_include_pad,
        } => {
            undilated(node, dilations)?;
            let xs = cx.shape(a(0)?);
            let geo = pool2d(node, &xs, kernel, strides, pads)?;
            let map = geo.map(cx, *ceil_mode)?;
            let os = map.out_shape.clone();
            let div = avg_pool2d_divisors(
                [geo.x4[2], geo.x4[3]],
                geo.k,
                geo.s,
                geo.p,
                *ceil_mode,
                *count_include_pad,
            )?;
            let inv: Vec<f32> = div.iter().map(|&d| 1.0 / d as f32).collect();
            let inv = Value::Public(public(F32Tensor::from_vec(&[1, 1, os[2], os[3]], inv)?));
            let g4 = Value::Data(cx.b.reshape(&g, &os[..4])?);
            let scaled = cx.mul(&g4, &inv)?;
            let g5 = cx.b.reshape(&scaled, &[os[0], os[1], os[2], os[3], 1])?;
            let spread = cx.expand(g5, &os)?;
            let dx = cx.b.scatter_add(&spread, &map)?;
            out[0] = Some(cx.b.reshape(&dx, &xs)?);
        }
        Op::GlobalAveragePool => {
            let xs = cx.shape(a(0)?);
            let area: usize = xs[2..].iter().product();
            let d = cx.expand(g, &xs)?;
            out[0] = Some(cx.scale(&d, 1.0 / area as f64)?);
        }
        Op::Flatten { .. }
        | Op::Reshape
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast { .. } => {
            let xs = cx.shape(a(0)?);
            out[0] = Some(cx.b.reshape(&g, &xs)?);
        }
        Op::Gather { .. } if matches!(a(1)?, Value::Data(_)) => {
            // Private ids arrive one-hot ([.., vocab]) and the lookup was onehot · table.
            let ts = cx.shape(a(0)?);
            let ids = a(1)?;
            let is = cx.shape(ids);
            let rows: usize = is[..is.len() - 1].iter().product();
            let oh = cx.reshape_value(ids, &[rows, ts[0]])?;
            let oht = cx.transpose(&oh, vec![1, 0])?;
            let g2 = Value::Data(cx.b.reshape(&g, &[rows, ts[1..].iter().product()])?);
            let d = cx.t(Op::MatMul, &[&oht, &g2])?;
            out[0] = Some(cx.b.reshape(&d, &ts)?);
        }
        Op::Transpose { .. } | Op::Slice | Op::Pad { .. } | Op::Tile | Op::Gather { .. } => {
            let xs = cx.shape(a(0)?);
            let rest: Vec<Option<Const>> = args[1..].iter().map(|v| v.and_then(Value::public)).collect();
            let key = format!("{} {:?} {xs:?} {rest:?}", node.name, node.op);
            // The movement's index map: the op itself, run in plaintext on index tensors.
            let map = cx.maps.get(key, || {
                IndexMap::of_f32(&xs, &|t| {
                    let mut all = vec![Some(Value::Data(t.clone()))];
                    all.extend(rest.iter().map(|c| c.clone().map(Value::Public)));
                    let refs: Vec<Option<&Value<F32Tensor>>> = all.iter().map(Option::as_ref).collect();
                    match eval_node(&mut PlainBackend, node, &refs)?.remove(0) {
                        Value::Data(y) => Ok(y),
                        other => other.public_f32("a moved value"),
                    }
                })
            })?;
            out[0] = Some(cx.b.scatter_add(&g, &map)?);
        }
        Op::Concat { axis } => {
            let shapes: Vec<Vec<usize>> = (0..args.len())
                .map(|k| a(k).map(|v| cx.shape(v)))
                .collect::<Result<_>>()?;
            let gs = cx.b.shape_of(&g);
            let r = gs.len() as i64;
            let ax = if *axis < 0 { axis + r } else { *axis };
            let mut at = 0i64;
            for (k, s) in shapes.iter().enumerate() {
                let len = s[ax as usize] as i64;
                if want(k) {
                    let key = format!("slice {gs:?} {ax} {at} {len}");
                    let map = cx.maps.get(key, || {
                        IndexMap::of_f32(&gs, &|t| t.slice(&[at], &[at + len], &[ax], &[1]))
                    })?;
                    out[k] = Some(cx.b.gather_map(&g, &map)?);
                }
                at += len;
            }
        }
        other => {
            return Err(Error::invalid(
                format!("node \"{}\" ({})", node.name, other.onnx_name()),
                "has no gradient rule",
            ));
        }
    }
    Ok(out)
}

/// d GELU / dx as a value: Φ(x) + x·φ(x) (erf form) or the derivative of the tanh form.
fn gelu_derivative<B: AutodiffBackend>(cx: &mut Ctx<'_, B>, x: &V<B>, tanh: bool) -> Result<V<B>> {
    let x2 = cx.op(Op::Pow, &[x, &scalar(2.0)])?;
    if tanh {
        // u = k(x + c·x³), t = tanh u: d = ½(1 + t) + ½·x·(1 − t²)·k·(1 + 3c·x²).
        let (k, c) = ((2.0f32 / std::f32::consts::PI).sqrt(), 0.044715f32);
        let x3 = cx.op(Op::Mul, &[&x2, x])?;
        let cx3 = cx.op(Op::Mul, &[&x3, &scalar(c)])?;
        let u = cx.op(Op::Add, &[x, &cx3])?;
        let u = cx.op(Op::Mul, &[&u, &scalar(k)])?;
        let t = cx.op(Op::Tanh, &[&u])?;
        let t2 = cx.op(Op::Pow, &[&t, &scalar(2.0)])?;
        let sech2 = cx.op(Op::Sub, &[&scalar(1.0), &t2])?;
        let inner = cx.op(Op::Mul, &[&x2, &scalar(3.0 * c * k)])?;
        let inner = cx.op(Op::Add, &[&inner, &scalar(k)])?;
        let xs = cx.op(Op::Mul, &[x, &sech2])?;
        let right = cx.op(Op::Mul, &[&xs, &inner])?;
        let right = cx.op(Op::Mul, &[&right, &scalar(0.5)])?;
        let left = cx.op(Op::Add, &[&t, &scalar(1.0)])?;
        let left = cx.op(Op::Mul, &[&left, &scalar(0.5)])?;
        return cx.op(Op::Add, &[&left, &right]);
    }
    let h = cx.op(Op::Mul, &[x, &scalar(std::f32::consts::FRAC_1_SQRT_2)])?;
    let e = cx.op(Op::Erf, &[&h])?;
    let phi_cdf = cx.op(Op::Mul, &[&e, &scalar(0.5)])?;
    let phi_cdf = cx.op(Op::Add, &[&phi_cdf, &scalar(0.5)])?;
    let m = cx.op(Op::Mul, &[&x2, &scalar(-0.5)])?;
    let pdf = cx.op(Op::Exp, &[&m])?;
    let pdf = cx.op(Op::Mul, &[&pdf, &scalar((0.5 / std::f64::consts::PI).sqrt() as f32)])?;
    let xp = cx.op(Op::Mul, &[x, &pdf])?;
    cx.op(Op::Add, &[&phi_cdf, &xp])
}
