//! The network cost model: what a run's traffic would cost on a network of given bandwidth and
//! latency, from the meters' round logs.
//!
//! Every pair of endpoints is a link of its own with bandwidth `B` (bytes/s) and one-way latency
//! `L`. A round of party i (its sends, then its wait) costs
//!
//! ```text
//! t_round = max( max over parties j:  L + max(sent_j, received_j) / B,
//!                dealer d:            h·L + (sent_d + received_d) / B )
//! ```
//!
//! where `h` = 2 when party i asked the dealer for correlated randomness in this round and got the
//! answer within it (a round trip: CrypTen's TTP is online) and 1 otherwise. A round whose messages
//! are all empty still costs one latency.
//! A party's communication time is the sum over its rounds; the run's is the slowest party's, and
//!
//! ```text
//! predicted wall time = compute time + max over parties Σ_rounds t_round
//! ```
//!
//! The dealer's part is reported as a line item of its own: `dealer_s` is how much shorter the
//! communication time is when the dealer terms are left out (the saving if the correlated
//! randomness were dealt ahead of time, offline). `predicted_s` includes it, as runs do today.
//! Setup traffic (seed exchange, barriers) is outside the measured region and is not priced.

use crate::error::PartyId;
use crate::net::MeterReport;

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

/// Prices the parties' round logs (`meters[i]` is party i's report for the measured region;
/// `dealer` is the dealer's endpoint id, if the session has one).
pub fn predict(meters: &[MeterReport], dealer: Option<PartyId>, net: &NetworkProfile) -> Prediction {
    let (lat, bw) = (net.latency_s, net.bytes_per_s());
    let mut with_dealer: Vec<f64> = Vec::with_capacity(meters.len());
    let mut without: Vec<f64> = Vec::with_capacity(meters.len());
    let mut rounds = Vec::with_capacity(meters.len());
    for m in meters {
        let (mut total, mut parties_only) = (0.0, 0.0);
        for r in &m.log {
            let mut party_t: f64 = 0.0;
            let mut dealer_t: f64 = 0.0;
            for (j, &sent) in r.bytes_to.iter().enumerate() {
                let received = r.bytes_from.get(j).copied().unwrap_or(0);
                if j == m.id || sent + received == 0 {
                    continue;
                }
                if Some(j) == dealer {
                    let hops = if sent > 0 && received > 0 { 2.0 } else { 1.0 };
                    dealer_t = dealer_t.max(hops * lat + (sent + received) as f64 / bw);
                } else {
                    party_t = party_t.max(lat + sent.max(received) as f64 / bw);
                }
            }
            // A round whose messages were all empty (a barrier) still waits one latency.
            if party_t == 0.0 && dealer_t == 0.0 {
                party_t = lat;
            }
            total += party_t.max(dealer_t);
            parties_only += party_t;
        }
        with_dealer.push(total);
        without.push(parties_only);
        rounds.push(m.log.len());
    }
    let critical = (0..meters.len())
        .max_by(|&a, &b| with_dealer[a].total_cmp(&with_dealer[b]))
        .unwrap_or(0);
    let comm_s = with_dealer.get(critical).copied().unwrap_or(0.0);
    let base = without.iter().copied().fold(0.0, f64::max);
    Prediction {
        comm_s,
        dealer_s: (comm_s - base).max(0.0),
        rounds: rounds.get(critical).copied().unwrap_or(0),
    }
}
