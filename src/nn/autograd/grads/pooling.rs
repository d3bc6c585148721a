//! Pooling on the recording backend, with its backward rules (g the output gradient):
//! * max pooling: the windows are gathered by an index map, the max and its one-hot argmax taken
//!   over each window; backward spreads g over the window by the one-hot and scatters it back;
//! * average pooling: g divided by each window's divisor, spread over the window and scattered
//!   back.
//!
//! Global average pooling is the default body (a mean), so its gradient comes from the sum; global
//! max pooling has no rule. Training supports 1-D and 2-D windows with symmetric padding and no
//! dilation.

use super::super::ctx::Ctx;
use super::super::record::{Autodiff, Tracked};
use super::super::{AutodiffBackend, IndexMap};
use crate::error::{Error, Result};
use crate::nn::graph::{Const, Op};
use crate::nn::ops::{Backend, PoolAttrs, PoolOps};
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;
use crate::ring::pool::avg_pool2d_divisors;
use std::sync::Arc;

type T<B> = Tracked<<B as Backend>::T>;

/// Pooling geometry as 2-D: the input shape as 4-D, kernel, strides, symmetric pads.
struct PoolGeom {
    x4: Vec<usize>,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
}

impl PoolGeom {
    fn of(xs: &[usize], a: &PoolAttrs) -> Result<Self> {
        let (kernel, strides, pads) = (&a.kernel, &a.strides, &a.pads);
        let sp = kernel.len();
        let sym = pads.len() == 2 * sp && (0..sp).all(|i| pads[i] == pads[i + sp]);
        if !(1..=2).contains(&sp) || xs.len() != sp + 2 || !(sym || pads.is_empty()) {
            return Err(Error::invalid(
                "pooling",
                "training supports 1-D/2-D pooling with symmetric padding",
            ));
        }
        if a.dilations.iter().any(|&d| d != 1) {
            return Err(Error::invalid("pooling", "training supports pooling without dilation"));
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

    /// The window gather as an index map (input → `[N, C, OH, OW, window]`).
    fn map<B: AutodiffBackend>(&self, cx: &mut Ctx<'_, B>, ceil: bool) -> Result<Arc<IndexMap>> {
        let (k, s, p) = (self.k, self.s, self.p);
        let key = format!("unfold {:?} {k:?} {s:?} {p:?} {ceil}", self.x4);
        cx.maps
            .get(key, || IndexMap::of_ring(&self.x4, &|t| t.unfold2d(k, s, p, ceil, 0)))
    }
}

impl<'t, B: AutodiffBackend + 't> PoolOps for Autodiff<'_, 't, B> {
    fn max_pool(&mut self, x: &T<B>, a: &PoolAttrs) -> Result<T<B>> {
        if x.id.is_none() {
            return Ok(Tracked {
                t: self.b.max_pool(&x.t, a)?,
                id: None,
            });
        }
        let xs = self.b.shape_of(&x.t);
        let geo = PoolGeom::of(&xs, a)?;
        let mut cx = self.cx();
        let map = geo.map(&mut cx, a.ceil_mode)?;
        let x4 = cx.b.reshape(&x.t, &geo.x4)?;
        let mut w = cx.b.gather_map(&x4, &map)?;
        if map.src.contains(&IndexMap::NONE) {
            // Padding never wins: a public value far below any input.
            let low: Vec<f32> = map
                .src
                .iter()
                .map(|&s| if s == IndexMap::NONE { -16_777_216.0 } else { 0.0 })
                .collect();
            let mask = Value::Public(Const::F32(F32Tensor::from_vec(&map.out_shape, low)?));
            w = cx.t(Op::Add, &[&Value::Data(w), &mask])?;
        }
        let (v, onehot) = cx.b.max_onehot(&w)?;
        let mut ys = xs[..2].to_vec();
        ys.extend_from_slice(&map.out_shape[if xs.len() == 3 { 3 } else { 2 }..4]);
        let y = cx.b.reshape(&v, &ys)?;
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            let os = &map.out_shape;
            let g5 = cx.b.reshape(&g, &[os[0], os[1], os[2], os[3], 1])?;
            let spread = cx.expand(g5, os)?;
            let picked = cx.b.mul_onehot(&spread, &onehot)?;
            let dx = cx.b.scatter_add(&picked, &map)?;
            Ok(vec![Some(cx.b.reshape(&dx, &xs)?)])
        }))
    }

    fn avg_pool(&mut self, x: &T<B>, a: &PoolAttrs, count_include_pad: bool) -> Result<T<B>> {
        let y = self.b.avg_pool(&x.t, a, count_include_pad)?;
        if x.id.is_none() {
            return Ok(Tracked { t: y, id: None });
        }
        let xs = self.b.shape_of(&x.t);
        let geo = PoolGeom::of(&xs, a)?;
        let ceil = a.ceil_mode;
        Ok(self.record(y, vec![x.id], move |cx, g, _| {
            let map = geo.map(cx, ceil)?;
            let os = map.out_shape.clone();
            let div = avg_pool2d_divisors([geo.x4[2], geo.x4[3]], geo.k, geo.s, geo.p, ceil, count_include_pad)?;
            let inv: Vec<f32> = div.iter().map(|&d| 1.0 / d as f32).collect();
            let inv = Value::Public(Const::F32(F32Tensor::from_vec(&[1, 1, os[2], os[3]], inv)?));
            let g4 = Value::Data(cx.b.reshape(&g, &os[..4])?);
            let scaled = cx.mul(&g4, &inv)?;
            let g5 = cx.b.reshape(&scaled, &[os[0], os[1], os[2], os[3], 1])?;
            let spread = cx.expand(g5, &os)?;
            let dx = cx.b.scatter_add(&spread, &map)?;
            Ok(vec![Some(cx.b.reshape(&dx, &xs)?)])
        }))
    }
}
