//! Results on disk: runs.csv (one line per finished run, appended and synced at once, so a crash
//! loses at most the run in progress), and summary.json / summary.md (medians per configuration
//! and the headline table, written to a temporary file and renamed into place).
//!
//! A partial last line (a crash while writing) is ignored by every reader, and `--resume` cuts it
//! off before appending.

use crate::error::{Error, Result};
use crate::nn::io::write_atomic;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Columns before the parameters.
pub const HEAD: [&str; 7] = ["experiment", "run_id", "config_id", "task", "kind", "model", "rep"];

/// Measured and derived columns, after the parameters. (There is no separate compute time: the
/// meter does not time receives, so `wall_s` is what was measured; see docs/network-model.md.)
pub const METRICS: [&str; 17] = [
    "wall_s",
    "online_wall_s",
    "predicted_s",
    "predicted_dealer_s",
    "rounds",
    "rounds_between_parties",
    "bytes_sent_per_party",
    "bytes_online_total",
    "bytes_offline_total",
    "samples",
    "batches",
    "private_top1",
    "plain_top1",
    "agreement",
    "max_abs_err",
    "max_rel_err",
    "timestamp",
];

/// Which samples an accuracy row is about (empty in other rows), after the metrics: the split
/// and how it was sampled, the samples per class by label (space-separated), and where the data
/// came from.
pub const SAMPLE_COLUMNS: [&str; 3] = ["split", "class_counts", "data_provenance"];

/// The last column: the machine the row was measured on (CPU model, kernel, threads; see
/// [`super::machine`]).
pub const MACHINE_COLUMN: &str = "machine";

/// The header of runs.csv for these parameter columns.
pub fn header(params: &[String]) -> Vec<String> {
    let mut h: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
    h.extend(params.iter().cloned());
    h.extend(METRICS.iter().map(|s| s.to_string()));
    h.extend(SAMPLE_COLUMNS.iter().map(|s| s.to_string()));
    h.push(MACHINE_COLUMN.to_string());
    h
}

/// The `class_counts` field of runs.csv: counts by label, space-separated.
pub fn counts_field(counts: &[usize]) -> String {
    counts.iter().map(usize::to_string).collect::<Vec<_>>().join(" ")
}

/// Class counts for a table cell: `100 × 10` when every class has the same count, else the
/// counts by label.
pub fn counts_text(counts: &[u64]) -> String {
    match counts.first() {
        Some(&c) if counts.iter().all(|&o| o == c) => format!("{c} × {}", counts.len()),
        _ => format!("[{}]", counts.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// The samples behind an accuracy configuration, from its runs.csv row.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The split and how it was sampled.
    pub split: String,
    pub class_counts: Vec<u64>,
    pub provenance: String,
}

impl Sample {
    /// From a row; `None` for rows without a split (not accuracy tasks).
    pub fn of(table: &Table, row: &[String]) -> Option<Sample> {
        let split = table.get(row, "split");
        (!split.is_empty()).then(|| Sample {
            split: split.to_string(),
            class_counts: table
                .get(row, "class_counts")
                .split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect(),
            provenance: table.get(row, "data_provenance").to_string(),
        })
    }
}

/// The Wilson 95 % interval of a rate metric of an accuracy configuration over its `samples`.
pub fn interval(c: &ConfigSummary, metric: &str) -> Option<(f64, f64)> {
    let n = c.metric("samples")?.round() as u64;
    let rate = c.metric(metric)?;
    Some(super::stats::wilson95(super::stats::successes(rate, n), n))
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// A CSV table read back.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads runs.csv; returns the table and the length in bytes of its complete lines (a partial
    /// last line, or a line with the wrong number of fields, is left out).
    pub fn read(path: &Path) -> Result<(Table, u64)> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let mut lines = text[..complete].lines();
        let header = match lines.next().and_then(parse_line) {
            Some(h) => h,
            None => return Err(Error::config(path.display().to_string(), "no header line")),
        };
        let rows = lines
            .filter_map(parse_line)
            .filter(|r| r.len() == header.len())
            .collect();
        Ok((Table { header, rows }, complete as u64))
    }

    /// Index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// A row's value in a column ("" when the column is missing).
    pub fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        self.col(name).map_or("", |i| row[i].as_str())
    }

    /// A row's numeric value in a column.
    pub fn num(&self, row: &[String], name: &str) -> Option<f64> {
        self.get(row, name).parse().ok()
    }

    /// The parameter columns (between `rep` and the metrics).
    pub fn param_columns(&self) -> Vec<String> {
        let start = self.col("rep").map_or(0, |i| i + 1);
        let end = self.col(METRICS[0]).unwrap_or(self.header.len());
        self.header[start..end.max(start)].to_vec()
    }
}

