//! The TCP transport: one process per endpoint, a full mesh of blocking sockets, optionally inside
//! mutually authenticated TLS 1.3 (rustls with the `ring` backend).
//!
//! Each link has a writer thread (takes messages from an unbounded queue and writes frames, so
//! `send` never blocks and two peers sending large tensors to each other at once never deadlock)
//! and a reader thread (reads frames straight into a fresh `Vec<u64>` and queues them). `recv`
//! waits on the link's queue for at most [`TcpOptions::timeout`]; a peer that disconnects, sends a
//! bad frame, or stays silent is an [`Error::Net`] naming it, never a hang.
//!
//! Connection set-up ([`TcpTransport::establish`]): for each pair `i < j`, `j` dials `i` (retrying
//! until [`TcpOptions::connect_timeout`], since peers start at different times) and `i` accepts.
//! Every link then runs a handshake before any payload:
//!
//! 1. a plaintext preamble both ways — magic, [`PROTOCOL_VERSION`], sender id, endpoint count, TLS
//!    on/off, and the id the sender believes the receiver has (the dialler writes first);
//! 2. with TLS, the TLS 1.3 handshake: the dialler checks the acceptor's certificate is valid for
//!    `testbed-party-{i}` ([`tls_name`]), the acceptor requires a client certificate from its trusted
//!    set and checks it is valid for `testbed-party-{j}`;
//! 3. a session frame both ways (inside TLS when on) — session id, sender id, endpoint count, the
//!    caller's 32-byte configuration hash and its human label.
//!
//! Both sides judge the same data, so a mismatch fails `establish` on both sides with a message
//! naming what differs (`party 1: link to party 0: session id differs (ours 7, theirs 8)`).
//!
//! Byte accounting: [`Transport::framing_bytes`] is every byte this endpoint wrote to its sockets
//! minus the payload bytes of the messages it sent — length prefixes, handshakes, TLS records and
//! alerts. Without TLS it is exactly `24 × messages + handshake_bytes()` (each message frame holds
//! its length and its [`Stamp`], the logical clock that measures rounds).

use super::frame::{read_frame, read_message, write_frame, write_message};
use super::{Message, Stamp, Transport};
use crate::error::{Error, PartyId, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Version of the wire protocol (handshake layout and framing). Both ends of a link must agree.
pub const PROTOCOL_VERSION: u64 = 2;

/// First word of every preamble: ASCII `testbed!`, so a stray connection is recognised at once.
const MAGIC: u64 = u64::from_le_bytes(*b"testbed!");

/// Words in a preamble frame.
const PREAMBLE_WORDS: usize = 6;

/// Fixed words of a session frame, before the label.
const SESSION_FIXED_WORDS: usize = 8;

/// Longest configuration label carried in the handshake, in bytes (longer ones are cut).
pub const MAX_LABEL_BYTES: usize = 256;

/// Plaintext handed to TLS per write, so records are produced and sent in a steady stream.
const TLS_CHUNK: usize = 64 * 1024;

/// Socket read buffer of a TLS link.
const TLS_READ_BUF: usize = 256 * 1024;

/// The DNS name an endpoint's certificate must be valid for: `testbed-party-{endpoint}`.
pub fn tls_name(endpoint: PartyId) -> String {
    format!("testbed-party-{endpoint}")
}

/// SHA-256 of `bytes`: a convenient way to fill [`TcpOptions::config_hash`] from a canonical
/// serialisation of the protocol configuration and the job.
pub fn config_hash(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// How a [`TcpTransport`] connects, authenticates and waits.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Identifies one run; every endpoint of the run must use the same value.
    pub session_id: u64,
    /// Hash of the protocol configuration and the job; every endpoint must agree.
    pub config_hash: [u8; 32],
    /// Human label of the configuration, quoted in mismatch messages (at most 256 bytes are sent).
    pub config_label: String,
    /// How long `recv` waits for a message before failing (default 10 s).
    pub timeout: Duration,
    /// How long `establish` waits for peers to appear (dialling retries, accepting, handshakes;
    /// default 30 s).
    pub connect_timeout: Duration,
    /// Longest frame the readers accept, in words (default 2^31 words = 16 GiB).
    pub max_frame_words: u64,
    /// TLS 1.3 with mutual authentication when set.
    pub tls: Option<TlsSetup>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            session_id: 0,
            config_hash: [0; 32],
            config_label: String::new(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            max_frame_words: 1 << 31,
            tls: None,
        }
    }
}

/// One endpoint's TLS identity and the certificates it trusts for its peers (all DER).
pub struct TlsSetup {
    /// This endpoint's certificate chain, leaf first; the leaf must be valid for
    /// [`tls_name`]`(id)`.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf certificate's private key.
    pub key: PrivateKeyDer<'static>,
    /// Trust anchors for peers' certificates (self-signed peer certificates or a CA).
    pub trusted: Vec<CertificateDer<'static>>,
}

impl Clone for TlsSetup {
    fn clone(&self) -> Self {
        Self {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            trusted: self.trusted.clone(),
        }
    }
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("cert_chain", &format_args!("{} certificate(s)", self.cert_chain.len()))
            .field("key", &"<redacted>")
            .field("trusted", &format_args!("{} certificate(s)", self.trusted.len()))
            .finish()
    }
}

impl TlsSetup {
    /// Throw-away identities for a local run: one self-signed certificate per endpoint (subject
    /// alternative name [`tls_name`]`(i)`), and every endpoint trusts all of them.
    ///
    /// # Panics
    /// Only if certificate generation itself fails, which it does not for these fixed parameters;
    /// [`TlsSetup::try_self_signed_session`] returns that as an error instead.
    pub fn self_signed_session(endpoints: usize) -> Vec<TlsSetup> {
        Self::try_self_signed_session(endpoints).expect("self-signed certificate generation")
    }

