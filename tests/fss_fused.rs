//! 2pc-fss's fused ReLU(x / 2^f) (`Protocol::trunc_relu_many` with `truncation: dealer`): right
//! against the plaintext, costing a ReLU's rounds and bytes, cheaper than truncating first.

use crate::common::{random_ring, run};
use testbed::Result;
use testbed::net::{MeterReport, critical_path};
use testbed::protocol::{AdditiveParty, DealerKind, Job, Protocol, ProtocolConfig, Truncation, reveal};
use testbed::ring::RingTensor;

struct TruncRelu {
    x: RingTensor,
    bits: u32,
}

impl Job for TruncRelu {
    type Output = (RingTensor, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        p.barrier()?;
        let before = p.meter();
        let y = p.trunc_relu_many(vec![x], self.bits)?.remove(0);
        let cost = p.meter().since(&before);
        Ok((reveal(p, &y)?, cost))
    }
}

fn config(truncation: &str, window: u32) -> ProtocolConfig {
    let yaml = format!("family: 2pc-fss\nparties: 2\nfss_window: {window}\ntruncation: {truncation}\n");
    ProtocolConfig::from_yaml(&yaml, "2pc-fss.yaml").unwrap()
}

/// Products at scale 2^2f up to |x| < 2^62, with the edges.
fn products(n: usize, bits: u32, seed: u64) -> RingTensor {
    let mut x = random_ring(&[n], seed);
    for (e, v) in x.data_mut().iter_mut().enumerate() {
        *v = ((*v as i64) >> (2 + e % 50)) as u64;
    }
    let f = 1i64 << bits;
    let edges = [0, 1, -1, f - 1, f, -f, -f - 1, (1 << 62) - 1, -(1 << 62)];
    for (e, edge) in edges.into_iter().enumerate().take(n) {
        x.data_mut()[e] = edge as u64;
    }
    x
}

#[test]
fn fused_truncation_and_relu_is_right_and_costs_a_relu() {
    let cfg = config("dealer", 64);
    // 70,000 elements: keys in three chunks.
    for (n, bits) in [(1, 16), (65, 16), (1000, 12), (70_000, 16), (300, 20)] {
        let x = products(n, bits, n as u64);
        let out = run(&cfg, 3, &TruncRelu { x: x.clone(), bits });
        let got = &out.parties[0].output.0;
        for (e, &v) in x.data().iter().enumerate() {
            let want = ((v as i64) >> bits).max(0);
            let g = got.data()[e] as i64;
            assert!(
                g == want || g == want + 1,
                "n={n} f={bits} x={}: {g} vs {want}",
                v as i64
            );
            assert!(v as i64 >= 0 || g == 0, "x={} < 0 gives {g}", v as i64);
        }
        let want = AdditiveParty::fss_trunc_relu_cost(n, 64);
        let path = critical_path(out.parties.iter().map(|p| &p.output.1));
        assert_eq!((path.critical, path.between_parties), (want.rounds, want.party_rounds));
        for party in &out.parties {
            assert_eq!(party.output.1.online(), want.bytes_per_party, "n={n}");
        }
        assert_eq!(out.dealer.as_ref().unwrap().offline(), want.offline_bytes, "n={n}");
        // A ReLU's online cost: 2 rounds between the parties, 8n + 8⌈n/64⌉ bytes.
        assert_eq!(
            (want.party_rounds, want.bytes_per_party),
            (2, 8 * (n + n.div_ceil(64)) as u64)
        );
    }
}

