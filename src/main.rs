//! The `testbed` command; see [`testbed::cli`].

/// mimalloc keeps freed pages for reuse: protocol steps allocate and drop many large buffers, and
/// with the system allocator each one costs fresh page faults.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    testbed::cli::main()
}
