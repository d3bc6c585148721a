//! Each party holds only what its owner has: party processes in folders of their own with only
//! their own files, outputs revealed only to the parties named, every weight of a private model
//! shared (scalars included), share randomness from the OS unless a test fixes it.

use crate::common::{random_reals, run, testbed};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use testbed::data::model::ModelSource;
use testbed::nn::graph::{Const, Op};
use testbed::nn::infer::{InferJob, Input, WeightPrivacy};
use testbed::nn::io::{write_npy_f32, write_npy_i64};
use testbed::nn::owners::{Architecture, private_weights};
use testbed::nn::tensor::F32Tensor;
use testbed::protocol::ProtocolConfig;

/// A fresh folder under the system temp dir.
fn folder(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("testbed-owners-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain-TCP session file for `endpoints` endpoints on loopback, with a fixed share seed (so the
/// result can be compared with the simulator's bit for bit).
fn session(dir: &Path, protocol: &str, endpoints: usize, job: serde_json::Value) -> PathBuf {
    let eps: Vec<serde_json::Value> = (0..endpoints)
        .map(|_| serde_json::json!({ "address": format!("127.0.0.1:{}", free_port()) }))
        .collect();
    let s = serde_json::json!({
        "session_id": 42, "protocol": protocol, "endpoints": eps, "timeout_s": 20.0,
        "insecure_share_seed": 3, "insecure_plaintext": true, "job": job,
    });
    let path = dir.join("session.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    path
}

/// Runs every endpoint as `testbed party` in its own folder with its own arguments; returns each
/// one's exit code and stderr.
fn run_parties(session: &Path, homes: &[(PathBuf, Vec<&str>)]) -> Vec<(i32, String)> {
    let children: Vec<_> = homes
        .iter()
        .enumerate()
        .map(|(i, (home, args))| {
            Command::new(env!("CARGO_BIN_EXE_testbed"))
                .args(["party", "--id", &i.to_string(), "--session"])
                .arg(session)
                .args(args)
                .current_dir(home)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            (
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn infer_over_tcp_runs_with_each_file_only_in_its_owners_folder() {
    let root = folder("infer");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx");
    let homes: Vec<PathBuf> = (0..3).map(|i| root.join(format!("endpoint{i}"))).collect();
    for h in &homes {
        std::fs::create_dir_all(h).unwrap();
    }
    std::fs::copy(fixtures.join("lenet_small.onnx"), homes[0].join("model.onnx")).unwrap();
    std::fs::copy(fixtures.join("lenet_small.input.npy"), homes[1].join("x.npy")).unwrap();
    let job = serde_json::json!({ "kind": "model", "model_seed": 0, "public_model": false, "reps": 1 });
    let s = session(&root, "2pc-ttp", 3, job);
    let results = run_parties(
        &s,
        &[
            (homes[0].clone(), vec!["--model", "model.onnx"]),
            (homes[1].clone(), vec!["--input", "x.npy", "--output", "y.npy"]),
            (homes[2].clone(), vec![]),
        ],
    );
    for (i, (code, err)) in results.iter().enumerate() {
        assert_eq!(*code, 0, "endpoint {i}: {err}");
    }
    // Only the data owner wrote the output; nobody else's folder changed.
    assert_eq!(files_in(&homes[0]), vec!["model.onnx"]);
    assert_eq!(files_in(&homes[1]), vec!["x.npy", "y.npy"]);
    assert!(files_in(&homes[2]).is_empty());
    // The same as the simulator's, bit for bit (same share seed).
    let sim_out = root.join("sim.npy");
    let (code, _, err) = testbed(&[
        "infer",
        "--model",
        fixtures.join("lenet_small.onnx").to_str().unwrap(),
        "--input",
        fixtures.join("lenet_small.input.npy").to_str().unwrap(),
        "--output",
        sim_out.to_str().unwrap(),
        "--protocol",
        "2pc-ttp",
        "--insecure-share-seed",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(&sim_out).unwrap(),
        std::fs::read(homes[1].join("y.npy")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn private_training_over_tcp_runs_on_split_data_files() {
    use testbed::nn::autograd::{Loss, Sgd};
    use testbed::train::private::{DataSplit, TrainData, train_private};
    use testbed::train::{Optimizer, TrainConfig};
    let root = folder("train");
    let mut split = testbed::data::load("digits").unwrap();
    split.train = split.train.take(48).unwrap();
    let parts = TrainData::divide(&split.train, DataSplit::Rows, 2).unwrap();
    let homes: Vec<PathBuf> = (0..3).map(|i| root.join(format!("endpoint{i}"))).collect();
    for (h, part) in homes.iter().zip(parts.iter().map(Some).chain([None])) {
        std::fs::create_dir_all(h).unwrap();
        if let Some(p) = part {
            write_npy_f32(h.join("rows.npy"), p.x.as_ref().unwrap()).unwrap();
            let l: Vec<i64> = p.labels.as_ref().unwrap().iter().map(|&v| v as i64).collect();
            write_npy_i64(h.join("labels.npy"), &[l.len()], &l).unwrap();
        }
    }
    let job = serde_json::json!({
        "kind": "train", "epochs": 1, "batch": 16, "lr": 0.5, "momentum": 0.0, "weight_decay": 0.0,
        "nesterov": false, "grad_threshold": null, "loss": "ce", "split": "rows", "seed": 1, "classes": 10,
    });
    let s = session(&root, "2pc-ttp", 3, job);
    let data = ["--data", "rows.npy", "--labels", "labels.npy"];
    let p0: Vec<&str> = [&data[..], &["--model", "logreg", "--output", "w.safetensors"]].concat();
    let results = run_parties(
        &s,
        &[
            (homes[0].clone(), p0),
            (homes[1].clone(), data.to_vec()),
            (homes[2].clone(), vec![]),
        ],
    );
    for (i, (code, err)) in results.iter().enumerate() {
        assert_eq!(*code, 0, "endpoint {i}: {err}");
    }
    assert_eq!(files_in(&homes[0]), vec!["labels.npy", "rows.npy", "w.safetensors"]);
    assert_eq!(files_in(&homes[1]), vec!["labels.npy", "rows.npy"]);
    assert!(files_in(&homes[2]).is_empty());
    // The simulator with the same share seed gives the same weights.
    let graph = ModelSource::new("logreg", 1)
        .with_classes(10)
        .load_unprepared(&[16, 64])
        .unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        batch: 16,
        optimizer: Optimizer::Sgd(Sgd {
            lr: 0.5,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            grad_threshold: None,
        }),
        loss: Loss::CrossEntropy,
        seed: 1,
        progress: false,
    };
    let proto = ProtocolConfig::load("2pc-ttp").unwrap();
    let (trained, _) = train_private(&proto, &graph, "logreg", &split, &cfg, DataSplit::Rows, Some(3)).unwrap();
    let tcp = testbed::nn::io::load_safetensors(homes[0].join("w.safetensors")).unwrap();
    for (name, t) in &tcp {
        let Some(Const::F32(s)) = trained.initializers.get(name) else {
            panic!("{name} is not a weight of the model")
        };
        assert_eq!(s, t, "{name}: tcp and simulator differ");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_party_given_a_file_it_does_not_own_is_refused() {
    let root = folder("refuse");
    let job = serde_json::json!({ "kind": "model", "model_seed": 0, "public_model": false, "reps": 1 });
    let s = session(&root, "2pc-ttp", 3, job);
    let s = s.to_str().unwrap();
    for (id, args, flag) in [
        ("1", &["--model", "lenet", "--input", "x.npy"][..], "--model"),
        ("0", &["--model", "lenet", "--input", "x.npy"], "--input"),
        ("2", &["--output", "y.npy"], "--output"),
        ("0", &[], "--model"),
    ] {
        let (code, _, err) = testbed(&[&["party", "--id", id, "--session", s][..], args].concat());
        assert_eq!(code, 2, "{err}");
        assert!(err.starts_with("error: ") && err.contains(flag), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn outputs_go_only_to_the_parties_named() {
    let shape = [1, 1, 28, 28];
    let g = ModelSource::new("lenet", 1).load(&shape).unwrap();
    let x = [Input::F32(
        F32Tensor::from_vec(
            &shape,
            random_reals(784, 0.0, 1.0, 4).iter().map(|&v| v as f32).collect(),
        )
        .unwrap(),
    )];
    for cfg in ["2pc-ttp", "3pc-replicated"].map(|n| ProtocolConfig::load(n).unwrap()) {
        for to in [None, Some(vec![0]), Some(vec![1, 0])] {
            let mut job = InferJob::local(&g, &x, WeightPrivacy::Private, 1);
            job.reveal_to = to.clone();
            let out = run(&cfg, 2, &job);
            let want = to.clone().unwrap_or(vec![cfg.parties - 1]);
            for (id, p) in out.parties.iter().enumerate() {
                assert_eq!(
                    p.output.outputs.is_some(),
                    want.contains(&id),
                    "{}: {to:?} party {id}",
                    cfg.name
                );
            }
        }
    }
}

#[test]
fn every_real_weight_of_a_private_model_is_shared_scalars_included() {
    // The transformer's attention scales are scalar initializers.
    let g = ModelSource::new("transformer", 1).load(&[1, 8, 32]).unwrap();
    let scalars: Vec<&String> = g
        .initializers
        .iter()
        .filter(|(_, c)| matches!(c, Const::F32(t) if t.data().len() == 1))
        .map(|(k, _)| k)
        .collect();
    assert!(!scalars.is_empty());
    let private = private_weights(&g, WeightPrivacy::Private);
    for s in &scalars {
        assert!(private.contains(s), "{s} must be shared");
    }
    // What the owner publishes carries no weight value: the placeholders are zeros.
    let json = serde_json::to_string(&Architecture::of(&g, WeightPrivacy::Private)).unwrap();
    let arch: Architecture = serde_json::from_str(&json).unwrap();
    let rebuilt = arch.into_graph().unwrap();
    for name in &private {
        let Some(Const::F32(t)) = rebuilt.initializers.get(name) else {
            panic!("{name}")
        };
        assert!(
            t.data().iter().all(|&v| v == 0.0),
            "{name} leaked into the architecture"
        );
    }
    // An operand an operator needs in the clear by its definition stays public: a Pow exponent.
    let mut h = g.clone();
    h.initializers
        .insert("two".into(), Const::F32(F32Tensor::from_vec(&[1], vec![2.0]).unwrap()));
    let out = h.outputs[0].clone();
    h.nodes.push(testbed::nn::graph::Node {
        name: "square".into(),
        op: Op::Pow,
        inputs: vec![out, "two".into()],
        outputs: vec!["squared".into()],
        relu_after: false,
    });
    h.outputs = vec!["squared".into()];
    assert!(!private_weights(&h, WeightPrivacy::Private).contains(&"two".to_string()));
    assert!(private_weights(&h, WeightPrivacy::Public).is_empty());
}

#[test]
fn share_randomness_comes_from_the_os_unless_a_test_fixes_it() {
    use testbed::protocol::{Job, Protocol, SessionOptions, simulate};
    struct MyShare;
    impl Job for MyShare {
        type Output = Vec<u64>;
        fn run<P: Protocol>(&self, p: &mut P) -> testbed::Result<Vec<u64>> {
            let v = testbed::ring::RingTensor::from_vec(&[4], vec![7; 4])?;
            let x = p.share(0, (p.id() == 0).then_some(&v), &[4])?;
            Ok(format!("{x:?}").bytes().map(u64::from).collect())
        }
    }
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let once = |seed| {
        let opts = SessionOptions {
            insecure_share_seed: seed,
            ..Default::default()
        };
        simulate(&cfg, &opts, &MyShare).unwrap().parties[1].output.clone()
    };
    assert_ne!(once(None), once(None), "two default sessions draw different shares");
    assert_eq!(once(Some(9)), once(Some(9)), "a fixed (insecure) seed repeats them");
    // The CLI says so loudly.
    let (code, _, err) = testbed(&[
        "bench",
        "op",
        "--protocol",
        "2pc-ttp",
        "--op",
        "add",
        "--shape",
        "4",
        "--shape",
        "4",
        "--insecure-share-seed",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("INSECURE"), "{err}");
}
