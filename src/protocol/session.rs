//! Sessions: running one job on every party, and the in-process simulator.
//!
//! A [`Job`] is the program every party runs (generic over the protocol, so one body serves every
//! family). [`run_endpoint`] runs it on one endpoint whatever the transport; [`simulate`] runs all
//! endpoints as threads over the simulator transport and collects outputs and meters.
//!
//! This module sits above the families: [`run_endpoint`] holds the one `match` over [`Family`]
//! that builds a party (or the dealer) of the configured family. What the families' set-up shares
//! (seeds, publish, barrier, [`SessionOptions`]) lives below them in `protocol::setup`.

use super::Protocol;
use super::additive::{AdditiveParty, Dealer};
use super::config::{Family, ProtocolConfig};
use super::replicated::ReplicatedParty;
pub use super::setup::SessionOptions;
use crate::error::{Error, Result};
use crate::net::{MeterReport, Net, Transport, sim};

/// The program every party runs.
pub trait Job: Sync {
    /// What one party returns.
    type Output: Send;
    /// Runs on one party.
    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output>;
}

/// A stretch of one party's time on the machine's wall clock (seconds since the UNIX epoch), so
/// that the spans of the parties of one machine (threads or processes) compare with each other.
///
/// A region's wall time is [`wall_of`] its parties' spans: from the moment the LAST party starts
/// (before that, the inputs of the region are not all ready) to the moment the last one ends. The
/// slowest party's own elapsed time is not that: a barrier lets the parties go up to one message
/// latency apart, and an early party's wait for the others is not the region's time.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

impl Span {
    /// Starts a span now; [`Span::end_now`] closes it.
    pub fn start_now() -> Span {
        let t = now_s();
        Span { start: t, end: t }
    }

    /// This span, ended now.
    pub fn end_now(self) -> Span {
        Span { end: now_s(), ..self }
    }

    /// The party's own elapsed seconds.
    pub fn elapsed(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }
}

/// Seconds since the UNIX epoch.
fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The wall time of a region from its parties' spans: latest end minus latest start.
pub fn wall_of<'a>(spans: impl IntoIterator<Item = &'a Span>) -> f64 {
    let (start, end) = spans
        .into_iter()
        .fold((f64::MIN, f64::MIN), |(s, e), x| (s.max(x.start), e.max(x.end)));
    (end - start).max(0.0)
}

/// One party's result.
#[derive(Debug)]
pub struct PartyOutcome<T> {
    /// What the job returned.
    pub output: T,
    /// The party's traffic over the whole session.
    pub report: MeterReport,
}

/// Everything a session produced.
#[derive(Debug)]
pub struct Outcome<T> {
    /// Per party, in id order.
    pub parties: Vec<PartyOutcome<T>>,
    /// The dealer's traffic, when the session had a dealer endpoint.
    pub dealer: Option<MeterReport>,
}

/// What one endpoint produced.
pub enum EndpointResult<T> {
    /// A computing party.
    Party(PartyOutcome<T>),
    /// The dealer.
    Dealer(MeterReport),
}

/// Number of endpoints a session of `cfg` needs (parties plus a dealer where there is one).
pub fn endpoints(cfg: &ProtocolConfig) -> usize {
    cfg.parties + usize::from(cfg.has_dealer_endpoint())
}

/// Runs `job` on the endpoint behind `transport`.
pub fn run_endpoint<J: Job>(
    cfg: &ProtocolConfig,
    transport: Box<dyn Transport>,
    opts: &SessionOptions,
    job: &J,
) -> Result<EndpointResult<J::Output>> {
    let dealer_id = cfg.has_dealer_endpoint().then_some(cfg.parties);
    let net = Net::new(transport, dealer_id);
    match cfg.family {
        Family::TwoPcTtp | Family::TwoPcFss | Family::NpcAdditive => {
            if Some(net.id()) == dealer_id {
                Ok(EndpointResult::Dealer(Dealer::setup(cfg, net, opts)?.serve()?))
            } else {
                let mut party = AdditiveParty::setup(cfg, net, opts)?;
                let output = job.run(&mut party)?;
                Ok(EndpointResult::Party(PartyOutcome {
                    output,
                    report: party.finish()?,
                }))
            }
        }
        Family::ThreePcReplicated => {
            let mut party = ReplicatedParty::setup(cfg, net, opts)?;
            let output = job.run(&mut party)?;
            Ok(EndpointResult::Party(PartyOutcome {
                output,
                report: party.finish()?,
            }))
        }
    }
}

/// Runs `job` on every party of `cfg` as threads of this process, over the simulator transport.
pub fn simulate<J: Job>(cfg: &ProtocolConfig, opts: &SessionOptions, job: &J) -> Result<Outcome<J::Output>> {
    // A delayed delivery must not count against the receive timeout.
    let timeout = opts.timeout + opts.sim_latency.unwrap_or_default();
    let transports = sim::network_with_latency(endpoints(cfg), cfg.parties, timeout, opts.sim_latency);
    let results: Vec<Result<EndpointResult<J::Output>>> = std::thread::scope(|s| {
        let handles: Vec<_> = transports
            .into_iter()
            .map(|t| s.spawn(move || run_endpoint(cfg, Box::new(t), opts, job)))
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Protocol {
                        party: i,
                        op: "job",
                        detail: "the party's thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    collect(results)
}

/// Gathers endpoint results; on failure returns the root cause rather than the peers' "gone away".
pub(crate) fn collect<T>(results: Vec<Result<EndpointResult<T>>>) -> Result<Outcome<T>> {
    let mut parties = Vec::new();
    let mut dealer = None;
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(EndpointResult::Party(p)) => parties.push(p),
            Ok(EndpointResult::Dealer(m)) => dealer = Some(m),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        let root = errors.iter().position(|e| !matches!(e, Error::Net { .. })).unwrap_or(0);
        return Err(errors.swap_remove(root));
    }
    Ok(Outcome { parties, dealer })
}
