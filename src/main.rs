//! The `testbed` command; see [`testbed::cli`].

/// mimalloc, configured by `testbed::alloc` to keep freed pages for reuse.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    testbed::alloc::keep_freed_memory();
    testbed::cli::main()
}
