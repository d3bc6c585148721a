//! Private inference against the plaintext backend: zoo models on every protocol.

use crate::common::{all_protocols, random_reals, run};
use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
use testbed::nn::passes::fold_batch_norm;
use testbed::nn::tensor::F32Tensor;
use testbed::nn::zoo;
use testbed::protocol::ProtocolConfig;

fn input(shape: &[usize], lo: f64, hi: f64) -> Input {
    let n = shape.iter().product();
    Input::F32(F32Tensor::from_vec(shape, random_reals(n, lo, hi, 4).iter().map(|&v| v as f32).collect()).unwrap())
}

fn check(cfg: &ProtocolConfig, model: &str, shape: &[usize], x: &Input, weights: WeightPrivacy, tol: f32) {
    let mut g = zoo::build(model, shape, 1).unwrap();
    fold_batch_norm(&mut g).unwrap();
    let want = run_plain(&g, x).unwrap();
    let out = run(
        cfg,
        3,
        &InferJob {
            graph: &g,
            inputs: std::slice::from_ref(x),
            weights,
            reps: 1,
        },
    );
    let got = &out.parties[0].output.outputs[0];
    assert_eq!(got.shape(), want.shape(), "{model} on {}", cfg.name);
    let err = got.max_abs_diff(&want);
    assert!(
        err <= tol,
        "{model} on {} ({weights:?} weights): max abs error {err} > {tol}",
        cfg.name
    );
}

#[test]
fn zoo_models_match_plaintext_on_every_protocol() {
    for cfg in all_protocols() {
        check(
            &cfg,
            "lenet",
            &[2, 1, 28, 28],
            &input(&[2, 1, 28, 28], 0.0, 1.0),
            WeightPrivacy::Private,
            0.02,
        );
        check(
            &cfg,
            "mlp",
            &[3, 20],
            &input(&[3, 20], -1.0, 1.0),
            WeightPrivacy::Public,
            0.01,
        );
    }
}

#[test]
fn small_resnet_transformer_textcls_and_wav2letter_match_plaintext() {
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    check(
        &cfg,
        "resnet18",
        &[1, 3, 32, 32],
        &input(&[1, 3, 32, 32], -1.0, 1.0),
        WeightPrivacy::Private,
        0.05,
    );
    check(
        &cfg,
        "transformer",
        &[2, 5, 16],
        &input(&[2, 5, 16], -1.0, 1.0),
        WeightPrivacy::Private,
        0.05,
    );
    check(
        &cfg,
        "wav2letter",
        &[1, 40, 20],
        &input(&[1, 40, 20], -1.0, 1.0),
        WeightPrivacy::Public,
        0.05,
    );
    let ids = Input::Ids {
        shape: vec![2, 6],
        data: vec![1, 5, 9, 999, 0, 3, 7, 7, 7, 2, 100, 500],
    };
    check(&cfg, "textcls", &[2, 6], &ids, WeightPrivacy::Private, 0.02);
}

#[test]
fn pytorch_exports_run_privately_within_tolerance_of_pytorch() {
    use testbed::nn::io::{NpyArray, read_npy};
    for name in [
        "lenet_small",
        "cnn_bn",
        "attn_small",
        "mlp_ln_gelu",
        "conv1d_small",
        "embed_cls",
    ] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx");
        let mut g = testbed::nn::onnx::load_onnx(&dir.join(format!("{name}.onnx"))).unwrap();
        fold_batch_norm(&mut g).unwrap();
        let x = match read_npy(dir.join(format!("{name}.input.npy"))).unwrap() {
            NpyArray::F32(t) => Input::F32(t),
            NpyArray::I64 { shape, data } => Input::Ids { shape, data },
        };
        let NpyArray::F32(want) = read_npy(dir.join(format!("{name}.expected.npy"))).unwrap() else {
            panic!("f32 expected")
        };
        let plain = run_plain(&g, &x).unwrap();
        assert!(
            plain.max_abs_diff(&want) < 1e-4,
            "{name}: plaintext backend differs from PyTorch"
        );
        for protocol in ["2pc-ttp", "3pc-replicated"] {
            let cfg = ProtocolConfig::load(protocol).unwrap();
            for weights in [WeightPrivacy::Private, WeightPrivacy::Public] {
                let out = run(
                    &cfg,
                    2,
                    &InferJob {
                        graph: &g,
                        inputs: std::slice::from_ref(&x),
                        weights,
                        reps: 1,
                    },
                );
                let err = out.parties[0].output.outputs[0].max_abs_diff(&want);
                assert!(err <= 0.05, "{name} on {protocol} ({weights:?}): max abs error {err}");
            }
        }
    }
}

