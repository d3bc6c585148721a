//! DReLU (the sign bit `[x ≥ 0]`) of additively shared ring values, from one DPF-path comparison
//! on k − 1 bits (k = the comparison window).
//!
//! The dealer picks a fresh mask r per element; the parties open x̂ = x + r (that opening is the
//! protocol's round, not this module's). Write the low k bits as x̂ = a·2^{k−1} + x̂' and
//! r = b·2^{k−1} + r'. For −2^{k−1} ≤ x < 2^{k−1}, the top window bit of x is a ⊕ b ⊕ [x̂' < r']
//! (the borrow out of the low k − 1 bits), so
//!   DReLU(x) = 1 ⊕ a ⊕ b ⊕ [x̂' < r'],
//! with a public, b known to the dealer and the comparison a DCF with α = r'. The dealer XOR-
//! shares z = 1 ⊕ b; party 0 also adds the public a. Outside the window the bit is garbage: the
//! protocol's window choice bounds |x| (k = 64 is exact for every ring value).
//!
//! Cost per element per party: evaluation k − 1 − ν + 1 AES blocks (ν = min(7, k − 1)); key
//! [`key_bits`] bits.

use super::dpf::{self, DpfKeys};

/// One party's DReLU keys for a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DreluKeys {
    /// The comparison window k (2..=64).
    pub window: u32,
    /// DPF keys for `[x̂' < r']` on k − 1 bits.
    pub dcf: DpfKeys,
    /// Packed XOR shares of 1 ⊕ (bit k − 1 of r).
    pub z: Vec<u64>,
}

/// Key size of one element for one party, in bits (the DCF key and one bit of z).
pub fn key_bits(window: u32) -> u64 {
    dpf::key_bits(window - 1) + 1
}

fn low(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// The dealer's side: keys for masks `r` (one per element) and window k.
pub fn keygen(masks: &[u64], window: u32, rand: &mut dyn FnMut(&mut [u64])) -> (DreluKeys, DreluKeys) {
    assert!((2..=64).contains(&window), "DReLU window of {window} bits");
    let m = window - 1;
    let alphas: Vec<u64> = masks.iter().map(|r| r & low(m)).collect();
    let (k0, k1) = dpf::keygen(&alphas, m, rand);
    let words = masks.len().div_ceil(64);
    let mut z0 = vec![0u64; words];
    rand(&mut z0);
    if let Some(last) = z0.last_mut()
        && masks.len() % 64 != 0
    {
        *last &= low((masks.len() % 64) as u32);
    }
    let mut z1 = z0.clone();
    for (e, r) in masks.iter().enumerate() {
        let b = (r >> m) & 1;
        z1[e / 64] ^= (1 ^ b) << (e % 64);
    }
    (
        DreluKeys { window, dcf: k0, z: z0 },
        DreluKeys { window, dcf: k1, z: z1 },
    )
}

/// This party's packed XOR shares of `[x_e ≥ 0]` from the opened x̂_e = x_e + r_e.
pub fn eval(key: &DreluKeys, xhat: &[u64]) -> Vec<u64> {
    let m = key.window - 1;
    let low_x: Vec<u64> = xhat.iter().map(|x| x & low(m)).collect();
    let mut out = dpf::eval_lt(&key.dcf, &low_x);
    for (o, z) in out.iter_mut().zip(&key.z) {
        *o ^= z;
    }
    if key.dcf.party == 0 {
        for (e, x) in xhat.iter().enumerate() {
            out[e / 64] ^= ((x >> m) & 1) << (e % 64);
        }
    }
    out
}
