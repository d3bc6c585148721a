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

use crate::bench::model::{ModelRunSpec, absolute, run_model};
use crate::bench::{
    ConvArgs, OpKind, OpReport, OpSpec, TransportKind, function_table, parse_shape, random_model_input, run_op_delayed,
    write_function_table,
};
use crate::data::model::ModelSource;
use crate::error::Error;
use crate::launch::SessionFile;
use crate::launch::{JobSpec, PartyInputs};
use crate::nn::infer::WeightPrivacy;
use crate::nn::io::write_npy_f32;
use crate::party::{Report, party_main, read_input};
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
    /// Trains a model in plaintext or privately and reports loss and accuracy.
    Train(TrainArgs),
    /// Runs ONNX's node test cases (libonnx-testdata) in plaintext and privately; prints the table.
    OnnxConformance(ConformanceArgs),
    /// Converts a PyTorch state-dict checkpoint (.pth) to safetensors, without torch: the pickle
    /// is read by a restricted interpreter that accepts tensor data only.
    ConvertPth(ConvertPthArgs),
    /// Runs an experiment (YAML): writes runs.csv, summary.json, summary.md and plots.
    Run(RunArgs),
    /// Re-draws the plots of a results folder from its runs.csv.
    Plot(PlotArgs),
    /// Runs an experiment and compares it with a baseline summary.json; exit 1 on a regression.
    Compare(CompareArgs),
    /// Makes every endpoint's key and certificate, and a session file with their pins, for a
    /// multi-host run.
    Certs(CertsArgs),
}

#[derive(Args, Debug)]
struct CertsArgs {
    /// Computing parties.
    #[arg(long)]
    parties: usize,
    /// The protocol has a dealer (an endpoint of its own, the last id).
    #[arg(long)]
    dealer: bool,
    /// Folder to write the keys, certificates and session.yaml into (nothing is overwritten).
    #[arg(long)]
    out: std::path::PathBuf,
    /// Protocol variant for session.yaml (default: 2pc-ttp, npc-additive or 3pc-replicated, as
    /// the parties and --dealer fit).
    #[arg(long)]
    protocol: Option<String>,
    /// Days the certificates stay valid.
    #[arg(long, default_value_t = crate::net::tcp::DEFAULT_VALID_DAYS)]
    days: u32,
    /// The job session.yaml names: bench-op (a ReLU benchmark) or infer (private inference).
    #[arg(long, default_value = "bench-op")]
    job: String,
}

