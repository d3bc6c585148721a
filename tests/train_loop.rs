//! Training runs: plaintext accuracy on digits, private runs within 2 points of plaintext, the
//! gradient threshold (value and cost), checkpoints and the `train` command.

use crate::common::{random_reals, run};
use testbed::Result;
use testbed::data::model::ModelSource;
use testbed::data::{self, Split};
use testbed::func::binary::msb_bits;
use testbed::func::compare::mul_bits;
use testbed::net::MeterReport;
use testbed::nn::autograd::{AutodiffBackend, Loss, Sgd};
use testbed::nn::plain::PlainBackend;
use testbed::nn::private::PrivateBackend;
use testbed::nn::tensor::F32Tensor;
use testbed::protocol::{Job, Protocol, ProtocolConfig};
use testbed::ring::{decode, encode};
use testbed::train::private::{DataSplit, train_private};
use testbed::train::{Optimizer, TrainConfig, evaluate, train_plain};

fn digits() -> Split {
    data::load("digits").expect("digits: run scripts/fetch-data.sh digits")
}

fn config(epochs: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch: 32,
        optimizer: Optimizer::Sgd(Sgd::new(lr)),
        loss: Loss::CrossEntropy,
        seed: 1,
        progress: false,
    }
}

#[test]
fn mlp_on_digits_reaches_90_percent_from_a_fixed_seed() {
    let split = digits();
    let g = ModelSource::new("mlp", 1)
        .with_classes(10)
        .load_unprepared(&[32, 64])
        .unwrap();
    let (trained, r) = train_plain(&g, "mlp", &split, &config(10, 0.1), None).unwrap();
    assert!(r.test_accuracy >= 0.90, "test accuracy {}", r.test_accuracy);
    assert!(r.epoch_loss.windows(2).all(|w| w[1] < w[0]), "{:?}", r.epoch_loss);
    let (_, acc) = evaluate(&trained, &split.test, Loss::CrossEntropy, 100).unwrap();
    assert_eq!(acc, r.test_accuracy);
}

#[test]
fn momentum_nesterov_weight_decay_and_adam_train_too() {
    let split = digits();
    let g = ModelSource::new("logreg", 1)
        .with_classes(10)
        .load_unprepared(&[32, 64])
        .unwrap();
    let sgd = Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 1e-4,
        nesterov: true,
        grad_threshold: Some(100.0),
    };
    let mut cfg = config(3, 0.1);
    cfg.optimizer = Optimizer::Sgd(sgd);
    let (_, r) = train_plain(&g, "logreg", &split, &cfg, None).unwrap();
    assert!(r.test_accuracy >= 0.9, "sgd+nesterov {}", r.test_accuracy);
    cfg.optimizer = Optimizer::Adam {
        lr: 0.01,
        weight_decay: 0.0,
    };
    let (_, r) = train_plain(&g, "logreg", &split, &cfg, None).unwrap();
    assert!(r.test_accuracy >= 0.9, "adam {}", r.test_accuracy);
}

#[test]
fn private_training_is_within_two_points_of_plaintext() {
    let mut split = digits();
    split.train = split.train.take(320).unwrap();
    for (model, lr, epochs) in [("logreg", 0.5, 3), ("mlp", 0.3, 6)] {
        let g = ModelSource::new(model, 1)
            .with_classes(10)
            .load_unprepared(&[32, 64])
            .unwrap();
        let cfg = config(epochs, lr);
        let (_, plain) = train_plain(&g, model, &split, &cfg, None).unwrap();
        for (proto, ds) in [("2pc-ttp", DataSplit::Rows), ("3pc-replicated", DataSplit::Features)] {
            let p = ProtocolConfig::load(proto).unwrap();
            let (_, r) = train_private(&p, &g, model, &split, &cfg, ds, Some(3)).unwrap();
            let d = (r.test_accuracy - plain.test_accuracy).abs();
            assert!(
                d <= 0.02,
                "{model} on {proto}: private {} vs plaintext {}",
                r.test_accuracy,
                plain.test_accuracy
            );
            assert!(r.rounds > 0 && r.bytes_per_sample > 0.0, "{model} on {proto}: {r:?}");
            assert_eq!(r.bytes_sent_per_party.len(), p.parties);
        }
        assert!(plain.test_accuracy > 0.7, "{model}: {}", plain.test_accuracy);
    }
}

/// zero_above on shares, with its meter and the meters of its parts (an MSB circuit on 2n
/// elements, then a bit product on n).
struct Threshold {
    g: Vec<f64>,
    t: f64,
}

