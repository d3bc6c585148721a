//! [`AutodiffBackend`] for the f32 plaintext backend and for the private backend of any protocol.
//!
//! Private costs (n elements; the comparison and product costs are the protocol's, see
//! `func::compare` and the protocol tables):
//! * `relu_masked`: one MSB circuit on n and one bit product (as ReLU); `mul_mask`: one bit
//!   product round, exact.
//! * `max_onehot`: the argmax tournament of `func::reduce`; `mul_onehot`: one product round, no
//!   truncation.
//! * `gather`, `scatter_add`, `reshape`, `add`, `sub`, `lift`: local.
//! * `scale_many`: local products and one truncation for all items.
//! * convolution gradients: one bilinear product each (`BilinearOp::Conv2dGradInput`,
//!   `Conv2dGradWeight`: 1 round, the openings of both operands) and one truncation.
//! * `zero_above`: one sign gate on 2n elements (`Protocol::ltz_bits_many`: the MSB circuit by
//!   default, FSS keys on 2pc-fss; g − t and −t − g together; the element is kept when both are
//!   negative, i.e. when the two bits agree, so the AND is a free XOR) and one bit product round
//!   on n: rounds = sign-gate rounds + 1. CrypTen squares g and compares with t² (a product round
//!   more).

use super::{AutodiffBackend, ConvAttrs, IndexMap};
use crate::error::{Error, Result};
use crate::func::binary::{not_bits, slice_bits};
use crate::func::{approx, compare, fixed, reduce};
use crate::nn::graph::Const;
use crate::nn::plain::PlainBackend;
use crate::nn::private::PrivateBackend;
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;
use crate::protocol::{BilinearOp, Protocol};
use crate::ring::{Conv2dParams, RingTensor};
use std::borrow::Cow;

/// An f32 operand, borrowed when it is backend data or a public f32 constant.
fn f32_of(v: &Value<F32Tensor>) -> Result<Cow<'_, F32Tensor>> {
    match v {
        Value::Data(t) | Value::Public(Const::F32(t)) => Ok(Cow::Borrowed(t)),
        other => Ok(Cow::Owned(other.public_f32("an operand")?)),
    }
}

impl AutodiffBackend for PlainBackend {
    type Mask = F32Tensor;

    fn scale_many(&mut self, items: &[(&F32Tensor, f64)]) -> Result<Vec<F32Tensor>> {
        Ok(items.iter().map(|(x, c)| x.scale(*c as f32)).collect())
    }

    fn sub_scaled_many(&mut self, items: Vec<(&mut F32Tensor, &F32Tensor, f64)>) -> Result<()> {
        for (p, g, c) in items {
            if p.shape() != g.shape() {
                return Err(Error::shape(
                    "sgd",
                    format!("gradient {:?} for {:?}", g.shape(), p.shape()),
                ));
            }
            let c = c as f32;
            p.data_mut().iter_mut().zip(g.data()).for_each(|(w, &d)| *w -= c * d);
        }
        Ok(())
    }

    fn relu_masked(&mut self, x: &F32Tensor) -> Result<(F32Tensor, F32Tensor)> {
        Ok((x.relu(), x.map(|v| if v > 0.0 { 1.0 } else { 0.0 })))
    }

    fn mul_mask(&mut self, g: &F32Tensor, m: &F32Tensor) -> Result<F32Tensor> {
        g.mul(m)
    }

    fn max_onehot(&mut self, x: &F32Tensor) -> Result<(F32Tensor, F32Tensor)> {
        let s = x.shape();
        let k = *s.last().ok_or_else(|| Error::shape("max", "needs an axis"))?;
        let mut vals = Vec::with_capacity(x.numel() / k.max(1));
        let mut oh = vec![0.0f32; x.numel()];
        if k > 0 {
            for (r, row) in x.data().chunks_exact(k).enumerate() {
                let (mut best, mut at) = (row[0], 0);
                for (j, &v) in row.iter().enumerate() {
                    if v > best {
                        best = v;
                        at = j;
                    }
                }
                vals.push(best);
                oh[r * k + at] = 1.0;
            }
        }
        Ok((
            F32Tensor::from_vec(&s[..s.len() - 1], vals)?,
            F32Tensor::from_vec(s, oh)?,
        ))
    }

    fn mul_onehot(&mut self, g: &F32Tensor, onehot: &F32Tensor) -> Result<F32Tensor> {
        g.mul(onehot)
    }

    fn gather_map(&self, x: &F32Tensor, map: &IndexMap) -> Result<F32Tensor> {
        check_in(map, x.shape())?;
        F32Tensor::from_vec(&map.out_shape, map.gather_slice(x.data(), 0.0))
    }

