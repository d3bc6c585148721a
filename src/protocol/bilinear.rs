//! Bilinear ring operations: the products a Beaver triple (or a replicated product) can compute.
//!
//! Elementwise mul, matmul and convolutions are all maps f(x, y) that are linear in each argument,
//! so one protocol routine covers them: it needs only to apply f to public and shared tensors and to
//! know f's output shape. Their parameters travel to the dealer inside a request, so each op also
//! encodes itself as a few words.

use crate::error::{Error, Result};
use crate::ring::conv::{grad_input_shape, grad_weight_shape};
use crate::ring::{Conv1dParams, Conv2dParams, RingTensor};
use rayon::prelude::*;

/// A map linear in each of its two arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BilinearOp {
    /// Elementwise product of same-shaped tensors.
    Mul,
    /// Matrix product, 2-D or batched (see [`RingTensor::matmul`]).
    MatMul,
    /// 1-D convolution: x is the input `[N, C, L]`, y the weight `[O, C/g, k]`.
    Conv1d(Conv1dParams),
    /// 2-D convolution: x is the input `[N, C, H, W]`, y the weight `[O, C/g, kh, kw]`.
    Conv2d(Conv2dParams),
    /// Weight gradient of a 2-D convolution (training): x is the input `[N, C, H, W]`, y the
    /// output gradient `[N, O, Ho, Wo]`, the result `[O, C/g, kh, kw]` for kernel `kernel`.
    Conv2dGradWeight { params: Conv2dParams, kernel: [usize; 2] },
    /// Input gradient of a 2-D convolution (training): x is the output gradient
    /// `[N, O, Ho, Wo]`, y the weight `[O, C/g, kh, kw]`, the result `[N, C, H, W]` with
    /// `input` = (H, W).
    Conv2dGradInput { params: Conv2dParams, input: [usize; 2] },
}

