//! `testbed onnx-conformance`: ONNX's node test cases in plaintext and privately.

use super::args::{ShareSeedArg, load_protocol};
use crate::error::Error;
use crate::nn::onnx::conformance::{self, Options};
use clap::Args;

#[derive(Args, Debug)]
pub struct ConformanceArgs {
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
    /// Fixed share randomness of the private sessions makes reports reproducible; without it,
    /// shares come from the OS.
    #[command(flatten)]
    share: ShareSeedArg,
}

pub fn run(a: ConformanceArgs) -> Result<(), Error> {
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
        .map(|n| load_protocol(n, None, None))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = Options {
        protocols: &protocols,
        insecure_share_seed: a.share.announced(),
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
