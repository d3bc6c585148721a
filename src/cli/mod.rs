//! The command line: clap arguments ("low args"), converted once into library types, then one call
//! into the library. Thin on purpose.
//!
//! Exit codes: 0 success, 2 bad input (the one-line error names the file, field, op or party),
//! 1 runtime failure.

use crate::bench::{function_table, parse_shape, run_op, write_function_table, ConvArgs, OpKind, OpReport, OpSpec, TransportKind};
use crate::error::Error;
use crate::protocol::ProtocolConfig;
use clap::{Args, Parser, Subcommand};
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
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Times one private op on random inputs and counts its rounds and bytes.
    Op(OpArgs),
    /// Tabulates every private function: error against float64, rounds, bytes per element.
    Functions(FunctionsArgs),
}

#[derive(Args, Debug)]
struct FunctionsArgs {
    /// Protocol variant: a name in protocols/ or a path.
    #[arg(long, default_value = "2pc-ttp")]
    protocol: String,
    /// Number of parties (where the family allows it).
    #[arg(long)]
    parties: Option<usize>,
    /// Elements per function.
    #[arg(long, default_value_t = 10_000)]
    elements: usize,
    /// Output folder (default results/functions/<protocol>).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Seed of the random inputs and shares.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
struct OpArgs {
    /// Protocol variant: a name in protocols/ (e.g. 2pc-ttp) or a path to a YAML file.
    #[arg(long)]
    protocol: String,
    /// The op: add, mul, square, matmul, conv1d, conv2d.
    #[arg(long)]
    op: String,
    /// Input shape like 1000000 or 1x3x224x224; give one per operand.
    #[arg(long = "shape")]
    shapes: Vec<String>,
    /// sim (threads in this process) or tcp (one process per party).
    #[arg(long, default_value = "sim")]
    transport: String,
    /// Number of parties (overrides the protocol file, where the family allows it).
    #[arg(long)]
    parties: Option<usize>,
    /// Seed for reproducible shares and inputs (default: OS entropy for shares).
    #[arg(long)]
    seed: Option<u64>,
    /// Repetitions; the reported wall time is their median.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Convolution stride.
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Convolution zero padding.
    #[arg(long, default_value_t = 0)]
    padding: usize,
    /// Convolution dilation.
    #[arg(long, default_value_t = 1)]
    dilation: usize,
    /// Convolution groups.
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Print one line of JSON last.
    #[arg(long)]
    json: bool,
}

/// Parses the process arguments, runs, prints, and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_bad_input() { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Bench(BenchCommand::Op(a)) => bench_op(a),
        Command::Bench(BenchCommand::Functions(a)) => bench_functions(a),
    }
}

fn bench_functions(a: FunctionsArgs) -> Result<(), Error> {
    let mut cfg = ProtocolConfig::load(&a.protocol)?;
    if let Some(n) = a.parties {
        cfg = cfg.with_parties(n)?;
    }
    if a.elements == 0 {
        return Err(Error::invalid("--elements", "needs at least one element"));
    }
    let rows = function_table(&cfg, a.elements, a.seed)?;
    let dir = a.out.unwrap_or_else(|| std::path::Path::new("results/functions").join(&cfg.name));
    write_function_table(&rows, &cfg.name, &dir)?;
    for r in &rows {
        println!(
            "{:<12} rounds {:>3}  bytes/elem {:>8.2}  max abs err {:.2e}  max rel err {:.2e}",
            r.function, r.rounds, r.bytes_per_element, r.max_abs_err, r.max_rel_err
        );
    }
    println!("wrote {}", dir.join("functions.md").display());
    Ok(())
}

fn bench_op(a: OpArgs) -> Result<(), Error> {
    let mut cfg = ProtocolConfig::load(&a.protocol)?;
    if let Some(n) = a.parties {
        cfg = cfg.with_parties(n)?;
    }
    let spec = OpSpec {
        op: OpKind::parse(&a.op)?,
        shapes: a.shapes.iter().map(|s| parse_shape(s)).collect::<Result<_, _>>()?,
        conv: ConvArgs { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups },
        reps: a.reps,
        seed: a.seed,
        transport: TransportKind::parse(&a.transport)?,
    };
    let report = run_op(&cfg, &spec)?;
    if a.json {
        println!("{}", serde_json::to_string(&report).expect("reports serialise"));
    } else {
        print_human(&report);
    }
    Ok(())
}

fn print_human(r: &OpReport) {
    println!("{} on {} ({} parties, {}), shapes {}", r.op, r.protocol, r.parties, r.transport, r.shapes.join(", "));
    println!("  wall          {:.6} s (median of {})", r.wall_s, r.reps);
    println!("  rounds        {} (per party {:?})", r.rounds, r.rounds_per_party);
    println!("  bytes sent    {:?} per party online, {} offline", r.bytes_sent_per_party, r.bytes_offline_total);
    println!("  error         max abs {:.3e}, max rel {:.3e}", r.max_abs_err, r.max_rel_err);
}
