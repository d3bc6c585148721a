//! Protocol conformance: every variant in protocols/ is checked for exact sharing, exact Beaver
//! products, truncation within one ulp, binary AND, and costs equal to the declared formulas.

use crate::common::{all_protocols, random_reals, random_ring, run};
use testbed::Result;
use testbed::net::{MeterReport, critical_path};
use testbed::protocol::{
    AdditiveParty, BilinearOp, DealerKind, Family, Job, Protocol, ProtocolConfig, SessionOptions, fixed_bilinear_many,
    reveal,
};
use testbed::ring::{Conv1dParams, Conv2dParams, RingTensor, decode, encode};

/// Shares one tensor from each party, reveals them all, and reveals the first to each party.
struct ShareReveal {
    values: Vec<RingTensor>,
    bits: bool,
}

impl Job for ShareReveal {
    type Output = (Vec<RingTensor>, Vec<Option<RingTensor>>, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let n = p.parties();
        p.barrier()?; // the reading starts here, after the seed exchange
        let before = p.meter();
        let mut opened = Vec::new();
        let mut to = Vec::new();
        for owner in 0..n {
            let v = &self.values[owner % self.values.len()];
            let mine = (p.id() == owner).then_some(v);
            if self.bits {
                let s = p.share_bits(owner, mine, v.shape())?;
                opened.extend(p.reveal_bits_many(&[&s])?);
            } else {
                let s = p.share(owner, mine, v.shape())?;
                opened.push(reveal(p, &s)?);
                to.push(p.reveal_to(&s, (owner + 1) % n)?);
            }
        }
        Ok((opened, to, p.meter().since(&before)))
    }
}

#[test]
fn reveal_of_share_is_the_value_for_every_owner() {
    for cfg in all_protocols() {
        for bits in [false, true] {
            let values: Vec<_> = (0..3).map(|k| random_ring(&[3, 5], 10 + k)).collect();
            let out = run(
                &cfg,
                1,
                &ShareReveal {
                    values: values.clone(),
                    bits,
                },
            );
            for party in &out.parties {
                for (owner, got) in party.output.0.iter().enumerate() {
                    assert_eq!(got, &values[owner % 3], "{} owner {owner} bits {bits}", cfg.name);
                }
            }
            if !bits {
                for (owner, _) in values.iter().enumerate().take(cfg.parties) {
                    let target = (owner + 1) % cfg.parties;
                    for (id, party) in out.parties.iter().enumerate() {
                        let got = &party.output.1[owner];
                        assert_eq!(got.is_some(), id == target);
                        if let Some(t) = got {
                            assert_eq!(t, &values[owner % 3]);
                        }
                    }
                }
            }
            // Additive input sharing is free and each reveal to all one round on the critical
            // path; a reveal to one party is a one-way round of its own. Replicated input sharing
            // is a one-way message from the owner (a round).
            // A reveal to one party overlaps the next sharing's and reveal's sends of the parties
            // that did not wait for it, so it adds at most one round per owner.
            let path = critical_path(out.parties.iter().map(|p| &p.output.2));
            assert_eq!(path.critical, path.between_parties, "{}: no dealer involved", cfg.name);
            let n = cfg.parties as u64;
            let sharing = u64::from(cfg.family == Family::ThreePcReplicated);
            let rounds = path.critical;
            if bits {
                assert_eq!(rounds, (1 + sharing) * n, "{}", cfg.name);
            } else {
                assert!(
                    ((1 + sharing) * n..=(2 + sharing) * n).contains(&rounds),
                    "{}: {rounds}",
                    cfg.name
                );
            }
        }
    }
}

/// One product of x (party 0's) and y (party 1's), revealed, with the op's own meter reading.
struct Product {
    x: RingTensor,
    y: RingTensor,
    op: Option<BilinearOp>, // None = square of x
    fixed: bool,
}

impl Job for Product {
    type Output = (RingTensor, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        let y = p.share(1, (p.id() == 1).then_some(&self.y), self.y.shape())?;
        p.barrier()?; // closes the rounds of input sharing, so the reading is the op's alone
        let before = p.meter();
        let z = match (self.op, self.fixed) {
            (Some(op), false) => p.bilinear_many(&[(&x, &y, op)])?.remove(0),
            (Some(op), true) => fixed_bilinear_many(p, &[(&x, &y, op)])?.remove(0),
            (None, false) => p.square_many(&[&x])?.remove(0),
            (None, true) => testbed::protocol::fixed_square_many(p, &[&x])?.remove(0),
        };
        let cost = p.meter().since(&before);
        Ok((reveal(p, &z)?, cost))
    }
}

