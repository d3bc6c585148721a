//! Integration tests: one binary, one module per area.

mod approx;
mod cli;
mod common;
mod experiment;
mod functions;
mod nn;
mod onnx;
mod protocol;
mod tcp;

/// The same allocator as the binary, so large protocol buffers are reused instead of page-faulted.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
