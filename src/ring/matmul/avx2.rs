//! AVX2 kernels. AVX2 has no 64-bit `mullo`, so each product is assembled from 32-bit multiplies:
//!
//! `a·b mod 2^64 = a_lo·b_lo + ((a_lo·b_hi + a_hi·b_lo) mod 2^32) << 32`.
//!
//! The tile keeps two accumulators per output vector and defers the recombination to the end:
//! * `lo += vpmuludq(a, b)` — the full 64-bit `a_lo·b_lo` (the multiply reads the low halves);
//! * `cross += vpmulld(rot(a), b)` with 32-bit lane adds — with `rot(a)` = `a` with its halves
//!   swapped (packed alongside `a`), the low 32-bit lane collects `a_hi·b_lo` and the high lane
//!   `a_lo·b_hi`, each modulo 2^32, which is all the cross term needs.
//!
//! At the end, `C += lo + ((cross + (cross >> 32)) << 32)`: two multiplies per four products
//! instead of the three `vpmuludq` plus shifts of the textbook emulation.

use super::{Micro, portable};
use std::arch::x86_64::*;

/// Rows of the register tile.
const MR: usize = 3;
/// Columns of the register tile (two ymm vectors).
const NR: usize = 8;
/// Values per `k` step of a packed A panel: `MR` plain values, then `MR` rotated ones.
const A_STEP: usize = 2 * MR;

/// The AVX2 kernels (only used after `avx2` was detected).
pub(super) struct Avx2;

impl Micro for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    const A_ROT: bool = true;

    unsafe fn tile(kc: usize, a: *const u64, b: *const u64, ldb: usize, c: *mut u64, ldc: usize, mr: usize, nr: usize) {
        // SAFETY: the caller guarantees AVX2 and the pointer contract of `Micro::tile`, which is
        // exactly what `tile_rows::<R>` needs with `R = mr`.
        unsafe {
            match mr {
                3 => tile_rows::<3>(kc, a, b, ldb, c, ldc, nr),
                2 => tile_rows::<2>(kc, a, b, ldb, c, ldc, nr),
                _ => tile_rows::<1>(kc, a, b, ldb, c, ldc, nr),
            }
        }
    }

    unsafe fn simple(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { simple_avx2(a, b, c, m, k, n) }
    }

    unsafe fn dots(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { dots_avx2(a, bt, c, m, k, n) }
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
        // SAFETY: the caller guarantees AVX2.
        unsafe { stream_avx2(a, b, c, m, k, n, j0, w, ldc) }
    }
}

/// The portable register-blocked loop (2 rows × 8 columns) compiled with AVX2.
#[target_feature(enable = "avx2")]
unsafe fn simple_avx2(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    portable::simple_body::<2, 8>(a, b, c, m, k, n);
}

/// The portable row-streaming loop compiled with AVX2.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn stream_avx2(
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
    portable::stream_body(a, b, c, m, k, n, j0, w, ldc);
}

/// The portable dot-product loop compiled with AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    portable::dots_body(a, bt, c, m, k, n);
}

/// `C[R×nr] += A_panel · B_panel` with `R <= MR` live rows (the panel stride stays `A_STEP`).
///
/// # Safety
/// AVX2 is available; `a` holds `kc·A_STEP` readable values and `b` `kc` rows of `NR` readable
/// values `ldb` apart; `c` is a readable and writable `R × nr` block (row stride `ldc`,
/// `1 <= nr <= NR`) that no other thread accesses.
#[target_feature(enable = "avx2")]
unsafe fn tile_rows<const R: usize>(
    kc: usize,
    a: *const u64,
    b: *const u64,
    ldb: usize,
    c: *mut u64,
    ldc: usize,
    nr: usize,
) {
    let zero = _mm256_setzero_si256();
    let mut lo = [[zero; 2]; R];
    let mut cross = [[zero; 2]; R];
    for l in 0..kc {
        // SAFETY: row `l < kc` of the B panel is `NR` = 8 readable values at `b + l·ldb`.
        let bv = unsafe {
            let p = b.add(l * ldb);
            [_mm256_loadu_si256(p.cast()), _mm256_loadu_si256(p.add(4).cast())]
        };
        for i in 0..R {
            // SAFETY: step `l` of the A panel holds `A_STEP` readable values and `i < R <= MR`.
            let (x, xr) = unsafe { (*a.add(l * A_STEP + i), *a.add(l * A_STEP + MR + i)) };
            let (x, xr) = (_mm256_set1_epi64x(x as i64), _mm256_set1_epi64x(xr as i64));
            for v in 0..2 {
                lo[i][v] = _mm256_add_epi64(lo[i][v], _mm256_mul_epu32(x, bv[v]));
                cross[i][v] = _mm256_add_epi32(cross[i][v], _mm256_mullo_epi32(xr, bv[v]));
            }
        }
    }
    for i in 0..R {
        let mut sum = [zero; 2];
        for v in 0..2 {
            let x = cross[i][v];
            let folded = _mm256_slli_epi64::<32>(_mm256_add_epi64(x, _mm256_srli_epi64::<32>(x)));
            sum[v] = _mm256_add_epi64(lo[i][v], folded);
        }
        // SAFETY: row `i < R` of the C block has `nr` valid values at `c + i·ldc`; the vector
        // accesses happen only for a full row of `NR` values.
        unsafe {
            let p = c.add(i * ldc);
            if nr == NR {
                for (v, s) in sum.iter().enumerate() {
                    let q = p.add(4 * v);
                    _mm256_storeu_si256(q.cast(), _mm256_add_epi64(_mm256_loadu_si256(q.cast()), *s));
                }
            } else {
                let mut tmp = [0u64; NR];
                _mm256_storeu_si256(tmp.as_mut_ptr().cast(), sum[0]);
                _mm256_storeu_si256(tmp.as_mut_ptr().add(4).cast(), sum[1]);
                for (j, &t) in tmp.iter().enumerate().take(nr) {
                    *p.add(j) = (*p.add(j)).wrapping_add(t);
                }
            }
        }
    }
}
