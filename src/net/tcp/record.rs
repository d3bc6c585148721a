//! TLS 1.3 record protection for an established link, one independent half per direction.
//!
//! rustls runs the handshake (certificates, pins, key schedule); then the link takes the traffic
//! keys out of it ([`Protection::from_handshake`]) and protects records itself, so the writer
//! thread seals and the reader thread opens at the same time. With one shared rustls connection
//! both directions took turns under a lock, and TLS cost 1.4–1.5× plain TCP.
//!
//! The records are TLS 1.3 application-data records (RFC 8446 §5.2): a 5-byte header
//! `17 03 03 len`, the AEAD of `plaintext ‖ content type` with the header as associated data, and
//! the nonce `iv ⊕ sequence number`. One deviation: instead of KeyUpdate messages, both ends
//! replace a direction's key after [`REKEY_AFTER`] records by the same rule (HKDF-SHA256 of the
//! old key), well inside AES-GCM's per-key limit of 2^24.5 records. The peer is always this
//! program (the wire protocol version says so), so no message is needed to agree on it.

use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use rustls::{AlertDescription, ConnectionTrafficSecrets, ExtractedSecrets};
use std::io::{self, ErrorKind};

/// Largest plaintext per record (2^14 bytes, the TLS limit).
pub(super) const MAX_PLAINTEXT: usize = 1 << 14;

/// Record header: content type, legacy version, length.
pub(super) const HEADER_LEN: usize = 5;

/// AEAD tag length of every TLS 1.3 cipher suite.
const TAG_LEN: usize = 16;

/// Largest record body accepted: plaintext, content type and tag (RFC 8446 allows 2^14 + 256).
pub(super) const MAX_BODY: usize = MAX_PLAINTEXT + 256;

/// Records per key before both ends move to the next key.
pub(super) const REKEY_AFTER: u64 = 1 << 23;

const APPLICATION_DATA: u8 = 0x17;
const ALERT: u8 = 0x15;
const LEGACY_VERSION: [u8; 2] = [0x03, 0x03];

/// One direction's key, IV and record count.
struct Direction {
    algorithm: &'static Algorithm,
    key_bytes: Vec<u8>,
    key: LessSafeKey,
    iv: [u8; 12],
    /// Sequence number of the next record under the current key.
    seq: u64,
    rekey_after: u64,
}

impl Direction {
    fn from_secrets(seq: u64, secrets: ConnectionTrafficSecrets) -> io::Result<Self> {
        let (algorithm, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&CHACHA20_POLY1305, key, iv),
            _ => {
                return Err(io::Error::other(
                    "tls: negotiated a cipher suite this link cannot protect",
                ));
            }
        };
        let iv: [u8; 12] = iv
            .as_ref()
            .try_into()
            .map_err(|_| io::Error::other("tls: traffic iv is not 12 bytes"))?;
        Self::new(algorithm, key.as_ref(), iv, seq)
    }

    fn new(algorithm: &'static Algorithm, key: &[u8], iv: [u8; 12], seq: u64) -> io::Result<Self> {
        Ok(Self {
            algorithm,
            key: make_key(algorithm, key)?,
            key_bytes: key.to_vec(),
            iv,
            seq,
            rekey_after: REKEY_AFTER,
        })
    }

    /// The nonce of the current record; moves to the next key first when this one is used up.
    fn next_nonce(&mut self) -> io::Result<Nonce> {
        if self.seq >= self.rekey_after {
            self.rekey()?;
        }
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq += 1;
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    fn rekey(&mut self) -> io::Result<()> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"testbed tls rekey").extract(&self.key_bytes);
        let mut next = vec![0u8; self.key_bytes.len()];
        prk.expand(&[b"traffic key"], KeyLen(next.len()))
            .and_then(|okm| okm.fill(&mut next))
            .map_err(|_| io::Error::other("tls: rekey failed"))?;
        self.key = make_key(self.algorithm, &next)?;
        self.key_bytes = next;
        self.seq = 0;
        Ok(())
    }
}

struct KeyLen(usize);

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        self.0
    }
}

fn make_key(algorithm: &'static Algorithm, bytes: &[u8]) -> io::Result<LessSafeKey> {
    UnboundKey::new(algorithm, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| io::Error::other("tls: traffic key has the wrong length"))
}

/// The two halves of a link's record protection.
pub(super) struct Protection {
    pub(super) seal: Sealer,
    pub(super) open: Opener,
}

impl Protection {
    /// Takes the traffic keys of a finished handshake. Fails if rustls still holds records to
    /// send (the caller writes them out first).
    pub(super) fn from_handshake(conn: rustls::Connection) -> io::Result<Self> {
        let ExtractedSecrets { tx, rx } = conn
            .dangerous_extract_secrets()
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        Ok(Self {
            seal: Sealer(Direction::from_secrets(tx.0, tx.1)?),
            open: Opener(Direction::from_secrets(rx.0, rx.1)?),
        })
    }
}