    /// [`TlsSetup::self_signed_session`], with generation failures as errors.
    pub fn try_self_signed_session(endpoints: usize) -> Result<Vec<TlsSetup>> {
        let gen_err = |e: rcgen::Error| Error::invalid("tls", format!("certificate generation: {e}"));
        let mut made = Vec::with_capacity(endpoints);
        for i in 0..endpoints {
            let name = tls_name(i);
            let mut params = rcgen::CertificateParams::new(vec![name.clone()]).map_err(gen_err)?;
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::CommonName, name);
            params.distinguished_name = dn;
            let key = rcgen::KeyPair::generate().map_err(gen_err)?;
            let cert = params.self_signed(&key).map_err(gen_err)?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
            made.push((cert.der().clone(), key));
        }
        let trusted: Vec<CertificateDer<'static>> = made.iter().map(|(c, _)| c.clone()).collect();
        Ok(made
            .into_iter()
            .map(|(cert, key)| TlsSetup {
                cert_chain: vec![cert],
                key,
                trusted: trusted.clone(),
            })
            .collect())
    }

    /// Loads a user-provided identity: `cert` holds this endpoint's certificate chain (PEM, leaf
    /// first), `key` its private key (PEM: PKCS#8, PKCS#1 or SEC1), and each file in `trusted` one
    /// or more PEM certificates to trust for the peers (their self-signed certificates or a CA).
    pub fn from_pem_files<P: AsRef<Path>>(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        trusted: &[P],
    ) -> Result<TlsSetup> {
        let cert_chain = read_pem_certs(cert.as_ref())?;
        let key_path = key.as_ref();
        let key_pem = read_file(key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| Error::config(key_path.display().to_string(), format!("no private key found: {e}")))?;
        let mut anchors = Vec::new();
        for path in trusted {
            anchors.extend(read_pem_certs(path.as_ref())?);
        }
        if anchors.is_empty() {
            return Err(Error::invalid("tls", "no trusted certificates given"));
        }
        Ok(TlsSetup {
            cert_chain,
            key,
            trusted: anchors,
        })
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(path.display().to_string(), format!("bad pem certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(path.display().to_string(), "no pem certificate found"));
    }
    Ok(certs)
}

/// Client and server configurations built once per `establish`.
struct TlsConfigs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

impl TlsConfigs {
    fn new(setup: &TlsSetup) -> Result<Self> {
        let bad = |what: &str, e: &dyn std::fmt::Display| Error::invalid("tls", format!("{what}: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for (k, cert) in setup.trusted.iter().enumerate() {
            roots
                .add(cert.clone())
                .map_err(|e| bad(&format!("trusted certificate {k}"), &e))?;
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .map_err(|e| bad("client verifier", &e))?;
        let mut server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad("server config", &e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(setup.cert_chain.clone(), setup.key.clone_key())
            .map_err(|e| bad("own certificate or key", &e))?;
        server.send_tls13_tickets = 0;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad("client config", &e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(setup.cert_chain.clone(), setup.key.clone_key())
            .map_err(|e| bad("own certificate or key", &e))?;
        client.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }
}

/// Bytes written to this endpoint's sockets, and payload bytes among them.
#[derive(Default)]
struct Counters {
    socket_written: AtomicU64,
    payload_written: AtomicU64,
}

/// A socket whose writes are counted.
struct Counted {
    sock: TcpStream,
    counters: Arc<Counters>,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sock.write(buf)?;
        self.counters.socket_written.fetch_add(n as u64, Ordering::AcqRel);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = self.sock.write_vectored(bufs)?;
        self.counters.socket_written.fetch_add(n as u64, Ordering::AcqRel);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }
}

type SharedTls = Arc<Mutex<rustls::Connection>>;

fn lock_tls(tls: &SharedTls) -> io::Result<std::sync::MutexGuard<'_, rustls::Connection>> {
    tls.lock()
        .map_err(|_| io::Error::other("tls state poisoned by a panicked thread"))
}

fn tls_io_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

/// What the writer thread is asked to do.
enum Cmd {
    Send(Message, Stamp),
    /// Write out pending TLS records (e.g. a key-update answer the reader queued).
    Flush,
    Close,
}

/// The reading side of a link: plain socket reads, or TLS records decrypted under the shared
/// connection's lock (never held during socket I/O).
struct ReadHalf {
    sock: TcpStream,
    tls: Option<SharedTls>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    wake_writer: Option<Sender<Cmd>>,
    /// The last transport-level failure (socket or TLS), so that a frame error can be told apart
    /// from a broken connection.
    failure: Option<String>,
}

impl ReadHalf {
    fn new(sock: TcpStream) -> Self {
        Self {
            sock,
            tls: None,
            buf: Vec::new(),
            start: 0,
            end: 0,
            wake_writer: None,
            failure: None,
        }
    }

    fn read_tls_plaintext(&mut self, tls: &SharedTls, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = lock_tls(tls)?;
                match conn.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                if self.start < self.end {
                    let mut pending = &self.buf[self.start..self.end];
                    let took = conn.read_tls(&mut pending)?;
                    self.start += took;
                    conn.process_new_packets().map_err(tls_io_error)?;
                    if conn.wants_write()
                        && let Some(w) = &self.wake_writer
                    {
                        let _ = w.send(Cmd::Flush);
                    }
                    continue;
                }
            }
            if self.buf.is_empty() {
                self.buf = vec![0; TLS_READ_BUF];
            }
            let got = loop {
                match self.sock.read(&mut self.buf) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if got == 0 {
                return Ok(0);
            }
            self.start = 0;
            self.end = got;
        }
    }
}

impl Read for ReadHalf {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let got = match self.tls.clone() {
            None => self.sock.read(out),
            Some(tls) => self.read_tls_plaintext(&tls, out),
        };
        if let Err(e) = &got
            && e.kind() != ErrorKind::Interrupted
        {
            self.failure = Some(io_detail(e));
        }
        got
    }
}

/// The writing side of a link. With TLS, plaintext is encrypted in chunks of 64 KiB under the
/// shared connection's lock, and the records are written after the lock is released.
struct WriteHalf {
    sock: Counted,
    tls: Option<SharedTls>,
    out: Vec<u8>,
}

impl WriteHalf {
    fn drain_tls(&mut self, tls: &SharedTls) -> io::Result<()> {
        {
            let mut conn = lock_tls(tls)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
        }
        let sent = self.sock.write_all(&self.out);
        self.out.clear();
        sent
    }

    /// Ends the link's sending side: TLS close_notify (when on), then a TCP FIN.
    fn close(&mut self) {
        if let Some(tls) = self.tls.clone() {
            if let Ok(mut conn) = lock_tls(&tls) {
                conn.send_close_notify();
            }
            let _ = self.drain_tls(&tls);
        }
        let _ = self.sock.sock.shutdown(Shutdown::Write);
    }
}

impl Write for WriteHalf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.clone() else {
            return self.sock.write(data);
        };
        let chunk = &data[..data.len().min(TLS_CHUNK)];
        let taken = {
            let mut conn = lock_tls(&tls)?;
            let taken = conn.writer().write(chunk)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
            taken
        };
        let sent = self.sock.write_all(&self.out);
        self.out.clear();
        sent.map(|()| taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.clone() {
            self.drain_tls(&tls)?;
        }
        self.sock.flush()
    }
}

/// One lowercase line for an I/O failure on a link.
fn io_detail(e: &io::Error) -> String {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return format!("tls: {tls}");
    }
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".to_string(),
        ErrorKind::UnexpectedEof => "connection closed".to_string(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::BrokenPipe => "connection closed (broken pipe)".to_string(),
        _ => {
            let text = e.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "i/o error".to_string(),
            }
        }
    }
}

/// The detail of a `read_frame` error: the transport failure recorded by the reader, or the frame
/// codec's complaint.
fn frame_failure(reader: &mut ReadHalf, e: Error) -> String {
    if let Some(failure) = reader.failure.take() {
        return failure;
    }
    match e {
        Error::Invalid { detail, .. } => format!("bad frame: {detail}"),
        other => format!("bad frame: {other}"),
    }
}

/// Shared between a link's writer thread and the transport.
#[derive(Default)]
struct WriterState {
    /// Messages fully written to the socket.
    flushed: AtomicU64,
    /// Set once the writer has stopped on an error.
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl WriterState {
    fn fail(&self, detail: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(detail);
        }
        self.failed.store(true, Ordering::Release);
    }

    fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// A link's two halves after its handshake, before its threads start.
struct LinkIo {
    sock: TcpStream,
    read: ReadHalf,
    write: WriteHalf,
}

/// A running link.
struct Link {
    sock: TcpStream,
    cmds: Sender<Cmd>,
    msgs: Receiver<std::result::Result<(Message, Stamp), String>>,
    /// Messages queued to the writer.
    queued: u64,
    writer: Arc<WriterState>,
    /// Disconnects when the writer thread ends.
    writer_done: Receiver<()>,
    /// Sticky receive-side failure.
    dead: Option<String>,
    threads: Vec<JoinHandle<()>>,
}

/// One endpoint's side of a TCP (optionally TLS) full mesh.
pub struct TcpTransport {
    id: PartyId,
    endpoints: usize,
    links: Vec<Option<Link>>,
    timeout: Duration,
    counters: Arc<Counters>,
    handshake_bytes: u64,
}

/// What `establish` needs while it handshakes each link.
struct Setup<'a> {
    id: PartyId,
    endpoints: usize,
    opts: &'a TcpOptions,
    tls: Option<TlsConfigs>,
    counters: Arc<Counters>,
    io_timeout: Duration,
}

