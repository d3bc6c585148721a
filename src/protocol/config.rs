//! Protocol variants as YAML files in `protocols/`: a family plus its parameters.
//!
//! ```yaml
//! family: 2pc-ttp        # 2pc-ttp | 3pc-replicated | npc-additive | 2pc-fss
//! parties: 2
//! precision_bits: 16
//! dealer: ttp            # ttp (a separate trusted third party) | first-party (insecure)
//! insecure: false        # must be true to allow first-party (or a `leak`)
//! ```
//! `leak: beaver-mask-reuse | no-rerandomise` (with `insecure: true`) plants a known flaw: the
//! negative controls of `testbed audit` (tests/data/protocols/leaky-*.yaml), never in protocols/.
//! A name like `2pc-ttp` resolves to `protocols/2pc-ttp.yaml` (relative to the working directory,
//! then to the crate's own `protocols/` folder); anything with a `/` or `.yaml` is a path.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The protocol families behind the one `Protocol` trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Family {
    /// Two parties plus a dealer of Beaver triples.
    #[serde(rename = "2pc-ttp")]
    TwoPcTtp,
    /// Three parties, replicated secret sharing, honest majority, no dealer.
    #[serde(rename = "3pc-replicated")]
    ThreePcReplicated,
    /// Any number of parties with additive shares and a dealer.
    #[serde(rename = "npc-additive")]
    NpcAdditive,
    /// 2pc-ttp's shares, products and dealer, with sign bits and ReLU from dealt
    /// function-secret-sharing keys (see `protocol::additive::fss`).
    #[serde(rename = "2pc-fss")]
    TwoPcFss,
}

impl Family {
    /// The name used in YAML and reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::TwoPcTtp => "2pc-ttp",
            Family::ThreePcReplicated => "3pc-replicated",
            Family::NpcAdditive => "npc-additive",
            Family::TwoPcFss => "2pc-fss",
        }
    }
}

/// Who produces Beaver triples and other correlated randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum DealerKind {
    /// A separate trusted third party that shares a PRG seed with every party and sends only
    /// party 0's correction share.
    #[default]
    #[serde(rename = "ttp")]
    Ttp,
    /// CrypTen's default "trusted first party": party 0 generates every triple itself, so it knows
    /// them all. Insecure; only for comparisons, and only with `insecure: true`.
    #[serde(rename = "first-party")]
    FirstParty,
}

/// How fixed-point products are truncated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Truncation {
    /// Each party shifts its own share (SecureML); two parties only; fails with probability
    /// |x|/2^64 per element.
    #[serde(rename = "local")]
    Local,
    /// Open x + r for a dealer-made random r whose shifted value and top bit are shared too; one
    /// round; off by at most one ulp, never wraps while |x| < 2^62.
    #[serde(rename = "dealer")]
    Dealer,
}

/// A deliberate flaw, planted so that `testbed audit` can show it finds it (negative controls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Leak {
    /// Additive families: every Beaver product reuses the first mask drawn of its shape (for both
    /// operands and across products), so two openings x − a and y − a differ by x − y.
    #[serde(rename = "beaver-mask-reuse")]
    BeaverMaskReuse,
    /// 3pc-replicated: products are reshared without the zero share α (CrypTen's issue #518).
    #[serde(rename = "no-rerandomise")]
    NoRerandomise,
}

impl Leak {
    /// The name used in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Leak::BeaverMaskReuse => "beaver-mask-reuse",
            Leak::NoRerandomise => "no-rerandomise",
        }
    }
}

/// A parsed, validated protocol variant.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// The protocol family.
    pub family: Family,
    /// Number of computing parties (the dealer not included).
    pub parties: usize,
    /// Fractional bits of the fixed-point encoding.
    #[serde(default = "default_precision")]
    pub precision_bits: u32,
    /// Dealer kind (families with a dealer).
    #[serde(default)]
    pub dealer: DealerKind,
    /// How fixed-point products are truncated: `local` (two parties only; each shifts its share)
    /// or `dealer` (one round with a dealer-made mask; any number of parties, never wraps).
    /// Default: `local` for 2pc-ttp, `dealer` for npc-additive.
    #[serde(default)]
    pub truncation: Option<Truncation>,
    /// 2pc-fss: the comparison window k in bits (2..=64). Sign bits and ReLU are exact for raw ring
    /// values |x| < 2^(k−1), garbage outside; 64 (the default) is exact for every value. Only the
    /// dealer's key bytes depend on k, never the online bytes.
    #[serde(default)]
    pub fss_window: Option<u32>,
    /// 2pc-fss: online rounds of a ReLU, 2 (the default: DReLU keys, then a select on the opened
    /// sign) or 1 (a ring-payload DCF gives the product directly; keys ≈ 2.2× larger and the
    /// evaluation ≈ 2× the AES; `crate::fss::relu_one_round`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fss_relu_rounds: Option<u32>,
    /// Allows insecure options such as `dealer: first-party`.
    #[serde(default)]
    pub insecure: bool,
    /// Parameters of the nonlinear function approximations (CrypTen's defaults when absent).
    #[serde(default)]
    pub functions: FunctionConfig,
    /// A deliberate flaw (audit negative controls only); needs `insecure: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Leak>,
    /// The variant's name (file stem), filled in by the loader.
    #[serde(skip)]
    pub name: String,
    /// What it was loaded from (a name or a path), so other processes can load it too.
    #[serde(skip)]
    pub source: String,
}

