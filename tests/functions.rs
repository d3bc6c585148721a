//! The function library on every protocol: binary circuits exact against u64 arithmetic,
//! comparisons exact, max/pooling/softmax/LayerNorm against float64, and costs pinned for 2pc-ttp.

use crate::common::{all_protocols, random_reals, random_ring, run};
use testbed::Result;
use testbed::bench::funcs::Func;
use testbed::bench::reference::{F64Tensor, errors};
use testbed::func::{binary, compare, pool, reduce};
use testbed::net::{MeterReport, Rounds, critical_path};
use testbed::protocol::{Job, Protocol, ProtocolConfig, reveal};
use testbed::ring::{RingTensor, decode, encode};

/// Runs a catalogue function on inputs owned by parties 0 and 1; returns decoded output and the
/// function's own meter reading.
struct Apply {
    f: Func,
    inputs: Vec<RingTensor>,
}

impl Job for Apply {
    type Output = (Vec<f64>, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let mut xs = Vec::new();
        for (k, x) in self.inputs.iter().enumerate() {
            let owner = k % p.parties();
            xs.push(p.share(owner, (p.id() == owner).then_some(x), x.shape())?);
        }
        let refs: Vec<&P::Share> = xs.iter().collect();
        p.barrier()?; // closes the rounds of input sharing, so the reading is the op's alone
        let before = p.meter();
        let y = self.f.apply(p, &refs)?;
        let cost = p.meter().since(&before);
        let out = reveal(p, &y)?;
        Ok((decode(&out, p.frac_bits()), cost))
    }
}

/// Quantised random inputs in the function's domain (so the reference sees the encoded values).
fn inputs(f: Func, shapes: &[Vec<usize>], seed: u64, frac: u32) -> (Vec<F64Tensor>, Vec<RingTensor>) {
    let (lo, hi) = f.domain();
    let mut reals = Vec::new();
    let mut enc = Vec::new();
    for (k, s) in shapes.iter().enumerate() {
        let n = s.iter().product();
        let v = random_reals(n, lo, hi, seed + k as u64);
        let e = encode(&v, s, frac).unwrap();
        reals.push(F64Tensor {
            shape: s.clone(),
            data: decode(&e, frac),
        });
        enc.push(e);
    }
    if matches!(f, Func::Eq | Func::Ne) {
        // Make every third element equal so both outcomes occur.
        for i in (0..reals[0].data.len()).step_by(3) {
            reals[1].data[i] = reals[0].data[i];
        }
        enc[1] = encode(&reals[1].data, &shapes[1], frac).unwrap();
    }
    (reals, enc)
}

fn check(cfg: &ProtocolConfig, f: Func, shapes: &[Vec<usize>], tol: f64) -> MeterReport {
    check_with_dealer(cfg, f, shapes, tol).0
}

/// [`check`], also returning the dealer's offline bytes over the session (the op's alone: input
/// sharing and the final reveal use no dealer) and the op's critical path over all parties.
fn check_with_dealer(cfg: &ProtocolConfig, f: Func, shapes: &[Vec<usize>], tol: f64) -> (MeterReport, u64, Rounds) {
    let (reals, enc) = inputs(f, shapes, 17, cfg.precision_bits);
    let want = f.reference(&reals);
    let out = run(cfg, 5, &Apply { f, inputs: enc });
    let (got, cost) = &out.parties[0].output;
    let (abs, _) = errors(got, &want);
    assert!(abs <= tol, "{} on {}: max abs error {abs} > {tol}", f.name(), cfg.name);
    for party in &out.parties[1..] {
        assert_eq!(&party.output.0, got, "parties disagree");
    }
    let path = critical_path(out.parties.iter().map(|p| &p.output.1));
    (cost.clone(), out.dealer.as_ref().map_or(0, |d| d.offline()), path)
}