impl Setup<'_> {
    fn fail(&self, peer: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Net {
            party: self.id,
            peer: peer.into(),
            detail: detail.into(),
        }
    }

    /// Dials endpoint `peer` at `addr`, retrying until `deadline`.
    fn dial(&self, peer: PartyId, addr: SocketAddr, deadline: Instant) -> Result<TcpStream> {
        let mut last = String::from("no attempt made");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.fail(
                    format!("party {peer}"),
                    format!(
                        "could not connect to {addr} within {:?}: {last}",
                        self.opts.connect_timeout
                    ),
                ));
            }
            match TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(2))) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    last = io_detail(&e);
                    std::thread::sleep(left.min(Duration::from_millis(20)));
                }
            }
        }
    }

    fn preamble(&self, you: u64) -> Vec<u64> {
        vec![
            MAGIC,
            PROTOCOL_VERSION,
            self.id as u64,
            self.endpoints as u64,
            self.opts.tls.is_some() as u64,
            you,
        ]
    }

    fn session_frame(&self) -> Vec<u64> {
        let label = label_bytes(&self.opts.config_label);
        let mut words = Vec::with_capacity(SESSION_FIXED_WORDS + label.len().div_ceil(8));
        words.push(self.opts.session_id);
        words.push(self.id as u64);
        words.push(self.endpoints as u64);
        words.extend(
            self.opts
                .config_hash
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
        );
        words.push(label.len() as u64);
        for chunk in label.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            words.push(u64::from_le_bytes(w));
        }
        words
    }

    /// Runs the handshake on a fresh connection. `dialled` is the peer this endpoint dialled, or
    /// `None` for an accepted connection, in which case `connected[j]` tells which peers already
    /// have a link. Returns the peer's id and the link's halves.
    fn handshake(&self, stream: TcpStream, dialled: Option<PartyId>, connected: &[bool]) -> Result<(PartyId, LinkIo)> {
        let remote = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "an unknown address".to_string());
        let mut peer_name = match dialled {
            Some(p) => format!("party {p}"),
            None => format!("endpoint at {remote}"),
        };
        let setup_io = |e: io::Error| {
            self.fail(
                format!("endpoint at {remote}"),
                format!("socket set-up: {}", io_detail(&e)),
            )
        };
        stream.set_nodelay(true).map_err(setup_io)?;
        stream.set_read_timeout(Some(self.io_timeout)).map_err(setup_io)?;
        stream.set_write_timeout(Some(self.io_timeout)).map_err(setup_io)?;
        let mut read = ReadHalf::new(stream.try_clone().map_err(setup_io)?);
        let mut write = WriteHalf {
            sock: Counted {
                sock: stream.try_clone().map_err(setup_io)?,
                counters: Arc::clone(&self.counters),
            },
            tls: None,
            out: Vec::new(),
        };

        // 1. Preamble (plaintext). The dialler writes first; the acceptor answers after reading, so
        //    both judge the same pair of preambles.
        let theirs = match dialled {
            Some(p) => {
                self.send_hs(&mut write, &self.preamble(p as u64), &peer_name)?;
                self.recv_hs(&mut read, PREAMBLE_WORDS as u64, &peer_name)?
            }
            None => {
                let theirs = self.recv_hs(&mut read, PREAMBLE_WORDS as u64, &peer_name)?;
                if theirs.len() < 2 || theirs[0] != MAGIC {
                    return Err(self.fail(peer_name, "not a testbed endpoint (bad handshake magic)"));
                }
                if theirs.len() == PREAMBLE_WORDS && theirs[2] < self.endpoints as u64 {
                    peer_name = format!("party {}", theirs[2]);
                }
                let claimed = theirs.get(2).copied().unwrap_or(u64::MAX);
                self.send_hs(&mut write, &self.preamble(claimed), &peer_name)?;
                theirs
            }
        };
        let peer = self
            .check_preamble(&theirs, dialled, connected)
            .map_err(|d| self.fail(&peer_name, d))?;
        let peer_name = format!("party {peer}");

        // 2. TLS 1.3 with mutual authentication.
        if let Some(configs) = &self.tls {
            let conn = self.tls_handshake(configs, &stream, dialled.is_some(), peer, &peer_name)?;
            let shared = Arc::new(Mutex::new(conn));
            read.tls = Some(Arc::clone(&shared));
            write.tls = Some(shared);
        }

        // 3. Session frame (inside TLS when on). The acceptor writes first: with TLS its first
        //    write means it accepted the dialler's certificate, and a dialler it refused reads the
        //    alert instead of failing on a write.
        let max_words = (SESSION_FIXED_WORDS + MAX_LABEL_BYTES / 8) as u64;
        let theirs = if dialled.is_some() {
            let theirs = self.recv_hs(&mut read, max_words, &peer_name)?;
            self.send_hs(&mut write, &self.session_frame(), &peer_name)?;
            theirs
        } else {
            self.send_hs(&mut write, &self.session_frame(), &peer_name)?;
            self.recv_hs(&mut read, max_words, &peer_name)?
        };
        self.check_session(&theirs, peer)
            .map_err(|d| self.fail(&peer_name, d))?;

        stream.set_read_timeout(None).map_err(setup_io)?;
        stream.set_write_timeout(None).map_err(setup_io)?;
        Ok((
            peer,
            LinkIo {
                sock: stream,
                read,
                write,
            },
        ))
    }

    fn send_hs(&self, write: &mut WriteHalf, words: &[u64], peer: &str) -> Result<()> {
        write_frame(write, words)
            .and_then(|()| write.flush())
            .map_err(|e| self.fail(peer, format!("handshake: {}", io_detail(&e))))
    }

    fn recv_hs(&self, read: &mut ReadHalf, max_words: u64, peer: &str) -> Result<Vec<u64>> {
        match read_frame(read, max_words) {
            Ok(Some(words)) => Ok(words),
            Ok(None) => Err(self.fail(peer, self.closed_during_handshake(read, None))),
            Err(e) => {
                let detail = match read.failure.take() {
                    Some(f) if f == "timed out" => {
                        format!("no handshake within {:?}", self.io_timeout)
                    }
                    Some(f) if f.starts_with("tls: ") => f,
                    Some(f) if f.starts_with("connection ") && read.tls.is_some() => {
                        self.closed_during_handshake(read, Some(&f))
                    }
                    Some(f) => format!("handshake: {f}"),
                    None => match e {
                        Error::Invalid { detail, .. } => format!("bad handshake: {detail}"),
                        other => format!("bad handshake: {other}"),
                    },
                };
                Err(self.fail(peer, detail))
            }
        }
    }

    /// What a connection closed in mid-handshake most likely means.
    fn closed_during_handshake(&self, read: &ReadHalf, how: Option<&str>) -> String {
        let how = how.map(|h| format!(": {h}")).unwrap_or_default();
        let hint = if read.tls.is_some() {
            " (the peer may have refused our certificate)"
        } else {
            ""
        };
        format!("connection closed during the handshake{how}{hint}")
    }

    /// Judges the peer's preamble; returns the peer's id.
    fn check_preamble(
        &self,
        theirs: &[u64],
        dialled: Option<PartyId>,
        connected: &[bool],
    ) -> std::result::Result<PartyId, String> {
        if theirs.len() < 2 || theirs[0] != MAGIC {
            return Err("not a testbed endpoint (bad handshake magic)".to_string());
        }
        if theirs[1] != PROTOCOL_VERSION {
            return Err(format!(
                "protocol version differs (ours {PROTOCOL_VERSION}, theirs {})",
                theirs[1]
            ));
        }
        if theirs.len() != PREAMBLE_WORDS {
            return Err(format!(
                "bad handshake: preamble of {} words, expected {PREAMBLE_WORDS}",
                theirs.len()
            ));
        }
        let (their_id, their_count, their_tls, their_view_of_us) = (theirs[2], theirs[3], theirs[4], theirs[5]);
        if their_count != self.endpoints as u64 {
            return Err(format!(
                "endpoint count differs (ours {}, theirs {their_count})",
                self.endpoints
            ));
        }
        let me = self.id as u64;
        let peer = match dialled {
            Some(p) => {
                if their_id != p as u64 {
                    return Err(format!("party id: expected {p}, got {their_id}"));
                }
                if their_view_of_us != me {
                    return Err(format!(
                        "party id: the peer takes us for party {their_view_of_us}, we are party {me}"
                    ));
                }
                p
            }
            None => {
                if their_view_of_us != me {
                    return Err(format!(
                        "party id: party {their_id} dialled party {their_view_of_us}, but this is party {me}"
                    ));
                }
                if their_id <= me || their_id >= self.endpoints as u64 {
                    let expected = (self.id + 1..self.endpoints)
                        .filter(|&j| !connected[j])
                        .map(|j| j.to_string())
                        .collect::<Vec<_>>();
                    return Err(format!(
                        "party id: expected one of {}, got {their_id}",
                        expected.join(", ")
                    ));
                }
                let j = their_id as usize;
                if connected[j] {
                    return Err(format!("party id: party {j} is already connected"));
                }
                j
            }
        };
        let on_off = |b: bool| if b { "on" } else { "off" };
        if their_tls != self.opts.tls.is_some() as u64 {
            return Err(format!(
                "tls differs (ours {}, theirs {})",
                on_off(self.opts.tls.is_some()),
                on_off(their_tls != 0)
            ));
        }
        Ok(peer)
    }

    /// Judges the peer's session frame.
    fn check_session(&self, theirs: &[u64], peer: PartyId) -> std::result::Result<(), String> {
        let bad = || format!("bad handshake: session frame of {} words", theirs.len());
        if theirs.len() < SESSION_FIXED_WORDS {
            return Err(bad());
        }
        let label_len = theirs[7];
        if label_len > MAX_LABEL_BYTES as u64 || theirs.len() != SESSION_FIXED_WORDS + (label_len as usize).div_ceil(8)
        {
            return Err(bad());
        }
        if theirs[0] != self.opts.session_id {
            return Err(format!(
                "session id differs (ours {}, theirs {})",
                self.opts.session_id, theirs[0]
            ));
        }
        if theirs[1] != peer as u64 {
            return Err(format!("party id: expected {peer}, got {}", theirs[1]));
        }
        if theirs[2] != self.endpoints as u64 {
            return Err(format!(
                "endpoint count differs (ours {}, theirs {})",
                self.endpoints, theirs[2]
            ));
        }
        let mut their_hash = [0u8; 32];
        for (k, w) in theirs[3..7].iter().enumerate() {
            their_hash[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
        }
        if their_hash != self.opts.config_hash {
            let label_bytes: Vec<u8> = theirs[8..]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .take(label_len as usize)
                .collect();
            let their_label = String::from_utf8_lossy(&label_bytes);
            let ours = label_bytes_str(&self.opts.config_label);
            return Err(format!(
                "configuration hash differs (ours {ours:?} {}, theirs {their_label:?} {})",
                hex_prefix(&self.opts.config_hash),
                hex_prefix(&their_hash)
            ));
        }
        Ok(())
    }

    fn tls_handshake(
        &self,
        configs: &TlsConfigs,
        stream: &TcpStream,
        client: bool,
        peer: PartyId,
        peer_name: &str,
    ) -> Result<rustls::Connection> {
        let tls_fail = |e: &dyn std::fmt::Display| self.fail(peer_name, format!("tls: {e}"));
        let mut conn: rustls::Connection = if client {
            let name = ServerName::try_from(tls_name(peer)).map_err(|e| tls_fail(&e))?;
            ClientConnection::new(Arc::clone(&configs.client), name)
                .map_err(|e| tls_fail(&e))?
                .into()
        } else {
            ServerConnection::new(Arc::clone(&configs.server))
                .map_err(|e| tls_fail(&e))?
                .into()
        };
        let mut io = Counted {
            sock: stream.try_clone().map_err(|e| self.fail(peer_name, io_detail(&e)))?,
            counters: Arc::clone(&self.counters),
        };
        while conn.is_handshaking() {
            match conn.complete_io(&mut io) {
                Ok((0, 0)) if conn.is_handshaking() => {
                    return Err(self.fail(peer_name, "connection closed during the tls handshake"));
                }
                Ok(_) => {}
                Err(e) => {
                    let detail = match io_detail(&e) {
                        d if d == "timed out" => {
                            format!("no tls handshake within {:?}", self.io_timeout)
                        }
                        d if d.starts_with("tls: ") => d,
                        d => format!("tls handshake: {d}"),
                    };
                    return Err(self.fail(peer_name, detail));
                }
            }
        }
        if !client {
            // The verifier checked the chain; bind the certificate to the id the peer claimed.
            let name = ServerName::try_from(tls_name(peer)).map_err(|e| tls_fail(&e))?;
            let leaf = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or_else(|| tls_fail(&"no client certificate"))?;
            let valid = webpki::EndEntityCert::try_from(leaf).and_then(|ee| ee.verify_is_valid_for_subject_name(&name));
            if valid.is_err() {
                return Err(tls_fail(&format!(
                    "client certificate is not valid for {}",
                    tls_name(peer)
                )));
            }
        }
        Ok(conn)
    }
}

