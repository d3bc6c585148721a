//! Import tests: fixtures, attributes, folding, fusion, errors.

use super::*;
use crate::nn::graph::{DType, PadKind, ReduceKind};
use crate::nn::onnx::proto::{AttributeProto, TensorProto, ValueInfoProto, attribute_type as at, data_type as dt};
use crate::nn::onnx::proto::{Dimension, GraphProto, OperatorSetIdProto, TensorShapeProto, TypeProto, TypeProtoTensor};
use crate::nn::tensor::F32Tensor;
use std::collections::BTreeMap;

fn node(op: &str, ins: &[&str], outs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn str_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn f32_init(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dt::FLOAT,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn i64_init(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dt::INT64,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn value(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| {
            if d < 0 {
                Dimension {
                    dim_param: Some("n".into()),
                    ..Default::default()
                }
            } else {
                Dimension {
                    dim_value: Some(d),
                    ..Default::default()
                }
            }
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, input: &[i64], opset: i64) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: vec![value("x", dt::FLOAT, input)],
            output: vec![value("y", dt::FLOAT, &[])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn counts(g: &Graph) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for n in &g.nodes {
        *m.entry(n.op.onnx_name()).or_default() += 1;
    }
    m
}

fn fixture(name: &str) -> Graph {
    let path = format!("{}/tests/data/onnx/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
    load_onnx(Path::new(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn supported_covers_every_op_variant() {
    let c = Const::I64 {
        shape: vec![],
        data: vec![0],
    };
    let all = [
        Op::Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        },
        Op::MatMul,
        Op::Conv {
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            group: 1,
        },
        Op::BatchNormalization { epsilon: 0.0 },
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Pow,
        Op::Neg,
        Op::Sqrt,
        Op::Exp,
        Op::Log,
        Op::Reciprocal,
        Op::Relu,
        Op::Sigmoid,
        Op::Tanh,
        Op::Erf,
        Op::Gelu { tanh: false },
        Op::Softmax { axis: 0 },
        Op::LogSoftmax { axis: 0 },
        Op::LayerNormalization { axis: 0, epsilon: 0.0 },
        Op::ReduceMean {
            axes: vec![],
            keepdims: true,
        },
        Op::ReduceSum {
            axes: vec![],
            keepdims: true,
        },
        Op::MaxPool {
            kernel: vec![],
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            ceil_mode: false,
        },
        Op::AveragePool {
            kernel: vec![],
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            ceil_mode: false,
            count_include_pad: false,
        },
        Op::GlobalAveragePool,
        Op::Flatten { axis: 1 },
        Op::Reshape,
        Op::Transpose { perm: vec![] },
        Op::Concat { axis: 0 },
        Op::Unsqueeze { axes: vec![] },
        Op::Squeeze { axes: vec![] },
        Op::Slice,
        Op::Pad {
            mode: PadKind::Constant,
        },
        Op::Tile,
        Op::Gather { axis: 0 },
        Op::Identity,
        Op::Dropout,
        Op::Shape,
        Op::Cast { to: DType::F32 },
        Op::Constant(c.clone()),
        Op::Abs,
        Op::Sign,
        Op::LeakyRelu { alpha: 0.0 },
        Op::HardSigmoid { alpha: 0.0, beta: 0.0 },
        Op::Clip { min: None, max: None },
        Op::Max,
        Op::Min,
        Op::Sum,
        Op::Mean,
        Op::Equal,
        Op::Greater,
        Op::Less,
        Op::GreaterOrEqual,
        Op::LessOrEqual,
        Op::Where,
        Op::Expand,
        Op::ConstantOfShape(c),
        Op::GlobalMaxPool,
        Op::Size,
        Op::ArgMax {
            axis: 0,
            keepdims: true,
            select_last_index: false,
            min: false,
        },
        Op::ArgMax {
            axis: 0,
            keepdims: true,
            select_last_index: false,
            min: true,
        },
        Op::Split { axis: 0, parts: 2 },
    ];
    let reduces = [
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::SumSquare,
        ReduceKind::L1,
        ReduceKind::L2,
    ]
    .map(|kind| Op::Reduce {
        kind,
        axes: vec![],
        keepdims: true,
    });
    let all: Vec<Op> = all.into_iter().chain(reduces).collect();
    let names: Vec<&str> = all.iter().map(Op::onnx_name).collect();
    for n in &names {
        assert!(SUPPORTED.contains(n), "{n} missing from SUPPORTED");
    }
    assert_eq!(names.len(), SUPPORTED.len());
    assert!(SUPPORTED.windows(2).all(|w| w[0] < w[1]), "SUPPORTED must be sorted");
}

#[test]
fn fixtures_import_with_expected_op_counts() {
    let expect: [(&str, &[(&str, usize)]); 6] = [
        (
            "lenet_small",
            &[
                ("AveragePool", 1),
                ("Conv", 2),
                ("Flatten", 1),
                ("Gemm", 2),
                ("MaxPool", 1),
                ("Pad", 1),
                ("Relu", 3),
            ],
        ),
        (
            "cnn_bn",
            &[
                ("BatchNormalization", 1),
                ("Conv", 1),
                ("Flatten", 1),
                ("Gemm", 1),
                ("MaxPool", 1),
                ("Relu", 1),
            ],
        ),
        (
            "mlp_ln_gelu",
            &[("Gelu", 1), ("Gemm", 2), ("LayerNormalization", 1), ("LogSoftmax", 1)],
        ),
        (
            "attn_small",
            &[
                ("Add", 5),
                ("Gather", 3),
                ("Gelu", 1),
                ("Gemm", 2),
                ("LayerNormalization", 2),
                ("MatMul", 5),
                ("Mul", 1),
                ("ReduceMean", 1),
                ("Reshape", 9),
                ("Softmax", 1),
                ("Squeeze", 1),
                ("Transpose", 8),
                ("Unsqueeze", 1),
            ],
        ),
        ("conv1d_small", &[("Conv", 3), ("LogSoftmax", 1), ("Relu", 2)]),
        ("embed_cls", &[("Gather", 1), ("Gemm", 1), ("ReduceMean", 1)]),
    ];
    for (name, want) in expect {
        let g = fixture(name);
        let want: BTreeMap<&str, usize> = want.iter().copied().collect();
        assert_eq!(counts(&g), want, "{name}");
        assert_eq!(g.outputs, vec!["output".to_string()], "{name}");
        // Every node input is available and every initializer is used.
        let mut avail: HashSet<&String> = g.inputs.iter().map(|i| &i.name).chain(g.initializers.keys()).collect();
        for n in &g.nodes {
            assert!(
                n.inputs.iter().all(|i| i.is_empty() || avail.contains(i)),
                "{name}: {}",
                n.name
            );
            avail.extend(&n.outputs);
        }
        for k in g.initializers.keys() {
            assert!(
                g.nodes.iter().any(|n| n.inputs.contains(k)),
                "{name}: unused initializer {k}"
            );
        }
    }
}

#[test]
fn fixture_attributes() {
    let g = fixture("lenet_small");
    assert_eq!(
        g.nodes[0].op,
        Op::Conv {
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1
        }
    );
    let pad = g.nodes.iter().find(|n| matches!(n.op, Op::Pad { .. })).unwrap();
    assert_eq!(
        g.initializers[&pad.inputs[1]],
        Const::I64 {
            shape: vec![8],
            data: vec![0; 8]
        }
    );
    let g = fixture("conv1d_small");
    assert_eq!(
        g.nodes[0].op,
        Op::Conv {
            strides: vec![2],
            pads: vec![2, 2],
            dilations: vec![1],
            group: 1
        }
    );
    let g = fixture("attn_small");
    let unsq = g.nodes.iter().find(|n| matches!(n.op, Op::Unsqueeze { .. })).unwrap();
    assert_eq!((&unsq.op, unsq.inputs.len()), (&Op::Unsqueeze { axes: vec![0] }, 1));
    let sq = g.nodes.iter().find(|n| matches!(n.op, Op::Squeeze { .. })).unwrap();
    assert_eq!(sq.op, Op::Squeeze { axes: vec![3] });
    let gelu = g.nodes.iter().find(|n| matches!(n.op, Op::Gelu { .. })).unwrap();
    assert_eq!(
        (gelu.inputs[0].as_str(), gelu.outputs[0].as_str()),
        ("/enc/linear1/Add_output_0", "/enc/Mul_1_output_0")
    );
    let g = fixture("embed_cls");
    assert_eq!(
        g.inputs,
        vec![ValueInfo {
            name: "input".into(),
            dtype: DType::I64,
            shape: vec![Some(2), Some(6)]
        }]
    );
    assert_eq!(
        g.nodes[1].op,
        Op::ReduceMean {
            axes: vec![1],
            keepdims: false
        }
    );
}

#[test]
fn folds_shape_plumbing_of_a_static_input() {
    // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))  with x: [2, 3, 4]
    let nodes = vec![
        node("Shape", &["x"], &["s"], vec![]),
        node(
            "Constant",
            &[],
            &["zero"],
            vec![AttributeProto {
                name: "value_int".into(),
                r#type: at::INT,
                i: 0,
                ..Default::default()
            }],
        ),
        node("Gather", &["s", "zero"], &["b"], vec![]),
        node("Unsqueeze", &["b", "ax"], &["b1"], vec![]),
        node(
            "Concat",
            &["b1", "minus1"],
            &["shape"],
            vec![AttributeProto {
                name: "axis".into(),
                r#type: at::INT,
                i: 0,
                ..Default::default()
            }],
        ),
        node(
            "Cast",
            &["shape"],
            &["shape64"],
            vec![AttributeProto {
                name: "to".into(),
                r#type: at::INT,
                i: dt::INT64 as i64,
                ..Default::default()
            }],
        ),
        node("Reshape", &["x", "shape64"], &["y"], vec![]),
        node("Relu", &["x"], &["unused"], vec![]),
    ];
    let inits = vec![i64_init("ax", &[1], &[0]), i64_init("minus1", &[1], &[-1])];
    let g = parse_onnx(&model(nodes, inits, &[2, 3, 4], 17), "m.onnx").unwrap();
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].op, Op::Reshape);
    assert_eq!(g.initializers.len(), 1);
    assert_eq!(
        g.initializers["shape64"],
        Const::I64 {
            shape: vec![2],
            data: vec![2, -1]
        }
    );
    // A symbolic dimension keeps Shape as a node.
    let nodes = vec![
        node("Shape", &["x"], &["s"], vec![]),
        node("Reshape", &["x", "s"], &["y"], vec![]),
    ];
    let g = parse_onnx(&model(nodes, vec![], &[-1, 3], 17), "m.onnx").unwrap();
    assert_eq!(counts(&g), BTreeMap::from([("Reshape", 1), ("Shape", 1)]));
    assert_eq!(g.inputs[0].shape, vec![None, Some(3)]);
}

#[test]
fn gelu_fusion_orders() {
    let c = |n: &str, v: f32| f32_init(n, &[], &[v]);
    let consts = || {
        vec![
            c("sqrt2", std::f32::consts::SQRT_2),
            c("one", 1.0),
            c("half", 0.5),
            c("rsqrt2", std::f32::consts::FRAC_1_SQRT_2),
        ]
    };
    let head = |first: NodeProto| {
        vec![
            first,
            node("Erf", &["t1"], &["t2"], vec![]),
            node("Add", &["one", "t2"], &["t3"], vec![]),
        ]
    };
    let variants: Vec<Vec<NodeProto>> = vec![
        [
            head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
            vec![
                node("Mul", &["x", "t3"], &["t4"], vec![]),
                node("Mul", &["t4", "half"], &["y"], vec![]),
            ],
        ]
        .concat(),
        [
            head(node("Mul", &["rsqrt2", "x"], &["t1"], vec![])),
            vec![
                node("Mul", &["t3", "x"], &["t4"], vec![]),
                node("Mul", &["half", "t4"], &["y"], vec![]),
            ],
        ]
        .concat(),
        [
            head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
            vec![
                node("Mul", &["t3", "half"], &["t4"], vec![]),
                node("Mul", &["x", "t4"], &["y"], vec![]),
            ],
        ]
        .concat(),
        [
            vec![node("Mul", &["x", "half"], &["h"], vec![])],
            head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
            vec![node("Mul", &["h", "t3"], &["y"], vec![])],
        ]
        .concat(),
    ];
    for (i, nodes) in variants.into_iter().enumerate() {
        let g = parse_onnx(&model(nodes, consts(), &[2, 3], 17), "m.onnx").unwrap();
        assert_eq!(g.nodes.len(), 1, "variant {i}: {:?}", g.nodes);
        assert_eq!(
            (&g.nodes[0].op, &g.nodes[0].inputs, &g.nodes[0].outputs),
            (
                &Op::Gelu { tanh: false },
                &vec!["x".to_string()],
                &vec!["y".to_string()]
            )
        );
        assert!(g.initializers.is_empty());
    }
    // A wrong constant or an intermediate used elsewhere keeps the unfused form.
    let nodes = [
        head(node("Div", &["x", "sqrt2"], &["t1"], vec![])),
        vec![
            node("Mul", &["x", "t3"], &["t4"], vec![]),
            node("Mul", &["t4", "one"], &["t5"], vec![]),
            node("Add", &["t5", "t2"], &["y"], vec![]),
        ],
    ]
    .concat();
    let g = parse_onnx(&model(nodes, consts(), &[2, 3], 17), "m.onnx").unwrap();
    assert_eq!(
        counts(&g),
        BTreeMap::from([("Add", 2), ("Div", 1), ("Erf", 1), ("Mul", 2)])
    );
}

#[test]
fn conv_defaults_and_auto_pad() {
    let w = f32_init("w", &[4, 2, 3, 5], &[0.0; 120]);
    let g = parse_onnx(
        &model(
            vec![node(
                "Conv",
                &["x", "w"],
                &["y"],
                vec![str_attr("auto_pad", "SAME_UPPER"), ints_attr("dilations", &[2, 1])],
            )],
            vec![w.clone()],
            &[1, 2, 8, 8],
            13,
        ),
        "m",
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Conv {
            strides: vec![1, 1],
            pads: vec![2, 2, 2, 2],
            dilations: vec![2, 1],
            group: 1
        }
    );
    let g = parse_onnx(
        &model(
            vec![node(
                "MaxPool",
                &["x"],
                &["y"],
                vec![ints_attr("kernel_shape", &[2]), str_attr("auto_pad", "SAME_LOWER")],
            )],
            vec![],
            &[1, 2, 8],
            13,
        ),
        "m",
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::MaxPool {
            kernel: vec![2],
            strides: vec![1],
            pads: vec![1, 0],
            dilations: vec![1],
            ceil_mode: false
        }
    );
    // Strides: the padding follows the static input size (8 → 4 outputs: total 1 + 2·1 = 3).
    let g = parse_onnx(
        &model(
            vec![node(
                "Conv",
                &["x", "w"],
                &["y"],
                vec![str_attr("auto_pad", "SAME_UPPER"), ints_attr("strides", &[2, 2])],
            )],
            vec![w.clone()],
            &[1, 2, 8, 8],
            13,
        ),
        "m",
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Conv {
            strides: vec![2, 2],
            pads: vec![0, 1, 1, 2],
            dilations: vec![1, 1],
            group: 1
        }
    );
    let err = parse_onnx(
        &model(
            vec![node(
                "Conv",
                &["x", "w"],
                &["y"],
                vec![str_attr("auto_pad", "SAME_UPPER"), ints_attr("strides", &[2, 2])],
            )],
            vec![w.clone()],
            &[1, 2, -1, 8],
            13,
        ),
        "m",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("auto_pad SAME_UPPER with strides [2, 2] is not supported unless the input shape is static"),
        "{err}"
    );
    let err = parse_onnx(
        &model(
            vec![node("Conv", &["x", "w"], &["y"], vec![ints_attr("pads", &[1, 1, 1])])],
            vec![w],
            &[1, 2, 8, 8],
            13,
        ),
        "m",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node \"Conv_0\" (Conv): attribute pads has 3 values, expected 4"
    );
}

#[test]
fn errors_are_one_line() {
    let relu = || vec![node("Relu", &["x"], &["y"], vec![])];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            model(vec![node("Foo", &["x"], &["y"], vec![])], vec![], &[1], 17),
            "unsupported op Foo in node \"Foo_0\"; supported: Abs, Add, ArgMax, ArgMin, AveragePool, ",
        ),
        (
            model(
                vec![node("Gemm", &["x", "fc.weight"], &["y"], vec![])],
                vec![],
                &[1],
                17,
            ),
            "node \"Gemm_0\" (Gemm): missing initializer or input \"fc.weight\"",
        ),
        (
            model(relu(), vec![], &[1], 9),
            "m.onnx: onnx opset 9 is not supported; supported: 13 to 17",
        ),
        (model(relu(), vec![], &[1], 18), "opset 18 is not supported"),
        (
            model(vec![node("Relu", &["x"], &["z"], vec![])], vec![], &[1], 17),
            "graph output \"y\": is not produced",
        ),
        (
            model(
                vec![node("Softmax", &["x"], &["y"], vec![ints_attr("axis", &[1])])],
                vec![],
                &[1],
                17,
            ),
            "node \"Softmax_0\" (Softmax): attribute axis has type INTS, expected INT",
        ),
        (
            model(
                vec![node("Relu", &["x"], &["y"], vec![ints_attr("alpha", &[1])])],
                vec![],
                &[1],
                17,
            ),
            "node \"Relu_0\" (Relu): attribute alpha is not supported",
        ),
        (
            model(
                vec![node("Pad", &["x", "p"], &["y"], vec![str_attr("mode", "wrap")])],
                vec![i64_init("p", &[2], &[0, 0])],
                &[1],
                17,
            ),
            "attribute mode \"wrap\" is not supported",
        ),
        (
            model(vec![node("Unsqueeze", &["x", "x"], &["y"], vec![])], vec![], &[1], 17),
            "axes input \"x\" must be a constant",
        ),
        (
            model(relu(), vec![f32_init("w", &[2, 2], &[1.0; 3])], &[1], 17),
            "initializer \"w\": raw_data has 12 bytes, expected 16",
        ),
        (b"\x0a\xff\xff".to_vec(), "m.onnx: not a valid onnx model"),
    ];
    for (bytes, want) in cases {
        let msg = parse_onnx(&bytes, "m.onnx").unwrap_err().to_string();
        assert!(msg.contains(want), "got {msg:?}, want {want:?}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[test]
fn corrupted_fixtures_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["lenet_small", "attn_small", "embed_cls", "mlp_ln_gelu"] {
        let path = format!("{}/tests/data/onnx/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).unwrap();
        for _ in 0..500 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            if let Err(e) = parse_onnx(&b, name) {
                assert!(!e.to_string().contains('\n'));
            }
        }
    }
}

#[test]
fn constant_forms_and_raw_data_types() {
    let c = |name: &str, a: AttributeProto| node("Constant", &[], &[name], vec![a]);
    let t = TensorProto {
        dims: vec![3],
        data_type: dt::INT8,
        raw_data: vec![1, 0xff, 3],
        ..Default::default()
    };
    let b = TensorProto {
        dims: vec![2],
        data_type: dt::BOOL,
        raw_data: vec![1, 0],
        ..Default::default()
    };
    let nodes = vec![
        c(
            "a",
            AttributeProto {
                name: "value".into(),
                r#type: at::TENSOR,
                t: Some(t),
                ..Default::default()
            },
        ),
        c(
            "b",
            AttributeProto {
                name: "value".into(),
                r#type: at::TENSOR,
                t: Some(b),
                ..Default::default()
            },
        ),
        c(
            "f",
            AttributeProto {
                name: "value_floats".into(),
                r#type: at::FLOATS,
                floats: vec![1.5, 2.5],
                ..Default::default()
            },
        ),
        node(
            "Concat",
            &["a", "b"],
            &["ab"],
            vec![AttributeProto {
                name: "axis".into(),
                r#type: at::INT,
                i: 0,
                ..Default::default()
            }],
        ),
        node("Slice", &["ab", "st", "en"], &["s"], vec![]),
        node("Mul", &["s", "s"], &["s2"], vec![]),
        node("Reshape", &["x", "s2"], &["y"], vec![]),
    ];
    let inits = vec![i64_init("st", &[1], &[1]), i64_init("en", &[1], &[4])];
    let g = parse_onnx(&model(nodes, inits, &[1, 1], 17), "m").unwrap();
    assert_eq!(
        g.initializers["s2"],
        Const::I64 {
            shape: vec![3],
            data: vec![1, 9, 1]
        }
    );
    let d = TensorProto {
        dims: vec![2],
        data_type: dt::DOUBLE,
        raw_data: [0.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    assert_eq!(
        tensor_to_const(&d).unwrap(),
        Const::F32(F32Tensor::from_vec(&[2], vec![0.5, -2.0]).unwrap())
    );
    let i32t = TensorProto {
        dims: vec![2],
        data_type: dt::INT32,
        raw_data: [-3i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    assert_eq!(
        tensor_to_const(&i32t).unwrap(),
        Const::I64 {
            shape: vec![2],
            data: vec![-3, 7]
        }
    );
    let f16 = TensorProto {
        dims: vec![1],
        data_type: dt::FLOAT16,
        raw_data: vec![0, 0x3c],
        ..Default::default()
    };
    assert_eq!(
        tensor_to_const(&f16).unwrap_err(),
        "tensor data type FLOAT16 is not supported"
    );
}
