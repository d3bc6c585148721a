//! ONNX's own node tests (Debian's libonnx-testdata, fetched by `scripts/fetch-data.sh
//! onnx-testdata`) through import, the plaintext backend and private inference on 2pc-ttp and
//! 3pc-replicated; the declared cost of every private op; and the bad-input contract of `testbed
//! infer`.

use std::path::{Path, PathBuf};
use testbed::net::MeterReport;
use testbed::nn::graph::{Const, DType, Graph, Node, Op, PadKind, ReduceKind, ValueInfo};
use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain, run_plain_all};
use testbed::nn::onnx::conformance::{Options, Status, read_tensor, run_all, totals};
use testbed::nn::private::cost::{Call, Operand, calls, run_calls};
use testbed::nn::tensor::F32Tensor;
use testbed::protocol::{Cost, Job, Protocol, ProtocolConfig};

fn cases_dir() -> PathBuf {
    // `$TESTBED_DATA` when set, as for every data set; else the repository's data/ folder.
    let root = std::env::var_os("TESTBED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data"));
    let dir = root.join("onnx-testdata/node");
    assert!(
        dir.is_dir(),
        "{} is missing: fetch it with `scripts/fetch-data.sh onnx-testdata` (CI does, via scripts/setup.sh)",
        dir.display()
    );
    dir
}

/// Measured on this branch; the test fails if support shrinks.
const MIN_PASS: usize = 376;
const MIN_SUPPORTED: usize = 396;
const MAX_VARIANTS: usize = 12;
const MAX_PLAIN_ONLY: usize = 8;

#[test]
fn every_supported_node_case_passes_in_plaintext_and_privately() {
    let protocols: Vec<ProtocolConfig> = ["2pc-ttp", "3pc-replicated", "2pc-fss"]
        .iter()
        .map(|n| ProtocolConfig::load(n).unwrap())
        .collect();
    let results = run_all(
        &cases_dir(),
        &Options {
            protocols: &protocols,
            insecure_share_seed: Some(7),
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
    assert_eq!(
        status("test_argmin_negative_axis_keepdims_random_select_last_index"),
        &Status::Pass
    );
    assert_eq!(status("test_split_variable_parts_2d"), &Status::Pass);
    // Added after the op-family redesign (issue 15): Tile and edge/reflect Pad, plaintext and private.
    for case in [
        "test_edge_pad",
        "test_reflect_pad",
        "test_tile",
        "test_tile_precomputed",
    ] {
        assert_eq!(status(case), &Status::Pass, "{case}");
    }
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
            relu_after: false,
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
            let out = crate::common::run(&cfg, 5, &InferJob::local(&g, std::slice::from_ref(&x), weights, 1));
            let err = crate::common::revealed(&out)[0].max_abs_diff(&want);
            // inv_sqrt is within 1% on [0.1, 100]; |x − mean|·γ ≤ 6 here.
            assert!(err <= 0.06, "{name} ({weights:?}): {err}");
        }
    }
}

