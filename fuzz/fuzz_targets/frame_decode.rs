//! Fuzzes the wire frame decoders (handshake frames and stamped message frames): arbitrary bytes,
//! decoded frame after frame under a small word limit, must never panic, never allocate beyond the
//! limit, and every frame they return must re-encode to exactly the bytes it consumed.
//!
//! Run with `cargo +nightly fuzz run frame_decode` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed::net::frame::{read_frame, read_message, write_frame, write_message};

/// Words per frame the decoder accepts here; a length above it must be refused before allocating.
const MAX_WORDS: u64 = 1 << 12;

fuzz_target!(|data: &[u8]| {
    handshake_frames(data);
    message_frames(data);
});

fn handshake_frames(data: &[u8]) {
    let mut rest = data;
    loop {
        let before = rest;
        match read_frame(&mut rest, MAX_WORDS) {
            Ok(Some(words)) => {
                assert!(words.len() as u64 <= MAX_WORDS);
                let consumed = &before[..before.len() - rest.len()];
                let mut again = Vec::with_capacity(consumed.len());
                write_frame(&mut again, &words).expect("writing to a Vec cannot fail");
                assert_eq!(again, consumed, "a decoded frame re-encodes to the bytes it came from");
            }
            Ok(None) => {
                assert!(before.is_empty(), "a clean end of stream only at a frame boundary");
                break;
            }
            Err(_) => break,
        }
    }
}

fn message_frames(data: &[u8]) {
    let mut rest = data;
    loop {
        let before = rest;
        match read_message(&mut rest, MAX_WORDS) {
            Ok(Some((words, stamp))) => {
                assert!(words.len() as u64 <= MAX_WORDS);
                let consumed = &before[..before.len() - rest.len()];
                let mut again = Vec::with_capacity(consumed.len());
                write_message(&mut again, &words, stamp).expect("writing to a Vec cannot fail");
                assert_eq!(again, consumed, "a decoded message re-encodes to the bytes it came from");
            }
            Ok(None) => {
                assert!(before.is_empty(), "a clean end of stream only at a frame boundary");
                break;
            }
            Err(_) => break,
        }
    }
}
