//! Running parties as separate processes over TCP: session files, the per-process party runner and
//! the local launcher.
//!
//! A session file (YAML) describes one run for every endpoint: its id, the protocol variant, every
//! endpoint's address (parties `0..N`, then the dealer where the protocol has one), the pin of its
//! certificate (or `insecure_plaintext: true`), the job and the seed. Multi-host runs start
//! `testbed party --id I --session SESSION.yaml` on each machine with the same file (`testbed
//! certs` makes the certificates and a skeleton of it). The local launcher writes such a file with
//! port 0 for every endpoint, starts one child process per endpoint, collects the ports each child
//! actually bound, hands every child the full address list on its standard input (so no port is
//! ever guessed), and gathers their one-line JSON results. Every child is reaped whatever happens.

mod certs;
mod channel;

pub use certs::{CertsOptions, CertsReport, make_certs};
pub use channel::flatten_json;

pub mod job;

pub use job::{EndpointLine, JobSpec, PartyInputs, TransportKind, run_job};

use crate::error::{Error, PartyId, Result};
use crate::net::tcp::{DEFAULT_VALID_DAYS, Pin, TcpTransport};
use crate::protocol::ProtocolConfig;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// TLS files of one endpoint (PEM), read only by that endpoint; relative paths are relative to
/// the session file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// This endpoint's certificate (chain, leaf first).
    pub cert: PathBuf,
    /// This endpoint's private key.
    pub key: PathBuf,
}

/// One endpoint of a session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// `host:port` to listen on (and where the others reach it); port 0 only under the launcher.
    pub address: String,
    /// The SHA-256 of this endpoint's certificate: peers accept exactly that certificate from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    /// This endpoint's own certificate and key (the other endpoints ignore them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
}

/// A session file: everything every endpoint must agree on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    /// Identifies the run; endpoints of different sessions refuse each other.
    pub session_id: u64,
    /// Protocol variant: a name in protocols/ or a path.
    pub protocol: String,
    /// Parties override, for families that take any number.
    #[serde(default)]
    pub parties: Option<usize>,
    /// Fractional bits override.
    #[serde(default)]
    pub precision_bits: Option<u32>,
    /// Parties `0..N` in order, then the dealer where there is one.
    pub endpoints: Vec<Endpoint>,
    /// Seconds a party waits for a silent peer before failing.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// INSECURE: a fixed seed for every party's share randomness, so that tests reproduce shares
    /// exactly. Anyone who knows it recomputes every party's masks; absent (the default), share
    /// randomness comes from the OS.
    #[serde(default)]
    pub insecure_share_seed: Option<u64>,
    /// The job, as the job runner understands it (see `bench::jobs`).
    pub job: serde_json::Value,
    /// Plain TCP without pins: anyone on the path reads and alters the traffic. Required (and only
    /// allowed) when no endpoint has a pin.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_plaintext: bool,
    /// Longest message a party accepts, in MiB (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_frame_mib: Option<u64>,
    /// The file this session was loaded from (relative TLS paths are relative to its folder).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

fn default_timeout() -> f64 {
    10.0
}

impl SessionFile {
    /// Reads and parses a session file.
    pub fn load(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: shown.clone(),
            source: e,
        })?;
        let mut session: Self =
            serde_saphyr::from_str(&text).map_err(|e| Error::config(&shown, one_line(&e.to_string())))?;
        session.path = Some(path.to_path_buf());
        session.check_channels()?;
        Ok(session)
    }

    /// The protocol variant with the session's overrides.
    pub fn protocol(&self) -> Result<ProtocolConfig> {
        let mut cfg = ProtocolConfig::load(&self.protocol)?;
        if let Some(n) = self.parties {
            cfg = cfg.with_parties(n)?;
        }
        if let Some(b) = self.precision_bits {
            cfg = cfg.with_precision(b)?;
        }
        Ok(cfg)
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs endpoint `id` of a session in this process: binds its address (or, under the launcher,
/// port 0, announcing the port on stdout and reading every address from stdin), connects to every
/// other endpoint, and hands the transport to `run`.
pub fn run_endpoint_process<T>(
    session: &SessionFile,
    id: PartyId,
    launched: bool,
    run: impl FnOnce(&ProtocolConfig, TcpTransport) -> Result<T>,
) -> Result<T> {
    let cfg = session.protocol()?;
    let endpoints = crate::protocol::session::endpoints(&cfg);
    if session.endpoints.len() != endpoints {
        return Err(Error::config(
            "session",
            format!(
                "protocol {} needs {endpoints} endpoints, the session lists {}",
                cfg.name,
                session.endpoints.len()
            ),
        ));
    }
    let me = session
        .endpoints
        .get(id)
        .ok_or_else(|| Error::invalid("--id", format!("no endpoint {id} in the session")))?;
    let listener = TcpListener::bind(&me.address).map_err(|e| Error::Io {
        path: me.address.clone(),
        source: e,
    })?;
    let addrs: Vec<SocketAddr> = if launched {
        let port = listener
            .local_addr()
            .map_err(|e| Error::Io {
                path: me.address.clone(),
                source: e,
            })?
            .port();
        println!("PORT {port}");
        std::io::stdout().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::Io {
            path: "stdin".into(),
            source: e,
        })?;
        let list = line
            .trim()
            .strip_prefix("ADDRS ")
            .ok_or_else(|| Error::invalid("launcher", "expected the address list"))?;
        list.split(',')
            .map(|a| {
                a.parse()
                    .map_err(|_| Error::invalid("launcher", format!("bad address {a}")))
            })
            .collect::<Result<_>>()?
    } else {
        session
            .endpoints
            .iter()
            .map(|e| {
                use std::net::ToSocketAddrs;
                e.address
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| Error::config("session", format!("cannot resolve address {}", e.address)))
            })
            .collect::<Result<_>>()?
    };
    let opts = session.tcp_options(&cfg, id)?;
    let transport = TcpTransport::establish(id, listener, &addrs, &opts)?;
    run(&cfg, transport)
}