/// Exit code and stderr of the `testbed` binary.
fn testbed(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let (code, _, err) = crate::common::testbed_env(args, env);
    (code, err)
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

/// Runs the declared calls of an op alone (on zero shares) and returns the meter reading.
struct Calls(Vec<Call>);

impl Job for Calls {
    type Output = MeterReport;
    fn run<P: Protocol>(&self, p: &mut P) -> testbed::Result<MeterReport> {
        p.barrier()?;
        let before = p.meter();
        run_calls(p, &self.0)?;
        Ok(p.meter().since(&before))
    }
}

/// Each party's cost: the run's critical path (the same for every party), the party's online
/// bytes, and the dealer's offline bytes.
fn per_party(meters: &[&MeterReport], dealer: Option<&MeterReport>) -> Vec<Cost> {
    let offline = dealer.map_or(0, |d| d.offline());
    let path = testbed::net::critical_path(meters.iter().copied());
    meters
        .iter()
        .map(|m| Cost {
            rounds: path.critical,
            party_rounds: path.between_parties,
            bytes_per_party: m.online(),
            offline_bytes: offline,
        })
        .collect()
}

/// The declared calls of every node of `g` (inputs private, initializers public unless the model
/// is private and they have more than one element, node outputs private).
fn declared(g: &Graph, x: &[Input], weights: WeightPrivacy) -> Vec<Call> {
    let mut probe = g.clone();
    probe.outputs = g
        .nodes
        .iter()
        .flat_map(|n| n.outputs.clone())
        .filter(|o| !o.is_empty())
        .collect();
    let shapes: std::collections::HashMap<String, Vec<usize>> = probe
        .outputs
        .iter()
        .cloned()
        .zip(run_plain_all(&probe, x).unwrap().iter().map(|t| t.shape().to_vec()))
        .chain(g.inputs.iter().zip(x).map(|(i, v)| match v {
            Input::F32(t) => (i.name.clone(), t.shape().to_vec()),
            Input::Ids { shape, .. } => (i.name.clone(), shape.clone()),
        }))
        .collect();
    let mut out = Vec::new();
    for node in &g.nodes {
        let ins: Vec<Operand> = node
            .inputs
            .iter()
            .map(|name| match g.initializers.get(name) {
                Some(c) => {
                    let shared = weights == WeightPrivacy::Private && matches!(c, Const::F32(t) if t.data().len() > 1);
                    Operand {
                        shape: c.shape().to_vec(),
                        public: (!shared).then(|| c.clone()),
                    }
                }
                None => Operand {
                    shape: shapes[name].clone(),
                    public: None,
                },
            })
            .collect();
        let c = calls(&node.op, &ins).unwrap();
        out.extend(c.unwrap_or_else(|| panic!("{}: no declared cost", node.name)));
    }
    out
}

fn graph(inputs: &[(&str, &[usize])], nodes: Vec<Node>, outputs: &[&str], extra: &[(&str, Const)]) -> Graph {
    let mut g = Graph {
        inputs: inputs
            .iter()
            .map(|(n, s)| ValueInfo {
                name: n.to_string(),
                dtype: DType::F32,
                shape: s.iter().map(|&d| Some(d)).collect(),
            })
            .collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        nodes,
        ..Default::default()
    };
    for (name, c) in extra {
        g.initializers.insert(name.to_string(), c.clone());
    }
    g
}

fn node(op: Op, inputs: &[&str], outputs: &[&str]) -> Node {
    Node {
        name: op.onnx_name().to_lowercase(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        relu_after: false,
    }
}

fn f32c(shape: &[usize], v: impl IntoIterator<Item = f32>) -> Const {
    Const::F32(F32Tensor::from_vec(shape, v.into_iter().collect()).unwrap())
}

fn i64c(v: &[i64]) -> Const {
    Const::I64 {
        shape: vec![v.len()],
        data: v.to_vec(),
    }
}

/// Test data with ties, zeros and both signs: ((7i mod 11) − 4)/2.
fn tie_data(shape: &[usize]) -> Input {
    let n = shape.iter().product::<usize>();
    Input::F32(F32Tensor::from_vec(shape, (0..n).map(|i| ((i * 7 % 11) as f32 - 4.0) / 2.0).collect()).unwrap())
}

/// Every private op whose cost `nn::private_ops::calls` declares, run privately on 2pc-ttp,
/// 3pc-replicated and npc-additive (3 parties): each party's online rounds and bytes and the
/// dealer's offline bytes equal those of the declared calls made alone, and the outputs match
/// plaintext within the functions' tolerances.
#[test]
fn private_op_costs_equal_their_declared_calls() {
    let s = [4usize, 25];
    let row = |v: Vec<f32>| f32c(&[25], v);
    let b = row((0..25).map(|j| ((j * 7 % 11) as f32 - 4.0) / 2.0).collect());
    let y = row((0..25).map(|j| j as f32 / 8.0 - 1.0).collect());
    let cond = Const::I64 {
        shape: vec![25],
        data: (0..25).map(|j| (j % 3 == 0) as i64).collect(),
    };
    let x1 = |op: Op| graph(&[("x", &s)], vec![node(op, &["x"], &["y"])], &["y"], &[]);
    let x2 = |op: Op, c: &Const| {
        graph(
            &[("x", &s)],
            vec![node(op, &["x", "b"], &["y"])],
            &["y"],
            &[("b", c.clone())],
        )
    };
    let reduce = |kind, axes: Vec<i64>| {
        x1(Op::Reduce {
            kind,
            axes,
            keepdims: true,
        })
    };
    let arg = |min, keepdims, last| {
        x1(Op::ArgMax {
            axis: 1,
            keepdims,
            select_last_index: last,
            min,
        })
    };
    let clip = |min, max| x1(Op::Clip { min, max });
    let (lin, smooth) = (1e-3f32, 1e-2f32);
    // (label, graph, input shape, tolerance relative to 1 + max |output|)
    let mut cases: Vec<(&str, Graph, Vec<usize>, f32)> = vec![
        ("Abs", x1(Op::Abs), s.to_vec(), lin),
        ("Sign", x1(Op::Sign), s.to_vec(), 0.0),
        ("LeakyRelu", x1(Op::LeakyRelu { alpha: 0.1 }), s.to_vec(), lin),
        (
            "HardSigmoid",
            x1(Op::HardSigmoid { alpha: 0.2, beta: 0.5 }),
            s.to_vec(),
            lin,
        ),
        ("Clip both", clip(Some(-1.0), Some(1.5)), s.to_vec(), lin),
        ("Clip min", clip(Some(-1.0), None), s.to_vec(), lin),
        ("Clip max", clip(None, Some(0.5)), s.to_vec(), lin),
        ("Clip min > max", clip(Some(2.0), Some(1.0)), s.to_vec(), lin),
        ("Max", x2(Op::Max, &b), s.to_vec(), lin),
        ("Min", x2(Op::Min, &b), s.to_vec(), lin),
        ("Sum", x2(Op::Sum, &b), s.to_vec(), lin),
        ("Mean", x2(Op::Mean, &b), s.to_vec(), lin),
        (
            "Max of three",
            graph(
                &[("x", &s)],
                vec![node(Op::Max, &["x", "b", "c"], &["y"])],
                &["y"],
                &[("b", b.clone()), ("c", y.clone())],
            ),
            s.to_vec(),
            lin,
        ),
        ("Equal", x2(Op::Equal, &b), s.to_vec(), 0.0),
        ("Less", x2(Op::Less, &b), s.to_vec(), 0.0),
        ("Greater", x2(Op::Greater, &b), s.to_vec(), 0.0),
        ("LessOrEqual", x2(Op::LessOrEqual, &b), s.to_vec(), 0.0),
        ("GreaterOrEqual", x2(Op::GreaterOrEqual, &b), s.to_vec(), 0.0),
        (
            "Where, public condition",
            graph(
                &[("x", &s)],
                vec![node(Op::Where, &["c", "x", "y0"], &["y"])],
                &["y"],
                &[("c", cond), ("y0", y.clone())],
            ),
            s.to_vec(),
            0.0,
        ),
        (
            "Where, private condition",
            graph(
                &[("x", &s)],
                vec![
                    node(Op::Less, &["x", "b"], &["c"]),
                    node(Op::Where, &["c", "x", "y0"], &["y"]),
                ],
                &["y"],
                &[("b", b.clone()), ("y0", y.clone())],
            ),
            s.to_vec(),
            lin,
        ),
        ("ReduceMax", reduce(ReduceKind::Max, vec![1]), s.to_vec(), 0.0),
        ("ReduceMin", reduce(ReduceKind::Min, vec![0]), s.to_vec(), 0.0),
        (
            "ReduceSumSquare",
            reduce(ReduceKind::SumSquare, vec![1]),
            s.to_vec(),
            lin,
        ),
        ("ReduceL1", reduce(ReduceKind::L1, vec![]), s.to_vec(), lin),
        ("ReduceL2", reduce(ReduceKind::L2, vec![0]), s.to_vec(), 0.05),
        ("Expand", x2(Op::Expand, &i64c(&[2, 4, 25])), s.to_vec(), 0.0),
        ("GlobalMaxPool", x1(Op::GlobalMaxPool), vec![2, 3, 4, 5], 0.0),
        ("ArgMax", arg(false, false, false), s.to_vec(), 0.0),
        ("ArgMax, last index", arg(false, true, true), s.to_vec(), 0.0),
        ("ArgMin", arg(true, true, false), s.to_vec(), 0.0),
        ("ArgMin, last index", arg(true, false, true), s.to_vec(), 0.0),
        (
            "Split",
            graph(
                &[("x", &s)],
                vec![node(Op::Split { axis: 1, parts: 3 }, &["x", "b"], &["y0", "y1", "y2"])],
                &["y0", "y1", "y2"],
                &[("b", i64c(&[10, 0, 15]))],
            ),
            s.to_vec(),
            0.0,
        ),
        (
            "Pad with 1.5",
            graph(
                &[("x", &s)],
                vec![node(
                    Op::Pad {
                        mode: PadKind::Constant,
                    },
                    &["x", "p", "v"],
                    &["y"],
                )],
                &["y"],
                &[("p", i64c(&[1, 0, 0, 2])), ("v", f32c(&[], [1.5]))],
            ),
            s.to_vec(),
            0.0,
        ),
        (
            "Pad, edge",
            x2(Op::Pad { mode: PadKind::Edge }, &i64c(&[2, 1, 3, 0])),
            s.to_vec(),
            0.0,
        ),
        (
            "Pad, reflect",
            x2(Op::Pad { mode: PadKind::Reflect }, &i64c(&[1, 3, 0, 2])),
            s.to_vec(),
            0.0,
        ),
        ("Tile", x2(Op::Tile, &i64c(&[2, 3])), s.to_vec(), 0.0),
        ("Pow 2", x2(Op::Pow, &f32c(&[], [2.0])), s.to_vec(), lin),
        (
            "Pow by tensor",
            x2(Op::Pow, &row((0..25).map(|j| [1.0, 2.0, 3.0][j % 3]).collect())),
            s.to_vec(),
            0.05,
        ),
        (
            "MaxPool, dilated",
            x1(Op::MaxPool {
                kernel: vec![2, 2],
                strides: vec![1, 1],
                pads: vec![0, 0, 0, 0],
                dilations: vec![2, 2],
                ceil_mode: false,
            }),
            vec![1, 2, 5, 5],
            0.0,
        ),
        (
            "AveragePool, 3-D",
            x1(Op::AveragePool {
                kernel: vec![2, 2, 2],
                strides: vec![1, 2, 1],
                pads: vec![0, 1, 0, 1, 0, 1],
                dilations: vec![1, 1, 1],
                ceil_mode: false,
                count_include_pad: false,
            }),
            vec![1, 2, 3, 4, 4],
            lin,
        ),
        ("Relu", x1(Op::Relu), s.to_vec(), 0.0),
        ("Sigmoid", x1(Op::Sigmoid), s.to_vec(), smooth),
        ("Tanh", x1(Op::Tanh), s.to_vec(), smooth),
        ("Gelu", x1(Op::Gelu { tanh: false }), s.to_vec(), smooth),
        ("Exp", x1(Op::Exp), s.to_vec(), 0.2),
        ("Softmax", x1(Op::Softmax { axis: 1 }), s.to_vec(), 2e-2),
        ("LogSoftmax", x1(Op::LogSoftmax { axis: 0 }), s.to_vec(), 2e-2),
        ("Mul, public", x2(Op::Mul, &b), s.to_vec(), lin),
        (
            "Mul, private",
            graph(&[("x", &s)], vec![node(Op::Mul, &["x", "x"], &["y"])], &["y"], &[]),
            s.to_vec(),
            lin,
        ),
        (
            "Div, public",
            x2(Op::Div, &row((0..25).map(|j| j as f32 + 1.0).collect())),
            s.to_vec(),
            lin,
        ),
        (
            "ReduceMean",
            x1(Op::ReduceMean {
                axes: vec![1],
                keepdims: false,
            }),
            s.to_vec(),
            lin,
        ),
        ("GlobalAveragePool", x1(Op::GlobalAveragePool), vec![2, 3, 4, 5], lin),
    ];
    // Normalisations, with a public and with a private model.
    let bn = graph(
        &[("x", &[2, 3, 2])],
        vec![node(
            Op::BatchNormalization { epsilon: 1e-5 },
            &["x", "g", "b", "m", "v"],
            &["y"],
        )],
        &["y"],
        &[
            ("g", f32c(&[3], [1.5, -0.5, 2.0])),
            ("b", f32c(&[3], [0.1, 0.2, -0.3])),
            ("m", f32c(&[3], [0.5, -1.0, 0.0])),
            ("v", f32c(&[3], [0.5, 2.0, 4.0])),
        ],
    );
    let ln = graph(
        &[("x", &s)],
        vec![node(
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-5,
            },
            &["x", "g", "b"],
            &["y"],
        )],
        &["y"],
        &[("g", y.clone()), ("b", b.clone())],
    );
    cases.push(("BatchNormalization", bn, vec![2, 3, 2], 0.06));
    cases.push(("LayerNormalization", ln, s.to_vec(), 2e-2));
    let protocols: Vec<ProtocolConfig> = vec![
        ProtocolConfig::load("2pc-ttp").unwrap(),
        ProtocolConfig::load("3pc-replicated").unwrap(),
        ProtocolConfig::load("npc-additive").unwrap().with_parties(3).unwrap(),
        ProtocolConfig::load("2pc-fss").unwrap(),
    ];
    for (label, g, shape, tol) in &mut cases {
        g.inputs[0].shape = shape.iter().map(|&d| Some(d)).collect();
        let (g, x) = (&*g, [tie_data(shape)]);
        let want = run_plain_all(g, &x).unwrap();
        let weight_modes: &[WeightPrivacy] = if matches!(*label, "BatchNormalization" | "LayerNormalization" | "Max") {
            &[WeightPrivacy::Public, WeightPrivacy::Private]
        } else {
            &[WeightPrivacy::Public]
        };
        for &weights in weight_modes {
            let calls = declared(g, &x, weights);
            for cfg in &protocols {
                let what = format!("{label} ({weights:?}) on {}", cfg.name);
                let out = crate::common::run(cfg, 3, &InferJob::local(g, &x, weights, 1));
                let reference = crate::common::run(cfg, 4, &Calls(calls.clone()));
                let got = per_party(
                    &out.parties.iter().map(|p| &p.output.total.meter).collect::<Vec<_>>(),
                    out.dealer.as_ref(),
                );
                let expected = per_party(
                    &reference.parties.iter().map(|p| &p.output).collect::<Vec<_>>(),
                    reference.dealer.as_ref(),
                );
                assert_eq!(got, expected, "{what}: cost, declared {calls:?}");
                for (k, w) in want.iter().enumerate() {
                    let err = crate::common::revealed(&out)[k].max_abs_diff(w);
                    let bound = *tol * (1.0 + w.data().iter().fold(0f32, |m, v| m.max(v.abs())));
                    assert!(err <= bound, "{what}: output {k} off by {err} (bound {bound})");
                }
            }
        }
    }
}

/// The tournament of `reduce::max_values` (ReduceMax/Min, GlobalMaxPool, N-d MaxPool) costs one
/// ReLU per level on the pairs of that level (an odd candidate out is carried to the next level
/// for free), and `reduce::argmax` (ArgMax/ArgMin) takes as
/// many rounds: 8 per level between the parties on 2pc-ttp, 16 with the dealer's answers.
#[test]
fn max_tournament_costs_one_relu_per_level() {
    let meter = |cfg: &ProtocolConfig, calls: Vec<Call>| {
        let out = crate::common::run(cfg, 4, &Calls(calls));
        per_party(
            &out.parties.iter().map(|p| &p.output).collect::<Vec<_>>(),
            out.dealer.as_ref(),
        )
    };
    for name in ["2pc-ttp", "3pc-replicated"] {
        let cfg = ProtocolConfig::load(name).unwrap();
        for (rows, k) in [(3usize, 5usize), (4, 25), (2, 1), (1, 64)] {
            let mut relus = Vec::new();
            let mut c = k;
            while c > 1 {
                relus.push(Call::Relu(rows * (c / 2)));
                c = c / 2 + c % 2;
            }
            let levels = relus.len() as u64;
            let max = meter(&cfg, vec![Call::MaxValues { rows, k }]);
            assert_eq!(max, meter(&cfg, relus), "{name}: max_values over {rows}×{k}");
            if name == "2pc-ttp" {
                let arg = meter(&cfg, vec![Call::Argmax { rows, k }]);
                let per_level = |c: &Cost| c.party_rounds == 8 * levels && c.rounds == 16 * levels;
                assert!(max.iter().chain(&arg).all(per_level), "{rows}×{k}");
            }
        }
    }
}

/// Conv 3×3 (2 → 3 channels, pad 1) → Relu → MaxPool 3×3/2 pad 1, ResNet's stem in miniature, on
/// `[1, 2, 8, 8]`; `extra` adds nodes reading the ReLU output.
fn conv_relu_pool(extra: Vec<Node>, outputs: &[&str]) -> Graph {
    let pool = Op::MaxPool {
        kernel: vec![3, 3],
        strides: vec![2, 2],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        ceil_mode: false,
    };
    let conv = Op::Conv {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    };
    let mut nodes = vec![
        node(conv, &["x", "w", "b"], &["c"]),
        node(Op::Relu, &["c"], &["r"]),
        node(pool, &["r"], &["y"]),
    ];
    nodes.extend(extra);
    graph(
        &[("x", &[1, 2, 8, 8])],
        nodes,
        outputs,
        &[
            (
                "w",
                f32c(&[3, 2, 3, 3], (0..54).map(|i| ((i * 5 % 13) as f32 - 6.0) / 8.0)),
            ),
            ("b", f32c(&[3], [0.25, -1.0, 0.5])),
        ],
    )
}

/// `passes::pool_before_relu` turns Relu → MaxPool into MaxPool → Relu with exactly the same
/// plaintext output, and leaves the pair alone when something else reads the ReLU output (a node,
/// or the graph's outputs) or the pool has an Indices output.
#[test]
fn relu_moves_after_max_pool_with_the_same_output() {
    use testbed::nn::passes::pool_before_relu;
    let x = [tie_data(&[1, 2, 8, 8])];
    let g = conv_relu_pool(vec![], &["y"]);
    let mut h = g.clone();
    assert_eq!(pool_before_relu(&mut h).unwrap(), 1);
    let ops: Vec<&str> = h.nodes.iter().map(|n| n.op.onnx_name()).collect();
    assert_eq!(ops, ["Conv", "MaxPool", "Relu"]);
    assert_eq!(h.nodes[2].outputs, ["y"]);
    let (want, got) = (run_plain_all(&g, &x).unwrap(), run_plain_all(&h, &x).unwrap());
    assert_eq!(got[0].shape(), &[1, 3, 4, 4]);
    assert_eq!(
        got[0].data(),
        want[0].data(),
        "relu(maxpool(x)) == maxpool(relu(x)) exactly"
    );
    // Both signs reach the pool, so the test can tell a missing or misplaced ReLU.
    let c = run_plain_all(&conv_relu_pool(vec![], &["c"]), &x).unwrap();
    assert!(c[0].data().iter().any(|&v| v < 0.0) && c[0].data().iter().any(|&v| v > 0.0));

    let second_reader = conv_relu_pool(vec![node(Op::Neg, &["r"], &["n"])], &["y", "n"]);
    let as_output = conv_relu_pool(vec![], &["y", "r"]);
    let mut with_indices = conv_relu_pool(vec![], &["y"]);
    with_indices.nodes[2].outputs.push("i".into());
    for (what, g) in [
        ("second reader", second_reader),
        ("graph output", as_output),
        ("indices", with_indices),
    ] {
        let mut h = g.clone();
        assert_eq!(pool_before_relu(&mut h).unwrap(), 0, "{what}");
        assert_eq!(h, g, "{what}");
    }
}

/// Moving the ReLU after ResNet-style max pooling saves exactly the ReLUs on the eliminated
/// elements: on 2pc-ttp, rounds unchanged, and each party's online bytes and the dealer's offline
/// bytes smaller by those of relu(3·8²) minus relu(3·4²) made alone; the output still matches
/// plaintext.
#[test]
fn relu_after_max_pool_saves_the_pooled_away_relus() {
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let x = [tie_data(&[1, 2, 8, 8])];
    let g = conv_relu_pool(vec![], &["y"]);
    let mut h = g.clone();
    assert_eq!(testbed::nn::passes::pool_before_relu(&mut h).unwrap(), 1);
    let want = run_plain(&g, &x[0]).unwrap();
    let private = |g: &Graph| {
        let out = crate::common::run(&cfg, 3, &InferJob::local(g, &x, WeightPrivacy::Public, 1));
        let err = crate::common::revealed(&out)[0].max_abs_diff(&want);
        assert!(err <= 1e-3, "private output off by {err}");
        per_party(
            &out.parties.iter().map(|p| &p.output.total.meter).collect::<Vec<_>>(),
            out.dealer.as_ref(),
        )
    };
    let relu = |n: usize| {
        let out = crate::common::run(&cfg, 4, &Calls(vec![Call::Relu(n)]));
        per_party(
            &out.parties.iter().map(|p| &p.output).collect::<Vec<_>>(),
            out.dealer.as_ref(),
        )
    };
    let (before, after) = (private(&g), private(&h));
    let (big, small) = (relu(3 * 64), relu(3 * 16));
    for k in 0..before.len() {
        let saved = big[k].bytes_per_party - small[k].bytes_per_party;
        assert!(saved > 0);
        assert_eq!(after[k].rounds, before[k].rounds, "party {k}: rounds");
        assert_eq!(
            after[k].bytes_per_party,
            before[k].bytes_per_party - saved,
            "party {k}: bytes"
        );
        assert_eq!(
            after[k].offline_bytes,
            before[k].offline_bytes - (big[k].offline_bytes - small[k].offline_bytes),
            "party {k}: offline bytes"
        );
    }
}
