//! The declared cost of every private op: the cost backend, whose tensors are zeros that carry
//! shapes and whose family methods record the `func` calls the private backend makes. Each
//! family's cost implementation sits beside its private implementation (`private/<family>.rs`);
//! ops built by a default body from others get their cost from the same body.
//!
//! # Cost
//!
//! A private op costs exactly the `func` functions and truncations it calls, in order: its linear
//! parts (data movement, broadcasting, sums, public additions, products with public integers) are
//! local. [`calls`] declares that list for the private ops (it runs the node through the
//! interpreter on [`CostBackend`]), in terms of the functions whose
//! own formulas are written next to them (`func::compare`, `func::approx`, `func::reduce`, the
//! protocols' tables); `tests/onnx_node.rs` runs each op privately and asserts that the critical
//! path, the rounds between parties, every party's online bytes and the dealer's offline bytes
//! equal those of [`run_calls`] on 2pc-ttp, 3pc-replicated and npc-additive. The tables of the
//! declared calls are in the family files: `private/linear.rs`, `activations.rs`, `products.rs`,
//! `reductions.rs`, `pooling.rs`.

use crate::error::Result;
use crate::func::{approx, compare, fixed, reduce};
use crate::nn::exec::eval_node;
use crate::nn::graph::{Const, Node, Op};
use crate::nn::ops::Backend;
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;
use crate::protocol::Protocol;
use crate::ring::RingTensor;

/// One function call of a private op, for its cost: an op costs exactly its [`calls`], made in
/// order (everything else it does is local). Sizes are element counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Call {
    /// `compare::relu`.
    Relu(usize),
    /// `compare::abs`.
    Abs(usize),
    /// `compare::ltz`.
    Ltz(usize),
    /// `compare::eq`.
    Eq(usize),
    /// `compare::clamp`.
    Clamp(usize),
    /// `reduce::max_values` over `rows` groups of `k`.
    MaxValues {
        rows: usize,
        k: usize,
    },
    /// `reduce::argmax` (the one-hot) over `rows` groups of `k`.
    Argmax {
        rows: usize,
        k: usize,
    },
    /// `reduce::softmax` (`log`: `log_softmax`) over `rows` groups of `k`.
    Softmax {
        rows: usize,
        k: usize,
        log: bool,
    },
    /// One truncation: a product with public reals (`fixed::mul_const`, a public weight).
    Trunc(usize),
    /// `fixed::square`.
    Square(usize),
    /// `fixed::mul`: a fixed-point product of two shared tensors.
    Mul(usize),
    /// `approx::pow` with a public integer exponent.
    Pow(usize, i32),
    /// `approx::sqrt`, `inv_sqrt`, and `inv_sqrt_iters` with `layernorm_nr_iters` steps.
    Sqrt(usize),
    InvSqrt(usize),
    LayerNormInvSqrt(usize),
    /// The elementwise functions of `func::approx`.
    Exp(usize),
    Log(usize),
    Reciprocal(usize),
    Sigmoid(usize),
    Tanh(usize),
    Erf(usize),
    Gelu(usize),
}

/// One input of a node as its cost sees it: the shape, and the value when public.
#[derive(Clone, Debug)]
pub struct Operand {
    pub shape: Vec<usize>,
    pub public: Option<Const>,
}

/// The cost backend: tensors are zeros of the right shape; each family method records the calls
/// the private backend makes for it (see the family files of `nn::private`).
#[derive(Debug, Default)]
pub struct CostBackend {
    calls: Vec<Call>,
    undeclared: bool,
}

impl CostBackend {
    /// Records one call.
    pub(crate) fn call(&mut self, c: Call) {
        self.calls.push(c);
    }

    /// Marks the op's cost as not declared here (costed by its own function family).
    pub(crate) fn undeclared(&mut self) {
        self.undeclared = true;
    }
}

impl Backend for CostBackend {
    type T = F32Tensor;

    fn shape_of(&self, x: &F32Tensor) -> Vec<usize> {
        x.shape().to_vec()
    }

    fn lift(&self, c: &F32Tensor) -> Result<F32Tensor> {
        Ok(F32Tensor::zeros(c.shape()))
    }
}

