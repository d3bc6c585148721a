//! Distributed point functions (Boyle–Gilboa–Ishai) on an m-bit domain, generated and evaluated
//! for a whole batch at once, level by level (structure of arrays: all elements' nodes of one tree
//! level are hashed with one AES call), and the 1-bit comparison `[x < α]` read off the same
//! evaluation path.
//!
//! # The tree
//! Each node is a 128-bit block whose bit 0 is the node's control bit t and whose other bits are
//! its seed. A party's key is its root block (t = party id) plus correction words shared by both
//! keys: per level a block (seed correction, with the left control correction in bit 0) and the
//! right control correction bit, and one leaf correction block. The last ν = min(7, m) domain
//! bits are not walked: the leaf block holds 2^ν one-bit outputs ("early termination").
//!
//! Walking x from the most significant bit, both parties' nodes stay equal (same seed, same t)
//! once the path leaves α's, and differ with t_0 ⊕ t_1 = 1 while on it. So at the leaf,
//! y_0 ⊕ y_1 is the one-hot block e_{α mod 2^ν} on α's path and zero elsewhere: XOR shares of
//! `[x = α]`.
//!
//! # Comparison from the path
//! With e_i = t_0(u_i) ⊕ t_1(u_i) on the path u_0..u_L of x (e_0 = 1), e_{i−1} ⊕ e_i is 1 exactly
//! at the level where x's path leaves α's; x < α iff x's bit there is 0. Below the tree, x < α
//! iff a leaf slot above x's is α's. Hence
//!   [x < α] = ⊕_i (1 ⊕ x_i)(e_{i−1} ⊕ e_i) ⊕ ⊕_{j > x mod 2^ν} (y_0 ⊕ y_1)[j],
//! linear in the parties' own t bits and leaf blocks with public coefficients: each party outputs
//! the same formula over its own values and the XOR of the two outputs is the comparison.
//!
//! # Cost (per element, per party)
//! Evaluation: L + 1 AES blocks (L = m − ν levels, one child per level, and the leaf).
//! Generation: 4L + 2 blocks. Key: [`key_bits`] = 128 (root) + 129·L + 128 (leaf) bits.

use super::prg::{TWEAK_LEAF, TWEAK_LEFT, TWEAK_RIGHT, hash_many};
use rayon::prelude::*;

/// Most domain bits resolved in the leaf block (2^7 = 128 one-bit slots).
pub const MAX_LEAF_BITS: u32 = 7;

/// Domain bits resolved in the leaf for an m-bit domain.
pub fn leaf_bits(m: u32) -> u32 {
    m.min(MAX_LEAF_BITS)
}

/// Tree levels walked for an m-bit domain.
pub fn levels(m: u32) -> u32 {
    m - leaf_bits(m)
}

/// Key size of one element for one party, in bits.
pub fn key_bits(m: u32) -> u64 {
    128 + 129 * levels(m) as u64 + 128
}

/// One party's keys for a batch of DPFs on an m-bit domain (structure of arrays).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpfKeys {
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
    /// Leaf corrections, one per element.
    pub leaves: Vec<u128>,
}

impl DpfKeys {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    fn words(&self) -> usize {
        self.len().div_ceil(64)
    }
}

fn bit(x: u64, i: u32) -> u128 {
    ((x >> i) & 1) as u128
}

/// Random 128-bit blocks from the caller's randomness source (u64 words).
fn random_blocks(n: usize, rand: &mut dyn FnMut(&mut [u64])) -> Vec<u128> {
    let mut words = vec![0u64; 2 * n];
    rand(&mut words);
    words
        .chunks_exact(2)
        .map(|w| (w[0] as u128) | ((w[1] as u128) << 64))
        .collect()
}

/// Elements per parallel task of generation and evaluation: a task walks every level for its
/// elements, so their nodes stay in cache and the tasks never wait for each other; a multiple of
/// 64, so a task owns whole words of packed bits.
const BLOCK: usize = 2048;

