//! The experiment file as written: serde structs whose values keep their line and column
//! ([`Spanned`]), so that every later check can point at the offending value. Unknown fields are
//! rejected by serde-saphyr with their position.
//!
//! ```yaml
//! name: wav2letter                 # results go to results/<name>/ unless --out says otherwise
//! description: Private Wav2Letter inference on 1 s of audio
//! tasks:
//!   - name: wav2letter
//!     kind: latency                # latency | accuracy | op
//!     model: wav2letter            # a zoo name or an .onnx file
//!     input_shape: [1, 40, 100]
//! protocols: [2pc-ttp, 3pc-replicated, npc-additive]   # names in protocols/ or paths
//! parties: 3                       # for families that take any number of parties
//! transport: sim                   # sim | tcp
//! networks: [lan, wan]             # profiles the network model prices every run on
//! network_profiles:
//!   dc: { bandwidth_mbit: 10000, latency_ms: 0.05 }
//! sweep:                           # cartesian product; see `Param` for the keys
//!   precision_bits: [12, 16, 20]
//! repetitions: 3
//! ```

use crate::error::{Error, Result};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// A value with the position it was written at.
pub type S<T> = Spanned<T>;

/// A YAML mapping whose entries keep the order they were written in (sweep order matters: the
/// first swept parameter is the one plot lines run along).
#[derive(Debug, Clone)]
pub struct OrderedMap<V>(pub Vec<(S<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out: Vec<(S<String>, V)> = Vec::new();
                while let Some((k, v)) = m.next_entry::<S<String>, V>()? {
                    if out.iter().any(|(o, _)| o.value == k.value) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{}`", k.value)));
                    }
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// Names the experiment in every row and the default output folder.
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// What to measure; every task runs on every protocol and sweep point.
    pub tasks: Vec<TaskFile>,
    /// Protocol variants compared: names in protocols/ or paths to protocol files.
    pub protocols: Vec<S<String>>,
    /// Parties for families that take any number (npc-additive); others keep their own count.
    #[serde(default)]
    pub parties: Option<S<usize>>,
    /// `sim` (threads of one process, exact counts) or `tcp` (one process per party on loopback).
    #[serde(default)]
    pub transport: Option<S<String>>,
    /// With `transport: tcp`: TLS between the party processes (default true).
    #[serde(default)]
    pub tls: Option<bool>,
    /// Network profiles each run is priced on (default: lan and wan).
    #[serde(default)]
    pub networks: Option<Vec<S<String>>>,
    /// Profiles of your own, by name, next to the built-in lan and wan.
    #[serde(default)]
    pub network_profiles: OrderedMap<ProfileFile>,
    /// Swept parameters, each with its list of values: the runs are the cartesian product.
    #[serde(default)]
    pub sweep: OrderedMap<Vec<S<serde_json::Value>>>,
    /// Runs per configuration; summaries report medians.
    #[serde(default)]
    pub repetitions: Option<S<usize>>,
    /// Unmeasured warm-up repetitions at the start of each run (default 1; 0 measures a cold start).
    #[serde(default)]
    pub warmup: Option<usize>,
    /// Seed of the data side: inputs, random weights, the samples of accuracy tasks, batch order
    /// (rounds and bytes do not depend on it).
    #[serde(default)]
    pub seed: Option<u64>,
    /// INSECURE: derive every party's share randomness from this seed, so that outputs repeat
    /// exactly (CI's regression check); recorded in the summary. Absent: from the OS.
    #[serde(default)]
    pub insecure_share_seed: Option<u64>,
    #[serde(default)]
    pub outputs: OutputsFile,
    /// Margins of `testbed compare`.
    #[serde(default)]
    pub compare: CompareFile,
}

/// One task.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TaskFile {
    pub name: S<String>,
    /// What the task's numbers mean (what the data is, what to read first); printed under the
    /// summary table.
    #[serde(default)]
    pub description: Option<String>,
    /// `latency` (a model on a random input), `accuracy` (a model on N samples of a data set) or
    /// `op` (one private op on random inputs).
    pub kind: S<String>,
    /// A zoo name (lenet, resnet18, wav2letter, ...) or an ONNX file.
    #[serde(default)]
    pub model: Option<S<String>>,
    /// Input shape of a latency task, batch first (a `batch_size` sweep replaces the batch).
    #[serde(default)]
    pub input_shape: Option<S<Vec<usize>>>,
    /// Trained weights (safetensors) for a zoo model; random weights from the seed without.
    #[serde(default)]
    pub weights: Option<S<String>>,
    /// `private` (party 0 secret-shares the weights) or `public`.
    #[serde(default)]
    pub weights_privacy: Option<S<String>>,
    /// Data set name (see `crate::data::NAMES`) of an accuracy task.
    #[serde(default)]
    pub data: Option<S<String>>,
    /// `test` (default) or `train`.
    #[serde(default)]
    pub split: Option<S<String>>,
    /// How many samples of the split to evaluate: a stratified sample (each class in proportion
    /// to its share) drawn with the experiment's `seed`; the whole split when absent.
    #[serde(default)]
    pub samples: Option<S<usize>>,
    /// Samples per private batch (default 1 for latency, 8 for accuracy).
    #[serde(default)]
    pub batch_size: Option<S<usize>>,
    /// Plaintext preprocessing on the data owner's side.
    #[serde(default)]
    pub preprocess: Option<PreprocessFile>,
    /// Train in plaintext before evaluating (see `experiment::train`).
    #[serde(default)]
    pub train: Option<S<TrainFile>>,
    /// The op of an op task (any op of `testbed bench op`).
    #[serde(default)]
    pub op: Option<S<String>>,
    /// Operand shapes of an op task.
    #[serde(default)]
    pub shapes: Option<S<Vec<Vec<usize>>>>,
    /// Repetitions of this task's runs (default: the experiment's `repetitions`).
    #[serde(default)]
    pub repetitions: Option<S<usize>>,
}

/// Per-sample plaintext preprocessing: reshape, then (x − mean) / std.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PreprocessFile {
    /// The shape of one sample after preprocessing (same element count).
    #[serde(default)]
    pub reshape: Option<Vec<usize>>,
    #[serde(default)]
    pub mean: Option<f32>,
    #[serde(default)]
    pub std: Option<f32>,
}

/// Plaintext training before the private evaluation, cached by the weights path.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainFile {
    /// Where the trained weights are cached (safetensors); training is skipped when it exists.
    pub weights: String,
    #[serde(default)]
    pub epochs: Option<u32>,
    #[serde(default)]
    pub learning_rate: Option<f64>,
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// `sgd` (default, with momentum) or `adam`.
    #[serde(default)]
    pub optimizer: Option<String>,
    /// SGD momentum (default 0.9).
    #[serde(default)]
    pub momentum: Option<f64>,
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// Train on the first `samples` of the training split only (all when absent).
    #[serde(default)]
    pub samples: Option<usize>,
}

/// A network profile of the cost model.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Bandwidth of every link, in Mbit/s.
    pub bandwidth_mbit: S<f64>,
    /// One-way latency of every link, in milliseconds.
    pub latency_ms: S<f64>,
}

/// Where and what to write.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OutputsFile {
    /// Output folder (default results/<name>); `--out` overrides it.
    #[serde(default)]
    pub dir: Option<String>,
    /// Draw plots (default true).
    #[serde(default)]
    pub plots: Option<bool>,
    /// The swept parameter plot lines run along (default: the first one of `sweep`).
    #[serde(default)]
    pub line: Option<S<String>>,
}

/// Margins of `testbed compare`: what counts as a regression against the baseline.
#[derive(Debug, Deserialize, Clone, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CompareFile {
    /// Allowed growth of rounds, in percent.
    pub rounds_pct: f64,
    /// Allowed growth of bytes (online per party, online total, offline total), in percent.
    pub bytes_pct: f64,
    /// Allowed drop of private top-1 accuracy and agreement, in percentage points.
    pub accuracy_drop_pts: f64,
    /// Allowed growth factor of the max error against plaintext (and at least this absolute slack).
    pub error_factor: f64,
    pub error_slack: f64,
    /// Allowed growth factor of the measured wall time; absent: wall time is not compared.
    pub wall_factor: Option<f64>,
}

impl Default for CompareFile {
    fn default() -> Self {
        Self {
            rounds_pct: 0.0,
            bytes_pct: 0.0,
            accuracy_drop_pts: 0.0,
            error_factor: 4.0,
            error_slack: 1e-4,
            wall_factor: None,
        }
    }
}

/// Parses the text of an experiment file; a syntax, type or unknown-field error names the file,
/// line, column and field.
pub fn parse(text: &str, file: &str) -> Result<ExperimentFile> {
    serde_saphyr::from_str(text).map_err(|e| {
        let plain = e.without_snippet().to_string();
        let message = strip_location(&plain);
        match e.location() {
            Some(loc) => at(text, file, loc.line() as usize, loc.column() as usize, message),
            None => Error::config(file, message),
        }
    })
}

/// A bad-input error at the position of a spanned value.
pub fn error_at<T>(text: &str, file: &str, value: &S<T>, detail: impl Into<String>) -> Error {
    let loc = &value.referenced;
    at(text, file, loc.line() as usize, loc.column() as usize, detail.into())
}

/// `file:line:column: field `path`: detail` (the field path is recovered from the indentation of
/// the source around the position).
pub fn at(text: &str, file: &str, line: usize, column: usize, detail: String) -> Error {
    let field = field_path(text, line, column);
    let detail = match field {
        Some(f) if !detail.contains(&format!("`{f}`")) => format!("field `{f}`: {detail}"),
        _ => detail,
    };
    Error::config(format!("{file}:{line}:{column}"), detail)
}

/// Drops serde-saphyr's trailing " at line L, column C" (the position goes in front instead).
fn strip_location(s: &str) -> String {
    let one: String = s.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    match one.rfind(" at line ") {
        Some(i) => one[..i].to_string(),
        None => one,
    }
}

/// The dotted key path of the value at `line`:`column` (1-based), e.g. `tasks.model`, found by
/// walking up to ever less indented `key:` lines. `None` when no key is found.
pub fn field_path(text: &str, line: usize, column: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = *lines.get(line.checked_sub(1)?)?;
    let upto: String = here.chars().take(column.saturating_sub(1)).collect();
    // The key on this line before the position (`key: value`, `- key: value`, `key: [a, b]`).
    // Else the key that starts at the position (an unknown field is reported at its key).
    let (mut path, mut indent) = match key_of(&upto).or_else(|| key_of(here).filter(|(_, i)| *i + 1 >= column)) {
        Some((k, i)) => (vec![k], i),
        None => (Vec::new(), indent_of(here)),
    };
    for l in lines[..line - 1].iter().rev() {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let i = indent_of(l);
        if i < indent {
            if let Some((k, _)) = key_of(l) {
                path.push(k);
            }
            indent = i;
            if i == 0 {
                break;
            }
        }
    }
    path.reverse();
    (!path.is_empty()).then(|| path.join("."))
}

/// Columns of leading blanks and list dashes.
fn indent_of(l: &str) -> usize {
    l.chars().take_while(|c| *c == ' ' || *c == '-').count()
}

/// The first `key:` of a line fragment, with the column it starts at.
fn key_of(l: &str) -> Option<(String, usize)> {
    let start = indent_of(l);
    let rest = &l[start..];
    let colon = rest.find(':')?;
    let key = rest[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
    ok.then(|| (key.to_string(), start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_follow_indentation() {
        let text = "name: x\ntasks:\n  - name: a\n    kind: op\n    shapes: [[3]]\nsweep:\n  precision_bits: [12, x]\n";
        assert_eq!(field_path(text, 4, 11).as_deref(), Some("tasks.kind"));
        assert_eq!(field_path(text, 7, 23).as_deref(), Some("sweep.precision_bits"));
        assert_eq!(field_path(text, 1, 7).as_deref(), Some("name"));
    }

    #[test]
    fn parse_errors_are_one_line_with_position() {
        let text = "name: x\ntasks:\n  - name: a\n    kind: op\n    shapez: [[3]]\nprotocols: [2pc-ttp]\n";
        let e = parse(text, "e.yaml").unwrap_err().to_string();
        assert!(e.starts_with("e.yaml:5:5: "), "{e}");
        assert!(e.contains("shapez") && !e.contains('\n'), "{e}");
    }
}