impl BilinearOp {
    /// Short name for errors and reports.
    pub fn name(&self) -> &'static str {
        match self {
            BilinearOp::Mul => "mul",
            BilinearOp::MatMul => "matmul",
            BilinearOp::Conv1d(_) => "conv1d",
            BilinearOp::Conv2d(_) => "conv2d",
            BilinearOp::Conv2dGradWeight { .. } => "conv2d_grad_weight",
            BilinearOp::Conv2dGradInput { .. } => "conv2d_grad_input",
        }
    }

    /// f(x, y) on plain ring tensors.
    pub fn apply(&self, x: &RingTensor, y: &RingTensor) -> Result<RingTensor> {
        match self {
            BilinearOp::Mul => x.mul(y),
            BilinearOp::MatMul => x.matmul(y),
            BilinearOp::Conv1d(p) => x.conv1d(y, p),
            BilinearOp::Conv2d(p) => x.conv2d(y, p),
            BilinearOp::Conv2dGradWeight { params, kernel } => x.conv2d_grad_weight(y, *kernel, params),
            BilinearOp::Conv2dGradInput { params, input } => x.conv2d_grad_input(y, *input, params),
        }
    }

    /// `out += f(x, y)` on plain ring tensors, with no temporary for the product (Beaver
    /// products sum several such terms); errors when `out` does not have f's output shape.
    pub fn apply_acc(&self, x: &RingTensor, y: &RingTensor, out: &mut RingTensor) -> Result<()> {
        match self {
            BilinearOp::Mul => {
                x.check_same_shape(y, "mul")?;
                out.check_same_shape(x, "mul")?;
                let (x, y) = (x.data(), y.data());
                out.data_mut()
                    .par_iter_mut()
                    .enumerate()
                    .with_min_len(1 << 12)
                    .for_each(|(i, z)| *z = z.wrapping_add(x[i].wrapping_mul(y[i])));
                Ok(())
            }
            BilinearOp::MatMul => x.matmul_acc(y, out),
            BilinearOp::Conv1d(p) => x.conv1d_acc(y, p, out),
            BilinearOp::Conv2d(p) => x.conv2d_acc(y, p, out),
            // Training-only gradients: computed into a temporary, then added.
            BilinearOp::Conv2dGradWeight { .. } | BilinearOp::Conv2dGradInput { .. } => {
                out.add_assign(&self.apply(x, y)?)
            }
        }
    }

    /// Shape of f(x, y), or the shape error f would raise.
    pub fn output_shape(&self, x: &[usize], y: &[usize]) -> Result<Vec<usize>> {
        match self {
            BilinearOp::Mul => {
                if x != y {
                    return Err(Error::shape("mul", format!("shapes {x:?} and {y:?} differ")));
                }
                Ok(x.to_vec())
            }
            BilinearOp::MatMul => {
                // Cheapest exact answer: multiply empty-content stand-ins would allocate; compute directly.
                matmul_shape(x, y)
            }
            BilinearOp::Conv1d(p) => p.output_shape(x, y),
            BilinearOp::Conv2d(p) => p.output_shape(x, y),
            BilinearOp::Conv2dGradWeight { params, kernel } => grad_weight_shape(x, y, *kernel, params),
            BilinearOp::Conv2dGradInput { params, input } => grad_input_shape(x, y, *input, params),
        }
    }

    /// Appends this op's encoding (tag + parameters) to `out`.
    pub fn encode(&self, out: &mut Vec<u64>) {
        match self {
            BilinearOp::Mul => out.push(0),
            BilinearOp::MatMul => out.push(1),
            BilinearOp::Conv1d(p) => {
                out.extend([2, p.stride as u64, p.padding as u64, p.dilation as u64, p.groups as u64])
            }
            BilinearOp::Conv2d(p) => {
                out.push(3);
                encode_conv2d(p, out);
            }
            BilinearOp::Conv2dGradWeight { params, kernel } => {
                out.push(4);
                encode_conv2d(params, out);
                out.extend(kernel.map(|k| k as u64));
            }
            BilinearOp::Conv2dGradInput { params, input } => {
                out.push(5);
                encode_conv2d(params, out);
                out.extend(input.map(|k| k as u64));
            }
        }
    }

    /// Reads an op from the front of `words`, advancing it; errors on unknown tags or short input.
    pub fn decode(words: &mut &[u64]) -> Result<Self> {
        let tag = take(words, 1)?[0];
        let op = match tag {
            0 => BilinearOp::Mul,
            1 => BilinearOp::MatMul,
            2 => {
                let w = take(words, 4)?;
                BilinearOp::Conv1d(Conv1dParams {
                    stride: small(w[0])?,
                    padding: small(w[1])?,
                    dilation: small(w[2])?,
                    groups: small(w[3])?,
                })
            }
            3 => BilinearOp::Conv2d(decode_conv2d(words)?),
            4 => {
                let params = decode_conv2d(words)?;
                let k = take(words, 2)?;
                BilinearOp::Conv2dGradWeight {
                    params,
                    kernel: [small(k[0])?, small(k[1])?],
                }
            }
            5 => {
                let params = decode_conv2d(words)?;
                let k = take(words, 2)?;
                BilinearOp::Conv2dGradInput {
                    params,
                    input: [small(k[0])?, small(k[1])?],
                }
            }
            t => return Err(Error::invalid("dealer request", format!("unknown bilinear op tag {t}"))),
        };
        Ok(op)
    }
}

/// The seven words of a 2-D convolution's parameters.
fn encode_conv2d(p: &Conv2dParams, out: &mut Vec<u64>) {
    out.extend([
        p.stride[0] as u64,
        p.stride[1] as u64,
        p.padding[0] as u64,
        p.padding[1] as u64,
        p.dilation[0] as u64,
        p.dilation[1] as u64,
        p.groups as u64,
    ]);
}

