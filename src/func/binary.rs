//! Binary circuits on XOR-shared words (packing, the MSB circuit, the adder, B2A of multi-bit
//! values). They live in `protocol::binary`, below the `Protocol` trait's family hooks whose
//! default bodies they are; this module re-exports them for the function library.

pub use crate::protocol::binary::*;