impl Job for Threshold {
    type Output = (Vec<f64>, MeterReport, MeterReport);

    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let n = self.g.len();
        let f = p.frac_bits();
        let v = (p.id() == 0).then(|| encode(&self.g, &[n], f).unwrap());
        let x = p.share(0, v.as_ref(), &[n])?;
        let two = p.linear(&x, &|t| testbed::ring::RingTensor::concat(&[t, t], 0))?;
        p.barrier()?;
        let m0 = p.meter();
        let y = PrivateBackend::new(p).zero_above(&x, self.t)?;
        let cost = p.meter().since(&m0);
        p.barrier()?;
        let m1 = p.meter();
        let bits = msb_bits(p, &two)?;
        let half = testbed::func::binary::slice_bits(p, &bits, 0, n)?;
        mul_bits(p, &x, &half)?;
        let parts = p.meter().since(&m1);
        let r = testbed::protocol::reveal(p, &y)?;
        Ok((decode(&r, f), cost, parts))
    }
}

#[test]
fn gradient_threshold_zeroes_large_elements_and_costs_one_circuit_and_one_product() {
    let g: Vec<f64> = random_reals(300, -4.0, 4.0, 8);
    let want: Vec<f64> = g.iter().map(|&v| if v.abs() > 2.5 { 0.0 } else { v }).collect();
    let plain = PlainBackend
        .clone()
        .zero_above(
            &F32Tensor::from_vec(&[300], g.iter().map(|&v| v as f32).collect()).unwrap(),
            2.5,
        )
        .unwrap();
    for (a, b) in plain.data().iter().zip(&want) {
        assert!((*a as f64 - b).abs() < 1e-6);
    }
    for proto in ["2pc-ttp", "3pc-replicated"] {
        let cfg = ProtocolConfig::load(proto).unwrap();
        let out = run(&cfg, 4, &Threshold { g: g.clone(), t: 2.5 });
        let path = |k: usize| {
            testbed::net::critical_path(
                out.parties
                    .iter()
                    .map(|p| if k == 0 { &p.output.1 } else { &p.output.2 }),
            )
        };
        assert_eq!(path(0), path(1), "{proto}: critical path");
        for party in &out.parties {
            let (got, cost, parts) = &party.output;
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{proto}: {a} vs {b}");
            }
            assert_eq!(cost.online(), parts.online(), "{proto}");
        }
    }
}

use crate::common::testbed;

