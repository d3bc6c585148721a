//! The cryptographic PRG behind every share, mask and triple.
//!
//! AES-128 in counter mode keyed by a 128-bit seed: block i of the stream is AES_seed(i). AES-NI (and
//! VAES) are detected at run time by the `aes` crate. Counter mode is seekable, so large fills are
//! split across rayon threads without changing the stream. Two parties holding the same seed draw
//! the same stream as long as they consume it in the same order, which is how input sharing and the
//! dealer's triples cost no online traffic.
//!
//! For `testbed audit`, a thread can ask to keep every word its generators produce ([`record_draws`]),
//! the PRG part of a party's view. Off by default; while no thread records, a fill pays one relaxed
//! atomic load.

use crate::error::{Error, Result};
use crate::ring::RingTensor;
use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use rayon::prelude::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads currently recording their draws (so that the common case skips the thread-local).
static RECORDING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's draws, one entry per fill, while it records.
    static DRAWS: RefCell<Option<Vec<Vec<u64>>>> = const { RefCell::new(None) };
}

/// Starts keeping every word the generators of this thread produce, one record per fill, until
/// [`take_draws`]. Fills that rayon splits across threads are recorded whole, on the calling thread.
pub fn record_draws() {
    DRAWS.with(|d| {
        if d.borrow_mut().replace(Vec::new()).is_none() {
            RECORDING.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Stops recording on this thread and returns what it drew since [`record_draws`] (empty if it was
/// not recording).
pub fn take_draws() -> Vec<Vec<u64>> {
    DRAWS.with(|d| {
        let taken = d.borrow_mut().take();
        if taken.is_some() {
            RECORDING.fetch_sub(1, Ordering::Relaxed);
        }
        taken.unwrap_or_default()
    })
}

/// Appends one fill to this thread's record, if it records.
fn note_draw(words: &[u64]) {
    if RECORDING.load(Ordering::Relaxed) == 0 {
        return;
    }
    DRAWS.with(|d| {
        if let Some(rec) = d.borrow_mut().as_mut() {
            rec.push(words.to_vec());
        }
    });
}

/// A 128-bit PRG seed.
pub type Seed = [u8; 16];

/// Blocks per parallel chunk: small fills stay on the calling thread.
const PAR_BLOCKS: usize = 1 << 14;

/// AES-128-CTR pseudo-random generator over u64 words.
#[derive(Clone)]
pub struct Prg {
    cipher: Aes128,
    /// Index of the next unused 16-byte block.
    counter: u128,
}

impl std::fmt::Debug for Prg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prg {{ counter: {} }}", self.counter)
    }
}

impl Prg {
    /// A generator keyed by `seed`, positioned at the start of its stream.
    pub fn new(seed: &Seed) -> Self {
        Self {
            cipher: Aes128::new(&Array(*seed)),
            counter: 0,
        }
    }

    /// A generator keyed from the operating system's entropy source.
    pub fn from_os() -> Result<Self> {
        Ok(Self::new(&os_seed()?))
    }

    /// Fills `out` with pseudo-random words, advancing the stream by ⌈len/2⌉ blocks.
    pub fn fill(&mut self, out: &mut [u64]) {
        // SAFETY: `MaybeUninit<u64>` has the layout of `u64`, and `fill_uninit` only ever stores
        // initialised words, so the slice stays fully initialised.
        let slots = unsafe { &mut *(out as *mut [u64] as *mut [MaybeUninit<u64>]) };
        self.fill_uninit(slots);
    }

    /// Writes pseudo-random words into possibly uninitialised slots; afterwards all are initialised.
    fn fill_uninit(&mut self, out: &mut [MaybeUninit<u64>]) {
        let start = self.counter;
        let blocks = out.len().div_ceil(2);
        self.counter += blocks as u128;
        let even = out.len() & !1;
        let (body, tail) = out.split_at_mut(even);
        let cipher = &self.cipher;
        if body.len() / 2 >= 2 * PAR_BLOCKS {
            body.par_chunks_mut(2 * PAR_BLOCKS).enumerate().for_each(|(i, chunk)| {
                ctr_fill(cipher, start + (i * PAR_BLOCKS) as u128, chunk);
            });
        } else {
            ctr_fill(cipher, start, body);
        }
        if let Some(last) = tail.first_mut() {
            let mut pair = [MaybeUninit::new(0u64); 2];
            ctr_fill(cipher, start + (even / 2) as u128, &mut pair);
            // SAFETY: `ctr_fill` initialised both words.
            last.write(unsafe { pair[0].assume_init() });
        }
        if RECORDING.load(Ordering::Relaxed) != 0 {
            // SAFETY: every slot of `out` was initialised above.
            note_draw(unsafe { &*(out as *const [MaybeUninit<u64>] as *const [u64]) });
        }
    }

    /// One pseudo-random word (consumes a whole block; use [`Prg::fill`] for bulk).
    pub fn next_u64(&mut self) -> u64 {
        let mut w = [0u64; 1];
        self.fill(&mut w);
        w[0]
    }

    /// A fresh seed drawn from this stream (to derive independent sub-generators).
    pub fn next_seed(&mut self) -> Seed {
        let mut w = [0u64; 2];
        self.fill(&mut w);
        bytemuck::cast(w)
    }

    /// A uniformly random ring tensor of `shape`.
    pub fn tensor(&mut self, shape: &[usize]) -> RingTensor {
        RingTensor::from_parts(shape.to_vec(), self.vec(crate::ring::numel(shape)))
    }

    /// `n` pseudo-random words in a new vector, written once (no zeroing pass first).
    pub fn vec(&mut self, n: usize) -> Vec<u64> {
        let mut data: Vec<u64> = Vec::with_capacity(n);
        self.fill_uninit(&mut data.spare_capacity_mut()[..n]);
        // SAFETY: `fill_uninit` initialised the first `n` slots of the capacity.
        unsafe { data.set_len(n) };
        data
    }

    /// Uniform words masked to their low `bits` bits (bits in 1..=64).
    pub fn tensor_bits(&mut self, shape: &[usize], bits: u32) -> RingTensor {
        let mut t = self.tensor(shape);
        if bits < 64 {
            let mask = (1u64 << bits) - 1;
            t.data_mut().iter_mut().for_each(|x| *x &= mask);
        }
        t
    }
}

/// Writes AES_k(first), AES_k(first+1), … into `out` (even length), two words per block,
/// initialising every slot.
fn ctr_fill(cipher: &Aes128, first: u128, out: &mut [MaybeUninit<u64>]) {
    debug_assert!(out.len() % 2 == 0);
    for (i, pair) in out.chunks_exact_mut(2).enumerate() {
        let c = first + i as u128;
        pair[0].write(c as u64);
        pair[1].write((c >> 64) as u64);
    }
    // SAFETY: every slot was initialised by the loop above; the layouts of `MaybeUninit<u64>` and
    // `u64` are the same.
    let words = unsafe { &mut *(out as *mut [MaybeUninit<u64>] as *mut [u64]) };
    let bytes: &mut [[u8; 16]] = bytemuck::cast_slice_mut(words);
    cipher.encrypt_blocks(Array::cast_slice_from_core_mut(bytes));
}

/// 16 bytes from the operating system's entropy source.
pub fn os_seed() -> Result<Seed> {
    let mut s = [0u8; 16];
    getrandom::fill(&mut s).map_err(|e| Error::invalid("os entropy", e.to_string()))?;
    Ok(s)
}

/// A seed derived from a user's `--seed` number and a label, for reproducible runs.
pub fn seed_from_u64(seed: u64, label: u64) -> Seed {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(b"testbed!");
    let mut prg = Prg::new(&key);
    prg.counter = label as u128;
    prg.next_seed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_regardless_of_chunking() {
        let seed = seed_from_u64(7, 1);
        let n = 4 * PAR_BLOCKS * 2 + 5;
        let mut one = vec![0u64; n];
        Prg::new(&seed).fill(&mut one);
        let mut pieces = vec![0u64; n];
        let mut p = Prg::new(&seed);
        let (a, b) = pieces.split_at_mut(10);
        p.fill(a);
        p.fill(b);
        assert_eq!(one, pieces);
    }

    #[test]
    fn odd_lengths_skip_the_unused_half_block() {
        let seed = seed_from_u64(1, 2);
        let mut p = Prg::new(&seed);
        let mut a = [0u64; 3];
        p.fill(&mut a);
        let mut q = Prg::new(&seed);
        let mut b = [0u64; 4];
        q.fill(&mut b);
        assert_eq!(a, b[..3]);
        assert_eq!(p.counter, 2);
    }

    #[test]
    fn different_seeds_and_labels_differ() {
        assert_ne!(seed_from_u64(1, 0), seed_from_u64(1, 1));
        assert_ne!(seed_from_u64(1, 0), seed_from_u64(2, 0));
        assert_ne!(os_seed().unwrap(), os_seed().unwrap());
    }

    #[test]
    fn a_recording_thread_keeps_its_draws_and_others_do_not() {
        let seed = seed_from_u64(5, 5);
        record_draws();
        let mut p = Prg::new(&seed);
        let a = p.vec(3);
        let b = p.next_u64();
        let other = std::thread::spawn(move || {
            Prg::new(&seed).vec(4);
            take_draws()
        });
        assert!(other.join().unwrap().is_empty());
        assert_eq!(take_draws(), vec![a, vec![b]]);
        assert!(take_draws().is_empty(), "recording stopped");
    }

    #[test]
    fn output_looks_uniform() {
        // Each of the 64 bit positions should be set about half the time.
        let mut p = Prg::new(&seed_from_u64(3, 3));
        let mut w = vec![0u64; 1 << 16];
        p.fill(&mut w);
        for bit in 0..64 {
            let ones = w.iter().filter(|&&x| x >> bit & 1 == 1).count() as f64 / w.len() as f64;
            assert!((ones - 0.5).abs() < 0.01, "bit {bit}: {ones}");
        }
    }
}
