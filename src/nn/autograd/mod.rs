//! Reverse-mode autograd over the graph IR, written once for every backend: f32 plaintext
//! training and private training on shares of any protocol run the same tape and the same
//! backward rules.
//!
//! Burn-style: the recording backend [`record::Autodiff`] wraps any [`AutodiffBackend`] and
//! implements the same op families (`nn::ops`) as every other backend, so a forward pass
//! ([`tape::forward`]) is the interpreter (`nn::exec`, the one `match` over graph ops) run on it.
//! Each family method runs the op on the wrapped backend and, when an operand carries a gradient,
//! records the op's backward (with what it needs: ReLU's mask, max pooling's one-hot argmax, a
//! normalisation's x̂ and inverse standard deviation). [`tape::backward`] calls the recorded rules
//! in reverse, accumulating one gradient per tape entry; only values that depend on a trainable
//! parameter are recorded, so the first layer never computes an input gradient.
//!
//! The rules live beside the forward they wrap, one file per family (`grads/`); an op with a
//! default body built from other ops needs none. They are written with the wrapped backend's
//! family methods, the interpreter (graph ops on values: a product of shared values is the
//! protocol's Beaver or replicated product, one with a public value is local) and the few
//! primitives of [`AutodiffBackend`], which extends the op families with what they have no op
//! for: ReLU with its mask, one-hot argmax, gathers and scatter-adds by an index map (the adjoint
//! of every data movement), convolution gradients (new bilinear ops on shares), inverse square
//! roots and the gradient threshold.
//!
//! May import `nn` and every layer below it.

pub mod backends;
pub mod ctx;
mod grads;
pub mod loss;
pub mod optim;
pub mod record;
pub mod tape;

pub use ctx::{Ctx, MapCache};
pub use loss::Loss;
pub use optim::{Adam, Sgd};
pub use tape::{Tape, backward, forward, trainable_params};

pub use super::ops::ConvAttrs;
use super::ops::Ops;
use super::tensor::F32Tensor;
use super::value::Value;
use crate::error::{Error, Result};
use crate::ring::RingTensor;

/// The primitives backward rules need beyond the op families. Every method is one backend's
/// version of one mathematical map; the plaintext and private implementations are in
/// [`backends`].
pub trait AutodiffBackend: Ops {
    /// What ReLU saves for its backward: which elements were positive (packed bit shares on a
    /// protocol, so the backward product needs no conversion).
    type Mask: Clone;

    /// x_i · c_i for public reals: all items share one truncation round on a protocol.
    fn scale_many(&mut self, items: &[(&Self::T, f64)]) -> Result<Vec<Self::T>>;
    /// p ← p − c·g for each item (the SGD update): one truncation for all items on a protocol;
    /// in place where the backend can.
    fn sub_scaled_many(&mut self, items: Vec<(&mut Self::T, &Self::T, f64)>) -> Result<()> {
        let scaled = {
            let refs: Vec<(&Self::T, f64)> = items.iter().map(|(_, g, c)| (*g, *c)).collect();
            self.scale_many(&refs)?
        };
        for ((p, _, _), s) in items.into_iter().zip(scaled) {
            *p = self.sub(p, &s)?;
        }
        Ok(())
    }
    /// max(x, 0) and the mask [x > 0].
    fn relu_masked(&mut self, x: &Self::T) -> Result<(Self::T, Self::Mask)>;
    /// g · mask (exact).
    fn mul_mask(&mut self, g: &Self::T, m: &Self::Mask) -> Result<Self::T>;
    /// Max over the last axis (removed) and the one-hot of the first argmax (x's shape), in the
    /// form [`AutodiffBackend::mul_onehot`] takes (integers at scale 1 on a protocol).
    fn max_onehot(&mut self, x: &Self::T) -> Result<(Self::T, Self::T)>;
    /// g · one-hot, same shapes (exact).
    fn mul_onehot(&mut self, g: &Self::T, onehot: &Self::T) -> Result<Self::T>;
    /// y[j] = x[map.src[j]] (0 where the map has no source): a data movement.
    fn gather_map(&self, x: &Self::T, map: &IndexMap) -> Result<Self::T>;
    /// The adjoint of [`AutodiffBackend::gather_map`]: x[i] = Σ_{j: src[j] = i} g[j].
    fn scatter_add(&self, g: &Self::T, map: &IndexMap) -> Result<Self::T>;
    /// dX of a convolution with weight `w` for the output gradient `dy`; `input` is x's shape.
    fn conv_grad_input(&mut self, dy: &Self::T, w: &Value<Self::T>, c: &ConvAttrs, input: &[usize]) -> Result<Self::T>;
    /// dW of a convolution with input `x` for the output gradient `dy`; `kernel` is the spatial
    /// kernel size.
    fn conv_grad_weight(
        &mut self,
        x: &Value<Self::T>,
        dy: &Self::T,
        c: &ConvAttrs,
        kernel: &[usize],
    ) -> Result<Self::T>;
    /// 1/√x for positive x (a normalisation's inverse standard deviation).
    fn inv_sqrt(&mut self, x: &Self::T) -> Result<Self::T>;
    /// g with every element of magnitude above `threshold` set to 0 (CrypTen's `grad_threshold`).
    fn zero_above(&mut self, g: &Self::T, threshold: f64) -> Result<Self::T>;
}