fn conv2d() -> BilinearOp {
    BilinearOp::Conv2d(Conv2dParams {
        stride: [2, 1],
        padding: [1, 2],
        dilation: [1, 2],
        groups: 2,
    })
}

fn conv1d() -> BilinearOp {
    BilinearOp::Conv1d(Conv1dParams {
        stride: 2,
        padding: 1,
        dilation: 1,
        groups: 1,
    })
}

fn conv2d_params() -> Conv2dParams {
    match conv2d() {
        BilinearOp::Conv2d(p) => p,
        _ => unreachable!(),
    }
}

fn conv2d_grad_weight() -> BilinearOp {
    BilinearOp::Conv2dGradWeight {
        params: conv2d_params(),
        kernel: [3, 3],
    }
}

fn conv2d_grad_input() -> BilinearOp {
    BilinearOp::Conv2dGradInput {
        params: conv2d_params(),
        input: [7, 6],
    }
}

/// (x shape, y shape, op) cases shared by the exactness and cost tests.
fn product_cases() -> Vec<(Vec<usize>, Vec<usize>, Option<BilinearOp>)> {
    vec![
        (vec![1000], vec![1000], Some(BilinearOp::Mul)),
        (vec![7, 13], vec![7, 13], Some(BilinearOp::Mul)),
        (vec![17, 33], vec![33, 9], Some(BilinearOp::MatMul)),
        (vec![3, 5, 4], vec![3, 4, 6], Some(BilinearOp::MatMul)),
        (vec![2, 4, 7, 6], vec![6, 2, 3, 3], Some(conv2d())),
        (vec![2, 3, 11], vec![4, 3, 3], Some(conv1d())),
        // Training: the two convolution gradients (input x gradient, and gradient x weight).
        (vec![2, 4, 7, 6], vec![2, 6, 4, 6], Some(conv2d_grad_weight())),
        (vec![2, 6, 4, 6], vec![6, 2, 3, 3], Some(conv2d_grad_input())),
        (vec![257], vec![257], None),
    ]
}

#[test]
fn beaver_products_are_exact_in_the_ring() {
    for cfg in all_protocols() {
        for (k, (xs, ys, op)) in product_cases().into_iter().enumerate() {
            let x = random_ring(&xs, 100 + k as u64);
            let y = random_ring(&ys, 200 + k as u64);
            let want = match op {
                Some(op) => op.apply(&x, &y).unwrap(),
                None => x.mul(&x).unwrap(),
            };
            let out = run(&cfg, 7, &Product { x, y, op, fixed: false });
            for party in &out.parties {
                assert_eq!(party.output.0, want, "{} {:?}", cfg.name, op);
            }
        }
    }
}

/// Elements of a product's output.
fn z_len(x: &RingTensor, y: &RingTensor, op: Option<BilinearOp>) -> usize {
    match op {
        Some(op) => op.apply(x, y).unwrap().len(),
        None => x.len(),
    }
}

#[test]
fn every_product_costs_exactly_its_formula() {
    for cfg in all_protocols() {
        if !matches!(cfg.family, Family::TwoPcTtp | Family::TwoPcFss | Family::NpcAdditive) {
            continue;
        }
        for (xs, ys, op) in product_cases() {
            let (x, y) = (random_ring(&xs, 1), random_ring(&ys, 2));
            let out = run(
                &cfg,
                3,
                &Product {
                    x: x.clone(),
                    y: y.clone(),
                    op,
                    fixed: true,
                },
            );
            let n = cfg.parties;
            let want = match op {
                Some(op) => {
                    let z = op.apply(&x, &y).unwrap().len();
                    AdditiveParty::bilinear_cost(n, cfg.dealer, x.len(), y.len(), z)
                }
                None => AdditiveParty::square_cost(n, cfg.dealer, x.len()),
            }
            .then(AdditiveParty::truncate_cost(
                n,
                cfg.truncation(),
                cfg.dealer,
                z_len(&x, &y, op),
            ));
            let path = critical_path(out.parties.iter().map(|p| &p.output.1));
            assert_eq!(path.critical, want.rounds, "{} {:?}", cfg.name, op);
            assert_eq!(path.between_parties, want.party_rounds, "{} {:?}", cfg.name, op);
            for party in &out.parties {
                let m = &party.output.1;
                assert_eq!(m.online(), want.bytes_per_party, "{} {:?}", cfg.name, op);
                assert_eq!(m.bytes_online[party.report.id], 0);
            }
            let offline = out.dealer.as_ref().map_or(0, |d| d.offline());
            assert_eq!(offline, want.offline_bytes, "{} {:?}", cfg.name, op);
            if let Some(d) = &out.dealer {
                // Only party 0 hears from the dealer.
                assert!(d.bytes_offline[1..].iter().all(|&b| b == 0));
            }
        }
    }
}

