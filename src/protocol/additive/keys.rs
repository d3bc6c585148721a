//! The dealer's side of the `2pc-fss` gates (see `super::fss`): which keys a gate needs, their
//! sizes in words, and making them for masks r in chunks of at most [`KEY_CHUNK`] elements.

use crate::fss::relu::ReluKeys;
use crate::fss::{dpf, drelu, relu, relu_one_round, trunc_relu, wire};
use crate::protocol::prg::Prg;

/// The FSS gates the dealer deals keys for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// DReLU keys (sign bits).
    Drelu,
    /// ReLU keys: DReLU keys plus the select's shares of r_d and r_d·r.
    Relu,
    /// One-round ReLU keys: a ring-payload DCF plus shares of c and c·r.
    ReluOneRound,
    /// Zero-test keys: a DPF at α = r on the window's low bits.
    Eqz,
    /// Fused ReLU(x / 2^bits) keys: DReLU keys plus five ring elements (`fss::trunc_relu`).
    TruncRelu { bits: u32 },
}

/// Most elements per key message: the dealer makes and sends a tensor's keys in chunks of this
/// many (a multiple of 64, so chunks hold whole words of packed bits), ≈ 31 MB per party at the
/// exact window. The offline formulas are unchanged: the per-chunk word counts add up to the
/// whole tensor's.
pub const KEY_CHUNK: usize = 1 << 15;

/// (start, len) of the key chunks of an n-element tensor.
pub(crate) fn chunks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).step_by(KEY_CHUNK).map(move |s| (s, KEY_CHUNK.min(n - s)))
}

/// Words of ONE party's keys for an FSS request.
pub(crate) fn key_words(gate: Gate, n: usize, window: u32) -> usize {
    match gate {
        Gate::Relu => wire::relu_words(n, window),
        Gate::ReluOneRound => wire::relu_one_round_words(n, window),
        Gate::Eqz => wire::dpf_words(n, window),
        Gate::Drelu => wire::drelu_words(n, window),
        Gate::TruncRelu { .. } => wire::trunc_relu_words(n, window),
    }
}

/// The dealer's side of an FSS request with masks r: (party 0's key words, party 1's).
pub(crate) fn deal(gate: Gate, window: u32, masks: &[u64], prg: &mut Prg) -> (Vec<u64>, Vec<u64>) {
    let mut rand = |out: &mut [u64]| prg.fill(out);
    match gate {
        Gate::Relu => {
            let (k0, k1) = relu::keygen_for_masks(masks, window, &mut rand);
            let words = |k: &ReluKeys| {
                let mut w = Vec::with_capacity(wire::relu_words(masks.len(), window));
                wire::put_drelu(&mut w, &k.drelu);
                w.extend_from_slice(&k.rd);
                w.extend_from_slice(&k.rd_r);
                w
            };
            (words(&k0), words(&k1))
        }
        Gate::ReluOneRound => {
            let (k0, k1) = relu_one_round::keygen_for_masks(masks, window, &mut rand);
            let words = |k: &relu_one_round::ReluOneRoundKeys| {
                let mut w = Vec::with_capacity(wire::relu_one_round_words(masks.len(), window));
                wire::put_dcf(&mut w, &k.dcf);
                w.extend_from_slice(&k.c);
                w.extend_from_slice(&k.c_r);
                w
            };
            (words(&k0), words(&k1))
        }
        Gate::Drelu => {
            let (k0, k1) = drelu::keygen(masks, window, &mut rand);
            let words = |k: &drelu::DreluKeys| {
                let mut w = Vec::with_capacity(wire::drelu_words(masks.len(), window));
                wire::put_drelu(&mut w, k);
                w
            };
            (words(&k0), words(&k1))
        }
        Gate::TruncRelu { bits } => {
            let (k0, k1) = trunc_relu::keygen_for_masks(masks, window, bits, &mut rand);
            let words = |k: &trunc_relu::TruncReluKeys| {
                let mut w = Vec::with_capacity(wire::trunc_relu_words(masks.len(), window));
                wire::put_drelu(&mut w, &k.drelu);
                for part in [&k.rd, &k.rl_f, &k.rh, &k.rd_rl_f, &k.rd_rh] {
                    w.extend_from_slice(part);
                }
                w
            };
            (words(&k0), words(&k1))
        }
        Gate::Eqz => {
            // x = 0 iff x̂ = r on the window's low bits.
            let low = u64::MAX >> (64 - window);
            let alphas: Vec<u64> = masks.iter().map(|r| r & low).collect();
            let (k0, k1) = dpf::keygen(&alphas, window, &mut rand);
            let words = |k: &dpf::DpfKeys| {
                let mut w = Vec::with_capacity(wire::dpf_words(masks.len(), window));
                wire::put_dpf(&mut w, k);
                w
            };
            (words(&k0), words(&k1))
        }
    }
}
