//! Experiments: schema errors with line and column, sweep expansion, run ids, the runner's files,
//! resume after a kill, plots, compare, and the network cost model against hand computations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use testbed::bench::{OpKind, OpSpec, run_op_with};
use testbed::experiment::results::Table;
use testbed::experiment::{Experiment, NetworkProfile, RunOptions, predict, run_experiment};
use testbed::launch::TransportKind;
use testbed::net::Phase;
use testbed::protocol::ProtocolConfig;

/// A fresh folder under the system temp dir (removed by the test when it passes).
pub(crate) fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("testbed-exp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) fn load(text: &str) -> Result<Experiment, testbed::Error> {
    Experiment::from_text(text.to_string(), "exp.yaml".to_string())
}

fn testbed_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_testbed"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn output(mut c: Command) -> (i32, String, String) {
    let out = c.stdin(Stdio::null()).output().expect("the testbed binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const OPS: &str = "name: ops
tasks:
  - name: relu
    kind: op
    op: relu
    shapes: [[1000]]
protocols: [2pc-ttp, 3pc-replicated]
networks: [lan]
";

/// Asserts a one-line bad-input error at `line:column` that mentions every `needle`.
pub(crate) fn assert_error_at(text: &str, line: usize, column: usize, needles: &[&str]) {
    let e = load(text).expect_err("the experiment must be rejected");
    assert!(e.is_bad_input(), "{e}");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    let prefix = format!("exp.yaml:{line}:{column}: ");
    assert!(msg.starts_with(&prefix), "expected {prefix}...: {msg}");
    for n in needles {
        assert!(msg.contains(n), "expected `{n}` in: {msg}");
    }
}

#[test]
fn schema_errors_name_file_line_column_and_field() {
    // A typo in a field name.
    assert_error_at(
        &OPS.replace("    shapes: [[1000]]", "    shapez: [[1000]]"),
        6,
        5,
        &["shapez", "unknown field"],
    );
    // A value of the wrong type.
    assert_error_at(&format!("{OPS}repetitions: many\n"), 9, 14, &["repetitions"]);
    // An unknown protocol.
    assert_error_at(
        &OPS.replace("[2pc-ttp, 3pc-replicated]", "[2pc-ttp, 4pc-magic]"),
        7,
        22,
        &["field `protocols`", "unknown protocol `4pc-magic`", "2pc-ttp"],
    );
    // An unknown sweep parameter, and a bad value of a known one.
    assert_error_at(
        &format!("{OPS}sweep:\n  precision_bits: [12, 16]\n  precison: [1]\n"),
        11,
        3,
        &["unknown sweep parameter `precison`", "functions.exp_iterations"],
    );
    assert_error_at(
        &format!("{OPS}sweep:\n  precision_bits: [12, 40]\n"),
        10,
        24,
        &["field `sweep.precision_bits`", "outside 1..=30"],
    );
    assert_error_at(
        &format!("{OPS}sweep:\n  functions.sigmoid_tanh_method: [chebyshev, magic]\n"),
        10,
        46,
        &["sigmoid_tanh_method", "magic"],
    );
    // An unknown network profile.
    assert_error_at(
        &OPS.replace("[lan]", "[lan, moon]"),
        8,
        17,
        &["unknown network profile `moon`"],
    );
    // An unknown op, an unknown task kind, a field of another kind.
    assert_error_at(&OPS.replace("op: relu", "op: relux"), 5, 9, &["unknown op `relux`"]);
    assert_error_at(&OPS.replace("kind: op", "kind: speed"), 4, 11, &["unknown task kind"]);
    assert_error_at(
        &OPS.replace("    op: relu", "    op: relu\n    data: digits"),
        6,
        11,
        &["`data` is not a field of op tasks"],
    );
}

#[test]
fn missing_models_weights_and_data_sets_are_reported_at_their_value() {
    let task = "name: m
tasks:
  - name: t
    kind: accuracy
    model: mlp
    data: digits
    samples: 8
protocols: [2pc-ttp]
";
    assert_error_at(
        &task.replace("model: mlp", "model: mlpx"),
        5,
        12,
        &["unknown zoo model `mlpx`"],
    );
    assert_error_at(
        &task.replace("model: mlp", "model: no/such/model.onnx"),
        5,
        12,
        &["no such model file"],
    );
    assert_error_at(
        &task.replace("    data: digits", "    weights: no-such.safetensors\n    data: digits"),
        6,
        14,
        &["no such weights file"],
    );
    // Pretrained weights under data/ name the command that fetches them.
    assert_error_at(
        &task.replace(
            "    data: digits",
            "    weights: data/mnist-cnn/nothing.safetensors\n    data: digits",
        ),
        6,
        14,
        &["no such weights file", "scripts/fetch-data.sh mnist-cnn"],
    );
    assert_error_at(
        &task.replace("data: digits", "data: cifar-1000"),
        6,
        11,
        &["field `tasks.data`", "unknown data set `cifar-1000`", "digits"],
    );
    assert_error_at(
        &task.replace("samples: 8", "samples: 100000"),
        7,
        14,
        &["only 360 samples"],
    );
    // A registered data set whose files are not fetched: the error names the fetch command.
    let dir = scratch("nodata");
    let exp = dir.join("exp.yaml");
    std::fs::write(&exp, task).unwrap();
    let mut c = testbed_cmd(&["run", exp.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()]);
    c.env("TESTBED_DATA", dir.join("empty"));
    let (code, _, err) = output(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(":6:11: ") && err.contains("scripts/fetch-data.sh digits"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.join("out").exists(), "nothing may run before validation passes");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweeps_expand_to_the_cartesian_product_with_collapsed_duplicates() {
    let text = format!(
        "{}sweep:\n  precision_bits: [12, 16]\n  parties: [3, 4]\nrepetitions: 2\n",
        OPS.replace("[2pc-ttp, 3pc-replicated]", "[2pc-ttp, npc-additive]")
            .replace("[lan]", "[lan, wan]")
    );
    let exp = load(&text).unwrap();
    let runs = exp.runs().unwrap();
    // 2pc-ttp has exactly two parties, so its parties values collapse: 2 precisions × 2 reps × 2
    // networks; npc-additive takes both: 2 × 2 × 2 × 2.
    assert_eq!(runs.len(), 8 + 16);
    let col = |r: &testbed::experiment::expand::RunSpec, k: &str| {
        r.columns.iter().find(|(c, _)| c == k).map(|(_, v)| v.clone()).unwrap()
    };
    let npc: Vec<_> = runs.iter().filter(|r| col(r, "protocol") == "npc-additive").collect();
    assert_eq!(npc.iter().filter(|r| col(r, "parties") == "4").count(), 8);
    assert!(npc.iter().all(|r| r.cfg.parties.to_string() == col(r, "parties")));
    assert!(
        runs.iter()
            .all(|r| r.cfg.precision_bits.to_string() == col(r, "precision_bits"))
    );
    // Swept columns come right after protocol, family and network, in sweep order.
    assert_eq!(
        &exp.param_columns()[..5],
        &["protocol", "family", "network", "precision_bits", "parties"]
    );
    // Runs that differ only in the network share one execution; repetitions do not.
    let first = &runs[0];
    let twins: Vec<_> = runs.iter().filter(|r| r.exec_key == first.exec_key).collect();
    assert_eq!(twins.len(), 2);
    assert_ne!(twins[0].run_id, twins[1].run_id);
    let ids: std::collections::HashSet<_> = runs.iter().map(|r| r.run_id.clone()).collect();
    assert_eq!(ids.len(), runs.len());
    // A task's own `repetitions` overrides the experiment's (here one instead of two).
    let once = text.replace("    shapes: [[1000]]\n", "    shapes: [[1000]]\n    repetitions: 1\n");
    assert_eq!(load(&once).unwrap().runs().unwrap().len(), (8 + 16) / 2);
    let zero = text.replace("    shapes: [[1000]]\n", "    shapes: [[1000]]\n    repetitions: 0\n");
    assert!(load(&zero).unwrap_err().to_string().contains("repetition"));
}

#[test]
fn run_ids_are_stable_and_follow_the_parameters() {
    let text = format!("{OPS}sweep:\n  precision_bits: [12, 16]\n");
    let ids = |t: &str, file: &str| -> Vec<String> {
        Experiment::from_text(t.to_string(), file.to_string())
            .unwrap()
            .runs()
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    };
    let a = ids(&text, "a.yaml");
    assert_eq!(
        a,
        ids(&text, "elsewhere/b.yaml"),
        "ids do not depend on where the file is"
    );
    assert_eq!(a, ids(&format!("# a comment\n{text}"), "a.yaml"));
    let b = ids(&text.replace("[12, 16]", "[12, 20]"), "a.yaml");
    assert_eq!(a.iter().filter(|x| b.contains(x)).count(), a.len() / 2);
    let c = ids(&text.replace("[[1000]]", "[[2000]]"), "a.yaml");
    assert!(
        a.iter().all(|x| !c.contains(x)),
        "the task definition is part of the id"
    );
}

/// The model on a real run (its hand computation is a unit test in `experiment::netmodel`): a
/// 2PC Beaver product of n elements, on 2pc-ttp, opens 16n bytes each way at depth 1 while party
/// 0 asks the dealer (depth 1) and gets 8n bytes of correction back (depth 2).
#[test]
fn the_cost_model_on_a_metered_beaver_product() {
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let n = 5000u64;
    let spec = OpSpec {
        op: OpKind::parse("mul").unwrap(),
        shapes: vec![vec![n as usize], vec![n as usize]],
        conv: Default::default(),
        reps: 1,
        warmup: 0,
        on_demand: false,
        seed: Some(3),
        transport: TransportKind::Sim,
        insecure_share_seed: None,
    };
    let r = run_op_with(&cfg, &spec, false).unwrap();
    assert_eq!((r.rounds, r.rounds_between_parties), (2, 1));
    let (m0, m1) = (&r.meters[0], &r.meters[1]);
    let sent: Vec<_> = m0
        .log
        .iter()
        .filter(|m| m.from == 0)
        .map(|m| (m.to, m.depth, m.bytes))
        .collect();
    let control = sent.iter().find(|s| s.0 == 2).map(|s| s.2).unwrap();
    assert!(control > 0 && control < 100, "{control}");
    assert_eq!(sent, vec![(2, 1, control), (1, 1, 16 * n)]);
    let got: Vec<_> = m0
        .log
        .iter()
        .filter(|m| m.to == 0)
        .map(|m| (m.from, m.depth, m.phase, m.bytes))
        .collect();
    assert_eq!(got, vec![(1, 1, Phase::Online, 16 * n), (2, 2, Phase::Offline, 8 * n)]);
    assert_eq!(m1.log.iter().filter(|m| m.from == 1).count(), 1);
    for net in NetworkProfile::builtin() {
        let (l, b) = (net.latency_s, net.bandwidth_bit_s / 8.0);
        let online = l + (16 * n) as f64 / b;
        let want = 2.0 * l + (16 * n).max(control) as f64 / b + (8 * n) as f64 / b;
        let p = predict(&r.meters, Some(2), &net);
        assert!((p.comm_s - want).abs() < 1e-12, "{}: {p:?}", net.name);
        assert!((p.dealer_s - (want - online)).abs() < 1e-12);
        assert_eq!(p.rounds, 2);
    }
}

#[test]
fn run_writes_rows_summary_and_plots() {
    let dir = scratch("files");
    let text = format!(
        "{}sweep:\n  precision_bits: [12, 16]\nrepetitions: 2\n",
        OPS.replace("[lan]", "[lan, wan]")
    );
    let exp = load(&text).unwrap();
    let out = dir.join("out");
    let report = run_experiment(
        &exp,
        &RunOptions {
            out: out.clone(),
            resume: false,
        },
    )
    .unwrap();
    // 2 protocols × 2 precisions × 2 repetitions × 2 networks.
    assert_eq!((report.total, report.ran, report.skipped), (16, 16, 0));
    let (table, _) = Table::read(&out.join("runs.csv")).unwrap();
    assert_eq!(table.rows.len(), 16);
    for col in [
        "experiment",
        "run_id",
        "task",
        "protocol",
        "family",
        "parties",
        "transport",
        "network",
        "precision_bits",
        "wall_s",
        "predicted_s",
        "rounds",
        "bytes_sent_per_party",
        "bytes_online_total",
        "bytes_offline_total",
        "max_abs_err",
        "timestamp",
        "split",
        "class_counts",
        "data_provenance",
    ] {
        assert!(table.col(col).is_some(), "runs.csv lacks {col}");
    }
    // No column claims a compute time that nothing measures.
    assert!(table.col("compute_s").is_none());
    assert!(
        table.rows.iter().all(|r| table.get(r, "split").is_empty()),
        "op rows have no samples"
    );
    // Counts agree with a direct benchmark of the same op; predictions follow the model.
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap().with_precision(12).unwrap();
    let spec = OpSpec {
        op: OpKind::parse("relu").unwrap(),
        shapes: vec![vec![1000]],
        conv: Default::default(),
        reps: 1,
        // As the experiment runs it: one warm-up, then the dealer ahead.
        warmup: 1,
        on_demand: false,
        seed: Some(1),
        transport: TransportKind::Sim,
        insecure_share_seed: None,
    };
    let direct = run_op_with(&cfg, &spec, false).unwrap();
    let lan = NetworkProfile::builtin().remove(0);
    let comm = predict(&direct.meters, Some(2), &lan).comm_s;
    let mine: Vec<&Vec<String>> = table
        .rows
        .iter()
        .filter(|r| {
            table.get(r, "protocol") == "2pc-ttp"
                && table.get(r, "precision_bits") == "12"
                && table.get(r, "network") == "lan"
        })
        .collect();
    assert_eq!(mine.len(), 2);
    for r in &mine {
        assert_eq!(table.num(r, "rounds"), Some(direct.rounds as f64));
        assert_eq!(
            table.num(r, "bytes_offline_total"),
            Some(direct.bytes_offline_total as f64)
        );
        let (wall, pred) = (table.num(r, "wall_s").unwrap(), table.num(r, "predicted_s").unwrap());
        assert!((pred - wall - comm).abs() < 1e-9, "{pred} vs {wall} + {comm}");
        assert_eq!(table.get(r, "parties"), "2");
    }
    // The summary: one configuration per parameter set, medians over the two repetitions.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let configs = summary["configurations"].as_array().unwrap();
    assert_eq!(configs.len(), 8);
    assert!(configs.iter().all(|c| c["repetitions"] == 2));
    let c = configs
        .iter()
        .find(|c| c["params"]["protocol"] == "2pc-ttp" && c["params"]["precision_bits"] == "12")
        .unwrap();
    let walls: Vec<f64> = mine.iter().map(|r| table.num(r, "wall_s").unwrap()).collect();
    assert!((c["wall_s"].as_f64().unwrap() - (walls[0] + walls[1]) / 2.0).abs() < 1e-12);
    assert_eq!(c["rounds"].as_f64(), Some(direct.rounds as f64));
    assert_eq!(summary["headline"]["rows"].as_array().unwrap().len(), 8);
    assert!(
        std::fs::read_to_string(out.join("summary.md"))
            .unwrap()
            .contains("| relu | 2pc-ttp | lan |")
    );
    // Plots: valid PNGs and SVGs with text.
    for chart in ["tradeoff", "bytes", "rounds"] {
        let png = std::fs::read(out.join(format!("relu-{chart}.png"))).unwrap();
        assert!(png.len() > 5000 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "{chart}");
        let svg = std::fs::read_to_string(out.join(format!("relu-{chart}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<text") && svg.contains("2pc-ttp"),
            "{chart}"
        );
    }
    // `testbed plot` re-draws them from runs.csv, tolerating a torn last line.
    let png = out.join("relu-tradeoff.png");
    std::fs::remove_file(&png).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(out.join("runs.csv"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"ops,0123,45").unwrap();
    let (code, stdout, err) = output(testbed_cmd(&["plot", out.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("relu-tradeoff.png") && png.is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run_ids(csv: &Path) -> Vec<String> {
    let (t, _) = Table::read(csv).unwrap();
    t.rows.iter().map(|r| t.get(r, "run_id").to_string()).collect()
}

#[test]
fn killing_a_run_mid_sweep_and_resuming_loses_and_repeats_nothing() {
    let dir = scratch("resume");
    let exp = dir.join("exp.yaml");
    std::fs::write(
        &exp,
        format!("{OPS}sweep:\n  precision_bits: [10, 12, 14, 16, 18, 20]\n"),
    )
    .unwrap();
    let out = dir.join("out");
    let csv = out.join("runs.csv");
    let args = ["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let mut c = testbed_cmd(&args);
    c.env("TESTBED_EXPERIMENT_PAUSE_MS", "300")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // runs.csv exists a moment before its header line does: count rows only once it reads.
    let persisted = || Table::read(&csv).map_or(0, |(t, _)| t.rows.len());
    while persisted() < 2 {
        assert!(std::time::Instant::now() < deadline, "no run was persisted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run must still be going");
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&csv).unwrap();
    let finished = run_ids(&csv);
    assert!(finished.len() >= 2 && finished.len() < 12, "{}", finished.len());
    // A torn last line, as a crash in the middle of a write would leave.
    let mut f = std::fs::OpenOptions::new().append(true).open(&csv).unwrap();
    std::io::Write::write_all(&mut f, b"ops,abcdef0123456789,12").unwrap();
    drop(f);
    let mut resume = testbed_cmd(&[&args[..], &["--resume"]].concat());
    resume.stdout(Stdio::piped());
    let (code, stdout, err) = output(resume);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&format!("{} already done", finished.len())), "{stdout}");
    let after = std::fs::read_to_string(&csv).unwrap();
    // Every finished row survives byte for byte (not re-run), the torn line is gone, nothing twice.
    assert!(after.starts_with(before.as_str()), "finished rows changed");
    assert!(!after.contains("abcdef0123456789"));
    let ids = run_ids(&csv);
    assert_eq!(ids.len(), 12);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 12);
    let all: Vec<String> = Experiment::load(&exp)
        .unwrap()
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert!(all.iter().all(|id| ids.contains(id)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compare_exits_1_on_a_regression_and_0_when_equal() {
    let dir = scratch("compare");
    let exp = dir.join("exp.yaml");
    std::fs::write(&exp, OPS).unwrap();
    let base_dir = dir.join("base");
    let (code, _, err) = output(testbed_cmd(&[
        "run",
        exp.to_str().unwrap(),
        "--out",
        base_dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let baseline = base_dir.join("summary.json");
    let (code, stdout, err) = output(testbed_cmd(&[
        "compare",
        exp.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
        "--out",
        dir.join("now").to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("0 regression(s)") && stdout.contains("ok"), "{stdout}");
    // A baseline with fewer rounds for one protocol: the current run is a regression.
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let c = v["configurations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["params"]["protocol"] == "3pc-replicated")
        .unwrap();
    let rounds = c["rounds"].as_f64().unwrap();
    c["rounds"] = serde_json::json!(rounds - 1.0);
    let worse = dir.join("baseline.json");
    std::fs::write(&worse, serde_json::to_string(&v).unwrap()).unwrap();
    let (code, stdout, err) = output(testbed_cmd(&[
        "compare",
        exp.to_str().unwrap(),
        "--baseline",
        worse.to_str().unwrap(),
        "--out",
        dir.join("now2").to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(stdout.contains("REGRESSION: rounds"), "{stdout}");
    assert!(err.contains("1 regression(s)"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tcp_runs_count_and_price_like_the_simulator() {
    let dir = scratch("tcp");
    let exp = dir.join("exp.yaml");
    std::fs::write(
        &exp,
        "name: tcp
tasks:
  - { name: relu, kind: op, op: relu, shapes: [[500]] }
  - { name: digits, kind: accuracy, model: mlp, data: digits, samples: 6, batch_size: 4 }
protocols: [2pc-ttp, 3pc-replicated]
networks: [wan]
tls: false
sweep:
  transport: [sim, tcp]
",
    )
    .unwrap();
    let out = dir.join("out");
    let (code, _, err) = output(testbed_cmd(&[
        "run",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let (t, _) = Table::read(&out.join("runs.csv")).unwrap();
    assert_eq!(t.rows.len(), 8);
    for task in ["relu", "digits"] {
        for protocol in ["2pc-ttp", "3pc-replicated"] {
            let pick = |transport: &str| {
                t.rows
                    .iter()
                    .find(|r| {
                        t.get(r, "task") == task
                            && t.get(r, "protocol") == protocol
                            && t.get(r, "transport") == transport
                    })
                    .unwrap()
            };
            let (sim, tcp) = (pick("sim"), pick("tcp"));
            for col in [
                "rounds",
                "bytes_sent_per_party",
                "bytes_online_total",
                "bytes_offline_total",
                "agreement",
            ] {
                assert_eq!(t.get(sim, col), t.get(tcp, col), "{task} {protocol} {col}");
            }
            // The round logs came back from the party processes: the same network term.
            let comm = |r: &Vec<String>| t.num(r, "predicted_s").unwrap() - t.num(r, "wall_s").unwrap();
            assert!((comm(sim) - comm(tcp)).abs() < 1e-9, "{task} {protocol}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