/// A data movement as an index map: output element j comes from input element `src[j]`
/// (`NONE` marks an element the movement fills with 0). Computed once per op and shape, in
/// plaintext, then applied to every backend tensor (to each share component on a protocol).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexMap {
    pub in_shape: Vec<usize>,
    pub out_shape: Vec<usize>,
    pub src: Vec<usize>,
}

impl IndexMap {
    /// Marks an output element with no source.
    pub const NONE: usize = usize::MAX;

    /// The map of a plaintext data movement `f` on inputs of shape `in_shape` (reshape, transpose,
    /// slice, pad, gather, broadcast, …): `f` runs on tensors of source indices, each split in two
    /// f32-exact halves.
    pub fn of_f32(in_shape: &[usize], f: &dyn Fn(&F32Tensor) -> Result<F32Tensor>) -> Result<Self> {
        let n: usize = in_shape.iter().product();
        if n >= 1 << 36 {
            return Err(Error::invalid("data movement", "tensor too large for an index map"));
        }
        let hi = F32Tensor::from_vec(in_shape, (0..n).map(|i| ((i + 1) >> 12) as f32).collect())?;
        let lo = F32Tensor::from_vec(in_shape, (0..n).map(|i| ((i + 1) & 4095) as f32).collect())?;
        let (hi, lo) = (f(&hi)?, f(&lo)?);
        let src = hi
            .data()
            .iter()
            .zip(lo.data())
            .map(|(&h, &l)| ((h as usize) << 12) + l as usize)
            .map(|k| if k == 0 { Self::NONE } else { k - 1 })
            .collect();
        Self::checked(in_shape, hi.shape(), src)
    }

    /// The map of a ring data movement `f` (a gather that fills with 0, e.g. `unfold2d`).
    pub fn of_ring(in_shape: &[usize], f: &dyn Fn(&RingTensor) -> Result<RingTensor>) -> Result<Self> {
        let n: usize = in_shape.iter().product();
        let iota = RingTensor::from_vec(in_shape, (1..=n as u64).collect())?;
        let out = f(&iota)?;
        let src = out
            .data()
            .iter()
            .map(|&k| if k == 0 { Self::NONE } else { k as usize - 1 })
            .collect();
        Self::checked(in_shape, out.shape(), src)
    }

    fn checked(in_shape: &[usize], out_shape: &[usize], src: Vec<usize>) -> Result<Self> {
        let n: usize = in_shape.iter().product();
        if src.iter().any(|&s| s != Self::NONE && s >= n) {
            return Err(Error::invalid("data movement", "index map out of range"));
        }
        Ok(Self {
            in_shape: in_shape.to_vec(),
            out_shape: out_shape.to_vec(),
            src,
        })
    }

    /// Applies the map to a slice of any element type (`zero` for elements without a source).
    pub fn gather_slice<E: Copy>(&self, x: &[E], zero: E) -> Vec<E> {
        self.src
            .iter()
            .map(|&s| if s == Self::NONE { zero } else { x[s] })
            .collect()
    }

    /// The adjoint: sums each output element into its source, with `add`.
    pub fn scatter_slice<E: Copy>(&self, g: &[E], zero: E, add: impl Fn(E, E) -> E) -> Vec<E> {
        let n: usize = self.in_shape.iter().product();
        let mut out = vec![zero; n];
        for (&s, &v) in self.src.iter().zip(g) {
            if s != Self::NONE {
                out[s] = add(out[s], v);
            }
        }
        out
    }
}
