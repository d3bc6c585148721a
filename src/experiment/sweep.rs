//! Sweep parameters: the keys an experiment can sweep (or fix), the runs.csv column each fills, and
//! the typed reading of their values. [`super::expand`] multiplies them out into runs.

use super::schema::{S, error_at};
use crate::error::{Error, Result};
use crate::nn::infer::WeightPrivacy;
use crate::protocol::ProtocolConfig;

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
    fn hashes_are_stable() {
        // Pinned: changing the hash would orphan every committed baseline and resumable run.
        assert_eq!(short_hash("abc"), "ba7816bf8f01cfea");
    }
}
