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

    unsafe fn tile(kc: usize, a: *const u64, b: *const u64, ldb: usize, c: *mut u64, ldc: usize, mr: usize, nr: usize) {
        if kc == 0 {
            return;
        }
        // SAFETY: the caller guarantees `a` holds `kc` packed steps of `MR` values and `b` holds
        // `kc` rows of `NR` values `ldb` apart, so both spans are readable.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, kc * MR),
                std::slice::from_raw_parts(b, (kc - 1) * ldb + NR),
            )
        };
        let acc = tile_product(a, b, ldb);
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
        simple_body::<2, 4>(a, b, c, m, k, n);
    }

    unsafe fn dots(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        dots_body(a, bt, c, m, k, n);
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn stream(
        a: &[u64],
        b: &[u64],
        c: &mut [u64],
        m: usize,
        k: usize,
        n: usize,
        j0: usize,
        w: usize,
        ldc: usize,
    ) {
        stream_body(a, b, c, m, k, n, j0, w, ldc);
    }
}

/// The `MR×NR` register tile of one packed A panel times a B panel (rows `ldb` apart).
#[inline(always)]
fn tile_product(a: &[u64], b: &[u64], ldb: usize) -> [[u64; NR]; MR] {
    let mut acc = [[0u64; NR]; MR];
    for (l, ak) in a.chunks_exact(MR).enumerate() {
        let bk: &[u64; NR] = b[l * ldb..][..NR].try_into().expect("B rows hold NR values");
        for (row, &x) in acc.iter_mut().zip(ak) {
            for (r, &y) in row.iter_mut().zip(bk) {
                *r = r.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
    acc
}

/// `c[m×n] += a[m×k]·b[k×n]` for small products, without packing: `R` rows of `C` at a time
/// times column strips `W` wide (then 8, 4 and 1 for the leftovers), each strip summed over all
/// of `k` in registers. The strips are fixed-size arrays, so the compiler vectorises them.
#[inline(always)]
pub(super) fn simple_body<const R: usize, const W: usize>(
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    m: usize,
    k: usize,
    n: usize,
) {
    if n == 0 || k == 0 {
        return;
    }
    let mut i0 = 0;
    while i0 + R <= m {
        strip_row::<R, W>(a, b, c, k, n, i0);
        i0 += R;
    }
    while i0 < m {
        strip_row::<1, W>(a, b, c, k, n, i0);
        i0 += 1;
    }
}

/// Rows `i0 .. i0+R` of `C` for all columns, strip by strip.
#[inline(always)]
fn strip_row<const R: usize, const W: usize>(a: &[u64], b: &[u64], c: &mut [u64], k: usize, n: usize, i0: usize) {
    let mut j0 = 0;
    while j0 + W <= n {
        strip::<R, W>(a, b, c, k, n, i0, j0);
        j0 += W;
    }
    if W > 8 && j0 + 8 <= n {
        strip::<R, 8>(a, b, c, k, n, i0, j0);
        j0 += 8;
    }
    if W > 4 && j0 + 4 <= n {
        strip::<R, 4>(a, b, c, k, n, i0, j0);
        j0 += 4;
    }
    while j0 < n {
        strip::<R, 1>(a, b, c, k, n, i0, j0);
        j0 += 1;
    }
}

/// `C[i0..i0+R, j0..j0+W] += A[i0..i0+R, :] · B[:, j0..j0+W]`.
#[inline(always)]
fn strip<const R: usize, const W: usize>(
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    k: usize,
    n: usize,
    i0: usize,
    j0: usize,
) {
    let mut acc = [[0u64; W]; R];
    let rows: [&[u64]; R] = std::array::from_fn(|r| &a[(i0 + r) * k..][..k]);
    for (l, brow) in b.chunks_exact(n).take(k).enumerate() {
        let bs: &[u64; W] = brow[j0..j0 + W].try_into().expect("strip lies inside the row");
        for (acc_r, row) in acc.iter_mut().zip(&rows) {
            let x = row[l];
            for (s, &y) in acc_r.iter_mut().zip(bs) {
                *s = s.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        for (d, &s) in c[(i0 + r) * n + j0..][..W].iter_mut().zip(acc_r) {
            *d = d.wrapping_add(s);
        }
    }
}

/// Columns of `C` updated together by [`stream_body`] (a 4 KiB row segment stays in L1).
const STREAM_CHUNK: usize = 512;

/// `C[i, 0..width] += Σ_l A[i, l] · B[l, j0 .. j0+width]` for the `m` rows of `a` (`m×k`), with
/// `B` row-major `k×n` and rows of `C` `ldc` apart: for each `l`, a row segment of `B` is
/// streamed once and scaled into every row of `C` (an axpy), so `B` is read in order, once.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn stream_body(
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    m: usize,
    k: usize,
    n: usize,
    j0: usize,
    width: usize,
    ldc: usize,
) {
    for cb in (0..width).step_by(STREAM_CHUNK) {
        let w = STREAM_CHUNK.min(width - cb);
        for l in 0..k {
            let brow = &b[l * n + j0 + cb..][..w];
            for i in 0..m {
                let x = a[i * k + l];
                for (d, &y) in c[i * ldc + cb..][..w].iter_mut().zip(brow) {
                    *d = d.wrapping_add(x.wrapping_mul(y));
                }
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

/// Wrapping dot product (a plain reduction, which the compiler vectorises and interleaves).
#[inline(always)]
fn dot(x: &[u64], y: &[u64]) -> u64 {
    x.iter()
        .zip(y)
        .fold(0u64, |s, (&p, &q)| s.wrapping_add(p.wrapping_mul(q)))
}
