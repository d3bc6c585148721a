//! Distributed comparison functions with a ring payload (Boyle–Chandran–Gilboa–Gupta–Ishai–
//! Kohli–Seth 2021): keys for `f(x) = β · [x < α]` whose two evaluations are ADDITIVE shares in
//! Z_2^64 — here of a two-word payload β = (β₀, β₁) — so a gate built on them needs no second
//! round to turn XOR-shared bits into ring values (the 1-round ReLU of `super::relu_one`).
//!
//! # The tree
//! The same walk as the DPF's (`super::dpf`): 128-bit nodes with the control bit t in bit 0,
//! children `H(s ⊕ C_left)` / `H(s ⊕ C_right)`, per level a seed correction (left control
//! correction in its bit 0) and a right control correction bit. Each child also has a value block
//! `H(s ⊕ C_value_left)` / `H(s ⊕ C_value_right)`, read as two ring words, and each level a value
//! correction V_cw (two words). A party walking x adds, per level, (−1)^b · (value of the child it
//! takes + t · V_cw), and at the end (−1)^b · (H(s ⊕ C_leaf) + t · CW_last). The dealer picks V_cw
//! so that the two parties' running sums differ by exactly what the paths require: while x follows
//! α they track the dealer's V_α; where x leaves α's path to the LEFT (x's bit 0, α's bit 1, so
//! x < α) the correction adds β; off the path both parties hold equal nodes and their terms cancel.
//! No early termination: each of the m levels is walked.
//!
//! # Cost (per element, per party)
//! Evaluation: 2m + 1 AES blocks (the child's seed and value per level, and the leaf).
//! Generation: 8m + 2 blocks for both keys. Key: [`key_bits`] = 128 (root) + 257·m (seed and
//! value corrections, right control bit) + 128 (last correction) bits.

use super::prg::{TWEAK_LEAF, TWEAK_LEFT, TWEAK_RIGHT, TWEAK_VALUE_LEFT, TWEAK_VALUE_RIGHT, hash_many};
use rayon::prelude::*;

/// A pair of ring words packed in a block (low word = lane 0): the payload and the sums.
pub type Pair = u128;

/// Packs two ring words.
pub fn pair(lane0: u64, lane1: u64) -> Pair {
    lane0 as u128 | ((lane1 as u128) << 64)
}

/// The two ring words of a pair.
pub fn lanes(p: Pair) -> (u64, u64) {
    (p as u64, (p >> 64) as u64)
}

fn add(a: Pair, b: Pair) -> Pair {
    let ((a0, a1), (b0, b1)) = (lanes(a), lanes(b));
    pair(a0.wrapping_add(b0), a1.wrapping_add(b1))
}

fn neg(a: Pair) -> Pair {
    let (a0, a1) = lanes(a);
    pair(a0.wrapping_neg(), a1.wrapping_neg())
}

fn sub(a: Pair, b: Pair) -> Pair {
    add(a, neg(b))
}

/// (−1)^t · a.
fn signed(t: u128, a: Pair) -> Pair {
    if t & 1 == 1 { neg(a) } else { a }
}

/// Key size of one element for one party, in bits.
pub fn key_bits(m: u32) -> u64 {
    128 + 257 * m as u64 + 128
}

/// One party's keys for a batch of DCFs on an m-bit domain (structure of arrays).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcfKeys {
    /// 0 or 1.
    pub party: u8,
    /// Domain bits m (1..=64).
    pub domain_bits: u32,
    /// Root blocks, one per element (control bit = party).
    pub roots: Vec<u128>,
    /// Seed corrections, level-major (`[level * len + e]`), the left control correction in bit 0.
    pub cw_seed: Vec<u128>,
    /// Right control corrections, level-major, packed 64 per word (`[level * words + e / 64]`).
    pub cw_right: Vec<u64>,
    /// Value corrections, level-major.
    pub cw_value: Vec<Pair>,
    /// The last correction, one per element.
    pub cw_last: Vec<Pair>,
}

