//! Layer 4: nonlinear functions written ONCE over the [`Protocol`](crate::protocol::Protocol)
//! trait, so every protocol family runs them unchanged.
//!
//! May import `crate::error`, `crate::ring`, `crate::net` (for meters) and `crate::protocol`.
//! Values are fixed-point shares at `p.frac_bits()` fractional bits unless a function says it
//! returns bits (0/1 integers at scale 1). Approximation parameters come from `p.functions()`, i.e.
//! the `functions:` section of the protocol file, whose defaults are CrypTen's.
//!
//! Every function documents its rounds and bytes; the cost tests in `tests/` pin them.
//!
//! **Rounds in these tables are rounds between the parties** (`Cost::party_rounds`). The critical
//! path that reports call `rounds` also counts the hops to and from a dealer: on 2pc-ttp and
//! npc-additive every round of these functions needs correlated randomness, which party 0 asks the
//! dealer for at the round's start and must wait for, so the critical path is twice the table's
//! figure (a ReLU: 8 rounds between the parties, 16 on the critical path); with the first-party
//! dealer (2pc-tfp-insecure) it equals it. On 3pc-replicated a truncation is a one-way message of
//! its own, so each truncation that follows a product adds a round. `tests/latency.rs` checks the
//! critical path against time on a simulator with delayed deliveries.

pub mod approx;
pub mod binary;
pub mod compare;
pub mod fixed;
pub mod pool;
pub mod reduce;
