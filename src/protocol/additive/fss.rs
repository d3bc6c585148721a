//! The `2pc-fss` family's native gates: 2pc-ttp's party and dealer, with sign bits and ReLU from
//! function-secret-sharing keys (`crate::fss`) instead of the MSB circuit.
//!
//! Per gate the dealer draws a mask r per element as the sum of the two parties' draws from the
//! PRGs it shares with them (so r is never sent), generates the keys (its private randomness from
//! its OS-seeded generator, `keys.rs`) and sends each party its key right away, on the offline
//! phase, in chunks of `keys::KEY_CHUNK` elements. The
//! parties open x̂ = x + r (one round) and evaluate locally:
//!
//! * **sign bits** [x < 0] (`Protocol::ltz_bits_many`): DReLU keys on the window k, XOR shares out;
//! * **zero test** [x = 0] (`Protocol::eqz_bits_many`): a DPF at α = r on the window's low bits
//!   (x̂ = r exactly when x ≡ 0 mod 2^k, i.e. x = 0 for |x| < 2^k);
//! * **ReLU** (`Protocol::relu_many`): DReLU ⊕ r_d, opened (one bit per element), then the
//!   triple-free select of `fss::relu`;
//! * **ReLU in one round** (`fss_relu_rounds: 1`): the same opening, then a ring-payload DCF
//!   (`fss::relu_one_round`) gives additive shares of the product directly; keys ≈ 2.2× larger.
//!   The same keys give [x < 0] as a ring share in that one round (`Protocol::ltz_many`: the
//!   comparisons that return integers skip their B2A round);
//! * **ReLU(x / 2^f)** (`Protocol::trunc_relu_many`, with `truncation: dealer`): the same two
//!   rounds, the truncation read off the ReLU's own opening (`fss::trunc_relu`), so a product's
//!   dealer truncation costs nothing more when a ReLU follows it. With local truncation (free
//!   online) the hook keeps its default.
//!
//! The window k (`fss_window`, default 64) bounds the values the gates are right for: raw ring
//! values |x| < 2^(k−1). 64 is exact for every value, so every function gives 2pc-ttp's result;
//! a smaller k only shrinks the keys (and the evaluation's AES count), never the online bytes.
//!
//! Cost, n elements per gate (bytes each party SENDS; offline = key words to both parties × 8;
//! rounds on the critical path count the dealer's hop: party 0's request, then the keys):
//!
//! | gate | rounds | party rounds | online bytes per party | offline bytes |
//! |---|---|---|---|---|
//! | sign bits [x < 0] | 2 | 1 | 8n | 16 · `wire::drelu_words(n, k)` |
//! | zero test [x = 0] | 2 | 1 | 8n | 16 · `wire::dpf_words(n, k)` |
//! | ReLU | 3 | 2 | 8n + 8⌈n/64⌉ | 16 · `wire::relu_words(n, k)` |
//! | ReLU, `fss_relu_rounds: 1` | 2 | 1 | 8n | 16 · `wire::relu_one_round_words(n, k)` |
//! | [x < 0] as integers, `fss_relu_rounds: 1` | 2 | 1 | 8n | 16 · `wire::relu_one_round_words(n, k)` |
//! | ReLU(x / 2^f), fused (`truncation: dealer`) | 3 | 2 | 8n + 8⌈n/64⌉ | 16 · `wire::trunc_relu_words(n, k)` |
//!
//! (The ReLU's second opening is n packed bits: ⌈n/64⌉ words, 8⌈n/64⌉ bytes, since the transport
//! carries whole words.) Key words per element at k = 64: ≈ 116.9 (DReLU), ≈ 118.9 (ReLU), i.e.
//! ≈ 0.95 KB per party; at k = 32 ≈ 52.4 / 54.4 words.

use super::AdditiveParty;
use super::keys::chunks;
use super::request::Request;
use crate::error::{Error, PartyId, Result};
use crate::fss::relu::ReluKeys;
use crate::fss::relu_one_round::{self, ReluOneRoundKeys};
use crate::fss::trunc_relu::{self, TruncReluKeys};
use crate::fss::{dpf, drelu, relu, wire};
use crate::protocol::binary::ones;
use crate::protocol::cost::Cost;
use crate::ring::RingTensor;

impl AdditiveParty {
    /// Cost of the sign bits of n elements with window k.
    pub fn fss_ltz_cost(n: usize, window: u32) -> Cost {
        Cost::round(true, 8 * n as u64, 16 * wire::drelu_words(n, window) as u64)
    }

    /// Cost of the zero-test bits of n elements with window k.
    pub fn fss_eqz_cost(n: usize, window: u32) -> Cost {
        Cost::round(true, 8 * n as u64, 16 * wire::dpf_words(n, window) as u64)
    }

