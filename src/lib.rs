//! `testbed`: secure multi-party computation of machine learning, a research testbed that rebuilds
//! CrypTen in Rust.
//!
//! Layers (arrows point down only): [`ring`] → [`net`] → [`protocol`] → `func` → `nn` → `experiment`
//! → the CLI ([`cli`]). docs/architecture.md has the seams and how to add an op or a protocol family.
//!
//! Security model: semi-honest parties; a dealer, where a protocol family has one, is trusted and
//! does not collude with any party.

#[cfg(not(target_endian = "little"))]
compile_error!("testbed's wire format is little-endian u64 words; big-endian targets are not supported");

pub mod alloc;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod data;
pub mod dense;
pub mod error;
pub mod experiment;
pub mod fss;
pub mod func;
pub mod launch;
pub mod net;
pub mod nn;
pub mod party;
pub mod protocol;
pub mod ring;
pub mod train;

pub use error::{Error, PartyId, Result};
