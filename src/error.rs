//! The library's typed errors.
//!
//! Every error names what went wrong in one lowercase line (the op, the file and field, the party),
//! because the CLI prints exactly that line. [`Error::is_bad_input`] tells the CLI whether to exit
//! with code 2 (the user's input is wrong) or 1 (a runtime failure such as a vanished peer).

use thiserror::Error as ThisError;

/// Convenient alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A party id: parties are `0..N`, a dealer (where the protocol has one) is `N`.
pub type PartyId = usize;

/// Everything that can fail in `testbed`.
#[derive(Debug, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// Tensor shapes that do not fit the operation.
    #[error("{op}: {detail}")]
    Shape { op: &'static str, detail: String },

    /// A value outside what an operation accepts (bad argument, unsupported option).
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },

    /// A configuration file that cannot be read or has a wrong field.
    #[error("{file}: {detail}")]
    Config { file: String, detail: String },

    /// A communication failure on the link to `peer`.
    #[error("party {party}: link to {peer}: {detail}")]
    Net {
        party: PartyId,
        peer: String,
        detail: String,
    },

    /// A protocol step that failed on one party.
    #[error("party {party}: {op}: {detail}")]
    Protocol {
        party: PartyId,
        op: &'static str,
        detail: String,
    },

    /// An I/O error with the path it concerns.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Error {
    /// A shape mismatch in `op`.
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }

    /// An invalid argument or option named `what`.
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// A configuration error in `file`.
    pub fn config(file: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Config {
            file: file.into(),
            detail: detail.into(),
        }
    }

    /// True when the error is the user's input (exit code 2: a bad argument, file or field, a file
    /// that cannot be read), false for runtime failures such as a vanished peer (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Shape { .. } | Error::Invalid { .. } | Error::Config { .. } | Error::Io { .. }
        )
    }
}
