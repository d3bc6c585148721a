//! `testbed compare`: an experiment's fresh results against a committed baseline (a summary.json),
//! configuration by configuration, with the margins of the experiment's `compare:` section.
//!
//! A regression is: more rounds or bytes than the baseline beyond `rounds_pct` / `bytes_pct`,
//! private accuracy or agreement lower by more than `accuracy_drop_pts` points, a max error above
//! `error_factor` × baseline + `error_slack`, or (only when `wall_factor` is set) a slower wall time.
//! Rounds, bytes and accuracy are deterministic for a seed, so the default margins are zero. The
//! network does not change any of them, so only the first network profile's rows are compared.

use super::results::ConfigSummary;
use super::schema::CompareFile;

/// One compared configuration.
#[derive(Clone, Debug)]
pub struct Line {
    pub task: String,
    pub params: String,
    pub protocol: String,
    /// (column, baseline, current) for each compared figure.
    pub cells: Vec<(String, Option<f64>, Option<f64>)>,
    /// What regressed (empty: ok); `None` when the baseline has no such configuration.
    pub problems: Option<Vec<String>>,
}

/// The outcome of a comparison.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    pub lines: Vec<Line>,
    pub regressions: usize,
    /// Baseline configurations the current run does not have.
    pub missing: Vec<String>,
}

const FIGURES: [(&str, &str); 6] = [
    ("rounds", "rounds"),
    ("bytes_sent_per_party", "sent/party (B)"),
    ("bytes_offline_total", "offline (B)"),
    ("private_top1", "private top-1"),
    ("agreement", "agreement"),
    ("max_abs_err", "max abs err"),
];

/// Compares `current` with `baseline` (matched by configuration id).
pub fn compare(current: &[ConfigSummary], baseline: &[ConfigSummary], m: &CompareFile) -> Comparison {
    let first_net = current
        .first()
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
        let base = baseline.iter().find(|b| b.config_id == c.config_id);
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
        let problems = base.map(|b| problems(b, c, m));
        if problems.as_ref().is_some_and(|p| !p.is_empty()) {
            out.regressions += 1;
        }
        out.lines.push(Line {
            task: c.task.clone(),
            params: params.join(" "),
            protocol: c.param("protocol").to_string(),
            cells,
            problems,
        });
    }
    for b in baseline.iter().filter(|b| b.param("network") == first_net) {
        if !current.iter().any(|c| c.config_id == b.config_id) {
            out.missing
                .push(format!("{} {} ({})", b.task, b.param("protocol"), b.config_id));
        }
    }
    out
}

/// What regressed in `now` against `base`.
fn problems(base: &ConfigSummary, now: &ConfigSummary, m: &CompareFile) -> Vec<String> {
    let mut p = Vec::new();
    let grow = |k: &str, pct: f64, p: &mut Vec<String>| {
        if let (Some(b), Some(n)) = (base.metric(k), now.metric(k)) {
            if n > b * (1.0 + pct / 100.0) {
                p.push(format!(
                    "{k} {b} -> {n} (+{:.2}%, margin {pct}%)",
                    100.0 * (n - b) / b.max(1.0)
                ));
            }
        }
    };
    grow("rounds", m.rounds_pct, &mut p);
    for k in ["bytes_sent_per_party", "bytes_online_total", "bytes_offline_total"] {
        grow(k, m.bytes_pct, &mut p);
    }
    for k in ["private_top1", "agreement"] {
        if let (Some(b), Some(n)) = (base.metric(k), now.metric(k)) {
            if 100.0 * (b - n) > m.accuracy_drop_pts + 1e-9 {
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
        if n > b * m.error_factor + m.error_slack {
            p.push(format!(
                "max_abs_err {b:.3e} -> {n:.3e} (margin {}x + {})",
                m.error_factor, m.error_slack
            ));
        }
    }
    if let (Some(f), Some(b), Some(n)) = (m.wall_factor, base.metric("wall_s"), now.metric("wall_s")) {
        if n > b * f {
            p.push(format!("wall_s {b:.4} -> {n:.4} (margin {f}x)"));
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
        r.push(match &l.problems {
            None => "new (no baseline)".into(),
            Some(p) if p.is_empty() => "ok".into(),
            Some(p) => format!("REGRESSION: {}", p.join("; ")),
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
        s.push_str(&format!("missing from this run (in the baseline): {m}\n"));
    }
    s
}