/// y (party 0's, a weight) prepared once, then one product per x (party 1's), each revealed, with
/// the preparation's and each product's meter readings.
struct PreparedProducts {
    xs: Vec<RingTensor>,
    y: RingTensor,
    op: BilinearOp,
}

impl Job for PreparedProducts {
    type Output = (Vec<RingTensor>, MeterReport, Vec<MeterReport>);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let y = p.share(0, (p.id() == 0).then_some(&self.y), self.y.shape())?;
        p.barrier()?;
        let before = p.meter();
        let prep = p.prepare_many(&[&y])?.remove(0);
        let prepare = p.meter().since(&before);
        let (mut outs, mut costs) = (Vec::new(), Vec::new());
        for x in &self.xs {
            let last = p.parties() - 1;
            let x = p.share(last, (p.id() == last).then_some(x), x.shape())?;
            p.barrier()?;
            let before = p.meter();
            let z = p.bilinear_prepared_many(&[(&x, &y, &prep, self.op)])?.remove(0);
            costs.push(p.meter().since(&before));
            outs.push(reveal(p, &z)?);
        }
        Ok((outs, prepare, costs))
    }
}

#[test]
fn prepared_products_are_exact_and_cost_their_formulas() {
    use testbed::protocol::ReplicatedParty;
    for cfg in all_protocols() {
        for (k, (xs, ys, op)) in product_cases().into_iter().enumerate() {
            let Some(op) = op else { continue };
            let y = random_ring(&ys, 300 + k as u64);
            // Two products with the same prepared y: fresh masks each time, both exact.
            let xs: Vec<RingTensor> = (0..2).map(|i| random_ring(&xs, 400 + 10 * k as u64 + i)).collect();
            let out = run(
                &cfg,
                9,
                &PreparedProducts {
                    xs: xs.clone(),
                    y: y.clone(),
                    op,
                },
            );
            let z = op.apply(&xs[0], &y).unwrap().len();
            let n = cfg.parties;
            let (prepare, product) = match cfg.family {
                Family::ThreePcReplicated => (Default::default(), ReplicatedParty::bilinear_cost(z)),
                _ => (
                    AdditiveParty::prepare_cost(n, y.len()),
                    AdditiveParty::bilinear_prepared_cost(n, cfg.dealer, xs[0].len(), z),
                ),
            };
            let what = format!("{} {op:?}", cfg.name);
            let prep_path = critical_path(out.parties.iter().map(|p| &p.output.1));
            assert_eq!(prep_path.critical, prepare.rounds, "{what}");
            assert_eq!(prep_path.between_parties, prepare.party_rounds, "{what}");
            for k in 0..xs.len() {
                let path = critical_path(out.parties.iter().map(|p| &p.output.2[k]));
                assert_eq!(path.critical, product.rounds, "{what}");
                assert_eq!(path.between_parties, product.party_rounds, "{what}");
            }
            for party in &out.parties {
                let (outs, prep_cost, costs) = &party.output;
                for (x, got) in xs.iter().zip(outs) {
                    assert_eq!(*got, op.apply(x, &y).unwrap(), "{} {op:?}", cfg.name);
                }
                let what = format!("{} {op:?} party {}", cfg.name, party.report.id);
                assert_eq!(prep_cost.online(), prepare.bytes_per_party, "{what}");
                for c in costs {
                    assert_eq!(c.online(), product.bytes_per_party, "{what}");
                }
            }
            // The preparation has nothing offline; each product has its own correction.
            let offline = out.dealer.as_ref().map_or(0, |d| d.offline());
            assert_eq!(
                offline,
                prepare.offline_bytes + 2 * product.offline_bytes,
                "{}",
                cfg.name
            );
        }
    }
}

#[test]
fn a_prepared_product_sends_only_the_activation_mask() {
    // 2pc-ttp, [m,k]·[k,p] with the weight prepared: 8mk per party online (not 8(mk + kp)), 8mp
    // offline, and the one-time opening of the weight costs 8kp.
    let (m, k, p) = (3, 40, 50);
    let c = AdditiveParty::bilinear_prepared_cost(2, DealerKind::Ttp, m * k, m * p);
    assert_eq!(
        (c.rounds, c.party_rounds, c.bytes_per_party, c.offline_bytes),
        (2, 1, 8 * (m * k) as u64, 8 * (m * p) as u64)
    );
    let s = AdditiveParty::prepare_cost(2, k * p);
    assert_eq!(
        (s.rounds, s.party_rounds, s.bytes_per_party, s.offline_bytes),
        (1, 1, 8 * (k * p) as u64, 0)
    );
}

