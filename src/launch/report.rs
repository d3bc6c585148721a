//! The report of a private run (`bench op`, `bench model`, `infer`, experiments): wall time as the
//! median over repetitions of the slowest party, rounds on the critical path, bytes per party
//! online and offline, and the error against a float64 or plaintext reference. One type for every
//! run, so the `--json` line reads the same whatever ran.

use crate::launch::TransportKind;
use crate::net::MeterReport;
use crate::protocol::{DealerKind, ProtocolConfig, Runs, wall_of};
use serde::Serialize;

/// The result of an op benchmark: the `--json` line of the CLI contract.
#[derive(Clone, Debug, Serialize)]
pub struct OpReport {
    pub op: String,
    pub protocol: String,
    pub transport: String,
    pub parties: usize,
    pub shapes: Vec<String>,
    pub precision_bits: u32,
    pub reps: usize,
    /// Unmeasured repetitions run before the measured ones.
    pub warmup: usize,
    /// Median over repetitions of the slowest party's time for the op, dealer included (running
    /// ahead when `dealer_ahead`, else answering step by step).
    pub wall_s: f64,
    /// Every repetition's wall time.
    pub wall_s_reps: Vec<f64>,
    /// Whether the dealer ran ahead in the measured repetitions (`protocol::repeat`): it made
    /// each repetition's randomness while the parties computed it, off the critical path.
    pub dealer_ahead: bool,
    /// The online phase alone: the median over as many repetitions again, each with its
    /// randomness delivered before it started (only when the dealer ran ahead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_wall_s: Option<f64>,
    /// Rounds on the critical path of one online-only repetition (= its party rounds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_rounds: Option<u64>,
    /// Rounds on the critical path: the longest chain of dependent messages of one repetition,
    /// dealer hops included (the depth of a Lamport clock; see `net::meter`).
    pub rounds: u64,
    /// The same chain counting only hops between computing parties (what CrypTen counts).
    pub rounds_between_parties: u64,
    /// Each party's own send-then-wait online rounds (not the critical path).
    pub rounds_per_party: Vec<u64>,
    /// Online payload bytes sent by each party for one op.
    pub bytes_sent_per_party: Vec<u64>,
    pub bytes_online_total: u64,
    /// Offline payload for one op: the dealer's, plus correlated randomness a computing party
    /// makes for the others (3pc-replicated truncation pairs).
    pub bytes_offline_total: u64,
    /// Dealer rounds for one op.
    pub offline_rounds: u64,
    /// Requests to the dealer (descriptors, not payload) for one op.
    pub bytes_control_total: u64,
    /// Seed exchange and barriers over the whole session.
    pub bytes_setup_total: u64,
    /// Transport framing bytes over the whole session (0 in the simulator).
    pub framing_bytes_total: u64,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    /// Each party's traffic for the first repetition, with its round log (for network cost
    /// models; not part of the `--json` line).
    #[serde(skip)]
    pub meters: Vec<MeterReport>,
    /// Model benchmarks with private weights: the one-time preparation of the weights (per
    /// session, before the timed inferences; reported apart like the sharing of the weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_setup: Option<WeightSetup>,
}

/// The one-time preparation of a private model's weights (a Beaver family opens each product
/// weight's mask once).
#[derive(Clone, Debug, Serialize)]
pub struct WeightSetup {
    /// Weight uses prepared.
    pub weights: usize,
    /// The slowest party's time.
    pub wall_s: f64,
    /// Rounds on the critical path.
    pub rounds: u64,
    /// Payload bytes each party sends.
    pub bytes_sent_per_party: Vec<u64>,
}

/// What a report says about the run itself.
pub struct ReportHead<'a> {
    pub name: &'a str,
    pub transport: TransportKind,
    pub shapes: Vec<String>,
    pub reps: usize,
    /// Unmeasured repetitions run first (their dealer traffic is in the session's total).
    pub warmup: usize,
}

