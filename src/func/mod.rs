//! Layer 4: nonlinear functions written ONCE over the [`Protocol`](crate::protocol::Protocol)
//! trait, so every protocol family runs them unchanged.
//!
//! May import `crate::error`, `crate::ring`, `crate::net` (for meters) and `crate::protocol`.
//! Values are fixed-point shares at `p.frac_bits()` fractional bits unless a function says it
//! returns bits (0/1 integers at scale 1). Approximation parameters come from `p.functions()`, i.e.
//! the `functions:` section of the protocol file, whose defaults are CrypTen's.
//!
//! Every function documents its rounds and bytes; the cost tests in `tests/` pin them.

pub mod approx;
pub mod binary;
pub mod compare;
pub mod fixed;
pub mod pool;
pub mod reduce;
