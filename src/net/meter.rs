//! Exact accounting of one endpoint's traffic, and the logical clock that measures rounds.
//!
//! Bytes are payload bytes this endpoint SENDS (8 per word), per destination and per phase.
//!
//! Rounds are measured as the critical path, with a Lamport clock over every message of the
//! session, the dealer's included. Each message carries a [`Stamp`]: its `depth` is one more than
//! the largest depth this endpoint has *consumed* so far (returned to protocol code by a receive,
//! never arrival at a reader thread, so every transport gives the same stamps). The largest depth
//! reached in a region is the number of message latencies its longest chain of dependent messages
//! takes: what a network with one-way latency L charges L for, each. `party_depth` is the same
//! clock counting only hops between computing parties (a hop to or from the dealer adds nothing):
//! what CrypTen's round counter compares with.
//!
//! Repetitions are measured on their own: a barrier starts a new `epoch` with the clock at zero.
//! Stamps compare by (epoch, depth), so a message of an older epoch consumed later raises nothing.
//!
//! The meter also keeps each endpoint's own "send-then-wait" count per phase (a round opens at the
//! first send after a receive and closes at the next receive), reported as `rounds_per_party`.
//! That count is NOT the critical path: one-way messages chain across parties.
//!
//! Every message sent or consumed is logged with its depths and bytes, so a network model can price
//! the dependency chain (see `experiment::netmodel`).

use crate::error::PartyId;
use serde::Serialize;

/// What a message is for; each phase is reported apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Session set-up: seed exchange, handshakes, barriers between benchmark repetitions.
    Setup,
    /// Requests to the dealer (descriptors of the correlated randomness needed, not payload).
    Control,
    /// Correlated randomness sent by the dealer (Beaver triple corrections, random bits, …).
    Offline,
    /// Messages between parties while computing.
    Online,
}

const PHASES: usize = 4;

impl Phase {
    fn index(self) -> usize {
        self as usize
    }

    /// The phase with this index (the wire encoding of a stamp).
    fn from_index(i: u64) -> Option<Phase> {
        [Phase::Setup, Phase::Control, Phase::Offline, Phase::Online]
            .get(usize::try_from(i).ok()?)
            .copied()
    }
}

/// The logical time a message carries (framing metadata, never payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Stamp {
    /// Incremented by every barrier; a newer epoch restarts the clock.
    pub epoch: u32,
    /// Length of the longest chain of messages ending with this one, in this epoch.
    pub depth: u32,
    /// The same, counting only hops between computing parties.
    pub party_depth: u32,
    /// What the message is for.
    pub phase: Phase,
}

impl Default for Stamp {
    fn default() -> Self {
        Self {
            epoch: 0,
            depth: 0,
            party_depth: 0,
            phase: Phase::Setup,
        }
    }
}

impl Stamp {
    /// The stamp as two 64-bit words (the TCP frame header carries them).
    pub fn to_words(self) -> [u64; 2] {
        [
            u64::from(self.epoch) | (self.phase.index() as u64) << 32,
            u64::from(self.depth) | u64::from(self.party_depth) << 32,
        ]
    }

    /// Decodes [`Stamp::to_words`]; `None` for words no stamp encodes to.
    pub fn from_words([a, b]: [u64; 2]) -> Option<Stamp> {
        Some(Stamp {
            epoch: a as u32,
            phase: Phase::from_index(a >> 32)?,
            depth: b as u32,
            party_depth: (b >> 32) as u32,
        })
    }
}

/// One message sent or consumed by an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MessageRecord {
    pub from: PartyId,
    pub to: PartyId,
    pub phase: Phase,
    /// Payload bytes.
    pub bytes: u64,
    /// The message's depth in the epoch it was consumed in (0 for a message of an older epoch:
    /// it was there before the region began).
    pub depth: u32,
    /// The same, counting only hops between computing parties.
    pub party_depth: u32,
}

/// Counters of one endpoint.
#[derive(Clone, Debug)]
pub struct Meter {
    id: PartyId,
    dealer: Option<PartyId>,
    bytes: [Vec<u64>; PHASES],
    rounds: [u64; PHASES],
    /// Phases the open send-then-wait round has sent in (`None`: no round is open).
    open: Option<Vec<Phase>>,
    /// The largest stamp consumed so far (phase unused).
    clock: Stamp,
    log: Vec<MessageRecord>,
}

/// A snapshot of a meter, or a difference of two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MeterReport {
    /// The endpoint.
    pub id: PartyId,
    /// Bytes sent per phase (setup, control, offline, online), each split by destination.
    pub bytes_setup: Vec<u64>,
    pub bytes_control: Vec<u64>,
    pub bytes_offline: Vec<u64>,
    pub bytes_online: Vec<u64>,
    /// This endpoint's send-then-wait rounds per phase (not the critical path; see the module
    /// docs).
    pub rounds_setup: u64,
    pub rounds_control: u64,
    pub rounds_offline: u64,
    pub rounds_online: u64,
    /// Every message sent or consumed, in order, with its depth (for the critical path and for
    /// network cost models). Serialised, so the results of party processes carry it too.
    #[serde(default)]
    pub log: Vec<MessageRecord>,
    /// Transport framing overhead (length prefixes, clocks, TLS), not included in any payload
    /// figure.
    pub framing_bytes: u64,
}