/// Every shipped protocol, and 2pc-fss with the one-round ReLU (`fss_relu_rounds: 1`), whose keys
/// also serve the integer comparisons.
fn protocols_and_one_round_fss() -> Vec<ProtocolConfig> {
    let mut all = all_protocols();
    let yaml = "family: 2pc-fss\nparties: 2\nfss_relu_rounds: 1\n";
    all.push(ProtocolConfig::from_yaml(yaml, "2pc-fss-one-round.yaml").unwrap());
    all
}

#[test]
fn comparisons_are_exact_on_every_protocol() {
    for cfg in protocols_and_one_round_fss() {
        let n = vec![vec![300]];
        let two = vec![vec![300], vec![300]];
        for f in [Func::Relu, Func::Ltz, Func::Sign, Func::Abs] {
            check(&cfg, f, &n, 0.0);
        }
        for f in [Func::Lt, Func::Le, Func::Gt, Func::Ge, Func::Eq, Func::Ne] {
            check(&cfg, f, &two, 0.0);
        }
    }
}

#[test]
fn max_argmax_and_maxpool_are_exact() {
    for cfg in protocols_and_one_round_fss() {
        check(&cfg, Func::Max, &[vec![7, 10]], 0.0);
        check(&cfg, Func::Max, &[vec![3, 1]], 0.0);
        check(&cfg, Func::Argmax, &[vec![5, 13]], 0.0);
        check(&cfg, Func::MaxPool2d, &[vec![2, 3, 6, 7]], 0.0);
    }
}

/// Exact costs of the comparison functions on 2pc-ttp, n elements (see src/func/compare.rs):
/// (rounds between the parties, bytes sent per party, dealer offline bytes). Every round needs the
/// dealer's answer, so the critical path is twice the rounds between parties. Every AND word costs 16 bytes online
/// (ε and δ) and 8 offline; B2A of n bits 8⌈n/64⌉ online and 8n offline; x·b 8(n + ⌈n/64⌉)
/// online and 16n offline.
fn compare_cost_full(f: Func, n: u64) -> (u64, u64, u64) {
    let (rounds, bytes) = compare_cost(f, n);
    let words = n.div_ceil(64);
    let (tail_online, tail_offline) = match f {
        Func::Relu | Func::Abs => (8 * (words + n), 16 * n),
        _ => (8 * words, 8 * n),
    };
    (rounds, bytes, (bytes - tail_online) / 2 + tail_offline)
}

fn compare_cost(f: Func, n: u64) -> (u64, u64) {
    let words = |bits: u64| bits.div_ceil(64);
    // The MSB circuit: g = a∧b on n words, then levels with 2 ANDs on halving word counts.
    let mut msb = 16 * n;
    let mut w = n;
    for level in 0..6 {
        w = w.div_ceil(2);
        msb += if level == 5 { 16 * w } else { 32 * w };
    }
    let mut eq = 0;
    let mut w = n;
    for _ in 0..6 {
        w = w.div_ceil(2);
        eq += 16 * w;
    }
    let b2a = 8 * words(n);
    let mul_bits = 8 * (words(n) + n);
    match f {
        Func::Ltz | Func::Lt | Func::Gt | Func::Le | Func::Ge | Func::Sign => (8, msb + b2a),
        Func::Relu | Func::Abs => (8, msb + mul_bits),
        Func::Eq | Func::Ne => (7, eq + b2a),
        _ => unreachable!(),
    }
}

