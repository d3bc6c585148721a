//! `testbed party`: one endpoint of a session file, with this party's own files.

use crate::error::Error;
use crate::launch::{PartyInputs, SessionFile};
use crate::party::{Report, party_main};
use clap::Args;

#[derive(Args, Debug)]
pub struct PartyArgs {
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

pub fn run(a: PartyArgs) -> Result<(), Error> {
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
