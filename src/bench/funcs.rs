//! The catalogue of private functions that `bench op` and `bench functions` know: how to run each
//! on shares, its float64 reference, and the input domain and shape it is benchmarked on (how
//! often each fails outright is counted in [`super::failures`]).

use super::reference::F64Tensor;
use crate::error::{Error, Result};
use crate::func::{approx, compare, fixed, pool, reduce};
use crate::protocol::Protocol;
use crate::ring::numel;

/// A private function of one or two tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Relu,
    Ltz,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Sign,
    Abs,
    Max,
    Argmax,
    MaxPool2d,
    Exp,
    Log,
    Reciprocal,
    Sqrt,
    InvSqrt,
    Sigmoid,
    Tanh,
    Erf,
    Gelu,
    Softmax,
    LogSoftmax,
    LayerNorm,
}

impl Func {
    /// Every function with its CLI name.
    pub const ALL: [(&'static str, Func); 25] = [
        ("relu", Func::Relu),
        ("ltz", Func::Ltz),
        ("lt", Func::Lt),
        ("le", Func::Le),
        ("gt", Func::Gt),
        ("ge", Func::Ge),
        ("eq", Func::Eq),
        ("ne", Func::Ne),
        ("sign", Func::Sign),
        ("abs", Func::Abs),
        ("max", Func::Max),
        ("argmax", Func::Argmax),
        ("maxpool2d", Func::MaxPool2d),
        ("exp", Func::Exp),
        ("log", Func::Log),
        ("reciprocal", Func::Reciprocal),
        ("sqrt", Func::Sqrt),
        ("inv_sqrt", Func::InvSqrt),
        ("sigmoid", Func::Sigmoid),
        ("tanh", Func::Tanh),
        ("erf", Func::Erf),
        ("gelu", Func::Gelu),
        ("softmax", Func::Softmax),
        ("log_softmax", Func::LogSoftmax),
        ("layernorm", Func::LayerNorm),
    ];

    /// Looks a function up by CLI name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Number of tensor arguments.
    pub fn arity(self) -> usize {
        match self {
            Func::Lt | Func::Le | Func::Gt | Func::Ge | Func::Eq | Func::Ne => 2,
            _ => 1,
        }
    }

    /// The input interval benchmarks and accuracy tables draw from (the tolerance domain of the
    /// function issue).
    pub fn domain(self) -> (f64, f64) {
        match self {
            Func::Exp => (-10.0, 5.0),
            Func::Log => (0.1, 250.0),
            Func::Reciprocal => (0.1, 100.0),
            Func::Sqrt | Func::InvSqrt => (0.1, 100.0),
            Func::Sigmoid | Func::Tanh => (-10.0, 10.0),
            Func::Erf | Func::Gelu => (-8.0, 8.0),
            Func::LayerNorm => (-10.0, 10.0),
            _ => (-10.0, 10.0),
        }
    }

    /// Shape of the result for argument shapes, or a shape error.
    pub fn output_shape(self, shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        let name = self.name();
        if shapes.len() != self.arity() {
            return Err(Error::invalid(
                "--shape",
                format!(
                    "op {name} takes {} --shape argument(s), got {}",
                    self.arity(),
                    shapes.len()
                ),
            ));
        }
        let x = &shapes[0];
        if self.arity() == 2 && shapes[1] != *x {
            return Err(Error::shape(
                "compare",
                format!("shapes {:?} and {:?} differ", x, shapes[1]),
            ));
        }
        match self {
            Func::Max => Ok(x[..x.len() - 1].to_vec()),
            Func::MaxPool2d => {
                if x.len() != 4 || x[2] < 2 || x[3] < 2 {
                    return Err(Error::shape(
                        "maxpool2d",
                        format!("takes [N, C, H, W] with H, W >= 2, got {x:?}"),
                    ));
                }
                Ok(vec![x[0], x[1], x[2] / 2, x[3] / 2])
            }
            _ => Ok(x.clone()),
        }
    }

    /// Runs the function on shares; the result is fixed-point (bits are scaled to 0.0/1.0).
    pub fn apply<P: Protocol>(self, p: &mut P, xs: &[&P::Share]) -> Result<P::Share> {
        let x = xs[0];
        let last = p.shape(x).len() - 1;
        let bits = |p: &mut P, b: P::Share| fixed::int_to_fixed(p, &b);
        match self {
            Func::Relu => compare::relu(p, x),
            Func::Ltz => {
                let b = compare::ltz(p, x)?;
                bits(p, b)
            }
            Func::Lt | Func::Le | Func::Gt | Func::Ge | Func::Eq | Func::Ne => {
                let y = xs[1];
                let b = match self {
                    Func::Lt => compare::lt(p, x, y)?,
                    Func::Le => compare::le(p, x, y)?,
                    Func::Gt => compare::gt(p, x, y)?,
                    Func::Ge => compare::ge(p, x, y)?,
                    Func::Eq => compare::eq(p, x, y)?,
                    _ => compare::ne(p, x, y)?,
                };
                bits(p, b)
            }
            Func::Sign => {
                let s = compare::sign(p, x)?;
                bits(p, s)
            }
            Func::Abs => compare::abs(p, x),
            Func::Max => {
                let m = reduce::max_values(p, x, last)?;
                let out = self.output_shape(&[p.shape(x).to_vec()])?;
                p.linear(&m, &|t| t.clone().reshape(&out))
            }
            Func::Argmax => {
                let (_, onehot) = reduce::max(p, x, last)?;
                bits(p, onehot)
            }
            Func::MaxPool2d => pool::max_pool2d(p, x, [2, 2], [2, 2], [0, 0], false),
            Func::Exp => approx::exp(p, x),
            Func::Log => approx::log(p, x),
            Func::Reciprocal => approx::reciprocal(p, x),
            Func::Sqrt => approx::sqrt(p, x),
            Func::InvSqrt => approx::inv_sqrt(p, x),
            Func::Sigmoid => approx::sigmoid(p, x),
            Func::Tanh => approx::tanh(p, x),
            Func::Erf => approx::erf(p, x),
            Func::Gelu => approx::gelu(p, x),
            Func::Softmax => reduce::softmax(p, x, last),
            Func::LogSoftmax => reduce::log_softmax(p, x, last),
            Func::LayerNorm => reduce::layer_norm(p, x, 1e-5),
        }
    }

    /// The float64 result on the same real inputs.
    pub fn reference(self, xs: &[F64Tensor]) -> Vec<f64> {
        let x = &xs[0];
        let unary = |f: fn(f64) -> f64| x.data.iter().map(|&v| f(v)).collect::<Vec<_>>();
        let binary = |f: fn(f64, f64) -> bool| {
            x.data
                .iter()
                .zip(&xs[1].data)
                .map(|(&a, &b)| if f(a, b) { 1.0 } else { 0.0 })
                .collect::<Vec<_>>()
        };
        let k = *x.shape.last().unwrap_or(&1);
        let rows = |f: &dyn Fn(&[f64]) -> Vec<f64>| x.data.chunks(k).flat_map(f).collect::<Vec<_>>();
        match self {
            Func::Relu => unary(|v| v.max(0.0)),
            Func::Ltz => unary(|v| if v < 0.0 { 1.0 } else { 0.0 }),
            Func::Lt => binary(|a, b| a < b),
            Func::Le => binary(|a, b| a <= b),
            Func::Gt => binary(|a, b| a > b),
            Func::Ge => binary(|a, b| a >= b),
            Func::Eq => binary(|a, b| a == b),
            Func::Ne => binary(|a, b| a != b),
            Func::Sign => unary(|v| if v < 0.0 { -1.0 } else { 1.0 }),
            Func::Abs => unary(f64::abs),
            Func::Max => rows(&|r| vec![r.iter().copied().fold(f64::NEG_INFINITY, f64::max)]),
            Func::Argmax => rows(&|r| {
                let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let first = r.iter().position(|&v| v == m).unwrap_or(0);
                (0..r.len()).map(|i| if i == first { 1.0 } else { 0.0 }).collect()
            }),
            Func::MaxPool2d => {
                let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
                let (ho, wo) = (h / 2, w / 2);
                let mut out = Vec::with_capacity(n * c * ho * wo);
                for plane in x.data.chunks(h * w) {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let at = |dy: usize, dx: usize| plane[(2 * oy + dy) * w + 2 * ox + dx];
                            out.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                        }
                    }
                }
                out
            }
            Func::Exp => unary(f64::exp),
            Func::Log => unary(f64::ln),
            Func::Reciprocal => unary(|v| 1.0 / v),
            Func::Sqrt => unary(f64::sqrt),
            Func::InvSqrt => unary(|v| 1.0 / v.sqrt()),
            Func::Sigmoid => unary(|v| 1.0 / (1.0 + (-v).exp())),
            Func::Tanh => unary(f64::tanh),
            Func::Erf => unary(libm::erf),
            Func::Gelu => unary(|v| 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2))),
            Func::Softmax => rows(&|r| {
                let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
                r.iter().map(|v| (v - m).exp() / s).collect()
            }),
            Func::LogSoftmax => rows(&|r| {
                let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
                r.iter().map(|v| v - m - s.ln()).collect()
            }),
            Func::LayerNorm => rows(&|r| {
                let mean = r.iter().sum::<f64>() / r.len() as f64;
                let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / r.len() as f64;
                r.iter().map(|v| (v - mean) / (var + 1e-5).sqrt()).collect()
            }),
        }
    }

    /// Elements of the result for an input of `shape` (for per-element cost figures).
    pub fn elements(self, shape: &[usize]) -> usize {
        numel(shape)
    }
}

/// The shape each function is tabulated on, for about `n` elements.
pub fn table_shape(f: Func, n: usize) -> Vec<usize> {
    match f {
        Func::Max | Func::Argmax | Func::Softmax | Func::LogSoftmax => vec![n.div_ceil(10), 10],
        Func::LayerNorm => vec![n.div_ceil(64), 64],
        Func::MaxPool2d => {
            let side = 2 * (((n as f64).sqrt() as usize) / 2).max(1);
            vec![1, 1, side, side]
        }
        _ => vec![n],
    }
}