#[test]
fn the_issue_cost_figures_hold_for_2pc_ttp() {
    // mul = 1 round between the parties (2 with the dealer's answer on the path), 16n per party
    // and 8n offline; matmul [m,k]x[k,p] = 8(mk+kp) and 8mp; conv2d = 8(|X|+|W|) and 8|Y|.
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let n = 1000;
    let c = AdditiveParty::bilinear_cost(2, DealerKind::Ttp, n, n, n);
    assert_eq!(
        (c.rounds, c.party_rounds, c.bytes_per_party, c.offline_bytes),
        (2, 1, 16 * n as u64, 8 * n as u64)
    );
    let (m, k, p) = (17, 33, 9);
    let out = run(
        &cfg,
        5,
        &Product {
            x: random_ring(&[m, k], 1),
            y: random_ring(&[k, p], 2),
            op: Some(BilinearOp::MatMul),
            fixed: true,
        },
    );
    assert_eq!(out.parties[0].output.1.online(), 8 * (m * k + k * p) as u64);
    assert_eq!(out.dealer.unwrap().offline(), 8 * (m * p) as u64);
}

#[test]
fn truncated_products_are_within_one_ulp() {
    let ulp = 1.0 / 65536.0;
    for cfg in all_protocols() {
        let f = cfg.precision_bits;
        let n = 4000;
        let xr = random_reals(n, -30.0, 30.0, 1);
        let yr = random_reals(n, -30.0, 30.0, 2);
        let x = encode(&xr, &[n], f).unwrap();
        let y = encode(&yr, &[n], f).unwrap();
        // The exact product of the encoded values, at scale 2^f.
        let exact: Vec<f64> = decode(&x, f).iter().zip(decode(&y, f)).map(|(a, b)| a * b).collect();
        let out = run(
            &cfg,
            11,
            &Product {
                x,
                y,
                op: Some(BilinearOp::Mul),
                fixed: true,
            },
        );
        let got = decode(&out.parties[0].output.0, f);
        for (g, e) in got.iter().zip(&exact) {
            assert!((g - e).abs() <= ulp, "{}: {g} vs {e}", cfg.name);
        }
    }
}

#[test]
fn local_truncation_fails_at_the_documented_rate() {
    // Products of magnitude 2^60 (before the shift) wrap with probability |x|/2^64 = 1/16 per element.
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let n = 40_000;
    let v = 1u64 << 44;
    let x = RingTensor::from_vec(&[n], vec![v; n]).unwrap();
    let one = RingTensor::from_vec(&[n], vec![1u64 << 16; n]).unwrap();
    let out = run(
        &cfg,
        13,
        &Product {
            x,
            y: one,
            op: Some(BilinearOp::Mul),
            fixed: true,
        },
    );
    let got = out.parties[0].output.0.data();
    let wrong = got.iter().filter(|&&g| g.abs_diff(v) > 1).count() as f64 / n as f64;
    let p = (v as f64 * 65536.0) / 2f64.powi(64);
    assert!((wrong - p).abs() < 0.01, "observed wrap rate {wrong}, expected {p}");
}

/// AND of random 64-bit lanes.
struct And {
    x: RingTensor,
    y: RingTensor,
}

