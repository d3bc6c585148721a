//! Keys as u64 words, the unit the dealer's link carries: what each party receives for a batch of
//! DReLUs or ReLUs, with the exact word counts (the offline cost formulas).
//!
//! Layout per batch of n elements on an m-bit domain with L = m − ν tree levels: roots (2n words),
//! seed corrections (2Ln), right control bits (L·⌈n/64⌉), leaf corrections (2n); DReLU adds its
//! packed constant (⌈n/64⌉); ReLU adds shares of r_d and r_d·r (2n). The masks r themselves are
//! never sent: each party draws its share from the PRG it shares with the dealer.

use super::dcf::DcfKeys;
use super::dpf::{DpfKeys, levels};
use super::drelu::DreluKeys;

fn push_blocks(out: &mut Vec<u64>, blocks: &[u128]) {
    out.reserve(2 * blocks.len());
    for b in blocks {
        out.push(*b as u64);
        out.push((b >> 64) as u64);
    }
}

fn take<'a>(words: &mut &'a [u64], n: usize) -> &'a [u64] {
    let (head, tail) = words.split_at(n);
    *words = tail;
    head
}

fn take_blocks(words: &mut &[u64], n: usize) -> Vec<u128> {
    take(words, 2 * n)
        .chunks_exact(2)
        .map(|w| (w[0] as u128) | ((w[1] as u128) << 64))
        .collect()
}

/// Words of one party's DPF keys for n elements on an m-bit domain.
pub fn dpf_words(n: usize, m: u32) -> usize {
    let lv = levels(m) as usize;
    2 * n + 2 * lv * n + lv * n.div_ceil(64) + 2 * n
}

/// Words of one party's DReLU keys for n elements with window k.
pub fn drelu_words(n: usize, window: u32) -> usize {
    dpf_words(n, window - 1) + n.div_ceil(64)
}

/// Words of one party's ReLU keys (without the PRG-drawn mask shares).
pub fn relu_words(n: usize, window: u32) -> usize {
    drelu_words(n, window) + 2 * n
}

/// Words of one party's fused truncation + ReLU keys (DReLU keys and five ring elements).
pub fn trunc_relu_words(n: usize, window: u32) -> usize {
    drelu_words(n, window) + 5 * n
}

/// Words of one party's ring-payload DCF keys for n elements on an m-bit domain: roots (2n), per
/// level seed corrections (2n), right control bits (⌈n/64⌉) and value corrections (2n), and the
/// last corrections (2n).
pub fn dcf_words(n: usize, m: u32) -> usize {
    let lv = m as usize;
    2 * n + lv * (4 * n + n.div_ceil(64)) + 2 * n
}

/// Words of one party's one-round ReLU keys (without the PRG-drawn mask shares): the DCF on
/// k − 1 bits and shares of c and c·r.
pub fn relu_one_round_words(n: usize, window: u32) -> usize {
    dcf_words(n, window - 1) + 2 * n
}

/// Appends one party's DCF keys.
pub fn put_dcf(out: &mut Vec<u64>, k: &DcfKeys) {
    push_blocks(out, &k.roots);
    push_blocks(out, &k.cw_seed);
    out.extend_from_slice(&k.cw_right);
    push_blocks(out, &k.cw_value);
    push_blocks(out, &k.cw_last);
}

/// Reads DCF keys for n elements on an m-bit domain written by [`put_dcf`]; `None` when the words
/// run short.
pub fn get_dcf(words: &mut &[u64], party: u8, n: usize, m: u32) -> Option<DcfKeys> {
    if !(1..=64).contains(&m) || words.len() < dcf_words(n, m) {
        return None;
    }
    let lv = m as usize;
    Some(DcfKeys {
        party,
        domain_bits: m,
        roots: take_blocks(words, n),
        cw_seed: take_blocks(words, lv * n),
        cw_right: take(words, lv * n.div_ceil(64)).to_vec(),
        cw_value: take_blocks(words, lv * n),
        cw_last: take_blocks(words, n),
    })
}