#[test]
fn train_command_reports_json_and_writes_loadable_weights() {
    let dir = std::env::temp_dir().join(format!("testbed-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("w.safetensors");
    let out_s = out.to_str().unwrap();
    let common = [
        "train", "--model", "logreg", "--data", "digits", "--batch", "32", "--lr", "0.5", "--json",
    ];
    let mut args = common.to_vec();
    args.extend(["--epochs", "2", "--out", out_s]);
    let (code, stdout, err) = testbed(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for key in [
        "model",
        "data",
        "protocol",
        "epochs",
        "batch",
        "lr",
        "final_loss",
        "train_accuracy",
        "test_accuracy",
        "wall_s",
        "seconds_per_epoch",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["protocol"], "plaintext");
    // The checkpoint reproduces the reported accuracy.
    let split = digits();
    let mut g = ModelSource::new("logreg", 1)
        .with_classes(10)
        .load_unprepared(&[32, 64])
        .unwrap();
    testbed::nn::weights::load_weights(&mut g, &out, true).unwrap();
    let (_, acc) = evaluate(&g, &split.test, Loss::CrossEntropy, 64).unwrap();
    assert_eq!(acc, v["test_accuracy"].as_f64().unwrap());
    // Private: the counts are there.
    let mut args = common.to_vec();
    // Parity of sim and TCP below needs the same share randomness on both.
    args.extend([
        "--protocol",
        "2pc-ttp",
        "--subset",
        "64",
        "--epochs",
        "1",
        "--insecure-share-seed",
        "5",
    ]);
    let (code, stdout, err) = testbed(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["protocol"], "2pc-ttp");
    assert!(v["rounds"].as_u64().unwrap() > 0);
    assert!(v["bytes_per_sample"].as_f64().unwrap() > 0.0);
    assert_eq!(v["bytes_sent_per_party"].as_array().unwrap().len(), 2);
    // Over TCP (party processes): the same result and the same counts as the simulator.
    let mut tcp = args.clone();
    tcp.extend(["--transport", "tcp", "--no-tls"]);
    let (code, out_tcp, err) = testbed(&tcp);
    assert_eq!(code, 0, "{err}");
    let t: serde_json::Value = serde_json::from_str(out_tcp.lines().last().unwrap()).unwrap();
    assert_eq!(t["transport"], "tcp");
    for key in [
        "test_accuracy",
        "final_loss",
        "rounds",
        "bytes_sent_per_party",
        "bytes_offline_total",
    ] {
        assert_eq!(t[key], v[key], "{key}: tcp {} vs sim {}", t[key], v[key]);
    }
    // Bad input: one line, exit code 2.
    for bad in [
        &["train", "--model", "nope", "--data", "digits"][..],
        &["train", "--model", "mlp", "--data", "nope"],
        &["train", "--model", "mlp", "--data", "digits", "--loss", "hinge"],
        &["train", "--model", "mlp", "--data", "digits", "--epochs", "0"],
        &[
            "train",
            "--model",
            "mlp",
            "--data",
            "digits",
            "--protocol",
            "2pc-ttp",
            "--optimizer",
            "adam",
        ],
    ] {
        let (code, _, err) = testbed(bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A generated keyword set shaped like the speech features (`[n, 40, 48]`, 10 classes): noise
/// uniform in ±0.5 plus, for class k, a stripe of +1.5 on coefficients 4k..4k+4 over 16 frames
/// at a random offset (so the class is in the spectrum, not the timing, as with spoken words).
fn keyword_fixture(name: &str, n: usize, seed: u64) -> data::Dataset {
    let (c, t) = (40, 48);
    let noise = random_reals(n * c * t, -0.5, 0.5, seed);
    let offsets = random_reals(n, 0.0, (t - 16) as f64, seed + 1);
    let mut x: Vec<f32> = noise.iter().map(|&v| v as f32).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
    for (i, &k) in labels.iter().enumerate() {
        let s = offsets[i] as usize;
        for row in 4 * k..4 * k + 4 {
            for f in s..s + 16 {
                x[(i * c + row) * t + f] += 1.5;
            }
        }
    }
    data::Dataset::new(name, F32Tensor::from_vec(&[n, c, t], x).unwrap(), labels, 10).unwrap()
}

#[test]
fn wav2letter_kws_trains_on_generated_keywords_and_private_inference_agrees() {
    use testbed::nn::infer::{EvalJob, OwnedModel, WeightPrivacy, run_plain, split_batches};
    let split = Split {
        train: keyword_fixture("keywords/train", 300, 7),
        test: keyword_fixture("keywords/test", 20, 99),
    };
    let batch = 10;
    let g = ModelSource::new("wav2letter_kws", 1)
        .with_classes(10)
        .load_unprepared(&[batch, 40, 48])
        .unwrap();
    let cfg = TrainConfig {
        optimizer: Optimizer::Adam {
            lr: 0.001,
            weight_decay: 0.0,
        },
        batch,
        ..config(16, 0.0)
    };
    let (trained, r) = train_plain(&g, "wav2letter_kws", &split, &cfg, None).unwrap();
    assert!(
        r.epoch_loss.last().unwrap() < &(0.5 * r.epoch_loss[0]),
        "the loss falls: {:?}",
        r.epoch_loss
    );
    assert!(r.test_accuracy >= 0.9, "test accuracy {} ({r:?})", r.test_accuracy);
    // Private inference of the trained model: logits within 0.05 of plaintext, and the same top-1
    // wherever the plaintext margin between the two best classes exceeds twice that.
    let batches = split_batches(&trained, &split.test.inputs, batch).unwrap();
    let want: Vec<F32Tensor> = batches.iter().map(|b| run_plain(&trained, b).unwrap()).collect();
    for proto in ["2pc-ttp", "3pc-replicated", "npc-additive"] {
        let p = ProtocolConfig::load(proto).unwrap();
        let job = EvalJob {
            model: Some(OwnedModel::Loaded(&trained)),
            batches: Some(&batches),
            weights: WeightPrivacy::Private,
            warmup: 0,
            reveal_to: None,
        };
        let out = run(&p, 5, &job);
        let mut checked = 0;
        // The outputs go to the data owner only.
        assert!(out.parties[..p.parties - 1].iter().all(|q| q.output.outputs.is_none()));
        let revealed = out.parties.last().and_then(|q| q.output.outputs.as_ref()).unwrap();
        for (got, want) in revealed.iter().zip(&want) {
            assert_eq!(got.shape(), &[batch, 10]);
            let err = got.max_abs_diff(want);
            assert!(err < 0.05, "{proto}: logits differ from plaintext by {err}");
            for (w, g) in want.data().chunks(10).zip(got.data().chunks(10)) {
                let mut sorted = w.to_vec();
                sorted.sort_by(|a, b| b.total_cmp(a));
                if sorted[0] - sorted[1] > 0.1 {
                    assert_eq!(argmax(w), argmax(g), "{proto}: top-1 of {w:?}");
                    checked += 1;
                }
            }
        }
        assert!(
            checked >= 15,
            "{proto}: only {checked} of 20 samples have a clear top-1"
        );
    }
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}