impl DcfKeys {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

fn bit(x: u64, i: u32) -> u128 {
    ((x >> i) & 1) as u128
}

/// Elements per parallel task (a multiple of 64: a task owns whole words of packed bits).
const BLOCK: usize = 2048;

/// Rows of a level-major table cut into the pieces each block of elements owns.
fn block_rows<T>(table: &mut [T], row: usize, piece: usize, blocks: usize) -> Vec<Vec<&mut [T]>> {
    let mut rows: Vec<Vec<&mut [T]>> = (0..blocks).map(|_| Vec::new()).collect();
    if row > 0 {
        for r in table.chunks_mut(row) {
            for (b, p) in r.chunks_mut(piece).enumerate() {
                rows[b].push(p);
            }
        }
    }
    rows
}

/// The dealer's side: keys of `β_e · [x < α_e]` (low m bits of x and α compared as unsigned
/// integers) for every element. `rand` draws both parties' roots, in order; the rest follows.
pub fn keygen(alphas: &[u64], betas: &[Pair], m: u32, rand: &mut dyn FnMut(&mut [u64])) -> (DcfKeys, DcfKeys) {
    assert!((1..=64).contains(&m), "DCF domain of {m} bits");
    assert_eq!(alphas.len(), betas.len(), "DCF keygen: one payload per point");
    let n = alphas.len();
    let lv = m as usize;
    let words = n.div_ceil(64);
    let mut roots = vec![0u64; 4 * n];
    rand(&mut roots);
    let root = |w: &[u64]| w[0] as u128 | ((w[1] as u128) << 64);
    let roots0: Vec<u128> = roots[..2 * n].chunks_exact(2).map(|w| root(w) & !1).collect();
    let roots1: Vec<u128> = roots[2 * n..].chunks_exact(2).map(|w| root(w) | 1).collect();
    let mut cw_seed = vec![0u128; lv * n];
    let mut cw_right = vec![0u64; lv * words];
    let mut cw_value = vec![0u128; lv * n];
    let mut cw_last = vec![0u128; n];
    let blocks = n.div_ceil(BLOCK);
    let seeds = block_rows(&mut cw_seed, n, BLOCK, blocks);
    let rights = block_rows(&mut cw_right, words, BLOCK / 64, blocks);
    let values = block_rows(&mut cw_value, n, BLOCK, blocks);
    seeds
        .into_par_iter()
        .zip(rights)
        .zip(values)
        .zip(cw_last.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, (((seeds, rights), values), last))| {
            let at = b * BLOCK..b * BLOCK + last.len();
            let block = KeygenBlock {
                alphas: &alphas[at.clone()],
                betas: &betas[at.clone()],
                m,
                roots: (&roots0[at.clone()], &roots1[at]),
            };
            block.run(seeds, rights, values, last);
        });
    let k0 = DcfKeys {
        party: 0,
        domain_bits: m,
        roots: roots0,
        cw_seed: cw_seed.clone(),
        cw_right: cw_right.clone(),
        cw_value: cw_value.clone(),
        cw_last: cw_last.clone(),
    };
    let k1 = DcfKeys {
        party: 1,
        domain_bits: m,
        roots: roots1,
        cw_seed,
        cw_right,
        cw_value,
        cw_last,
    };
    (k0, k1)
}

/// One block of elements' key generation.
struct KeygenBlock<'a> {
    alphas: &'a [u64],
    betas: &'a [Pair],
    m: u32,
    roots: (&'a [u128], &'a [u128]),
}

