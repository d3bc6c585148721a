//! Layer 0: dense row-major arrays over any copyable element, and the one implementation of every
//! data movement the tensors of this crate share.
//!
//! [`crate::ring::RingTensor`] (`u64` shares), [`crate::nn::tensor::F32Tensor`] (plaintext floats)
//! and the ONNX constant folder (`f32` and `i64` constants) all move data the same way: transpose,
//! slice, concatenate, gather, broadcast, tile, pad and im2col. Those movements live here once, as
//! free functions over a borrowed `(data, shape)` pair that return an owned [`Dense`]; the tensor
//! types are thin wrappers that add their own argument conventions (ONNX negative axes, error
//! kinds). Everything here is a pure copy of elements, so it applies unchanged to secret shares.
//!
//! May import only `crate::error`.

mod layout;
mod movement;
mod permute;
mod window;

#[cfg(test)]
mod tests;

pub use layout::{
    broadcast_shape, broadcast_strides, checked_numel, copy_box, normalize_axis, numel, shape_string, split_at_axis,
    strides, zip_broadcast,
};
pub use movement::{AxisSlice, PadMode, broadcast_to, concat, gather, onnx_slice, pad, slice, slice_axis, tile};
pub use permute::{permute, transpose};
pub use window::Window;

/// Element count above which movement kernels split their work across rayon threads.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// What a dense array may hold: plain copyable values (`u64`, `f32`, `i64`, ...).
pub trait Elem: Copy + Default + Send + Sync + 'static {}
impl<T: Copy + Default + Send + Sync + 'static> Elem for T {}

/// An owned row-major array: `data[i]` is the element whose multi-index has linear position `i`
/// (last axis fastest). `data.len() == numel(&shape)` always holds for values this module returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<E> {
    pub shape: Vec<usize>,
    pub data: Vec<E>,
}

impl<E> Dense<E> {
    /// Pairs a shape with its data (the caller guarantees the element count).
    pub fn new(shape: Vec<usize>, data: Vec<E>) -> Self {
        debug_assert_eq!(numel(&shape), data.len());
        Self { shape, data }
    }
}