/// Reads the seven words of [`encode_conv2d`].
fn decode_conv2d(words: &mut &[u64]) -> Result<Conv2dParams> {
    let w = take(words, 7)?;
    Ok(Conv2dParams {
        stride: [small(w[0])?, small(w[1])?],
        padding: [small(w[2])?, small(w[3])?],
        dilation: [small(w[4])?, small(w[5])?],
        groups: small(w[6])?,
    })
}

/// Output shape of a (possibly batched, possibly broadcast) matmul, mirroring `RingTensor::matmul`.
fn matmul_shape(x: &[usize], y: &[usize]) -> Result<Vec<usize>> {
    let bad = || Error::shape("matmul", format!("cannot multiply {x:?} by {y:?}"));
    if x.len() < 2 || y.len() < 2 {
        return Err(bad());
    }
    let (m, k) = (x[x.len() - 2], x[x.len() - 1]);
    let (k2, n) = (y[y.len() - 2], y[y.len() - 1]);
    if k != k2 {
        return Err(bad());
    }
    let (bx, by) = (&x[..x.len() - 2], &y[..y.len() - 2]);
    let batch = match (bx.is_empty(), by.is_empty()) {
        (true, _) => by.to_vec(),
        (_, true) => bx.to_vec(),
        _ if bx == by => bx.to_vec(),
        _ => return Err(bad()),
    };
    let mut out = batch;
    out.extend([m, n]);
    Ok(out)
}

/// Splits `n` words off the front of `words`.
pub(crate) fn take<'a>(words: &mut &'a [u64], n: usize) -> Result<&'a [u64]> {
    if words.len() < n {
        return Err(Error::invalid("dealer request", "message ends early"));
    }
    let (head, rest) = words.split_at(n);
    *words = rest;
    Ok(head)
}

/// A word that must be a small count (a dimension or a parameter).
pub(crate) fn small(w: u64) -> Result<usize> {
    if w > u32::MAX as u64 {
        return Err(Error::invalid("dealer request", format!("value {w} is out of range")));
    }
    Ok(w as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let ops = [
            BilinearOp::Mul,
            BilinearOp::MatMul,
            BilinearOp::Conv1d(Conv1dParams {
                stride: 2,
                padding: 1,
                dilation: 3,
                groups: 4,
            }),
            BilinearOp::Conv2d(Conv2dParams {
                stride: [1, 2],
                padding: [3, 4],
                dilation: [5, 6],
                groups: 7,
            }),
            BilinearOp::Conv2dGradWeight {
                params: Conv2dParams::default(),
                kernel: [3, 5],
            },
            BilinearOp::Conv2dGradInput {
                params: Conv2dParams {
                    stride: [2, 2],
                    padding: [1, 0],
                    dilation: [1, 1],
                    groups: 2,
                },
                input: [28, 27],
            },
        ];
        let mut w = Vec::new();
        for op in &ops {
            op.encode(&mut w);
        }
        let mut rest = &w[..];
        for op in &ops {
            assert_eq!(BilinearOp::decode(&mut rest).unwrap(), *op);
        }
        assert!(rest.is_empty());
        assert!(BilinearOp::decode(&mut &[9u64][..]).is_err());
        assert!(BilinearOp::decode(&mut &[3u64, 1][..]).is_err());
        assert!(BilinearOp::decode(&mut &[4u64, 1, 1, 0, 0, 1, 1, 1, 3][..]).is_err());
    }

    #[test]
    fn matmul_shapes() {
        assert_eq!(matmul_shape(&[2, 3], &[3, 4]).unwrap(), vec![2, 4]);
        assert_eq!(matmul_shape(&[5, 2, 3], &[3, 4]).unwrap(), vec![5, 2, 4]);
        assert_eq!(matmul_shape(&[2, 3], &[5, 3, 4]).unwrap(), vec![5, 2, 4]);
        assert!(matmul_shape(&[2, 3], &[4, 4]).is_err());
        assert!(matmul_shape(&[3], &[3, 4]).is_err());
    }
}
