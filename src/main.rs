//! The `testbed` command; see [`testbed::cli`].

fn main() -> std::process::ExitCode {
    testbed::cli::main()
}
