//! `testbed audit`: an empirical leakage test of a protocol variant's semi-honest views.
//!
//! Layer: beside `bench/` (above `func/` and `protocol/`; only the CLI imports it). Each trial is a
//! fresh simulated session with fresh OS randomness that runs one op once on secret inputs fixed
//! to setting A or setting B ([`trial`]). Every endpoint's view — its own input pieces, every word
//! its PRGs produced and every message it consumed, in order, up to (never including) a reveal —
//! becomes a fixed-length vector of slots. A battery of two-sample tests ([`analyse`]) then asks
//! whether the views of A and B differ, for each party and the dealer; every p-value of the audit
//! goes through Holm's correction, and the smallest corrected p-value per endpoint is reported with
//! its test and slots.
//!
//! What it shows and what it cannot: a small p-value is evidence that a view depends on the
//! secrets (the negative controls in tests/data/protocols/ are found this way); a large one says
//! only that these tests, at this many trials, found no difference between these two settings. It
//! is a statistical check of one op's semi-honest view, not a proof of security (docs/audit.md).

mod analyse;
pub mod gf2;
pub mod logreg;
pub mod stats;
mod trial;

pub use analyse::{Columns, MAX_FEATURES, MAX_PAIRS, Outcome, Plan, analyse};
pub use trial::{AuditOp, Source, View, run_trial, settings};

use crate::error::{Error, Result};
use crate::protocol::ProtocolConfig;
use crate::protocol::prg::Prg;

/// Most view words an audit keeps in memory (4 GiB: 10^5 trials of the largest view the large
/// audit needs, npc-additive's softmax at S = 2, 2,982 words, on a 24 GiB machine).
pub const MAX_WORDS: usize = 1 << 29;

/// What to audit.
#[derive(Clone, Debug)]
pub struct AuditSpec {
    pub protocol: ProtocolConfig,
    pub op: AuditOp,
    /// The element count S of the op's inputs.
    pub shape: usize,
    /// Trials, half with setting A and half with setting B.
    pub trials: usize,
    /// Corrected p-values below this are reported as a leak.
    pub threshold: f64,
    /// Seed of the pair and feature samples (the sessions' randomness is always fresh).
    pub seed: u64,
}

/// The smallest corrected p-value of one endpoint's view.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EndpointFinding {
    /// `party 0`, …, or `dealer`.
    pub party: String,
    /// Holm-corrected over every test of the audit.
    pub min_p: f64,
    pub test: String,
    /// The slots the test looked at, named by record and word.
    pub slots: Vec<String>,
    /// Slots in this endpoint's view.
    pub view_slots: usize,
}

/// The audit's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditReport {
    pub protocol: String,
    pub op: String,
    pub shape: usize,
    pub trials: usize,
    pub threshold: f64,
    /// Number of p-values the correction ran over.
    pub tests: usize,
    /// The smallest corrected p-value over all endpoints, and where it came from.
    pub min_p: f64,
    pub party: String,
    pub test: String,
    pub slots: Vec<String>,
    /// Whether some corrected p-value fell below the threshold.
    pub leak: bool,
    pub endpoints: Vec<EndpointFinding>,
}

