//! Layer 5: neural networks on shares — the model IR, ONNX import, the plaintext backend, the
//! private backend over any protocol, one interpreter for both, and the model zoo.
//!
//! May import every layer below (`ring`, `net`, `protocol`, `func`).

pub mod graph;
pub mod onnx;
pub mod tensor;