#[derive(Args, Debug)]
struct ConvertPthArgs {
    /// The checkpoint (`torch.save(model.state_dict(), ...)`).
    input: std::path::PathBuf,
    /// The safetensors file to write (float tensors as f32).
    output: std::path::PathBuf,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// A zoo model name, `logreg` (one linear layer) or an ONNX file.
    #[arg(long)]
    model: String,
    /// A data set name (see `testbed::data::NAMES`).
    #[arg(long)]
    data: String,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples per mini-batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// sgd or adam (adam: plaintext only).
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0)]
    momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Zero gradient elements whose magnitude exceeds this (CrypTen's grad_threshold).
    #[arg(long)]
    grad_threshold: Option<f64>,
    /// ce, nll, mse, bce or bce-logits (default: nll for models ending in LogSoftmax, else ce).
    #[arg(long)]
    loss: Option<String>,
    /// `plaintext`, or a protocol variant (a name in protocols/ or a path) for private training.
    #[arg(long, default_value = "plaintext")]
    protocol: String,
    /// Number of parties (where the family allows it).
    #[arg(long)]
    parties: Option<usize>,
    /// Fractional bits (overrides the protocol file).
    #[arg(long)]
    precision_bits: Option<u32>,
    /// Private training: who owns the data, `rows` or `features`.
    #[arg(long, default_value = "rows")]
    split: String,
    /// Train on the first N training samples only.
    #[arg(long)]
    subset: Option<usize>,
    /// Initial weights (safetensors, by tensor name) instead of the zoo's random ones.
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
    /// Write the trained weights here (safetensors; every epoch in plaintext).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Seed of the initial weights and the batch order (data side; shares come from the OS).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// INSECURE: derive every party's share randomness from this seed (tests only).
    #[arg(long, value_name = "S")]
    insecure_share_seed: Option<u64>,
    /// Private training: sim (parties are threads) or tcp (one process per party).
    #[arg(long, default_value = "sim")]
    transport: String,
    /// With --transport tcp: plain TCP instead of TLS (loopback benchmarking only).
    #[arg(long)]
    no_tls: bool,
    /// Print one line of JSON last.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ConformanceArgs {
    /// The folder of cases (default: data/onnx-testdata/node, fetched by `scripts/fetch-data.sh onnx-testdata`).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Protocols of the private runs (repeatable; default 2pc-ttp and 3pc-replicated; `none` for plaintext only).
    #[arg(long = "protocol")]
    protocols: Vec<String>,
    /// Only cases whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Also write the markdown report here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Print one line per case.
    #[arg(long)]
    verbose: bool,
    /// INSECURE: fixed share randomness of the private sessions (reproducible reports); without
    /// it, from the OS.
    #[arg(long, value_name = "S")]
    insecure_share_seed: Option<u64>,
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
    /// Pass although baseline configurations are missing from this run.
    #[arg(long)]
    allow_missing: bool,
    /// Pass although this run has configurations the baseline lacks.
    #[arg(long)]
    accept_new: bool,
    /// Pass although a task's definition (or the seed) differs from the baseline's.
    #[arg(long)]
    accept_changed: bool,
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
    /// The model owner's model (party 0): a zoo name or an ONNX file.
    #[arg(long)]
    model: Option<String>,
    /// The model owner's weights (safetensors, by tensor name).
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
    /// The data owner's input (.npy).
    #[arg(long)]
    input: Option<std::path::PathBuf>,
    /// Where this party writes what is revealed to it (.npy; trained weights: .safetensors).
    #[arg(long)]
    output: Option<std::path::PathBuf>,
    /// This party's data: its training rows or feature columns, or the samples to evaluate (.npy).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// This party's labels (.npy of int64).
    #[arg(long)]
    labels: Option<std::path::PathBuf>,
    /// Print the full report as one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
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
    /// Seed of a zoo model's random weights (data side).
    #[arg(long)]
    seed: Option<u64>,
    /// INSECURE: derive every party's share randomness from this seed (tests only).
    #[arg(long, value_name = "S")]
    insecure_share_seed: Option<u64>,
    /// Parties the output is revealed to (comma-separated ids; default: the data owner).
    #[arg(long, value_delimiter = ',')]
    reveal_to: Vec<usize>,
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
    /// Seed of the random input and weights (data side; shares come from the OS).
    #[arg(long)]
    seed: Option<u64>,
    /// INSECURE: derive every party's share randomness from this seed (tests only).
    #[arg(long, value_name = "S")]
    insecure_share_seed: Option<u64>,
    /// With --transport sim: delay every message by this one-way latency (milliseconds).
    #[arg(long, value_name = "MS")]
    sim_latency: Option<f64>,
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
    /// Elements per function over which outright failures (wrapped truncations) are counted.
    #[arg(long, default_value_t = crate::bench::funcs::FAILURE_EVALUATIONS)]
    failure_elements: usize,
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
    /// Seed of the synthetic inputs (data side; shares come from the OS).
    #[arg(long)]
    seed: Option<u64>,
    /// INSECURE: derive every party's share randomness from this seed (tests only).
    #[arg(long, value_name = "S")]
    insecure_share_seed: Option<u64>,
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
    /// With --transport sim: delay every message by this one-way latency (milliseconds), to see
    /// the critical path in the wall time.
    #[arg(long, value_name = "MS")]
    sim_latency: Option<f64>,
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
        Command::Train(a) => train(a),
        Command::OnnxConformance(a) => onnx_conformance(a),
        Command::Party(a) => {
            let session = SessionFile::load(&a.session)?;
            let own = PartyInputs {
                model: a.model,
                weights: a.weights,
                input: a.input,
                output: a.output,
                data: a.data,
                labels: a.labels,
            };
            let report = if a.json { Report::Json } else { Report::Human };
            party_main(&session, a.id, a.launched, &own, report)
        }
        Command::ConvertPth(a) => {
            let (n, skipped) = crate::data::mnist::convert_pth(&a.input, &a.output)?;
            out!("{}: {n} tensors", a.output.display());
            if !skipped.is_empty() {
                out!("skipped integer tensors: {}", skipped.join(", "));
            }
            Ok(())
        }
        Command::Run(a) => run_experiment(a),
        Command::Plot(a) => plot(a),
        Command::Compare(a) => compare(a),
        Command::Certs(a) => certs(a),
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
        "{}: {} configurations compared with {}, {} regression(s), {} missing, {} new, {} changed; results in {}",
        exp.name,
        c.lines.len(),
        a.baseline.display(),
        c.regressions,
        c.missing.len(),
        c.new_count(),
        c.changed_count(),
        out.display()
    );
    let accept = compare::Accept {
        missing: a.allow_missing,
        new: a.accept_new,
        changed: a.accept_changed,
    };
    if let Some(why) = c.verdict(accept) {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        eprintln!("error: against {}: {why}", a.baseline.display());
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
    let input = read_input(&a.input)?;
    let source = ModelSource::new(&a.model, a.seed.unwrap_or(0)).with_weights(a.weights.as_deref().map(absolute));
    let graph = source.load(input.shape())?;
    let name = std::path::Path::new(&a.model)
        .file_stem()
        .map_or(a.model.clone(), |s| s.to_string_lossy().into_owned());
    let run = run_model(
        &cfg,
        &ModelRunSpec {
            name: &name,
            source: &source,
            graph: &graph,
            input: &input,
            weights: weights_privacy(a.public_model),
            reps: 1,
            insecure_share_seed: share_seed(a.insecure_share_seed),
            transport,
            tls: !a.no_tls,
            sim_latency: None,
            reveal_to: (!a.reveal_to.is_empty()).then_some(a.reveal_to),
        },
    )?;
    write_npy_f32(&a.output, &run.output)?;
    print_model_report(&run.report, a.json);
    Ok(())
}

