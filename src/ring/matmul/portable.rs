//! Portable kernels in plain Rust (wrapping arithmetic), shaped so the compiler vectorises them.
//!
//! The loop bodies here are `#[inline(always)]` so the SIMD modules can instantiate them inside
//! `#[target_feature]` functions and get the same loops compiled for their instruction set.

use super::Micro;

/// Rows of the portable register tile.
const MR: usize = 4;
/// Columns of the portable register tile.
const NR: usize = 8;

/// The portable kernels.
pub(super) struct Portable;

impl Micro for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    const A_ROT: bool = false;

    unsafe fn tile(kc: usize, a: *const u64, b: *const u64, c: *mut u64, ldc: usize, mr: usize, nr: usize) {
        // SAFETY: the caller guarantees `a` and `b` hold `kc` packed steps.
        let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
        let acc = tile_product(a, b);
        for (i, row) in acc.iter().enumerate().take(mr) {
            // SAFETY: the caller guarantees rows `0..mr`, columns `0..nr` at stride `ldc` are
            // valid and exclusively ours.
            let dst = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), nr) };
            for (d, &x) in dst.iter_mut().zip(row) {
                *d = d.wrapping_add(x);
            }
        }
    }

    unsafe fn simple(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        simple_body(a, b, c, m, k, n);
    }

    unsafe fn dots(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        dots_body(a, bt, c, m, k, n);
    }
}

/// The `MR×NR` register tile of one packed A panel times one packed B panel.
#[inline(always)]
fn tile_product(a: &[u64], b: &[u64]) -> [[u64; NR]; MR] {
    let mut acc = [[0u64; NR]; MR];
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let bk: &[u64; NR] = bk.try_into().expect("chunks_exact yields NR values");
        for (row, &x) in acc.iter_mut().zip(ak) {
            for (r, &y) in row.iter_mut().zip(bk) {
                *r = r.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
    acc
}

/// `c[m×n] += a[m×k]·b[k×n]` by an `i-k-j` loop: the inner loop is a vectorisable axpy on rows.
#[inline(always)]
pub(super) fn simple_body(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    if n == 0 || k == 0 {
        return;
    }
    for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
        for (&x, brow) in arow.iter().zip(b.chunks_exact(n)) {
            for (d, &y) in crow.iter_mut().zip(brow) {
                *d = d.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
}

/// `c[m×n] += a[m×k]·bt[n×k]ᵀ`: one wrapping dot product per output element.
#[inline(always)]
pub(super) fn dots_body(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    if n == 0 || k == 0 {
        return;
    }
    for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
        for (d, brow) in crow.iter_mut().zip(bt.chunks_exact(k)) {
            *d = d.wrapping_add(dot(arow, brow));
        }
    }
}

/// Wrapping dot product with eight independent lanes (so it vectorises).
#[inline(always)]
fn dot(x: &[u64], y: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for ((s, &p), &q) in acc.iter_mut().zip(xs).zip(ys) {
            *s = s.wrapping_add(p.wrapping_mul(q));
        }
    }
    let mut s = acc.iter().fold(0u64, |s, &v| s.wrapping_add(v));
    for (&p, &q) in xr.iter().zip(yr) {
        s = s.wrapping_add(p.wrapping_mul(q));
    }
    s
}