#[test]
fn max_costs_k_minus_one_comparisons_per_row() {
    // Each level compares neighbours (an odd one out waits) at the cost of a ReLU of its
    // comparisons: ⌈log2 k⌉ levels of 8 rounds, k − 1 comparisons per row in all.
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    for (rows, k) in [(5usize, 9usize), (3, 40), (7, 2), (2, 7), (4, 1)] {
        let (cost, offline, path) = check_with_dealer(&cfg, Func::Max, &[vec![rows, k]], 0.0);
        let (mut rounds, mut bytes, mut want_offline, mut compared) = (0, 0, 0, 0);
        let mut c = k;
        while c > 1 {
            let n = (rows * (c / 2)) as u64;
            let (r, b, o) = compare_cost_full(Func::Relu, n);
            (rounds, bytes, want_offline, compared) = (rounds + r, bytes + b, want_offline + o, compared + n);
            c = c / 2 + c % 2;
        }
        assert_eq!(compared, (rows * (k - 1)) as u64);
        assert_eq!(rounds, 8 * (k as f64).log2().ceil() as u64, "{rows}x{k}");
        assert_eq!(path.between_parties, rounds, "{rows}x{k}");
        assert_eq!(path.critical, 2 * rounds, "{rows}x{k}: the dealer answers every level");
        assert_eq!(cost.online(), bytes, "{rows}x{k}");
        assert_eq!(offline, want_offline, "{rows}x{k}: offline bytes");
    }
}

/// 3x3 stride-2 max pooling (padding 1, ceil mode) of party 0's `[N, C, H, W]`, revealed, with
/// its meter reading.
struct MaxPool3x3(RingTensor);

impl Job for MaxPool3x3 {
    type Output = (RingTensor, MeterReport);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share(0, (p.id() == 0).then_some(&self.0), self.0.shape())?;
        p.barrier()?;
        let before = p.meter();
        let y = pool::max_pool2d(p, &x, [3, 3], [2, 2], [1, 1], true)?;
        let cost = p.meter().since(&before);
        Ok((reveal(p, &y)?, cost))
    }
}

#[test]
fn overlapping_max_pool_runs_as_row_then_column_passes() {
    // [1, 2, 7, 6] → 4x4 outputs per channel: a 1x3 pass over the 7 rows (2·7·4 windows of 3),
    // then a 3x1 pass (2·4·4 windows of 3), two levels each: 56, 56, 32 and 32 comparisons (176)
    // instead of 32·8 = 256 for whole 3x3 windows, in as many rounds.
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let x = random_ring(&[1, 2, 7, 6], 5).map(|v| v >> 40);
    let out = run(&cfg, 2, &MaxPool3x3(x));
    let (mut rounds, mut bytes) = (0, 0);
    for n in [56u64, 56, 32, 32] {
        let (r, b, _) = compare_cost_full(Func::Relu, n);
        (rounds, bytes) = (rounds + r, bytes + b);
    }
    let cost = &out.parties[0].output.1;
    let path = critical_path(out.parties.iter().map(|p| &p.output.1));
    assert_eq!((path.critical, path.between_parties), (2 * rounds, rounds));
    assert_eq!(rounds, 32, "as many levels as a 9-way tournament");
    assert_eq!(cost.online(), bytes);
}

#[test]
fn comparison_costs_match_their_formulas() {
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    for n in [1usize, 64, 1000] {
        for f in [
            Func::Ltz,
            Func::Lt,
            Func::Relu,
            Func::Abs,
            Func::Sign,
            Func::Eq,
            Func::Ne,
        ] {
            let shapes = vec![vec![n]; f.arity()];
            let (cost, offline, path) = check_with_dealer(&cfg, f, &shapes, 0.0);
            let (rounds, bytes, want_offline) = compare_cost_full(f, n as u64);
            assert_eq!(path.between_parties, rounds, "{} n={n}", f.name());
            assert_eq!(path.critical, 2 * rounds, "{} n={n}", f.name());
            assert_eq!(cost.online(), bytes, "{} n={n}", f.name());
            assert_eq!(offline, want_offline, "{} n={n}: offline bytes", f.name());
        }
    }
    // Better than CrypTen's ReLU: 9 rounds and 232 bytes per element per party.
    let (r, b) = compare_cost(Func::Relu, 1_000_000);
    assert!(r < 9 && b < 232 * 1_000_000 / 4, "relu: {r} rounds, {b} bytes");
}

/// Binary circuits against plain u64 arithmetic.
struct Circuits {
    x: RingTensor,
}