/// The dealer's side: keys of `[x = α_e]` for every α in `alphas` (only the low `m` bits count).
/// `rand` fills a slice with uniform words (the dealer's PRG): it draws the roots, in order; the
/// rest follows from them, computed block by block on rayon's threads.
pub fn keygen(alphas: &[u64], m: u32, rand: &mut dyn FnMut(&mut [u64])) -> (DpfKeys, DpfKeys) {
    assert!((1..=64).contains(&m), "DPF domain of {m} bits");
    let n = alphas.len();
    let lv = levels(m) as usize;
    let words = n.div_ceil(64);
    // Roots of both parties (t in bit 0).
    let roots0: Vec<u128> = random_blocks(n, rand).into_iter().map(|b| b & !1).collect();
    let roots1: Vec<u128> = random_blocks(n, rand).into_iter().map(|b| b | 1).collect();
    let mut cw_seed = vec![0u128; lv * n];
    let mut cw_right = vec![0u64; lv * words];
    let mut leaves = vec![0u128; n];
    // Each block's piece of every level's row of corrections.
    let blocks = n.div_ceil(BLOCK);
    let mut seed_rows: Vec<Vec<&mut [u128]>> = (0..blocks).map(|_| Vec::with_capacity(lv)).collect();
    let mut right_rows: Vec<Vec<&mut [u64]>> = (0..blocks).map(|_| Vec::with_capacity(lv)).collect();
    if n > 0 {
        for row in cw_seed.chunks_mut(n) {
            for (b, piece) in row.chunks_mut(BLOCK).enumerate() {
                seed_rows[b].push(piece);
            }
        }
        for row in cw_right.chunks_mut(words) {
            for (b, piece) in row.chunks_mut(BLOCK / 64).enumerate() {
                right_rows[b].push(piece);
            }
        }
    }
    seed_rows
        .into_par_iter()
        .zip(right_rows)
        .zip(leaves.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, ((seeds, rights), leaves))| {
            let at = b * BLOCK..b * BLOCK + leaves.len();
            let roots = (&roots0[at.clone()], &roots1[at.clone()]);
            keygen_block(&alphas[at], m, roots, seeds, rights, leaves);
        });
    let k0 = DpfKeys {
        party: 0,
        domain_bits: m,
        roots: roots0,
        cw_seed: cw_seed.clone(),
        cw_right: cw_right.clone(),
        leaves: leaves.clone(),
    };
    // The corrections are common to both keys: the second takes them without a copy.
    let k1 = DpfKeys {
        party: 1,
        domain_bits: m,
        roots: roots1,
        cw_seed,
        cw_right,
        leaves,
    };
    (k0, k1)
}

/// [`keygen`] for one block of elements: walks α's path from both roots, writing each level's
/// corrections into its piece of that level's row and the leaf corrections into `leaves`.
fn keygen_block(
    alphas: &[u64],
    m: u32,
    (roots0, roots1): (&[u128], &[u128]),
    mut seeds: Vec<&mut [u128]>,
    mut rights: Vec<&mut [u64]>,
    leaves: &mut [u128],
) {
    let n = alphas.len();
    let (mut s0, mut s1) = (roots0.to_vec(), roots1.to_vec());
    let (mut l0, mut r0, mut l1, mut r1) = (vec![0u128; n], vec![0u128; n], vec![0u128; n], vec![0u128; n]);
    for (level, (cw_seed, cw_right)) in seeds.iter_mut().zip(rights.iter_mut()).enumerate() {
        hash_many(&s0, |_| TWEAK_LEFT, &mut l0);
        hash_many(&s0, |_| TWEAK_RIGHT, &mut r0);
        hash_many(&s1, |_| TWEAK_LEFT, &mut l1);
        hash_many(&s1, |_| TWEAK_RIGHT, &mut r1);
        let pos = m - 1 - level as u32;
        for e in 0..n {
            let a = bit(alphas[e], pos);
            // The child off α's path ("lose") must become equal for both parties.
            let (lose0, lose1) = if a == 1 { (l0[e], l1[e]) } else { (r0[e], r1[e]) };
            let s_cw = (lose0 ^ lose1) & !1;
            let t_left = (l0[e] ^ l1[e]) & 1 ^ a ^ 1;
            let t_right = (r0[e] ^ r1[e]) & 1 ^ a;
            cw_seed[e] = s_cw | t_left;
            cw_right[e / 64] |= (t_right as u64) << (e % 64);
            let t_keep = if a == 1 { t_right } else { t_left };
            let correction = s_cw | t_keep;
            let (keep0, keep1) = if a == 1 { (r0[e], r1[e]) } else { (l0[e], l1[e]) };
            s0[e] = keep0 ^ if s0[e] & 1 == 1 { correction } else { 0 };
            s1[e] = keep1 ^ if s1[e] & 1 == 1 { correction } else { 0 };
        }
    }
    hash_many(&s0, |_| TWEAK_LEAF, &mut l0);
    hash_many(&s1, |_| TWEAK_LEAF, &mut l1);
    let low_mask = low_bits_mask(leaf_bits(m));
    for e in 0..n {
        leaves[e] = l0[e] ^ l1[e] ^ (1u128 << (alphas[e] & low_mask));
    }
}

