//! Integration tests: one binary, one module per area.

mod cli;
mod common;
mod protocol;
mod approx;
mod functions;
mod nn;
mod tcp;
mod onnx;

/// The same allocator as the binary, so large protocol buffers are reused instead of page-faulted.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
