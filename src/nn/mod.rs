//! Layer 5: neural networks on shares — the model IR, ONNX import, the plaintext backend, the
//! private backend over any protocol, one interpreter for both, and the model zoo.
//!
//! May import every layer below (`ring`, `net`, `protocol`, `func`).

pub mod autograd;
pub mod bert;
pub mod exec;
pub mod graph;
pub mod infer;
pub mod input;
pub mod io;
pub mod onnx;
pub mod ops;
pub mod owners;
pub mod passes;
pub mod plain;
pub mod private;
pub mod tensor;
pub mod value;
pub mod weights;
pub mod window;
pub mod zoo;
