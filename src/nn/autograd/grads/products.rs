//! Products on the recording backend, with their backward rules (g the output gradient):
//! * Gemm Y = α·op(A)·op(B) + β·C: dA = α·g·op(B)ᵀ (transposed back when A was), dB likewise,
//!   dC = β·g summed back to C's shape;
//! * MatMul: dA = g·Bᵀ, dB = Aᵀ·g, batch axes summed back to each operand's shape;
//! * Conv: dX and dW by the backend's convolution gradients, db = Σ g over batch and space;
//! * embedding with private one-hot ids: dTable = onehotᵀ·g;
//! * elementwise product: d_a = g·b and d_b = g·a, each summed back to its operand's shape.
//!
//! Division is the default body (a product with the reciprocal), so its gradient comes from the
//! product and the reciprocal.

use super::super::record::{Autodiff, Tracked, id_of, inner};
use super::super::{AutodiffBackend, ConvAttrs};
use crate::error::{Error, Result};
use crate::nn::graph::Op;
use crate::nn::ops::{Backend, GemmAttrs, ProductOps, V, Weight};
use crate::nn::value::Value;

type T<B> = Tracked<<B as Backend>::T>;

/// A product operand as the wrapped backend sees it.
fn weight<'w, T>(value: &'w Value<T>, w: &Weight<'w, Tracked<T>>) -> Weight<'w, T> {
    Weight { value, name: w.name }
}

impl<'t, B: AutodiffBackend + 't> ProductOps for Autodiff<'_, 't, B> {
    fn matmul(&mut self, a: &V<Self>, b: Weight<'_, T<B>>) -> Result<T<B>> {
        let (av, bv) = (inner(a), inner(b.value));
        let y = self.b.matmul(&av, weight(&bv, &b))?;
        Ok(self.record(y, vec![id_of(a), id_of(b.value)], move |cx, g, need| {
            let gv = Value::Data(g);
            let (sa, sb) = (cx.shape(&av), cx.shape(&bv));
            if sa.len() < 2 || sb.len() < 2 {
                return Err(Error::invalid("op MatMul", "training needs operands of rank 2 or more"));
            }
            let mut out = vec![None, None];
            if need[0] {
                let bt = cx.swap_last(&bv)?;
                let d = cx.t(Op::MatMul, &[&gv, &bt])?;
                out[0] = Some(cx.sum_to(d, &sa)?);
            }
            if need[1] {
                let at = cx.swap_last(&av)?;
                let d = cx.t(Op::MatMul, &[&at, &gv])?;
                out[1] = Some(cx.sum_to(d, &sb)?);
            }
            Ok(out)
        }))
    }

    fn gemm(&mut self, a: &V<Self>, b: Weight<'_, T<B>>, c: Option<&V<Self>>, attrs: GemmAttrs) -> Result<T<B>> {
        let (av, bv, cv) = (inner(a), inner(b.value), c.map(inner));
        let y = self.b.gemm(&av, weight(&bv, &b), cv.as_ref(), attrs)?;
        let parents = vec![id_of(a), id_of(b.value), c.and_then(id_of)];
        let cshape = cv.as_ref().map(|c| self.b.value_shape(c));
        Ok(self.record(y, parents, move |cx, g, need| {
            let GemmAttrs {
                alpha,
                beta,
                trans_a,
                trans_b,
            } = attrs;
            let gv = Value::Data(g.clone());
            let mut out = vec![None, None, None];
            if need[0] {
                // dA = g·op(B)ᵀ, or (op(B)·gᵀ) when A was transposed.
                let d = if !trans_a {
                    let bt = if trans_b {
                        bv.clone()
                    } else {
                        cx.transpose(&bv, vec![1, 0])?
                    };
                    cx.t(Op::MatMul, &[&gv, &bt])?
                } else {
                    let ob = if trans_b {
                        cx.transpose(&bv, vec![1, 0])?
                    } else {
                        bv.clone()
                    };
                    let gt = cx.transpose(&gv, vec![1, 0])?;
                    cx.t(Op::MatMul, &[&ob, &gt])?
                };
                out[0] = Some(cx.scale(&d, alpha as f64)?);
            }
            if need[1] {
                let d = if !trans_b {
                    let at = if trans_a {
                        av.clone()
                    } else {
                        cx.transpose(&av, vec![1, 0])?
                    };
                    cx.t(Op::MatMul, &[&at, &gv])?
                } else {
                    let oa = if trans_a {
                        cx.transpose(&av, vec![1, 0])?
                    } else {
                        av.clone()
                    };
                    let gt = cx.transpose(&gv, vec![1, 0])?;
                    cx.t(Op::MatMul, &[&gt, &oa])?
                };
                out[1] = Some(cx.scale(&d, alpha as f64)?);
            }
            if let (true, Some(cs)) = (need[2], &cshape) {
                let d = cx.sum_to(g, cs)?;
                out[2] = Some(cx.scale(&d, beta as f64)?);
            }
            Ok(out)
        }))
    }