impl Job for Circuits {
    type Output = (RingTensor, RingTensor, RingTensor);
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let x = p.share(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        let b = binary::a2b(p, &x)?;
        let full = p.reveal_bits_many(&[&b])?.remove(0);
        let msb = binary::msb_bits(p, &x)?;
        let msb = p.reveal_bits_many(&[&msb])?.remove(0);
        let low = binary::b2a_low_bits(p, &b, 13)?;
        Ok((full, msb, reveal(p, &low)?))
    }
}

#[test]
fn binary_circuits_are_exact_including_carries() {
    for cfg in all_protocols() {
        let mut x = random_ring(&[257], 99);
        // Values whose shares carry across all 64 bits.
        x.data_mut()[0] = u64::MAX;
        x.data_mut()[1] = 1 << 63;
        x.data_mut()[2] = (1 << 63) - 1;
        x.data_mut()[3] = 0;
        let out = run(&cfg, 21, &Circuits { x: x.clone() });
        let (full, msb, low) = &out.parties[0].output;
        assert_eq!(full, &x, "{}: a2b", cfg.name);
        for (e, &v) in x.data().iter().enumerate() {
            assert_eq!(
                (msb.data()[e / 64] >> (e % 64)) & 1,
                v >> 63,
                "{}: msb of element {e}",
                cfg.name
            );
            assert_eq!(low.data()[e], v & 0x1fff, "{}: b2a of element {e}", cfg.name);
        }
    }
}

/// Softmax, log-softmax, LayerNorm and pooling against float64.
struct Rowwise {
    which: &'static str,
    x: RingTensor,
}

impl Job for Rowwise {
    type Output = Vec<f64>;
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Vec<f64>> {
        let x = p.share(0, (p.id() == 0).then_some(&self.x), self.x.shape())?;
        let y = match self.which {
            "avgpool" => pool::avg_pool2d(p, &x, [3, 3], [2, 2], [1, 1], false, true)?,
            "adaptive" => pool::adaptive_avg_pool2d(p, &x, [3, 2])?,
            "maxpool" => pool::max_pool2d(p, &x, [3, 3], [2, 2], [1, 1], true)?,
            "where" => {
                let c = compare::ltz_bits(p, &x)?;
                let z = p.neg(&x)?;
                compare::where_bits(p, &c, &z, &x)?
            }
            "clamp" => compare::clamp(p, &x, -1.5, 2.0)?,
            _ => unreachable!(),
        };
        Ok(decode(&reveal(p, &y)?, p.frac_bits()))
    }
}