impl AuditSpec {
    fn check(&self) -> Result<()> {
        if self.shape == 0 || self.shape > 4096 {
            return Err(Error::invalid(
                "--shape",
                format!("must be in 1..=4096, not {}", self.shape),
            ));
        }
        if self.trials < 40 {
            return Err(Error::invalid(
                "--trials",
                format!("needs at least 40 trials, not {}", self.trials),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(Error::invalid(
                "--threshold",
                format!("must be in (0, 1), not {}", self.threshold),
            ));
        }
        Ok(())
    }
}

/// Every endpoint's record layout (sources and lengths).
type Layouts = Vec<Vec<(Source, usize)>>;

/// One batch's trials: (trial index, every endpoint's view).
type Batch = Vec<(usize, Vec<View>)>;

/// The views of every endpoint, per setting: rows of slots.
struct Collected {
    layout: Layouts,
    rows: [Vec<Vec<Vec<u64>>>; 2],
}

/// Runs the trials and the tests.
pub fn run_audit(spec: &AuditSpec) -> Result<AuditReport> {
    spec.check()?;
    let frac = spec.protocol.precision_bits;
    let inputs = settings(spec.op, spec.shape, frac);
    let mut collected = collect(spec, &inputs)?;
    let mut all: Vec<(usize, Outcome)> = Vec::new();
    for (e, layout) in collected.layout.iter().enumerate() {
        let plan = Plan {
            lane: spec.shape,
            records: layout.iter().map(|r| r.1).collect(),
            seed: spec.seed ^ e as u64,
        };
        let a = Columns::from_rows(&std::mem::take(&mut collected.rows[0][e]));
        let b = Columns::from_rows(&std::mem::take(&mut collected.rows[1][e]));
        all.extend(analyse(&a, &b, &plan).into_iter().map(|o| (e, o)));
    }
    let adjusted = stats::holm(&all.iter().map(|(_, o)| o.p).collect::<Vec<_>>());
    let mut endpoints: Vec<EndpointFinding> = collected
        .layout
        .iter()
        .enumerate()
        .map(|(e, layout)| EndpointFinding {
            party: endpoint_name(&spec.protocol, e),
            min_p: 1.0,
            test: "none".into(),
            slots: Vec::new(),
            view_slots: layout.iter().map(|r| r.1).sum(),
        })
        .collect();
    // Holm's adjustment is monotone in the raw p-value, so the smallest raw p-value of an endpoint
    // carries its smallest corrected one (and names a test even when every corrected p is 1).
    let mut raw = vec![f64::INFINITY; endpoints.len()];
    for ((e, o), &p) in all.iter().zip(&adjusted) {
        let f = &mut endpoints[*e];
        if o.p < raw[*e] {
            raw[*e] = o.p;
            f.min_p = p;
            f.test = o.test.clone();
            f.slots = o
                .slots
                .iter()
                .take(16)
                .map(|&s| slot_name(&spec.protocol, &collected.layout[*e], s))
                .collect();
        }
    }
    let worst = endpoints
        .iter()
        .min_by(|x, y| x.min_p.total_cmp(&y.min_p))
        .cloned()
        .ok_or_else(|| Error::invalid("audit", "the session has no endpoints"))?;
    Ok(AuditReport {
        protocol: spec.protocol.name.clone(),
        op: spec.op.name().into(),
        shape: spec.shape,
        trials: spec.trials,
        threshold: spec.threshold,
        tests: all.len(),
        min_p: worst.min_p,
        party: worst.party,
        test: worst.test,
        slots: worst.slots,
        leak: worst.min_p < spec.threshold,
        endpoints,
    })
}

/// Trials run at once (each is a session of threads that mostly wait on each other).
const WORKERS: usize = 2;

/// Runs every trial (alternating A and B, [`WORKERS`] at a time, each with its own OS-seeded
/// generator of input pieces) and keeps the views, checking that each endpoint's view has the same
/// layout in every trial of a setting.
fn collect(spec: &AuditSpec, inputs: &[Vec<crate::ring::RingTensor>; 2]) -> Result<Collected> {
    let mut layouts: [Option<Layouts>; 2] = [None, None];
    let mut rows: [Vec<Vec<Vec<u64>>>; 2] = [Vec::new(), Vec::new()];
    let mut keep = |t: usize, views: Vec<View>| -> Result<()> {
        let s = t % 2;
        let layout: Layouts = views.iter().map(View::layout).collect();
        match &layouts[s] {
            None => {
                let words: usize = layout.iter().flatten().map(|r| r.1).sum();
                if words.saturating_mul(spec.trials) > MAX_WORDS {
                    return Err(Error::invalid(
                        "--trials",
                        format!(
                            "{} trials of views of {words} words each exceed the audit's memory ({MAX_WORDS} words): use fewer trials or a smaller --shape",
                            spec.trials
                        ),
                    ));
                }
                rows[s] = vec![Vec::with_capacity(spec.trials / 2 + 1); views.len()];
                layouts[s] = Some(layout);
            }
            Some(first) if *first != layout => {
                return Err(Error::Protocol {
                    party: 0,
                    op: "audit",
                    detail: format!(
                        "the views' message pattern varies between trials of one setting (trial {t}); the audit needs a fixed pattern"
                    ),
                });
            }
            Some(_) => {}
        }
        for (e, v) in views.iter().enumerate() {
            rows[s][e].push(v.words().collect());
        }
        Ok(())
    };
    // Batches of trials run on the workers; each batch's views are kept in trial order.
    const BATCH: usize = 64;
    let mut start = 0;
    while start < spec.trials {
        let end = (start + BATCH * WORKERS).min(spec.trials);
        let done: Vec<Result<Batch>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..WORKERS)
                .map(|w| {
                    sc.spawn(move || {
                        let mut rng = Prg::from_os()?;
                        (start + w..end)
                            .step_by(WORKERS)
                            .map(|t| Ok((t, run_trial(&spec.protocol, spec.op, &inputs[t % 2], &mut rng)?)))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::invalid("audit", "a trial worker panicked")))
                })
                .collect()
        });
        let mut batch: Batch = Vec::with_capacity(end - start);
        for d in done {
            batch.extend(d?);
        }
        batch.sort_by_key(|(t, _)| *t);
        for (t, views) in batch {
            keep(t, views)?;
        }
        start = end;
    }
    let [Some(la), Some(lb)] = layouts else {
        return Err(Error::invalid("--trials", "needs trials of both settings"));
    };
    if la != lb {
        return Err(Error::Protocol {
            party: 0,
            op: "audit",
            detail: "LEAK: the views' message pattern (record sources and lengths) differs between the two settings"
                .into(),
        });
    }
    Ok(Collected { layout: la, rows })
}

/// `party i`, or `dealer` for the endpoint after the parties.
fn endpoint_name(cfg: &ProtocolConfig, e: usize) -> String {
    if e >= cfg.parties {
        "dealer".into()
    } else {
        format!("party {e}")
    }
}

/// A slot named by its record: `input 0[3]`, `draw 12[5]`, `message 4 from party 1[0]`.
fn slot_name(cfg: &ProtocolConfig, layout: &[(Source, usize)], slot: usize) -> String {
    let mut at = 0;
    let (mut draws, mut msgs) = (0, 0);
    for (src, len) in layout {
        if slot < at + *len {
            let k = slot - at;
            return match src {
                Source::Input(i) => format!("input {i}[{k}]"),
                Source::Draw => format!("draw {draws}[{k}]"),
                Source::From(f) => format!("message {msgs} from {}[{k}]", endpoint_name(cfg, *f)),
            };
        }
        at += len;
        match src {
            Source::Draw => draws += 1,
            Source::From(_) => msgs += 1,
            Source::Input(_) => {}
        }
    }
    format!("slot {slot}")
}

#[cfg(test)]
mod tests;
