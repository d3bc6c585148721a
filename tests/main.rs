//! Integration tests: one binary, one module per area.

mod accuracy;
mod approx;
mod architecture;
mod audit;
mod certs;
mod cli;
mod common;
mod compare;
mod data;
mod dealer_ahead;
mod experiment;
mod fss_fused;
mod functions;
mod latency;
mod nn;
mod onnx;
mod onnx_node;
mod owners;
mod protocol;
mod tcp;
mod text;
mod train;
mod train_loop;

/// The same allocator as the binary, so large protocol buffers are reused instead of page-faulted.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