/// Appends one party's DPF keys.
pub fn put_dpf(out: &mut Vec<u64>, k: &DpfKeys) {
    push_blocks(out, &k.roots);
    push_blocks(out, &k.cw_seed);
    out.extend_from_slice(&k.cw_right);
    push_blocks(out, &k.leaves);
}

/// Reads DPF keys for n elements on an m-bit domain written by [`put_dpf`]; `None` when the words
/// run short.
pub fn get_dpf(words: &mut &[u64], party: u8, n: usize, m: u32) -> Option<DpfKeys> {
    if !(1..=64).contains(&m) || words.len() < dpf_words(n, m) {
        return None;
    }
    let lv = levels(m) as usize;
    Some(DpfKeys {
        party,
        domain_bits: m,
        roots: take_blocks(words, n),
        cw_seed: take_blocks(words, lv * n),
        cw_right: take(words, lv * n.div_ceil(64)).to_vec(),
        leaves: take_blocks(words, n),
    })
}

/// Appends one party's DReLU keys.
pub fn put_drelu(out: &mut Vec<u64>, k: &DreluKeys) {
    put_dpf(out, &k.dcf);
    out.extend_from_slice(&k.z);
}

/// Reads DReLU keys for n elements written by [`put_drelu`]; `None` when the words run short.
pub fn get_drelu(words: &mut &[u64], party: u8, n: usize, window: u32) -> Option<DreluKeys> {
    if !(2..=64).contains(&window) || words.len() < drelu_words(n, window) {
        return None;
    }
    let dcf = get_dpf(words, party, n, window - 1)?;
    let z = take(words, n.div_ceil(64)).to_vec();
    Some(DreluKeys { window, dcf, z })
}

/// Takes n words.
pub fn get_words(words: &mut &[u64], n: usize) -> Option<Vec<u64>> {
    (words.len() >= n).then(|| take(words, n).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fss::drelu;
    use crate::fss::tests::rng;

    #[test]
    fn dcf_keys_round_trip_with_their_word_counts() {
        for (n, m) in [(1usize, 1u32), (70, 8), (130, 31), (5, 63)] {
            let mut rand = rng(n as u64);
            let mut alphas = vec![0u64; n];
            rand(&mut alphas);
            let betas: Vec<u128> = alphas.iter().map(|a| *a as u128 * 3).collect();
            let (k0, k1) = crate::fss::dcf::keygen(&alphas, &betas, m, &mut rand);
            for key in [k0, k1] {
                let mut w = Vec::new();
                put_dcf(&mut w, &key);
                assert_eq!(w.len(), dcf_words(n, m));
                assert_eq!(
                    64 * w.len() as u64,
                    n as u64 * crate::fss::dcf::key_bits(m) + m as u64 * (64 * n.div_ceil(64) - n) as u64
                );
                let mut rest = &w[..];
                let back = get_dcf(&mut rest, key.party, n, m).unwrap();
                assert!(rest.is_empty());
                assert_eq!(back, key);
            }
        }
    }

    #[test]
    fn drelu_keys_round_trip_with_their_word_counts() {
        for (n, k) in [(1usize, 2u32), (70, 9), (130, 32), (5, 64)] {
            let mut rand = rng(n as u64);
            let mut r = vec![0u64; n];
            rand(&mut r);
            let (k0, k1) = drelu::keygen(&r, k, &mut rand);
            for key in [k0, k1] {
                let mut w = Vec::new();
                put_drelu(&mut w, &key);
                assert_eq!(w.len(), drelu_words(n, k));
                let mut rest = &w[..];
                let back = get_drelu(&mut rest, key.dcf.party, n, k).unwrap();
                assert!(rest.is_empty());
                assert_eq!(back, key);
            }
        }
    }
}