    fn conv(&mut self, x: &T<B>, w: Weight<'_, T<B>>, bias: Option<&V<Self>>, c: &ConvAttrs) -> Result<T<B>> {
        let (xv, wv, bv) = (Value::Data(x.t.clone()), inner(w.value), bias.map(inner));
        let y = self.b.conv(&x.t, weight(&wv, &w), bv.as_ref(), c)?;
        let parents = vec![x.id, id_of(w.value), bias.and_then(id_of)];
        let attrs = c.clone();
        Ok(self.record(y, parents, move |cx, g, need| {
            let mut out = vec![None, None, None];
            if need[0] {
                let xs = cx.shape(&xv);
                out[0] = Some(cx.b.conv_grad_input(&g, &wv, &attrs, &xs)?);
            }
            if need[1] {
                let ws = cx.shape(&wv);
                out[1] = Some(cx.b.conv_grad_weight(&xv, &g, &attrs, &ws[2..])?);
            }
            if need[2] {
                let r = cx.b.shape_of(&g).len() as i64;
                let mut axes = vec![0];
                axes.extend(2..r);
                out[2] = Some(cx.b.reduce_sum(&g, &axes, false)?);
            }
            Ok(out)
        }))
    }

    fn embed(&mut self, table: Weight<'_, T<B>>, onehot: &T<B>) -> Result<T<B>> {
        let tv = inner(table.value);
        let y = self.b.embed(weight(&tv, &table), &onehot.t)?;
        let ts = self.b.value_shape(&tv);
        let oh = Value::Data(onehot.t.clone());
        Ok(self.record(y, vec![id_of(table.value), onehot.id], move |cx, g, need| {
            if need[1] {
                return Err(Error::invalid("op Gather", "private token ids have no gradient"));
            }
            // The lookup was onehot · table: dTable = onehotᵀ · g.
            let is = cx.shape(&oh);
            let rows: usize = is[..is.len() - 1].iter().product();
            let oh2 = cx.reshape_value(&oh, &[rows, ts[0]])?;
            let oht = cx.transpose(&oh2, vec![1, 0])?;
            let g2 = Value::Data(cx.b.reshape(&g, &[rows, ts[1..].iter().product()])?);
            let d = cx.t(Op::MatMul, &[&oht, &g2])?;
            Ok(vec![Some(cx.b.reshape(&d, &ts)?), None])
        }))
    }

    fn mul(&mut self, a: &V<Self>, b: &V<Self>) -> Result<T<B>> {
        let (av, bv) = (inner(a), inner(b));
        let y = self.b.mul(&av, &bv)?;
        Ok(self.record(y, vec![id_of(a), id_of(b)], move |cx, g, need| {
            let gv = Value::Data(g);
            let mut out = vec![None, None];
            for (k, (mine, other)) in [(&av, &bv), (&bv, &av)].into_iter().enumerate() {
                if need[k] {
                    let s = cx.shape(mine);
                    let d = cx.mul(&gv, other)?;
                    out[k] = Some(cx.sum_to(d, &s)?);
                }
            }
            Ok(out)
        }))
    }
}
