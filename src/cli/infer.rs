//! `testbed infer`: a model run privately on one input, the revealed output written to a file.

use super::args::{JsonArg, ProtocolArgs, PublicModelArg, SeedArgs, TransportArgs, model_label};
use super::bench::print_model_report;
use crate::data::model::ModelSource;
use crate::error::Error;
use crate::launch::model::{ModelRunSpec, absolute, run_model};
use crate::nn::io::write_npy_f32;
use crate::party::read_input;
use clap::Args;

#[derive(Args, Debug)]
pub struct InferArgs {
    /// An ONNX file or a zoo model name (lenet, resnet18, resnet34, resnet50, wav2letter, textcls, transformer, mlp).
    #[arg(long)]
    model: String,
    /// Input tensor (.npy; float32/float64, or int64 token ids).
    #[arg(long)]
    input: std::path::PathBuf,
    /// Where to write the revealed output (.npy, float32).
    #[arg(long)]
    output: std::path::PathBuf,
    #[command(flatten)]
    protocol: ProtocolArgs,
    #[command(flatten)]
    transport: TransportArgs,
    /// Weights from a safetensors file (zoo models), by tensor name.
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
    #[command(flatten)]
    public_model: PublicModelArg,
    #[command(flatten)]
    seeds: SeedArgs,
    /// Parties the output is revealed to (comma-separated ids; default: the data owner).
    #[arg(long, value_delimiter = ',')]
    reveal_to: Vec<usize>,
    #[command(flatten)]
    json: JsonArg,
}

pub fn run(a: InferArgs) -> Result<(), Error> {
    let cfg = a.protocol.load()?;
    let input = read_input(&a.input)?;
    let source = ModelSource::new(&a.model, a.seeds.seed.unwrap_or(0)).with_weights(a.weights.as_deref().map(absolute));
    let graph = source.load(input.shape())?;
    let run = run_model(
        &cfg,
        &ModelRunSpec {
            name: &model_label(&a.model),
            source: &source,
            graph: &graph,
            input: &input,
            weights: a.public_model.privacy(),
            reps: 1,
            warmup: 0,
            on_demand: true,
            insecure_share_seed: a.seeds.share.announced(),
            transport: a.transport.kind(),
            tls: a.transport.tls(),
            sim_latency: None,
            reveal_to: (!a.reveal_to.is_empty()).then_some(a.reveal_to),
        },
    )?;
    write_npy_f32(&a.output, &run.output)?;
    print_model_report(&run.report, a.json.json);
    Ok(())
}
