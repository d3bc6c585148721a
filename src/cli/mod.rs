//! The command line: clap arguments ("low args"), converted once into library types, then one call
//! into the library. Thin on purpose: [`args`] holds the flag groups several commands share, and
//! each command has a file of its own with its arguments and its body.
//!
//! Exit codes: 0 success, 2 bad input (the one-line error names the file, field, op or party),
//! 1 runtime failure (or a regression found by `compare`). Only [`main`] decides the exit code.

/// Prints a line to stdout; a closed pipe (`testbed ... | head`) is not an error worth a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod args;
mod audit;
mod bench;
mod certs;
mod compare;
mod conformance;
mod convert;
mod infer;
mod party;
mod plot;
mod run;
mod train;

use crate::error::Error;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Secure multi-party computation of machine learning: a CrypTen-style research testbed.
#[derive(Parser, Debug)]
#[command(name = "testbed", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Benchmarks of private operations.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Runs a model privately on one input and writes the revealed output.
    Infer(infer::InferArgs),
    /// Runs one party (or the dealer) of a session described by a session file.
    Party(party::PartyArgs),
    /// Trains a model in plaintext or privately and reports loss and accuracy.
    Train(train::TrainArgs),
    /// Runs ONNX's node test cases (libonnx-testdata) in plaintext and privately; prints the table.
    OnnxConformance(conformance::ConformanceArgs),
    /// Converts a PyTorch state-dict checkpoint (.pth) to safetensors, without torch: the pickle
    /// is read by a restricted interpreter that accepts tensor data only.
    ConvertPth(convert::ConvertPthArgs),
    /// Runs an experiment (YAML): writes runs.csv, summary.json, summary.md and plots.
    Run(run::RunArgs),
    /// Re-draws the plots of a results folder from its runs.csv.
    Plot(plot::PlotArgs),
    /// Runs an experiment and compares it with a baseline summary.json; exit 1 on a regression.
    Compare(compare::CompareArgs),
    /// Makes every endpoint's key and certificate, and a session file with their pins, for a
    /// multi-host run.
    Certs(certs::CertsArgs),
    /// Tests whether a protocol's views depend on the secrets (statistically; exit 1 on a leak).
    Audit(audit::AuditArgs),
}

/// Why a command did not succeed.
#[derive(Debug)]
enum Failure {
    /// A library error: bad input (exit 2) or a runtime failure (exit 1).
    Error(Error),
    /// The command ran, and what it found fails it (a regression against a baseline): exit 1.
    Verdict(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

/// Parses the process arguments, runs, prints, and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_bad_input() { 2 } else { 1 })
        }
        Err(Failure::Verdict(why)) => {
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            eprintln!("error: {why}");
            ExitCode::from(1)
        }
    }
}

/// Help and version exit 0; a parse error exits 2. A value outside a flag's closed set is one
/// line, like every other bad input.
fn clap_exit(e: clap::Error) -> ExitCode {
    let code = if e.use_stderr() { 2 } else { 0 };
    if e.kind() == clap::error::ErrorKind::InvalidValue {
        let text = e.render().to_string();
        let line: Vec<&str> = text
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        eprintln!("{}", line.join(" "));
    } else {
        let _ = e.print();
    }
    ExitCode::from(code)
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Bench(c) => bench::run(c)?,
        Command::Infer(a) => infer::run(a)?,
        Command::Train(a) => train::run(a)?,
        Command::OnnxConformance(a) => conformance::run(a)?,
        Command::Party(a) => party::run(a)?,
        Command::ConvertPth(a) => convert::run(a)?,
        Command::Run(a) => run::run(a)?,
        Command::Plot(a) => plot::run(a)?,
        Command::Compare(a) => compare::run(a)?,
        Command::Certs(a) => certs::run(a)?,
        Command::Audit(a) => audit::run(a)?,
    }
    Ok(())
}
