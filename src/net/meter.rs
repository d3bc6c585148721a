//! Exact accounting of one endpoint's traffic.
//!
//! Bytes are payload bytes this endpoint SENDS (8 per word), per destination and per phase. A round
//! is one step in which the endpoint sends its messages and then waits: the meter opens a round at
//! the first send after a receive and closes it at the next receive (or at the end). A round counts
//! towards every phase it sent something in. Each closed round is kept with its bytes per link, sent
//! and received (what arrived while waiting at the end of the round), so a network model can price
//! it (latency + slowest link / bandwidth; see `experiment::netmodel`).

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
}

/// One closed round: the phases it sent in and the bytes sent to each endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RoundRecord {
    /// Phases with at least one message in this round.
    pub phases: Vec<Phase>,
    /// Bytes sent to each endpoint id in this round.
    pub bytes_to: Vec<u64>,
    /// Bytes received from each endpoint id while waiting at the end of this round (after the
    /// round's sends, before the next round's first send).
    #[serde(default)]
    pub bytes_from: Vec<u64>,
}

/// Counters of one endpoint.
#[derive(Clone, Debug)]
pub struct Meter {
    id: PartyId,
    bytes: [Vec<u64>; PHASES],
    rounds: [u64; PHASES],
    open: Option<RoundRecord>,
    log: Vec<RoundRecord>,
    /// True while the last closed round's wait is going on (no send since it closed), so receives
    /// are booked to it.
    waiting: bool,
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
    /// Rounds per phase.
    pub rounds_setup: u64,
    pub rounds_control: u64,
    pub rounds_offline: u64,
    pub rounds_online: u64,
    /// Closed rounds in order, with per-link bytes (for network cost models). Serialised, so the
    /// results of party processes carry it too.
    #[serde(default)]
    pub log: Vec<RoundRecord>,
    /// Transport framing overhead (length prefixes, TLS), not included in any payload figure.
    pub framing_bytes: u64,
}

impl Meter {
    /// A zeroed meter for endpoint `id` in a session of `endpoints` endpoints.
    pub fn new(id: PartyId, endpoints: usize) -> Self {
        Self {
            id,
            bytes: std::array::from_fn(|_| vec![0; endpoints]),
            rounds: [0; PHASES],
            open: None,
            log: Vec::new(),
            waiting: false,
        }
    }

    pub(crate) fn on_send(&mut self, phase: Phase, to: PartyId, bytes: u64) {
        self.bytes[phase.index()][to] += bytes;
        let endpoints = self.bytes[0].len();
        self.waiting = false;
        let round = self.open.get_or_insert_with(|| RoundRecord {
            phases: Vec::new(),
            bytes_to: vec![0; endpoints],
            bytes_from: vec![0; endpoints],
        });
        round.bytes_to[to] += bytes;
        if !round.phases.contains(&phase) {
            round.phases.push(phase);
        }
    }

    pub(crate) fn on_recv(&mut self) {
        if self.open.is_some() {
            self.close_round();
            self.waiting = true;
        }
    }

    /// Books a received message to the round whose wait it ends (receives before this endpoint's
    /// first send belong to no round of its own and are not booked).
    pub(crate) fn on_received(&mut self, from: PartyId, bytes: u64) {
        if self.waiting {
            if let Some(last) = self.log.last_mut() {
                last.bytes_from[from] += bytes;
            }
        }
    }

    /// Closes the open round, if any (called on receive and at the end of a session).
    pub(crate) fn close_round(&mut self) {
        if let Some(round) = self.open.take() {
            for p in &round.phases {
                self.rounds[p.index()] += 1;
            }
            self.log.push(round);
        }
    }

    /// The counts so far; an open round counts as if it closed now.
    pub fn report(&self) -> MeterReport {
        let mut rounds = self.rounds;
        let mut log = self.log.clone();
        if let Some(open) = &self.open {
            for p in &open.phases {
                rounds[p.index()] += 1;
            }
            log.push(open.clone());
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
            log,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_is_sends_then_a_wait() {
        let mut m = Meter::new(0, 3);
        m.on_send(Phase::Online, 1, 80);
        m.on_send(Phase::Online, 2, 80);
        m.on_send(Phase::Control, 2, 16);
        m.on_recv();
        m.on_received(1, 40);
        m.on_recv(); // a second receive without sends opens no round
        m.on_received(2, 16);
        m.on_send(Phase::Online, 1, 8);
        m.close_round();
        m.on_received(2, 24); // a receive after the end: no wait is open
        let r = m.report();
        assert_eq!(r.rounds_online, 2);
        assert_eq!(r.rounds_control, 1);
        assert_eq!(r.bytes_online, vec![0, 88, 80]);
        assert_eq!(r.bytes_control, vec![0, 0, 16]);
        assert_eq!(r.log.len(), 2);
        assert_eq!(r.log[0].bytes_to, vec![0, 80, 96]);
        assert_eq!(r.log[0].bytes_from, vec![0, 40, 16]);
        assert_eq!(r.log[1].bytes_from, vec![0, 0, 0]);
        let later = r.clone();
        assert_eq!(later.since(&r).online(), 0);
    }
}
