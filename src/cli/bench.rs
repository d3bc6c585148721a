//! `testbed bench op | functions | model`: benchmarks of private operations.

use super::args::{
    JsonArg, PartiesArg, ProtocolArgs, PublicModelArg, SeedArgs, SimLatencyArg, TransportArgs, load_protocol,
};
use crate::bench::failures::FAILURE_EVALUATIONS;
use crate::bench::{
    ConvArgs, OpKind, OpReport, OpSpec, function_table, parse_shape, random_model_input, run_op_delayed,
    write_function_table,
};
use crate::data::model::ModelSource;
use crate::error::Error;
use crate::launch::model::{ModelRunSpec, run_model};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Times one private op on random inputs and counts its rounds and bytes.
    Op(OpArgs),
    /// Tabulates every private function: error against float64, rounds, bytes per element.
    Functions(FunctionsArgs),
    /// Times private inference of a model on a random input.
    Model(ModelArgs),
}

#[derive(Args, Debug)]
pub struct OpArgs {
    /// Protocol variant: a name in protocols/ (e.g. 2pc-ttp) or a path to a YAML file.
    #[arg(long)]
    protocol: String,
    #[command(flatten)]
    parties: PartiesArg,
    /// The op: add, mul, square, matmul, conv1d, conv2d.
    #[arg(long)]
    op: String,
    /// Input shape like 1000000 or 1x3x224x224; give one per operand.
    #[arg(long = "shape")]
    shapes: Vec<String>,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    seeds: SeedArgs,
    /// Repetitions; the reported wall time is their median.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Unmeasured repetitions run first (page faults, connection warm-up). With a dealer, the
    /// first records the dealer's plan: the measured repetitions then run with the dealer ahead,
    /// followed by as many online-only ones (`online_wall_s`).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// The dealer answers each step's request as it comes (no running ahead).
    #[arg(long)]
    on_demand: bool,
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
    #[command(flatten)]
    sim_latency: SimLatencyArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Args, Debug)]
pub struct FunctionsArgs {
    /// Protocol variant: a name in protocols/ or a path.
    #[arg(long, default_value = "2pc-ttp")]
    protocol: String,
    #[command(flatten)]
    parties: PartiesArg,
    /// Elements per function.
    #[arg(long, default_value_t = 10_000)]
    elements: usize,
    /// Elements per function over which outright failures (wrapped truncations) are counted.
    #[arg(long, default_value_t = FAILURE_EVALUATIONS)]
    failure_elements: usize,
    /// Output folder (default results/functions/<protocol>).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Seed of the random inputs and shares.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// A zoo model name or an ONNX file.
    #[arg(long)]
    model: String,
    /// Input shape like 1x3x224x224.
    #[arg(long)]
    input_shape: String,
    #[command(flatten)]
    protocol: ProtocolArgs,
    #[command(flatten)]
    transport: TransportArgs,
    /// Repetitions; the reported wall time is their median.
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Unmeasured repetitions run first (page faults, connection warm-up). With a dealer, the
    /// first records the dealer's plan: the measured repetitions then run with the dealer ahead,
    /// followed by as many online-only ones (`online_wall_s`).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// The dealer answers each step's request as it comes (no running ahead).
    #[arg(long)]
    on_demand: bool,
    #[command(flatten)]
    public_model: PublicModelArg,
    #[command(flatten)]
    seeds: SeedArgs,
    #[command(flatten)]
    sim_latency: SimLatencyArg,
    #[command(flatten)]
    json: JsonArg,
}

pub fn run(c: BenchCommand) -> Result<(), Error> {
    match c {
        BenchCommand::Op(a) => op(a),
        BenchCommand::Functions(a) => functions(a),
        BenchCommand::Model(a) => model(a),
    }
}

fn op(a: OpArgs) -> Result<(), Error> {
    let cfg = load_protocol(&a.protocol, a.parties.parties, None)?;
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
        warmup: a.warmup,
        on_demand: a.on_demand,
        seed: a.seeds.seed,
        transport: a.transport.kind(),
        insecure_share_seed: a.seeds.share.announced(),
    };
    let report = run_op_delayed(&cfg, &spec, a.transport.tls(), a.sim_latency.duration()?)?;
    if a.json.json {
        out!("{}", serde_json::to_string(&report).expect("reports serialise"));
    } else {
        print_human(&report);
    }
    Ok(())
}

fn functions(a: FunctionsArgs) -> Result<(), Error> {
    let cfg = load_protocol(&a.protocol, a.parties.parties, None)?;
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

fn model(a: ModelArgs) -> Result<(), Error> {
    let cfg = a.protocol.load()?;
    let shape = parse_shape(&a.input_shape)?;
    let seed = a.seeds.seed.unwrap_or(1);
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
            weights: a.public_model.privacy(),
            reps: a.reps,
            warmup: a.warmup,
            on_demand: a.on_demand,
            insecure_share_seed: a.seeds.share.announced(),
            transport: a.transport.kind(),
            tls: a.transport.tls(),
            sim_latency: a.sim_latency.duration()?,
            reveal_to: None,
        },
    )?;
    print_model_report(&run.report, a.json.json);
    Ok(())
}

/// A model run's report: the JSON line names the model where an op report names the op.
pub fn print_model_report(r: &OpReport, json: bool) {
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

fn print_human(r: &OpReport) {
    out!(
        "{} on {} ({} parties, {}), shapes {}",
        r.op,
        r.protocol,
        r.parties,
        r.transport,
        r.shapes.join(", ")
    );
    out!(
        "  wall          {:.6} s (median of {}, after {} warm-up)",
        r.wall_s,
        r.reps,
        r.warmup
    );
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