impl KeygenBlock<'_> {
    /// Walks α's path from both roots, writing each level's corrections into that level's piece.
    fn run(
        &self,
        mut seeds: Vec<&mut [u128]>,
        mut rights: Vec<&mut [u64]>,
        mut values: Vec<&mut [Pair]>,
        last: &mut [Pair],
    ) {
        let n = self.alphas.len();
        let (mut s0, mut s1) = (self.roots.0.to_vec(), self.roots.1.to_vec());
        // The dealer's running difference V_α of the parties' sums along α's path.
        let mut v_alpha = vec![0u128; n];
        let hashes = |s: &[u128], tweak: u128| {
            let mut out = vec![0u128; s.len()];
            hash_many(s, |_| tweak, &mut out);
            out
        };
        for level in 0..self.m as usize {
            let (l0, r0, vl0, vr0) = (
                hashes(&s0, TWEAK_LEFT),
                hashes(&s0, TWEAK_RIGHT),
                hashes(&s0, TWEAK_VALUE_LEFT),
                hashes(&s0, TWEAK_VALUE_RIGHT),
            );
            let (l1, r1, vl1, vr1) = (
                hashes(&s1, TWEAK_LEFT),
                hashes(&s1, TWEAK_RIGHT),
                hashes(&s1, TWEAK_VALUE_LEFT),
                hashes(&s1, TWEAK_VALUE_RIGHT),
            );
            let pos = self.m - 1 - level as u32;
            for e in 0..n {
                let a = bit(self.alphas[e], pos);
                // "Lose" is the child off α's path: the parties' nodes there must become equal.
                let (lose, keep) = if a == 1 {
                    ((l0[e], l1[e]), (r0[e], r1[e]))
                } else {
                    ((r0[e], r1[e]), (l0[e], l1[e]))
                };
                let (vlose, vkeep) = if a == 1 {
                    ((vl0[e], vl1[e]), (vr0[e], vr1[e]))
                } else {
                    ((vr0[e], vr1[e]), (vl0[e], vl1[e]))
                };
                let t1 = s1[e] & 1;
                let mut v_cw = signed(t1, sub(sub(vlose.1, vlose.0), v_alpha[e]));
                if a == 1 {
                    // Leaving α's path to the left means x < α: the payload lands there.
                    v_cw = add(v_cw, signed(t1, self.betas[e]));
                }
                v_alpha[e] = add(add(sub(v_alpha[e], vkeep.1), vkeep.0), signed(t1, v_cw));
                let s_cw = (lose.0 ^ lose.1) & !1;
                let t_left = (l0[e] ^ l1[e]) & 1 ^ a ^ 1;
                let t_right = (r0[e] ^ r1[e]) & 1 ^ a;
                seeds[level][e] = s_cw | t_left;
                rights[level][e / 64] |= (t_right as u64) << (e % 64);
                values[level][e] = v_cw;
                let correction = s_cw | if a == 1 { t_right } else { t_left };
                s0[e] = keep.0 ^ (correction & (s0[e] & 1).wrapping_neg());
                s1[e] = keep.1 ^ (correction & (s1[e] & 1).wrapping_neg());
            }
        }
        let (f0, f1) = (hashes(&s0, TWEAK_LEAF), hashes(&s1, TWEAK_LEAF));
        for e in 0..n {
            last[e] = signed(s1[e] & 1, sub(sub(f1[e], f0[e]), v_alpha[e]));
        }
    }
}

/// This party's additive shares (two ring words per element) of `β_e · [x_e < α_e]`.
pub fn eval(key: &DcfKeys, xs: &[u64]) -> Vec<Pair> {
    let n = key.len();
    assert_eq!(xs.len(), n, "DCF evaluation: {} inputs for {n} keys", xs.len());
    let mut out = vec![0u128; n];
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, out)| eval_block(key, xs, b * BLOCK, out));
    out
}