/// The median over repetitions of the region's wall time (from the last party's start to the
/// last end), and every repetition's.
fn median_wall(runs: &[&Runs], reps: usize) -> (f64, Vec<f64>) {
    let each: Vec<f64> = (0..reps).map(|r| wall_of(runs.iter().map(|p| &p.spans[r]))).collect();
    let mut sorted = each.clone();
    sorted.sort_by(f64::total_cmp);
    (sorted[reps / 2], each)
}

/// Builds the `--json` report from a session's outcome: each party's measured runs (each
/// repetition's wall time from the last start to the last end, median over repetitions; the
/// first repetition's meter), the online-only runs when the dealer ran ahead, the dealer's
/// offline traffic per run, and setup/framing over the session.
pub fn assemble_report<T>(
    cfg: &ProtocolConfig,
    head: ReportHead<'_>,
    total: &[&Runs],
    online: Option<&[&Runs]>,
    outcome: &crate::protocol::Outcome<T>,
    (max_abs_err, max_rel_err): (f64, f64),
) -> OpReport {
    let reps = head.reps;
    let (wall_s, wall_s_reps) = median_wall(total, reps);
    let first: Vec<&MeterReport> = total.iter().map(|r| &r.meter).collect();
    let online_rounds = online.map(|o| crate::net::critical_path(o.iter().map(|r| &r.meter)).critical);
    let rounds_per_party: Vec<u64> = first.iter().map(|m| m.rounds_online).collect();
    let path = crate::net::critical_path(first.iter().copied());
    let bytes_sent_per_party: Vec<u64> = first.iter().map(|m| m.online()).collect();
    let (dealer_offline, offline_rounds) = match (&outcome.dealer, cfg.dealer) {
        (Some(d), DealerKind::Ttp) => {
            // Every run of the session, measured or not, online-only ones included.
            let all = (head.warmup + reps + online.map_or(0, |_| reps)) as u64;
            (d.offline() / all, d.rounds_offline / all)
        }
        _ => (0, 0),
    };
    // Correlated randomness a computing party makes for the others (3pc truncation pairs).
    let offline = dealer_offline + first.iter().map(|m| m.offline()).sum::<u64>();
    let all = outcome.parties.iter().map(|p| &p.report).chain(outcome.dealer.iter());
    let (setup, framing) = all.fold((0, 0), |(s, fr), m| (s + m.setup(), fr + m.framing_bytes));
    OpReport {
        op: head.name.to_string(),
        protocol: cfg.name.clone(),
        transport: head.transport.name().into(),
        parties: cfg.parties,
        shapes: head.shapes,
        precision_bits: cfg.precision_bits,
        reps,
        warmup: head.warmup,
        wall_s,
        wall_s_reps,
        dealer_ahead: online.is_some(),
        online_wall_s: online.map(|o| median_wall(o, reps).0),
        online_rounds,
        rounds: path.critical,
        rounds_between_parties: path.between_parties,
        rounds_per_party,
        bytes_online_total: bytes_sent_per_party.iter().sum(),
        bytes_sent_per_party,
        bytes_offline_total: offline,
        offline_rounds,
        bytes_control_total: first.iter().map(|m| m.control()).sum(),
        bytes_setup_total: setup,
        framing_bytes_total: framing,
        max_abs_err,
        max_rel_err,
        weight_setup: None,
        meters: first.iter().map(|m| (*m).clone()).collect(),
    }
}

/// Largest absolute and relative error of `got` against `want`. The relative error divides by
/// max(|want|, 1e-3), so values near zero are judged by their absolute error.
pub fn errors(got: &[f64], want: &[f64]) -> (f64, f64) {
    let mut abs: f64 = 0.0;
    let mut rel: f64 = 0.0;
    for (g, w) in got.iter().zip(want) {
        let e = (g - w).abs();
        abs = abs.max(e);
        rel = rel.max(e / w.abs().max(1e-3));
    }
    (abs, rel)
}
