//! ONNX's own node tests (Debian's libonnx-testdata, fetched by `scripts/fetch-data.sh
//! onnx-testdata`) through import, the plaintext backend and private inference on 2pc-ttp and
//! 3pc-replicated; and the bad-input contract of `testbed infer`.

use std::path::{Path, PathBuf};
use std::process::Command;
use testbed::nn::graph::{Const, DType, Graph, Node, Op, ValueInfo};
use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
use testbed::nn::onnx::conformance::{Options, Status, read_tensor, run_all, totals};
use testbed::nn::tensor::F32Tensor;
use testbed::protocol::ProtocolConfig;

fn cases_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/onnx-testdata/node");
    assert!(
        dir.is_dir(),
        "{} is missing: fetch it with `scripts/fetch-data.sh onnx-testdata` (CI does, via scripts/setup.sh)",
        dir.display()
    );
    dir
}

/// Measured on this branch; the test fails if support shrinks.
const MIN_PASS: usize = 333;
const MIN_SUPPORTED: usize = 355;
const MAX_VARIANTS: usize = 14;
const MAX_PLAIN_ONLY: usize = 8;

#[test]
fn every_supported_node_case_passes_in_plaintext_and_privately() {
    let protocols: Vec<ProtocolConfig> = ["2pc-ttp", "3pc-replicated"]
        .iter()
        .map(|n| ProtocolConfig::load(n).unwrap())
        .collect();
    let results = run_all(
        &cases_dir(),
        &Options {
            protocols: &protocols,
            seed: 7,
        },
    )
    .unwrap();
    let t = totals(&results);
    let failing: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail(_)))
        .map(|r| format!("{}: {}", r.name, r.status.detail()))
        .collect();
    assert!(failing.is_empty(), "failing cases:\n{}", failing.join("\n"));
    eprintln!("node cases: {t:?}");
    assert!(t.pass >= MIN_PASS, "only {} cases pass (measured {MIN_PASS})", t.pass);
    assert!(t.supported() >= MIN_SUPPORTED, "only {} supported", t.supported());
    assert!(t.variant <= MAX_VARIANTS, "{} unsupported variants", t.variant);
    assert!(t.pass_plain <= MAX_PLAIN_ONLY, "{} plaintext-only passes", t.pass_plain);
    assert!(results.len() >= 900, "{} cases", results.len());
    let status = |name: &str| &results.iter().find(|r| r.name == name).unwrap().status;
    // A few fixed points of the classification.
    assert_eq!(status("test_add_bcast"), &Status::Pass);
    assert_eq!(status("test_conv_with_autopad_same"), &Status::Pass);
    assert_eq!(status("test_maxpool_2d_dilations"), &Status::Pass);
    assert_eq!(status("test_layer_normalization_4d_axis1"), &Status::Pass);
    assert!(matches!(status("test_edge_pad"), Status::Variant(d) if d.contains("mode \"edge\"")));
    assert!(matches!(status("test_log"), Status::PassPlainOutsideDomain(d) if d.contains("[0.1, 250]")));
    assert!(matches!(status("test_unsqueeze_axis_3"), Status::Skipped(d) if d.starts_with("opset 11")));
    assert!(matches!(status("test_acos"), Status::Skipped(d) if d == "unsupported op Acos"));
    // Cases really ran privately (not only public folding) and within their tolerance.
    let private_passes = results
        .iter()
        .filter(|r| r.status == Status::Pass && r.private_inputs)
        .count();
    assert!(private_passes >= 250, "{private_passes} passes with private inputs");
    for r in results.iter().filter(|r| r.status == Status::Pass) {
        assert!(r.plain_margin.unwrap() <= 1.0, "{}", r.name);
        if r.private_inputs {
            assert!(r.private_margin.unwrap() <= 1.0, "{}", r.name);
        }
    }
}

