//! Wire framing of messages for byte-stream transports (TCP, TLS).
//!
//! A frame is an 8-byte little-endian word count followed by the words themselves, little-endian.
//! A message frame (what protocol messages travel in) puts the message's logical clock, a
//! [`Stamp`] of two words, between the count and the payload: framing, never payload.
//! On little-endian machines (the only ones we build for) the payload is the message's memory as it
//! is: `bytemuck` views the `u64` slice as bytes for writing, and reading fills a `u64` buffer
//! directly, so nothing is copied twice. Decoding never trusts the peer: a length above the
//! session's limit is refused before anything is allocated, and a stream that ends mid-frame is an
//! error.

use super::Stamp;
use crate::error::{Error, Result};
use std::io::{ErrorKind, Read, Write};

/// Bytes of framing per handshake frame (the length prefix).
pub const HEADER_BYTES: u64 = 8;

/// Bytes of framing per message frame (the length prefix and the stamp).
pub const MESSAGE_HEADER_BYTES: u64 = 24;

/// Writes one frame holding `words`.
pub fn write_frame(w: &mut impl Write, words: &[u64]) -> std::io::Result<()> {
    w.write_all(&(words.len() as u64).to_le_bytes())?;
    w.write_all(bytemuck::cast_slice(words))
}

/// Writes one message frame: `words` with the clock `stamp`.
pub fn write_message(w: &mut impl Write, words: &[u64], stamp: Stamp) -> std::io::Result<()> {
    let [a, b] = stamp.to_words();
    let mut header = [0u8; 24];
    header[..8].copy_from_slice(&(words.len() as u64).to_le_bytes());
    header[8..16].copy_from_slice(&a.to_le_bytes());
    header[16..].copy_from_slice(&b.to_le_bytes());
    w.write_all(&header)?;
    w.write_all(bytemuck::cast_slice(words))
}

/// Reads one message frame of at most `max_words` payload words, as [`read_frame`] does.
pub fn read_message(r: &mut impl Read, max_words: u64) -> Result<Option<(Vec<u64>, Stamp)>> {
    let Some((len, stamp)) = read_message_header(r)? else {
        return Ok(None);
    };
    check_frame_len(len, max_words)?;
    Ok(Some((read_words(r, len)?, stamp)))
}

/// Reads a message frame's header: its payload length in words and its clock. `Ok(None)` means
/// the stream ended cleanly before a new frame began. The length is not checked yet: a reader
/// calls [`check_frame_len`], may wait for room, then [`read_words`].
pub fn read_message_header(r: &mut impl Read) -> Result<Option<(u64, Stamp)>> {
    let mut header = [0u64; 3];
    match read_exact_or_eof(r, bytemuck::cast_slice_mut(&mut header))? {
        Filled::Eof => return Ok(None),
        Filled::Partial => return Err(frame_error("stream ended inside a message header")),
        Filled::Full => {}
    }
    let [len, a, b] = header.map(u64::from_le);
    let stamp = Stamp::from_words([a, b]).ok_or_else(|| frame_error("message header holds no valid clock"))?;
    Ok(Some((len, stamp)))
}

/// Reads one frame of at most `max_words` words. `Ok(None)` means the stream ended cleanly before a
/// new frame began; a stream that ends inside a frame, or an oversized length, is an error.
pub fn read_frame(r: &mut impl Read, max_words: u64) -> Result<Option<Vec<u64>>> {
    let mut header = [0u8; 8];
    match read_exact_or_eof(r, &mut header)? {
        Filled::Eof => return Ok(None),
        Filled::Partial => return Err(frame_error("stream ended inside a frame header")),
        Filled::Full => {}
    }
    let len = u64::from_le_bytes(header);
    check_frame_len(len, max_words)?;
    read_words(r, len).map(Some)
}

/// Refuses a frame length above the limit, before anything is allocated for it.
pub fn check_frame_len(len: u64, max_words: u64) -> Result<()> {
    if len > max_words {
        return Err(frame_error(&format!(
            "a frame of {len} words ({}) exceeds the frame limit of {max_words} words ({})",
            bytes_text(len),
            bytes_text(max_words)
        )));
    }
    Ok(())
}