impl Meter {
    /// A zeroed meter for endpoint `id` in a session of `endpoints` endpoints, `dealer` the
    /// dealer's endpoint id if there is one.
    pub fn new(id: PartyId, endpoints: usize, dealer: Option<PartyId>) -> Self {
        Self {
            id,
            dealer,
            bytes: std::array::from_fn(|_| vec![0; endpoints]),
            rounds: [0; PHASES],
            open: None,
            clock: Stamp::default(),
            log: Vec::new(),
        }
    }

    /// Books a message of `bytes` to `to` and returns the stamp it must carry.
    pub(crate) fn on_send(&mut self, phase: Phase, to: PartyId, bytes: u64) -> Stamp {
        self.bytes[phase.index()][to] += bytes;
        let phases = self.open.get_or_insert_with(Vec::new);
        if !phases.contains(&phase) {
            phases.push(phase);
        }
        let between_parties = Some(to) != self.dealer && Some(self.id) != self.dealer;
        let stamp = Stamp {
            epoch: self.clock.epoch,
            depth: self.clock.depth + 1,
            party_depth: self.clock.party_depth + u32::from(between_parties),
            phase,
        };
        self.log.push(MessageRecord {
            from: self.id,
            to,
            phase,
            bytes,
            depth: stamp.depth,
            party_depth: stamp.party_depth,
        });
        stamp
    }

    /// A receive begins: it closes the open send-then-wait round.
    pub(crate) fn on_recv(&mut self) {
        self.close_round();
    }

    /// A message from `from` was consumed: the clock moves to its stamp if that is later.
    pub(crate) fn on_consumed(&mut self, from: PartyId, bytes: u64, stamp: Stamp) {
        let (depth, party_depth) = if stamp.epoch > self.clock.epoch {
            self.clock = Stamp {
                phase: Phase::Setup,
                ..stamp
            };
            (stamp.depth, stamp.party_depth)
        } else if stamp.epoch == self.clock.epoch {
            self.clock.depth = self.clock.depth.max(stamp.depth);
            self.clock.party_depth = self.clock.party_depth.max(stamp.party_depth);
            (stamp.depth, stamp.party_depth)
        } else {
            (0, 0)
        };
        self.log.push(MessageRecord {
            from,
            to: self.id,
            phase: stamp.phase,
            bytes,
            depth,
            party_depth,
        });
    }

    /// Starts a new epoch with the clock at zero (every party does this at the end of a barrier).
    pub(crate) fn new_epoch(&mut self) {
        self.close_round();
        self.clock = Stamp {
            epoch: self.clock.epoch + 1,
            ..Stamp::default()
        };
    }

    /// Closes the open send-then-wait round, if any (on receive and at the end of a session).
    pub(crate) fn close_round(&mut self) {
        if let Some(phases) = self.open.take() {
            for p in &phases {
                self.rounds[p.index()] += 1;
            }
        }
    }

    /// The counts so far; an open round counts as if it closed now.
    pub fn report(&self) -> MeterReport {
        let mut rounds = self.rounds;
        for p in self.open.iter().flatten() {
            rounds[p.index()] += 1;
        }
        MeterReport {
            id: self.id,
            bytes_setup: self.bytes[Phase::Setup.index()].clone(),
            bytes_control: self.bytes[Phase::Control.index()].clone(),
            bytes_offline: self.bytes[Phase::Offline.index()].clone(),
            bytes_online: self.bytes[Phase::Online.index()].clone(),
            rounds_setup: rounds[Phase::Setup.index()],
            rounds_control: rounds[Phase::Control.index()],
            rounds_offline: rounds[Phase::Offline.index()],
            rounds_online: rounds[Phase::Online.index()],
            log: self.log.clone(),
            framing_bytes: 0,
        }
    }
}

impl MeterReport {
    /// Total online bytes sent.
    pub fn online(&self) -> u64 {
        self.bytes_online.iter().sum()
    }
    /// Total offline bytes sent.
    pub fn offline(&self) -> u64 {
        self.bytes_offline.iter().sum()
    }
    /// Total control bytes sent.
    pub fn control(&self) -> u64 {
        self.bytes_control.iter().sum()
    }
    /// Total setup bytes sent.
    pub fn setup(&self) -> u64 {
        self.bytes_setup.iter().sum()
    }

    /// The largest depth this endpoint sent or consumed in the report's region: its view of the
    /// critical path (the session's is the largest over the parties; see [`critical_path`]).
    pub fn depth(&self) -> u64 {
        self.log.iter().map(|m| u64::from(m.depth)).max().unwrap_or(0)
    }

    /// [`MeterReport::depth`] counting only hops between computing parties.
    pub fn party_depth(&self) -> u64 {
        self.log.iter().map(|m| u64::from(m.party_depth)).max().unwrap_or(0)
    }