fn default_precision() -> u32 {
    16
}

/// How the nonlinear functions are approximated: the `functions:` section of a protocol file.
/// Defaults are CrypTen's (configs/default.yaml), so results compare like for like. Serialisable so
/// experiments can sweep its fields by name.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionConfig {
    /// exp(x) = (1 + x/2^d)^(2^d) with d = this.
    pub exp_iterations: u32,
    /// Newton–Raphson iterations of the reciprocal.
    pub reciprocal_nr_iters: u32,
    /// Skip the sign handling of the reciprocal (inputs known positive).
    pub reciprocal_all_pos: bool,
    /// Initial guess of the reciprocal; `None` uses 3·exp(1 − 2x) + 0.003.
    pub reciprocal_initial: Option<f64>,
    /// Newton–Raphson iterations of the inverse square root.
    pub sqrt_nr_iters: u32,
    /// Initial guess of the inverse square root; `None` uses CrypTen's exp-based guess.
    pub sqrt_nr_initial: Option<f64>,
    /// Newton–Raphson iterations of the inverse square root inside LayerNorm (variances from
    /// 0.01 up need more steps from CrypTen's initial guess than its default 3).
    pub layernorm_nr_iters: u32,
    /// `reciprocal` (σ via exp and reciprocal) or `chebyshev`.
    pub sigmoid_tanh_method: String,
    /// Terms of the Chebyshev approximation of tanh.
    pub sigmoid_tanh_terms: u32,
    /// Householder iterations of the logarithm.
    pub log_iterations: u32,
    /// exp iterations used inside the logarithm.
    pub log_exp_iterations: u32,
    /// Order of the Householder correction of the logarithm.
    pub log_order: u32,
    /// Taylor terms of erf.
    pub erf_iterations: u32,
    /// `tanh` or `erf` form of GELU.
    pub gelu_method: String,
    /// `log_reduction` (halving tree) or `pairwise` for max/argmax.
    pub max_method: String,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        Self {
            exp_iterations: 8,
            reciprocal_nr_iters: 10,
            reciprocal_all_pos: false,
            reciprocal_initial: None,
            sqrt_nr_iters: 3,
            sqrt_nr_initial: None,
            layernorm_nr_iters: 8,
            sigmoid_tanh_method: "reciprocal".into(),
            sigmoid_tanh_terms: 32,
            log_iterations: 2,
            log_exp_iterations: 8,
            log_order: 8,
            erf_iterations: 8,
            gelu_method: "tanh".into(),
            max_method: "log_reduction".into(),
        }
    }
}

