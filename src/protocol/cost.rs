//! Declared costs of protocol operations, asserted against the meter by tests.

use serde::Serialize;

/// What one operation costs, as its family's formula says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Online rounds on the critical path.
    pub rounds: u64,
    /// Online payload bytes SENT by each party (the same for every party in these protocols).
    pub bytes_per_party: u64,
    /// Offline payload bytes in total (dealer to parties).
    pub offline_bytes: u64,
}

impl Cost {
    /// Sequential composition: rounds and bytes add.
    pub fn then(self, other: Cost) -> Cost {
        Cost {
            rounds: self.rounds + other.rounds,
            bytes_per_party: self.bytes_per_party + other.bytes_per_party,
            offline_bytes: self.offline_bytes + other.offline_bytes,
        }
    }
}
