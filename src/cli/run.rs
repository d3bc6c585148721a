//! `testbed run`: an experiment file expanded into runs, executed, summarised and plotted.

use crate::error::Error;
use crate::experiment::{Experiment, RunOptions, run_experiment};
use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {
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

pub fn run(a: RunArgs) -> Result<(), Error> {
    let exp = Experiment::load(&a.experiment)?;
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
    let opts = RunOptions { out, resume: a.resume };
    let r = run_experiment(&exp, &opts)?;
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