    /// Cost of a ReLU of n elements with window k.
    pub fn fss_relu_cost(n: usize, window: u32) -> Cost {
        Cost {
            rounds: 3,
            party_rounds: 2,
            bytes_per_party: 8 * (n + n.div_ceil(64)) as u64,
            offline_bytes: 16 * wire::relu_words(n, window) as u64,
        }
    }

    fn fss_dealer(&self) -> Result<PartyId> {
        self.dealer
            .ok_or_else(|| self.protocol_error("fss", "FSS gates need the ttp dealer"))
    }

    /// Requests the keys and opens x̂ = x + r for every tensor (one round); returns x̂ (all
    /// tensors, concatenated) and this party's mask shares.
    fn fss_open_masked(&mut self, xs: &[&RingTensor], reqs: &[Request]) -> Result<(Vec<u64>, Vec<RingTensor>)> {
        self.request(reqs)?;
        let draws = self.draw_all(reqs)?;
        let mut msg = Vec::with_capacity(xs.iter().map(|x| x.len()).sum());
        for (x, d) in xs.iter().zip(&draws) {
            msg.extend(x.data().iter().zip(d.common[0].data()).map(|(v, r)| v.wrapping_add(*r)));
        }
        let xhat = self.open_words(msg, false)?;
        let masks = draws
            .into_iter()
            .map(|d| d.common.into_iter().next().expect("one mask"))
            .collect();
        Ok((xhat, masks))
    }

    /// This party's key words for one request from the dealer.
    fn fss_key_words(&mut self, words: usize) -> Result<Vec<u64>> {
        let dealer = self.fss_dealer()?;
        Ok(crate::net::into_words(self.dealer_message(dealer, words)?))
    }

    fn bad_key(&self, op: &'static str) -> Error {
        self.protocol_error(op, "the dealer's key is malformed")
    }

