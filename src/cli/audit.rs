//! `testbed audit`: the empirical leakage test of a protocol variant (see `crate::audit`).

use super::Failure;
use super::args::{AuditOpName, JsonArg, PartiesArg, load_protocol};
use crate::audit::{AuditSpec, run_audit};
use clap::Args;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Protocol variant: a name in protocols/ or a path to a YAML file.
    #[arg(long)]
    protocol: String,
    #[command(flatten)]
    parties: PartiesArg,
    /// The op whose views are tested.
    #[arg(long, value_enum)]
    op: AuditOpName,
    /// Element count S of the op's inputs ([S]; matmul: [4, S] · [S, 4]).
    #[arg(long, default_value_t = 16)]
    shape: usize,
    /// Trials (fresh sessions), half on each of the two settings of the secret inputs.
    #[arg(long, default_value_t = 10_000)]
    trials: usize,
    /// A corrected p-value below this fails the audit (exit 1).
    #[arg(long, default_value_t = 1e-6)]
    threshold: f64,
    /// Seed of the sampled slot pairs and features (the sessions' randomness is always fresh).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    json: JsonArg,
}

/// Prints the smallest corrected p-value per endpoint; a leak fails the command.
pub fn run(a: AuditArgs) -> Result<(), Failure> {
    let protocol = load_protocol(&a.protocol, a.parties.parties, None)?;
    let spec = AuditSpec {
        protocol,
        op: a.op.into(),
        shape: a.shape,
        trials: a.trials,
        threshold: a.threshold,
        seed: a.seed,
    };
    let r = run_audit(&spec)?;
    for e in &r.endpoints {
        out!(
            "{:<8} {:>6} slots  min corrected p {:.3e}  {}  [{}]",
            e.party,
            e.view_slots,
            e.min_p,
            e.test,
            e.slots.join(", ")
        );
    }
    out!(
        "{} {} shape {}: {} trials, {} tests: {} (smallest corrected p {:.3e} at {}, threshold {:e})",
        r.protocol,
        r.op,
        r.shape,
        r.trials,
        r.tests,
        if r.leak { "LEAK" } else { "no leak found" },
        r.min_p,
        r.party,
        r.threshold
    );
    if a.json.json {
        out!("{}", serde_json::to_string(&r).unwrap_or_default());
    }
    if r.leak {
        return Err(Failure::Verdict(format!(
            "{}: the view of {} depends on the secret inputs (corrected p = {:.3e} < {:e}, {})",
            r.protocol, r.party, r.min_p, r.threshold, r.test
        )));
    }
    Ok(())
}
