//! The critical-path round count against time: on a simulator that delays every delivery by a
//! fixed one-way latency L, a run takes its zero-latency wall time plus L per round on its critical
//! path, on every protocol variant, for chains of products and truncations, ReLU, softmax,
//! LayerNorm and a whole LeNet.

use std::time::Duration;
use testbed::bench::{OpKind, OpReport, OpSpec, random_model_input, run_op_delayed};
use testbed::data::model::ModelSource;
use testbed::launch::TransportKind;
use testbed::launch::model::{ModelRunSpec, run_model};
use testbed::nn::infer::WeightPrivacy;
use testbed::protocol::{BilinearOp, ProtocolConfig};

const LATENCY: Duration = Duration::from_millis(20);

/// The fastest repetition: the least disturbed by other tests sharing the machine.
fn fastest(r: &OpReport) -> f64 {
    r.wall_s_reps.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Checks that the delayed run's time `w` is the zero-latency time `w0` plus L per critical-path
/// round: `(D − 1)·L ≤ w ≤ w0 + 1.1·D·L + D·1 ms`. The lower bound holds on any machine (each
/// round's message leaves only after the previous one arrived; the one latency of slack is the
/// barrier's skew between the parties' starts), so a depth that over-counts by two fails it at
/// once; a depth that under-counts the real chain by even one round in ten breaks the upper one.
/// The 1 ms per round is the wake-up of a sleeping receiver on a busy 2-core machine. Other tests
/// running beside this one can still stretch one run past the upper bound, so that bound is an
/// `Err` the callers measure again for (a real under-count fails every attempt).
fn check_wall(what: &str, rounds: u64, w0: f64, w: f64) -> Result<(), String> {
    let chain = rounds as f64 * LATENCY.as_secs_f64();
    // A run's wall time starts when the LAST party starts, and the barrier before it lets the
    // parties go up to one latency apart: a chain that the first party starts at once (party 0's
    // credit to a dealer running ahead) may have one hop behind it when the clock starts.
    let floor = chain - LATENCY.as_secs_f64();
    assert!(
        w >= floor,
        "{what}: {w:.4} s is less than ({rounds} − 1) rounds × L = {floor:.4} s"
    );
    if w <= w0 + 1.1 * chain + rounds as f64 * 1e-3 {
        Ok(())
    } else {
        Err(format!(
            "{what}: {w:.4} s delayed vs {w0:.4} s + {rounds} rounds × {LATENCY:?} = {:.4} s",
            w0 + chain
        ))
    }
}

/// Runs `measure` (a zero-latency and a delayed run) until the upper bound holds, at most three
/// times; the counts must agree every time.
fn check(what: &str, measure: impl Fn() -> (OpReport, OpReport)) {
    let mut last = String::new();
    for _ in 0..3 {
        let (plain, delayed) = measure();
        assert_eq!(plain.rounds, delayed.rounds, "{what}: the delay changes no count");
        assert_eq!(plain.bytes_sent_per_party, delayed.bytes_sent_per_party, "{what}");
        match check_wall(what, delayed.rounds, fastest(&plain), fastest(&delayed)) {
            Ok(()) => return,
            Err(e) => last = e,
        }
    }
    panic!("{last} (three attempts)");
}

fn op(cfg: &ProtocolConfig, name: &str, shapes: &[&[usize]], delay: Option<Duration>) -> OpReport {
    let spec = OpSpec {
        op: OpKind::parse(name).unwrap(),
        shapes: shapes.iter().map(|s| s.to_vec()).collect(),
        conv: Default::default(),
        reps: 2,
        warmup: 0,
        on_demand: false,
        seed: Some(5),
        transport: TransportKind::Sim,
        insecure_share_seed: None,
    };
    run_op_delayed(cfg, &spec, false, delay).unwrap_or_else(|e| panic!("{}: {name}: {e}", cfg.name))
}

fn lenet(cfg: &ProtocolConfig, delay: Option<Duration>) -> OpReport {
    let shape = [1, 1, 28, 28];
    let source = ModelSource::new("lenet", 1);
    let graph = source.load(&shape).unwrap();
    let input = random_model_input(&graph, &shape, 1).unwrap();
    let run = run_model(
        cfg,
        &ModelRunSpec {
            name: "lenet",
            source: &source,
            graph: &graph,
            input: &input,
            weights: WeightPrivacy::Private,
            reps: 2,
            warmup: 0,
            on_demand: false,
            insecure_share_seed: None,
            transport: TransportKind::Sim,
            tls: false,
            sim_latency: delay,
            reveal_to: None,
        },
    );
    run.unwrap_or_else(|e| panic!("{}: lenet: {e}", cfg.name)).report
}

/// Three fixed-point products in a row, each truncated (mul → trunc → mul → trunc → mul → trunc):
/// the chain the per-party round count under-reports on 3pc-replicated, whose truncation is a
/// one-way message.
fn check_chain(cfg: &ProtocolConfig) {
    use testbed::protocol::{Job, Protocol, SessionOptions, Span, fixed_bilinear_many, simulate, wall_of};
    use testbed::ring::RingTensor;
    struct Chain;
    impl Job for Chain {
        type Output = (Span, testbed::net::MeterReport);
        fn run<P: Protocol>(&self, p: &mut P) -> testbed::Result<Self::Output> {
            let v = RingTensor::from_vec(&[64], vec![1 << 16; 64])?;
            let x = p.share(0, (p.id() == 0).then_some(&v), &[64])?;
            p.barrier()?;
            let before = p.meter();
            let span = Span::start_now();
            let y = fixed_bilinear_many(p, &[(&x, &x, BilinearOp::Mul)])?.remove(0);
            let z = fixed_bilinear_many(p, &[(&y, &x, BilinearOp::Mul)])?.remove(0);
            let _w = fixed_bilinear_many(p, &[(&z, &y, BilinearOp::Mul)])?.remove(0);
            Ok((span.end_now(), p.meter().since(&before)))
        }
    }
    // The fastest of three sessions, as for the ops.
    let run = |delay| {
        let opts = SessionOptions {
            sim_latency: delay,
            ..Default::default()
        };
        (0..3)
            .map(|_| {
                let out = simulate(cfg, &opts, &Chain).unwrap();
                let wall = wall_of(out.parties.iter().map(|p| &p.output.0));
                let path = testbed::net::critical_path(out.parties.iter().map(|p| &p.output.1));
                (wall, path.critical)
            })
            .fold((f64::INFINITY, 0), |(w, _), (v, r)| (w.min(v), r))
    };
    let what = format!("{}: mul-trunc chain", cfg.name);
    let mut last = String::new();
    for _ in 0..3 {
        let (w0, rounds) = run(None);
        let (w, delayed_rounds) = run(Some(LATENCY));
        assert_eq!(rounds, delayed_rounds);
        match check_wall(&what, rounds, w0, w) {
            Ok(()) => return,
            Err(e) => last = e,
        }
    }
    panic!("{last} (three attempts)");
}

#[test]
fn wall_time_grows_by_the_latency_per_critical_path_round_on_every_family() {
    let protocols: Vec<ProtocolConfig> = testbed::protocol::config::known_names()
        .iter()
        .map(|n| ProtocolConfig::load(n).unwrap())
        .collect();
    // One family after the other, so that they do not compete for the cores.
    {
        for cfg in &protocols {
            {
                check_chain(cfg);
                let cases: [(&str, Vec<&[usize]>); 3] = [
                    ("relu", vec![&[256]]),
                    ("softmax", vec![&[8, 10]]),
                    ("layernorm", vec![&[4, 16]]),
                ];
                for (name, shapes) in cases {
                    check(&format!("{}: {name}", cfg.name), || {
                        (op(cfg, name, &shapes, None), op(cfg, name, &shapes, Some(LATENCY)))
                    });
                }
                check(&format!("{}: lenet", cfg.name), || {
                    (lenet(cfg, None), lenet(cfg, Some(LATENCY)))
                });
            }
        }
    }
}