    /// Packed bits of each tensor from one FSS gate per element: opens x + r, then evaluates each
    /// chunk's keys (`words` key words for a chunk of n elements, read by `eval` on its slice of
    /// x + r; `None` for a malformed key).
    fn fss_bits(
        &mut self,
        xs: &[&RingTensor],
        reqs: &[Request],
        op: &'static str,
        words: impl Fn(usize) -> usize,
        eval: impl Fn(&[u64], usize, &[u64]) -> Option<Vec<u64>>,
    ) -> Result<Vec<Vec<u64>>> {
        let (xhat, _) = self.fss_open_masked(xs, reqs)?;
        let mut at = 0;
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            let mut bits = Vec::with_capacity(x.len().div_ceil(64));
            for (start, len) in chunks(x.len()) {
                let key = self.fss_key_words(words(len))?;
                let masked = &xhat[at + start..at + start + len];
                bits.extend(eval(&key, len, masked).ok_or_else(|| self.bad_key(op))?);
            }
            at += x.len();
            out.push(bits);
        }
        Ok(out)
    }

    /// Packed [x < 0] bits of each tensor (see the module docs).
    pub(super) fn fss_ltz_rings(&mut self, xs: &[&RingTensor], window: u32) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = xs.iter().map(|x| Request::Drelu { n: x.len(), window }).collect();
        let party = self.id as u8;
        let words = |len| wire::drelu_words(len, window);
        let eval = |key: &[u64], len, xhat: &[u64]| {
            wire::get_drelu(&mut &key[..], party, len, window).map(|k| drelu::eval(&k, xhat))
        };
        let all = self.fss_bits(xs, &reqs, "ltz", words, eval)?;
        xs.iter()
            .zip(all)
            .map(|(x, mut bits)| {
                // DReLU = [x ≥ 0]; party 0 flips it to [x < 0].
                if self.id == 0 {
                    for (b, o) in bits.iter_mut().zip(ones(x.len()).data()) {
                        *b ^= o;
                    }
                }
                RingTensor::from_vec(&[bits.len()], bits)
            })
            .collect()
    }

    /// Packed [x = 0] bits of each tensor (see the module docs).
    pub(super) fn fss_eqz_rings(&mut self, xs: &[&RingTensor], window: u32) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = xs.iter().map(|x| Request::Eqz { n: x.len(), window }).collect();
        let party = self.id as u8;
        let words = |len| wire::dpf_words(len, window);
        let eval = |key: &[u64], len, xhat: &[u64]| {
            wire::get_dpf(&mut &key[..], party, len, window).map(|k| dpf::eval_eq(&k, xhat))
        };
        let all = self.fss_bits(xs, &reqs, "eq", words, eval)?;
        all.into_iter()
            .map(|bits| RingTensor::from_vec(&[bits.len()], bits))
            .collect()
    }

    /// max(x, 0) of each tensor (see the module docs).
    pub(super) fn fss_relu_rings(&mut self, xs: &[&RingTensor], window: u32) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = xs.iter().map(|x| Request::Relu { n: x.len(), window }).collect();
        let (xhat, masks) = self.fss_open_masked(xs, &reqs)?;
        // Keys per (tensor, chunk), with the chunk's place in x̂.
        let mut keys = Vec::new();
        let mut signs = Vec::new();
        let mut at = 0;
        for (x, r) in xs.iter().zip(&masks) {
            for (start, len) in chunks(x.len()) {
                let words = self.fss_key_words(wire::relu_words(len, window))?;
                let mut w = &words[..];
                let drelu = wire::get_drelu(&mut w, self.id as u8, len, window).ok_or_else(|| self.bad_key("relu"))?;
                let (Some(rd), Some(rd_r)) = (wire::get_words(&mut w, len), wire::get_words(&mut w, len)) else {
                    return Err(self.bad_key("relu"));
                };
                let key = ReluKeys {
                    drelu,
                    r: r.data()[start..start + len].to_vec(),
                    rd,
                    rd_r,
                };
                signs.extend(relu::masked_sign(&key, &xhat[at + start..at + start + len]));
                keys.push((at + start, key));
            }
            at += x.len();
        }
        self.fss_open_and_finish(xs.iter().map(|x| x.shape()), &xhat, signs, &keys, |key, x, d| {
            relu::finish(key, x, d)
        })
    }

    /// Cost of a one-round ReLU of n elements with window k (`fss_relu_rounds: 1`).
    pub fn fss_relu_one_round_cost(n: usize, window: u32) -> Cost {
        Cost::round(true, 8 * n as u64, 16 * wire::relu_one_round_words(n, window) as u64)
    }

    /// max(x, 0) of each tensor in one round (`fss::relu_one_round`): the opening of x + r, then
    /// each chunk's ring-payload DCF gives the shares of the product directly.
    pub(super) fn fss_relu_one_round_rings(&mut self, xs: &[&RingTensor], window: u32) -> Result<Vec<RingTensor>> {
        self.fss_one_round(xs, window, |(relu, _)| relu)
    }

    /// [x < 0] of each tensor as ring shares (0/1 at scale 1) from the one-round ReLU's keys: the
    /// gate's sign share d = [x ≥ 0], turned into 1 − d. One round, no B2A.
    pub(super) fn fss_ltz_one_round_rings(&mut self, xs: &[&RingTensor], window: u32) -> Result<Vec<RingTensor>> {
        let first = self.id == 0;
        self.fss_one_round(xs, window, |(_, sign)| {
            sign.into_iter()
                .map(|d| if first { 1u64.wrapping_sub(d) } else { d.wrapping_neg() })
                .collect()
        })
    }

    /// The one-round gate on every tensor; `pick` keeps what the caller needs of each chunk's
    /// (ReLU shares, sign shares).
    fn fss_one_round(
        &mut self,
        xs: &[&RingTensor],
        window: u32,
        pick: impl Fn((Vec<u64>, Vec<u64>)) -> Vec<u64>,
    ) -> Result<Vec<RingTensor>> {
        let reqs: Vec<Request> = xs
            .iter()
            .map(|x| Request::ReluOneRound { n: x.len(), window })
            .collect();
        let (xhat, masks) = self.fss_open_masked(xs, &reqs)?;
        let mut out = Vec::with_capacity(xs.len());
        let mut at = 0;
        for (x, r) in xs.iter().zip(&masks) {
            let mut flat = Vec::with_capacity(x.len());
            for (start, len) in chunks(x.len()) {
                let words = self.fss_key_words(wire::relu_one_round_words(len, window))?;
                let mut w = &words[..];
                let key = wire::get_dcf(&mut w, self.id as u8, len, window - 1).and_then(|dcf| {
                    Some(ReluOneRoundKeys {
                        window,
                        dcf,
                        r: r.data()[start..start + len].to_vec(),
                        c: wire::get_words(&mut w, len)?,
                        c_r: wire::get_words(&mut w, len)?,
                    })
                });
                let key = key.ok_or_else(|| self.bad_key("relu"))?;
                flat.extend(pick(relu_one_round::finish(&key, &xhat[at + start..at + start + len])));
            }
            at += x.len();
            out.push(RingTensor::from_vec(x.shape(), flat)?);
        }
        Ok(out)
    }

    /// Cost of a fused ReLU(x / 2^f) of n elements with window k: a ReLU's rounds and bytes.
    pub fn fss_trunc_relu_cost(n: usize, window: u32) -> Cost {
        Cost {
            offline_bytes: 16 * wire::trunc_relu_words(n, window) as u64,
            ..Self::fss_relu_cost(n, window)
        }
    }

    /// ReLU(x / 2^bits) of each tensor in the two rounds of a ReLU (`fss::trunc_relu`): party 0
    /// adds the public offset 2^62 before the opening, which then serves the truncation and the
    /// sign alike. Right for |x| < 2^62 (and, for the sign, |x| < 2^(k−1)).
    pub(super) fn fss_trunc_relu_rings(
        &mut self,
        xs: &[RingTensor],
        window: u32,
        bits: u32,
    ) -> Result<Vec<RingTensor>> {
        if bits == 0 || bits >= 62 {
            return Err(Error::invalid("trunc_relu", format!("cannot shift by {bits} bits")));
        }
        let reqs: Vec<Request> = xs
            .iter()
            .map(|x| Request::TruncRelu {
                n: x.len(),
                window,
                bits,
            })
            .collect();
        let offset: Vec<RingTensor>;
        let inputs: Vec<&RingTensor> = if self.id == 0 {
            offset = xs
                .iter()
                .map(|x| x.map(|v| v.wrapping_add(trunc_relu::OFFSET)))
                .collect();
            offset.iter().collect()
        } else {
            xs.iter().collect()
        };
        let (xhat, _) = self.fss_open_masked(&inputs, &reqs)?;
        let mut keys = Vec::new();
        let mut signs = Vec::new();
        let mut at = 0;
        for x in xs {
            for (start, len) in chunks(x.len()) {
                let words = self.fss_key_words(wire::trunc_relu_words(len, window))?;
                let mut w = &words[..];
                let key = wire::get_drelu(&mut w, self.id as u8, len, window).and_then(|drelu| {
                    let mut part = || wire::get_words(&mut w, len);
                    Some(TruncReluKeys {
                        drelu,
                        rd: part()?,
                        rl_f: part()?,
                        rh: part()?,
                        rd_rl_f: part()?,
                        rd_rh: part()?,
                    })
                });
                let key = key.ok_or_else(|| self.bad_key("trunc_relu"))?;
                signs.extend(trunc_relu::masked_sign(&key, &xhat[at + start..at + start + len]));
                keys.push((at + start, key));
            }
            at += x.len();
        }
        let party = self.id as u8;
        self.fss_open_and_finish(xs.iter().map(|x| x.shape()), &xhat, signs, &keys, |key, x, d| {
            trunc_relu::finish(key, party, bits, x, d)
        })
    }

    /// The second round of a select gate (ReLU, fused ReLU): opens the masked sign bits `signs`,
    /// then finishes each key chunk (`keys`: its start in x̂ and key) with `finish(key, x̂, d̂)`
    /// and cuts the results into tensors of `shapes`. Chunks hold whole words of bits (KEY_CHUNK
    /// is a multiple of 64), so a chunk's opened bits start at word (its start) / 64.
    fn fss_open_and_finish<'s, K: ChunkKey>(
        &mut self,
        shapes: impl Iterator<Item = &'s [usize]>,
        xhat: &[u64],
        signs: Vec<u64>,
        keys: &[(usize, K)],
        finish: impl Fn(&K, &[u64], &[u64]) -> Vec<u64>,
    ) -> Result<Vec<RingTensor>> {
        let dhat = self.fss_open_bits(signs)?;
        let mut flat = Vec::with_capacity(xhat.len());
        let mut word = 0;
        for (start, key) in keys {
            let len = key.elements();
            let words = len.div_ceil(64);
            flat.extend(finish(key, &xhat[*start..start + len], &dhat[word..word + words]));
            word += words;
        }
        let mut out = Vec::new();
        let mut at = 0;
        for shape in shapes {
            let n = crate::ring::numel(shape);
            out.push(RingTensor::from_vec(shape, flat[at..at + n].to_vec())?);
            at += n;
        }
        Ok(out)
    }

    /// Opens XOR-shared packed words (one round).
    fn fss_open_bits(&mut self, words: Vec<u64>) -> Result<Vec<u64>> {
        self.open_words(words, true)
    }
}

/// A chunk's keys of a select gate: how many elements they cover.
trait ChunkKey {
    fn elements(&self) -> usize;
}

impl ChunkKey for ReluKeys {
    fn elements(&self) -> usize {
        self.rd.len()
    }
}

impl ChunkKey for TruncReluKeys {
    fn elements(&self) -> usize {
        self.rd.len()
    }
}