/// [`eval`] for the elements from `start` on, as many as `out` holds.
fn eval_block(key: &DcfKeys, xs: &[u64], start: usize, out: &mut [Pair]) {
    let (n, len, words) = (key.len(), out.len(), key.len().div_ceil(64));
    let m = key.domain_bits;
    let xs = &xs[start..start + len];
    let mut nodes = key.roots[start..start + len].to_vec();
    let mut children = vec![0u128; len];
    let mut values = vec![0u128; len];
    let mut sums = vec![0u128; len];
    for level in 0..m as usize {
        let pos = m - 1 - level as u32;
        let go = |e: usize| bit(xs[e], pos).wrapping_neg();
        hash_many(
            &nodes,
            |e| TWEAK_LEFT ^ ((TWEAK_RIGHT ^ TWEAK_LEFT) & go(e)),
            &mut children,
        );
        hash_many(
            &nodes,
            |e| TWEAK_VALUE_LEFT ^ ((TWEAK_VALUE_RIGHT ^ TWEAK_VALUE_LEFT) & go(e)),
            &mut values,
        );
        let row = level * n + start;
        let cw = &key.cw_seed[row..row + len];
        let cw_value = &key.cw_value[row..row + len];
        let right = &key.cw_right[level * words + start / 64..];
        for e in 0..len {
            let go_right = bit(xs[e], pos);
            let t_mask = (nodes[e] & 1).wrapping_neg();
            sums[e] = add(sums[e], add(values[e], cw_value[e] & t_mask));
            let t_cw = (((right[e / 64] >> (e % 64)) & 1) as u128 & go_right) | (cw[e] & 1 & (go_right ^ 1));
            nodes[e] = children[e] ^ (((cw[e] & !1) | t_cw) & t_mask);
        }
    }
    hash_many(&nodes, |_| TWEAK_LEAF, &mut values);
    for e in 0..len {
        let t_mask = (nodes[e] & 1).wrapping_neg();
        let total = add(sums[e], add(values[e], key.cw_last[start + e] & t_mask));
        out[e] = signed(key.party as u128, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fss::tests::rng;

    fn reconstruct(k0: &DcfKeys, k1: &DcfKeys, xs: &[u64]) -> Vec<Pair> {
        let (y0, y1) = (eval(k0, xs), eval(k1, xs));
        y0.iter().zip(&y1).map(|(a, b)| add(*a, *b)).collect()
    }

    #[test]
    fn every_alpha_and_every_x_up_to_8_bits() {
        let mut rand = rng(7);
        for m in 1..=8u32 {
            let size = 1u64 << m;
            // One key per (α, x) pair, all in one batch (several blocks at m = 8).
            let alphas: Vec<u64> = (0..size * size).map(|i| i / size).collect();
            let xs: Vec<u64> = (0..size * size).map(|i| i % size).collect();
            let mut words = vec![0u64; 2 * alphas.len()];
            rand(&mut words);
            let betas: Vec<Pair> = words.chunks_exact(2).map(|w| pair(w[0], w[1])).collect();
            let (k0, k1) = keygen(&alphas, &betas, m, &mut rand);
            for (e, y) in reconstruct(&k0, &k1, &xs).into_iter().enumerate() {
                let want = if xs[e] < alphas[e] { betas[e] } else { 0 };
                assert_eq!(y, want, "m={m} α={} x={}", alphas[e], xs[e]);
            }
        }
    }

    #[test]
    fn sixty_four_bits_at_random_points_and_the_edges() {
        let mut rand = rng(11);
        let n = 5_000;
        let mut alphas = vec![0u64; n];
        let mut xs = vec![0u64; n];
        rand(&mut alphas);
        rand(&mut xs);
        // Near misses and the ends of the domain.
        for e in 0..n / 4 {
            xs[e] = alphas[e].wrapping_add(e as u64 % 3).wrapping_sub(1);
        }
        (alphas[n - 1], xs[n - 1]) = (0, 0);
        (alphas[n - 2], xs[n - 2]) = (u64::MAX, u64::MAX - 1);
        (alphas[n - 3], xs[n - 3]) = (u64::MAX, 0);
        let betas: Vec<Pair> = (0..n as u64)
            .map(|i| pair(i + 1, i.wrapping_mul(0x9e37_79b9)))
            .collect();
        let (k0, k1) = keygen(&alphas, &betas, 64, &mut rand);
        for (e, y) in reconstruct(&k0, &k1, &xs).into_iter().enumerate() {
            assert_eq!(y, if xs[e] < alphas[e] { betas[e] } else { 0 }, "e={e}");
        }
        // One party's output alone looks nothing like the payload.
        let y0 = eval(&k0, &xs);
        assert!(y0.iter().zip(&betas).filter(|(y, b)| y == b || **y == 0).count() < 5);
    }
}