#[test]
fn tensor_files_are_read_and_corrupt_ones_are_one_line_errors() {
    let dir = cases_dir().join("test_add_bcast/test_data_set_0");
    let (_, a) = read_tensor(&dir.join("input_0.pb")).unwrap();
    let (_, b) = read_tensor(&dir.join("input_1.pb")).unwrap();
    assert_eq!((a.shape(), b.shape()), (&[3, 4, 5][..], &[5][..]));
    let bad = std::env::temp_dir().join(format!("testbed-bad-{}.pb", std::process::id()));
    std::fs::write(&bad, [0x0a, 0xff, 0xff, 0x01]).unwrap();
    let msg = read_tensor(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("not a serialized TensorProto") && !msg.contains('\n'),
        "{msg}"
    );
    let _ = std::fs::remove_file(bad);
}

/// BatchNormalization that is not folded (no convolution before it), with the model's statistics
/// secret-shared by its owner: s = γ/√(var + ε) is computed on shares.
#[test]
fn batch_norm_layer_with_private_statistics() {
    let c = |shape: &[usize], v: Vec<f32>| Const::F32(F32Tensor::from_vec(shape, v).unwrap());
    let mut g = Graph {
        inputs: vec![ValueInfo {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![Some(2), Some(3), Some(2)],
        }],
        outputs: vec!["y".into()],
        nodes: vec![Node {
            name: "bn".into(),
            op: Op::BatchNormalization { epsilon: 1e-5 },
            inputs: ["x", "g", "b", "m", "v"].map(String::from).to_vec(),
            outputs: vec!["y".into()],
        }],
        ..Default::default()
    };
    g.initializers.insert("g".into(), c(&[3], vec![1.5, -0.5, 2.0]));
    g.initializers.insert("b".into(), c(&[3], vec![0.1, 0.2, -0.3]));
    g.initializers.insert("m".into(), c(&[3], vec![0.5, -1.0, 0.0]));
    g.initializers.insert("v".into(), c(&[3], vec![0.5, 2.0, 4.0]));
    let x = Input::F32(F32Tensor::from_vec(&[2, 3, 2], (0..12).map(|i| i as f32 / 4.0 - 1.0).collect()).unwrap());
    let want = run_plain(&g, &x).unwrap();
    for name in ["2pc-ttp", "3pc-replicated"] {
        let cfg = ProtocolConfig::load(name).unwrap();
        for weights in [WeightPrivacy::Private, WeightPrivacy::Public] {
            let out = crate::common::run(
                &cfg,
                5,
                &InferJob {
                    graph: &g,
                    inputs: std::slice::from_ref(&x),
                    weights,
                    reps: 1,
                },
            );
            let err = out.parties[0].output.outputs[0].max_abs_diff(&want);
            // inv_sqrt is within 1% on [0.1, 100]; |x − mean|·γ ≤ 6 here.
            assert!(err <= 0.06, "{name} ({weights:?}): {err}");
        }
    }
}

