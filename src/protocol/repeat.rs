//! Timed repetitions of one computation, with the dealer running ahead.
//!
//! Benchmarks and model runs repeat one computation on the same shapes: `warmup` unmeasured runs,
//! then `reps` measured ones. Each run starts after a barrier (setup traffic; a new epoch of the
//! logical clock, so each run's rounds are its own) and is timed on every party.
//!
//! Where the family has a dealer ([`Protocol::deals_ahead`]) and there is a warm-up, the first
//! warm-up run records the requests the computation makes, and every later run is dealt ahead
//! (see `additive::ahead`):
//! - the measured runs (`total`): the dealer starts on a run's randomness when the run starts and
//!   sends each step's as soon as it is made, while the parties compute. Dealer compute stays in
//!   the wall time where the parties would wait for it; its round trips leave the critical path.
//! - `reps` more runs (`online`): each run's randomness reaches the parties before the run
//!   starts, so these time the online phase alone.
//!
//! With no warm-up, with `on_demand`, or in a family without a dealer, every run asks as it goes
//! (the cost formulas' setting) and there is no `online` measurement.

use super::{Protocol, Span};
use crate::error::Result;
use crate::net::MeterReport;

/// How the repetitions run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Repeat {
    /// Unmeasured runs first (the first of them records the dealer's plan).
    pub warmup: usize,
    /// Measured runs (at least one).
    pub reps: usize,
    /// Keep the dealer answering step by step even where it could run ahead.
    pub on_demand: bool,
}

/// The measured runs of one kind.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Runs {
    /// Each measured run's span on this party.
    pub spans: Vec<Span>,
    /// This party's traffic in the first measured run.
    pub meter: MeterReport,
}

/// What the repetitions measured, and the last run's result.
pub struct Timed<T> {
    /// The measured runs, dealer included (on demand, or running ahead).
    pub total: Runs,
    /// The same number of runs with their randomness delivered first, when the dealer ran ahead.
    pub online: Option<Runs>,
    /// Whether the dealer ran ahead in `total`.
    pub ahead: bool,
    /// The result of the last run.
    pub last: T,
}

impl Repeat {
    /// Whether the dealer runs ahead for `p`.
    pub fn ahead<P: Protocol>(&self, p: &P) -> bool {
        !self.on_demand && self.warmup > 0 && p.deals_ahead()
    }

    /// Runs `body` `warmup + reps` times (and `reps` more, online only, when the dealer runs
    /// ahead), timing the measured runs.
    pub fn run<P: Protocol, T>(&self, p: &mut P, mut body: impl FnMut(&mut P) -> Result<T>) -> Result<Timed<T>> {
        let reps = self.reps.max(1);
        let ahead = self.ahead(p);
        let mut last = None;
        for w in 0..self.warmup {
            p.barrier()?;
            if ahead {
                if w == 0 {
                    p.record_ahead()?;
                } else {
                    p.next_ahead(false)?;
                }
            }
            last = Some(body(p)?);
            if ahead && w == 0 {
                p.plan_ahead(self.warmup - 1 + 2 * reps)?;
            }
        }
        let mut timed = |p: &mut P, prefetch: Option<bool>, last: &mut Option<T>| -> Result<Runs> {
            let mut runs = Runs::default();
            for r in 0..reps {
                if prefetch == Some(true) {
                    // Delivered before the run (and before the barrier that starts its epoch).
                    p.next_ahead(true)?;
                }
                p.barrier()?;
                let before = p.meter();
                let span = Span::start_now();
                if prefetch == Some(false) {
                    p.next_ahead(false)?;
                }
                *last = Some(body(p)?);
                runs.spans.push(span.end_now());
                if r == 0 {
                    runs.meter = p.meter().since(&before);
                }
            }
            Ok(runs)
        };
        let total = timed(p, ahead.then_some(false), &mut last)?;
        let online = if ahead {
            Some(timed(p, Some(true), &mut last)?)
        } else {
            None
        };
        Ok(Timed {
            total,
            online,
            ahead,
            last: last.expect("at least one run"),
        })
    }
}