    fn scatter_add(&self, g: &F32Tensor, map: &IndexMap) -> Result<F32Tensor> {
        check_out(map, g.shape())?;
        F32Tensor::from_vec(&map.in_shape, map.scatter_slice(g.data(), 0.0, |a, b| a + b))
    }

    fn conv_grad_input(
        &mut self,
        dy: &F32Tensor,
        w: &Value<F32Tensor>,
        c: &ConvAttrs,
        input: &[usize],
    ) -> Result<F32Tensor> {
        let w = f32_of(w)?;
        dy.conv_grad_input(&w, input, &c.strides, &c.pads, &c.dilations, c.group)
    }

    fn conv_grad_weight(
        &mut self,
        x: &Value<F32Tensor>,
        dy: &F32Tensor,
        c: &ConvAttrs,
        kernel: &[usize],
    ) -> Result<F32Tensor> {
        f32_of(x)?.conv_grad_weight(dy, kernel, &c.strides, &c.pads, &c.dilations, c.group)
    }

    fn inv_sqrt(&mut self, x: &F32Tensor) -> Result<F32Tensor> {
        Ok(x.map(|v| 1.0 / v.sqrt()))
    }

    fn zero_above(&mut self, g: &F32Tensor, threshold: f64) -> Result<F32Tensor> {
        let t = threshold as f32;
        Ok(g.map(|v| if v.abs() > t { 0.0 } else { v }))
    }
}

fn check_in(map: &IndexMap, shape: &[usize]) -> Result<()> {
    if map.in_shape != shape {
        return Err(Error::shape(
            "gather",
            format!("index map for {:?} applied to {shape:?}", map.in_shape),
        ));
    }
    Ok(())
}

fn check_out(map: &IndexMap, shape: &[usize]) -> Result<()> {
    if map.out_shape != shape {
        return Err(Error::shape(
            "scatter_add",
            format!("index map to {:?} applied to {shape:?}", map.out_shape),
        ));
    }
    Ok(())
}

/// 2-D convolution parameters (and 4-D views of 1-D operands) of `c` for input rank `rank`.
fn conv2d_params(c: &ConvAttrs, rank: usize) -> Result<Conv2dParams> {
    let sp = rank.saturating_sub(2);
    let at = |v: &[usize], i: usize, d: usize| v.get(i).copied().unwrap_or(d);
    let sym = c.pads.is_empty() || (c.pads.len() == 2 * sp && (0..sp).all(|i| c.pads[i] == c.pads[i + sp]));
    if !(1..=2).contains(&sp) || !sym {
        return Err(Error::invalid(
            "conv",
            "private training supports 1-D/2-D convolutions with symmetric padding",
        ));
    }
    Ok(if sp == 1 {
        Conv2dParams {
            stride: [1, at(&c.strides, 0, 1)],
            padding: [0, at(&c.pads, 0, 0)],
            dilation: [1, at(&c.dilations, 0, 1)],
            groups: c.group,
        }
    } else {
        Conv2dParams {
            stride: [at(&c.strides, 0, 1), at(&c.strides, 1, 1)],
            padding: [at(&c.pads, 0, 0), at(&c.pads, 1, 0)],
            dilation: [at(&c.dilations, 0, 1), at(&c.dilations, 1, 1)],
            groups: c.group,
        }
    })
}

/// `[N, C, L]` → `[N, C, 1, L]`; 4-D shapes unchanged.
fn as_4d(s: &[usize]) -> Vec<usize> {
    if s.len() == 3 {
        vec![s[0], s[1], 1, s[2]]
    } else {
        s.to_vec()
    }
}

impl<P: Protocol> PrivateBackend<'_, P> {
    fn value_4d(&self, v: &Value<P::Share>) -> Result<Value<P::Share>> {
        Ok(match v {
            Value::Data(x) => {
                let s = as_4d(self.p.shape(x));
                Value::Data(self.p.linear(x, &|t| t.clone().reshape(&s))?)
            }
            other => {
                let t = other.public_f32("a convolution operand")?;
                let s = as_4d(t.shape());
                Value::Public(Const::F32(t.reshape_exact(&s)?))
            }
        })
    }
}