fn low_bits_mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// What one party's walk of x_e produces, per element: its leaf block and the XOR over the levels
/// where x goes left of its control-bit changes (the tree part of the comparison).
struct Walk {
    leaves: Vec<u128>,
    /// Packed bits: ⊕_i (1 ⊕ x_i)(t(u_{i−1}) ⊕ t(u_i)).
    lt_tree: Vec<u64>,
}

fn walk(key: &DpfKeys, xs: &[u64]) -> Walk {
    let n = key.len();
    assert_eq!(xs.len(), n, "DPF evaluation: {} inputs for {n} keys", xs.len());
    let mut leaves = vec![0u128; n];
    let mut lt_tree = vec![0u64; n.div_ceil(64)];
    leaves
        .par_chunks_mut(BLOCK)
        .zip(lt_tree.par_chunks_mut(BLOCK / 64))
        .enumerate()
        .for_each(|(b, (leaves, lt))| walk_block(key, xs, b * BLOCK, leaves, lt));
    Walk { leaves, lt_tree }
}

/// [`walk`] for the elements from `start` on, as many as `leaves` holds (`lt`: their packed bits).
fn walk_block(key: &DpfKeys, xs: &[u64], start: usize, leaves: &mut [u128], lt: &mut [u64]) {
    let (n, len, words) = (key.len(), leaves.len(), key.words());
    let m = key.domain_bits;
    let xs = &xs[start..start + len];
    let mut nodes = key.roots[start..start + len].to_vec();
    let mut children = vec![0u128; len];
    for level in 0..levels(m) as usize {
        let pos = m - 1 - level as u32;
        // Branch-free: x's bits are random, a branch on them mispredicts half the time.
        let step = TWEAK_RIGHT ^ TWEAK_LEFT;
        hash_many(
            &nodes,
            |e| TWEAK_LEFT ^ (step & bit(xs[e], pos).wrapping_neg()),
            &mut children,
        );
        let cw = &key.cw_seed[level * n + start..level * n + start + len];
        let right = &key.cw_right[level * words + start / 64..];
        for e in 0..len {
            // Branch-free: the parent's control bit selects the correction, x's bit its t.
            let go_right = bit(xs[e], pos);
            let t_parent = nodes[e] & 1;
            let t_cw = (((right[e / 64] >> (e % 64)) & 1) as u128 & go_right) | (cw[e] & 1 & (go_right ^ 1));
            let child = children[e] ^ (((cw[e] & !1) | t_cw) & t_parent.wrapping_neg());
            lt[e / 64] ^= (((t_parent ^ (child & 1)) & (go_right ^ 1)) as u64) << (e % 64);
            nodes[e] = child;
        }
    }
    hash_many(&nodes, |_| TWEAK_LEAF, leaves);
    for (e, leaf) in leaves.iter_mut().enumerate() {
        *leaf ^= key.leaves[start + e] & (nodes[e] & 1).wrapping_neg();
    }
}

/// The leaf slot of x (its low ν bits).
fn slot(x: u64, m: u32) -> u32 {
    (x & low_bits_mask(leaf_bits(m))) as u32
}

/// This party's XOR shares (packed, bit e of word e/64) of `[x_e = α_e]` (low m bits of x_e).
pub fn eval_eq(key: &DpfKeys, xs: &[u64]) -> Vec<u64> {
    let w = walk(key, xs);
    let mut out = vec![0u64; key.len().div_ceil(64)];
    for (e, y) in w.leaves.iter().enumerate() {
        out[e / 64] |= (((y >> slot(xs[e], key.domain_bits)) & 1) as u64) << (e % 64);
    }
    out
}

/// This party's XOR shares (packed) of `[x_e < α_e]`, comparing the low m bits as unsigned
/// integers.
pub fn eval_lt(key: &DpfKeys, xs: &[u64]) -> Vec<u64> {
    let w = walk(key, xs);
    let m = key.domain_bits;
    let slots = 1u32 << leaf_bits(m);
    let mut out = w.lt_tree;
    for (e, y) in w.leaves.iter().enumerate() {
        let j = slot(xs[e], m);
        // Leaf slots strictly above x's slot, within the 2^ν slots in use.
        let above = if j + 1 >= 128 { 0 } else { u128::MAX << (j + 1) };
        let in_use = if slots >= 128 { u128::MAX } else { (1u128 << slots) - 1 };
        let parity = ((y & above & in_use).count_ones() & 1) as u64;
        out[e / 64] ^= parity << (e % 64);
    }
    out
}
