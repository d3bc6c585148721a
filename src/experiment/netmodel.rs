//! The network cost model: what a run's traffic would cost on a network of given bandwidth and
//! latency, from the meters' message logs with their logical depths.
//!
//! Every pair of endpoints is a link of its own with bandwidth `B` (bytes/s) and one-way latency
//! `L`. Each message of the measured region has a depth (see `net::meter`): the length of the
//! longest chain of dependent messages ending with it. The messages of depth k can all be in flight
//! at once, and none of depth k + 1 can leave before one of depth k has arrived, so the run's
//! communication time on the critical path is
//!
//! ```text
//! comm = L · D + Σ_{k=1..D} max over directed links (i → j) of bytes_k(i → j) / B
//! ```
//!
//! with D the critical-path depth and bytes_k(i → j) the payload sent from i to j at depth k, and
//!
//! ```text
//! predicted wall time = compute time + comm
//! ```
//!
//! The dealer's part is reported as a line item of its own: `dealer_s` is how much shorter `comm`
//! is when the dealer's messages are left out and depths count only hops between parties (the
//! saving if the correlated randomness were dealt ahead of time, off the critical path).
//! `predicted_s` includes it, as runs do today. Setup traffic (seed exchange, barriers) is outside
//! the measured region and is not priced.

use crate::error::PartyId;
use crate::net::{MessageRecord, MeterReport};
use std::collections::HashMap;

/// A named network: bandwidth and one-way latency, the same on every link.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkProfile {
    pub name: String,
    /// Bits per second on every link.
    pub bandwidth_bit_s: f64,
    /// One-way latency of every link, in seconds.
    pub latency_s: f64,
}

impl NetworkProfile {
    /// `bandwidth_mbit` in Mbit/s, `latency_ms` one way in milliseconds.
    pub fn new(name: &str, bandwidth_mbit: f64, latency_ms: f64) -> Self {
        Self {
            name: name.to_string(),
            bandwidth_bit_s: bandwidth_mbit * 1e6,
            latency_s: latency_ms * 1e-3,
        }
    }

    /// The built-in profiles: `lan` (3 Gbit/s, 0.3 ms one way) and `wan` (400 Mbit/s, 40 ms).
    pub fn builtin() -> Vec<NetworkProfile> {
        vec![Self::new("lan", 3000.0, 0.3), Self::new("wan", 400.0, 40.0)]
    }

    fn bytes_per_s(&self) -> f64 {
        self.bandwidth_bit_s / 8.0
    }
}

/// What the model predicts for a run's communication.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Prediction {
    /// Communication time on the critical path, dealer round trips included (seconds).
    pub comm_s: f64,
    /// The part of `comm_s` due to the online dealer (seconds).
    pub dealer_s: f64,
    /// Rounds priced on the critical party.
    pub rounds: usize,
}

/// Prices the measured region from the computing parties' reports of it (`meters[i]` is party
/// i's; `dealer` is the dealer's endpoint id, if the session has one).
pub fn predict(meters: &[MeterReport], dealer: Option<PartyId>, net: &NetworkProfile) -> Prediction {
    let messages = region_messages(meters);
    let all = chain_time(&messages, net, |m| m.depth);
    let between_parties: Vec<&MessageRecord> = messages
        .iter()
        .copied()
        .filter(|m| Some(m.from) != dealer && Some(m.to) != dealer)
        .collect();
    let parties_only = chain_time(&between_parties, net, |m| m.party_depth);
    Prediction {
        comm_s: all.0,
        dealer_s: (all.0 - parties_only.0).max(0.0),
        rounds: all.1 as usize,
    }
}

/// Every message of the region once: what each reporting endpoint sent, and what it consumed from
/// endpoints that did not report (the dealer, which talks only to parties).
fn region_messages(meters: &[MeterReport]) -> Vec<&MessageRecord> {
    let reporting: Vec<PartyId> = meters.iter().map(|m| m.id).collect();
    meters
        .iter()
        .flat_map(|m| {
            let reporting = &reporting;
            m.log
                .iter()
                .filter(move |r| r.from == m.id || (r.to == m.id && !reporting.contains(&r.from)))
        })
        .collect()
}

/// (L · D + Σ_k slowest link's bytes at depth k / B, D) for the messages' depths under `depth`.
fn chain_time(messages: &[&MessageRecord], net: &NetworkProfile, depth: impl Fn(&MessageRecord) -> u32) -> (f64, u32) {
    let mut per_link: HashMap<(u32, PartyId, PartyId), u64> = HashMap::new();
    let mut deepest = 0;
    for m in messages {
        let d = depth(m);
        deepest = deepest.max(d);
        if d > 0 {
            *per_link.entry((d, m.from, m.to)).or_default() += m.bytes;
        }
    }
    let mut slowest: HashMap<u32, u64> = HashMap::new();
    for ((d, _, _), bytes) in per_link {
        let s = slowest.entry(d).or_default();
        *s = (*s).max(bytes);
    }
    let transfer: f64 = slowest.values().map(|&b| b as f64 / net.bytes_per_s()).sum();
    (net.latency_s * f64::from(deepest) + transfer, deepest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Phase;

    fn msg(from: PartyId, to: PartyId, bytes: u64, depth: u32, party_depth: u32) -> MessageRecord {
        MessageRecord {
            from,
            to,
            phase: Phase::Online,
            bytes,
            depth,
            party_depth,
        }
    }

    /// Hand computation, parties 0 and 1 and dealer 2: party 0 asks the dealer (16 B, depth 1) and
    /// sends 800 B to party 1 (depth 1); party 1 sends 800 B to party 0 (depth 1); the dealer
    /// answers 400 B (depth 2); then party 0 sends 100 B to party 1 (depth 3, party depth 2).
    #[test]
    fn the_cost_model_prices_the_dependency_chain() {
        let p0 = MeterReport {
            id: 0,
            log: vec![
                msg(0, 2, 16, 1, 0),
                msg(0, 1, 800, 1, 1),
                msg(1, 0, 800, 1, 1),
                msg(2, 0, 400, 2, 1),
                msg(0, 1, 100, 3, 2),
            ],
            ..Default::default()
        };
        let p1 = MeterReport {
            id: 1,
            log: vec![msg(1, 0, 800, 1, 1), msg(0, 1, 800, 1, 1), msg(0, 1, 100, 3, 2)],
            ..Default::default()
        };
        let net = NetworkProfile::new("test", 8.0, 10.0); // 1e6 bytes/s, 10 ms one way
        let p = predict(&[p0.clone(), p1.clone()], Some(2), &net);
        // Three latencies; depth 1's slowest link 800 B, depth 2's 400 B, depth 3's 100 B.
        let want = 0.030 + 0.0008 + 0.0004 + 0.0001;
        assert!((p.comm_s - want).abs() < 1e-12, "{p:?}");
        assert_eq!(p.rounds, 3);
        // Between parties only: two latencies, 800 B then 100 B.
        assert!((p.dealer_s - (want - 0.020 - 0.0009)).abs() < 1e-12, "{p:?}");
        // Without a dealer, endpoint 2 is an ordinary party and every message is priced.
        let q = predict(&[p0, p1], None, &net);
        assert!((q.comm_s - want).abs() < 1e-12, "{q:?}");
    }
}
