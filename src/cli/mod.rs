//! The command line: clap arguments ("low args"), converted once into library types, then one call
//! into the library. Thin on purpose.
//!
//! Exit codes: 0 success, 2 bad input (the one-line error names the file, field, op or party),
//! 1 runtime failure.

/// Prints a line to stdout; a closed pipe (`testbed ... | head`) is not an error worth a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

use crate::bench::jobs::{JobSpec, party_main, prepare_model};
use crate::bench::model::{load_model, run_model};
use crate::bench::{
    ConvArgs, OpKind, OpReport, OpSpec, TransportKind, function_table, parse_shape, random_model_input, run_op_with,
    write_function_table,
};
use crate::error::Error;
use crate::launch::SessionFile;
use crate::nn::infer::{Input, WeightPrivacy};
use crate::nn::io::{NpyArray, read_npy, write_npy_f32};
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
    /// Runs a model privately on one input and writes the revealed output.
    Infer(InferArgs),
    /// Runs one party (or the dealer) of a session described by a session file.
    Party(PartyArgs),
    /// Runs an experiment (YAML): writes runs.csv, summary.json, summary.md and plots.
    Run(RunArgs),
    /// Re-draws the plots of a results folder from its runs.csv.
    Plot(PlotArgs),
    /// Runs an experiment and compares it with a baseline summary.json; exit 1 on a regression.
    Compare(CompareArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The experiment file.
    experiment: std::path::PathBuf,
    /// Results folder (default: results/<experiment name>).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Keep the folder's runs.csv and skip the runs it already has (after a crash or a kill).
    #[arg(long)]
    resume: bool,
    /// Check the file and list the runs without running anything.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct PlotArgs {
    /// A results folder with a runs.csv.
    results: std::path::PathBuf,
    /// The parameter plot lines run along (default: the first swept one).
    #[arg(long)]
    line: Option<String>,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// The experiment file.
    experiment: std::path::PathBuf,
    /// The baseline: a summary.json of an earlier run of the same experiment.
    #[arg(long)]
    baseline: std::path::PathBuf,
    /// Where to run (default: a fresh folder under the system's temporary directory).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct PartyArgs {
    /// This endpoint's id: parties 0..N, then the dealer.
    #[arg(long)]
    id: usize,
    /// The session file (YAML) every endpoint shares.
    #[arg(long)]
    session: std::path::PathBuf,
    /// Started by the local launcher: listen on port 0, announce it, read the addresses on stdin.
    #[arg(long, hide = true)]
    launched: bool,
}

#[derive(Args, Debug)]
struct InferArgs {
    /// With --transport tcp: plain TCP instead of TLS (loopback benchmarking only).
    #[arg(long)]
    no_tls: bool,
    /// An ONNX file or a zoo model name (lenet, resnet18, resnet34, resnet50, wav2letter, textcls, transformer, mlp).
    #[arg(long)]
    model: String,
    /// Input tensor (.npy; float32/float64, or int64 token ids).
    #[arg(long)]
    input: std::path::PathBuf,
    /// Where to write the revealed output (.npy, float32).
    #[arg(long)]
    output: std::path::PathBuf,
    /// Protocol variant: a name in protocols/ or a path.
    #[arg(long)]
    protocol: String,
    /// sim or tcp.
    #[arg(long, default_value = "sim")]
    transport: String,
    /// Fractional bits (overrides the protocol file).
    #[arg(long)]
    precision_bits: Option<u32>,
    /// Number of parties (where the family allows it).
    #[arg(long)]
    parties: Option<usize>,
    /// Weights from a safetensors file (zoo models), by tensor name.
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
    /// Keep the model public (cheaper public-operand products) instead of secret-sharing it.
    #[arg(long)]
    public_model: bool,
    /// Seed for reproducible shares (and zoo weights).
    #[arg(long)]
    seed: Option<u64>,
    /// Print one line of JSON last.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ModelArgs {
    /// With --transport tcp: plain TCP instead of TLS (loopback benchmarking only).
    #[arg(long)]
    no_tls: bool,
    /// A zoo model name or an ONNX file.
    #[arg(long)]
    model: String,
    /// Input shape like 1x3x224x224.
    #[arg(long)]
    input_shape: String,
    /// Protocol variant: a name in protocols/ or a path.
    #[arg(long)]
    protocol: String,
    /// sim or tcp.
    #[arg(long, default_value = "sim")]
    transport: String,
    /// Number of parties (where the family allows it).
    #[arg(long)]
    parties: Option<usize>,
    /// Fractional bits (overrides the protocol file).
    #[arg(long)]
    precision_bits: Option<u32>,
    /// Repetitions; the reported wall time is their median.
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Keep the model public instead of secret-sharing it.
    #[arg(long)]
    public_model: bool,
    /// Seed for inputs, weights and shares.
    #[arg(long)]
    seed: Option<u64>,
    /// Print one line of JSON last.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Times one private op on random inputs and counts its rounds and bytes.
    Op(OpArgs),
    /// Tabulates every private function: error against float64, rounds, bytes per element.
    Functions(FunctionsArgs),
    /// Times private inference of a model on a random input.
    Model(ModelArgs),
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
    /// With --transport tcp: plain TCP instead of TLS (loopback benchmarking only).
    #[arg(long)]
    no_tls: bool,
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
        Command::Bench(BenchCommand::Model(a)) => bench_model(a),
        Command::Infer(a) => infer(a),
        Command::Party(a) => {
            let session = SessionFile::load(&a.session)?;
            party_main(&session, a.id, a.launched)
        }
        Command::Run(a) => run_experiment(a),
        Command::Plot(a) => plot(a),
        Command::Compare(a) => compare(a),
    }
}