/// Seals this endpoint's outgoing records.
pub(super) struct Sealer(Direction);

impl Sealer {
    /// Appends `plain` to `out` as application-data records of at most [`MAX_PLAINTEXT`] bytes.
    pub(super) fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        for chunk in plain.chunks(MAX_PLAINTEXT) {
            self.seal_record(chunk, APPLICATION_DATA, out)?;
        }
        Ok(())
    }

    /// Appends a close_notify alert record to `out`.
    pub(super) fn close_notify(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.seal_record(&[1, u8::from(AlertDescription::CloseNotify)], ALERT, out)
    }

    fn seal_record(&mut self, plain: &[u8], content_type: u8, out: &mut Vec<u8>) -> io::Result<()> {
        debug_assert!(plain.len() <= MAX_PLAINTEXT);
        let body_len = plain.len() + 1 + TAG_LEN;
        let header = [
            APPLICATION_DATA,
            LEGACY_VERSION[0],
            LEGACY_VERSION[1],
            (body_len >> 8) as u8,
            body_len as u8,
        ];
        let nonce = self.0.next_nonce()?;
        out.reserve(HEADER_LEN + body_len);
        out.extend_from_slice(&header);
        let start = out.len();
        out.extend_from_slice(plain);
        out.push(content_type);
        let tag = self
            .0
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[start..])
            .map_err(|_| io::Error::other("tls: record encryption failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn set_rekey_after(&mut self, records: u64) {
        self.0.rekey_after = records;
    }
}

/// What one incoming record held.
#[derive(Debug, PartialEq)]
pub(super) enum Opened {
    /// Application data: this many plaintext bytes at the start of the record's body.
    Data(usize),
    /// The peer's close_notify: the stream ended cleanly.
    Closed,
}

/// Opens the peer's incoming records.
pub(super) struct Opener(Direction);

impl Opener {
    /// The body length announced by a record header; refuses a header no TLS 1.3 peer sends.
    pub(super) fn body_len(header: &[u8; HEADER_LEN]) -> io::Result<usize> {
        if header[0] != APPLICATION_DATA || header[1..3] != LEGACY_VERSION {
            return Err(invalid(format!(
                "tls: not a TLS 1.3 record (header {:02x} {:02x} {:02x})",
                header[0], header[1], header[2]
            )));
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if !(TAG_LEN + 1..=MAX_BODY).contains(&len) {
            return Err(invalid(format!("tls: a record of {len} bytes is out of range")));
        }
        Ok(len)
    }

    /// Decrypts one record in place: `header` as read, `body` its announced length.
    pub(super) fn open(&mut self, header: &[u8; HEADER_LEN], body: &mut [u8]) -> io::Result<Opened> {
        let nonce = self.0.next_nonce()?;
        let plain = self
            .0
            .key
            .open_in_place(nonce, Aad::from(*header), body)
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError))?;
        // The content type is the last non-zero byte; zeros after it are padding.
        let Some(end) = plain.iter().rposition(|&b| b != 0) else {
            return Err(invalid("tls: a record without a content type".to_string()));
        };
        match plain[end] {
            APPLICATION_DATA => Ok(Opened::Data(end)),
            ALERT if end == 2 => {
                let description = AlertDescription::from(plain[1]);
                if description == AlertDescription::CloseNotify {
                    Ok(Opened::Closed)
                } else {
                    Err(io::Error::new(
                        ErrorKind::InvalidData,
                        rustls::Error::AlertReceived(description),
                    ))
                }
            }
            other => Err(invalid(format!(
                "tls: unexpected record of content type {other} after the handshake"
            ))),
        }
    }
}

