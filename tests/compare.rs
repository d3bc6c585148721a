//! `testbed compare`: every way a run can fail against its baseline (figures that regressed, and
//! configurations missing, new or changed), each flag that accepts a structural difference, and
//! the CLI's exit codes end to end.

use crate::common::testbed;
use testbed::experiment::compare::{Accept, Comparison, Status, compare};
use testbed::experiment::results::ConfigSummary;
use testbed::experiment::schema::CompareFile;

/// A configuration of task `task` on `protocol` in network `net`, with these metrics.
fn config(task: &str, protocol: &str, net: &str, id: &str, metrics: &[(&str, f64)]) -> ConfigSummary {
    ConfigSummary {
        config_id: id.into(),
        task: task.into(),
        kind: "op".into(),
        model: String::new(),
        params: [("protocol", protocol), ("network", net), ("parties", "2")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
        repetitions: 1,
        metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

const BASE: [(&str, f64); 7] = [
    ("rounds", 10.0),
    ("bytes_sent_per_party", 1000.0),
    ("bytes_online_total", 2000.0),
    ("bytes_offline_total", 500.0),
    ("private_top1", 0.9),
    ("agreement", 0.95),
    ("max_abs_err", 1e-3),
];

/// BASE with one metric replaced (or removed, for `None`).
fn with(k: &str, v: Option<f64>) -> Vec<(&'static str, f64)> {
    let mut m: Vec<(&str, f64)> = BASE.iter().copied().filter(|(n, _)| *n != k).collect();
    if let Some(v) = v {
        let name = BASE.iter().find(|(n, _)| *n == k).expect("a BASE metric").0;
        m.push((name, v));
    }
    m
}

/// Compares one configuration with these metrics against BASE under default margins.
fn one(now: &[(&str, f64)]) -> Comparison {
    let base = [config("t", "2pc-ttp", "lan", "id1", &BASE)];
    compare(
        &[config("t", "2pc-ttp", "lan", "id1", now)],
        &base,
        &CompareFile::default(),
    )
}

/// Asserts exactly one regression whose message names `needle`, and that no flag accepts it.
fn assert_regression(c: &Comparison, needle: &str) {
    assert_eq!(c.regressions, 1, "{c:?}");
    match &c.lines[0].status {
        Status::Compared(p) => assert!(p.iter().any(|s| s.contains(needle)), "{p:?}"),
        s => panic!("expected a regression, got {s:?}"),
    }
    let all = Accept {
        missing: true,
        new: true,
        changed: true,
    };
    let why = c.verdict(all).expect("a regression is never accepted");
    assert!(why.contains("1 regression(s)"), "{why}");
}

#[test]
fn identical_figures_pass() {
    let c = one(&BASE);
    assert_eq!(c.lines.len(), 1);
    assert_eq!(c.lines[0].status, Status::Compared(vec![]));
    assert_eq!(
        (c.regressions, c.missing.len(), c.new_count(), c.changed_count()),
        (0, 0, 0, 0)
    );
    assert_eq!(c.verdict(Accept::default()), None);
    // Better figures pass too: fewer rounds and bytes, higher agreement, lower error.
    let better = [
        ("rounds", 9.0),
        ("bytes_sent_per_party", 900.0),
        ("bytes_online_total", 1800.0),
        ("bytes_offline_total", 0.0),
        ("private_top1", 0.95),
        ("agreement", 1.0),
        ("max_abs_err", 1e-4),
    ];
    assert_eq!(one(&better).verdict(Accept::default()), None);
}

#[test]
fn more_rounds_fail() {
    assert_regression(&one(&with("rounds", Some(11.0))), "rounds 10 -> 11");
}

#[test]
fn more_bytes_fail_online_and_offline() {
    for k in ["bytes_sent_per_party", "bytes_online_total", "bytes_offline_total"] {
        let b = BASE.iter().find(|(n, _)| *n == k).unwrap().1;
        assert_regression(&one(&with(k, Some(b + 8.0))), k);
    }
}

#[test]
fn lower_agreement_or_accuracy_fails() {
    assert_regression(&one(&with("agreement", Some(0.94))), "agreement 95.00% -> 94.00%");
    assert_regression(&one(&with("private_top1", Some(0.89))), "private_top1");
}

#[test]
fn larger_error_fails_beyond_its_margin_only() {
    // Default margin: 4x the baseline + 1e-4 = 4.1e-3.
    assert_eq!(one(&with("max_abs_err", Some(4.0e-3))).verdict(Accept::default()), None);
    assert_regression(&one(&with("max_abs_err", Some(4.2e-3))), "max_abs_err");
    // Not a number is never within a margin.
    assert_regression(&one(&with("max_abs_err", Some(f64::NAN))), "max_abs_err");
}

#[test]
fn a_figure_the_run_lost_fails() {
    assert_regression(&one(&with("agreement", None)), "agreement missing from this run");
}

#[test]
fn margins_of_the_experiment_apply() {
    let m = CompareFile {
        rounds_pct: 10.0,
        accuracy_drop_pts: 1.0,
        ..Default::default()
    };
    let base = [config("t", "2pc-ttp", "lan", "id1", &BASE)];
    let run = |now: &[(&str, f64)]| compare(&[config("t", "2pc-ttp", "lan", "id1", now)], &base, &m);
    assert_eq!(run(&with("rounds", Some(11.0))).regressions, 0);
    assert_eq!(run(&with("rounds", Some(11.5))).regressions, 1);
    assert_eq!(run(&with("agreement", Some(0.94))).regressions, 0);
    assert_eq!(run(&with("agreement", Some(0.93))).regressions, 1);
}

#[test]
fn a_configuration_missing_from_the_run_fails_unless_allowed() {
    let base = [
        config("t", "2pc-ttp", "lan", "id1", &BASE),
        config("t", "3pc-replicated", "lan", "id2", &BASE),
    ];
    let c = compare(&[base[0].clone()], &base, &CompareFile::default());
    assert_eq!(c.regressions, 0);
    assert_eq!(c.missing.len(), 1);
    assert!(c.missing[0].contains("3pc-replicated"), "{:?}", c.missing);
    let why = c.verdict(Accept::default()).expect("missing fails");
    assert!(
        why.contains("1 configuration(s) missing") && why.contains("--allow-missing"),
        "{why}"
    );
    // The other flags do not accept it; --allow-missing does.
    let others = Accept {
        missing: false,
        new: true,
        changed: true,
    };
    assert!(c.verdict(others).is_some());
    let allow = Accept {
        missing: true,
        ..Default::default()
    };
    assert_eq!(c.verdict(allow), None);
    // An empty run misses everything (a run that compared nothing cannot pass).
    let c = compare(&[], &base, &CompareFile::default());
    assert_eq!(c.missing.len(), 2);
    assert!(c.verdict(Accept::default()).is_some());
}

#[test]
fn a_new_configuration_fails_unless_accepted() {
    let base = [config("t", "2pc-ttp", "lan", "id1", &BASE)];
    let now = [base[0].clone(), config("u", "2pc-ttp", "lan", "id3", &BASE)];
    let c = compare(&now, &base, &CompareFile::default());
    assert_eq!(c.new_count(), 1);
    assert_eq!(c.lines[1].status, Status::New);
    let why = c.verdict(Accept::default()).expect("new fails");
    assert!(
        why.contains("1 configuration(s) new") && why.contains("--accept-new"),
        "{why}"
    );
    let accept = Accept {
        new: true,
        ..Default::default()
    };
    assert_eq!(c.verdict(accept), None);
    // A parameter value the baseline never had is new too (here: the party count).
    let mut more = base[0].clone();
    more.params[2].1 = "3".into();
    let c = compare(&[more], &base, &CompareFile::default());
    assert_eq!((c.new_count(), c.missing.len()), (1, 1));
}

#[test]
fn an_edited_task_fails_as_changed_not_as_new_and_missing() {
    // Same task name and parameters, another config_id (the task's definition or the seed changed).
    let base = [config("t", "2pc-ttp", "lan", "id1", &BASE)];
    let now = [config("t", "2pc-ttp", "lan", "id9", &with("rounds", Some(50.0)))];
    let c = compare(&now, &base, &CompareFile::default());
    assert_eq!(
        c.lines[0].status,
        Status::Changed {
            baseline_id: "id1".into()
        }
    );
    // Its figures are not compared (they measure something else now), and nothing is missing.
    assert_eq!(
        (c.regressions, c.missing.len(), c.new_count(), c.changed_count()),
        (0, 0, 0, 1)
    );
    let why = c.verdict(Accept::default()).expect("changed fails");
    assert!(
        why.contains("changed definition") && why.contains("--accept-changed"),
        "{why}"
    );
    let new_and_missing = Accept {
        missing: true,
        new: true,
        changed: false,
    };
    assert!(c.verdict(new_and_missing).is_some());
    let accept = Accept {
        changed: true,
        ..Default::default()
    };
    assert_eq!(c.verdict(accept), None);
}

#[test]
fn only_the_first_network_is_compared() {
    let base = [
        config("t", "2pc-ttp", "lan", "a", &BASE),
        config("t", "2pc-ttp", "wan", "b", &BASE),
    ];
    // The wan row regressed, but networks do not change the figures; lan is the one compared.
    let now = [
        config("t", "2pc-ttp", "lan", "a", &BASE),
        config("t", "2pc-ttp", "wan", "b", &with("rounds", Some(99.0))),
    ];
    let c = compare(&now, &base, &CompareFile::default());
    assert_eq!(c.lines.len(), 1);
    assert_eq!(c.verdict(Accept::default()), None);
}

const EXP: &str = "name: cmp
tasks:
  - name: relu
    kind: op
    op: relu
    shapes: [[100]]
  - name: mul
    kind: op
    op: mul
    shapes: [[100], [100]]
protocols: [2pc-ttp]
networks: [lan]
";

/// End to end: the CLI exits 1 on a missing, a new and an edited task, 0 with the flag that
/// accepts each, and 0 against its own baseline.
#[test]
fn the_cli_fails_on_missing_new_and_changed_configurations() {
    let dir = std::env::temp_dir().join(format!("testbed-compare-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let exp = write("exp.yaml", EXP);
    let base_dir = dir.join("base");
    let (code, _, err) = testbed(&["run", &exp, "--out", base_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let baseline = base_dir.join("summary.json");
    let baseline = baseline.to_str().unwrap();
    let mut n = 0;
    let mut cmp = |file: &str, flags: &[&str]| {
        n += 1;
        let out = dir.join(format!("run{n}"));
        let mut args = vec!["compare", file, "--baseline", baseline, "--out", out.to_str().unwrap()];
        args.extend_from_slice(flags);
        testbed(&args)
    };
    let (code, stdout, err) = cmp(&exp, &[]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("0 regression(s), 0 missing, 0 new, 0 changed"),
        "{stdout}"
    );

    let fewer = write(
        "fewer.yaml",
        &EXP.replace(
            "  - name: mul\n    kind: op\n    op: mul\n    shapes: [[100], [100]]\n",
            "",
        ),
    );
    let (code, stdout, err) = cmp(&fewer, &[]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(
        stdout.contains("MISSING from this run") && err.contains("missing from this run"),
        "{stdout}{err}"
    );
    assert_eq!(cmp(&fewer, &["--allow-missing"]).0, 0);

    let more = write(
        "more.yaml",
        &EXP.replace(
            "protocols:",
            "  - name: sig\n    kind: op\n    op: sigmoid\n    shapes: [[10]]\nprotocols:",
        ),
    );
    let (code, stdout, err) = cmp(&more, &[]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(
        stdout.contains("NEW (not in the baseline)") && err.contains("--accept-new"),
        "{stdout}{err}"
    );
    assert_eq!(cmp(&more, &["--accept-new"]).0, 0);

    // Editing a task in place (a larger shape) keeps its name and parameters: changed, not passed.
    let edited = write("edited.yaml", &EXP.replace("shapes: [[100]]", "shapes: [[200]]"));
    let (code, stdout, err) = cmp(&edited, &["--allow-missing", "--accept-new"]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(
        stdout.contains("CHANGED") && err.contains("1 configuration(s) with a changed definition"),
        "{stdout}{err}"
    );
    assert_eq!(cmp(&edited, &["--accept-changed"]).0, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
