//! `testbed bench functions`: every function of the catalogue ([`Func`]) on its domain, its
//! error against float64, rounds and bytes per element, and its outright failures over a larger
//! evaluation; written as `functions.md` and `functions.csv`.

use super::failures::{self, Failures};
use super::funcs::{Func, table_shape};
use super::op::{ConvArgs, OpKind, OpSpec, run_op};
use crate::error::{Error, Result};
use crate::launch::TransportKind;
use crate::protocol::ProtocolConfig;
use crate::ring::{numel, shape_string};
use serde::Serialize;

/// One row of the function accuracy/cost table.
#[derive(Clone, Debug, Serialize)]
pub struct FunctionRow {
    pub function: String,
    pub domain: String,
    pub shape: String,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    /// The critical path (dealer hops included) and the rounds between parties.
    pub rounds: u64,
    pub rounds_between_parties: u64,
    pub bytes_per_element: f64,
    pub offline_bytes_per_element: f64,
    pub wall_s: f64,
    /// Outputs that failed outright ([`failures::is_failure`]) over a separate, larger evaluation.
    pub failures: Failures,
}

/// Measures every catalogue function on about `n` elements of its domain: errors against float64,
/// rounds, bytes per element (sent per party) and offline bytes per element; then counts failed
/// outputs over `failure_n` more elements (rare truncation wraps need ~10^6 to show).
pub fn function_table(cfg: &ProtocolConfig, n: usize, failure_n: usize, seed: u64) -> Result<Vec<FunctionRow>> {
    let mut rows = Vec::new();
    for &(_, f) in Func::ALL.iter() {
        // Other seeds than the table's run, so the two samples are independent.
        let failures = failures::count_failures(cfg, f, failure_n, failures::FAILURE_CHUNK, seed.wrapping_add(1_000))?;
        let shape = table_shape(f, n);
        let spec = OpSpec {
            op: OpKind::Func(f),
            shapes: vec![shape.clone(); f.arity()],
            conv: ConvArgs::default(),
            reps: 1,
            warmup: 0,
            on_demand: false,
            seed: Some(seed),
            transport: TransportKind::Sim,
            insecure_share_seed: None,
        };
        let r = run_op(cfg, &spec)?;
        let elems = numel(&shape) as f64;
        let (lo, hi) = f.domain();
        rows.push(FunctionRow {
            function: f.name().to_string(),
            domain: format!("[{lo}, {hi}]"),
            shape: shape_string(&shape),
            max_abs_err: r.max_abs_err,
            max_rel_err: r.max_rel_err,
            rounds: r.rounds,
            rounds_between_parties: r.rounds_between_parties,
            bytes_per_element: r.bytes_sent_per_party.iter().copied().max().unwrap_or(0) as f64 / elems,
            offline_bytes_per_element: r.bytes_offline_total as f64 / elems,
            wall_s: r.wall_s,
            failures,
        });
    }
    Ok(rows)
}

/// Writes the function table as `functions.md` and `functions.csv` in `dir` (atomically).
pub fn write_function_table(rows: &[FunctionRow], protocol: &str, dir: &std::path::Path) -> Result<()> {
    let io = |path: &std::path::Path, e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let inputs = rows.first().map_or(0, |r| r.failures.inputs);
    let mut md = format!(
        "# Private functions on {protocol}\n\nErrors against float64 on each function's domain; rounds are the critical path (dealer hops \
         included) and, in brackets, the rounds between the parties; bytes are sent per party per element. \
         Failures: outputs off by more than 1.0 and more than the true value's magnitude (a wrapped truncation, not an \
         approximation's error), counted over a separate evaluation of about {inputs} input elements per function \
         (failed / outputs checked; worst error of a failed output).\n\n\
         | function | domain | shape | max abs err | max rel err | rounds | bytes/elem | offline bytes/elem | failures | worst failure |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    let mut csv = String::from(
        "function,domain,shape,max_abs_err,max_rel_err,rounds,rounds_between_parties,bytes_per_element,offline_bytes_per_element,wall_s,\
         failure_inputs,failure_outputs,failures,worst_failure_err\n",
    );
    for r in rows {
        let fl = &r.failures;
        md.push_str(&format!(
            "| {} | {} | {} | {:.2e} | {:.2e} | {} ({}) | {:.2} | {:.2} | {} / {} | {} |\n",
            r.function,
            r.domain,
            r.shape,
            r.max_abs_err,
            r.max_rel_err,
            r.rounds,
            r.rounds_between_parties,
            r.bytes_per_element,
            r.offline_bytes_per_element,
            fl.failed,
            fl.outputs,
            if fl.failed > 0 {
                format!("{:.2e}", fl.worst)
            } else {
                "-".into()
            }
        ));
        csv.push_str(&format!(
            "{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.function,
            r.domain,
            r.shape,
            r.max_abs_err,
            r.max_rel_err,
            r.rounds,
            r.rounds_between_parties,
            r.bytes_per_element,
            r.offline_bytes_per_element,
            r.wall_s,
            fl.inputs,
            fl.outputs,
            fl.failed,
            fl.worst
        ));
    }
    for (name, text) in [("functions.md", md), ("functions.csv", csv)] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    }
    Ok(())
}