impl Job for And {
    type Output = (RingTensor, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share_bits(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        let y = p.share_bits(1, (p.id() == 1).then_some(&self.y), self.y.shape())?;
        p.barrier()?; // closes the rounds of input sharing, so the reading is the op's alone
        let before = p.meter();
        let z = p.and_many(&[(&x, &y)])?.remove(0);
        let cost = p.meter().since(&before);
        let masked = p.xor_public(&z, &RingTensor::full(self.x.shape(), 0xff))?;
        Ok((p.reveal_bits_many(&[&masked])?.remove(0), cost))
    }
}

#[test]
fn and_is_exact_and_costs_its_formula() {
    for cfg in all_protocols() {
        let x = random_ring(&[501], 5);
        let y = random_ring(&[501], 6);
        let want = x.and(&y).unwrap().xor_scalar(0xff);
        let out = run(&cfg, 9, &And { x, y });
        let c = match cfg.family {
            Family::ThreePcReplicated => testbed::protocol::Cost::round(false, 8 * 501, 0),
            _ => AdditiveParty::and_cost(cfg.parties, cfg.dealer, 501),
        };
        let path = critical_path(out.parties.iter().map(|p| &p.output.1));
        assert_eq!(
            (path.critical, path.between_parties),
            (c.rounds, c.party_rounds),
            "{}",
            cfg.name
        );
        for party in &out.parties {
            assert_eq!(party.output.0, want);
            assert_eq!(party.output.1.online(), c.bytes_per_party, "{}", cfg.name);
        }
    }
}

#[test]
fn same_seed_gives_the_same_shares() {
    struct Shares;
    impl Job for Shares {
        type Output = String;
        fn run<P: Protocol>(&self, p: &mut P) -> Result<String> {
            let v = RingTensor::from_vec(&[4], vec![1, 2, 3, 4])?;
            let x = p.share(0, (p.id() == 0).then_some(&v), &[4])?;
            // The party's own share of x², which depends on every seed in the session.
            let z = p.bilinear_many(&[(&x, &x, BilinearOp::Mul)])?.remove(0);
            Ok(format!("{z:?}"))
        }
    }
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let a = run(&cfg, 42, &Shares);
    let b = run(&cfg, 42, &Shares);
    assert_eq!(a.parties[1].output, b.parties[1].output);
    let c = run(&cfg, 43, &Shares);
    assert_ne!(a.parties[1].output, c.parties[1].output);
    assert_eq!(a.parties[0].report, b.parties[0].report);
}

#[test]
fn a_failing_party_makes_the_session_fail_without_hanging() {
    struct Fails;
    impl Job for Fails {
        type Output = ();
        fn run<P: Protocol>(&self, p: &mut P) -> Result<()> {
            if p.id() == 1 {
                return Err(testbed::Error::invalid("test", "party 1 gives up"));
            }
            let x = p.share(0, Some(&RingTensor::zeros(&[2])), &[2])?;
            reveal(p, &x)?;
            Ok(())
        }
    }
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let opts = SessionOptions {
        insecure_share_seed: Some(1),
        timeout: std::time::Duration::from_secs(5),
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let err = testbed::protocol::simulate(&cfg, &opts, &Fails)
        .unwrap_err()
        .to_string();
    assert!(err.contains("party 1 gives up"), "{err}");
    assert!(t0.elapsed().as_secs() < 5);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn cfg() -> ProtocolConfig {
        ProtocolConfig::load("2pc-ttp").unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn share_then_reveal_is_identity(
            dims in proptest::collection::vec(1usize..6, 1..4),
            seed in any::<u64>(),
            owner_seed in any::<u64>(),
        ) {
            let values = vec![random_ring(&dims, seed), random_ring(&dims, owner_seed)];
            let out = run(&cfg(), seed, &ShareReveal { values: values.clone(), bits: false });
            for party in &out.parties {
                prop_assert_eq!(&party.output.0[0], &values[0]);
                prop_assert_eq!(&party.output.0[1], &values[1]);
            }
        }

        #[test]
        fn beaver_mul_and_matmul_are_exact(m in 1usize..9, k in 1usize..9, n in 1usize..9, seed in any::<u64>()) {
            let x = random_ring(&[m, k], seed);
            let y = random_ring(&[k, n], seed ^ 1);
            let want = x.matmul(&y).unwrap();
            let out = run(&cfg(), seed, &Product { x: x.clone(), y, op: Some(BilinearOp::MatMul), fixed: false });
            prop_assert_eq!(&out.parties[0].output.0, &want);
            let y2 = random_ring(&[m, k], seed ^ 2);
            let want = x.mul(&y2).unwrap();
            let out = run(&cfg(), seed, &Product { x, y: y2, op: Some(BilinearOp::Mul), fixed: false });
            prop_assert_eq!(&out.parties[1].output.0, &want);
        }

        #[test]
        fn fixed_point_mul_is_within_one_ulp(a in -1000.0f64..1000.0, b in -1000.0f64..1000.0, seed in any::<u64>()) {
            let f = 16;
            let x = encode(&[a], &[1], f).unwrap();
            let y = encode(&[b], &[1], f).unwrap();
            let exact = decode(&x, f)[0] * decode(&y, f)[0];
            let out = run(&cfg(), seed, &Product { x, y, op: Some(BilinearOp::Mul), fixed: true });
            let got = decode(&out.parties[0].output.0, f)[0];
            // At most 1 ulp, except with probability |x·y|·2^32/2^64 < 2^-12 per element (a wrap).
            prop_assume!((got - exact).abs() < 1.0);
            prop_assert!((got - exact).abs() <= 1.0 / 65536.0, "{} vs {}", got, exact);
        }
    }
}

#[test]
fn replicated_products_and_truncation_cost_their_formulas() {
    use testbed::protocol::ReplicatedParty;
    let cfg = ProtocolConfig::load("3pc-replicated").unwrap();
    for (xs, ys, op) in product_cases() {
        let (x, y) = (random_ring(&xs, 1), random_ring(&ys, 2));
        let z = z_len(&x, &y, op);
        // The ring product alone: 1 round, 8|z| bytes sent by every party, nothing offline.
        let raw = run(
            &cfg,
            3,
            &Product {
                x: x.clone(),
                y: y.clone(),
                op,
                fixed: false,
            },
        );
        let want = ReplicatedParty::bilinear_cost(z);
        let path = critical_path(raw.parties.iter().map(|p| &p.output.1));
        assert_eq!(
            (path.critical, path.between_parties),
            (want.rounds, want.party_rounds),
            "{op:?}"
        );
        for party in &raw.parties {
            assert_eq!(party.output.1.online(), want.bytes_per_party, "{op:?}");
        }
        assert!(raw.dealer.is_none());
        // With truncation, fused: still one round; parties 0 and 1 send 8|z| (their product
        // shares to each other), party 2 sends 16|z| (z_2 − r to both) online and the truncation
        // pair's component, 16|z|, offline.
        let fixed = run(&cfg, 3, &Product { x, y, op, fixed: true });
        let f = ReplicatedParty::fixed_bilinear_cost(z);
        let path = critical_path(fixed.parties.iter().map(|p| &p.output.1));
        assert_eq!(
            (path.critical, path.between_parties),
            (f.rounds, f.party_rounds),
            "{op:?}"
        );
        let online: Vec<u64> = fixed.parties.iter().map(|p| p.output.1.online()).collect();
        let offline: Vec<u64> = fixed.parties.iter().map(|p| p.output.1.offline()).collect();
        let zb = 8 * z as u64;
        assert_eq!(online, vec![zb, zb, 2 * zb], "{op:?}");
        assert_eq!(*online.iter().max().unwrap(), f.bytes_per_party, "{op:?}");
        assert_eq!(offline, vec![0, 0, f.offline_bytes], "{op:?}");
        // A truncation alone (of replicated shares): one round, party 1 sends 8|z|.
        struct Trunc(RingTensor);
        impl Job for Trunc {
            type Output = MeterReport;
            fn run<P: Protocol>(&self, p: &mut P) -> Result<MeterReport> {
                let x = p.share(0, (p.id() == 0).then_some(&self.0), self.0.shape())?;
                p.barrier()?;
                let before = p.meter();
                let y = p.truncate_many(vec![x], 16)?;
                let cost = p.meter().since(&before);
                reveal(p, &y[0])?;
                Ok(cost)
            }
        }
        let trunc = run(&cfg, 3, &Trunc(random_ring(&[z], 3)));
        let t = ReplicatedParty::truncate_cost(z);
        let path = critical_path(trunc.parties.iter().map(|p| &p.output));
        assert_eq!(path.critical, t.rounds, "{op:?}");
        let sent: Vec<u64> = trunc.parties.iter().map(|p| p.output.online()).collect();
        assert_eq!(sent, vec![0, t.bytes_per_party, 0], "{op:?}");
    }
}

#[test]
fn reveal_costs_its_formula_on_every_family() {
    use testbed::protocol::ReplicatedParty;
    struct Open(RingTensor);
    impl Job for Open {
        type Output = MeterReport;
        fn run<P: Protocol>(&self, p: &mut P) -> Result<MeterReport> {
            let x = p.share(0, (p.id() == 0).then_some(&self.0), self.0.shape())?;
            p.barrier()?;
            let before = p.meter();
            reveal(p, &x)?;
            Ok(p.meter().since(&before))
        }
    }
    for cfg in all_protocols() {
        let n = 333;
        let out = run(&cfg, 4, &Open(random_ring(&[n], 8)));
        let want = match cfg.family {
            Family::ThreePcReplicated => ReplicatedParty::reveal_cost(n),
            _ => AdditiveParty::reveal_cost(cfg.parties, n),
        };
        let path = critical_path(out.parties.iter().map(|p| &p.output));
        assert_eq!(
            (path.critical, path.between_parties),
            (want.rounds, want.party_rounds),
            "{}",
            cfg.name
        );
        for party in &out.parties {
            assert_eq!(party.output.online(), want.bytes_per_party, "{}", cfg.name);
        }
    }
}

/// One FSS gate on a tensor shared by party 0: the opened result and the gate's meter reading.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Gate {
    Ltz,
    Relu,
    Eqz,
}

struct FssGate {
    x: RingTensor,
    gate: Gate,
}

impl Job for FssGate {
    type Output = (RingTensor, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        p.barrier()?;
        let before = p.meter();
        if self.gate == Gate::Relu {
            let y = p.relu_many(&[&x])?.remove(0);
            let cost = p.meter().since(&before);
            return Ok((reveal(p, &y)?, cost));
        }
        let b = if self.gate == Gate::Ltz {
            p.ltz_bits_many(&[&x])?.remove(0)
        } else {
            p.eqz_bits_many(&[&x])?.remove(0)
        };
        let cost = p.meter().since(&before);
        Ok((p.reveal_bits_many(&[&b])?.remove(0), cost))
    }
}

/// [x < 0] as integer shares (`Protocol::ltz_many`), revealed, with its cost.
struct LtzInt {
    x: RingTensor,
}

impl Job for LtzInt {
    type Output = (RingTensor, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        p.barrier()?;
        let before = p.meter();
        let y = p.ltz_many(&[&x])?.remove(0);
        let cost = p.meter().since(&before);
        Ok((reveal(p, &y)?, cost))
    }
}

/// Random ring values inside the comparison window (|x| < 2^(k−1)), with the edges and zeros.
fn window_values(n: usize, window: u32, seed: u64) -> RingTensor {
    let mut x = random_ring(&[n], seed);
    x.map_inplace(|v| ((v as i64) >> (65 - window)) as u64);
    for v in x.data_mut().iter_mut().step_by(7) {
        *v = 0;
    }
    let half = 1i64 << (window - 1);
    for (e, edge) in [0, -1, 1, half - 1, -half].into_iter().enumerate().take(n) {
        x.data_mut()[e] = edge as u64;
    }
    x
}

#[test]
fn fss_sign_bits_zero_tests_and_relu_are_exact_and_cost_their_formulas() {
    for window in [64u32, 32, 9] {
        let cfg = ProtocolConfig::from_yaml(
            &format!("family: 2pc-fss\nparties: 2\nfss_window: {window}\n"),
            "2pc-fss.yaml",
        )
        .unwrap();
        // 70,000 elements: keys travel in three chunks (fss::KEY_CHUNK = 32,768 elements).
        let sizes: &[usize] = if window == 9 {
            &[1, 63, 64, 65, 1000, 70_000]
        } else {
            &[1, 63, 64, 65, 1000]
        };
        for &n in sizes {
            let x = window_values(n, window, n as u64 + u64::from(window));
            for gate in [Gate::Ltz, Gate::Relu, Gate::Eqz] {
                let out = run(&cfg, 9, &FssGate { x: x.clone(), gate });
                let got = &out.parties[0].output.0;
                assert_eq!(got, &out.parties[1].output.0);
                for (e, &v) in x.data().iter().enumerate() {
                    let v = v as i64;
                    let bit = (got.data()[e / 64] >> (e % 64)) & 1;
                    match gate {
                        Gate::Relu => assert_eq!(got.data()[e] as i64, v.max(0), "k={window} n={n} x={v}"),
                        Gate::Ltz => assert_eq!(bit, u64::from(v < 0), "k={window} x={v}"),
                        Gate::Eqz => assert_eq!(bit, u64::from(v == 0), "k={window} x={v}"),
                    }
                }
                let want = match gate {
                    Gate::Relu => AdditiveParty::fss_relu_cost(n, window),
                    Gate::Ltz => AdditiveParty::fss_ltz_cost(n, window),
                    Gate::Eqz => AdditiveParty::fss_eqz_cost(n, window),
                };
                let path = critical_path(out.parties.iter().map(|p| &p.output.1));
                assert_eq!((path.critical, path.between_parties), (want.rounds, want.party_rounds));
                for party in &out.parties {
                    assert_eq!(
                        party.output.1.online(),
                        want.bytes_per_party,
                        "k={window} n={n} {gate:?}"
                    );
                }
                // Keys (offline, apart from online): half of them to each party.
                let dealer = out.dealer.as_ref().unwrap();
                assert_eq!(dealer.offline(), want.offline_bytes);
                assert_eq!(dealer.bytes_offline[..2], [want.offline_bytes / 2; 2]);
            }
        }
    }
    // The issue's figures: a ReLU layer of n elements is 2 rounds between the parties and
    // 8n + 8⌈n/64⌉ bytes per party (the packed bits travel as whole words); ≈ 0.95 KB of keys per
    // element per party at the exact window, ≈ 0.43 KB at k = 32.
    let c = AdditiveParty::fss_relu_cost(1 << 20, 64);
    assert_eq!((c.party_rounds, c.bytes_per_party), (2, 8 * (1 << 20) + 8 * (1 << 14)));
    let per = |k| AdditiveParty::fss_relu_cost(1 << 20, k).offline_bytes as f64 / 2.0 / (1 << 20) as f64;
    assert!((945.0..955.0).contains(&per(64)), "{}", per(64));
    assert!((430.0..440.0).contains(&per(32)), "{}", per(32));
}

#[test]
fn fss_one_round_relu_is_exact_and_costs_its_formula() {
    for window in [64u32, 32, 9] {
        let cfg = ProtocolConfig::from_yaml(
            &format!("family: 2pc-fss\nparties: 2\nfss_window: {window}\nfss_relu_rounds: 1\n"),
            "2pc-fss-one-round.yaml",
        )
        .unwrap();
        let sizes: &[usize] = if window == 9 { &[1, 65, 70_000] } else { &[1, 63, 1000] };
        for &n in sizes {
            let x = window_values(n, window, 3 * n as u64 + u64::from(window));
            let out = run(
                &cfg,
                9,
                &FssGate {
                    x: x.clone(),
                    gate: Gate::Relu,
                },
            );
            let got = &out.parties[0].output.0;
            for (e, &v) in x.data().iter().enumerate() {
                assert_eq!(got.data()[e] as i64, (v as i64).max(0), "k={window} n={n}");
            }
            let want = AdditiveParty::fss_relu_one_round_cost(n, window);
            let path = critical_path(out.parties.iter().map(|p| &p.output.1));
            assert_eq!((path.critical, path.between_parties), (want.rounds, want.party_rounds));
            assert_eq!(
                (want.rounds, want.party_rounds, want.bytes_per_party),
                (2, 1, 8 * n as u64)
            );
            for party in &out.parties {
                assert_eq!(party.output.1.online(), want.bytes_per_party, "k={window} n={n}");
            }
            let dealer = out.dealer.as_ref().unwrap();
            assert_eq!(dealer.offline(), want.offline_bytes);
            assert_eq!(dealer.bytes_offline[..2], [want.offline_bytes / 2; 2]);
        }
    }
    // The same keys give [x < 0] as a ring share in the one round (no B2A).
    for window in [64u32, 9] {
        let yaml = format!("family: 2pc-fss\nparties: 2\nfss_window: {window}\nfss_relu_rounds: 1\n");
        let cfg = ProtocolConfig::from_yaml(&yaml, "2pc-fss-one-round.yaml").unwrap();
        for n in [1usize, 1000] {
            let x = window_values(n, window, 5 * n as u64 + u64::from(window));
            let out = run(&cfg, 4, &LtzInt { x: x.clone() });
            for (e, &v) in x.data().iter().enumerate() {
                assert_eq!(
                    out.parties[0].output.0.data()[e],
                    u64::from((v as i64) < 0),
                    "k={window} x={}",
                    v as i64
                );
            }
            let want = AdditiveParty::fss_relu_one_round_cost(n, window);
            let path = critical_path(out.parties.iter().map(|p| &p.output.1));
            assert_eq!((path.critical, path.between_parties), (want.rounds, want.party_rounds));
            for party in &out.parties {
                assert_eq!(party.output.1.online(), want.bytes_per_party);
            }
            assert_eq!(out.dealer.as_ref().unwrap().offline(), want.offline_bytes);
        }
    }
    // Keys: ≈ 2.07 KB per element per party at the exact window, 2.2× the two-round gate's.
    let per = |k| AdditiveParty::fss_relu_one_round_cost(1 << 20, k).offline_bytes as f64 / 2.0 / (1 << 20) as f64;
    assert!((2060.0..2080.0).contains(&per(64)), "{}", per(64));
    let bad = ProtocolConfig::from_yaml("family: 2pc-ttp\nparties: 2\nfss_relu_rounds: 1\n", "x.yaml").unwrap_err();
    assert!(bad.to_string().contains("fss_relu_rounds"), "{bad}");
    let bad = ProtocolConfig::from_yaml("family: 2pc-fss\nparties: 2\nfss_relu_rounds: 3\n", "x.yaml").unwrap_err();
    assert!(bad.to_string().contains("fss_relu_rounds"), "{bad}");
}
