//! `testbed certs`: every endpoint's key and certificate, and a session file skeleton with their
//! pins filled in. The local launcher makes its throw-away identities with the same code.

use super::TlsFiles;
use crate::error::{Error, Result};
use crate::net::tcp::{Identity, Pin};
use crate::protocol::ProtocolConfig;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `testbed certs` makes.
#[derive(Clone, Debug)]
pub struct CertsOptions {
    /// Computing parties.
    pub parties: usize,
    /// Whether the protocol has a dealer endpoint (the last id).
    pub dealer: bool,
    /// Protocol variant for the skeleton; by default one that fits `parties` and `dealer`.
    pub protocol: Option<String>,
    /// Days the certificates stay valid.
    pub days: u32,
    /// Folder to write into (created; existing files are never overwritten).
    pub out: PathBuf,
    /// The job the skeleton names: `bench-op` (a ReLU benchmark) or `infer` (private inference of
    /// party 0's model on the data owner's input).
    pub job: String,
}

/// What `testbed certs` wrote.
#[derive(Clone, Debug)]
pub struct CertsReport {
    /// Per endpoint: its name (`party 0`, `dealer`), its files and its pin.
    pub endpoints: Vec<(String, TlsFiles, Pin)>,
    /// The session file skeleton.
    pub session: PathBuf,
}

/// File stem and display name of endpoint `i` of `endpoints` (the dealer is the last one).
fn endpoint_name(i: usize, endpoints: usize, dealer: bool) -> (String, String) {
    if dealer && i + 1 == endpoints {
        ("dealer".into(), "dealer".into())
    } else {
        (format!("party{i}"), format!("party {i}"))
    }
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `text` to a new file (never over an existing one); `private` files are readable by
/// their owner only.
fn write_new(path: &Path, text: &str, private: bool) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::config(
                path.display().to_string(),
                "already exists: choose an empty folder (keys and certificates are never overwritten)",
            )
        } else {
            io_err(path, e)
        }
    })?;
    f.write_all(text.as_bytes()).map_err(|e| io_err(path, e))
}

/// Makes and writes a key and certificate for every endpoint of `cfg` into `dir` (`party{i}.crt`,
/// `party{i}.key`, `dealer.crt`, `dealer.key`); returns each endpoint's files (absolute when `dir`
/// is) and pin.
pub(super) fn write_identities(dir: &Path, cfg: &ProtocolConfig, days: u32) -> Result<Vec<(TlsFiles, Pin)>> {
    let endpoints = crate::protocol::session::endpoints(cfg);
    write_named(dir, endpoints, cfg.has_dealer_endpoint(), days)
        .map(|v| v.into_iter().map(|(_, files, pin)| (files, pin)).collect())
}

fn write_named(dir: &Path, endpoints: usize, dealer: bool, days: u32) -> Result<Vec<(String, TlsFiles, Pin)>> {
    (0..endpoints)
        .map(|i| {
            let (stem, name) = endpoint_name(i, endpoints, dealer);
            let id = Identity::generate(i, days)?;
            let files = TlsFiles {
                cert: dir.join(format!("{stem}.crt")),
                key: dir.join(format!("{stem}.key")),
            };
            write_new(&files.key, &id.key_pem, true)?;
            write_new(&files.cert, &id.cert_pem, false)?;
            Ok((name, files, id.pin()))
        })
        .collect()
}

/// The protocol `testbed certs` puts in the skeleton (`--protocol`, or the variant that fits), its
/// configuration for `parties`, and whether the skeleton must override the file's party count.
fn pick_protocol(opts: &CertsOptions) -> Result<(ProtocolConfig, String, bool)> {
    let name = match (&opts.protocol, opts.dealer, opts.parties) {
        (Some(p), _, _) => p.clone(),
        (None, true, 2) => "2pc-ttp".into(),
        (None, true, _) => "npc-additive".into(),
        (None, false, 3) => "3pc-replicated".into(),
        (None, false, n) => {
            return Err(Error::invalid(
                "--parties",
                format!("no protocol runs {n} parties without a dealer: add --dealer, or name one with --protocol"),
            ));
        }
    };
    let mut cfg = ProtocolConfig::load(&name)?;
    let override_parties = cfg.parties != opts.parties;
    if override_parties {
        cfg = cfg.with_parties(opts.parties)?;
    }
    if cfg.has_dealer_endpoint() != opts.dealer {
        let (has, flag) = if opts.dealer {
            ("has no", "drop --dealer")
        } else {
            ("has a", "add --dealer")
        };
        return Err(Error::invalid(
            "--dealer",
            format!("protocol {name} {has} dealer endpoint: {flag}"),
        ));
    }
    Ok((cfg, name, override_parties))
}