#[test]
fn pooling_where_and_clamp_match_float64() {
    let (h, w) = (7, 6);
    let vals = random_reals(2 * h * w, -5.0, 5.0, 3);
    let x = encode(&vals, &[1, 2, h, w], 16).unwrap();
    let q = decode(&x, 16);
    let at = |c: usize, y: isize, xx: isize| -> Option<f64> {
        (y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w).then(|| q[(c * h + y as usize) * w + xx as usize])
    };
    // avg pool 3x3 stride 2 pad 1, count_include_pad: divide by 9.
    let mut avg = Vec::new();
    let mut maxp = Vec::new();
    let (ho, wo) = ((h + 2 - 3) / 2 + 1, (w + 2 - 3) / 2 + 1);
    let ho_ceil = (h + 2 - 3).div_ceil(2) + 1;
    let wo_ceil = (w + 2 - 3).div_ceil(2) + 1;
    for c in 0..2 {
        for oy in 0..ho {
            for ox in 0..wo {
                let cells: Vec<f64> = (0..3)
                    .flat_map(|dy| {
                        (0..3).filter_map(move |dx| at(c, (2 * oy + dy) as isize - 1, (2 * ox + dx) as isize - 1))
                    })
                    .collect();
                avg.push(cells.iter().sum::<f64>() / 9.0);
            }
        }
        for oy in 0..ho_ceil {
            for ox in 0..wo_ceil {
                let m = (0..3)
                    .flat_map(|dy| {
                        (0..3).filter_map(move |dx| at(c, (2 * oy + dy) as isize - 1, (2 * ox + dx) as isize - 1))
                    })
                    .fold(f64::NEG_INFINITY, f64::max);
                maxp.push(m);
            }
        }
    }
    for cfg in all_protocols() {
        let got = run(
            &cfg,
            1,
            &Rowwise {
                which: "avgpool",
                x: x.clone(),
            },
        )
        .parties
        .remove(0)
        .output;
        assert!(errors(&got, &avg).0 <= 2e-4, "{}: avgpool", cfg.name);
        let got = run(
            &cfg,
            1,
            &Rowwise {
                which: "maxpool",
                x: x.clone(),
            },
        )
        .parties
        .remove(0)
        .output;
        assert_eq!(got, maxp, "{}: maxpool ceil mode", cfg.name);
        let got = run(
            &cfg,
            1,
            &Rowwise {
                which: "where",
                x: x.clone(),
            },
        )
        .parties
        .remove(0)
        .output;
        let want: Vec<f64> = q.iter().map(|v| v.abs()).collect();
        assert_eq!(got, want, "{}: where", cfg.name);
        let got = run(
            &cfg,
            1,
            &Rowwise {
                which: "clamp",
                x: x.clone(),
            },
        )
        .parties
        .remove(0)
        .output;
        let want: Vec<f64> = q.iter().map(|v| v.clamp(-1.5, 2.0)).collect();
        assert!(errors(&got, &want).0 <= 1e-9, "{}: clamp", cfg.name);
        let got = run(
            &cfg,
            1,
            &Rowwise {
                which: "adaptive",
                x: x.clone(),
            },
        )
        .parties
        .remove(0)
        .output;
        assert_eq!(got.len(), 2 * 3 * 2, "{}: adaptive pool shape", cfg.name);
    }
}

#[test]
fn softmax_and_layernorm_are_within_tolerance() {
    for cfg in all_protocols() {
        check(&cfg, Func::Softmax, &[vec![20, 10]], 1e-2);
        check(&cfg, Func::LogSoftmax, &[vec![8, 10]], 5e-2);
    }
    // LayerNorm: rows of 64 with standard deviations across [0.1, 10].
    let cfg = ProtocolConfig::load("2pc-ttp").unwrap();
    let mut vals = Vec::new();
    for (r, std) in [0.1, 0.5, 1.0, 3.0, 10.0].iter().enumerate() {
        let row = random_reals(64, -1.0, 1.0, 50 + r as u64);
        vals.extend(row.iter().map(|v| v * std * 3f64.sqrt() + 2.0));
    }
    let x = encode(&vals, &[5, 64], 16).unwrap();
    let q = F64Tensor {
        shape: vec![5, 64],
        data: decode(&x, 16),
    };
    let want = Func::LayerNorm.reference(&[q]);
    let got = run(
        &cfg,
        2,
        &Apply {
            f: Func::LayerNorm,
            inputs: vec![x],
        },
    )
    .parties
    .remove(0)
    .output
    .0;
    let (abs, _) = errors(&got, &want);
    assert!(abs <= 2e-2, "layernorm: {abs}");
    let _ = reduce::layer_norm::<testbed::protocol::AdditiveParty>;
}

/// 2pc-fss's formulas for the comparison functions on n elements (see
/// src/protocol/additive/fss.rs): the gate's key-dealt cost, then a B2A of its bits where the
/// function returns integers (one dealer-assisted round, 8⌈n/64⌉ bytes, 8n offline).
fn fss_cost(f: Func, n: usize, window: u32) -> testbed::protocol::Cost {
    use testbed::protocol::{AdditiveParty, Cost};
    let b2a = Cost::round(true, 8 * n.div_ceil(64) as u64, 8 * n as u64);
    match f {
        Func::Ltz | Func::Lt | Func::Gt | Func::Le | Func::Ge | Func::Sign => {
            AdditiveParty::fss_ltz_cost(n, window).then(b2a)
        }
        Func::Relu | Func::Abs => AdditiveParty::fss_relu_cost(n, window),
        Func::Eq | Func::Ne => AdditiveParty::fss_eqz_cost(n, window).then(b2a),
        _ => unreachable!(),
    }
}

