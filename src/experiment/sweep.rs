//! Sweep parameters and the expansion of an experiment into runs.
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
use crate::bench::TransportKind;
use crate::error::{Error, Result};
use crate::nn::infer::WeightPrivacy;
use crate::protocol::{Family, ProtocolConfig};

/// A parameter that can be swept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Parties,
    PrecisionBits,
    BatchSize,
    Transport,
    WeightsPrivacy,
    /// A key of the `functions:` section of a protocol file (`functions.exp_iterations`).
    Function(String),
}

/// The sweep keys other than `functions.*`.
pub const KEYS: [&str; 5] = [
    "parties",
    "precision_bits",
    "batch_size",
    "transport",
    "weights_privacy",
];

impl Param {
    /// Parses a sweep key; `None` for an unknown one.
    pub fn parse(key: &str) -> Option<Param> {
        Some(match key {
            "parties" => Param::Parties,
            "precision_bits" => Param::PrecisionBits,
            "batch_size" => Param::BatchSize,
            "transport" => Param::Transport,
            "weights_privacy" => Param::WeightsPrivacy,
            _ => {
                let f = key.strip_prefix("functions.")?;
                function_keys()
                    .iter()
                    .any(|k| k == f)
                    .then(|| Param::Function(f.to_string()))?
            }
        })
    }

    /// The runs.csv column.
    pub fn column(&self) -> String {
        match self {
            Param::Function(f) => format!("functions.{f}"),
            other => KEYS[[
                Param::Parties,
                Param::PrecisionBits,
                Param::BatchSize,
                Param::Transport,
                Param::WeightsPrivacy,
            ]
            .iter()
            .position(|p| p == other)
            .expect("listed")]
            .to_string(),
        }
    }
}

/// The keys of the `functions:` section, from the type itself (so new keys are sweepable at once).
pub fn function_keys() -> Vec<String> {
    match serde_json::to_value(crate::protocol::config::FunctionConfig::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Every key a sweep accepts, for error messages.
pub fn known_keys() -> String {
    let mut k: Vec<String> = KEYS.iter().map(|s| s.to_string()).collect();
    k.extend(function_keys().into_iter().map(|f| format!("functions.{f}")));
    k.join(", ")
}

/// One swept dimension (or a fixed top-level setting, as a dimension of one value).
#[derive(Clone, Debug)]
pub struct Dim {
    pub param: Param,
    pub values: Vec<S<serde_json::Value>>,
    /// True for a `sweep:` entry (a runs.csv column of its own, listed early), false for a fixed
    /// setting.
    pub swept: bool,
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

/// The parameter columns of runs.csv, in order: protocol, family and network, the swept
/// parameters in sweep order, then the fixed ones.
pub fn param_columns(dims: &[Dim]) -> Vec<String> {
    let mut cols: Vec<String> = ["protocol", "family", "network"].map(String::from).to_vec();
    for d in dims.iter().filter(|d| d.swept) {
        cols.push(d.param.column());
    }
    for k in KEYS {
        if !cols.iter().any(|c| c == k) {
            cols.push(k.to_string());
        }
    }
    cols
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

/// A protocol with one `functions:` key replaced, re-validated.
pub fn with_function(cfg: ProtocolConfig, key: &str, value: &serde_json::Value) -> Result<ProtocolConfig> {
    let file = format!("protocol {}", cfg.name);
    let mut f = serde_json::to_value(&cfg.functions).expect("function configs serialise");
    if let Some(obj) = f.as_object_mut() {
        obj.insert(key.to_string(), value.clone());
    }
    let functions =
        serde_json::from_value(f).map_err(|e| Error::config(&file, format!("field `functions.{key}`: {e}")))?;
    let precision = cfg.precision_bits;
    ProtocolConfig { functions, ..cfg }.with_precision(precision)
}

/// Type-checks one `functions:` value against the defaults (semantic checks, such as method names,
/// happen per protocol when the runs are expanded).
pub fn check_function(key: &str, value: &serde_json::Value) -> Result<()> {
    let mut f = serde_json::to_value(crate::protocol::config::FunctionConfig::default()).expect("serialises");
    if let Some(obj) = f.as_object_mut() {
        obj.insert(key.to_string(), value.clone());
    }
    serde_json::from_value::<crate::protocol::config::FunctionConfig>(f)
        .map(|_| ())
        .map_err(|e| Error::invalid("value", e.to_string()))
}

/// A short, stable hex hash (first 8 bytes of SHA-256).
pub fn short_hash(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A sweep value as written in runs.csv.
pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A positive integer value.
pub fn as_count(v: &S<serde_json::Value>, text: &str, file: &str) -> Result<usize> {
    match v.value.as_u64() {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(error_at(
            text,
            file,
            v,
            format!("expected a positive integer, got {}", v.value),
        )),
    }
}

/// A string value.
pub fn as_str<'a>(v: &'a S<serde_json::Value>, text: &str, file: &str) -> Result<&'a str> {
    v.value
        .as_str()
        .ok_or_else(|| error_at(text, file, v, format!("expected a name, got {}", v.value)))
}

/// `public` or `private`.
pub fn privacy(v: &S<serde_json::Value>, text: &str, file: &str) -> Result<WeightPrivacy> {
    match as_str(v, text, file)? {
        "public" => Ok(WeightPrivacy::Public),
        "private" => Ok(WeightPrivacy::Private),
        other => Err(error_at(text, file, v, format!("`{other}` is not public or private"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_name_their_columns() {
        assert_eq!(Param::parse("precision_bits"), Some(Param::PrecisionBits));
        assert_eq!(Param::parse("batch_size").unwrap().column(), "batch_size");
        let f = Param::parse("functions.exp_iterations").unwrap();
        assert_eq!(f.column(), "functions.exp_iterations");
        assert_eq!(Param::parse("functions.no_such_key"), None);
        assert_eq!(Param::parse("precison_bits"), None);
    }

    #[test]
    fn products_enumerate_every_point_first_dimension_slowest() {
        assert_eq!(points(&[2, 3]).len(), 6);
        assert_eq!(points(&[2, 3])[1], vec![0, 1]);
        assert_eq!(points(&[]), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn hashes_are_stable() {
        // Pinned: changing the hash would orphan every committed baseline and resumable run.
        assert_eq!(short_hash("abc"), "ba7816bf8f01cfea");
    }
}
