//! Losses, each as its closed-form gradient with respect to the model output (CrypTen's choice:
//! cross-entropy backward is (softmax − target)/N, never differentiated through the log) and,
//! when asked, its value. Targets are one-hot along axis 1 for the class losses, and of the
//! output's shape for the others. Means are over samples (and positions, for outputs
//! `[N, C, T…]`) for the class losses and over all elements for the others, as in PyTorch.

use super::AutodiffBackend;
use super::ctx::Ctx;
use crate::error::{Error, Result};
use crate::nn::graph::{Const, Op};
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;

/// A training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// log_softmax over axis 1 + negative log-likelihood of one-hot targets, on logits.
    CrossEntropy,
    /// Negative log-likelihood on log-probabilities (models ending in LogSoftmax).
    Nll,
    /// Mean squared error.
    Mse,
    /// Binary cross-entropy on probabilities.
    Bce,
    /// Binary cross-entropy on logits (sigmoid folded in).
    BceWithLogits,
}

impl Loss {
    /// The CLI names: `ce`, `nll`, `mse`, `bce`, `bce-logits`.
    pub const NAMES: [&'static str; 5] = ["ce", "nll", "mse", "bce", "bce-logits"];

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "ce" | "cross-entropy" => Loss::CrossEntropy,
            "nll" => Loss::Nll,
            "mse" => Loss::Mse,
            "bce" => Loss::Bce,
            "bce-logits" | "bce-with-logits" => Loss::BceWithLogits,
            _ => {
                return Err(Error::invalid(
                    "--loss",
                    format!("unknown loss `{s}` (known: {})", Self::NAMES.join(", ")),
                ));
            }
        })
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "ce",
            Loss::Nll => "nll",
            Loss::Mse => "mse",
            Loss::Bce => "bce",
            Loss::BceWithLogits => "bce-logits",
        }
    }

    /// True for the losses whose targets are one-hot classes along axis 1.
    pub fn is_class(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::Nll)
    }

    /// The gradient of the loss with respect to `out`, and the loss (a one-element tensor) when
    /// `value` is set.
    pub fn grad<B: AutodiffBackend>(
        self,
        cx: &mut Ctx<'_, B>,
        out: &B::T,
        target: &B::T,
        value: bool,
    ) -> Result<(B::T, Option<B::T>)> {
        let shape = cx.b.shape_of(out);
        if cx.b.shape_of(target) != shape {
            return Err(Error::shape(
                "loss",
                format!("target {:?} does not match the output {shape:?}", cx.b.shape_of(target)),
            ));
        }
        let numel: usize = shape.iter().product();
        let count = if self.is_class() {
            numel / shape.get(1).copied().unwrap_or(1).max(1)
        } else {
            numel
        } as f64;
        let (o, t) = (Value::Data(out.clone()), Value::Data(target.clone()));
        let one = Value::Public(Const::F32(F32Tensor::scalar(1.0)));
        let grad = match self {
            Loss::CrossEntropy => {
                let p = cx.op(Op::Softmax { axis: 1 }, &[&o])?;
                cx.t(Op::Sub, &[&p, &t])?
            }
            Loss::Nll => cx.t(Op::Neg, &[&t])?,
            Loss::Mse => {
                let d = cx.t(Op::Sub, &[&o, &t])?;
                cx.scale(&d, 2.0)?
            }
            Loss::Bce => {
                let d = cx.op(Op::Sub, &[&o, &t])?;
                let q = cx.op(Op::Sub, &[&one, &o])?;
                let v = cx.op(Op::Mul, &[&o, &q])?;
                let r = cx.op(Op::Reciprocal, &[&v])?;
                cx.mul(&d, &r)?
            }
            Loss::BceWithLogits => {
                let s = cx.op(Op::Sigmoid, &[&o])?;
                cx.t(Op::Sub, &[&s, &t])?
            }
        };
        let grad = cx.scale(&grad, 1.0 / count)?;
        if !value {
            return Ok((grad, None));
        }
        // Elementwise loss terms, summed below.
        let terms = match self {
            Loss::CrossEntropy => {
                let l = cx.op(Op::LogSoftmax { axis: 1 }, &[&o])?;
                let tl = cx.op(Op::Mul, &[&t, &l])?;
                cx.op(Op::Neg, &[&tl])?
            }
            Loss::Nll => {
                let tl = cx.op(Op::Mul, &[&t, &o])?;
                cx.op(Op::Neg, &[&tl])?
            }
            Loss::Mse => {
                let d = cx.op(Op::Sub, &[&o, &t])?;
                cx.op(Op::Mul, &[&d, &d])?
            }
            Loss::Bce | Loss::BceWithLogits => {
                let p = if self == Loss::Bce {
                    o.clone()
                } else {
                    cx.op(Op::Sigmoid, &[&o])?
                };
                let lp = cx.op(Op::Log, &[&p])?;
                let q = cx.op(Op::Sub, &[&one, &p])?;
                let lq = cx.op(Op::Log, &[&q])?;
                let u = cx.op(Op::Sub, &[&one, &t])?;
                let a = cx.op(Op::Mul, &[&t, &lp])?;
                let b = cx.op(Op::Mul, &[&u, &lq])?;
                let s = cx.op(Op::Add, &[&a, &b])?;
                cx.op(Op::Neg, &[&s])?
            }
        };
        let sum = cx.t(
            Op::ReduceSum {
                axes: Vec::new(),
                keepdims: false,
            },
            &[&terms],
        )?;
        Ok((grad, Some(cx.scale(&sum, 1.0 / count)?)))
    }
}