fn testbed(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the testbed binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn infer_bad_models_and_inputs_are_one_line_errors_with_exit_2() {
    let tmp = std::env::temp_dir().join(format!("testbed-onnx-node-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let unsupported = write("foo.onnx", &crate::onnx::tiny_model("Foo", &["x"], vec![], 17));
    let missing = write(
        "gemm.onnx",
        &crate::onnx::tiny_model("Gemm", &["x", "fc.weight"], vec![], 17),
    );
    let relu = write("relu.onnx", &crate::onnx::tiny_model("Relu", &["x"], vec![], 17));
    let corrupt = write("corrupt.onnx", b"\x0a\xff\xff\xff");
    // x.npy: a [3, 2] float32 array, while the model expects [2, 3].
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let header = format!("{header}{}\n", " ".repeat(pad));
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    for v in 0..6 {
        npy.extend_from_slice(&(v as f32).to_le_bytes());
    }
    let x = write("x.npy", &npy);
    let y = tmp.join("y.npy").to_str().unwrap().to_string();
    let cases = [
        (&unsupported, "unsupported op Foo in node \"n1\"; supported: Abs, Add,"),
        (
            &missing,
            "node \"n1\" (Gemm): missing initializer or input \"fc.weight\"",
        ),
        (&relu, "input: \"x\" has shape [3, 2], the model expects [2, 3]"),
        (&corrupt, "not a valid onnx model"),
    ];
    for (model, want) in cases {
        let (code, err) = testbed(
            &[
                "infer",
                "--model",
                model,
                "--input",
                &x,
                "--output",
                &y,
                "--protocol",
                "2pc-ttp",
            ],
            &[],
        );
        assert_eq!(code, 2, "{model}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{model}: {err}");
    }
    let (code, err) = testbed(&["onnx-conformance"], &[("TESTBED_DATA", "/nonexistent")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("scripts/fetch-data.sh onnx-testdata"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// One-node graph `op(x, extra...)` on a private x of `shape` (extra inputs are initializers).
fn one_node(op: Op, shape: &[usize], extra: &[(&str, Const)]) -> Graph {
    let mut g = Graph {
        inputs: vec![ValueInfo {
            name: "x".into(),
            dtype: DType::F32,
            shape: shape.iter().map(|&d| Some(d)).collect(),
        }],
        outputs: vec!["y".into()],
        nodes: vec![Node {
            name: "n".into(),
            op,
            inputs: std::iter::once("x")
                .chain(extra.iter().map(|e| e.0))
                .map(String::from)
                .collect(),
            outputs: vec!["y".into()],
        }],
        ..Default::default()
    };
    for (name, c) in extra {
        g.initializers.insert(name.to_string(), c.clone());
    }
    g
}

/// The private ops built on one ReLU (Max, Min and Clip with one bound: b + relu(a − b) and the
/// like; LeakyRelu: αx + (1 − α)·relu(x)) cost exactly one ReLU of the output size: the linear
/// parts and public-constant products add no round and no byte.
#[test]
fn relu_based_ops_cost_one_relu() {
    let shape = [4, 25];
    let x = Input::F32(F32Tensor::from_vec(&shape, (0..100).map(|i| i as f32 / 10.0 - 5.0).collect()).unwrap());
    let other = Const::F32(F32Tensor::full(&[25], 0.5));
    let cases = [
        ("Max", one_node(Op::Max, &shape, &[("b", other.clone())])),
        ("Min", one_node(Op::Min, &shape, &[("b", other)])),
        ("LeakyRelu", one_node(Op::LeakyRelu { alpha: 0.1 }, &shape, &[])),
        (
            "Clip",
            one_node(
                Op::Clip {
                    min: Some(-1.0),
                    max: None,
                },
                &shape,
                &[],
            ),
        ),
    ];
    let relu = one_node(Op::Relu, &shape, &[]);
    for name in ["2pc-ttp", "3pc-replicated"] {
        let cfg = ProtocolConfig::load(name).unwrap();
        let cost = |g: &Graph| {
            let out = crate::common::run(
                &cfg,
                3,
                &InferJob {
                    graph: g,
                    inputs: std::slice::from_ref(&x),
                    weights: WeightPrivacy::Public,
                    reps: 1,
                },
            );
            let m = &out.parties[0].output.meter;
            let got = out.parties[0].output.outputs[0].clone();
            (m.rounds_online, m.bytes_online.iter().sum::<u64>(), got)
        };
        let (r, b, _) = cost(&relu);
        assert!(r > 0 && b > 0);
        for (op, g) in &cases {
            let (rounds, bytes, got) = cost(g);
            assert_eq!((rounds, bytes), (r, b), "{op} on {name}");
            let want = run_plain(g, &x).unwrap();
            assert!(got.max_abs_diff(&want) <= 1e-3, "{op} on {name}");
        }
    }
}
