//! `testbed compare`: an experiment's fresh results against a committed baseline (a summary.json),
//! configuration by configuration, with the margins of the experiment's `compare:` section.
//!
//! A regression is: more rounds or bytes than the baseline beyond `rounds_pct` / `bytes_pct`,
//! private accuracy or agreement lower by more than `accuracy_drop_pts` points, a max error above
//! `error_factor` × baseline + `error_slack` (or not a number), a figure the baseline has and the
//! run lost, or (only when `wall_factor` is set) a slower wall time. Rounds, bytes and accuracy are
//! deterministic for a seed, so the default margins are zero. The network does not change any of
//! them, so only the first network profile's rows are compared.
//!
//! The check cannot pass by not comparing. Configurations are matched by a key (task name and
//! every parameter: protocol, parties, precision, swept values, ...); a baseline key the run lacks
//! is *missing*, a run key the baseline lacks is *new*, and a key whose `config_id` differs is
//! *changed*: the id hashes the task's definition as written, the seed and the experiment name
//! (src/experiment/sweep.rs), so editing a task in place is seen even though its key stays.
//! Each of the three fails unless [`Accept`] says otherwise.

use super::results::ConfigSummary;
use super::schema::CompareFile;

/// How one configuration fared.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Compared with the baseline: what regressed (empty: ok).
    Compared(Vec<String>),
    /// The baseline has no configuration with this key.
    New,
    /// The baseline has this key with another definition (its `config_id`); figures not compared.
    Changed { baseline_id: String },
}

/// One configuration of the run.
#[derive(Clone, Debug)]
pub struct Line {
    pub task: String,
    pub params: String,
    pub protocol: String,
    pub config_id: String,
    /// (column, baseline, current) for each compared figure.
    pub cells: Vec<(String, Option<f64>, Option<f64>)>,
    pub status: Status,
}

/// The outcome of a comparison.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    pub lines: Vec<Line>,
    /// Configurations whose figures regressed.
    pub regressions: usize,
    /// Baseline configurations the current run does not have.
    pub missing: Vec<String>,
}

/// Which structural differences are accepted (the CLI's `--allow-missing`, `--accept-new` and
/// `--accept-changed`); regressed figures never are.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accept {
    pub missing: bool,
    pub new: bool,
    pub changed: bool,
}

impl Comparison {
    /// Lines with this status kind.
    fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.lines.iter().filter(|l| f(&l.status)).count()
    }

    pub fn new_count(&self) -> usize {
        self.count(|s| *s == Status::New)
    }

    pub fn changed_count(&self) -> usize {
        self.count(|s| matches!(s, Status::Changed { .. }))
    }

    /// Why the comparison fails (None: it passes), as one line.
    pub fn verdict(&self, accept: Accept) -> Option<String> {
        let mut why = Vec::new();
        if self.regressions > 0 {
            why.push(format!("{} regression(s)", self.regressions));
        }
        let structural = [
            (
                self.missing.len(),
                accept.missing,
                "missing from this run (accept with --allow-missing)",
            ),
            (
                self.new_count(),
                accept.new,
                "new, not in the baseline (accept with --accept-new)",
            ),
            (
                self.changed_count(),
                accept.changed,
                "with a changed definition (accept with --accept-changed)",
            ),
        ];
        for (n, accepted, what) in structural {
            if n > 0 && !accepted {
                why.push(format!("{n} configuration(s) {what}"));
            }
        }
        (!why.is_empty()).then(|| why.join(", "))
    }
}

const FIGURES: [(&str, &str); 6] = [
    ("rounds", "rounds"),
    ("bytes_sent_per_party", "sent/party (B)"),
    ("bytes_offline_total", "offline (B)"),
    ("private_top1", "private top-1"),
    ("agreement", "agreement"),
    ("max_abs_err", "max abs err"),
];

/// The figures [`problems`] checks (wall time only on request).
const CHECKED: [&str; 8] = [
    "rounds",
    "rounds_between_parties",
    "bytes_sent_per_party",
    "bytes_online_total",
    "bytes_offline_total",
    "private_top1",
    "agreement",
    "max_abs_err",
];

/// What matches a configuration across runs: its task and every parameter value (sorted, so the
/// order of a summary's keys does not matter).
fn key(c: &ConfigSummary) -> String {
    let mut p: Vec<String> = c.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    p.sort();
    format!("{}|{}", c.task, p.join(";"))
}

