//! Movement and linear maps on the recording backend, with their backward rules (g the output
//! gradient):
//! * reshape: g reshaped back; transpose: g transposed by the inverse permutation;
//! * slice, pad, gather with public indices: the adjoint of the movement's index map (a
//!   scatter-add), the map computed once per op and shape by running the movement on index
//!   tensors in plaintext;
//! * expand: g summed back to the operand's shape; concat: g sliced into the parts;
//! * add, sub, neg, adding a public value, public scaling: the same linear map's transpose.
//!
//! All local on a protocol except the scalings' one truncation.

use super::super::record::{Autodiff, Tracked};
use super::super::{AutodiffBackend, IndexMap};
use crate::error::Result;
use crate::nn::ops::{LinearOps, PadMode};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::F32Tensor;

type T<B> = Tracked<<B as crate::nn::ops::Backend>::T>;

impl<'t, B: AutodiffBackend + 't> Autodiff<'_, 't, B> {
    /// Records a data movement whose backward is the scatter-add of its index map; `movement`
    /// runs the same movement on plaintext index tensors, `key` names it with its parameters.
    fn movement(
        &self,
        x: &T<B>,
        y: B::T,
        key: String,
        movement: impl Fn(&F32Tensor) -> Result<F32Tensor> + 't,
    ) -> T<B> {
        let xs = self.b.shape_of(&x.t);
        self.record(y, vec![x.id], move |cx, g, _| {
            let key = format!("{key} {xs:?}");
            let map = cx.maps.get(key, || IndexMap::of_f32(&xs, &movement))?;
            Ok(vec![Some(cx.b.scatter_add(&g, &map)?)])
        })
    }
}

impl<'t, B: AutodiffBackend + 't> LinearOps for Autodiff<'_, 't, B> {
    fn reshape(&self, x: &T<B>, shape: &[usize]) -> Result<T<B>> {
        let y = self.b.reshape(&x.t, shape)?;
        let xs = self.b.shape_of(&x.t);
        Ok(self.record(y, vec![x.id], move |cx, g, _| Ok(vec![Some(cx.b.reshape(&g, &xs)?)])))
    }

    fn transpose(&self, x: &T<B>, perm: &[usize]) -> Result<T<B>> {
        let y = self.b.transpose(&x.t, perm)?;
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            Ok(vec![Some(cx.b.transpose(&g, &inverse)?)])
        }))
    }

    fn slice(&self, x: &T<B>, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<T<B>> {
        let y = self.b.slice(&x.t, starts, ends, axes, steps)?;
        let p = (starts.to_vec(), ends.to_vec(), axes.to_vec(), steps.to_vec());
        let key = format!("slice {p:?}");
        Ok(self.movement(x, y, key, move |t| PlainBackend.slice(t, &p.0, &p.1, &p.2, &p.3)))
    }

    fn pad(&self, x: &T<B>, pads: &[i64], mode: PadMode<f32>) -> Result<T<B>> {
        let y = self.b.pad(&x.t, pads, mode)?;
        // A constant fill has no source (index 0 marks "none"); edge and reflect copies do.
        let map_mode = match mode {
            PadMode::Constant(_) => PadMode::Constant(0.0),
            other => other,
        };
        let pads = pads.to_vec();
        let key = format!("pad {pads:?} {map_mode:?}");
        Ok(self.movement(x, y, key, move |t| PlainBackend.pad(t, &pads, map_mode)))
    }

    fn gather(&self, x: &T<B>, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<T<B>> {
        let y = self.b.gather(&x.t, axis, indices, indices_shape)?;
        let (idx, ishape) = (indices.to_vec(), indices_shape.to_vec());
        let key = format!("gather {axis} {idx:?} {ishape:?}");
        Ok(self.movement(x, y, key, move |t| PlainBackend.gather(t, axis, &idx, &ishape)))
    }

    fn expand(&self, x: &T<B>, shape: &[usize]) -> Result<T<B>> {
        let y = self.b.expand(&x.t, shape)?;
        let xs = self.b.shape_of(&x.t);
        Ok(self.record(y, vec![x.id], move |cx, g, _| Ok(vec![Some(cx.sum_to(g, &xs)?)])))
    }

    fn concat(&self, parts: &[&T<B>], axis: i64) -> Result<T<B>> {
        let inner: Vec<&B::T> = parts.iter().map(|p| &p.t).collect();
        let y = self.b.concat(&inner, axis)?;
        let sizes: Vec<Vec<usize>> = parts.iter().map(|p| self.b.shape_of(&p.t)).collect();
        let rank = self.b.shape_of(&y).len() as i64;
        let ax = if axis < 0 { axis + rank } else { axis };
        let parents = parts.iter().map(|p| p.id).collect();
        Ok(self.record(y, parents, move |cx, g, need| {
            let mut at = 0i64;
            let mut out = Vec::with_capacity(sizes.len());
            for (s, &want) in sizes.iter().zip(need) {
                let len = s[ax as usize] as i64;
                out.push(if want {
                    Some(cx.b.slice(&g, &[at], &[at + len], &[ax], &[1])?)
                } else {
                    None
                });
                at += len;
            }
            Ok(out)
        }))
    }

    fn add(&self, a: &T<B>, b: &T<B>) -> Result<T<B>> {
        let y = self.b.add(&a.t, &b.t)?;
        Ok(self.record(y, vec![a.id, b.id], |_, g, need| {
            Ok(vec![need[0].then(|| g.clone()), need[1].then_some(g)])
        }))
    }

    fn sub(&self, a: &T<B>, b: &T<B>) -> Result<T<B>> {
        let y = self.b.sub(&a.t, &b.t)?;
        Ok(self.record(y, vec![a.id, b.id], |cx, g, need| {
            let db = if need[1] { Some(cx.b.neg(&g)?) } else { None };
            Ok(vec![need[0].then_some(g), db])
        }))
    }

    fn neg(&self, x: &T<B>) -> Result<T<B>> {
        let y = self.b.neg(&x.t)?;
        Ok(self.record(y, vec![x.id], |cx, g, _| Ok(vec![Some(cx.b.neg(&g)?)])))
    }

    fn add_public(&self, x: &T<B>, c: &F32Tensor) -> Result<T<B>> {
        let y = self.b.add_public(&x.t, c)?;
        Ok(self.record(y, vec![x.id], |_, g, _| Ok(vec![Some(g)])))
    }

    fn scale_sum(&mut self, terms: &[(&T<B>, f64)]) -> Result<T<B>> {
        let inner: Vec<(&B::T, f64)> = terms.iter().map(|(x, c)| (&x.t, *c)).collect();
        let y = self.b.scale_sum(&inner)?;
        let coefs: Vec<f64> = terms.iter().map(|(_, c)| *c).collect();
        let parents = terms.iter().map(|(x, _)| x.id).collect();
        Ok(self.record(y, parents, move |cx, g, need| {
            // Every scaled gradient in one truncation.
            let wanted: Vec<(&B::T, f64)> = coefs
                .iter()
                .zip(need)
                .filter(|&(&c, &w)| w && c != 1.0)
                .map(|(&c, _)| (&g, c))
                .collect();
            let mut scaled = cx.b.scale_many(&wanted)?.into_iter();
            let mut out = Vec::with_capacity(coefs.len());
            for (&c, &w) in coefs.iter().zip(need) {
                out.push(match (w, c == 1.0) {
                    (false, _) => None,
                    (true, true) => Some(g.clone()),
                    (true, false) => scaled.next(),
                });
            }
            Ok(out)
        }))
    }
}