fn run_experiment(a: RunArgs) -> Result<(), Error> {
    let exp = crate::experiment::Experiment::load(&a.experiment)?;
    let out = a.out.unwrap_or_else(|| exp.out_dir.clone());
    if a.dry_run {
        let runs = exp.runs()?;
        for r in &runs {
            let params: Vec<String> = r.columns.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out!(
                "{} {} rep {} {}",
                r.run_id,
                exp.tasks[r.task].name,
                r.rep,
                params.join(" ")
            );
        }
        out!("{}: {} runs -> {}", exp.name, runs.len(), out.display());
        return Ok(());
    }
    let opts = crate::experiment::RunOptions { out, resume: a.resume };
    let r = crate::experiment::run_experiment(&exp, &opts)?;
    out!(
        "{}: {} runs ({} run now, {} already done) -> {}",
        exp.name,
        r.total,
        r.ran,
        r.skipped,
        r.out.join("runs.csv").display()
    );
    if let Ok(md) = std::fs::read_to_string(r.out.join("summary.md")) {
        out!(
            "{}",
            md.lines().filter(|l| l.starts_with('|')).collect::<Vec<_>>().join("\n")
        );
    }
    for f in &r.files {
        out!("wrote {}", f.display());
    }
    Ok(())
}

fn plot(a: PlotArgs) -> Result<(), Error> {
    for f in crate::experiment::plot::redraw(&a.results, a.line.as_deref())? {
        out!("wrote {}", f.display());
    }
    Ok(())
}

/// Prints the comparison table; a regression exits with code 1 (after the table is printed).
fn compare(a: CompareArgs) -> Result<(), Error> {
    use crate::experiment::{compare, results};
    let exp = crate::experiment::Experiment::load(&a.experiment)?;
    let baseline = results::read_summary(&a.baseline)?;
    let out = match a.out {
        Some(o) => o,
        None => {
            let n = u64::from_le_bytes(crate::protocol::prg::os_seed()?[..8].try_into().expect("8 bytes"));
            std::env::temp_dir().join(format!("testbed-compare-{}-{n:016x}", exp.name))
        }
    };
    let opts = crate::experiment::RunOptions {
        out: out.clone(),
        resume: false,
    };
    crate::experiment::run_experiment(&exp, &opts)?;
    let current = results::read_summary(&out.join("summary.json"))?;
    let c = compare::compare(&current, &baseline, &exp.compare);
    out!("{}", compare::render(&c).trim_end());
    out!(
        "{}: {} configurations compared with {}, {} regression(s); results in {}",
        exp.name,
        c.lines.len(),
        a.baseline.display(),
        c.regressions,
        out.display()
    );
    if c.regressions > 0 {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        eprintln!(
            "error: {} regression(s) against {}",
            c.regressions,
            a.baseline.display()
        );
        std::process::exit(1);
    }
    Ok(())
}

/// Loads a protocol with the command line's overrides.
fn protocol(name: &str, parties: Option<usize>, precision: Option<u32>) -> Result<ProtocolConfig, Error> {
    let mut cfg = ProtocolConfig::load(name)?;
    if let Some(n) = parties {
        cfg = cfg.with_parties(n)?;
    }
    if let Some(b) = precision {
        cfg = cfg.with_precision(b)?;
    }
    Ok(cfg)
}

fn print_model_report(r: &OpReport, json: bool) {
    if json {
        let mut v = serde_json::to_value(r).expect("reports serialise");
        if let Some(obj) = v.as_object_mut() {
            if let Some(name) = obj.remove("op") {
                obj.insert("model".into(), name);
            }
        }
        out!("{v}");
    } else {
        print_human(r);
    }
}