/// Formats one CSV line (fields with commas or quotes are quoted; newlines become spaces).
pub fn csv_line(fields: &[String]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.replace(['\n', '\r'], " ");
        if f.contains([',', '"']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&f);
        }
    }
    out.push('\n');
    out
}

/// Parses one CSV line; `None` when its quotes do not balance.
pub fn parse_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(cur);
    Some(fields)
}

/// Appends rows to runs.csv, each flushed and synced before the next run starts.
pub struct RunsWriter {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl RunsWriter {
    /// Starts a new runs.csv with `header`.
    pub fn create(path: &Path, header: &[String]) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
        let mut w = Self {
            file,
            path: path.to_path_buf(),
        };
        w.write_line(&csv_line(header))?;
        Ok(w)
    }

    /// Continues an existing runs.csv after its last complete line (`valid_len` bytes).
    pub fn resume(path: &Path, valid_len: u64) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        file.set_len(valid_len).map_err(|e| io(path, e))?;
        let mut w = Self {
            file,
            path: path.to_path_buf(),
        };
        use std::io::Seek;
        w.file.seek(std::io::SeekFrom::End(0)).map_err(|e| io(path, e))?;
        Ok(w)
    }

    /// Writes one row and makes it durable.
    pub fn write_row(&mut self, fields: &[String]) -> Result<()> {
        self.write_line(&csv_line(fields))
    }

    fn write_line(&mut self, line: &str) -> Result<()> {
        let path = &self.path;
        self.file.write_all(line.as_bytes()).map_err(|e| io(path, e))?;
        self.file.flush().map_err(|e| io(path, e))?;
        self.file.sync_data().map_err(|e| io(path, e))
    }
}

/// Median of the values (None when there are none).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One configuration: its parameters and the medians of its metrics over repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigSummary {
    pub config_id: String,
    pub task: String,
    pub kind: String,
    pub model: String,
    /// Parameter columns and values.
    pub params: Vec<(String, String)>,
    pub repetitions: usize,
    /// Medians of the numeric metrics (absent where the task has none).
    pub metrics: Vec<(String, f64)>,
}

impl ConfigSummary {
    /// A parameter's value ("" when absent).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A metric's median.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

/// The distinct machines the rows were measured on, in order of first appearance (one, unless a
/// `--resume` continued a run elsewhere), joined by "; ".
pub fn machines(table: &Table) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for row in &table.rows {
        let m = table.get(row, MACHINE_COLUMN);
        if !m.is_empty() && !seen.contains(&m) {
            seen.push(m);
        }
    }
    if seen.is_empty() {
        "unknown machine".to_string()
    } else {
        seen.join("; ")
    }
}

/// Groups runs by configuration (in order of first appearance) and takes medians over repetitions.
pub fn summarize(table: &Table) -> Vec<ConfigSummary> {
    let params = table.param_columns();
    let mut order: Vec<String> = Vec::new();
    let mut groups: std::collections::HashMap<String, Vec<&Vec<String>>> = Default::default();
    for row in &table.rows {
        let id = table.get(row, "config_id").to_string();
        if !groups.contains_key(&id) {
            order.push(id.clone());
        }
        groups.entry(id).or_default().push(row);
    }
    order
        .into_iter()
        .map(|id| {
            let rows = &groups[&id];
            let first = rows[0];
            let metrics = METRICS
                .iter()
                .filter(|m| **m != "timestamp")
                .filter_map(|m| {
                    let v: Vec<f64> = rows.iter().filter_map(|r| table.num(r, m)).collect();
                    median(v).map(|x| (m.to_string(), x))
                })
                .collect();
            ConfigSummary {
                task: table.get(first, "task").into(),
                kind: table.get(first, "kind").into(),
                model: table.get(first, "model").into(),
                params: params
                    .iter()
                    .map(|p| (p.clone(), table.get(first, p).to_string()))
                    .collect(),
                repetitions: rows.len(),
                metrics,
                config_id: id,
            }
        })
        .collect()
}

