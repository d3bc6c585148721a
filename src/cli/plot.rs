//! `testbed plot`: re-draws the plots of a results folder from its runs.csv.

use crate::error::Error;
use clap::Args;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A results folder with a runs.csv.
    results: std::path::PathBuf,
    /// The parameter plot lines run along (default: the first swept one).
    #[arg(long)]
    line: Option<String>,
}

pub fn run(a: PlotArgs) -> Result<(), Error> {
    for f in crate::experiment::plot::redraw(&a.results, a.line.as_deref())? {
        out!("wrote {}", f.display());
    }
    Ok(())
}