#[test]
fn fss_comparison_and_max_costs_match_their_formulas() {
    let cfg = ProtocolConfig::load("2pc-fss").unwrap();
    let window = cfg.fss_window().unwrap();
    for n in [1usize, 64, 1000] {
        for f in [
            Func::Ltz,
            Func::Lt,
            Func::Relu,
            Func::Abs,
            Func::Sign,
            Func::Eq,
            Func::Ne,
        ] {
            let shapes = vec![vec![n]; f.arity()];
            let (cost, offline, path) = check_with_dealer(&cfg, f, &shapes, 0.0);
            let want = fss_cost(f, n, window);
            assert_eq!(
                (path.critical, path.between_parties),
                (want.rounds, want.party_rounds),
                "{} n={n}",
                f.name()
            );
            assert_eq!(cost.online(), want.bytes_per_party, "{} n={n}", f.name());
            assert_eq!(offline, want.offline_bytes, "{} n={n}: key bytes", f.name());
        }
    }
    // With the one-round ReLU: ReLU and the integer sign bits in one round each, from its keys.
    let one = ProtocolConfig::from_yaml(
        "family: 2pc-fss\nparties: 2\nfss_relu_rounds: 1\n",
        "2pc-fss-one-round.yaml",
    )
    .unwrap();
    for n in [1usize, 1000] {
        for f in [Func::Ltz, Func::Lt, Func::Sign, Func::Relu] {
            let shapes = vec![vec![n]; f.arity()];
            let (cost, offline, path) = check_with_dealer(&one, f, &shapes, 0.0);
            let want = testbed::protocol::AdditiveParty::fss_relu_one_round_cost(n, window);
            assert_eq!(
                (path.critical, path.between_parties),
                (want.rounds, want.party_rounds),
                "{} n={n}",
                f.name()
            );
            assert_eq!(cost.online(), want.bytes_per_party, "{} n={n}", f.name());
            assert_eq!(offline, want.offline_bytes, "{} n={n}: key bytes", f.name());
        }
    }
    // Max: one ReLU per tournament level (max(a, b) = b + ReLU(a − b)), k − 1 per row in all.
    for (rows, k) in [(5usize, 9usize), (3, 40), (7, 2)] {
        let (cost, offline, path) = check_with_dealer(&cfg, Func::Max, &[vec![rows, k]], 0.0);
        let mut want = testbed::protocol::Cost::default();
        let mut c = k;
        while c > 1 {
            want = want.then(fss_cost(Func::Relu, rows * (c / 2), window));
            c = c / 2 + c % 2;
        }
        assert_eq!(
            (path.critical, path.between_parties),
            (want.rounds, want.party_rounds),
            "{rows}x{k}"
        );
        assert_eq!(cost.online(), want.bytes_per_party, "{rows}x{k}");
        assert_eq!(offline, want.offline_bytes, "{rows}x{k}");
    }
    // The 3x3 stride-2 pool of `overlapping_max_pool_runs_as_row_then_column_passes`: four levels
    // of 56, 56, 32 and 32 ReLUs, 3 rounds each (2 between the parties) instead of 16 (8).
    let x = random_ring(&[1, 2, 7, 6], 5).map(|v| v >> 40);
    let out = run(&cfg, 2, &MaxPool3x3(x));
    let want = [56usize, 56, 32, 32]
        .into_iter()
        .fold(testbed::protocol::Cost::default(), |acc, n| {
            acc.then(fss_cost(Func::Relu, n, window))
        });
    let path = critical_path(out.parties.iter().map(|p| &p.output.1));
    assert_eq!((path.critical, path.between_parties), (want.rounds, want.party_rounds));
    assert_eq!((want.rounds, want.party_rounds), (12, 8));
    assert_eq!(out.parties[0].output.1.online(), want.bytes_per_party);
}