impl<P: Protocol> AutodiffBackend for PrivateBackend<'_, P> {
    type Mask = P::BitShare;

    fn scale_many(&mut self, items: &[(&P::Share, f64)]) -> Result<Vec<P::Share>> {
        let raw: Vec<P::Share> = items
            .iter()
            .map(|(x, c)| self.p.mul_scalar(x, fixed::encode_const(self.p, *c)))
            .collect::<Result<_>>()?;
        let bits = self.p.frac_bits();
        self.p.truncate_many(raw, bits)
    }

    fn relu_masked(&mut self, x: &P::Share) -> Result<(P::Share, P::BitShare)> {
        let n = crate::ring::numel(self.p.shape(x));
        let neg = compare::ltz_bits(self.p, x)?;
        let pos = not_bits(self.p, &neg, n)?;
        let y = compare::mul_bits(self.p, x, &pos)?;
        Ok((y, pos))
    }

    fn mul_mask(&mut self, g: &P::Share, m: &P::BitShare) -> Result<P::Share> {
        compare::mul_bits(self.p, g, m)
    }

    fn max_onehot(&mut self, x: &P::Share) -> Result<(P::Share, P::Share)> {
        let last = self.p.shape(x).len().saturating_sub(1);
        reduce::argmax(self.p, x, last)
    }

    fn mul_onehot(&mut self, g: &P::Share, onehot: &P::Share) -> Result<P::Share> {
        fixed::mul_by_int_share(self.p, g, onehot)
    }

    fn gather_map(&self, x: &P::Share, map: &IndexMap) -> Result<P::Share> {
        check_in(map, self.p.shape(x))?;
        self.p.linear(x, &|t| {
            RingTensor::from_vec(&map.out_shape, map.gather_slice(t.data(), 0u64))
        })
    }

    fn scatter_add(&self, g: &P::Share, map: &IndexMap) -> Result<P::Share> {
        check_out(map, self.p.shape(g))?;
        self.p.linear(g, &|t| {
            RingTensor::from_vec(&map.in_shape, map.scatter_slice(t.data(), 0u64, u64::wrapping_add))
        })
    }

    fn conv_grad_input(
        &mut self,
        dy: &P::Share,
        w: &Value<P::Share>,
        c: &ConvAttrs,
        input: &[usize],
    ) -> Result<P::Share> {
        let params = conv2d_params(c, input.len())?;
        let x4 = as_4d(input);
        let dy4 = self.value_4d(&Value::Data(dy.clone()))?;
        let w4 = self.value_4d(w)?;
        let op = BilinearOp::Conv2dGradInput {
            params,
            input: [x4[2], x4[3]],
        };
        let dx = self.bilinear_values(&dy4, &w4, op)?;
        self.p.linear(&dx, &|t| t.clone().reshape(input))
    }

    fn conv_grad_weight(
        &mut self,
        x: &Value<P::Share>,
        dy: &P::Share,
        c: &ConvAttrs,
        kernel: &[usize],
    ) -> Result<P::Share> {
        let rank = kernel.len() + 2;
        let params = conv2d_params(c, rank)?;
        let k = if kernel.len() == 1 {
            [1, kernel[0]]
        } else {
            [kernel[0], kernel[1]]
        };
        let x4 = self.value_4d(x)?;
        let dy4 = self.value_4d(&Value::Data(dy.clone()))?;
        let dw = self.bilinear_values(&x4, &dy4, BilinearOp::Conv2dGradWeight { params, kernel: k })?;
        let ws = self.p.shape(&dw).to_vec();
        let out: Vec<usize> = if kernel.len() == 1 {
            vec![ws[0], ws[1], ws[3]]
        } else {
            ws
        };
        self.p.linear(&dw, &|t| t.clone().reshape(&out))
    }

    fn inv_sqrt(&mut self, x: &P::Share) -> Result<P::Share> {
        let iters = self.p.functions().layernorm_nr_iters;
        approx::inv_sqrt_iters(self.p, x, iters)
    }

    fn zero_above(&mut self, g: &P::Share, threshold: f64) -> Result<P::Share> {
        let shape = self.p.shape(g).to_vec();
        let n = crate::ring::numel(&shape);
        let hi = fixed::add_const(self.p, g, -threshold)?;
        let neg = self.p.neg(g)?;
        let lo = fixed::add_const(self.p, &neg, -threshold)?;
        let both = self.p.linear2(&hi, &lo, &|u, v| {
            RingTensor::concat(&[&u.clone().reshape(&[n])?, &v.clone().reshape(&[n])?], 0)
        })?;
        // The family's sign gate (the MSB circuit by default; FSS keys on 2pc-fss).
        let m = compare::ltz_bits(self.p, &both)?;
        let (below, above) = (slice_bits(self.p, &m, 0, n)?, slice_bits(self.p, &m, n, n)?);
        let differ = self.p.xor(&below, &above)?;
        let keep = not_bits(self.p, &differ, n)?;
        compare::mul_bits(self.p, g, &keep)
    }
}
