//! Layer 6: experiments. A YAML file names tasks (a model's latency, a model's accuracy on a data
//! set, or one op), protocol variants, network profiles and sweeps; `testbed run` expands it into
//! runs, executes each on the simulator or over TCP, prices it on each network profile with the
//! cost model, and writes runs.csv, summary.json / summary.md and plots.
//!
//! - [`schema`]: the file as written, with line and column of every value;
//! - [`check`]: reading a file into a [`plan`], the checked experiment (all names, files and data
//!   sets resolved before any run);
//! - [`sweep`]: the sweepable parameters; [`expand`]: the expansion into runs, stable run ids;
//! - [`netmodel`]: the network cost model (latency + slowest link / bandwidth per round);
//! - [`runner`]: execution, crash-safe results, `--resume`;
//! - [`results`]: runs.csv, medians, summary.json and the headline table; [`stats`]: Wilson
//!   intervals of the rates accuracy tasks report;
//! - [`machine`]: the CPU, kernel and threads every row and plot states;
//! - [`plot`]: PNG and SVG plots; [`compare`]: regressions against a baseline;
//! - [`train`]: the extension point for plaintext training before an evaluation.

pub mod check;
pub mod compare;
pub mod expand;
pub mod machine;
pub mod netmodel;
pub mod plan;
pub mod plot;
pub mod results;
pub mod runner;
pub mod schema;
pub mod stats;
pub mod sweep;
pub mod train;

pub use netmodel::{NetworkProfile, Prediction, predict};
pub use plan::Experiment;
pub use runner::{RunOptions, RunReport, run_experiment};
