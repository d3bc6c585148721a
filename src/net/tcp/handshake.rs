//! The handshake every link runs before any payload, and the session description it compares.
//!
//! 1. A plaintext preamble both ways — magic, [`PROTOCOL_VERSION`], sender id, endpoint count, TLS
//!    on/off, and the id the sender believes the receiver has (the dialler writes first).
//! 2. With TLS, the TLS 1.3 handshake: each side accepts only the certificate pinned for the id
//!    the other claimed (see [`super::tls`]).
//! 3. A session frame both ways (inside TLS when on): session id, sender id, endpoint count and the
//!    caller's session description, an ordered list of (field, canonical value) pairs. A mismatch
//!    names the first field that differs, with both values.

use super::link::{Counted, Counters, LinkIo, ReadHalf, WriteHalf, io_detail};
use super::record::Protection;
use super::tls::{TlsConfigs, tls_name};
use super::{PROTOCOL_VERSION, TcpOptions};
use crate::error::{Error, PartyId, Result};
use crate::net::frame::{read_frame, write_frame};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First word of every preamble: ASCII `testbed!`, so a stray connection is recognised at once.
const MAGIC: u64 = u64::from_le_bytes(*b"testbed!");

/// Words in a preamble frame.
pub(super) const PREAMBLE_WORDS: usize = 6;

/// Fixed words of a session frame, before the description's bytes.
pub(super) const SESSION_FIXED_WORDS: usize = 5;

/// Most fields a session description may have.
pub const MAX_SESSION_FIELDS: usize = 4096;

/// Longest field name, in bytes.
pub const MAX_FIELD_NAME_BYTES: usize = 128;

/// Longest value sent as it is; a longer one is sent (and compared) as `sha256:` and its hash.
pub const MAX_FIELD_VALUE_BYTES: usize = 128;
const _: () = assert!(MAX_FIELD_VALUE_BYTES >= 71, "a hashed value must fit");

/// Bytes of an encoded description at most: every field with a 4-byte length before its name and
/// before its value.
const MAX_DESCRIPTION_BYTES: usize = MAX_SESSION_FIELDS * (8 + MAX_FIELD_NAME_BYTES + MAX_FIELD_VALUE_BYTES);

