//! ONNX import: reads a model exported by PyTorch (or any ONNX producer, opsets 13 to 17) into
//! the [`Graph`](crate::nn::graph::Graph) IR.
//!
//! - [`proto`]: hand-written prost messages for the part of `onnx.proto` we read (no protoc).
//! - `import`: [`load_onnx`] / [`parse_onnx`] map each node to a typed [`Op`](crate::nn::graph::Op)
//!   with ONNX defaults, fold public shape plumbing into initializers, drop unused nodes and fuse
//!   the exported erf-GELU pattern.
//! - `fold`: the small plaintext evaluator used for folding.
//! - [`conformance`]: ONNX's own node tests run through import, the plaintext backend and private
//!   inference.

pub mod conformance;
mod fold;
mod import;
pub mod proto;

pub use import::{MAX_OPSET, MIN_OPSET, decode_model, default_opset, load_onnx, parse_onnx, supported_ops};
