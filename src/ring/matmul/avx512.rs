//! AVX-512F/DQ kernels: `vpmullq` gives eight native 64-bit wrapping products per instruction.
//!
//! The register tile is `MR × NR` = 8 rows × 16 columns (two zmm accumulators per row, 16 in
//! all); each `k` step loads two vectors of the B panel and broadcasts eight values of the A panel.

use super::{Micro, portable};
use std::arch::x86_64::*;

/// Rows of the register tile.
const MR: usize = 8;
/// Columns of the register tile (two zmm vectors).
const NR: usize = 16;

/// The AVX-512 kernels (only used after `avx512f` and `avx512dq` were detected).
pub(super) struct Avx512;

impl Micro for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const A_ROT: bool = false;

    unsafe fn tile(kc: usize, a: *const u64, b: *const u64, ldb: usize, c: *mut u64, ldc: usize, mr: usize, nr: usize) {
        // SAFETY: the caller guarantees AVX-512F/DQ and the pointer contract of `Micro::tile`,
        // which is exactly what `tile_rows::<R>` needs with `R = mr`.
        unsafe {
            match mr {
                8 => tile_rows::<8, false>(kc, a, 0, b, ldb, c, ldc, nr),
                7 => tile_rows::<7, false>(kc, a, 0, b, ldb, c, ldc, nr),
                6 => tile_rows::<6, false>(kc, a, 0, b, ldb, c, ldc, nr),
                5 => tile_rows::<5, false>(kc, a, 0, b, ldb, c, ldc, nr),
                4 => tile_rows::<4, false>(kc, a, 0, b, ldb, c, ldc, nr),
                3 => tile_rows::<3, false>(kc, a, 0, b, ldb, c, ldc, nr),
                2 => tile_rows::<2, false>(kc, a, 0, b, ldb, c, ldc, nr),
                _ => tile_rows::<1, false>(kc, a, 0, b, ldb, c, ldc, nr),
            }
        }
    }

    const STRIDED_A: bool = true;

    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_strided(
        kc: usize,
        a: *const u64,
        lda: usize,
        b: *const u64,
        ldb: usize,
        c: *mut u64,
        ldc: usize,
        mr: usize,
        nr: usize,
    ) {
        // SAFETY: the caller guarantees AVX-512F/DQ and the pointer contract of
        // `Micro::tile_strided`, which is what `tile_rows::<R, true>` needs with `R = mr`.
        unsafe {
            match mr {
                8 => tile_rows::<8, true>(kc, a, lda, b, ldb, c, ldc, nr),
                7 => tile_rows::<7, true>(kc, a, lda, b, ldb, c, ldc, nr),
                6 => tile_rows::<6, true>(kc, a, lda, b, ldb, c, ldc, nr),
                5 => tile_rows::<5, true>(kc, a, lda, b, ldb, c, ldc, nr),
                4 => tile_rows::<4, true>(kc, a, lda, b, ldb, c, ldc, nr),
                3 => tile_rows::<3, true>(kc, a, lda, b, ldb, c, ldc, nr),
                2 => tile_rows::<2, true>(kc, a, lda, b, ldb, c, ldc, nr),
                _ => tile_rows::<1, true>(kc, a, lda, b, ldb, c, ldc, nr),
            }
        }
    }

    unsafe fn simple(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        // SAFETY: the caller guarantees AVX-512F/DQ.
        unsafe { simple_avx512(a, b, c, m, k, n) }
    }

    unsafe fn dots(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
        // SAFETY: the caller guarantees AVX-512F/DQ.
        unsafe { dots_avx512(a, bt, c, m, k, n) }
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
        // SAFETY: the caller guarantees AVX-512F/DQ.
        unsafe { stream_avx512(a, b, c, m, k, n, j0, w, ldc) }
    }
}

/// The portable register-blocked loop (4 rows × 16 columns) compiled with AVX-512.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn simple_avx512(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    portable::simple_body::<4, 16>(a, b, c, m, k, n);
}

/// The portable row-streaming loop compiled with AVX-512F/DQ.
#[target_feature(enable = "avx512f,avx512dq")]
#[allow(clippy::too_many_arguments)]
unsafe fn stream_avx512(
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

/// The portable dot-product loop compiled with AVX-512.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn dots_avx512(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    portable::dots_body(a, bt, c, m, k, n);
}