impl ProtocolConfig {
    /// Parses YAML text; `file` names the source in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self> {
        let mut cfg: ProtocolConfig =
            serde_saphyr::from_str(text).map_err(|e| Error::config(file, one_line(&e.to_string())))?;
        cfg.name = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        cfg.validate(file)?;
        Ok(cfg)
    }

    /// Loads a variant by name (`2pc-ttp`) or path (`protocols/2pc-ttp.yaml`).
    pub fn load(name_or_path: &str) -> Result<Self> {
        let path = resolve(name_or_path)?;
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
            path: shown.clone(),
            source: e,
        })?;
        let mut cfg = Self::from_yaml(&text, &shown)?;
        if let Some(leak) = cfg.leak {
            eprintln!(
                "WARNING: protocol {shown} is DELIBERATELY LEAKY (leak: {}): a negative control for `testbed audit`; never use it on real data",
                leak.name()
            );
        }
        cfg.source = std::fs::canonicalize(&path)
            .map(|p| p.display().to_string())
            .unwrap_or(shown);
        Ok(cfg)
    }

    /// Overrides the fractional bits (the CLI's `--precision-bits`), re-validating.
    pub fn with_precision(mut self, bits: u32) -> Result<Self> {
        self.precision_bits = bits;
        let file = format!("protocol {}", self.name);
        self.validate(&file)?;
        Ok(self)
    }

    /// Overrides the number of parties (the CLI's `--parties`), re-validating.
    pub fn with_parties(mut self, parties: usize) -> Result<Self> {
        self.parties = parties;
        let file = format!("protocol {}", self.name);
        self.validate(&file)?;
        Ok(self)
    }

    fn validate(&self, file: &str) -> Result<()> {
        let field = |f: &str, d: String| Error::config(file, format!("field `{f}`: {d}"));
        match self.family {
            Family::TwoPcTtp if self.parties != 2 => {
                return Err(field(
                    "parties",
                    format!("2pc-ttp has exactly 2 parties, not {}", self.parties),
                ));
            }
            Family::ThreePcReplicated if self.parties != 3 => {
                return Err(field(
                    "parties",
                    format!("3pc-replicated has exactly 3 parties, not {}", self.parties),
                ));
            }
            Family::TwoPcFss if self.parties != 2 => {
                return Err(field(
                    "parties",
                    format!("2pc-fss has exactly 2 parties, not {}", self.parties),
                ));
            }
            Family::NpcAdditive if self.parties < 2 => {
                return Err(field(
                    "parties",
                    format!("npc-additive needs at least 2 parties, not {}", self.parties),
                ));
            }
            _ => {}
        }
        if self.truncation() == Truncation::Local && self.parties != 2 && self.family != Family::ThreePcReplicated {
            return Err(field(
                "truncation",
                format!("local truncation needs 2 parties, not {}", self.parties),
            ));
        }
        if self.parties > 64 {
            return Err(field(
                "parties",
                format!("{} parties is more than the 64 supported", self.parties),
            ));
        }
        if !(1..=30).contains(&self.precision_bits) {
            return Err(field(
                "precision_bits",
                format!("{} is outside 1..=30", self.precision_bits),
            ));
        }
        let f = &self.functions;
        let one_of = |name: &str, value: &str, allowed: &[&str]| {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(field(
                    &format!("functions.{name}"),
                    format!("`{value}` is not one of {}", allowed.join(", ")),
                ))
            }
        };
        one_of(
            "sigmoid_tanh_method",
            &f.sigmoid_tanh_method,
            &["reciprocal", "chebyshev"],
        )?;
        one_of("gelu_method", &f.gelu_method, &["tanh", "erf"])?;
        one_of("max_method", &f.max_method, &["log_reduction", "pairwise"])?;
        if f.exp_iterations > 20 || f.log_exp_iterations > 20 {
            return Err(field(
                "functions.exp_iterations",
                "at most 20 (more overflows the ring)".into(),
            ));
        }
        if let Some(k) = self.fss_window {
            if self.family != Family::TwoPcFss {
                return Err(field(
                    "fss_window",
                    "only the 2pc-fss family has a comparison window".into(),
                ));
            }
            if !(2..=64).contains(&k) {
                return Err(field("fss_window", format!("{k} is outside 2..=64")));
            }
        }
        if let Some(r) = self.fss_relu_rounds {
            if self.family != Family::TwoPcFss {
                return Err(field(
                    "fss_relu_rounds",
                    "only the 2pc-fss family has FSS ReLU keys".into(),
                ));
            }
            if !(1..=2).contains(&r) {
                return Err(field("fss_relu_rounds", format!("{r}: a ReLU takes 1 or 2 rounds")));
            }
        }
        if self.family == Family::TwoPcFss && self.dealer != DealerKind::Ttp {
            return Err(field(
                "dealer",
                "2pc-fss needs the ttp dealer (it deals keys to both parties)".into(),
            ));
        }
        if self.dealer == DealerKind::FirstParty && !self.insecure {
            return Err(field(
                "dealer",
                "first-party lets party 0 see every triple; set `insecure: true` to allow it".to_string(),
            ));
        }
        self.validate_leak(file)
    }

    /// Checks the `leak` field: allowed only with `insecure: true` and a family it applies to.
    fn validate_leak(&self, file: &str) -> Result<()> {
        let Some(leak) = self.leak else { return Ok(()) };
        let field = |d: String| Error::config(file, format!("field `leak`: {d}"));
        if !self.insecure {
            return Err(field(format!(
                "{} plants a known flaw; set `insecure: true` to allow it",
                leak.name()
            )));
        }
        let fits = match leak {
            Leak::BeaverMaskReuse => matches!(self.family, Family::TwoPcTtp | Family::NpcAdditive),
            Leak::NoRerandomise => self.family == Family::ThreePcReplicated,
        };
        if !fits {
            return Err(field(format!(
                "{} does not apply to {}",
                leak.name(),
                self.family.name()
            )));
        }
        Ok(())
    }

    /// The truncation method in force (the family's default when the file names none).
    pub fn truncation(&self) -> Truncation {
        self.truncation.unwrap_or(match self.family {
            Family::NpcAdditive => Truncation::Dealer,
            _ => Truncation::Local,
        })
    }

    /// The comparison window of the FSS gates, for the 2pc-fss family only (default 64: exact).
    pub fn fss_window(&self) -> Option<u32> {
        (self.family == Family::TwoPcFss).then(|| self.fss_window.unwrap_or(64))
    }

    /// 2pc-fss: whether ReLU uses the one-round gate (`fss_relu_rounds: 1`).
    pub fn fss_relu_one_round(&self) -> bool {
        self.family == Family::TwoPcFss && self.fss_relu_rounds == Some(1)
    }

    /// Whether a dealer endpoint takes part.
    pub fn has_dealer_endpoint(&self) -> bool {
        self.family != Family::ThreePcReplicated && self.dealer == DealerKind::Ttp
    }
}

