//! ONNX import: the PyTorch-exported fixtures in tests/data/onnx parse into the expected graphs,
//! and bad files give one-line errors.

use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use testbed::nn::graph::{Const, DType, Graph, Op, ValueInfo};
use testbed::nn::onnx::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type, data_type,
};
use testbed::nn::onnx::{decode_model, default_opset, load_onnx, parse_onnx, supported_ops};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/onnx")
        .join(format!("{name}.onnx"))
}

fn fixture(name: &str) -> Graph {
    load_onnx(&fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn op_counts(g: &Graph) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for n in &g.nodes {
        *m.entry(n.op.onnx_name()).or_default() += 1;
    }
    m
}

fn input(name: &str, dtype: DType, shape: &[usize]) -> Vec<ValueInfo> {
    vec![ValueInfo {
        name: name.into(),
        dtype,
        shape: shape.iter().map(|&d| Some(d)).collect(),
    }]
}

#[test]
fn fixtures_are_opset_17() {
    for name in [
        "lenet_small",
        "cnn_bn",
        "mlp_ln_gelu",
        "attn_small",
        "conv1d_small",
        "embed_cls",
    ] {
        let bytes = std::fs::read(fixture_path(name)).unwrap();
        let model = decode_model(&bytes, name).unwrap();
        assert_eq!(default_opset(&model, name).unwrap(), 17, "{name}");
    }
}

#[test]
fn lenet_small() {
    let g = fixture("lenet_small");
    let want = [
        ("AveragePool", 1),
        ("Conv", 2),
        ("Flatten", 1),
        ("Gemm", 2),
        ("MaxPool", 1),
        ("Pad", 1),
        ("Relu", 3),
    ];
    assert_eq!(op_counts(&g), BTreeMap::from(want));
    assert_eq!(g.inputs, input("input", DType::F32, &[3, 1, 28, 28]));
    assert_eq!(g.outputs, vec!["output"]);
    // The Pad's pads came from a Constant node and are now an initializer input.
    let pad = g.nodes.iter().find(|n| matches!(n.op, Op::Pad { .. })).unwrap();
    assert_eq!(
        g.initializers[&pad.inputs[1]],
        Const::I64 {
            shape: vec![8],
            data: vec![0; 8]
        }
    );
    let pools: Vec<&Op> = g
        .nodes
        .iter()
        .map(|n| &n.op)
        .filter(|op| op.onnx_name().ends_with("Pool"))
        .collect();
    assert_eq!(
        pools,
        [
            &Op::MaxPool {
                kernel: vec![2, 2],
                strides: vec![2, 2],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                ceil_mode: false
            },
            &Op::AveragePool {
                kernel: vec![2, 2],
                strides: vec![2, 2],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                ceil_mode: false,
                count_include_pad: false
            },
        ]
    );
    let gemm = g.nodes.iter().find(|n| matches!(n.op, Op::Gemm { .. })).unwrap();
    assert_eq!(
        gemm.op,
        Op::Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true
        }
    );
    assert_eq!(g.initializers[&gemm.inputs[1]].shape(), &[32, 256]);
    assert_eq!(g.initializers.len(), 9);
}

#[test]
fn cnn_bn() {
    let g = fixture("cnn_bn");
    let want = [
        ("BatchNormalization", 1),
        ("Conv", 1),
        ("Flatten", 1),
        ("Gemm", 1),
        ("MaxPool", 1),
        ("Relu", 1),
    ];
    assert_eq!(op_counts(&g), BTreeMap::from(want));
    assert_eq!(g.inputs, input("input", DType::F32, &[2, 3, 16, 16]));
    assert_eq!(
        g.nodes[0].op,
        Op::Conv {
            strides: vec![2, 2],
            pads: vec![1; 4],
            dilations: vec![1, 1],
            group: 1
        }
    );
    assert_eq!(g.nodes[1].op, Op::BatchNormalization { epsilon: 1e-5 });
    assert_eq!(g.nodes[1].inputs.len(), 5);
}

#[test]
fn mlp_ln_gelu() {
    let g = fixture("mlp_ln_gelu");
    let want = [("Gelu", 1), ("Gemm", 2), ("LayerNormalization", 1), ("LogSoftmax", 1)];
    assert_eq!(op_counts(&g), BTreeMap::from(want));
    assert_eq!(g.inputs, input("input", DType::F32, &[5, 16]));
    let ops: Vec<&Op> = g.nodes.iter().map(|n| &n.op).collect();
    assert_eq!(
        ops[1],
        &Op::LayerNormalization {
            axis: -1,
            epsilon: 1e-5
        }
    );
    assert_eq!(ops[2], &Op::Gelu { tanh: false });
    assert_eq!(ops[4], &Op::LogSoftmax { axis: 1 });
    // The GELU reads the LayerNorm output and feeds the second Gemm.
    assert_eq!(g.nodes[2].inputs, g.nodes[1].outputs);
    assert_eq!(g.nodes[3].inputs[0], g.nodes[2].outputs[0]);
    // Its three scalar constants are gone.
    assert_eq!(g.initializers.len(), 6);
}

