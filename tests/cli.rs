//! The command line as a user meets it: JSON fields, counts, and one-line errors with exit code 2.

use crate::common::testbed;

fn last_json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("valid JSON")
}

#[test]
fn bench_op_json_has_the_contract_fields_and_exact_counts() {
    let (code, out, err) = testbed(&[
        "bench",
        "op",
        "--protocol",
        "2pc-ttp",
        "--op",
        "mul",
        "--shape",
        "1000",
        "--shape",
        "1000",
        "--reps",
        "3",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = last_json(&out);
    for field in [
        "op",
        "protocol",
        "transport",
        "parties",
        "wall_s",
        "rounds",
        "rounds_between_parties",
        "rounds_per_party",
        "bytes_sent_per_party",
        "bytes_online_total",
        "bytes_offline_total",
        "max_abs_err",
        "max_rel_err",
    ] {
        assert!(j.get(field).is_some(), "missing {field}: {j}");
    }
    assert_eq!(j["op"], "mul");
    assert_eq!(j["protocol"], "2pc-ttp");
    assert_eq!(j["transport"], "sim");
    // The opening between the parties, and the dealer's round trip for the triple on the path.
    assert_eq!(j["rounds"], 2);
    assert_eq!(j["rounds_between_parties"], 1);
    assert_eq!(j["rounds_per_party"], serde_json::json!([1, 1]));
    assert_eq!(j["bytes_sent_per_party"], serde_json::json!([16000, 16000]));
    assert_eq!(j["bytes_offline_total"], 8000);
    assert!(j["max_abs_err"].as_f64().unwrap() < 1e-4);
}

#[test]
fn bench_warmup_reps_are_run_but_not_measured() {
    // The same op with 0 and 2 warm-up repetitions, in the simulator and over TCP: the measured
    // repetitions and the per-op counts (dealer traffic divided over every repetition run) agree.
    for transport in ["sim", "tcp"] {
        let run = |warmup: &str| {
            let (code, out, err) = testbed(&[
                "bench",
                "op",
                "--protocol",
                "2pc-ttp",
                "--op",
                "mul",
                "--shape",
                "1000",
                "--shape",
                "1000",
                "--reps",
                "3",
                "--warmup",
                warmup,
                "--transport",
                transport,
                "--no-tls",
                "--seed",
                "1",
                "--json",
            ]);
            assert_eq!(code, 0, "{err}");
            last_json(&out)
        };
        let (cold, warm) = (run("0"), run("2"));
        assert_eq!(cold["warmup"], 0);
        assert_eq!(warm["warmup"], 2);
        assert_eq!(warm["wall_s_reps"].as_array().unwrap().len(), 3, "{transport}");
        for field in [
            "rounds",
            "bytes_sent_per_party",
            "bytes_offline_total",
            "offline_rounds",
        ] {
            assert_eq!(cold[field], warm[field], "{transport} {field}");
        }
        assert_eq!(warm["bytes_offline_total"], 8000);
    }
}

#[test]
fn bench_op_matmul_and_conv_report_their_formulas() {
    let (code, out, err) = testbed(&[
        "bench",
        "op",
        "--protocol",
        "2pc-ttp",
        "--op",
        "matmul",
        "--shape",
        "16x24",
        "--shape",
        "24x8",
        "--reps",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = last_json(&out);
    assert_eq!(
        j["bytes_sent_per_party"],
        serde_json::json!([8 * (16 * 24 + 24 * 8), 8 * (16 * 24 + 24 * 8)])
    );
    assert_eq!(j["bytes_offline_total"], 8 * 16 * 8);
    let (code, out, err) = testbed(&[
        "bench",
        "op",
        "--protocol",
        "2pc-ttp",
        "--op",
        "conv2d",
        "--shape",
        "1x3x10x10",
        "--shape",
        "4x3x3x3",
        "--padding",
        "1",
        "--reps",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = last_json(&out);
    assert_eq!(j["bytes_sent_per_party"][0], 8 * (300 + 108));
    assert_eq!(j["bytes_offline_total"], 8 * 400);
    assert!(j["max_abs_err"].as_f64().unwrap() < 1e-3);
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let cases: &[&[&str]] = &[
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "mul",
            "--shape",
            "10",
            "--shape",
            "11",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "frobnicate",
            "--shape",
            "10",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "no-such-protocol",
            "--op",
            "mul",
            "--shape",
            "10",
            "--shape",
            "10",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "tests/data/malformed.yaml",
            "--op",
            "mul",
            "--shape",
            "10",
            "--shape",
            "10",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "tests/data/unknown-field.yaml",
            "--op",
            "mul",
            "--shape",
            "10",
            "--shape",
            "10",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "matmul",
            "--shape",
            "3x4",
            "--shape",
            "5x6",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "mul",
            "--shape",
            "3xz",
            "--shape",
            "3",
        ],
        &["bench", "op", "--protocol", "2pc-ttp", "--op", "mul", "--shape", "3"],
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "mul",
            "--shape",
            "3",
            "--shape",
            "3",
            "--transport",
            "carrier-pigeon",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "mul",
            "--shape",
            "3",
            "--shape",
            "3",
            "--parties",
            "3",
        ],
        &[
            "bench",
            "op",
            "--protocol",
            "2pc-ttp",
            "--op",
            "conv2d",
            "--shape",
            "1x3x4x4",
            "--shape",
            "2x5x3x3",
        ],
    ];
    for args in cases {
        let (code, out, err) = testbed(args);
        assert_eq!(code, 2, "{args:?}: stdout {out} stderr {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn infer_writes_its_output_and_bad_models_are_one_line_errors() {
    let out = std::env::temp_dir().join(format!("testbed-cli-{}.npy", std::process::id()));
    let out_s = out.to_str().unwrap();
    let (code, stdout, err) = testbed(&[
        "infer",
        "--model",
        "tests/data/onnx/cnn_bn.onnx",
        "--input",
        "tests/data/onnx/cnn_bn.input.npy",
        "--output",
        out_s,
        "--protocol",
        "2pc-ttp",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(last_json(&stdout)["model"], "cnn_bn");
    assert!(out.exists());
    let corrupt = std::env::temp_dir().join(format!("testbed-corrupt-{}.onnx", std::process::id()));
    std::fs::write(&corrupt, b"not an onnx model at all").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        // A corrupt model file.
        vec![
            "infer",
            "--model",
            corrupt.to_str().unwrap(),
            "--input",
            "tests/data/onnx/cnn_bn.input.npy",
            "--output",
            out_s,
            "--protocol",
            "2pc-ttp",
        ],
        // An input whose shape does not fit the model.
        vec![
            "infer",
            "--model",
            "tests/data/onnx/cnn_bn.onnx",
            "--input",
            "tests/data/onnx/lenet_small.input.npy",
            "--output",
            out_s,
            "--protocol",
            "2pc-ttp",
        ],
        // A missing input file.
        vec![
            "infer",
            "--model",
            "tests/data/onnx/cnn_bn.onnx",
            "--input",
            "no/such.npy",
            "--output",
            out_s,
            "--protocol",
            "2pc-ttp",
        ],
        // An unknown zoo model.
        vec![
            "bench",
            "model",
            "--model",
            "alexnet",
            "--input-shape",
            "1x3x32x32",
            "--protocol",
            "2pc-ttp",
        ],
    ];
    for args in cases {
        let (code, _, err) = testbed(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&corrupt);
}