/// The calls a private op makes on inputs `ins` (see the module table); `None` for the ops whose
/// cost is not declared here (products of two private tensors other than elementwise ones, the
/// 1-D/2-D pooling kernels of `func::pool`, which are costed there).
pub fn calls(op: &Op, ins: &[Operand]) -> Result<Option<Vec<Call>>> {
    let values: Vec<Value<F32Tensor>> = ins
        .iter()
        .map(|o| match &o.public {
            Some(c) => Value::Public(c.clone()),
            None => Value::Data(F32Tensor::zeros(&o.shape)),
        })
        .collect();
    let node = Node {
        name: op.onnx_name().to_string(),
        op: op.clone(),
        inputs: (0..ins.len()).map(|k| format!("in{k}")).collect(),
        outputs: vec!["y".into()],
        relu_after: false,
    };
    let args: Vec<Option<&Value<F32Tensor>>> = values.iter().map(Some).collect();
    let mut b = CostBackend::default();
    eval_node(&mut b, &node, &args)?;
    Ok((!b.undeclared).then_some(b.calls))
}

/// Whether any of `vs` is private (backend data).
pub(crate) fn any_private(vs: &[&Value<F32Tensor>]) -> bool {
    vs.iter().any(|v| v.is_data())
}

/// A fixed-point product: Beaver/replicated with two private operands, else a truncation.
pub(crate) fn product(both_private: bool, n: usize) -> Call {
    if both_private { Call::Mul(n) } else { Call::Trunc(n) }
}

/// Makes `calls` in order on zero shares (costs depend on sizes only): the reference that the
/// tests meter an op against.
pub fn run_calls<P: Protocol>(p: &mut P, calls: &[Call]) -> Result<()> {
    let zeros = |p: &P, shape: &[usize]| p.constant(&RingTensor::zeros(shape));
    for call in calls {
        match *call {
            Call::Relu(n) => drop(compare::relu(p, &zeros(p, &[n]))?),
            Call::Abs(n) => drop(compare::abs(p, &zeros(p, &[n]))?),
            Call::Ltz(n) => drop(compare::ltz(p, &zeros(p, &[n]))?),
            Call::Eq(n) => {
                let z = zeros(p, &[n]);
                drop(compare::eq(p, &z, &z)?)
            }
            Call::Clamp(n) => drop(compare::clamp(p, &zeros(p, &[n]), 0.0, 1.0)?),
            Call::MaxValues { rows, k } => drop(reduce::max_values(p, &zeros(p, &[rows, k]), 1)?),
            Call::Argmax { rows, k } => drop(reduce::argmax(p, &zeros(p, &[rows, k]), 1)?),
            Call::Softmax { rows, k, log } => {
                let z = zeros(p, &[rows, k]);
                drop(if log {
                    reduce::log_softmax(p, &z, 1)?
                } else {
                    reduce::softmax(p, &z, 1)?
                })
            }
            Call::Trunc(n) => {
                let bits = p.frac_bits();
                drop(p.truncate_many(vec![zeros(p, &[n])], bits)?)
            }
            Call::Square(n) => drop(fixed::square(p, &zeros(p, &[n]))?),
            Call::Mul(n) => {
                let z = zeros(p, &[n]);
                drop(fixed::mul(p, &z, &z)?)
            }
            Call::Pow(n, k) => drop(approx::pow(p, &zeros(p, &[n]), k)?),
            Call::Sqrt(n) => drop(approx::sqrt(p, &zeros(p, &[n]))?),
            Call::InvSqrt(n) => drop(approx::inv_sqrt(p, &zeros(p, &[n]))?),
            Call::LayerNormInvSqrt(n) => {
                let iters = p.functions().layernorm_nr_iters;
                drop(approx::inv_sqrt_iters(p, &zeros(p, &[n]), iters)?)
            }
            Call::Exp(n) => drop(approx::exp(p, &zeros(p, &[n]))?),
            Call::Log(n) => drop(approx::log(p, &zeros(p, &[n]))?),
            Call::Reciprocal(n) => drop(approx::reciprocal(p, &zeros(p, &[n]))?),
            Call::Sigmoid(n) => drop(approx::sigmoid(p, &zeros(p, &[n]))?),
            Call::Tanh(n) => drop(approx::tanh(p, &zeros(p, &[n]))?),
            Call::Erf(n) => drop(approx::erf(p, &zeros(p, &[n]))?),
            Call::Gelu(n) => drop(approx::gelu(p, &zeros(p, &[n]))?),
        }
    }
    Ok(())
}
