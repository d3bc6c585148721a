//! `testbed certs`: every endpoint's key and certificate, and a session file with their pins.

use super::args::CertsJob;
use crate::error::Error;
use clap::Args;

#[derive(Args, Debug)]
pub struct CertsArgs {
    /// Computing parties.
    #[arg(long)]
    parties: usize,
    /// The protocol has a dealer (an endpoint of its own, the last id).
    #[arg(long)]
    dealer: bool,
    /// Folder to write the keys, certificates and session.yaml into (nothing is overwritten).
    #[arg(long)]
    out: std::path::PathBuf,
    /// Protocol variant for session.yaml (default: 2pc-ttp, npc-additive or 3pc-replicated, as
    /// the parties and --dealer fit).
    #[arg(long)]
    protocol: Option<String>,
    /// Days the certificates stay valid.
    #[arg(long, default_value_t = crate::net::tcp::DEFAULT_VALID_DAYS)]
    days: u32,
    /// The job session.yaml names: bench-op (a ReLU benchmark) or infer (private inference).
    #[arg(long, value_enum, default_value_t = CertsJob::BenchOp)]
    job: CertsJob,
}

pub fn run(a: CertsArgs) -> Result<(), Error> {
    let report = crate::launch::make_certs(&crate::launch::CertsOptions {
        parties: a.parties,
        dealer: a.dealer,
        protocol: a.protocol,
        days: a.days,
        out: a.out,
        job: a.job.name().to_string(),
    })?;
    for (name, files, pin) in &report.endpoints {
        out!(
            "{name:<9} {} {}  {}",
            files.cert.display(),
            files.key.display(),
            pin.short()
        );
    }
    out!("session   {}", report.session.display());
    out!(
        "next: edit the addresses in {}, then copy to each machine the session file and only its own .crt and .key",
        report.session.display()
    );
    Ok(())
}