#[test]
fn attn_small() {
    let g = fixture("attn_small");
    let want = [
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
    ];
    assert_eq!(op_counts(&g), BTreeMap::from(want));
    assert_eq!(g.inputs, input("input", DType::F32, &[2, 4, 16]));
    let find = |name: &str| {
        g.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    // Axes inputs are folded into the attributes; shape inputs are constants.
    assert_eq!(find("/enc/self_attn/Unsqueeze").op, Op::Unsqueeze { axes: vec![0] });
    assert_eq!(find("/enc/self_attn/Unsqueeze").inputs.len(), 1);
    assert_eq!(find("/enc/self_attn/Squeeze").op, Op::Squeeze { axes: vec![3] });
    assert_eq!(
        find("/enc/self_attn/Transpose_1").op,
        Op::Transpose {
            perm: vec![3, 1, 2, 0, 4]
        }
    );
    let gather = find("/enc/self_attn/Gather_2");
    assert_eq!(gather.op, Op::Gather { axis: 0 });
    assert_eq!(
        g.initializers[&gather.inputs[1]],
        Const::I64 {
            shape: vec![],
            data: vec![2]
        }
    );
    let reshape = find("/enc/self_attn/Reshape");
    assert_eq!(
        g.initializers[&reshape.inputs[1]],
        Const::I64 {
            shape: vec![4],
            data: vec![4, 2, 3, 16]
        }
    );
    assert_eq!(find("/enc/self_attn/Softmax").op, Op::Softmax { axis: -1 });
    assert_eq!(
        find("/ReduceMean").op,
        Op::ReduceMean {
            axes: vec![1],
            keepdims: false
        }
    );
    assert_eq!(find("/enc/Erf").op, Op::Gelu { tanh: false });
}

#[test]
fn conv1d_small() {
    let g = fixture("conv1d_small");
    assert_eq!(
        op_counts(&g),
        BTreeMap::from([("Conv", 3), ("LogSoftmax", 1), ("Relu", 2)])
    );
    assert_eq!(g.inputs, input("input", DType::F32, &[1, 8, 20]));
    let convs: Vec<&Op> = g
        .nodes
        .iter()
        .map(|n| &n.op)
        .filter(|op| matches!(op, Op::Conv { .. }))
        .collect();
    assert_eq!(
        convs[0],
        &Op::Conv {
            strides: vec![2],
            pads: vec![2, 2],
            dilations: vec![1],
            group: 1
        }
    );
    assert_eq!(
        convs[1],
        &Op::Conv {
            strides: vec![1],
            pads: vec![1, 1],
            dilations: vec![1],
            group: 1
        }
    );
    assert_eq!(
        convs[2],
        &Op::Conv {
            strides: vec![1],
            pads: vec![0, 0],
            dilations: vec![1],
            group: 1
        }
    );
}

#[test]
fn embed_cls() {
    let g = fixture("embed_cls");
    assert_eq!(
        op_counts(&g),
        BTreeMap::from([("Gather", 1), ("Gemm", 1), ("ReduceMean", 1)])
    );
    assert_eq!(g.inputs, input("input", DType::I64, &[2, 6]));
    assert_eq!(g.nodes[0].op, Op::Gather { axis: 0 });
    assert_eq!(g.nodes[0].inputs, vec!["emb.weight", "input"]);
    assert_eq!(g.initializers["emb.weight"].shape(), &[50, 8]);
}

#[test]
fn fixtures_match_pytorch_in_plaintext() {
    use testbed::nn::infer::{Input, run_plain};
    use testbed::nn::io::{NpyArray, read_npy};
    for name in [
        "lenet_small",
        "cnn_bn",
        "mlp_ln_gelu",
        "attn_small",
        "conv1d_small",
        "embed_cls",
    ] {
        let g = fixture(name);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx");
        let input = match read_npy(dir.join(format!("{name}.input.npy"))).unwrap() {
            NpyArray::F32(t) => Input::F32(t),
            NpyArray::I64 { shape, data } => Input::Ids { shape, data },
        };
        let NpyArray::F32(want) = read_npy(dir.join(format!("{name}.expected.npy"))).unwrap() else {
            panic!("{name}: expected floats")
        };
        let got = run_plain(&g, &input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.shape(), want.shape(), "{name}");
        let err = got
            .data()
            .iter()
            .zip(want.data())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "{name}: max abs error {err}");
    }
}

