//! Layer 1: tensors over the ring Z_2^64 and the kernels that make them fast.
//!
//! May import only `crate::error`; nothing here knows about parties, networks or protocols.

mod arith;
pub mod conv;
pub mod fixed;
pub mod matmul;
pub mod pool;
mod shape;
mod tensor;

pub use conv::{Conv1dParams, Conv2dParams};
pub use fixed::{decode, decode_value, encode, encode_value};
pub(crate) use tensor::{PAR_THRESHOLD, check_out};
pub use tensor::{RingTensor, numel, shape_string};