/// `testbed certs`: keys, certificates and `session.yaml` in `opts.out`.
pub fn make_certs(opts: &CertsOptions) -> Result<CertsReport> {
    if opts.parties < 2 {
        return Err(Error::invalid("--parties", "a session needs at least 2 parties"));
    }
    if !["bench-op", "infer"].contains(&opts.job.as_str()) {
        return Err(Error::invalid(
            "--job",
            format!("`{}` is not bench-op or infer", opts.job),
        ));
    }
    if opts.days == 0 {
        return Err(Error::invalid(
            "--days",
            "certificates must be valid for at least a day",
        ));
    }
    let (cfg, protocol, override_parties) = pick_protocol(opts)?;
    let session_path = opts.out.join("session.yaml");
    if session_path.exists() {
        return Err(Error::config(
            session_path.display().to_string(),
            "already exists: choose an empty folder (keys and certificates are never overwritten)",
        ));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| io_err(&opts.out, e))?;
    let endpoints = crate::protocol::session::endpoints(&cfg);
    let made = write_named(&opts.out, endpoints, opts.dealer, opts.days)?;
    let session_id = u64::from_le_bytes(crate::protocol::prg::os_seed()?[..8].try_into().expect("8 bytes")) >> 12;
    write_new(
        &session_path,
        &skeleton(opts, &protocol, override_parties, session_id, &made),
        false,
    )?;
    Ok(CertsReport {
        endpoints: made,
        session: session_path,
    })
}

/// The session file skeleton: a header saying what goes where, then the session with every pin
/// filled in and placeholder addresses.
fn skeleton(
    opts: &CertsOptions,
    protocol: &str,
    override_parties: bool,
    session_id: u64,
    made: &[(String, TlsFiles, Pin)],
) -> String {
    let file = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
    };
    let mut s = String::new();
    let dealer = if opts.dealer { " --dealer" } else { "" };
    s += &format!("# Made by `testbed certs --parties {}{dealer}`.\n#\n", opts.parties);
    s += "# Every machine runs `testbed party --id I --session session.yaml` with this same file.\n";
    s += "# Copy to each machine this file and ONLY that endpoint's own certificate and key:\n";
    for (i, (name, files, _)) in made.iter().enumerate() {
        s += &format!(
            "#   {name:<9} (--id {i}): session.yaml {} {}\n",
            file(&files.cert),
            file(&files.key)
        );
    }
    s += "# A key never leaves its machine; the pins below are how every endpoint knows its peers.\n";
    s += "# Edit each `address` to where that endpoint listens (host:port the others can reach).\n";
    s += "# Certificate and key paths are relative to this file.\n\n";
    s += &format!("session_id: {session_id}\nprotocol: {protocol}\n");
    if override_parties {
        s += &format!("parties: {}\n", opts.parties);
    }
    s += "endpoints:\n";
    for (i, (name, files, pin)) in made.iter().enumerate() {
        s += &format!("  - address: 127.0.0.1:{}   # {name}\n", 7000 + i);
        s += &format!("    pin: {pin}\n");
        s += &format!(
            "    tls: {{ cert: {}, key: {} }}\n",
            file(&files.cert),
            file(&files.key)
        );
    }
    s += "timeout_s: 10\n";
    s += "# The job every endpoint runs (see the README's multi-host section); replace it with yours.\n";
    s += &job_line(&opts.job, opts.parties);
    s
}

/// The skeleton's job: public fields only; what each party owns goes on its own command line.
fn job_line(job: &str, parties: usize) -> String {
    match job {
        "infer" => format!(
            "# Private inference: party 0 adds `--model FILE.onnx` (or a zoo name; `--weights W` for its\n\
             # weights), party {} (the data owner) `--input X.npy --output Y.npy`, the dealer nothing.\n\
             job: {{ kind: model, model_seed: 0, public_model: false, reps: 1 }}\n",
            parties.saturating_sub(1)
        ),
        _ => "job: { kind: bench-op, op: relu, shapes: [[1000]], conv: [1, 0, 1, 1], reps: 1, input_seed: 1 }\n".into(),
    }
}
