//! Declared costs of protocol operations, asserted against the meter by tests.
//!
//! Rounds are counted as the meter counts them (see `net::meter`): `rounds` is the critical path,
//! the longest chain of dependent messages, with every hop to and from a dealer on it;
//! `party_rounds` is the same chain counting only hops between computing parties (what CrypTen's
//! round counter compares with). A dealer that answers requests online puts a round trip on the
//! critical path for every step that needs its correlated randomness: such a step costs 2 rounds
//! and 1 party round. These formulas are that on-demand setting. When the dealer runs ahead of a
//! repeated computation (`super::repeat`), a run costs its party rounds plus at most 2 (streamed)
//! or exactly its party rounds (prefetched), with the same bytes (tests/dealer_ahead.rs).

use serde::Serialize;

/// What one operation costs, as its family's formula says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Message latencies on the critical path, dealer hops included.
    pub rounds: u64,
    /// Message latencies on the critical path between computing parties only.
    pub party_rounds: u64,
    /// Online payload bytes SENT by each party (the same for every party in these protocols).
    pub bytes_per_party: u64,
    /// Offline payload bytes in total (dealer to parties).
    pub offline_bytes: u64,
}

impl Cost {
    /// One round between the parties; `dealer_answers`: the step also waits for a dealer's answer
    /// to a request sent at its start (one more latency on the critical path).
    pub fn round(dealer_answers: bool, bytes_per_party: u64, offline_bytes: u64) -> Cost {
        Cost {
            rounds: 1 + u64::from(dealer_answers),
            party_rounds: 1,
            bytes_per_party,
            offline_bytes,
        }
    }

    /// Sequential composition: rounds and bytes add.
    pub fn then(self, other: Cost) -> Cost {
        Cost {
            rounds: self.rounds + other.rounds,
            party_rounds: self.party_rounds + other.party_rounds,
            bytes_per_party: self.bytes_per_party + other.bytes_per_party,
            offline_bytes: self.offline_bytes + other.offline_bytes,
        }
    }

    /// `k` copies in sequence.
    pub fn times(self, k: u64) -> Cost {
        Cost {
            rounds: self.rounds * k,
            party_rounds: self.party_rounds * k,
            bytes_per_party: self.bytes_per_party * k,
            offline_bytes: self.offline_bytes * k,
        }
    }
}
