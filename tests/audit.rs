//! `testbed audit` in CI: a small audit (seconds) over every shipped family, the negative
//! controls flagged, the leaky variants still computing correctly, and the command's contract.

use crate::common::{random_ring, run, testbed};
use testbed::audit::{AuditOp, AuditReport, AuditSpec, run_audit};
use testbed::protocol::{BilinearOp, Job, Protocol, ProtocolConfig, reveal};
use testbed::ring::RingTensor;

/// Trials of the CI audit: enough for the controls to be flagged far below the threshold.
const CI_TRIALS: usize = 1000;
const THRESHOLD: f64 = 1e-6;

fn audit(protocol: &str, op: AuditOp, trials: usize) -> AuditReport {
    let spec = AuditSpec {
        protocol: ProtocolConfig::load(protocol).unwrap_or_else(|e| panic!("{protocol}: {e}")),
        op,
        shape: 16,
        trials,
        threshold: THRESHOLD,
        seed: 0,
    };
    run_audit(&spec).unwrap_or_else(|e| panic!("{protocol} {}: {e}", op.name()))
}

fn control(name: &str) -> String {
    format!("{}/tests/data/protocols/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// 2pc-fss's fused ReLU(x / 2^f) (with dealer truncation): the offset opening, the sign bits and
/// the dealer's five words per element leak nothing the audit can see.
#[test]
fn the_fused_truncation_relu_gate_passes_a_small_audit() {
    let yaml = "family: 2pc-fss\nparties: 2\ntruncation: dealer\n";
    let spec = AuditSpec {
        protocol: ProtocolConfig::from_yaml(yaml, "2pc-fss-dealer-trunc.yaml").unwrap(),
        op: AuditOp::TruncRelu,
        shape: 16,
        trials: CI_TRIALS,
        threshold: THRESHOLD,
        seed: 0,
    };
    let r = run_audit(&spec).unwrap();
    assert!(
        !r.leak && r.min_p >= THRESHOLD,
        "corrected p {} at {} ({})",
        r.min_p,
        r.party,
        r.test
    );
    assert!(r.tests > 1000, "only {} tests ran", r.tests);
}

#[test]
fn every_shipped_family_passes_a_small_audit() {
    for name in testbed::protocol::config::known_names() {
        // The first-party dealer is insecure by design: it is a negative control below.
        if name == "2pc-tfp-insecure" {
            continue;
        }
        for op in [AuditOp::Mul, AuditOp::Relu] {
            let r = audit(&name, op, CI_TRIALS);
            assert!(
                !r.leak && r.min_p >= THRESHOLD,
                "{name} {}: corrected p {} at {} ({})",
                op.name(),
                r.min_p,
                r.party,
                r.test
            );
            assert!(r.tests > 1000, "{name}: only {} tests ran", r.tests);
        }
    }
}

#[test]
fn the_negative_controls_are_flagged() {
    // Party 0 deals its own triples: its view unmasks party 1's share; party 1's view is clean.
    let tfp = audit("2pc-tfp-insecure", AuditOp::Mul, CI_TRIALS);
    assert!(tfp.leak && tfp.min_p < THRESHOLD && tfp.party == "party 0", "{tfp:?}");
    let p1 = tfp.endpoints.iter().find(|e| e.party == "party 1").unwrap();
    assert!(p1.min_p >= THRESHOLD, "{p1:?}");
    // One Beaver mask for both operands (and every later product): both parties see x − y; the
    // dealer sees no opening.
    let reuse = audit(&control("leaky-2pc-mask-reuse"), AuditOp::Mul, CI_TRIALS);
    for e in &reuse.endpoints {
        let flagged = e.min_p < THRESHOLD;
        assert_eq!(flagged, e.party != "dealer", "{e:?}");
    }
    assert!(reuse.test.starts_with("gf2-linear"), "{}", reuse.test);
    // Replicated products without the zero share: the product share a party receives is a
    // quadratic function of the secrets and of what it holds. A fixed-point product opens z − r to
    // parties 0 and 1, which swap their product shares; party 2 makes the truncation pair and
    // receives no product share, so its view stays clean.
    let rss = audit(&control("leaky-3pc-no-rerandomise"), AuditOp::Mul, CI_TRIALS);
    for e in &rss.endpoints {
        assert_eq!(e.min_p < THRESHOLD, e.party != "party 2", "{e:?}");
    }
    assert!(rss.test.starts_with("gf2-quadratic"), "{}", rss.test);
}

/// x ⊙ y and x ⊙ x − y ⊙ y, revealed (two products, so a reused mask is reused across them too).
struct TwoProducts {
    x: RingTensor,
    y: RingTensor,
}

impl Job for TwoProducts {
    type Output = Vec<RingTensor>;

    fn run<P: Protocol>(&self, p: &mut P) -> testbed::Result<Vec<RingTensor>> {
        let shape = self.x.shape().to_vec();
        let x = p.share(0, (p.id() == 0).then_some(&self.x), &shape)?;
        let y = p.share(1, (p.id() == 1).then_some(&self.y), &shape)?;
        let first = p.bilinear_many(&[(&x, &y, BilinearOp::Mul)])?.remove(0);
        let squares = p.bilinear_many(&[(&x, &x, BilinearOp::Mul), (&y, &y, BilinearOp::Mul)])?;
        let second = p.sub(&squares[0], &squares[1])?;
        Ok(vec![reveal(p, &first)?, reveal(p, &second)?])
    }
}

#[test]
fn the_leaky_variants_still_compute_correctly() {
    // The planted flaws leak without breaking results, as real bugs of this kind do.
    let (x, y) = (random_ring(&[9], 1), random_ring(&[9], 2));
    let want_first: Vec<u64> = x.data().iter().zip(y.data()).map(|(a, b)| a.wrapping_mul(*b)).collect();
    let want_second: Vec<u64> = x
        .data()
        .iter()
        .zip(y.data())
        .map(|(a, b)| a.wrapping_mul(*a).wrapping_sub(b.wrapping_mul(*b)))
        .collect();
    for name in ["leaky-2pc-mask-reuse", "leaky-3pc-no-rerandomise"] {
        let cfg = ProtocolConfig::load(&control(name)).unwrap();
        let out = run(
            &cfg,
            7,
            &TwoProducts {
                x: x.clone(),
                y: y.clone(),
            },
        );
        for party in &out.parties {
            assert_eq!(party.output[0].data(), &want_first[..], "{name}");
            assert_eq!(party.output[1].data(), &want_second[..], "{name}");
        }
    }
}

#[test]
fn leaky_variants_need_insecure_and_never_ship() {
    for name in testbed::protocol::config::known_names() {
        let cfg = ProtocolConfig::load(&name).unwrap();
        assert_eq!(
            cfg.leak, None,
            "{name} plants a leak: it belongs in tests/data/protocols/"
        );
    }
    for name in ["leaky-2pc-mask-reuse", "leaky-3pc-no-rerandomise"] {
        let text = std::fs::read_to_string(control(name)).unwrap();
        let without = text.replace("insecure: true", "insecure: false");
        let e = ProtocolConfig::from_yaml(&without, "leaky.yaml").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("insecure: true"), "{e}");
    }
}

#[test]
fn the_command_reports_json_and_exit_codes() {
    let leaky = control("leaky-2pc-mask-reuse");
    let (code, out, err) = testbed(&[
        "audit",
        "--protocol",
        &leaky,
        "--op",
        "mul",
        "--trials",
        "600",
        "--json",
    ]);
    assert_eq!(code, 1, "a leak exits 1: {err}");
    assert!(err.contains("DELIBERATELY LEAKY"), "loud warning: {err}");
    let j: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    for field in ["min_p", "party", "test", "slots", "endpoints", "tests", "leak"] {
        assert!(j.get(field).is_some(), "missing {field}: {j}");
    }
    assert!(j["min_p"].as_f64().unwrap() < 1e-6 && j["leak"] == true);
    assert!(!j["slots"].as_array().unwrap().is_empty());
    let (code, out, err) = testbed(&[
        "audit",
        "--protocol",
        "2pc-ttp",
        "--op",
        "truncation",
        "--trials",
        "400",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(j["leak"], false);
    for bad in [
        &["--op", "mul", "--trials", "5"][..],
        &["--op", "mul", "--threshold", "2"],
        &["--op", "mul", "--shape", "0"],
        &["--op", "nonesuch"],
    ] {
        let mut args = vec!["audit", "--protocol", "2pc-ttp"];
        args.extend_from_slice(bad);
        let (code, _, err) = testbed(&args);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: one line: {err}");
    }
    let (code, _, err) = testbed(&["audit", "--protocol", "no-such-protocol", "--op", "mul"]);
    assert_eq!(code, 2, "{err}");
}
