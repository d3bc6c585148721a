//! Polynomial and iterative approximations: exp, log, reciprocal, division, sqrt, inverse sqrt,
//! sigmoid, tanh, erf, GELU, polynomials and integer powers.
//!
//! The algorithms and parameters are CrypTen's (`p.functions()`, whose defaults are CrypTen's);
//! what differs is how they are evaluated: independent products share a round, a factor used by
//! several products of a round is masked and sent once, iterations are rearranged so that each
//! costs fewer rounds, and the fixed-point evaluation order keeps the precision CrypTen loses.
//! Every function is written once over [`Protocol`].
//!
//! One file per function family, each with its algorithm notes and cost rows:
//!
//! * [`products`]: fixed-point helpers, the batched product round, powers by the doubling tree;
//! * [`exp_log`]: exp (limit method) and log;
//! * [`reciprocal`]: reciprocal and division; [`sqrt`]: sqrt and inverse sqrt;
//! * [`sigmoid`]: sigmoid, tanh and GELU; [`chebyshev`]: clamped Chebyshev series (erf, and the
//!   "chebyshev" method of sigmoid and tanh);
//! * [`power`]: polynomials and integer powers.
//!
//! # Cost, 2pc-ttp, n elements
//!
//! Rounds are between the parties (the critical path with the dealer's answers is twice that; see
//! the `func` module). Bytes are those each party sends; offline bytes are the dealer's. L and C are the costs of
//! [`compare::ltz`] and [`compare::clamp`] on n elements (8 rounds each, and their bytes and
//! offline bytes in the other columns; see `compare`). Defaults:
//! d = exp_iterations = 8, K = reciprocal_nr_iters = 10, S = sqrt_nr_iters = 3,
//! log: d₀ = 8, I = 2 iterations, d = 8, order o = 8; 32 Chebyshev terms for tanh; 8 erf terms.
//! The "defaults" column gives (rounds, bytes, offline bytes) at those defaults. Truncation is
//! local for two parties, so it adds nothing here.

mod chebyshev;
mod exp_log;
mod power;
mod products;
mod reciprocal;
mod sigmoid;
mod sqrt;

pub use chebyshev::erf;
pub use exp_log::{exp, log};
pub use power::{polynomial, pow};
pub use reciprocal::{div, reciprocal, reciprocal_positive};
pub use sigmoid::{gelu, sigmoid, tanh};
pub use sqrt::{inv_sqrt, inv_sqrt_iters, sqrt};

#[cfg(doc)]
use crate::func::compare;
#[cfg(doc)]
use crate::protocol::Protocol;
