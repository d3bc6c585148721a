//! Products: matmul, Gemm, convolution, embedding lookups with private ids, elementwise products
//! and division. Operands are values: a product with a public operand is local (plus one
//! truncation) on a protocol, a product of two private ones is the protocol's Beaver or
//! replicated product.

use super::{ActivationOps, V, Value};
use crate::error::Result;

/// Convolution attributes as in `Op::Conv` (one entry per spatial axis; pads begins then ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvAttrs {
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub group: usize,
}

/// Gemm attributes: Y = alpha·op(A)·op(B) + beta·C.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmAttrs {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// The right operand of a product with the graph name it has: a backend may have prepared that
/// weight once per session (see `nn::private::prepare_weights`).
#[derive(Clone, Copy, Debug)]
pub struct Weight<'a, T> {
    pub value: &'a Value<T>,
    pub name: &'a str,
}

/// Products.
pub trait ProductOps: ActivationOps {
    /// numpy-style matmul (batched, broadcasting).
    fn matmul(&mut self, a: &V<Self>, b: Weight<'_, Self::T>) -> Result<Self::T>;
    /// Y = alpha·op(A)·op(B) + beta·C.
    fn gemm(&mut self, a: &V<Self>, b: Weight<'_, Self::T>, c: Option<&V<Self>>, g: GemmAttrs) -> Result<Self::T>;
    /// Convolution of x with weight w and optional bias.
    fn conv(&mut self, x: &Self::T, w: Weight<'_, Self::T>, bias: Option<&V<Self>>, c: &ConvAttrs) -> Result<Self::T>;
    /// relu(conv(..)): the pair `passes::fuse_conv_relu` joins into one node, so that a backend
    /// whose protocol truncates and rectifies in one step (`Protocol::fuses_trunc_relu`) can.
    fn conv_relu(
        &mut self,
        x: &Self::T,
        w: Weight<'_, Self::T>,
        bias: Option<&V<Self>>,
        c: &ConvAttrs,
    ) -> Result<Self::T> {
        let y = self.conv(x, w, bias, c)?;
        self.relu(&y)
    }
    /// relu(gemm(..)), joined like [`ProductOps::conv_relu`].
    fn gemm_relu(&mut self, a: &V<Self>, b: Weight<'_, Self::T>, c: Option<&V<Self>>, g: GemmAttrs) -> Result<Self::T> {
        let y = self.gemm(a, b, c, g)?;
        self.relu(&y)
    }
    /// An embedding lookup with one-hot ids (`[.., vocab]`): onehot · table.
    fn embed(&mut self, table: Weight<'_, Self::T>, onehot: &Self::T) -> Result<Self::T>;
    /// a · b elementwise (numpy broadcasting).
    fn mul(&mut self, a: &V<Self>, b: &V<Self>) -> Result<Self::T>;
    /// a / b: a product with the public reciprocal, or with the reciprocal of a private b.
    fn div(&mut self, a: &V<Self>, b: &V<Self>) -> Result<Self::T> {
        let r = match b {
            Value::Data(d) => Value::Data(self.reciprocal(d)?),
            c => Value::Public(crate::nn::graph::Const::F32(c.public_f32("a divisor")?.reciprocal())),
        };
        self.mul(a, &r)
    }
}