#[test]
fn the_fused_gate_saves_the_truncations_round_and_bytes() {
    let n = 4096;
    let x = products(n, 16, 11);
    let fused = run(&config("dealer", 64), 5, &TruncRelu { x: x.clone(), bits: 16 });
    // Local truncation is free online: the hook keeps its default (truncate, then ReLU).
    let local = run(&config("local", 64), 5, &TruncRelu { x: x.clone(), bits: 16 });
    // What truncating first (dealer truncation) and then a ReLU would cost, by their formulas.
    let trunc = AdditiveParty::truncate_cost(2, Truncation::Dealer, DealerKind::Ttp, n);
    let relu = AdditiveParty::fss_relu_cost(n, 64);
    let unfused = trunc.then(relu);
    let fused_path = critical_path(fused.parties.iter().map(|p| &p.output.1));
    assert_eq!(fused_path.between_parties + 1, unfused.party_rounds);
    assert_eq!(
        fused.parties[0].output.1.online() + 8 * n as u64,
        unfused.bytes_per_party
    );
    let local_path = critical_path(local.parties.iter().map(|p| &p.output.1));
    assert_eq!(local_path.between_parties, fused_path.between_parties);
    // Both right where local truncation is (it wraps with probability |x|/2^64, so values near
    // 2^62 are the fused gate's alone).
    let pairs = fused.parties[0]
        .output
        .0
        .data()
        .iter()
        .zip(local.parties[0].output.0.data());
    for ((a, b), x) in pairs.zip(x.data()) {
        if (*x as i64).unsigned_abs() < 1 << 40 {
            assert!((*a as i64 - *b as i64).abs() <= 1, "x={}: {a} vs {b}", *x as i64);
        }
    }
}

/// Wav2Letter's convolutions each feed a ReLU: the pass joins them, the plaintext result is the
/// same, and on 2pc-fss with dealer truncation each joined pair saves its truncation's round
/// and bytes against the same graph unjoined, while matching the plaintext.
#[test]
fn the_conv_relu_pass_fuses_and_2pc_fss_uses_it() {
    use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
    use testbed::nn::passes::fuse_conv_relu;
    use testbed::nn::tensor::F32Tensor;
    use testbed::nn::zoo;
    let shape = [1, 40, 20];
    let g = zoo::build("wav2letter", &shape, 1).unwrap();
    let mut fused = g.clone();
    let joined = fuse_conv_relu(&mut fused).unwrap();
    assert!(joined >= 5, "{joined} pairs");
    assert_eq!(fused.nodes.iter().filter(|n| n.relu_after).count(), joined);
    assert_eq!(fused.nodes.len() + joined, g.nodes.len());
    let x = Input::F32(
        F32Tensor::from_vec(
            &shape,
            crate::common::random_reals(800, -1.0, 1.0, 2)
                .iter()
                .map(|&v| v as f32)
                .collect(),
        )
        .unwrap(),
    );
    let want = run_plain(&g, &x).unwrap();
    assert_eq!(
        run_plain(&fused, &x).unwrap(),
        want,
        "the pass changes nothing in plaintext"
    );
    let cfg = config("dealer", 64);
    let mut costs = Vec::new();
    for graph in [&fused, &g] {
        let out = run(
            &cfg,
            3,
            &InferJob::local(graph, std::slice::from_ref(&x), WeightPrivacy::Public, 1),
        );
        let got = &crate::common::revealed(&out)[0];
        let err = got.max_abs_diff(&want);
        let scale = want.data().iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(err <= 2e-3 * scale, "error {err:.3e} at scale {scale:.3e}");
        let meters: Vec<MeterReport> = out.parties.iter().map(|p| p.output.total.meter.clone()).collect();
        costs.push((critical_path(&meters).between_parties, meters[0].online()));
    }
    let ((fused_rounds, fused_bytes), (plain_rounds, plain_bytes)) = (costs[0], costs[1]);
    // The convolutions run in sequence: one truncation round each, 8 bytes per output element.
    assert_eq!(plain_rounds - fused_rounds, joined as u64);
    assert!(plain_bytes > fused_bytes && (plain_bytes - fused_bytes) % 8 == 0);
}