/// The headline table: one row per configuration with the figures a paper reports. Accuracy
/// rows say which samples they are about (n, split, class counts) and give agreement first,
/// each rate with its Wilson 95 % interval.
pub fn headline(configs: &[ConfigSummary], samples: &HashMap<String, Sample>) -> (Vec<String>, Vec<Vec<String>>) {
    // Parameters that vary somewhere (besides protocol and network, which always show).
    let varying: Vec<String> = configs
        .first()
        .map(|c| {
            c.params
                .iter()
                .map(|(k, _)| k.clone())
                .filter(|k| !["protocol", "family", "network"].contains(&k.as_str()))
                .filter(|k| configs.iter().any(|o| o.param(k) != c.param(k)))
                .collect()
        })
        .unwrap_or_default();
    let accuracy = configs.iter().any(|c| c.metric("private_top1").is_some());
    let mut cols: Vec<String> = ["task", "protocol", "network"].map(String::from).to_vec();
    cols.extend(varying.iter().cloned());
    cols.extend(
        [
            "predicted (s)",
            "of which dealer (s)",
            "measured (s)",
            "online only (s)",
            "rounds",
            "sent/party (MB)",
            "offline (MB)",
        ]
        .map(String::from),
    );
    if accuracy {
        cols.extend(
            [
                "n",
                "split",
                "class counts",
                "agreement [95% CI]",
                "private top-1 [95% CI]",
                "plaintext top-1 [95% CI]",
            ]
            .map(String::from),
        );
    }
    cols.push("max abs err".into());
    let f = |c: &ConfigSummary, m: &str, fmt: &dyn Fn(f64) -> String| c.metric(m).map(fmt).unwrap_or_default();
    let secs = |x: f64| format!("{x:.4}");
    let mb = |x: f64| format!("{:.3}", x / 1e6);
    let int = |x: f64| format!("{x:.0}");
    let sci = |x: f64| format!("{x:.2e}");
    let rate = |c: &ConfigSummary, m: &str| match (c.metric(m), interval(c, m)) {
        (Some(x), Some((lo, hi))) => format!("{:.1}% [{:.1}, {:.1}]", 100.0 * x, 100.0 * lo, 100.0 * hi),
        _ => String::new(),
    };
    let rows = configs
        .iter()
        .map(|c| {
            let mut r = vec![c.task.clone(), c.param("protocol").into(), c.param("network").into()];
            r.extend(varying.iter().map(|k| c.param(k).to_string()));
            r.push(f(c, "predicted_s", &secs));
            r.push(f(c, "predicted_dealer_s", &secs));
            r.push(f(c, "wall_s", &secs));
            r.push(f(c, "online_wall_s", &secs));
            r.push(f(c, "rounds", &int));
            r.push(f(c, "bytes_sent_per_party", &mb));
            r.push(f(c, "bytes_offline_total", &mb));
            if accuracy {
                let sample = samples.get(&c.config_id);
                r.push(f(c, "samples", &int));
                r.push(sample.map(|s| s.split.clone()).unwrap_or_default());
                r.push(sample.map(|s| counts_text(&s.class_counts)).unwrap_or_default());
                r.push(rate(c, "agreement"));
                r.push(rate(c, "private_top1"));
                r.push(rate(c, "plain_top1"));
            }
            r.push(f(c, "max_abs_err", &sci));
            r
        })
        .collect();
    (cols, rows)
}

/// The headline table as Markdown.
pub fn markdown(cols: &[String], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|{}\n", cols.join(" | "), "---|".repeat(cols.len()));
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}

/// The samples of each accuracy configuration in `table`, by config id.
pub fn samples(table: &Table) -> HashMap<String, Sample> {
    let mut out = HashMap::new();
    for row in &table.rows {
        let id = table.get(row, "config_id").to_string();
        if !out.contains_key(&id)
            && let Some(s) = Sample::of(table, row)
        {
            out.insert(id, s);
        }
    }
    out
}

