//! Products on shares: matmul, Gemm, convolution, embedding lookups with one-hot ids and
//! elementwise products. A product with a public operand is a local ring product and one
//! truncation; two private operands use the protocol's Beaver or replicated product (with the
//! prepared form of a weight when the session prepared it).
//!
//! Declared cost (the [`CostBackend`] implementation below), n the output size:
//!
//! | op | calls |
//! |---|---|
//! | Mul | one fixed-point product of n: `mul` with two private operands, else a truncation |
//! | Div | public divisor: one truncation of n; private divisor: `reciprocal` of the divisor, then Mul |
//! | MatMul, Gemm, Conv, Gather with private ids | not declared here: the protocols' bilinear products are costed by their tables |

use super::cost::{CostBackend, product};
use super::{Prep, PrivateBackend, V};
use crate::error::{Error, Result};
use crate::func::fixed;
use crate::nn::graph::Const;
use crate::nn::ops::{ActivationOps, Backend, ConvAttrs, GemmAttrs, LinearOps, ProductOps, Weight};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::{F32Tensor, broadcast_shape};
use crate::nn::value::Value;
use crate::protocol::{BilinearOp, Protocol};
use crate::ring::{Conv1dParams, Conv2dParams};
use std::borrow::Cow;

impl<P: Protocol> PrivateBackend<'_, P> {
    /// A Gemm operand, transposed when `tr` (borrowed when not).
    fn gemm_operand<'v>(&self, v: &'v V<P>, tr: bool) -> Result<Cow<'v, V<P>>> {
        if !tr {
            return Ok(Cow::Borrowed(v));
        }
        Ok(Cow::Owned(match v {
            Value::Data(x) if self.p.shape(x).len() == 2 => Value::Data(self.p.linear(x, &|m| m.transpose())?),
            Value::Data(x) => Value::Data(self.move_data(x, &|m| m.transpose(&[1, 0]))?),
            other => Value::Public(Const::F32(other.public_f32("a Gemm operand")?.transpose(&[1, 0])?)),
        }))
    }
}