fn label_bytes(label: &str) -> &[u8] {
    let mut end = label.len().min(MAX_LABEL_BYTES);
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    &label.as_bytes()[..end]
}

fn label_bytes_str(label: &str) -> &str {
    std::str::from_utf8(label_bytes(label)).unwrap_or("")
}

fn hex_prefix(hash: &[u8; 32]) -> String {
    hash[..4].iter().map(|b| format!("{b:02x}")).collect::<String>() + "…"
}

impl TcpTransport {
    /// Connects endpoint `id` to every other endpoint and runs the handshake on every link.
    ///
    /// `listener` is this endpoint's already-bound listener and `addrs[j]` endpoint `j`'s
    /// listening address (`addrs.len()` is the endpoint count, a dealer included). For each pair
    /// `i < j`, `j` dials `i` and `i` accepts. Fails, naming the peer, when a peer does not show up
    /// within [`TcpOptions::connect_timeout`] or any handshake check fails.
    pub fn establish(
        id: PartyId,
        listener: TcpListener,
        addrs: &[SocketAddr],
        opts: &TcpOptions,
    ) -> Result<TcpTransport> {
        let endpoints = addrs.len();
        if id >= endpoints {
            return Err(Error::invalid(
                "tcp transport",
                format!("endpoint id {id} is out of range for {endpoints} endpoints"),
            ));
        }
        let tls = opts.tls.as_ref().map(TlsConfigs::new).transpose()?;
        let counters = Arc::new(Counters::default());
        let setup = Setup {
            id,
            endpoints,
            opts,
            tls,
            counters: Arc::clone(&counters),
            io_timeout: (opts.connect_timeout + opts.timeout).max(Duration::from_millis(1)),
        };
        let deadline = Instant::now() + opts.connect_timeout;
        let mut ios: Vec<Option<LinkIo>> = (0..endpoints).map(|_| None).collect();
        let mut connected = vec![false; endpoints];

        for peer in 0..id {
            let stream = setup.dial(peer, addrs[peer], deadline)?;
            let (_, io) = setup.handshake(stream, Some(peer), &connected)?;
            connected[peer] = true;
            ios[peer] = Some(io);
        }

        let listen_fail = |e: io::Error| setup.fail("listener", io_detail(&e));
        listener.set_nonblocking(true).map_err(listen_fail)?;
        while connected[id + 1..].iter().any(|c| !c) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(listen_fail)?;
                    let (peer, io) = setup.handshake(stream, None, &connected)?;
                    connected[peer] = true;
                    ios[peer] = Some(io);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                    if Instant::now() >= deadline {
                        let missing: Vec<usize> = (id + 1..endpoints).filter(|&j| !connected[j]).collect();
                        let others = missing[1..].iter().map(|j| format!("party {j}")).collect::<Vec<_>>();
                        let also = if others.is_empty() {
                            String::new()
                        } else {
                            format!(" (also missing: {})", others.join(", "))
                        };
                        return Err(setup.fail(
                            format!("party {}", missing[0]),
                            format!("no connection within {:?}{also}", opts.connect_timeout),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(listen_fail(e)),
            }
        }
        drop(listener);

        let handshake_bytes = counters.socket_written.load(Ordering::Acquire);
        let mut links = Vec::with_capacity(endpoints);
        for (peer, io) in ios.into_iter().enumerate() {
            links.push(match io {
                None => None,
                Some(io) => Some(spawn_link(id, peer, io, opts.max_frame_words, &counters).map_err(|e| {
                    setup.fail(
                        format!("party {peer}"),
                        format!("cannot start link threads: {}", io_detail(&e)),
                    )
                })?),
            });
        }
        Ok(TcpTransport {
            id,
            endpoints,
            links,
            timeout: opts.timeout,
            counters,
            handshake_bytes,
        })
    }

    /// Bytes this endpoint wrote during `establish` (preambles, TLS handshakes, session frames).
    pub fn handshake_bytes(&self) -> u64 {
        self.handshake_bytes
    }

    fn link_error(&self, peer: PartyId, detail: impl Into<String>) -> Error {
        Error::Net {
            party: self.id,
            peer: format!("party {peer}"),
            detail: detail.into(),
        }
    }

    /// Waits (at most the receive timeout) until every queued message has been written out, so
    /// that the byte counters are final.
    fn wait_for_writers(&self) {
        let deadline = Instant::now() + self.timeout;
        loop {
            let idle = self.links.iter().flatten().all(|l| {
                l.writer.flushed.load(Ordering::Acquire) >= l.queued || l.writer.failed.load(Ordering::Acquire)
            });
            if idle || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn spawn_link(
    id: PartyId,
    peer: PartyId,
    mut io: LinkIo,
    max_words: u64,
    counters: &Arc<Counters>,
) -> io::Result<Link> {
    let (cmd_tx, cmd_rx) = unbounded::<Cmd>();
    let (msg_tx, msg_rx) = unbounded::<std::result::Result<(Message, Stamp), String>>();
    let (done_tx, done_rx) = bounded::<()>(0);
    let writer = Arc::new(WriterState::default());
    if io.read.tls.is_some() {
        io.read.wake_writer = Some(cmd_tx.clone());
    }

    let mut read = io.read;
    let reader = std::thread::Builder::new()
        .name(format!("tcp-read-{id}-{peer}"))
        .spawn(move || {
            loop {
                let item = match read_message(&mut read, max_words) {
                    Ok(Some((words, stamp))) => Ok((Arc::new(words), stamp)),
                    Ok(None) => Err("connection closed".to_string()),
                    Err(e) => Err(frame_failure(&mut read, e)),
                };
                let last = item.is_err();
                if msg_tx.send(item).is_err() || last {
                    break;
                }
            }
        })?;

    let mut write = io.write;
    let state = Arc::clone(&writer);
    let counters = Arc::clone(counters);
    let writer_thread = std::thread::Builder::new()
        .name(format!("tcp-write-{id}-{peer}"))
        .spawn(move || {
            let _done = done_tx;
            loop {
                match cmd_rx.recv() {
                    Ok(Cmd::Send(msg, stamp)) => match write_message(&mut write, &msg, stamp) {
                        Ok(()) => {
                            counters
                                .payload_written
                                .fetch_add(8 * msg.len() as u64, Ordering::AcqRel);
                            state.flushed.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(e) => {
                            state.fail(io_detail(&e));
                            break;
                        }
                    },
                    Ok(Cmd::Flush) => {
                        if let Err(e) = write.flush() {
                            state.fail(io_detail(&e));
                            break;
                        }
                    }
                    Ok(Cmd::Close) | Err(_) => break,
                }
            }
            write.close();
        });
    let writer_thread = match writer_thread {
        Ok(t) => t,
        Err(e) => {
            let _ = io.sock.shutdown(Shutdown::Both);
            let _ = reader.join();
            return Err(e);
        }
    };
    Ok(Link {
        sock: io.sock,
        cmds: cmd_tx,
        msgs: msg_rx,
        queued: 0,
        writer,
        writer_done: done_rx,
        dead: None,
        threads: vec![reader, writer_thread],
    })
}

impl Transport for TcpTransport {
    fn id(&self) -> PartyId {
        self.id
    }

    fn endpoints(&self) -> usize {
        self.endpoints
    }

    fn send(&mut self, to: PartyId, msg: Message, stamp: Stamp) -> Result<()> {
        let Some(link) = self.links.get(to).and_then(Option::as_ref) else {
            return Err(self.link_error(to, "no such link"));
        };
        if let Some(failure) = link.writer.failure() {
            return Err(self.link_error(to, failure));
        }
        if link.cmds.send(Cmd::Send(msg, stamp)).is_err() {
            return Err(self.link_error(to, "connection closed"));
        }
        if let Some(link) = self.links.get_mut(to).and_then(Option::as_mut) {
            link.queued += 1;
        }
        Ok(())
    }

    fn recv(&mut self, from: PartyId) -> Result<(Message, Stamp)> {
        let timeout = self.timeout;
        let id = self.id;
        let fail = |detail: String| Error::Net {
            party: id,
            peer: format!("party {from}"),
            detail,
        };
        let Some(link) = self.links.get_mut(from).and_then(Option::as_mut) else {
            return Err(fail("no such link".to_string()));
        };
        if let Some(dead) = &link.dead {
            return Err(fail(dead.clone()));
        }
        match link.msgs.recv_timeout(timeout) {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(detail)) => {
                link.dead = Some(detail.clone());
                Err(fail(detail))
            }
            Err(RecvTimeoutError::Timeout) => Err(fail(format!("no message within {timeout:?}"))),
            Err(RecvTimeoutError::Disconnected) => {
                let detail = "connection closed".to_string();
                link.dead = Some(detail.clone());
                Err(fail(detail))
            }
        }
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Every byte written to this endpoint's sockets minus the payload of the messages sent:
    /// length prefixes, handshakes and TLS overhead. Waits first (at most the receive timeout)
    /// for queued messages to be written out, so that the figure is final.
    fn framing_bytes(&self) -> u64 {
        self.wait_for_writers();
        let written = self.counters.socket_written.load(Ordering::Acquire);
        written.saturating_sub(self.counters.payload_written.load(Ordering::Acquire))
    }
}

impl Drop for TcpTransport {
    /// Queued messages are still written (for at most the receive timeout per link), then each
    /// link sends TLS close_notify and a FIN; the readers are woken by shutting the sockets' read
    /// sides, and every thread is joined.
    fn drop(&mut self) {
        let links: Vec<Link> = self.links.iter_mut().filter_map(Option::take).collect();
        for link in &links {
            let _ = link.cmds.send(Cmd::Close);
            let _ = link.sock.shutdown(Shutdown::Read);
        }
        let deadline = Instant::now() + self.timeout;
        for link in &links {
            if let Err(RecvTimeoutError::Timeout) = link.writer_done.recv_deadline(deadline) {
                let _ = link.sock.shutdown(Shutdown::Both);
            }
        }
        for mut link in links {
            for t in link.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn listeners(n: usize) -> (Vec<TcpListener>, Vec<SocketAddr>) {
        let ls: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let addrs = ls.iter().map(|l| l.local_addr().unwrap()).collect();
        (ls, addrs)
    }

    fn base_opts() -> TcpOptions {
        TcpOptions {
            session_id: 7,
            config_hash: config_hash(b"test configuration"),
            config_label: "test".to_string(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            ..TcpOptions::default()
        }
    }

    /// Establishes a mesh of `opts.len()` endpoints concurrently, one thread each.
    fn mesh_with(opts: Vec<TcpOptions>) -> Vec<Result<TcpTransport>> {
        let (ls, addrs) = listeners(opts.len());
        let handles: Vec<_> = ls
            .into_iter()
            .zip(opts)
            .enumerate()
            .map(|(id, (l, o))| {
                let addrs = addrs.clone();
                thread::spawn(move || TcpTransport::establish(id, l, &addrs, &o))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    fn mesh(n: usize, opts: &TcpOptions) -> Vec<TcpTransport> {
        mesh_with(vec![opts.clone(); n])
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    fn tls_opts(n: usize) -> Vec<TcpOptions> {
        TlsSetup::self_signed_session(n)
            .into_iter()
            .map(|t| TcpOptions {
                tls: Some(t),
                ..base_opts()
            })
            .collect()
    }

    fn big_payload(sender: usize, len: usize) -> Vec<u64> {
        (0..len as u64)
            .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((sender as u64) << 60))
            .collect()
    }

    /// A stamp that tells messages apart (so tests see stamps arrive with their payloads).
    fn stamp(k: usize) -> Stamp {
        Stamp {
            epoch: 1,
            depth: k as u32,
            party_depth: 2 * k as u32,
            phase: crate::net::Phase::Online,
        }
    }

    fn small(sender: usize, to: usize, k: usize) -> Vec<u64> {
        vec![
            sender as u64,
            to as u64,
            k as u64,
            (sender * 1000 + to * 100 + k) as u64,
        ]
    }

    /// Every endpoint sends, to every other endpoint at once: small messages, one large message,
    /// more small ones and an empty one; then receives everything and checks order and content.
    /// Returns each endpoint's (messages sent, framing bytes, handshake bytes).
    fn exchange(ts: Vec<TcpTransport>, big_words: usize) -> Vec<(u64, u64, u64)> {
        let n = ts.len();
        let handles: Vec<_> = ts
            .into_iter()
            .map(|mut t| {
                thread::spawn(move || {
                    let me = t.id();
                    let big = Arc::new(big_payload(me, big_words));
                    let mut sent = 0u64;
                    for to in (0..n).filter(|&p| p != me) {
                        for k in 0..20 {
                            t.send(to, Arc::new(small(me, to, k)), stamp(k)).unwrap();
                            sent += 1;
                        }
                        t.send(to, Arc::clone(&big), stamp(99)).unwrap();
                        for k in 20..40 {
                            t.send(to, Arc::new(small(me, to, k)), stamp(k)).unwrap();
                        }
                        t.send(to, Arc::new(Vec::new()), stamp(100)).unwrap();
                        sent += 22;
                    }
                    for from in (0..n).filter(|&p| p != me) {
                        for k in 0..20 {
                            assert_eq!(t.recv(from).unwrap(), (Arc::new(small(from, me, k)), stamp(k)));
                        }
                        let (got, got_stamp) = t.recv(from).unwrap();
                        assert_eq!(got_stamp, stamp(99));
                        assert_eq!(got.len(), big_words);
                        assert!(
                            *got == big_payload(from, big_words),
                            "large payload from {from} differs"
                        );
                        drop(got);
                        for k in 20..40 {
                            assert_eq!(*t.recv(from).unwrap().0, small(from, me, k));
                        }
                        assert!(t.recv(from).unwrap().0.is_empty());
                    }
                    (sent, t.framing_bytes(), t.handshake_bytes())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    /// Handshake bytes one endpoint writes on one plain link with label `label`.
    fn plain_handshake_bytes_per_link(label: &str) -> u64 {
        let preamble = 8 + 8 * PREAMBLE_WORDS as u64;
        let session = 8 + 8 * (SESSION_FIXED_WORDS + label.len().div_ceil(8)) as u64;
        preamble + session
    }

    #[test]
    fn three_endpoints_exchange_large_messages_both_ways() {
        let opts = base_opts();
        let results = exchange(mesh(3, &opts), 16 << 20);
        for (sent, framing, handshake) in results {
            assert_eq!(handshake, 2 * plain_handshake_bytes_per_link(&opts.config_label));
            assert_eq!(
                framing,
                24 * sent + handshake,
                "framing is 24 bytes per message (length and clock) plus the handshake"
            );
        }
    }

    #[test]
    fn three_endpoints_exchange_large_messages_over_tls() {
        let results = exchange(
            mesh_with(tls_opts(3)).into_iter().map(|r| r.unwrap()).collect(),
            16 << 20,
        );
        for (sent, framing, handshake) in results {
            assert!(
                handshake > 2 * plain_handshake_bytes_per_link("test") + 1000,
                "tls handshakes carry certificates"
            );
            // Every 16 KiB record costs 22 bytes: 128 MiB to each of two peers is ~360 kB.
            assert!(
                framing > 24 * sent + handshake + 300_000,
                "framing {framing} must include tls records"
            );
        }
    }

    #[test]
    fn framing_is_exact_without_tls() {
        let opts = TcpOptions {
            config_label: "a label of 21 bytes..".to_string(),
            ..base_opts()
        };
        let mut ts = mesh(2, &opts);
        let mut b = ts.pop().unwrap();
        let mut a = ts.pop().unwrap();
        assert_eq!(a.framing_bytes(), plain_handshake_bytes_per_link(&opts.config_label));
        for k in 0..10 {
            a.send(1, Arc::new(vec![k; k as usize]), stamp(k as usize)).unwrap();
        }
        for k in 0..10 {
            assert_eq!(b.recv(0).unwrap(), (Arc::new(vec![k; k as usize]), stamp(k as usize)));
        }
        assert_eq!(a.framing_bytes(), a.handshake_bytes() + 240);
        assert_eq!(b.framing_bytes(), b.handshake_bytes());
    }

    fn expect_both_fail(results: Vec<Result<TcpTransport>>, wanted: &[&str]) -> Vec<String> {
        let errs: Vec<String> = results
            .into_iter()
            .map(|r| r.err().expect("establish must fail").to_string())
            .collect();
        for e in &errs {
            assert!(
                wanted.iter().any(|w| e.contains(w)),
                "{e:?} should mention one of {wanted:?}"
            );
        }
        errs
    }

    #[test]
    fn session_id_mismatch_fails_on_both_sides() {
        let start = Instant::now();
        let errs = expect_both_fail(
            mesh_with(vec![
                base_opts(),
                TcpOptions {
                    session_id: 8,
                    ..base_opts()
                },
            ]),
            &["session id differs"],
        );
        assert_eq!(
            errs[1],
            "party 1: link to party 0: session id differs (ours 8, theirs 7)"
        );
        assert_eq!(
            errs[0],
            "party 0: link to party 1: session id differs (ours 7, theirs 8)"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn config_hash_mismatch_fails_on_both_sides_naming_the_labels() {
        let other = TcpOptions {
            config_hash: config_hash(b"other"),
            config_label: "other job".to_string(),
            ..base_opts()
        };
        let errs = expect_both_fail(mesh_with(vec![base_opts(), other]), &["configuration hash differs"]);
        assert!(
            errs[0].contains("\"test\"") && errs[0].contains("\"other job\""),
            "{}",
            errs[0]
        );
        assert!(
            errs[1].starts_with("party 1: link to party 0: configuration hash differs"),
            "{}",
            errs[1]
        );
    }

    #[test]
    fn endpoint_count_mismatch_fails_on_both_sides() {
        // Endpoint 1 believes in three endpoints; endpoint 0 in two.
        let (ls, addrs) = listeners(3);
        let mut ls = ls.into_iter();
        let (l0, l1) = (ls.next().unwrap(), ls.next().unwrap());
        let a = {
            let addrs = addrs[..2].to_vec();
            thread::spawn(move || TcpTransport::establish(0, l0, &addrs, &base_opts()))
        };
        let b = thread::spawn(move || TcpTransport::establish(1, l1, &addrs, &base_opts()));
        let errs = expect_both_fail(vec![a.join().unwrap(), b.join().unwrap()], &["endpoint count differs"]);
        assert_eq!(
            errs[0],
            "party 0: link to party 1: endpoint count differs (ours 2, theirs 3)"
        );
        assert_eq!(
            errs[1],
            "party 1: link to party 0: endpoint count differs (ours 3, theirs 2)"
        );
    }

    #[test]
    fn wrong_party_id_fails_on_both_sides() {
        // Endpoint 2 has the addresses of parties 0 and 1 swapped: it dials party 1 thinking it is
        // party 0. Party 0 then waits for party 2 until its (short) connect timeout.
        let opts = TcpOptions {
            connect_timeout: Duration::from_secs(2),
            ..base_opts()
        };
        let (ls, addrs) = listeners(3);
        let swapped = vec![addrs[1], addrs[0], addrs[2]];
        let handles: Vec<_> = ls
            .into_iter()
            .enumerate()
            .map(|(id, l)| {
                let a = if id == 2 { swapped.clone() } else { addrs.clone() };
                let o = opts.clone();
                thread::spawn(move || {
                    let start = Instant::now();
                    let r = TcpTransport::establish(id, l, &a, &o);
                    (r.err().map(|e| e.to_string()), start.elapsed())
                })
            })
            .collect();
        let res: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            res[2].0.as_deref(),
            Some("party 2: link to party 0: party id: expected 0, got 1")
        );
        assert_eq!(
            res[1].0.as_deref(),
            Some("party 1: link to party 2: party id: party 2 dialled party 0, but this is party 1")
        );
        assert!(
            res[1].1 < Duration::from_secs(1) && res[2].1 < Duration::from_secs(1),
            "{res:?}"
        );
        let e0 = res[0].0.as_deref().unwrap();
        assert!(
            e0.starts_with("party 0: link to party 2: no connection within 2s"),
            "{e0}"
        );
    }

    #[test]
    fn tls_on_one_side_only_fails_on_both_sides() {
        let mut opts = tls_opts(2);
        opts[1].tls = None;
        let errs = expect_both_fail(mesh_with(opts), &["tls differs"]);
        assert_eq!(errs[0], "party 0: link to party 1: tls differs (ours on, theirs off)");
    }

    #[test]
    fn a_crashed_peer_is_reported_quickly_and_a_silent_one_after_the_timeout() {
        let opts = TcpOptions {
            timeout: Duration::from_millis(300),
            ..base_opts()
        };
        for tls in [false, true] {
            let opts: Vec<TcpOptions> = if tls {
                tls_opts(2)
                    .into_iter()
                    .map(|o| TcpOptions {
                        timeout: opts.timeout,
                        ..o
                    })
                    .collect()
            } else {
                vec![opts.clone(); 2]
            };
            let mut ts: Vec<TcpTransport> = mesh_with(opts).into_iter().map(|r| r.unwrap()).collect();
            let b = ts.pop().unwrap();
            let mut a = ts.pop().unwrap();

            let start = Instant::now();
            let err = a.recv(1).unwrap_err().to_string();
            let waited = start.elapsed();
            assert_eq!(err, "party 0: link to party 1: no message within 300ms");
            assert!(
                waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
                "{waited:?}"
            );

            // A long timeout now, so that only the disconnect can end the wait.
            a.timeout = Duration::from_secs(10);
            let crash = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                drop(b);
            });
            let start = Instant::now();
            let err = a.recv(1).unwrap_err().to_string();
            assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
            assert_eq!(err, "party 0: link to party 1: connection closed", "tls {tls}");
            // The failure is sticky, and sending eventually fails too.
            assert!(a.recv(1).is_err());
            crash.join().unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while a.send(1, Arc::new(vec![1; 1 << 16]), stamp(1)).is_ok() {
                assert!(
                    Instant::now() < deadline,
                    "sending to a closed peer must fail eventually"
                );
                thread::sleep(Duration::from_millis(10));
            }
        }
    }

    #[test]
    fn queued_messages_are_delivered_before_a_drop_closes_the_link() {
        let mut ts = mesh(2, &base_opts());
        let mut b = ts.pop().unwrap();
        let mut a = ts.pop().unwrap();
        a.send(1, Arc::new(big_payload(0, 1 << 20)), stamp(1)).unwrap();
        a.send(1, Arc::new(vec![42]), stamp(1)).unwrap();
        drop(a);
        assert_eq!(b.recv(0).unwrap().0.len(), 1 << 20);
        assert_eq!(*b.recv(0).unwrap().0, vec![42]);
        assert_eq!(
            b.recv(0).unwrap_err().to_string(),
            "party 1: link to party 0: connection closed"
        );
    }

    /// A hand-written peer: dials endpoint 0 at `addr` as endpoint 1 of 2, completes the plain
    /// handshake with `opts`, then writes `garbage` and closes.
    fn raw_peer(addr: SocketAddr, opts: &TcpOptions, garbage: Vec<u8>) -> thread::JoinHandle<()> {
        let setup = Setup {
            id: 1,
            endpoints: 2,
            opts,
            tls: None,
            counters: Arc::default(),
            io_timeout: Duration::from_secs(5),
        };
        let preamble = setup.preamble(0);
        let session = setup.session_frame();
        thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            write_frame(&mut s, &preamble).unwrap();
            let _ = read_frame(&mut s, 16).unwrap().unwrap();
            let _ = read_frame(&mut s, 64).unwrap().unwrap();
            write_frame(&mut s, &session).unwrap();
            s.write_all(&garbage).unwrap();
            thread::sleep(Duration::from_millis(100));
        })
    }

    #[test]
    fn garbled_and_oversized_frames_are_errors_not_panics() {
        let opts = TcpOptions {
            max_frame_words: 1000,
            ..base_opts()
        };
        // A message header: the word count, then a valid clock (epoch 0, phase online, depth 1).
        let header = |len: u64| [len, 3 << 32, 1].map(u64::to_le_bytes).concat();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (header(1001), "bad frame: frame of 1001 words exceeds the limit of 1000"),
            (
                header(u64::MAX),
                "bad frame: frame of 18446744073709551615 words exceeds the limit of 1000",
            ),
            (
                [&header(4)[..], &[1, 2, 3]].concat(),
                "bad frame: stream ended inside a frame of 4 words",
            ),
            (vec![1, 2, 3], "bad frame: stream ended inside a message header"),
            (
                [4u64, 7 << 32, 1].map(u64::to_le_bytes).concat(),
                "bad frame: message header holds no valid clock",
            ),
        ];
        for (garbage, wanted) in cases {
            let (mut ls, addrs) = listeners(2);
            drop(ls.pop());
            let peer = raw_peer(addrs[0], &opts, garbage);
            let mut t = TcpTransport::establish(0, ls.pop().unwrap(), &addrs, &opts).unwrap();
            let err = t.recv(1).unwrap_err().to_string();
            assert_eq!(err, format!("party 0: link to party 1: {wanted}"));
            peer.join().unwrap();
        }
    }

    #[test]
    fn a_stray_connection_fails_establish_without_panicking() {
        for junk in [b"GET / HTTP/1.1\r\n\r\n".to_vec(), vec![0xff; 64], vec![]] {
            let (mut ls, addrs) = listeners(2);
            drop(ls.pop());
            let addr = addrs[0];
            let stray = thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let _ = s.write_all(&junk);
                thread::sleep(Duration::from_millis(100));
            });
            let start = Instant::now();
            let err = TcpTransport::establish(0, ls.pop().unwrap(), &addrs, &base_opts())
                .err()
                .unwrap()
                .to_string();
            assert!(err.starts_with("party 0: link to endpoint at 127.0.0.1:"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(2));
            stray.join().unwrap();
        }
    }

    fn establish_errors(opts: Vec<TcpOptions>) -> Vec<Option<String>> {
        mesh_with(opts)
            .into_iter()
            .map(|r| r.err().map(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn an_untrusted_client_certificate_is_refused() {
        // Endpoint 1 trusts the session's certificates but presents one endpoint 0 does not trust.
        let mut opts = tls_opts(2);
        let stranger = TlsSetup::self_signed_session(2).swap_remove(1);
        let tls1 = opts[1].tls.as_mut().unwrap();
        tls1.cert_chain = stranger.cert_chain;
        tls1.key = stranger.key;
        let start = Instant::now();
        let errs = establish_errors(opts);
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        let e0 = errs[0].as_deref().expect("party 0 must refuse party 1");
        assert!(
            e0.starts_with("party 0: link to party 1: tls: invalid peer certificate"),
            "{e0}"
        );
        let e1 = errs[1].as_deref().expect("party 1 must fail too");
        assert!(
            e1.starts_with("party 1: link to party 0: tls: received fatal alert"),
            "{e1}"
        );
    }

    #[test]
    fn an_untrusted_server_certificate_is_refused() {
        // Endpoint 0 (the acceptor) presents a certificate endpoint 1 does not trust.
        let mut opts = tls_opts(2);
        let stranger = TlsSetup::self_signed_session(2).swap_remove(0);
        let tls0 = opts[0].tls.as_mut().unwrap();
        tls0.cert_chain = stranger.cert_chain;
        tls0.key = stranger.key;
        let errs = establish_errors(opts);
        let e1 = errs[1].as_deref().expect("party 1 must refuse party 0");
        assert!(
            e1.starts_with("party 1: link to party 0: tls: invalid peer certificate"),
            "{e1}"
        );
        let e0 = errs[0].as_deref().expect("party 0 must fail too");
        assert!(
            e0.starts_with("party 0: link to party 1: tls: received fatal alert"),
            "{e0}"
        );
    }

    #[test]
    fn a_trusted_certificate_of_another_party_is_refused() {
        // As a client, endpoint 1 presents endpoint 0's (trusted) certificate: the acceptor binds
        // certificates to the id the peer claims.
        let mut opts = tls_opts(2);
        let zero = opts[0].tls.clone().unwrap();
        let tls1 = opts[1].tls.as_mut().unwrap();
        tls1.cert_chain = zero.cert_chain;
        tls1.key = zero.key;
        let errs = establish_errors(opts);
        let e0 = errs[0].as_deref().expect("party 0 must refuse party 1");
        assert_eq!(
            e0,
            "party 0: link to party 1: tls: client certificate is not valid for testbed-party-1"
        );
        let e1 = errs[1].as_deref().expect("party 1 must fail too");
        assert!(
            e1.contains("connection closed during the handshake (the peer may have refused our certificate)"),
            "{e1}"
        );

        // As a server, endpoint 0 presents endpoint 1's certificate: the dialler checks the name.
        let mut opts = tls_opts(2);
        let one = opts[1].tls.clone().unwrap();
        let tls0 = opts[0].tls.as_mut().unwrap();
        tls0.cert_chain = one.cert_chain;
        tls0.key = one.key;
        let errs = establish_errors(opts);
        let e1 = errs[1].as_deref().expect("party 1 must refuse party 0");
        assert!(
            e1.starts_with("party 1: link to party 0: tls: invalid peer certificate"),
            "{e1}"
        );
        assert!(errs[0].is_some());
    }

    #[test]
    fn pem_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("testbed-tcp-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut certs = Vec::new();
        for i in 0..2 {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![tls_name(i)])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let (c, k) = (dir.join(format!("p{i}.crt")), dir.join(format!("p{i}.key")));
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            certs.push((c, k));
        }
        let trusted: Vec<std::path::PathBuf> = certs.iter().map(|(c, _)| c.clone()).collect();
        let opts: Vec<TcpOptions> = certs
            .iter()
            .map(|(c, k)| TcpOptions {
                tls: Some(TlsSetup::from_pem_files(c, k, &trusted).unwrap()),
                ..base_opts()
            })
            .collect();
        let mut ts: Vec<TcpTransport> = mesh_with(opts).into_iter().map(|r| r.unwrap()).collect();
        ts[1].send(0, Arc::new(vec![5, 6, 7]), stamp(0)).unwrap();
        assert_eq!(*ts[0].recv(1).unwrap().0, vec![5, 6, 7]);

        let missing = TlsSetup::from_pem_files(dir.join("nope.crt"), &certs[0].1, &trusted)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.crt"), "{missing}");
        let not_a_key = TlsSetup::from_pem_files(&certs[0].0, &certs[0].0, &trusted)
            .unwrap_err()
            .to_string();
        assert!(not_a_key.contains("no private key found"), "{not_a_key}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sending_to_oneself_or_a_stranger_is_an_error() {
        let mut ts = mesh(2, &base_opts());
        assert!(ts[0].send(0, Arc::new(vec![]), stamp(0)).is_err());
        assert!(ts[0].send(5, Arc::new(vec![]), stamp(5)).is_err());
        assert!(ts[0].recv(0).unwrap_err().to_string().contains("no such link"));
        let single = TcpTransport::establish(0, TcpListener::bind("127.0.0.1:0").unwrap(), &[], &base_opts());
        assert!(single.is_err());
    }

    /// Loopback throughput of one 128 MiB message, one direction (`--nocapture` prints it).
    #[test]
    fn throughput_of_a_128_mib_message() {
        let words = 16 << 20;
        for tls in [false, true] {
            let opts = if tls { tls_opts(2) } else { vec![base_opts(); 2] };
            let mut ts: Vec<TcpTransport> = mesh_with(opts).into_iter().map(|r| r.unwrap()).collect();
            let msg = Arc::new(big_payload(0, words));
            let mut best = f64::MAX;
            for _ in 0..3 {
                let start = Instant::now();
                ts[0].send(1, Arc::clone(&msg), stamp(1)).unwrap();
                let got = ts[1].recv(0).unwrap().0;
                best = best.min(start.elapsed().as_secs_f64());
                assert_eq!(got.len(), words);
            }
            let gbps = (8 * words) as f64 / best / 1e9;
            println!(
                "tcp loopback, tls {tls}: 128 MiB in {:.1} ms = {gbps:.2} GB/s",
                best * 1e3
            );
        }
    }
}