#[test]
fn weights_round_trip_through_safetensors_by_torchvision_names() {
    let dir = std::env::temp_dir().join(format!("testbed-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lenet.safetensors");
    let a = zoo::build("lenet", &[1, 1, 28, 28], 7).unwrap();
    testbed::nn::weights::save_weights(&a, &path).unwrap();
    // A model with other random weights becomes the first one once the file is loaded.
    let mut b = zoo::build("lenet", &[1, 1, 28, 28], 8).unwrap();
    assert!(b.initializers.contains_key("conv1.weight") && b.initializers.contains_key("fc2.bias"));
    let x = input(&[1, 1, 28, 28], 0.0, 1.0);
    assert!(run_plain(&a, &x).unwrap().max_abs_diff(&run_plain(&b, &x).unwrap()) > 0.0);
    let n = testbed::nn::weights::load_weights(&mut b, &path, true).unwrap();
    assert_eq!(n, 8);
    assert_eq!(run_plain(&a, &x).unwrap(), run_plain(&b, &x).unwrap());
    // A file whose tensor has the wrong shape, or names no parameter, is refused.
    let mut c = zoo::build("mlp", &[1, 784], 1).unwrap();
    let err = testbed::nn::weights::load_weights(&mut c, &path, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lenet.safetensors"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Weights with batch-norm statistics (a torchvision ResNet's) load before batch norm is folded:
/// the prepared model computes what the unfolded model with those weights computes.
#[test]
fn weights_with_batch_norm_statistics_load_before_folding() {
    use testbed::nn::graph::Const;
    let dir = std::env::temp_dir().join(format!("testbed-bn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resnet18.safetensors");
    let shape = [1, 3, 32, 32];
    let mut trained = zoo::build("resnet18", &shape, 3).unwrap();
    // Running statistics unlike the zoo's fresh ones (mean 0, variance 1).
    for (name, c) in trained.initializers.iter_mut() {
        if let Const::F32(t) = c {
            if name.ends_with("running_mean") {
                *t = t.map(|_| 0.3);
            } else if name.ends_with("running_var") {
                *t = t.map(|_| 2.0);
            }
        }
    }
    testbed::nn::weights::save_weights(&trained, &path).unwrap();
    let prepared = testbed::bench::jobs::prepare_model("resnet18", &shape, 3, Some(path.to_str().unwrap())).unwrap();
    assert!(
        !prepared
            .nodes
            .iter()
            .any(|n| matches!(n.op, testbed::nn::graph::Op::BatchNormalization { .. })),
        "batch norm is folded"
    );
    let x = input(&shape, 0.0, 1.0);
    let want = run_plain(&trained, &x).unwrap();
    let got = run_plain(&prepared, &x).unwrap();
    let err = got.max_abs_diff(&want);
    assert!(err < 1e-3, "prepared model with the file's statistics: off by {err}");
    let fresh = testbed::bench::jobs::prepare_model("resnet18", &shape, 3, None).unwrap();
    assert!(
        run_plain(&fresh, &x).unwrap().max_abs_diff(&want) > 1e-2,
        "the statistics matter"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