impl<'a, P: Protocol> PrivateBackend<'a, P> {
    /// Gemm's operands as the product takes them: op(A), op(B) (a prepared B already holds its
    /// transposed share) and the prepared form of B when there is one.
    #[allow(clippy::type_complexity)]
    fn gemm_operands<'v>(
        &self,
        a: &'v V<P>,
        b: &Weight<'v, P::Share>,
        g: GemmAttrs,
    ) -> Result<(Cow<'v, V<P>>, Cow<'v, V<P>>, Option<Prep<'a, P>>)> {
        let prep = if g.trans_a {
            None
        } else {
            self.prepared(b.name, g.trans_b)
        };
        let a = self.gemm_operand(a, g.trans_a)?;
        let bv = self.gemm_operand(b.value, g.trans_b && prep.is_none())?;
        Ok((a, bv, prep))
    }

    /// A convolution's input (explicitly padded when the padding is asymmetric) and its bilinear
    /// form.
    fn conv_input(&self, x: &P::Share, c: &ConvAttrs) -> Result<(P::Share, BilinearOp)> {
        let (strides, pads, dilations) = (&c.strides, &c.pads, &c.dilations);
        let xs = self.p.shape(x).to_vec();
        let spatial = xs.len().saturating_sub(2);
        if !(1..=2).contains(&spatial) || pads.len() != 2 * spatial {
            return Err(Error::invalid(
                "Conv",
                format!("only 1-D and 2-D convolutions are supported (input {xs:?})"),
            ));
        }
        // Asymmetric padding: pad explicitly, then convolve unpadded.
        let symmetric = (0..spatial).all(|i| pads[i] == pads[i + spatial]);
        let (x, pad) = if symmetric {
            (x.clone(), pads[..spatial].to_vec())
        } else {
            let mut full = vec![0i64; 2 * xs.len()];
            for i in 0..spatial {
                full[2 + i] = pads[i] as i64;
                full[xs.len() + 2 + i] = pads[spatial + i] as i64;
            }
            (self.move_data(x, &|t| t.pad(&full, 0.0))?, vec![0; spatial])
        };
        let op = if spatial == 2 {
            BilinearOp::Conv2d(Conv2dParams {
                stride: [strides[0], strides[1]],
                padding: [pad[0], pad[1]],
                dilation: [dilations[0], dilations[1]],
                groups: c.group,
            })
        } else {
            BilinearOp::Conv1d(Conv1dParams {
                stride: strides[0],
                padding: pad[0],
                dilation: dilations[0],
                groups: c.group,
            })
        };
        Ok((x, op))
    }

    /// A bias at the scale of an untruncated product (2^2f), to join it before the truncation.
    fn lift_bias(&mut self, b: &V<P>) -> Result<V<P>> {
        let bits = self.p.frac_bits();
        Ok(match b {
            Value::Data(b) => Value::Data(self.p.mul_scalar(b, 1u64 << bits)?),
            Value::Encoded { ring, .. } => Value::Data(self.p.constant(&ring.map(|w| w << bits))),
            other => Value::Public(Const::F32(other.public_f32("a bias")?.scale((1u64 << bits) as f32))),
        })
    }

    /// Whether a product with this bias can hand its untruncated result to the protocol's fused
    /// truncation + ReLU (a bias encoded at another precision is not lifted).
    fn fuses_with(&self, bias: Option<&V<P>>) -> bool {
        let bits = self.p.frac_bits();
        self.p.fuses_trunc_relu() && !matches!(bias, Some(Value::Encoded { frac, .. }) if *frac != bits)
    }

    /// y + bias, the bias (one value per channel) broadcast over axis 1.
    fn add_channel_bias(&mut self, y: P::Share, bias: Option<&V<P>>) -> Result<P::Share> {
        match bias {
            None => Ok(y),
            Some(b) => {
                let ys = self.p.shape(&y).to_vec();
                let mut bshape = vec![1; ys.len()];
                bshape[1] = ys[1];
                let b = self.reshape_value(b, &bshape)?;
                self.add_values(&Value::Data(y), &b, false)
            }
        }
    }
}