/// summary.json and summary.md for a results folder. `notes` are the tasks' descriptions, by
/// task name.
pub fn write_summary(
    dir: &Path,
    experiment: &str,
    description: Option<&str>,
    notes: &[(String, String)],
    table: &Table,
    insecure_share_seed: Option<u64>,
) -> Result<()> {
    let configs = summarize(table);
    let samples = samples(table);
    let (cols, rows) = headline(&configs, &samples);
    let json_configs: Vec<Value> = configs
        .iter()
        .map(|c| config_json(c, samples.get(&c.config_id)))
        .collect();
    // One entry per accuracy task: its samples and where the data came from.
    let mut data: Vec<Value> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for c in &configs {
        if let Some(s) = samples.get(&c.config_id)
            && !seen.contains(&c.task.as_str())
        {
            seen.push(&c.task);
            data.push(json!({
                "task": c.task,
                "split": s.split,
                "class_counts": s.class_counts,
                "provenance": (!s.provenance.is_empty()).then_some(&s.provenance),
            }));
        }
    }
    let summary = json!({
        "experiment": experiment,
        "description": description,
        "generated": timestamp(),
        "runs": table.rows.len(),
        "machine": machines(table),
        // Where share randomness came from: the OS, or (INSECURE, for reproducible tests) a seed.
        "share_randomness": match insecure_share_seed {
            Some(s) => format!("INSECURE fixed seed {s}"),
            None => "os".to_string(),
        },
        "tasks": notes.iter().map(|(t, d)| json!({"task": t, "description": d})).collect::<Vec<_>>(),
        "data": data,
        "configurations": json_configs,
        "headline": { "columns": cols, "rows": rows },
    });
    write_atomic(
        &dir.join("summary.json"),
        (serde_json::to_string_pretty(&summary).expect("serialises") + "\n").as_bytes(),
    )?;
    let mut md = format!("# {experiment}\n\n");
    if let Some(d) = description {
        md.push_str(&format!("{d}\n\n"));
    }
    if let Some(s) = insecure_share_seed {
        md.push_str(&format!(
            "**INSECURE: share randomness from the fixed seed {s}** (reproducible counts and outputs \
             for tests; not private).\n\n"
        ));
    }
    md.push_str(&format!(
        "Medians over repetitions; predicted times are the measured wall time plus the network model \
         (docs/network-model.md); bytes are online payload sent per party (max over parties) and \
         offline payload from the dealer. Accuracy rows: n samples of the split named, agreement = \
         private top-1 equals plaintext top-1, each rate with its Wilson 95 % interval. {} runs, \
         measured on {}.\n\n",
        table.rows.len(),
        machines(table)
    ));
    md.push_str(&markdown(&cols, &rows));
    if !notes.is_empty() || !data.is_empty() {
        md.push_str("\n## Tasks\n\n");
    }
    for (task, note) in notes {
        md.push_str(&format!(
            "- **{task}**: {}\n",
            note.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    for d in &data {
        if let Some(p) = d["provenance"].as_str() {
            md.push_str(&format!("- **{}** data: {p}\n", d["task"].as_str().unwrap_or("")));
        }
    }
    write_atomic(&dir.join("summary.md"), md.as_bytes())
}

fn config_json(c: &ConfigSummary, sample: Option<&Sample>) -> Value {
    let mut o = Map::new();
    o.insert("config_id".into(), json!(c.config_id));
    o.insert("task".into(), json!(c.task));
    o.insert("kind".into(), json!(c.kind));
    o.insert("model".into(), json!(c.model));
    o.insert("repetitions".into(), json!(c.repetitions));
    let params: Map<String, Value> = c.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    o.insert("params".into(), Value::Object(params));
    for (k, v) in &c.metrics {
        o.insert(k.clone(), json!(v));
    }
    if let Some(s) = sample {
        o.insert("split".into(), json!(s.split));
        o.insert("class_counts".into(), json!(s.class_counts));
        for m in ["agreement", "private_top1", "plain_top1"] {
            if let Some((lo, hi)) = interval(c, m) {
                o.insert(format!("{m}_ci95"), json!([lo, hi]));
            }
        }
    }
    Value::Object(o)
}

/// Reads the configurations of a summary.json (a baseline for `testbed compare`).
pub fn read_summary(path: &Path) -> Result<Vec<ConfigSummary>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| Error::config(&shown, format!("not JSON: {e}")))?;
    let list = v
        .get("configurations")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::config(&shown, "field `configurations`: missing (not a summary.json?)"))?;
    let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(list
        .iter()
        .map(|o| ConfigSummary {
            config_id: s(o, "config_id"),
            task: s(o, "task"),
            kind: s(o, "kind"),
            model: s(o, "model"),
            params: o
                .get("params")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            repetitions: o.get("repetitions").and_then(Value::as_u64).unwrap_or(0) as usize,
            metrics: METRICS
                .iter()
                .filter_map(|m| o.get(*m).and_then(Value::as_f64).map(|x| (m.to_string(), x)))
                .collect(),
        })
        .collect())
}

/// Now, as an ISO 8601 UTC timestamp.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    iso8601(secs)
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_round_trip() {
        let f: Vec<String> = ["a", "b,c", "say \"hi\"", ""].map(String::from).to_vec();
        let line = csv_line(&f);
        assert_eq!(parse_line(line.trim_end()).unwrap(), f);
        assert_eq!(parse_line("\"open"), None);
    }

    #[test]
    fn timestamps_are_iso_8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