/// The insecure share seed of a command, announced loudly.
fn share_seed(seed: Option<u64>) -> Option<u64> {
    if let Some(s) = seed {
        eprintln!(
            "warning: INSECURE: share randomness derived from the fixed seed {s}: anyone who knows it \
             recomputes every party's masks (tests only)"
        );
    }
    seed
}

fn onnx_conformance(a: ConformanceArgs) -> Result<(), Error> {
    use crate::nn::onnx::conformance::{self, Options};
    let dir = match a.dir {
        Some(d) => d,
        None => crate::data::require("onnx-testdata", "onnx-testdata/node")?,
    };
    let names = if a.protocols.is_empty() {
        vec!["2pc-ttp".to_string(), "3pc-replicated".to_string()]
    } else {
        a.protocols.into_iter().filter(|p| p != "none").collect()
    };
    let protocols = names
        .iter()
        .map(|n| protocol(n, None, None))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = Options {
        protocols: &protocols,
        insecure_share_seed: share_seed(a.insecure_share_seed),
    };
    let mut results = Vec::new();
    for case in conformance::list_cases(&dir)? {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if a.filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let r = conformance::run_case(&case, &opts);
        if a.verbose {
            out!("{}: {} {}", r.name, r.status.label(), r.status.detail());
        }
        results.push(r);
    }
    let md = conformance::markdown(&results, &protocols);
    if let Some(path) = &a.out {
        std::fs::write(path, &md).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    out!("{md}");
    Ok(())
}

fn bench_model(a: ModelArgs) -> Result<(), Error> {
    let cfg = protocol(&a.protocol, a.parties, a.precision_bits)?;
    let transport = TransportKind::parse(&a.transport)?;
    let shape = parse_shape(&a.input_shape)?;
    let seed = a.seed.unwrap_or(1);
    let source = ModelSource::new(&a.model, seed);
    let graph = source.load(&shape)?;
    let input = random_model_input(&graph, &shape, seed)?;
    let run = run_model(
        &cfg,
        &ModelRunSpec {
            name: &a.model,
            source: &source,
            graph: &graph,
            input: &input,
            weights: weights_privacy(a.public_model),
            reps: a.reps,
            insecure_share_seed: share_seed(a.insecure_share_seed),
            transport,
            tls: !a.no_tls,
            sim_latency: sim_latency(a.sim_latency)?,
            reveal_to: None,
        },
    )?;
    print_model_report(&run.report, a.json);
    Ok(())
}

/// `--sim-latency MS` as a duration (none when absent or zero).
fn sim_latency(ms: Option<f64>) -> Result<Option<std::time::Duration>, Error> {
    match ms {
        None => Ok(None),
        Some(ms) if ms.is_finite() && (0.0..=60_000.0).contains(&ms) => {
            Ok(Some(std::time::Duration::from_secs_f64(ms / 1e3)).filter(|d| !d.is_zero()))
        }
        Some(ms) => Err(Error::invalid(
            "--sim-latency",
            format!("{ms} is not a latency in milliseconds between 0 and 60000"),
        )),
    }
}

fn train(a: TrainArgs) -> Result<(), Error> {
    use crate::nn::autograd::{Loss, Sgd};
    use crate::train::{Optimizer, TrainConfig};
    let transport = TransportKind::parse(&a.transport)?;
    let mut split = crate::data::load(&a.data)?;
    if let Some(n) = a.subset {
        split.train = split.train.take(n)?;
    }
    let mut input = vec![a.batch];
    input.extend_from_slice(split.train.sample_shape());
    let mut graph = crate::train::build_model(&a.model, &input, split.train.classes, a.seed)?;
    if let Some(w) = &a.weights {
        crate::nn::weights::load_weights(&mut graph, w, false)?;
    }
    let loss = match &a.loss {
        Some(l) => Loss::parse(l)?,
        None if crate::train::default_loss(&graph) == Loss::Nll => Loss::Nll,
        None => Loss::CrossEntropy,
    };
    let sgd = Sgd {
        lr: a.lr,
        momentum: a.momentum,
        weight_decay: a.weight_decay,
        nesterov: a.nesterov,
        grad_threshold: a.grad_threshold,
    };
    let optimizer = match a.optimizer.as_str() {
        "sgd" => Optimizer::Sgd(sgd),
        "adam" => Optimizer::Adam {
            lr: a.lr,
            weight_decay: a.weight_decay,
        },
        other => return Err(Error::invalid("--optimizer", format!("`{other}` is not sgd or adam"))),
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch: a.batch,
        optimizer,
        loss,
        seed: a.seed,
        progress: true,
    };
    let data_split = crate::train::private::DataSplit::parse(&a.split)?;
    let name = std::path::Path::new(&a.model)
        .file_stem()
        .map_or(a.model.clone(), |s| s.to_string_lossy().into_owned());
    let (trained, report) = if a.protocol == "plaintext" {
        crate::train::train_plain(&graph, &name, &split, &cfg, a.out.as_deref())?
    } else {
        let proto = protocol(&a.protocol, a.parties, a.precision_bits)?;
        let spec = JobSpec::Train {
            epochs: a.epochs,
            batch: a.batch,
            lr: a.lr,
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            nesterov: a.nesterov,
            grad_threshold: a.grad_threshold,
            loss: loss.name().into(),
            split: a.split.clone(),
            seed: a.seed,
            classes: split.train.classes,
        };
        let model_files = PartyInputs {
            model: Some(absolute(std::path::Path::new(&a.model)).display().to_string()),
            weights: a.weights.as_deref().map(absolute),
            ..Default::default()
        };
        let tls = !a.no_tls;
        let runner = |job: &crate::train::private::TrainJob<'_>, opts: &crate::protocol::SessionOptions| {
            crate::train::private::run_train_job(&proto, opts, job, &spec, transport, tls, &model_files)
        };
        crate::train::private::train_private_with(
            &proto,
            &graph,
            &name,
            &split,
            &cfg,
            data_split,
            share_seed(a.insecure_share_seed),
            transport.name(),
            runner,
        )?
    };
    if let Some(out) = &a.out {
        crate::nn::weights::save_weights(&trained, out)?;
    }
    if a.json {
        out!("{}", serde_json::to_string(&report).expect("reports serialise"));
    } else {
        out!(
            "trained {} on {} ({}, {} epochs): loss {:.4}, train accuracy {:.4}, test accuracy {:.4}, {:.3} s/epoch",
            report.model,
            report.data,
            report.protocol,
            report.epochs,
            report.final_loss,
            report.train_accuracy,
            report.test_accuracy,
            report.seconds_per_epoch
        );
        if report.protocol != "plaintext" {
            out!(
                "  rounds {}, bytes sent per party {:?}, {:.0} bytes per sample",
                report.rounds,
                report.bytes_sent_per_party,
                report.bytes_per_sample
            );
        }
    }
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
    let rows = function_table(&cfg, a.elements, a.failure_elements, a.seed)?;
    let dir = a
        .out
        .unwrap_or_else(|| std::path::Path::new("results/functions").join(&cfg.name));
    write_function_table(&rows, &cfg.name, &dir)?;
    for r in &rows {
        out!(
            "{:<12} rounds {:>3}  bytes/elem {:>8.2}  max abs err {:.2e}  max rel err {:.2e}  failures {}/{}",
            r.function,
            r.rounds,
            r.bytes_per_element,
            r.max_abs_err,
            r.max_rel_err,
            r.failures.failed,
            r.failures.outputs
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
        insecure_share_seed: share_seed(a.insecure_share_seed),
    };
    let report = run_op_delayed(&cfg, &spec, !a.no_tls, sim_latency(a.sim_latency)?)?;
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
    out!(
        "  rounds        {} on the critical path, {} between parties (send-then-wait per party {:?})",
        r.rounds,
        r.rounds_between_parties,
        r.rounds_per_party
    );
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

fn certs(a: CertsArgs) -> Result<(), Error> {
    let report = crate::launch::make_certs(&crate::launch::CertsOptions {
        parties: a.parties,
        dealer: a.dealer,
        protocol: a.protocol,
        days: a.days,
        out: a.out,
        job: a.job,
    })?;
    for (name, files, pin) in &report.endpoints {
        out!(
            "{name:<9} {} {}  {}",
            files.cert.display(),
            files.key.display(),
            pin.short()
        );
    }
    out!("session   {}", report.session.display());
    out!(
        "next: edit the addresses in {}, then copy to each machine the session file and only its own .crt and .key",
        report.session.display()
    );
    Ok(())
}