/// Compares `current` with `baseline`, configuration by configuration (see the module doc).
pub fn compare(current: &[ConfigSummary], baseline: &[ConfigSummary], m: &CompareFile) -> Comparison {
    // The baseline's network when the run has no rows, so that everything counts as missing.
    let first_net = current
        .first()
        .or(baseline.first())
        .map(|c| c.param("network").to_string())
        .unwrap_or_default();
    let mut out = Comparison::default();
    // Show the parameters that vary within a task and protocol (the rest is the same everywhere).
    let varies = |k: &str| {
        current.iter().any(|a| {
            current
                .iter()
                .any(|b| a.task == b.task && a.param("protocol") == b.param("protocol") && a.param(k) != b.param(k))
        })
    };
    for c in current.iter().filter(|c| c.param("network") == first_net) {
        let k = key(c);
        let base = baseline.iter().find(|b| key(b) == k);
        let params: Vec<String> = c
            .params
            .iter()
            .filter(|(k, v)| !["protocol", "family", "network"].contains(&k.as_str()) && !v.is_empty())
            .filter(|(k, _)| varies(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut cells: Vec<(String, Option<f64>, Option<f64>)> = FIGURES
            .iter()
            .map(|(k, label)| (label.to_string(), base.and_then(|b| b.metric(k)), c.metric(k)))
            .collect();
        if m.wall_factor.is_some() {
            cells.push((
                "wall (s)".into(),
                base.and_then(|b| b.metric("wall_s")),
                c.metric("wall_s"),
            ));
        }
        let status = match base {
            None => Status::New,
            Some(b) if b.config_id != c.config_id => Status::Changed {
                baseline_id: b.config_id.clone(),
            },
            Some(b) => Status::Compared(problems(b, c, m)),
        };
        if matches!(&status, Status::Compared(p) if !p.is_empty()) {
            out.regressions += 1;
        }
        out.lines.push(Line {
            task: c.task.clone(),
            params: params.join(" "),
            protocol: c.param("protocol").to_string(),
            config_id: c.config_id.clone(),
            cells,
            status,
        });
    }
    for b in baseline.iter().filter(|b| b.param("network") == first_net) {
        let k = key(b);
        if !current.iter().any(|c| key(c) == k) {
            out.missing
                .push(format!("{} {} ({})", b.task, b.param("protocol"), b.config_id));
        }
    }
    out
}

/// What regressed in `now` against `base`. Written as "within the margin or fail", so a figure
/// that is not a number fails too.
fn problems(base: &ConfigSummary, now: &ConfigSummary, m: &CompareFile) -> Vec<String> {
    let mut p = Vec::new();
    let grow = |k: &str, pct: f64, p: &mut Vec<String>| {
        if let (Some(b), Some(n)) = (base.metric(k), now.metric(k)) {
            if !(n <= b * (1.0 + pct / 100.0)) {
                p.push(format!(
                    "{k} {b} -> {n} (+{:.2}%, margin {pct}%)",
                    100.0 * (n - b) / b.max(1.0)
                ));
            }
        }
    };
    grow("rounds", m.rounds_pct, &mut p);
    grow("rounds_between_parties", m.rounds_pct, &mut p);
    for k in ["bytes_sent_per_party", "bytes_online_total", "bytes_offline_total"] {
        grow(k, m.bytes_pct, &mut p);
    }
    for k in ["private_top1", "agreement"] {
        if let (Some(b), Some(n)) = (base.metric(k), now.metric(k)) {
            if !(100.0 * (b - n) <= m.accuracy_drop_pts + 1e-9) {
                p.push(format!(
                    "{k} {:.2}% -> {:.2}% (margin {} pts)",
                    100.0 * b,
                    100.0 * n,
                    m.accuracy_drop_pts
                ));
            }
        }
    }
    if let (Some(b), Some(n)) = (base.metric("max_abs_err"), now.metric("max_abs_err")) {
        if !(n <= b * m.error_factor + m.error_slack) {
            p.push(format!(
                "max_abs_err {b:.3e} -> {n:.3e} (margin {}x + {})",
                m.error_factor, m.error_slack
            ));
        }
    }
    if let (Some(f), Some(b), Some(n)) = (m.wall_factor, base.metric("wall_s"), now.metric("wall_s")) {
        if !(n <= b * f) {
            p.push(format!("wall_s {b:.4} -> {n:.4} (margin {f}x)"));
        }
    }
    // A figure the baseline checks and the run no longer reports would otherwise pass unseen.
    for k in CHECKED {
        if let (Some(b), None) = (base.metric(k), now.metric(k)) {
            p.push(format!("{k} missing from this run (baseline {b})"));
        }
    }
    p
}

/// The side-by-side table: one row per configuration, baseline → current for each figure.
pub fn render(c: &Comparison) -> String {
    let fmt = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 1e-2 => format!("{x:.4}"),
        Some(x) => format!("{x:.2e}"),
    };
    let mut header = vec!["task".to_string(), "parameters".into(), "protocol".into()];
    let mut rows: Vec<Vec<String>> = Vec::new();
    if let Some(l) = c.lines.first() {
        header.extend(l.cells.iter().map(|(k, _, _)| format!("{k} base -> now")));
    }
    header.push("status".into());
    for l in &c.lines {
        let mut r = vec![l.task.clone(), l.params.clone(), l.protocol.clone()];
        for (_, b, n) in &l.cells {
            let cell = if b.is_none() && n.is_none() {
                String::new()
            } else if b == n {
                fmt(*n)
            } else {
                format!("{} -> {}", fmt(*b), fmt(*n))
            };
            r.push(cell);
        }
        r.push(match &l.status {
            Status::New => "NEW (not in the baseline)".into(),
            Status::Changed { baseline_id } => format!(
                "CHANGED: task definition or seed differs from the baseline's (config {baseline_id} -> {}); not compared",
                l.config_id
            ),
            Status::Compared(p) if p.is_empty() => "ok".into(),
            Status::Compared(p) => format!("REGRESSION: {}", p.join("; ")),
        });
        rows.push(r);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String]| {
        r.iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, w))| {
                if i + 1 == r.len() {
                    s.clone()
                } else {
                    format!("{s:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut s = line(&header) + "\n";
    for r in &rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    for m in &c.missing {
        s.push_str(&format!("MISSING from this run (in the baseline): {m}\n"));
    }
    s
}