/// The MLP's hidden Gemm → ReLU pairs join the same way (private weights: the bias is a share).
#[test]
fn gemm_relu_pairs_fuse_too() {
    use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
    use testbed::nn::passes::fuse_conv_relu;
    use testbed::nn::tensor::F32Tensor;
    use testbed::nn::zoo;
    let shape = [3, 20];
    let g = zoo::build("mlp", &shape, 1).unwrap();
    let mut fused = g.clone();
    let joined = fuse_conv_relu(&mut fused).unwrap();
    assert!(joined >= 1, "{joined} pairs");
    let x = Input::F32(
        F32Tensor::from_vec(
            &shape,
            crate::common::random_reals(60, -1.0, 1.0, 5)
                .iter()
                .map(|&v| v as f32)
                .collect(),
        )
        .unwrap(),
    );
    let want = run_plain(&g, &x).unwrap();
    assert_eq!(run_plain(&fused, &x).unwrap(), want);
    let cfg = config("dealer", 64);
    let mut rounds = Vec::new();
    for graph in [&fused, &g] {
        let out = run(
            &cfg,
            4,
            &InferJob::local(graph, std::slice::from_ref(&x), WeightPrivacy::Private, 1),
        );
        let err = crate::common::revealed(&out)[0].max_abs_diff(&want);
        let scale = want.data().iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(err <= 2e-3 * scale, "error {err:.3e} at scale {scale:.3e}");
        let meters: Vec<MeterReport> = out.parties.iter().map(|p| p.output.total.meter.clone()).collect();
        rounds.push(critical_path(&meters).between_parties);
    }
    assert_eq!(rounds[1] - rounds[0], joined as u64);
}

/// `fss_relu_rounds: 1`: Wav2Letter (every convolution feeds a ReLU) matches the plaintext, and
/// each ReLU costs one party round instead of two, 8⌈n/64⌉ bytes less, against the two-round gate
/// (local truncation both times, so no fused gate is involved).
#[test]
fn one_round_relu_runs_a_model_and_saves_a_round_per_relu() {
    use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain};
    use testbed::nn::tensor::F32Tensor;
    use testbed::nn::zoo;
    let shape = [1, 40, 20];
    let g = zoo::build("wav2letter", &shape, 1).unwrap();
    let relus = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, testbed::nn::graph::Op::Relu))
        .count();
    assert!(relus >= 5, "{relus} ReLUs");
    let x = Input::F32(
        F32Tensor::from_vec(
            &shape,
            crate::common::random_reals(800, -1.0, 1.0, 7)
                .iter()
                .map(|&v| v as f32)
                .collect(),
        )
        .unwrap(),
    );
    let want = run_plain(&g, &x).unwrap();
    let mut costs = Vec::new();
    for rounds in [1, 2] {
        let yaml = format!("family: 2pc-fss\nparties: 2\nfss_relu_rounds: {rounds}\n");
        let cfg = ProtocolConfig::from_yaml(&yaml, "2pc-fss.yaml").unwrap();
        let out = run(
            &cfg,
            5,
            &InferJob::local(&g, std::slice::from_ref(&x), WeightPrivacy::Public, 1),
        );
        let err = crate::common::revealed(&out)[0].max_abs_diff(&want);
        let scale = want.data().iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            err <= 2e-3 * scale,
            "{rounds} round(s): error {err:.3e} at scale {scale:.3e}"
        );
        let meters: Vec<MeterReport> = out.parties.iter().map(|p| p.output.total.meter.clone()).collect();
        costs.push((critical_path(&meters).between_parties, meters[0].online()));
    }
    let ((one_rounds, one_bytes), (two_rounds, two_bytes)) = (costs[0], costs[1]);
    // Every ReLU layer saves its round; so does every max the library builds on the ReLU hook
    // (max(a, b) = b + ReLU(a − b)), hence at least one per ReLU node.
    assert!(two_rounds - one_rounds >= relus as u64, "{two_rounds} → {one_rounds}");
    assert!(two_bytes > one_bytes && (two_bytes - one_bytes) % 8 == 0);
}
