//! Separate processes over TCP: parity with the simulator, faults, refused handshakes, TLS.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::testbed_env as testbed;

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("valid JSON")
}

const PROTOCOLS: [&str; 5] = [
    "2pc-ttp",
    "2pc-tfp-insecure",
    "3pc-replicated",
    "npc-additive",
    "2pc-fss",
];

#[test]
fn ops_give_identical_results_and_counts_under_sim_and_tcp() {
    for protocol in PROTOCOLS {
        for op in [
            &["--op", "mul", "--shape", "500", "--shape", "500"][..],
            &["--op", "matmul", "--shape", "9x7", "--shape", "7x5"],
            &["--op", "relu", "--shape", "300"],
        ] {
            let mut base = vec![
                "bench",
                "op",
                "--protocol",
                protocol,
                "--seed",
                "11",
                // Bit-for-bit parity needs the same share randomness on both transports.
                "--insecure-share-seed",
                "11",
                "--reps",
                "2",
                "--json",
            ];
            base.extend_from_slice(op);
            let (c1, sim, e1) = testbed(&[&base[..], &["--transport", "sim"]].concat(), &[]);
            let (c2, tcp, e2) = testbed(&[&base[..], &["--transport", "tcp"]].concat(), &[]);
            assert_eq!((c1, c2), (0, 0), "{protocol} {op:?}: {e1} {e2}");
            let (s, t) = (json(&sim), json(&tcp));
            for field in [
                "rounds",
                "online_rounds",
                "dealer_ahead",
                "rounds_per_party",
                "bytes_sent_per_party",
                "bytes_offline_total",
                "offline_rounds",
                "bytes_control_total",
                "max_abs_err",
                "max_rel_err",
            ] {
                assert_eq!(s[field], t[field], "{protocol} {op:?}: {field}");
            }
            assert_eq!(t["transport"], "tcp");
            assert!(t["framing_bytes_total"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn a_model_gives_the_same_output_bit_for_bit_under_sim_and_tcp() {
    let dir = std::env::temp_dir().join(format!("testbed-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for protocol in PROTOCOLS {
        let mut outs = Vec::new();
        for transport in ["sim", "tcp"] {
            let out = dir.join(format!("{protocol}-{transport}.npy"));
            let (code, stdout, err) = testbed(
                &[
                    "infer",
                    "--model",
                    "tests/data/onnx/lenet_small.onnx",
                    "--input",
                    "tests/data/onnx/lenet_small.input.npy",
                    "--output",
                    out.to_str().unwrap(),
                    "--protocol",
                    protocol,
                    "--transport",
                    transport,
                    "--insecure-share-seed",
                    "3",
                    "--json",
                ],
                &[],
            );
            assert_eq!(code, 0, "{protocol} {transport}: {err}");
            outs.push((std::fs::read(&out).unwrap(), json(&stdout)));
        }
        assert_eq!(outs[0].0, outs[1].0, "{protocol}: outputs differ");
        for field in ["rounds_per_party", "bytes_sent_per_party", "bytes_offline_total"] {
            assert_eq!(outs[0].1[field], outs[1].1[field], "{protocol}: {field}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_party_that_dies_makes_the_run_fail_within_the_timeout_naming_it() {
    for protocol in PROTOCOLS {
        let t0 = Instant::now();
        let (code, _, err) = testbed(
            &[
                "bench",
                "op",
                "--protocol",
                protocol,
                "--op",
                "relu",
                "--shape",
                "20000",
                "--reps",
                "400",
                "--transport",
                "tcp",
                "--no-tls",
            ],
            &[("TESTBED_FAULT_EXIT", "1:400")],
        );
        let took = t0.elapsed();
        assert_eq!(code, 1, "{protocol}: {err}");
        assert!(err.contains("party 1"), "{protocol}: {err}");
        assert!(took < Duration::from_secs(12), "{protocol}: took {took:?}");
        // One warning that the run is plaintext, then the one-line error.
        let lines: Vec<&str> = err.trim().lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(lines[0].starts_with("warning: plaintext TCP"), "{err}");
    }
}

/// A free loopback port (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plaintext session file of two parties running a small `mul`, `reps` times.
fn session_file(dir: &std::path::Path, name: &str, session_id: u64, ports: &[u16], reps: u32) -> String {
    let endpoints: Vec<serde_json::Value> = ports
        .iter()
        .map(|p| serde_json::json!({ "address": format!("127.0.0.1:{p}") }))
        .collect();
    let s = serde_json::json!({
        "session_id": session_id, "protocol": "2pc-tfp-insecure", "endpoints": endpoints, "timeout_s": 3.0,
        "insecure_share_seed": 1, "insecure_plaintext": true,
        "job": { "kind": "bench-op", "op": "mul", "shapes": [[10], [10]], "conv": [1, 0, 1, 1], "reps": reps, "input_seed": 1 },
    });
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    path.display().to_string()
}

/// Runs parties 0 and 1 with their session files; returns each one's exit code and stderr.
pub(crate) fn run_pair(a: &str, b: &str) -> [(i32, String); 2] {
    let spawn = |id: &str, f: &str| {
        Command::new(env!("CARGO_BIN_EXE_testbed"))
            .args(["party", "--id", id, "--session", f])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p0, p1) = (spawn("0", a), spawn("1", b));
    [p0, p1].map(|c| {
        let o = c.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
}

#[test]
fn parties_with_mismatched_session_files_refuse_each_other() {
    let dir = std::env::temp_dir().join(format!("testbed-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ports = [free_port(), free_port()];
    let a = session_file(&dir, "a.yaml", 7, &ports, 1);
    let b = session_file(&dir, "b.yaml", 8, &ports, 1);
    for (code, err) in run_pair(&a, &b) {
        assert_ne!(code, 0);
        assert!(err.contains("session id differs"), "{err}");
    }
    // A job that differs in one field is refused naming it, on both sides.
    let ports = [free_port(), free_port()];
    let a = session_file(&dir, "a.yaml", 7, &ports, 1);
    let b = session_file(&dir, "b.yaml", 7, &ports, 2);
    let [(c0, e0), (c1, e1)] = run_pair(&a, &b);
    assert!(c0 != 0 && c1 != 0);
    assert!(
        e0.contains("party 0: link to party 1: session differs at job.reps (ours 1, theirs 2)"),
        "{e0}"
    );
    assert!(
        e1.contains("party 1: link to party 0: session differs at job.reps (ours 2, theirs 1)"),
        "{e1}"
    );
    // The same file on both sides works, with a warning that it is plaintext.
    let ports = [free_port(), free_port()];
    let ok = session_file(&dir, "ok.yaml", 9, &ports, 1);
    for (code, err) in run_pair(&ok, &ok) {
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("warning: plaintext TCP (insecure_plaintext)"), "{err}");
    }
    // Without TLS and without `insecure_plaintext: true`, a party refuses to start.
    let text = std::fs::read_to_string(&ok)
        .unwrap()
        .replace("\"insecure_plaintext\": true", "\"insecure_plaintext\": false");
    let bare = dir.join("bare.yaml");
    std::fs::write(&bare, text).unwrap();
    let (code, _, err) = testbed(&["party", "--id", "0", "--session", bare.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "error: {}: field `insecure_plaintext`: this session has no TLS (no endpoint has a `pin`); make \
             certificates and pins with `testbed certs`, or set `insecure_plaintext: true` to run in plaintext",
            bare.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