impl<P: Protocol> ProductOps for PrivateBackend<'_, P> {
    fn matmul(&mut self, a: &V<P>, b: Weight<'_, P::Share>) -> Result<P::Share> {
        let prep = self.prepared(b.name, false);
        self.product_with(a, b.value, BilinearOp::MatMul, prep)
    }

    fn gemm(&mut self, a: &V<P>, b: Weight<'_, P::Share>, c: Option<&V<P>>, g: GemmAttrs) -> Result<P::Share> {
        let (a, bv, prep) = self.gemm_operands(a, &b, g)?;
        let mut y = self.product_with(&a, &bv, BilinearOp::MatMul, prep)?;
        if g.alpha != 1.0 {
            y = fixed::mul_const(self.p, &y, g.alpha as f64)?;
        }
        if let Some(c) = c {
            let c = match c {
                Value::Public(k) if g.beta != 1.0 => {
                    Value::Public(Const::F32(crate::nn::value::as_f32(k)?.scale(g.beta)))
                }
                Value::Data(k) if g.beta != 1.0 => Value::Data(fixed::mul_const(self.p, k, g.beta as f64)?),
                // A pre-encoded bias is added as the share of its encoding.
                Value::Encoded { .. } => Value::Data(self.data(c)?),
                other => other.clone(),
            };
            y = self.add_values(&Value::Data(y), &c, false)?;
        }
        Ok(y)
    }

    fn conv(&mut self, x: &P::Share, w: Weight<'_, P::Share>, bias: Option<&V<P>>, c: &ConvAttrs) -> Result<P::Share> {
        let (x, op) = self.conv_input(x, c)?;
        let prep = self.prepared(w.name, false);
        let y = self.product_with(&Value::Data(x), w.value, op, prep)?;
        self.add_channel_bias(y, bias)
    }

    fn conv_relu(
        &mut self,
        x: &P::Share,
        w: Weight<'_, P::Share>,
        bias: Option<&V<P>>,
        c: &ConvAttrs,
    ) -> Result<P::Share> {
        if !self.fuses_with(bias) {
            let y = self.conv(x, w, bias, c)?;
            return self.relu(&y);
        }
        let (x, op) = self.conv_input(x, c)?;
        let prep = self.prepared(w.name, false);
        let raw = self.raw_product_with(&Value::Data(x), w.value, op, prep)?;
        let lifted = bias.map(|b| self.lift_bias(b)).transpose()?;
        let raw = self.add_channel_bias(raw, lifted.as_ref())?;
        Ok(self.p.trunc_relu_many(vec![raw], self.p.frac_bits())?.remove(0))
    }

    fn gemm_relu(&mut self, a: &V<P>, b: Weight<'_, P::Share>, c: Option<&V<P>>, g: GemmAttrs) -> Result<P::Share> {
        // Scaled products (alpha, beta ≠ 1) keep their own truncations.
        if !self.fuses_with(c) || g.alpha != 1.0 || g.beta != 1.0 {
            let y = self.gemm(a, b, c, g)?;
            return self.relu(&y);
        }
        let (a, bv, prep) = self.gemm_operands(a, &b, g)?;
        let mut raw = self.raw_product_with(&a, &bv, BilinearOp::MatMul, prep)?;
        if let Some(c) = c {
            let lifted = self.lift_bias(c)?;
            raw = self.add_values(&Value::Data(raw), &lifted, false)?;
        }
        Ok(self.p.trunc_relu_many(vec![raw], self.p.frac_bits())?.remove(0))
    }

    fn embed(&mut self, table: Weight<'_, P::Share>, onehot: &P::Share) -> Result<P::Share> {
        let prep = self.prepared(table.name, false);
        self.product_with(&Value::Data(onehot.clone()), table.value, BilinearOp::MatMul, prep)
    }

    fn mul(&mut self, a: &V<P>, b: &V<P>) -> Result<P::Share> {
        let out = broadcast_shape(&self.value_shape(a), &self.value_shape(b))?;
        let widen = |this: &Self, v: &V<P>| -> Result<V<P>> {
            Ok(match v {
                Value::Data(x) => Value::Data(this.expand(x, &out)?),
                other => Value::Public(Const::F32(other.public_f32("a factor")?.broadcast_to(&out)?)),
            })
        };
        let (a, b) = (widen(self, a)?, widen(self, b)?);
        self.product(&a, &b, BilinearOp::Mul)
    }
}

impl ProductOps for CostBackend {
    fn matmul(&mut self, a: &Value<F32Tensor>, b: Weight<'_, F32Tensor>) -> Result<F32Tensor> {
        self.undeclared();
        PlainBackend.matmul(a, b)
    }

    fn gemm(
        &mut self,
        a: &Value<F32Tensor>,
        b: Weight<'_, F32Tensor>,
        c: Option<&Value<F32Tensor>>,
        g: GemmAttrs,
    ) -> Result<F32Tensor> {
        self.undeclared();
        PlainBackend.gemm(a, b, c, g)
    }

    fn conv(
        &mut self,
        x: &F32Tensor,
        w: Weight<'_, F32Tensor>,
        bias: Option<&Value<F32Tensor>>,
        c: &ConvAttrs,
    ) -> Result<F32Tensor> {
        self.undeclared();
        PlainBackend.conv(x, w, bias, c)
    }

    fn embed(&mut self, table: Weight<'_, F32Tensor>, onehot: &F32Tensor) -> Result<F32Tensor> {
        self.undeclared();
        PlainBackend.embed(table, onehot)
    }

    fn mul(&mut self, a: &Value<F32Tensor>, b: &Value<F32Tensor>) -> Result<F32Tensor> {
        let y = PlainBackend.mul(a, b)?;
        self.call(product(a.is_data() && b.is_data(), y.numel()));
        Ok(y)
    }
}