fn invalid(detail: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(suite: usize) -> (Sealer, Opener) {
        let (algorithm, key_len) = [(&AES_128_GCM, 16), (&AES_256_GCM, 32), (&CHACHA20_POLY1305, 32)][suite];
        let key = vec![3u8; key_len];
        let direction = || Direction::new(algorithm, &key, [7; 12], 0).unwrap();
        (Sealer(direction()), Opener(direction()))
    }

    /// Opens every record in `wire`; returns the plaintext and whether close_notify came.
    fn open_all(open: &mut Opener, mut wire: &mut [u8]) -> io::Result<(Vec<u8>, bool)> {
        let mut plain = Vec::new();
        while !wire.is_empty() {
            let header: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
            let len = Opener::body_len(&header)?;
            let (record, rest) = std::mem::take(&mut wire).split_at_mut(HEADER_LEN + len);
            match open.open(&header, &mut record[HEADER_LEN..])? {
                Opened::Data(n) => plain.extend_from_slice(&record[HEADER_LEN..HEADER_LEN + n]),
                Opened::Closed => return Ok((plain, true)),
            }
            wire = rest;
        }
        Ok((plain, false))
    }

    #[test]
    fn records_round_trip_under_every_suite_with_rekeying() {
        for suite in 0..3 {
            let (mut seal, mut open) = pair(suite);
            seal.set_rekey_after(3);
            open.0.rekey_after = 3;
            let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
            let mut wire = Vec::new();
            seal.seal(&data, &mut wire).unwrap();
            seal.seal(b"", &mut wire).unwrap();
            seal.seal(b"tail", &mut wire).unwrap();
            seal.close_notify(&mut wire).unwrap();
            // 7 data records, the tail, the alert: rekeyed three times on both sides.
            assert!(wire.len() > data.len());
            assert_ne!(&wire[HEADER_LEN..HEADER_LEN + 64], &data[..64], "encrypted");
            let (plain, closed) = open_all(&mut open, &mut wire).unwrap();
            assert!(closed);
            assert_eq!(plain[..data.len()], data[..]);
            assert_eq!(&plain[data.len()..], b"tail");
        }
    }

    #[test]
    fn a_flipped_bit_a_replayed_or_a_reordered_record_fails_authentication() {
        let (mut seal, _) = pair(1);
        let mut wire = Vec::new();
        seal.seal(b"first", &mut wire).unwrap();
        let one = wire.len();
        seal.seal(b"second", &mut wire).unwrap();
        let auth_failed = |e: io::Error| super::super::link::io_detail(&e);

        let mut flipped = wire.clone();
        flipped[HEADER_LEN + 2] ^= 1;
        let e = open_all(&mut pair(1).1, &mut flipped).unwrap_err();
        assert!(auth_failed(e).starts_with("tls: "), "decrypt error names tls");

        let mut reordered = [&wire[one..], &wire[..one]].concat();
        assert!(open_all(&mut pair(1).1, &mut reordered).is_err());

        let mut replayed = [&wire[..one], &wire[..one]].concat();
        assert!(open_all(&mut pair(1).1, &mut replayed).is_err());
    }

    #[test]
    fn a_fatal_alert_is_the_peer_refusing_and_a_bad_header_is_refused() {
        let (mut seal, mut open) = pair(0);
        let mut wire = Vec::new();
        seal.seal_record(&[2, u8::from(AlertDescription::CertificateUnknown)], ALERT, &mut wire)
            .unwrap();
        let e = open_all(&mut open, &mut wire).unwrap_err();
        assert!(
            super::super::link::io_detail(&e).starts_with("tls: the peer refused our certificate"),
            "{e}"
        );
        assert!(Opener::body_len(&[0x16, 3, 3, 0, 40]).is_err(), "a handshake record");
        assert!(Opener::body_len(&[0x17, 3, 3, 0x48, 0x01]).is_err(), "too long");
        assert!(Opener::body_len(&[0x17, 3, 3, 0, 16]).is_err(), "shorter than a tag");
    }

    /// A link's reading half over a real socket: what `wire` (sent, then the sender closes) reads.
    fn read_from_socket(wire: Vec<u8>) -> (Vec<u8>, io::Result<usize>) {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = std::thread::spawn(move || TcpStream::connect(addr).unwrap().write_all(&wire).unwrap());
        let (sock, _) = listener.accept().unwrap();
        sender.join().unwrap();
        let mut read = super::super::link::ReadHalf::new(sock);
        read.tls = Some(pair(1).1);
        let mut got = vec![0u8; 5];
        read.read_exact(&mut got).unwrap();
        let last = read.read(&mut [0u8; 16]);
        (got, last)
    }

    #[test]
    fn a_stream_cut_inside_a_record_is_a_closed_connection_and_close_notify_ends_it_cleanly() {
        let (mut seal, _) = pair(1);
        let mut wire = Vec::new();
        seal.seal(b"whole", &mut wire).unwrap();
        seal.seal(b"cut short", &mut wire).unwrap();
        wire.truncate(wire.len() - 3);
        let (got, last) = read_from_socket(wire);
        assert_eq!(got, b"whole");
        let e = last.unwrap_err();
        assert_eq!(super::super::link::io_detail(&e), "connection closed");

        let (mut seal, _) = pair(1);
        let mut wire = Vec::new();
        seal.seal(b"whole", &mut wire).unwrap();
        seal.close_notify(&mut wire).unwrap();
        let (got, last) = read_from_socket(wire);
        assert_eq!(got, b"whole");
        assert_eq!(last.unwrap(), 0, "the end of the stream");
    }
}