/// A path as an absolute string (party processes may run elsewhere).
fn abs_path(p: &std::path::Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// A model argument: zoo names stay, files become absolute paths.
fn abs_model(m: &str) -> String {
    if std::path::Path::new(m).is_file() {
        abs_path(std::path::Path::new(m))
    } else {
        m.to_string()
    }
}

fn weights_privacy(public: bool) -> WeightPrivacy {
    if public {
        WeightPrivacy::Public
    } else {
        WeightPrivacy::Private
    }
}

fn infer(a: InferArgs) -> Result<(), Error> {
    let cfg = protocol(&a.protocol, a.parties, a.precision_bits)?;
    let transport = TransportKind::parse(&a.transport)?;
    let input = match read_npy(&a.input)? {
        NpyArray::F32(t) => Input::F32(t),
        NpyArray::I64 { shape, data } => Input::Ids { shape, data },
    };
    let weights = a.weights.as_ref().map(|w| abs_path(w));
    let graph = prepare_model(&a.model, input.shape(), a.seed.unwrap_or(0), weights.as_deref())?;
    let name = std::path::Path::new(&a.model)
        .file_stem()
        .map_or(a.model.clone(), |s| s.to_string_lossy().into_owned());
    let spec = JobSpec::Model {
        model: abs_model(&a.model),
        input_shape: input.shape().to_vec(),
        input: Some(abs_path(&a.input)),
        weights,
        model_seed: a.seed.unwrap_or(0),
        input_seed: 0,
        public_model: a.public_model,
        reps: 1,
    };
    let run = run_model(
        &cfg,
        &name,
        &graph,
        &input,
        weights_privacy(a.public_model),
        1,
        a.seed,
        transport,
        &spec,
        !a.no_tls,
    )?;
    write_npy_f32(&a.output, &run.output)?;
    print_model_report(&run.report, a.json);
    Ok(())
}

fn bench_model(a: ModelArgs) -> Result<(), Error> {
    let cfg = protocol(&a.protocol, a.parties, a.precision_bits)?;
    let transport = TransportKind::parse(&a.transport)?;
    let shape = parse_shape(&a.input_shape)?;
    let seed = a.seed.unwrap_or(1);
    let graph = load_model(&a.model, &shape, seed)?;
    let input = random_model_input(&graph, &shape, seed)?;
    let spec = JobSpec::Model {
        model: abs_model(&a.model),
        input_shape: shape.clone(),
        input: None,
        weights: None,
        model_seed: seed,
        input_seed: seed,
        public_model: a.public_model,
        reps: a.reps,
    };
    let run = run_model(
        &cfg,
        &a.model,
        &graph,
        &input,
        weights_privacy(a.public_model),
        a.reps,
        a.seed,
        transport,
        &spec,
        !a.no_tls,
    )?;
    print_model_report(&run.report, a.json);
    Ok(())
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
    let dir = a
        .out
        .unwrap_or_else(|| std::path::Path::new("results/functions").join(&cfg.name));
    write_function_table(&rows, &cfg.name, &dir)?;
    for r in &rows {
        out!(
            "{:<12} rounds {:>3}  bytes/elem {:>8.2}  max abs err {:.2e}  max rel err {:.2e}",
            r.function,
            r.rounds,
            r.bytes_per_element,
            r.max_abs_err,
            r.max_rel_err
        );
    }
    out!("wrote {}", dir.join("functions.md").display());
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
        conv: ConvArgs {
            stride: a.stride,
            padding: a.padding,
            dilation: a.dilation,
            groups: a.groups,
        },
        reps: a.reps,
        seed: a.seed,
        transport: TransportKind::parse(&a.transport)?,
    };
    let report = run_op_with(&cfg, &spec, !a.no_tls)?;
    if a.json {
        out!("{}", serde_json::to_string(&report).expect("reports serialise"));
    } else {
        print_human(&report);
    }
    Ok(())
}

fn print_human(r: &OpReport) {
    out!(
        "{} on {} ({} parties, {}), shapes {}",
        r.op,
        r.protocol,
        r.parties,
        r.transport,
        r.shapes.join(", ")
    );
    out!("  wall          {:.6} s (median of {})", r.wall_s, r.reps);
    out!("  rounds        {} (per party {:?})", r.rounds, r.rounds_per_party);
    out!(
        "  bytes sent    {:?} per party online, {} offline",
        r.bytes_sent_per_party,
        r.bytes_offline_total
    );
    out!(
        "  error         max abs {:.3e}, max rel {:.3e}",
        r.max_abs_err,
        r.max_rel_err
    );
}