/// Kills and reaps every child still running when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How the local launcher starts one endpoint: its own arguments, and the folder it runs in.
#[derive(Clone, Debug, Default)]
pub struct EndpointLaunch {
    pub args: Vec<std::ffi::OsString>,
    /// The working folder (a fresh private one when `None`).
    pub dir: Option<PathBuf>,
}

/// Options of a local launch.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// Use TLS between the local processes (self-signed certificates made for this session).
    pub tls: bool,
    /// Seconds a party waits for a silent peer.
    pub timeout_s: f64,
    /// INSECURE: a fixed seed of the share randomness (tests only); `None` draws from the OS.
    pub insecure_share_seed: Option<u64>,
    /// Parties override.
    pub parties: Option<usize>,
    /// Fractional bits override.
    pub precision_bits: Option<u32>,
}

/// Starts every endpoint of `protocol` as a child process of this executable on loopback, runs
/// `job`, and returns each endpoint's last stdout line (its JSON result), in endpoint order.
///
/// Each child starts in a folder of its own (`endpoints[i].dir`, else a fresh one) with only its
/// own arguments (`endpoints[i].args`: the files its owner holds; endpoints without an entry get
/// none), as separate machines would.
pub fn launch_local(
    cfg: &ProtocolConfig,
    job: serde_json::Value,
    opts: &LaunchOptions,
    endpoint_launch: &[EndpointLaunch],
) -> Result<Vec<String>> {
    let protocol = if cfg.source.is_empty() {
        cfg.name.as_str()
    } else {
        cfg.source.as_str()
    };
    let endpoints = crate::protocol::session::endpoints(cfg);
    let dir = tempdir()?;
    // Throw-away identities made as `testbed certs` makes them, pinned in the session file.
    let identities = if opts.tls {
        certs::write_identities(&dir, cfg, DEFAULT_VALID_DAYS)?
    } else {
        eprintln!("{}", channel::PLAINTEXT_WARNING);
        Vec::new()
    };
    let session = SessionFile {
        session_id: u64::from_le_bytes(crate::protocol::prg::os_seed()?[..8].try_into().expect("8 bytes")),
        protocol: protocol.to_string(),
        parties: opts.parties,
        precision_bits: opts.precision_bits,
        endpoints: (0..endpoints)
            .map(|i| Endpoint {
                address: "127.0.0.1:0".into(),
                pin: identities.get(i).map(|(_, pin)| *pin),
                tls: identities.get(i).map(|(files, _)| files.clone()),
            })
            .collect(),
        timeout_s: opts.timeout_s,
        insecure_share_seed: opts.insecure_share_seed,
        job,
        insecure_plaintext: !opts.tls,
        max_frame_mib: None,
        path: None,
    };
    let path = dir.join("session.yaml");
    // JSON is valid YAML, and serde_json round-trips the job exactly.
    let text = serde_json::to_string_pretty(&session).expect("sessions serialise");
    std::fs::write(&path, text).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let exe = std::env::current_exe().map_err(|e| Error::Io {
        path: "current executable".into(),
        source: e,
    })?;
    let mut children = Children(Vec::new());
    for i in 0..endpoints {
        let own = endpoint_launch.get(i);
        let home = own
            .and_then(|e| e.dir.clone())
            .unwrap_or_else(|| dir.join(format!("endpoint{i}")));
        std::fs::create_dir_all(&home).map_err(|e| Error::Io {
            path: home.display().to_string(),
            source: e,
        })?;
        let child = Command::new(&exe)
            .args(["party", "--id", &i.to_string(), "--session"])
            .arg(&path)
            .args(["--launched", "--json"])
            .args(own.into_iter().flat_map(|e| e.args.iter()))
            .current_dir(&home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Io {
                path: exe.display().to_string(),
                source: e,
            })?;
        children.0.push(child);
    }
    // Collect each child's port, then tell everyone every address.
    let mut readers = Vec::new();
    let mut ports = Vec::new();
    for (i, c) in children.0.iter_mut().enumerate() {
        let mut r = BufReader::new(c.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| Error::Io {
            path: format!("endpoint {i}"),
            source: e,
        })?;
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let mut err = String::new();
            c.stderr.take().map(|mut s| s.read_to_string(&mut err));
            return Err(launch_error(i, endpoints, cfg, err.trim()));
        };
        ports.push(port);
        readers.push(r);
    }
    let list = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    for c in &mut children.0 {
        if let Some(stdin) = c.stdin.as_mut() {
            let _ = writeln!(stdin, "ADDRS {list}");
        }
        c.stdin.take();
    }
    // Read every child's output in parallel (pipes must not fill up), then wait for them.
    let handles: Vec<_> = readers
        .into_iter()
        .zip(children.0.iter_mut().map(|c| c.stderr.take().expect("piped stderr")))
        .map(|(mut out, mut err)| {
            std::thread::spawn(move || {
                let mut o = String::new();
                let mut e = String::new();
                let _ = out.read_to_string(&mut o);
                let _ = err.read_to_string(&mut e);
                (o, e)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut status = vec![None; endpoints];
    while status.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, c) in children.0.iter_mut().enumerate() {
            if status[i].is_none() {
                if let Ok(Some(s)) = c.try_wait() {
                    status[i] = Some((s.success(), Instant::now()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let outputs: Vec<(String, String)> = handles.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    // The root cause is the first endpoint to fail for a reason of its own; the others report
    // its disappearance as a link error (`party P: link to Q: ...`). Exit times alone can mislead
    // on a loaded machine (a peer may be reaped before the process it lost), so a failure that is
    // not a link error wins; with only link errors, the earliest.
    let last_line = |i: usize| {
        outputs[i]
            .1
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("warning: "))
            .last()
            .unwrap_or("exited without a message")
            .trim_start_matches("error: ")
            .to_string()
    };
    let mut failed: Vec<(usize, Instant)> = status
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.and_then(|(ok, t)| (!ok).then_some((i, t))))
        .collect();
    failed.sort_by_key(|&(_, t)| t);
    let failures: Vec<(usize, String)> = failed.iter().map(|&(i, _)| (i, last_line(i))).collect();
    if let Some((i, msg)) = root_cause(&failures) {
        return Err(launch_error(*i, endpoints, cfg, msg));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(outputs
        .into_iter()
        .map(|(o, _)| o.lines().last().unwrap_or("").to_string())
        .collect())
}

/// Of the failed endpoints with their last error line, in the order they exited: the first that
/// failed for a reason of its own (not a link error naming a lost peer), else the first.
fn root_cause(failures: &[(usize, String)]) -> Option<&(usize, String)> {
    failures
        .iter()
        .find(|(_, msg)| !msg.contains(": link to "))
        .or(failures.first())
}

fn launch_error(i: usize, endpoints: usize, cfg: &ProtocolConfig, msg: &str) -> Error {
    let who = if cfg.has_dealer_endpoint() && i + 1 == endpoints {
        "dealer".to_string()
    } else {
        format!("party {i}")
    };
    Error::Net {
        party: i,
        peer: who,
        detail: format!("process failed: {msg}"),
    }
}

/// A fresh private folder under the system temp dir.
fn tempdir() -> Result<PathBuf> {
    let n = u64::from_le_bytes(crate::protocol::prg::os_seed()?[..8].try_into().expect("8 bytes"));
    let dir = std::env::temp_dir().join(format!("testbed-session-{n:016x}"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::root_cause;

    #[test]
    fn the_root_cause_is_a_failure_of_its_own_not_a_lost_link() {
        let lost = |p: usize, q: usize| format!("party {p}: link to party {q}: connection closed");
        // Reaped first under load, the peer that lost party 1 must not be blamed.
        let failures = vec![
            (2, lost(2, 1)),
            (1, "exited without a message".to_string()),
            (0, lost(0, 1)),
        ];
        assert_eq!(root_cause(&failures).map(|f| f.0), Some(1));
        // Only link errors: the earliest.
        let failures = vec![(0, lost(0, 2)), (1, lost(1, 2))];
        assert_eq!(root_cause(&failures).map(|f| f.0), Some(0));
        assert!(root_cause(&[]).is_none());
    }
}