/// Finds the YAML file for a protocol name or path.
fn resolve(name_or_path: &str) -> Result<PathBuf> {
    let looks_like_path =
        name_or_path.contains('/') || name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml");
    if looks_like_path {
        let p = PathBuf::from(name_or_path);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::config(name_or_path, "no such protocol file"))
        };
    }
    let candidates = [
        PathBuf::from("protocols").join(format!("{name_or_path}.yaml")),
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("protocols")
            .join(format!("{name_or_path}.yaml")),
    ];
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    let known = known_names();
    Err(Error::invalid(
        "--protocol",
        format!("unknown protocol `{name_or_path}` (known: {})", known.join(", ")),
    ))
}

/// Names of the protocol files shipped in the crate's `protocols/` folder.
pub fn known_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "yaml").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// Folds a multi-line parser message (snippets, carets) into one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let c = ProtocolConfig::from_yaml("family: 2pc-ttp\nparties: 2\n", "x.yaml").unwrap();
        assert_eq!(c.precision_bits, 16);
        assert_eq!(c.dealer, DealerKind::Ttp);
        assert_eq!(c.name, "x");
        let bad = [
            "family: 2pc-ttp\nparties: 3\n",
            "family: 2pc-ttp\nparties: 2\nprecison_bits: 12\n",
            "family: 2pc-ttp\nparties: 2\ndealer: first-party\n",
            "family: 9pc\nparties: 2\n",
            "family: [\n",
            "family: 2pc-ttp\nparties: 2\nprecision_bits: 40\n",
        ];
        for b in bad {
            let e = ProtocolConfig::from_yaml(b, "p.yaml").unwrap_err();
            assert!(e.is_bad_input());
            let msg = e.to_string();
            assert!(msg.starts_with("p.yaml: ") && !msg.contains('\n'), "{msg}");
        }
        let ok = ProtocolConfig::from_yaml(
            "family: 2pc-ttp\nparties: 2\ndealer: first-party\ninsecure: true\n",
            "t.yaml",
        );
        assert!(ok.is_ok());
        for (bad, why) in [
            (
                "family: 2pc-ttp\nparties: 2\nleak: beaver-mask-reuse\n",
                "insecure: true",
            ),
            (
                "family: 2pc-ttp\nparties: 2\ninsecure: true\nleak: no-rerandomise\n",
                "does not apply",
            ),
            (
                "family: 3pc-replicated\nparties: 3\ninsecure: true\nleak: beaver-mask-reuse\n",
                "does not apply",
            ),
        ] {
            let e = ProtocolConfig::from_yaml(bad, "l.yaml").unwrap_err().to_string();
            assert!(e.contains("field `leak`") && e.contains(why), "{e}");
        }
        let leaky = ProtocolConfig::from_yaml(
            "family: 3pc-replicated\nparties: 3\ninsecure: true\nleak: no-rerandomise\n",
            "l.yaml",
        );
        assert_eq!(leaky.unwrap().leak, Some(Leak::NoRerandomise));
    }

    #[test]
    fn loads_shipped_variants_by_name() {
        let c = ProtocolConfig::load("2pc-ttp").unwrap();
        assert_eq!(c.family, Family::TwoPcTtp);
        let e = ProtocolConfig::load("no-such-protocol").unwrap_err().to_string();
        assert!(e.contains("unknown protocol") && e.contains("2pc-ttp"), "{e}");
    }
}
