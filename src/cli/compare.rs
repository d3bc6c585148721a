//! `testbed compare`: runs an experiment and compares it with a baseline summary.json.

use super::Failure;
use crate::experiment::{Experiment, RunOptions, compare, results, run_experiment};
use clap::Args;

#[derive(Args, Debug)]
pub struct CompareArgs {
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

/// Prints the comparison table; a regression fails the command (after the table is printed).
pub fn run(a: CompareArgs) -> Result<(), Failure> {
    let exp = Experiment::load(&a.experiment)?;
    let baseline = results::read_summary(&a.baseline)?;
    let out = match a.out {
        Some(o) => o,
        None => {
            let n = u64::from_le_bytes(crate::protocol::prg::os_seed()?[..8].try_into().expect("8 bytes"));
            std::env::temp_dir().join(format!("testbed-compare-{}-{n:016x}", exp.name))
        }
    };
    let opts = RunOptions {
        out: out.clone(),
        resume: false,
    };
    run_experiment(&exp, &opts)?;
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
    match c.verdict(accept) {
        Some(why) => Err(Failure::Verdict(format!("against {}: {why}", a.baseline.display()))),
        None => Ok(()),
    }
}
