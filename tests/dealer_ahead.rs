//! The dealer running ahead (`protocol::repeat`, `additive::ahead`): the same results and counts
//! as on demand, the dealer's hops off the critical path, and a computation that strays from the
//! dealt plan refused.

use testbed::bench::{OpKind, OpSpec, run_op_with};
use testbed::launch::TransportKind;
use testbed::launch::report::OpReport;
use testbed::protocol::{Job, Protocol, ProtocolConfig, SessionOptions, fixed_bilinear_many, reveal, simulate};
use testbed::ring::{decode, encode};

fn bench(cfg: &ProtocolConfig, op: &str, shapes: &[Vec<usize>], on_demand: bool) -> OpReport {
    let spec = OpSpec {
        op: OpKind::parse(op).unwrap(),
        shapes: shapes.to_vec(),
        conv: Default::default(),
        reps: 2,
        warmup: 1,
        on_demand,
        seed: Some(5),
        transport: TransportKind::Sim,
        insecure_share_seed: Some(5),
    };
    run_op_with(cfg, &spec, false).unwrap_or_else(|e| panic!("{} {op}: {e}", cfg.name))
}

#[test]
fn the_dealer_ahead_keeps_every_count_and_leaves_the_critical_path() {
    let ops: [(&str, Vec<Vec<usize>>); 4] = [
        ("mul", vec![vec![500], vec![500]]),
        ("matmul", vec![vec![6, 9], vec![9, 4]]),
        ("relu", vec![vec![1000]]),
        ("max", vec![vec![4, 33]]),
    ];
    for name in ["2pc-ttp", "2pc-ttp-dealer-trunc", "npc-additive", "2pc-fss"] {
        let cfg = ProtocolConfig::load(name).unwrap();
        for (op, shapes) in &ops {
            let ahead = bench(&cfg, op, shapes, false);
            let asked = bench(&cfg, op, shapes, true);
            let at = format!("{name} {op}");
            assert!(ahead.dealer_ahead && !asked.dealer_ahead, "{at}");
            // Payload and the parties' own chain are the same whichever way the dealer works.
            assert_eq!(ahead.bytes_sent_per_party, asked.bytes_sent_per_party, "{at}");
            assert_eq!(ahead.bytes_offline_total, asked.bytes_offline_total, "{at}");
            assert_eq!(ahead.rounds_between_parties, asked.rounds_between_parties, "{at}");
            // Streaming: only the credit's hop and the first answer can precede the parties'
            // chain, so at most two rounds more. Prefetched: the parties' chain alone.
            let party = ahead.rounds_between_parties;
            assert!(
                (party..=party + 2).contains(&ahead.rounds),
                "{at}: {} vs {party}",
                ahead.rounds
            );
            assert_eq!(ahead.online_rounds, Some(party), "{at}");
            assert!(ahead.online_wall_s.is_some(), "{at}");
            // On demand every step that needs the dealer waits for its round trip: the same for
            // a single product, more for a chain of steps.
            assert!(
                asked.rounds >= ahead.rounds,
                "{at}: {} vs {}",
                asked.rounds,
                ahead.rounds
            );
            if party > 2 {
                assert!(
                    asked.rounds > ahead.rounds + 1,
                    "{at}: {} vs {}",
                    asked.rounds,
                    ahead.rounds
                );
            }
            assert_eq!(asked.online_wall_s, None, "{at}");
            // Correct either way (the same tolerance the conformance suite uses for one product).
            for r in [&ahead, &asked] {
                assert!(r.max_abs_err < 1e-3, "{at}: error {}", r.max_abs_err);
            }
        }
    }
    // Families without a dealer endpoint ask nothing ahead.
    for name in ["3pc-replicated", "2pc-tfp-insecure"] {
        let cfg = ProtocolConfig::load(name).unwrap();
        let r = bench(&cfg, "relu", &[vec![100]], false);
        assert!(!r.dealer_ahead && r.online_wall_s.is_none(), "{name}");
    }
}

/// Records one product of shape `first`, plans one copy, then runs a product of shape `then`.
struct Strays {
    first: usize,
    then: usize,
}

impl Job for Strays {
    type Output = Vec<f64>;

    fn run<P: Protocol>(&self, p: &mut P) -> testbed::error::Result<Vec<f64>> {
        let product = |p: &mut P, n: usize| -> testbed::error::Result<Vec<f64>> {
            let x = encode(&vec![0.5; n], &[n], p.frac_bits())?;
            let mine = (p.id() == 0).then_some(&x);
            let a = p.share(0, mine, &[n])?;
            let z = fixed_bilinear_many(p, &[(&a, &a, testbed::protocol::BilinearOp::Mul)])?;
            Ok(decode(&reveal(p, &z[0])?, p.frac_bits()))
        };
        p.record_ahead()?;
        product(p, self.first)?;
        p.plan_ahead(1)?;
        p.next_ahead(false)?;
        product(p, self.then)
    }
}

#[test]
fn a_computation_that_strays_from_the_dealt_plan_is_an_error() {
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let opts = SessionOptions::default();
    let same = simulate(&cfg, &opts, &Strays { first: 4, then: 4 }).unwrap();
    assert_eq!(same.parties[0].output, vec![0.25; 4]);
    let err = simulate(&cfg, &opts, &Strays { first: 4, then: 5 })
        .unwrap_err()
        .to_string();
    assert!(err.contains("dealer ahead") && err.contains("plan"), "{err}");
}

#[test]
fn a_model_runs_with_the_dealer_ahead_over_tcp_as_in_the_simulator() {
    // 2pc-fss with the one-round ReLU too (a variant file: the parties load it by path).
    let one_round = std::env::temp_dir().join(format!("testbed-fss-one-round-{}.yaml", std::process::id()));
    std::fs::write(&one_round, "family: 2pc-fss\nparties: 2\nfss_relu_rounds: 1\n").unwrap();
    for protocol in ["2pc-ttp", "2pc-fss", one_round.to_str().unwrap()] {
        let mut reports = Vec::new();
        for transport in ["sim", "tcp"] {
            let (code, out, err) = crate::common::testbed(&[
                "bench",
                "model",
                "--model",
                "tests/data/onnx/lenet_small.onnx",
                "--input-shape",
                "3x1x28x28",
                "--protocol",
                protocol,
                "--transport",
                transport,
                "--insecure-share-seed",
                "7",
                "--reps",
                "1",
                "--json",
            ]);
            assert_eq!(code, 0, "{protocol} {transport}: {err}");
            let j: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
            assert_eq!(j["dealer_ahead"], true, "{protocol} {transport}");
            assert!(j["online_wall_s"].as_f64().is_some(), "{protocol} {transport}");
            reports.push(j);
        }
        for field in [
            "rounds",
            "online_rounds",
            "rounds_between_parties",
            "bytes_sent_per_party",
            "bytes_offline_total",
            "max_abs_err",
        ] {
            assert_eq!(reports[0][field], reports[1][field], "{protocol}: {field}");
        }
        let party = reports[0]["rounds_between_parties"].as_u64().unwrap();
        assert_eq!(reports[0]["online_rounds"].as_u64(), Some(party), "{protocol}");
    }
    let _ = std::fs::remove_file(&one_round);
}