    /// What happened between `earlier` and `self` (both snapshots of the same meter).
    pub fn since(&self, earlier: &MeterReport) -> MeterReport {
        let diff = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        MeterReport {
            id: self.id,
            bytes_setup: diff(&self.bytes_setup, &earlier.bytes_setup),
            bytes_control: diff(&self.bytes_control, &earlier.bytes_control),
            bytes_offline: diff(&self.bytes_offline, &earlier.bytes_offline),
            bytes_online: diff(&self.bytes_online, &earlier.bytes_online),
            rounds_setup: self.rounds_setup - earlier.rounds_setup,
            rounds_control: self.rounds_control - earlier.rounds_control,
            rounds_offline: self.rounds_offline - earlier.rounds_offline,
            rounds_online: self.rounds_online - earlier.rounds_online,
            log: self.log[earlier.log.len().min(self.log.len())..].to_vec(),
            framing_bytes: self.framing_bytes.saturating_sub(earlier.framing_bytes),
        }
    }
}

/// Rounds of a measured region, from the computing parties' reports of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rounds {
    /// The critical path: the longest chain of dependent messages, dealer hops included.
    pub critical: u64,
    /// The critical path counting only hops between computing parties.
    pub between_parties: u64,
}

/// The critical path of a region over all parties' reports of it. Every message of the region is
/// sent or consumed by a computing party (the dealer talks only to parties), so the parties'
/// reports see the whole chain.
pub fn critical_path<'a>(reports: impl IntoIterator<Item = &'a MeterReport>) -> Rounds {
    reports.into_iter().fold(Rounds::default(), |acc, r| Rounds {
        critical: acc.critical.max(r.depth()),
        between_parties: acc.between_parties.max(r.party_depth()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_then_wait_rounds_count_per_endpoint() {
        let mut m = Meter::new(0, 3, None);
        m.on_send(Phase::Online, 1, 80);
        m.on_send(Phase::Online, 2, 80);
        m.on_send(Phase::Control, 2, 16);
        m.on_recv();
        m.on_recv(); // a second receive without sends opens no round
        m.on_send(Phase::Online, 1, 8);
        m.close_round();
        let r = m.report();
        assert_eq!(r.rounds_online, 2);
        assert_eq!(r.rounds_control, 1);
        assert_eq!(r.bytes_online, vec![0, 88, 80]);
        assert_eq!(r.bytes_control, vec![0, 0, 16]);
        let later = r.clone();
        assert_eq!(later.since(&r).online(), 0);
    }

    fn stamp(epoch: u32, depth: u32, party_depth: u32) -> Stamp {
        Stamp {
            epoch,
            depth,
            party_depth,
            phase: Phase::Online,
        }
    }

    #[test]
    fn the_clock_follows_the_longest_consumed_chain() {
        // Endpoint 1 of parties {0, 1, 2} and dealer 3.
        let mut m = Meter::new(1, 4, Some(3));
        assert_eq!(m.on_send(Phase::Online, 2, 8), stamp(0, 1, 1));
        m.on_recv();
        m.on_consumed(0, 8, stamp(0, 5, 2));
        m.on_consumed(2, 8, stamp(0, 3, 3));
        // Depth follows the deepest message, party depth the deepest party chain.
        assert_eq!(m.on_send(Phase::Online, 0, 8), stamp(0, 6, 4));
        // Sending does not move the clock (only consuming does); a hop to the dealer adds to the
        // depth only.
        let to_dealer = m.on_send(Phase::Control, 3, 8);
        assert_eq!((to_dealer.depth, to_dealer.party_depth), (6, 3));
        let r = m.report();
        assert_eq!((r.depth(), r.party_depth()), (6, 4));
        assert_eq!(r.rounds_online, 2, "two send-then-wait rounds");
    }

    #[test]
    fn a_barrier_restarts_the_clock_and_old_epochs_count_for_nothing() {
        let mut m = Meter::new(0, 3, None);
        m.on_consumed(1, 8, stamp(0, 9, 9));
        m.new_epoch();
        let before = m.report();
        m.on_consumed(2, 8, stamp(0, 40, 40)); // sent before the barrier, consumed after
        assert_eq!(m.on_send(Phase::Online, 1, 8), stamp(1, 1, 1));
        m.on_consumed(1, 8, stamp(2, 4, 4)); // a peer already in the next epoch
        assert_eq!(m.on_send(Phase::Online, 1, 8), stamp(2, 5, 5));
        let region = m.report().since(&before);
        assert_eq!(region.log.len(), 4);
        assert_eq!(region.depth(), 5);
        assert_eq!(
            critical_path([&region, &before]),
            Rounds {
                critical: 9,
                between_parties: 9
            }
        );
    }

    #[test]
    fn stamps_round_trip_through_words() {
        for s in [stamp(0, 0, 0), stamp(u32::MAX, 7, u32::MAX), Stamp::default()] {
            assert_eq!(Stamp::from_words(s.to_words()), Some(s));
        }
        assert_eq!(Stamp::from_words([9 << 32, 0]), None);
    }
}
