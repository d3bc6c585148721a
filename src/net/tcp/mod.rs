//! The TCP transport: one process per endpoint, a full mesh of blocking sockets, optionally inside
//! mutually authenticated TLS 1.3 (rustls with the `ring` backend) where every endpoint accepts
//! exactly the certificate pinned for each peer id.
//!
//! Each link has a writer thread (takes messages from an unbounded queue and writes frames, so
//! `send` never blocks and two peers sending large tensors to each other at once never deadlock)
//! and a reader thread (reads frames into a queue bounded by [`TcpOptions::max_queued_words`], so
//! a fast or hostile peer meets backpressure, never unbounded buffering). `recv` waits on the
//! link's queue for at most [`TcpOptions::timeout`]; a peer that disconnects, sends a bad or
//! oversized frame, or stays silent is an [`Error::Net`] naming it, never a hang.
//!
//! Connection set-up ([`TcpTransport::establish`]): for each pair `i < j`, `j` dials `i` (retrying
//! until [`TcpOptions::connect_timeout`], since peers start at different times) and `i` accepts.
//! Every link then runs the handshake of [`handshake`]: preamble, TLS with pinned certificates,
//! and a session frame comparing the caller's description of the session field by field. Both
//! sides judge the same data, so a mismatch fails `establish` on both sides with a message naming
//! what differs (`party 1: link to party 0: session differs at job.reps (ours 3, theirs 5)`).
//!
//! Byte accounting: [`Transport::framing_bytes`] is every byte this endpoint wrote to its sockets
//! minus the payload bytes of the messages it sent — length prefixes, handshakes, TLS records and
//! alerts. Without TLS it is exactly `24 × messages + handshake_bytes()` (each message frame holds
//! its length and its [`Stamp`], the logical clock that measures rounds).

mod handshake;
mod link;
mod record;
mod tls;

pub use handshake::{MAX_FIELD_NAME_BYTES, MAX_FIELD_VALUE_BYTES, MAX_SESSION_FIELDS};
pub use tls::{DEFAULT_VALID_DAYS, Identity, Pin, TlsSetup, check_certificate, tls_name};

use super::{Message, Stamp, Transport};
use crate::error::{Error, PartyId, Result};
use handshake::{Setup, wire_fields};
use link::{Counters, Link, LinkIo, ReadLimits, io_detail, spawn_link};
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tls::TlsConfigs;

/// Version of the wire protocol (handshake layout and framing). Both ends of a link must agree.
pub const PROTOCOL_VERSION: u64 = 4;

/// The default frame limit: 2^27 words, 1 GiB.
pub const DEFAULT_MAX_FRAME_WORDS: u64 = 1 << 27;

/// The default bound of a link's reader queue: 2^25 words, 256 MiB.
pub const DEFAULT_MAX_QUEUED_WORDS: u64 = 1 << 25;

/// How a [`TcpTransport`] connects, authenticates and waits.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Identifies one run; every endpoint of the run must use the same value.
    pub session_id: u64,
    /// Everything public the endpoints must agree on, as (field, canonical value) pairs in a fixed
    /// order; the handshake names the first field that differs. At most [`MAX_SESSION_FIELDS`]
    /// fields with names of at most [`MAX_FIELD_NAME_BYTES`]; longer values than
    /// [`MAX_FIELD_VALUE_BYTES`] are compared by their SHA-256.
    pub session_fields: Vec<(String, String)>,
    /// How long `recv` waits for a message before failing (default 10 s).
    pub timeout: Duration,
    /// How long `establish` waits for peers to appear (dialling retries, accepting, handshakes;
    /// default 30 s).
    pub connect_timeout: Duration,
    /// Longest message the readers accept, in words (default [`DEFAULT_MAX_FRAME_WORDS`]).
    pub max_frame_words: u64,
    /// Words a link's reader may queue ahead of the protocol before it stops reading (default
    /// [`DEFAULT_MAX_QUEUED_WORDS`]); one message of any allowed size always fits.
    pub max_queued_words: u64,
    /// TLS 1.3 with mutual authentication by pinned certificates when set.
    pub tls: Option<TlsSetup>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            session_id: 0,
            session_fields: Vec::new(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            max_frame_words: DEFAULT_MAX_FRAME_WORDS,
            max_queued_words: DEFAULT_MAX_QUEUED_WORDS,
            tls: None,
        }
    }
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
        let tls = opts.tls.as_ref().map(|t| TlsConfigs::new(t, endpoints)).transpose()?;
        let fields = wire_fields(&opts.session_fields)?;
        let counters = Arc::new(Counters::default());
        let setup = Setup {
            id,
            endpoints,
            opts,
            tls,
            fields,
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
        let limits = ReadLimits {
            max_frame_words: opts.max_frame_words,
            max_queued_words: opts.max_queued_words,
        };
        let mut links = Vec::with_capacity(endpoints);
        for (peer, io) in ios.into_iter().enumerate() {
            links.push(match io {
                None => None,
                Some(io) => Some(spawn_link(id, peer, io, limits, &counters).map_err(|e| {
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

    /// Waits (at most the receive timeout) until every queued message has been written out, so
    /// that the byte counters are final.
    fn wait_for_writers(&self) {
        let deadline = Instant::now() + self.timeout;
        loop {
            let idle = self.links.iter().flatten().all(Link::is_flushed);
            if idle || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A failure of endpoint `id`'s link to `peer`.
fn link_error(id: PartyId, peer: PartyId, detail: impl Into<String>) -> Error {
    Error::Net {
        party: id,
        peer: format!("party {peer}"),
        detail: detail.into(),
    }
}

impl Transport for TcpTransport {
    fn id(&self) -> PartyId {
        self.id
    }

    fn endpoints(&self) -> usize {
        self.endpoints
    }

    fn send(&mut self, to: PartyId, msg: Message, stamp: Stamp) -> Result<()> {
        let id = self.id;
        let Some(link) = self.links.get_mut(to).and_then(Option::as_mut) else {
            return Err(link_error(id, to, "no such link"));
        };
        link.send(msg, stamp).map_err(|detail| link_error(id, to, detail))
    }

    fn recv(&mut self, from: PartyId) -> Result<(Message, Stamp)> {
        let (id, timeout) = (self.id, self.timeout);
        let Some(link) = self.links.get_mut(from).and_then(Option::as_mut) else {
            return Err(link_error(id, from, "no such link"));
        };
        link.recv(timeout).map_err(|detail| link_error(id, from, detail))
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
            link.start_closing();
        }
        let deadline = Instant::now() + self.timeout;
        for link in links {
            link.finish(deadline);
        }
    }
}

#[cfg(test)]
mod tests;
