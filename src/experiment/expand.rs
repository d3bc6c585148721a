//! The expansion of an experiment into runs.
//!
//! The runs are the cartesian product tasks × protocols × sweep values (in the order the sweep lists
//! them) × repetitions × networks. Parameters that do not apply to a combination collapse: `parties`
//! only changes families that take any number of parties (npc-additive), `batch_size` and
//! `weights_privacy` mean nothing to op tasks; runs that come out identical are kept once.
//!
//! Each run has a stable id: a hash of the experiment name, the task definition, the protocol name
//! and every parameter value, the seed and the repetition. `--resume` matches finished runs by it,
//! and `testbed compare` matches configurations (the same without the repetition) by `config_id`.

use super::plan::{Experiment, Task, TaskKind};
use super::schema::{S, error_at};
use super::sweep::{Param, as_count, as_str, param_columns, privacy, short_hash, value_text, with_function};
use crate::error::{Error, Result};
use crate::launch::TransportKind;
use crate::nn::infer::WeightPrivacy;
use crate::protocol::{Family, ProtocolConfig};

impl Experiment {
    /// The runs, in execution order.
    pub fn runs(&self) -> Result<Vec<RunSpec>> {
        expand(self)
    }

    /// The columns of runs.csv.
    pub fn param_columns(&self) -> Vec<String> {
        param_columns(&self.dims)
    }
}

/// One run: which task, protocol, network and repetition, with every parameter applied.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub task: usize,
    pub network: usize,
    pub rep: usize,
    /// The protocol with parties, precision and function parameters applied.
    pub cfg: ProtocolConfig,
    pub transport: TransportKind,
    /// Samples per batch (latency and accuracy tasks).
    pub batch_size: Option<usize>,
    pub weights: Option<WeightPrivacy>,
    /// Parameter columns of runs.csv, in header order, with this run's values.
    pub columns: Vec<(String, String)>,
    /// Hash of everything that defines the run.
    pub run_id: String,
    /// The same without the repetition: runs of one configuration share it.
    pub config_id: String,
    /// The same without the network: runs that differ only in the network share one execution.
    pub exec_key: String,
}

/// Expands the experiment into its runs, checking every combination (a protocol that rejects a
/// swept value is reported at that value).
pub fn expand(exp: &Experiment) -> Result<Vec<RunSpec>> {
    let columns = param_columns(&exp.dims);
    let mut runs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let lens: Vec<usize> = exp.dims.iter().map(|d| d.values.len()).collect();
    for (t, task) in exp.tasks.iter().enumerate() {
        for base in &exp.protocols {
            for choice in points(&lens) {
                let point: Vec<&S<serde_json::Value>> =
                    exp.dims.iter().zip(&choice).map(|(d, &i)| &d.values[i]).collect();
                for rep in 0..task.repetitions.unwrap_or(exp.repetitions) {
                    for n in 0..exp.networks.len() {
                        let run = make_run(exp, &columns, t, task, base, &point, rep, n)?;
                        if seen.insert(run.run_id.clone()) {
                            runs.push(run);
                        }
                    }
                }
            }
        }
    }
    Ok(runs)
}

/// Every index tuple of a cartesian product of dimensions of `lens` values (first slowest).
fn points(lens: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for &n in lens {
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..n).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn make_run(
    exp: &Experiment,
    columns: &[String],
    t: usize,
    task: &Task,
    base: &ProtocolConfig,
    point: &[&S<serde_json::Value>],
    rep: usize,
    network: usize,
) -> Result<RunSpec> {
    let bad = |v: &S<serde_json::Value>, e: Error| {
        let detail = match e {
            Error::Invalid { what, detail } if what.starts_with("--") => detail,
            other => other.to_string(),
        };
        error_at(&exp.text, &exp.file, v, detail)
    };
    let mut cfg = base.clone();
    let mut transport = TransportKind::Sim;
    let mut batch = task.batch_size;
    let mut weights = task.weights_privacy;
    let mut functions: Vec<(String, String)> = Vec::new();
    for (d, v) in exp.dims.iter().zip(point) {
        match &d.param {
            Param::Parties => {
                if cfg.family == Family::NpcAdditive {
                    cfg = cfg
                        .with_parties(as_count(v, &exp.text, &exp.file)?)
                        .map_err(|e| bad(v, e))?;
                }
            }
            Param::PrecisionBits => {
                let b = as_count(v, &exp.text, &exp.file)?;
                cfg = cfg.with_precision(b as u32).map_err(|e| bad(v, e))?;
            }
            Param::BatchSize => batch = Some(as_count(v, &exp.text, &exp.file)?),
            Param::Transport => {
                transport = TransportKind::parse(as_str(v, &exp.text, &exp.file)?).map_err(|e| bad(v, e))?
            }
            Param::WeightsPrivacy => weights = Some(privacy(v, &exp.text, &exp.file)?),
            Param::Function(key) => {
                cfg = with_function(cfg, key, &v.value).map_err(|e| bad(v, e))?;
                functions.push((format!("functions.{key}"), value_text(&v.value)));
            }
        }
    }
    if matches!(task.kind, TaskKind::Op { .. }) {
        batch = None;
        weights = None;
    }
    let values: Vec<(String, String)> = columns
        .iter()
        .map(|c| {
            let v = match c.as_str() {
                "protocol" => cfg.name.clone(),
                "family" => cfg.family.name().to_string(),
                "network" => exp.networks[network].name.clone(),
                "parties" => cfg.parties.to_string(),
                "precision_bits" => cfg.precision_bits.to_string(),
                "batch_size" => batch.map(|b| b.to_string()).unwrap_or_default(),
                "transport" => transport.name().to_string(),
                "weights_privacy" => match weights {
                    Some(WeightPrivacy::Public) => "public".into(),
                    Some(WeightPrivacy::Private) => "private".into(),
                    None => String::new(),
                },
                other => functions
                    .iter()
                    .find(|(k, _)| k == other)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            };
            (c.clone(), v)
        })
        .collect();
    let head = format!("experiment={}\ntask={}\nseed={}\n", exp.name, task.canonical, exp.seed);
    let params: String = values.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let no_net: String = values
        .iter()
        .filter(|(k, _)| k != "network")
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    Ok(RunSpec {
        task: t,
        network,
        rep,
        cfg,
        transport,
        batch_size: batch,
        weights,
        run_id: short_hash(&format!("{head}{params}rep={rep}\n")),
        config_id: short_hash(&format!("{head}{params}")),
        exec_key: format!("{head}{no_net}rep={rep}\n"),
        columns: values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_enumerate_every_point_first_dimension_slowest() {
        assert_eq!(points(&[2, 3]).len(), 6);
        assert_eq!(points(&[2, 3])[1], vec![0, 1]);
        assert_eq!(points(&[]), vec![Vec::<usize>::new()]);
    }
}