/// `C[R×nr] += A_panel · B_panel` with `R <= MR` live rows. A is packed (step `l` holds `MR`
/// values, `STRIDED = false`) or read in place (row `i` at `a + i·lda`, `STRIDED = true`). A
/// tile at most 8 columns wide computes only its first vector.
///
/// # Safety
/// AVX-512F/DQ are available; `a` holds `kc·MR` readable values (packed) or `R` rows of `kc`
/// readable values `lda` apart (strided); `b` holds `kc` rows of `NR` readable values `ldb` apart;
/// `c` is a readable and writable `R × nr` block (row stride `ldc`, `1 <= nr <= NR`) that no
/// other thread accesses.
#[target_feature(enable = "avx512f,avx512dq")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_rows<const R: usize, const STRIDED: bool>(
    kc: usize,
    a: *const u64,
    lda: usize,
    b: *const u64,
    ldb: usize,
    c: *mut u64,
    ldc: usize,
    nr: usize,
) {
    let mut lo = [_mm512_setzero_si512(); R];
    let mut hi = [_mm512_setzero_si512(); R];
    // SAFETY (both loops): row `l < kc` of the B panel is `NR` = 16 readable values at
    // `b + l·ldb`; step `l` of A is readable at `a + l·MR + i` (packed) or `a + i·lda + l`
    // (strided) for every `i < R`.
    let at = |l: usize, i: usize| unsafe { *a.add(if STRIDED { i * lda + l } else { l * MR + i }) } as i64;
    if nr <= 8 {
        for l in 0..kc {
            let b0 = unsafe { _mm512_loadu_si512(b.add(l * ldb).cast()) };
            for (i, acc) in lo.iter_mut().enumerate() {
                *acc = _mm512_add_epi64(*acc, _mm512_mullo_epi64(_mm512_set1_epi64(at(l, i)), b0));
            }
        }
    } else {
        for l in 0..kc {
            let (b0, b1) = unsafe {
                let p = b.add(l * ldb);
                (_mm512_loadu_si512(p.cast()), _mm512_loadu_si512(p.add(8).cast()))
            };
            for i in 0..R {
                let x = _mm512_set1_epi64(at(l, i));
                lo[i] = _mm512_add_epi64(lo[i], _mm512_mullo_epi64(x, b0));
                hi[i] = _mm512_add_epi64(hi[i], _mm512_mullo_epi64(x, b1));
            }
        }
    }
    if nr == NR {
        for i in 0..R {
            // SAFETY: row `i < R` of the C block has `NR` valid values at `c + i·ldc`.
            unsafe {
                let p = c.add(i * ldc);
                _mm512_storeu_si512(p.cast(), _mm512_add_epi64(_mm512_loadu_si512(p.cast()), lo[i]));
                let p = p.add(8);
                _mm512_storeu_si512(p.cast(), _mm512_add_epi64(_mm512_loadu_si512(p.cast()), hi[i]));
            }
        }
    } else {
        // Partial tile: masked loads and stores touch only the first `nr` columns.
        let mask = |w: usize| -> __mmask8 { if w >= 8 { 0xFF } else { ((1u16 << w) - 1) as u8 } };
        let (m0, m1) = (mask(nr), mask(nr.saturating_sub(8)));
        for i in 0..R {
            // SAFETY: row `i < R` of the C block has `nr` valid values at `c + i·ldc`; masked-off
            // lanes are neither read nor written (and cannot fault), and the second half is only
            // addressed when `nr > 8`.
            unsafe {
                let p = c.add(i * ldc);
                let v = _mm512_maskz_loadu_epi64(m0, p.cast());
                _mm512_mask_storeu_epi64(p.cast(), m0, _mm512_add_epi64(v, lo[i]));
                if m1 != 0 {
                    let p = p.add(8);
                    let v = _mm512_maskz_loadu_epi64(m1, p.cast());
                    _mm512_mask_storeu_epi64(p.cast(), m1, _mm512_add_epi64(v, hi[i]));
                }
            }
        }
    }
}