/// The session description as it travels: names checked, long values replaced by their hash.
pub(super) fn wire_fields(fields: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let bad = |detail: String| Error::invalid("session description", detail);
    if fields.len() > MAX_SESSION_FIELDS {
        return Err(bad(format!(
            "{} fields, at most {MAX_SESSION_FIELDS} are allowed",
            fields.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    fields
        .iter()
        .map(|(name, value)| {
            if name.is_empty() || name.len() > MAX_FIELD_NAME_BYTES {
                return Err(bad(format!(
                    "field name {name:?} must have 1 to {MAX_FIELD_NAME_BYTES} bytes"
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(bad(format!("field {name} appears twice")));
            }
            let value = if value.len() > MAX_FIELD_VALUE_BYTES {
                let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
                let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            } else {
                value.clone()
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// Each string as a 4-byte little-endian length and its bytes, packed into words.
fn encode_fields(fields: &[(String, String)]) -> Vec<u64> {
    let mut bytes = Vec::new();
    for s in fields.iter().flat_map(|(n, v)| [n, v]) {
        bytes.extend_from_slice(&(s.len() as u32).to_le_bytes());
        bytes.extend_from_slice(s.as_bytes());
    }
    let mut words = vec![bytes.len() as u64];
    words.extend(bytes.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    }));
    words
}

/// Reads `count` fields encoded by [`encode_fields`] (length word first), refusing anything out of
/// bounds.
fn decode_fields(words: &[u64], count: u64) -> std::result::Result<Vec<(String, String)>, String> {
    let bad = |what: &str| format!("bad handshake: session description {what}");
    let (&len, packed) = words.split_first().ok_or_else(|| bad("missing"))?;
    if count > MAX_SESSION_FIELDS as u64 || len > MAX_DESCRIPTION_BYTES as u64 {
        return Err(bad("too large"));
    }
    if packed.len() as u64 != len.div_ceil(8) {
        return Err(bad("of the wrong length"));
    }
    let all: Vec<u8> = packed.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut rest = &all[..len as usize];
    let mut next = |limit: usize| -> std::result::Result<String, String> {
        if rest.len() < 4 {
            return Err(bad("ends early"));
        }
        let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if n > limit || rest.len() - 4 < n {
            return Err(bad("holds an oversized string"));
        }
        let s = std::str::from_utf8(&rest[4..4 + n]).map_err(|_| bad("holds invalid UTF-8"))?;
        rest = &rest[4 + n..];
        Ok(s.to_string())
    };
    let mut fields = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = next(MAX_FIELD_NAME_BYTES)?;
        // A hashed value (`sha256:` and 64 hex digits) fits the limit too.
        let value = next(MAX_FIELD_VALUE_BYTES)?;
        fields.push((name, value));
    }
    if !rest.is_empty() {
        return Err(bad("has trailing bytes"));
    }
    Ok(fields)
}

/// The first field, in our order, whose value differs (or that one side lacks), as a message.
pub(super) fn first_difference(ours: &[(String, String)], theirs: &[(String, String)]) -> Option<String> {
    let their_map: HashMap<&str, &str> = theirs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let differs = |name: &str, a: &str, b: &str| format!("session differs at {name} (ours {a}, theirs {b})");
    for (name, value) in ours {
        match their_map.get(name.as_str()) {
            Some(v) if *v == value => {}
            Some(v) => return Some(differs(name, value, v)),
            None => return Some(differs(name, value, "absent")),
        }
    }
    let our_names: std::collections::HashSet<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
    theirs
        .iter()
        .find(|(n, _)| !our_names.contains(n.as_str()))
        .map(|(n, v)| differs(n, "absent", v))
}

/// What `establish` needs while it handshakes each link.
pub(super) struct Setup<'a> {
    pub(super) id: PartyId,
    pub(super) endpoints: usize,
    pub(super) opts: &'a TcpOptions,
    pub(super) tls: Option<TlsConfigs>,
    /// The session description in its wire form ([`wire_fields`]).
    pub(super) fields: Vec<(String, String)>,
    pub(super) counters: Arc<Counters>,
    pub(super) io_timeout: Duration,
}

impl Setup<'_> {
    pub(super) fn fail(&self, peer: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Net {
            party: self.id,
            peer: peer.into(),
            detail: detail.into(),
        }
    }

    /// Dials endpoint `peer` at `addr`, retrying until `deadline`.
    pub(super) fn dial(&self, peer: PartyId, addr: SocketAddr, deadline: Instant) -> Result<TcpStream> {
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

    pub(super) fn preamble(&self, you: u64) -> Vec<u64> {
        vec![
            MAGIC,
            PROTOCOL_VERSION,
            self.id as u64,
            self.endpoints as u64,
            self.opts.tls.is_some() as u64,
            you,
        ]
    }

    pub(super) fn session_frame(&self) -> Vec<u64> {
        let mut words = vec![
            self.opts.session_id,
            self.id as u64,
            self.endpoints as u64,
            self.fields.len() as u64,
        ];
        words.extend(encode_fields(&self.fields));
        words
    }

    /// Runs the handshake on a fresh connection. `dialled` is the peer this endpoint dialled, or
    /// `None` for an accepted connection, in which case `connected[j]` tells which peers already
    /// have a link. Returns the peer's id and the link's halves.
    pub(super) fn handshake(
        &self,
        stream: TcpStream,
        dialled: Option<PartyId>,
        connected: &[bool],
    ) -> Result<(PartyId, LinkIo)> {
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
        let mut write = WriteHalf::new(Counted {
            sock: stream.try_clone().map_err(setup_io)?,
            counters: Arc::clone(&self.counters),
        });

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
            // rustls reads the socket itself: nothing may wait in the plain reader's buffer (the
            // dialler speaks TLS only after reading the acceptor's preamble, so nothing does).
            if read.buffered() > 0 {
                return Err(self.fail(&peer_name, "unexpected bytes before the tls handshake"));
            }
            let conn = self.tls_handshake(configs, &stream, dialled.is_some(), peer, &peer_name)?;
            // From here on each half protects its own direction (see `record`).
            let keys = Protection::from_handshake(conn).map_err(|e| self.fail(&peer_name, io_detail(&e)))?;
            read.tls = Some(keys.open);
            write.tls = Some(keys.seal);
        }

        // 3. Session frame (inside TLS when on). The acceptor writes first: with TLS its first
        //    write means it accepted the dialler's certificate, and a dialler it refused reads the
        //    alert instead of failing on a write.
        let max_words = (SESSION_FIXED_WORDS + MAX_DESCRIPTION_BYTES.div_ceil(8)) as u64;
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
        if theirs.len() < SESSION_FIXED_WORDS {
            return Err(format!("bad handshake: session frame of {} words", theirs.len()));
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
        let their_fields = decode_fields(&theirs[4..], theirs[3])?;
        match first_difference(&self.fields, &their_fields) {
            Some(d) => Err(d),
            None => Ok(()),
        }
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
        // Each side's verifier accepts only `peer`'s pinned certificate: the dialler knows whom it
        // dialled, the acceptor whom the preamble claimed.
        let mut conn: rustls::Connection = if client {
            let name = ServerName::try_from(tls_name(peer)).map_err(|e| tls_fail(&e))?;
            ClientConnection::new(configs.client(peer)?, name)
                .map_err(|e| tls_fail(&e))?
                .into()
        } else {
            ServerConnection::new(configs.server(peer)?)
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
        // The last handshake flight (the client's Finished) must be on the wire before the keys
        // leave rustls.
        while conn.wants_write() {
            conn.write_tls(&mut io)
                .map_err(|e| self.fail(peer_name, format!("tls handshake: {}", io_detail(&e))))?;
        }
        Ok(conn)
    }
}