// ----- bad input -----

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            dim_value: Some(d),
            ..Default::default()
        })
        .collect();
    let tensor_type = TypeProtoTensor {
        elem_type: data_type::FLOAT,
        shape: Some(TensorShapeProto { dim }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(tensor_type),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn tiny_model(op_type: &str, inputs: &[&str], initializer: Vec<TensorProto>, opset: i64) -> Vec<u8> {
    let node = NodeProto {
        name: "n1".into(),
        op_type: op_type.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec!["y".into()],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            node: vec![node],
            initializer,
            input: vec![value("x", &[2, 3])],
            output: vec![value("y", &[2, 3])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn error_of(bytes: &[u8]) -> String {
    let msg = parse_onnx(bytes, "bad.onnx").expect_err("must fail").to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    msg
}

#[test]
fn tiny_model_round_trips() {
    let g = parse_onnx(&tiny_model("Relu", &["x"], vec![], 13), "tiny.onnx").unwrap();
    assert_eq!(g.nodes.len(), 1);
    assert_eq!((g.nodes[0].name.as_str(), &g.nodes[0].op), ("n1", &Op::Relu));
}

#[test]
fn truncated_file() {
    let bytes = std::fs::read(fixture_path("lenet_small")).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 7, 3] {
        let msg = error_of(&bytes[..cut]);
        assert!(msg.starts_with("bad.onnx: "), "{msg}");
        assert!(
            msg.contains("not a valid onnx model") || msg.contains("no graph"),
            "{msg}"
        );
    }
}

#[test]
fn random_bytes() {
    // xorshift, so the bytes are fixed
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20 {
        let bytes: Vec<u8> = (0..257)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        let msg = error_of(&bytes);
        assert!(msg.starts_with("bad.onnx: "), "{msg}");
    }
    assert_eq!(error_of(b""), "bad.onnx: onnx model has no graph");
}

#[test]
fn unsupported_op() {
    let msg = error_of(&tiny_model("Foo", &["x"], vec![], 17));
    assert!(
        msg.starts_with(
            "unsupported op Foo in node \"n1\"; supported: Abs, Add, ArgMax, ArgMin, AveragePool, BatchNormalization,"
        ),
        "{msg}"
    );
    assert!(msg.ends_with(&supported_ops().join(", ")), "{msg}");
    assert!(msg.contains("Gelu") && msg.contains("Unsqueeze"));
}

#[test]
fn missing_initializer() {
    let msg = error_of(&tiny_model("Gemm", &["x", "fc.weight"], vec![], 17));
    assert_eq!(msg, "node \"n1\" (Gemm): missing initializer or input \"fc.weight\"");
    // With the weight present the same model imports.
    let w = TensorProto {
        name: "fc.weight".into(),
        dims: vec![3, 3],
        data_type: data_type::FLOAT,
        float_data: vec![0.0; 9],
        ..Default::default()
    };
    parse_onnx(&tiny_model("Gemm", &["x", "fc.weight"], vec![w], 17), "ok.onnx").unwrap();
}

#[test]
fn opset_9() {
    let msg = error_of(&tiny_model("Relu", &["x"], vec![], 9));
    assert!(
        msg.starts_with("bad.onnx: onnx opset 9 is not supported; supported: 13 to 17"),
        "{msg}"
    );
}

#[test]
fn non_default_domain() {
    let mut model = ModelProto::decode(&tiny_model("Gelu", &["x"], vec![], 17)[..]).unwrap();
    model.graph.as_mut().unwrap().node[0].domain = "com.microsoft".into();
    let msg = error_of(&model.encode_to_vec());
    assert!(
        msg.starts_with("unsupported op com.microsoft.Gelu in node \"n1\"; supported: "),
        "{msg}"
    );
}

#[test]
fn wrong_attribute_type() {
    let mut model = ModelProto::decode(&tiny_model("Softmax", &["x"], vec![], 17)[..]).unwrap();
    let attr = AttributeProto {
        name: "axis".into(),
        r#type: attribute_type::FLOAT,
        f: 1.0,
        ..Default::default()
    };
    model.graph.as_mut().unwrap().node[0].attribute.push(attr);
    assert_eq!(
        error_of(&model.encode_to_vec()),
        "node \"n1\" (Softmax): attribute axis has type FLOAT, expected INT"
    );
}

#[test]
fn missing_file() {
    let msg = load_onnx(Path::new("/nonexistent/model.onnx")).unwrap_err().to_string();
    assert!(msg.starts_with("/nonexistent/model.onnx: "), "{msg}");
}