/// `words` × 8 bytes, in the largest binary unit that keeps it at least 1.
fn bytes_text(words: u64) -> String {
    let bytes = words as f64 * 8.0;
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let k = ((bytes.max(1.0).log2() / 10.0).floor() as usize).min(units.len() - 1);
    if k == 0 {
        format!("{} bytes", words.saturating_mul(8))
    } else {
        format!("{:.1} {}", bytes / (1u64 << (10 * k)) as f64, units[k])
    }
}

/// Reads the `len` payload words of a frame whose header has been read (and whose length the
/// caller has checked against its limit).
pub fn read_words(r: &mut impl Read, len: u64) -> Result<Vec<u64>> {
    let count = usize::try_from(len).map_err(|_| frame_error(&format!("a frame of {len} words is too large")))?;
    let mut words = vec![0u64; count];
    match read_exact_or_eof(r, bytemuck::cast_slice_mut(&mut words))? {
        Filled::Full => Ok(words),
        _ if len == 0 => Ok(words),
        _ => Err(frame_error(&format!("stream ended inside a frame of {len} words"))),
    }
}

enum Filled {
    Full,
    Partial,
    Eof,
}

fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> Result<Filled> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Ok(if got == 0 { Filled::Eof } else { Filled::Partial }),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(frame_error(&e.to_string())),
        }
    }
    Ok(Filled::Full)
}

fn frame_error(detail: &str) -> Error {
    Error::invalid("frame", detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip_in_order() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &[1, u64::MAX, 3]).unwrap();
        write_frame(&mut buf, &[]).unwrap();
        assert_eq!(buf.len(), 8 + 24 + 8);
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r, 10).unwrap(), Some(vec![1, u64::MAX, 3]));
        assert_eq!(read_frame(&mut r, 10).unwrap(), Some(vec![]));
        assert_eq!(read_frame(&mut r, 10).unwrap(), None);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &[7; 4]).unwrap();
        assert!(read_frame(&mut &buf[..buf.len() - 1], 10).is_err(), "truncated payload");
        assert!(read_frame(&mut &buf[..5], 10).is_err(), "truncated header");
        assert!(read_frame(&mut &buf[..], 3).is_err(), "over the limit");
        assert_eq!(
            check_frame_len(1 << 28, 1 << 27).unwrap_err().to_string(),
            "frame: a frame of 268435456 words (2.0 GiB) exceeds the frame limit of 134217728 words (1.0 GiB)"
        );
        assert_eq!(
            check_frame_len(1001, 1000).unwrap_err().to_string(),
            "frame: a frame of 1001 words (7.8 KiB) exceeds the frame limit of 1000 words (7.8 KiB)"
        );
        assert!(check_frame_len(1000, 1000).is_ok());
        let huge = u64::MAX.to_le_bytes();
        assert!(
            read_frame(&mut &huge[..], 1 << 30).is_err(),
            "no allocation for absurd lengths"
        );
    }

    #[test]
    fn message_frames_carry_their_clock() {
        let stamp = Stamp {
            epoch: 3,
            depth: 17,
            party_depth: 9,
            phase: super::super::Phase::Offline,
        };
        let mut buf = Vec::new();
        write_message(&mut buf, &[5, 6], stamp).unwrap();
        write_message(&mut buf, &[], Stamp::default()).unwrap();
        assert_eq!(buf.len() as u64, 2 * MESSAGE_HEADER_BYTES + 16);
        let mut r = &buf[..];
        assert_eq!(read_message(&mut r, 10).unwrap(), Some((vec![5, 6], stamp)));
        assert_eq!(read_message(&mut r, 10).unwrap(), Some((vec![], Stamp::default())));
        assert_eq!(read_message(&mut r, 10).unwrap(), None);
        assert!(read_message(&mut &buf[..20], 10).is_err(), "truncated header");
        let mut bad = buf.clone();
        bad[12] = 9; // phase 9 does not exist
        assert!(read_message(&mut &bad[..], 10).is_err(), "invalid clock");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = &bytes[..];
            while let Ok(Some(_)) = read_frame(&mut r, 16) {}
            let mut r = &bytes[..];
            while let Ok(Some(_)) = read_message(&mut r, 16) {}
        }
    }
}
