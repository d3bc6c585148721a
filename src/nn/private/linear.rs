//! Movement and linear maps on shares. Every movement runs its plaintext definition on index
//! tensors once and gathers each share component by the result ([`PrivateBackend::move_data`]);
//! reshapes only relabel the shape. Sums, differences and public additions are local.
//!
//! Cost: everything here is local except [`LinearOps::scale_sum`], one truncation of the output
//! (a product with public reals, e.g. `fixed::mul_const`).

use super::PrivateBackend;
use super::cost::{Call, CostBackend};
use crate::error::Result;
use crate::func::fixed;
use crate::nn::ops::{LinearOps, PadMode};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::F32Tensor;
use crate::protocol::Protocol;
use crate::ring::{RingTensor, numel};

impl<P: Protocol> LinearOps for PrivateBackend<'_, P> {
    fn reshape(&self, x: &P::Share, shape: &[usize]) -> Result<P::Share> {
        self.p.linear(x, &|t| t.clone().reshape(shape))
    }

    fn transpose(&self, x: &P::Share, perm: &[usize]) -> Result<P::Share> {
        self.move_data(x, &|t| t.transpose(perm))
    }

    fn slice(&self, x: &P::Share, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<P::Share> {
        self.move_data(x, &|t| t.slice(starts, ends, axes, steps))
    }

    fn pad(&self, x: &P::Share, pads: &[i64], mode: PadMode<f32>) -> Result<P::Share> {
        let value = match mode {
            // Edge and reflect padding only copy existing elements: an index map on the shares.
            PadMode::Edge | PadMode::Reflect => return self.move_data(x, &|t| t.pad_mode(pads, mode)),
            PadMode::Constant(v) => v,
        };
        let y = self.move_data(x, &|t| t.pad(pads, 0.0))?;
        if value == 0.0 {
            return Ok(y);
        }
        // A non-zero pad value: pad with zeros, then add the value at the padded positions.
        let ones = F32Tensor::full(self.p.shape(x), 1.0);
        let filled = ones.pad(pads, 0.0)?.map(|m| (1.0 - m) * value);
        self.p.add_public(&y, &self.enc(&filled)?)
    }

    fn gather(&self, x: &P::Share, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<P::Share> {
        self.move_data(x, &|t| t.gather(axis, indices, indices_shape))
    }

    fn expand(&self, x: &P::Share, shape: &[usize]) -> Result<P::Share> {
        if self.p.shape(x) == shape {
            return Ok(x.clone());
        }
        self.move_data(x, &|t| t.broadcast_to(shape))
    }

    fn concat(&self, parts: &[&P::Share], axis: i64) -> Result<P::Share> {
        // Each part's data placed by an index map over the stacked parts.
        let shapes: Vec<Vec<usize>> = parts.iter().map(|x| self.p.shape(x).to_vec()).collect();
        let flat: Vec<P::Share> = parts
            .iter()
            .map(|x| self.p.linear(x, &|t| t.clone().reshape(&[t.len()])))
            .collect::<Result<_>>()?;
        let (first, rest) = flat
            .split_first()
            .ok_or_else(|| crate::error::Error::invalid("concat", "no inputs"))?;
        let mut all = first.clone();
        for f in rest {
            all = self.p.linear2(&all, f, &|a, b| RingTensor::concat(&[a, b], 0))?;
        }
        self.move_data(&all, &|t| {
            let mut at = 0;
            let mut pieces = Vec::with_capacity(shapes.len());
            for s in &shapes {
                let n = numel(s);
                pieces.push(F32Tensor::from_vec(s, t.data()[at..at + n].to_vec())?);
                at += n;
            }
            let refs: Vec<&F32Tensor> = pieces.iter().collect();
            F32Tensor::concat(&refs, axis)
        })
    }

    fn split(&self, x: &P::Share, axis: usize, sizes: &[usize]) -> Result<Vec<P::Share>> {
        let mut at = 0;
        let mut outs = Vec::with_capacity(sizes.len());
        for &s in sizes {
            outs.push(self.p.linear(x, &|t| t.slice(axis, at, at + s))?);
            at += s;
        }
        Ok(outs)
    }

    fn add(&self, a: &P::Share, b: &P::Share) -> Result<P::Share> {
        self.p.add(a, b)
    }

    fn sub(&self, a: &P::Share, b: &P::Share) -> Result<P::Share> {
        self.p.sub(a, b)
    }

    fn neg(&self, x: &P::Share) -> Result<P::Share> {
        self.p.neg(x)
    }

    fn add_public(&self, x: &P::Share, c: &F32Tensor) -> Result<P::Share> {
        self.p.add_public(x, &self.enc(c)?)
    }

    fn scale_sum(&mut self, terms: &[(&P::Share, f64)]) -> Result<P::Share> {
        let mut acc: Option<P::Share> = None;
        for (x, c) in terms {
            let y = self.p.mul_scalar(x, fixed::encode_const(self.p, *c))?;
            acc = Some(match acc {
                None => y,
                Some(a) => self.p.add(&a, &y)?,
            });
        }
        let sum = acc.ok_or_else(|| crate::error::Error::invalid("scale_sum", "no terms"))?;
        let bits = self.p.frac_bits();
        Ok(self.p.truncate_many(vec![sum], bits)?.remove(0))
    }
}

/// Declared cost: movement is free (shapes from the plaintext definitions), `scale_sum` one
/// truncation.
impl LinearOps for CostBackend {
    fn reshape(&self, x: &F32Tensor, shape: &[usize]) -> Result<F32Tensor> {
        PlainBackend.reshape(x, shape)
    }

    fn transpose(&self, x: &F32Tensor, perm: &[usize]) -> Result<F32Tensor> {
        PlainBackend.transpose(x, perm)
    }

    fn slice(&self, x: &F32Tensor, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<F32Tensor> {
        PlainBackend.slice(x, starts, ends, axes, steps)
    }

    fn pad(&self, x: &F32Tensor, pads: &[i64], mode: PadMode<f32>) -> Result<F32Tensor> {
        PlainBackend.pad(x, pads, mode)
    }

    fn gather(&self, x: &F32Tensor, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<F32Tensor> {
        PlainBackend.gather(x, axis, indices, indices_shape)
    }

    fn expand(&self, x: &F32Tensor, shape: &[usize]) -> Result<F32Tensor> {
        PlainBackend.expand(x, shape)
    }

    fn concat(&self, parts: &[&F32Tensor], axis: i64) -> Result<F32Tensor> {
        PlainBackend.concat(parts, axis)
    }

    fn add(&self, a: &F32Tensor, b: &F32Tensor) -> Result<F32Tensor> {
        PlainBackend.add(a, b)
    }

    fn sub(&self, a: &F32Tensor, b: &F32Tensor) -> Result<F32Tensor> {
        PlainBackend.sub(a, b)
    }

    fn neg(&self, x: &F32Tensor) -> Result<F32Tensor> {
        PlainBackend.neg(x)
    }

    fn add_public(&self, x: &F32Tensor, c: &F32Tensor) -> Result<F32Tensor> {
        PlainBackend.add_public(x, c)
    }

    fn scale_sum(&mut self, terms: &[(&F32Tensor, f64)]) -> Result<F32Tensor> {
        let y = PlainBackend.scale_sum(terms)?;
        self.call(Call::Trunc(y.numel()));
        Ok(y)
    }
}
