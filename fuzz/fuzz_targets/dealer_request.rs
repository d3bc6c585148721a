//! Fuzzes the dealer's request decoder: arbitrary words, read as party 0's control message, must
//! never panic, and a batch the dealer accepts must hold no more than its limit of ring elements
//! (so nothing the dealer then allocates can be absurd).
//!
//! Run with `cargo +nightly fuzz run dealer_request` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed::protocol::Dealer;

fuzz_target!(|data: &[u8]| {
    // Little-endian words, as they arrive in a message frame; small values are the interesting
    // ones, so every byte also stands alone as a word.
    let words: Vec<u64> = data
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect();
    let small: Vec<u64> = data.iter().map(|&b| u64::from(b)).collect();
    for msg in [words, small] {
        if let Ok(Some(elements)) = Dealer::check_request_message(&msg) {
            assert!(elements <= Dealer::MAX_REQUEST_ELEMENTS);
        }
    }
});
