//! Matrix multiplication over Z_2^64 (wrapping `u64`), the hot kernel of the testbed.
//!
//! # Structure
//!
//! * Three kernel sets, detected once and cached ([`best_kernel`]): [`Kernel::Avx512`]
//!   (`vpmullq`, x86_64 with AVX-512F/DQ), [`Kernel::Avx2`] (64-bit products built from 32-bit
//!   multiplies) and [`Kernel::Portable`] (plain Rust that the compiler vectorises). Each has a
//!   micro-kernel computing a register tile `C[MR×NR] += A_panel · B_panel` and register-blocked
//!   loops for unpacked operands.
//! * The driver (`gemm`) picks a path by shape (`auto_path`):
//!   - *simple*: tiny products, few columns, or a `B` small enough to stay in L2 — `C` rows
//!     times column strips summed over all of `k` in registers, no packing;
//!   - *narrow* (fewer than 8 columns): dot products against a transposed `B`;
//!   - *stream* (one or two rows, i.e. vector-matrix products): rows of `B` read once, in order,
//!     and scaled into `C`;
//!   - *tiled*: the cache-blocked product. `A` is packed per task into row panels `MR` tall and
//!     `KC` deep; `B` into column panels `NR` wide — up front for many rows, per task and panel
//!     when one block of rows does it all, or not at all (read in place) for very few rows.
//!     The tiles of `C` are split into tasks (blocks of `MC` rows, and of columns when there are
//!     few row blocks) that rayon runs in parallel.
//!
//! Every entry point *accumulates* into `C` internally; [`matmul_slices`] starts from zeros.

use super::{RingTensor, shape_string};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

/// Products with fewer multiply-adds than this use the simple loop (no packing, no threads).
const SMALL_WORK: usize = 1 << 15;
/// Products with fewer multiply-adds than this run on one thread.
const PAR_WORK: usize = 1 << 21;
/// Depth of the `k` slice packed and multiplied at a time (A panel `MR×KC` stays in L1/L2).
const KC: usize = 256;
/// Rows of `C` per task (the packed `MC×KC` block of `A` stays in L2).
const MC: usize = 128;
/// Budget in `u64`s for one packed block of `B` (`k × NC`), which bounds `NC`.
const B_BUDGET: usize = 1 << 20;
/// Below this many columns, the dot-product path replaces padded register tiles.
const NARROW_N: usize = 8;
/// Up to this many columns, the simple loop beats the tiles (packing A is too costly).
const SIMPLE_N: usize = 32;
/// Up to this many elements of B (256 KiB, L2-resident), the simple loop beats the tiles.
const SIMPLE_B: usize = 1 << 15;
/// Up to this many rows, rows of B are streamed into C (vector-matrix products).
const STREAM_M: usize = 2;
/// Up to this many B panels per task, A is read in place instead of packed by kernels that can:
/// packing costs as much as the product when each packed value serves only a few panels (a conv
/// weight times a narrow im2col: 2000×8000×51 went from 6.5 to 10.3 G/s under load, 1024³ alike).
const DIRECT_A_PANELS: usize = 16;
/// Up to this many rows, B is read in place instead of packed (packing would cost about as much
/// as the product)...
const DIRECT_M: usize = 16;
/// ... unless B's rows are this long or longer (then strided reads alias in L1/L2).
const DIRECT_MAX_N: usize = 2048;

/// A matrix-multiplication code path. Use [`available_kernels`] to see which run on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain Rust (`wrapping_mul`/`wrapping_add`), compiled for the baseline target.
    Portable,
    /// AVX2: each 64-bit product is assembled from 32-bit multiplies (`vpmuludq`, `vpmulld`).
    Avx2,
    /// AVX-512F/DQ: native 64-bit multiplies (`vpmullq`).
    Avx512,
}

impl Kernel {
    /// Lower-case name (`portable`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// True when this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// The kernels this CPU can run, slowest first (the last one is what [`matmul_into`] uses).
pub fn available_kernels() -> Vec<Kernel> {
    [Kernel::Portable, Kernel::Avx2, Kernel::Avx512]
        .into_iter()
        .filter(|k| k.is_available())
        .collect()
}

/// The fastest kernel this CPU supports, detected on first use and cached.
pub fn best_kernel() -> Kernel {
    static BEST: OnceLock<Kernel> = OnceLock::new();
    *BEST.get_or_init(|| *available_kernels().last().unwrap_or(&Kernel::Portable))
}

/// `c[m×n] = a[m×k] · b[k×n]` over wrapping u64, row-major slices.
///
/// # Panics
/// When `a.len() != m*k` or `b.len() != k*n` (or those products overflow).
pub fn matmul_slices(a: &[u64], b: &[u64], m: usize, k: usize, n: usize) -> Vec<u64> {
    let mut c = vec![0u64; m.checked_mul(n).expect("matmul: m*n overflows usize")];
    matmul_into(a, b, &mut c, m, k, n);
    c
}

/// Accumulating product `c[m×n] += a[m×k] · b[k×n]` (wrapping u64, row-major), using the fastest
/// kernel available.
///
/// # Panics
/// When the slice lengths are not `m*k`, `k*n` and `m*n`.
pub fn matmul_into(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    check_lengths(a, b, c, m, k, n);
    run(best_kernel(), a, b, c, m, k, n, Plan::AUTO);
}

/// [`matmul_into`] forced onto one kernel (for tests and benchmarks).
///
/// # Panics
/// When the kernel is not available on this CPU (see [`Kernel::is_available`]) or the slice
/// lengths are wrong.
pub fn matmul_with(kernel: Kernel, a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize) {
    check_lengths(a, b, c, m, k, n);
    run(kernel, a, b, c, m, k, n, Plan::AUTO);
}

fn check_lengths(a: &[u64], b: &[u64], c: &[u64], m: usize, k: usize, n: usize) {
    let len = |x: usize, y: usize| x.checked_mul(y).expect("matmul: dimension product overflows usize");
    assert_eq!(
        a.len(),
        len(m, k),
        "matmul: a holds {} elements, expected {m}x{k}",
        a.len()
    );
    assert_eq!(
        b.len(),
        len(k, n),
        "matmul: b holds {} elements, expected {k}x{n}",
        b.len()
    );
    assert_eq!(
        c.len(),
        len(m, n),
        "matmul: c holds {} elements, expected {m}x{n}",
        c.len()
    );
}

/// Which algorithm [`gemm`] uses; `Auto` picks by shape, the others exist so tests can force
/// every path on every kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Auto,
    /// Register-blocked loop on the unpacked operands.
    Simple,
    /// Dot products against a transposed B.
    Narrow,
    /// Rows of B streamed in order into very few rows of C.
    Stream,
    /// Packed A and packed B.
    Tiled,
    /// Packed A; B packed by each task, a `KC × NR` panel at a time.
    TiledLocal,
    /// Packed A; full-width B panels read in place (only the ragged last panel is packed).
    TiledDirect,
}

/// How [`gemm`] runs: `threads == 0` means "decide from the amount of work".
#[derive(Clone, Copy, Debug)]
struct Plan {
    path: Path,
    threads: usize,
}

impl Plan {
    const AUTO: Plan = Plan {
        path: Path::Auto,
        threads: 0,
    };
    const SERIAL: Plan = Plan {
        path: Path::Auto,
        threads: 1,
    };
}

/// Dispatches to the driver monomorphised for `kernel` (slice lengths already checked).
#[allow(clippy::too_many_arguments)]
fn run(kernel: Kernel, a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize, plan: Plan) {
    // The SIMD kernels' safety rests on this (a cached feature lookup, so cheap).
    assert!(
        kernel.is_available(),
        "matmul: kernel {} is not available on this CPU",
        kernel.name()
    );
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => gemm::<avx512::Avx512>(a, b, c, m, k, n, plan),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => gemm::<avx2::Avx2>(a, b, c, m, k, n, plan),
        _ => gemm::<portable::Portable>(a, b, c, m, k, n, plan),
    }
}

/// One instruction set's kernels. Implementations for SIMD extensions may only be used once the
/// CPU is known to support them (every method is `unsafe` for that reason).
trait Micro {
    /// Rows of the register tile.
    const MR: usize;
    /// Columns of the register tile.
    const NR: usize;
    /// When true, each `k` step of a packed A panel holds the `MR` values followed by the same
    /// values with their 32-bit halves swapped (`rotate_left(32)`).
    const A_ROT: bool;

    /// `C[mr×nr] += A_panel · B_panel` over `kc` steps.
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set; `a` is valid for `kc * MR * (1 + A_ROT)`
    /// reads; `b` is valid for `kc` rows of `NR` reads whose starts are `ldb` apart;
    /// `1 <= mr <= MR`, `1 <= nr <= NR`; `c` points at an `mr × nr` block with row stride `ldc`
    /// that is valid for reads and writes and that no other thread accesses during the call.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(kc: usize, a: *const u64, b: *const u64, ldb: usize, c: *mut u64, ldc: usize, mr: usize, nr: usize);

    /// True when [`Micro::tile_strided`] reads A in place (else it packs a panel first).
    const STRIDED_A: bool = false;

    /// [`Micro::tile`] with A read in place: value (i, l) of the panel at `a + i·lda + l`.
    ///
    /// # Safety
    /// As for [`Micro::tile`], except that `a` must be valid for `mr` rows of `kc` reads whose
    /// starts are `lda` apart.
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
        // Kernels without an in-place path pack the panel (zero rows below `mr`) and tile it.
        let step = Self::MR * if Self::A_ROT { 2 } else { 1 };
        let mut panel = vec![0u64; kc * step];
        for i in 0..mr {
            for l in 0..kc {
                // SAFETY: the caller guarantees row `i < mr` holds `kc` readable values.
                let x = unsafe { *a.add(i * lda + l) };
                panel[l * step + i] = x;
                if Self::A_ROT {
                    panel[l * step + Self::MR + i] = x.rotate_left(32);
                }
            }
        }
        // SAFETY: `panel` holds the `kc` packed steps `tile` reads; the rest is the caller's.
        unsafe { Self::tile(kc, panel.as_ptr(), b, ldb, c, ldc, mr, nr) }
    }

    /// `c += a·b` by a register-blocked loop without packing (slices already checked).
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    unsafe fn simple(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize);

    /// `c[m×n] += a[m×k] · bt[n×k]ᵀ` by dot products (for few columns).
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    unsafe fn dots(a: &[u64], bt: &[u64], c: &mut [u64], m: usize, k: usize, n: usize);

    /// `C[i, 0..w] += Σ_l a[i, l] · b[l, j0 .. j0+w]` for `i < m` (`a` is `m×k`, `b` is `k×n`,
    /// rows of `c` are `ldc` apart), streaming the rows of `b` (for very few rows of `C`).
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set.
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
    );
}

/// A raw pointer to `C` that tasks on several threads write through, each to its own tiles.
#[derive(Clone, Copy)]
struct SharedMut(*mut u64);
// SAFETY: the pointer is only dereferenced by `gemm` tasks, which write pairwise disjoint tiles
// of `C` while `gemm` holds the unique `&mut` borrow of it.
unsafe impl Send for SharedMut {}
// SAFETY: as above; sharing the pointer value itself is harmless.
unsafe impl Sync for SharedMut {}
impl SharedMut {
    fn get(self) -> *mut u64 {
        self.0
    }
}

thread_local! {
    /// Per-thread scratch for packed A blocks, reused across calls.
    static A_SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// Per-thread scratch for packed B blocks, reused across calls.
    static B_SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a 64-byte aligned scratch slice of `len` elements taken from `slot`.
/// (The buffer is moved out while in use, so a nested call just allocates a fresh one.)
fn with_scratch<R>(
    slot: &'static std::thread::LocalKey<RefCell<Vec<u64>>>,
    len: usize,
    f: impl FnOnce(&mut [u64]) -> R,
) -> R {
    let mut buf = slot.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if buf.len() < len + 8 {
        buf = vec![0u64; len + 8];
    }
    let off = buf.as_ptr().align_offset(64).min(8);
    let r = f(&mut buf[off..off + len]);
    slot.with(|s| *s.borrow_mut() = buf);
    r
}

/// The product `c += a·b` with kernel set `K` (see the module docs for the paths).
#[allow(clippy::too_many_arguments)]
fn gemm<K: Micro>(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize, plan: Plan) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let work = m.saturating_mul(k).saturating_mul(n);
    let threads = match plan.threads {
        // Enough multiply-adds, or a B so large that just reading it is worth two cores.
        0 if work >= PAR_WORK || k.saturating_mul(n) >= PAR_WORK / 2 => rayon::current_num_threads().max(1),
        0 => 1,
        t => t,
    };
    let path = match plan.path {
        Path::Auto => auto_path(m, k, n),
        p => p,
    };
    match path {
        Path::Simple => gemm_simple::<K>(a, b, c, m, k, n, threads),
        Path::Narrow => gemm_narrow::<K>(a, b, c, m, k, n, threads),
        Path::Stream => gemm_stream::<K>(a, b, c, m, k, n, threads),
        Path::Tiled => gemm_tiled::<K>(a, b, c, m, k, n, threads, BMode::Packed),
        Path::TiledLocal => gemm_tiled::<K>(a, b, c, m, k, n, threads, BMode::Local),
        Path::TiledDirect | Path::Auto => gemm_tiled::<K>(a, b, c, m, k, n, threads, BMode::Direct),
    }
}

/// The path for an `m×k×n` product (measured on AVX-512; the other kernels follow suit).
fn auto_path(m: usize, k: usize, n: usize) -> Path {
    let work = m.saturating_mul(k).saturating_mul(n);
    if work < SMALL_WORK {
        // Tiny: anything but the plain loop costs more than the product.
        Path::Simple
    } else if n < NARROW_N {
        // Padded tiles would waste most of each vector.
        Path::Narrow
    } else if n <= SIMPLE_N || k * n <= SIMPLE_B {
        // Few columns (packing A would cost as much as the product) or a B that stays in L2:
        // the unpacked register-blocked loop is at least as fast as the tiles.
        Path::Simple
    } else if m <= STREAM_M {
        // One or two rows: nothing to reuse, so read B once, in order.
        Path::Stream
    } else if m <= DIRECT_M && n < DIRECT_MAX_N {
        // Too few rows to amortise packing B; read it in place (long rows alias in the caches,
        // hence the bound on `n`).
        Path::TiledDirect
    } else if m <= MC {
        // One block of rows: each task packs its own B panels, each panel exactly once.
        Path::TiledLocal
    } else {
        Path::Tiled
    }
}

/// The unpacked register-blocked loop, split by blocks of rows across threads.
#[allow(clippy::too_many_arguments)]
fn gemm_simple<K: Micro>(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize, threads: usize) {
    // Rows per task: a multiple of 4 (the loop's row block), about two tasks per thread.
    let rows = m.div_ceil(2 * threads).next_multiple_of(4);
    if threads > 1 && rows < m {
        c.par_chunks_mut(rows * n)
            .zip(a.par_chunks(rows * k))
            .for_each(|(cc, aa)| {
                // SAFETY: `run` only selects `K` when the CPU supports it; each chunk pairs
                // `cc.len() / n` rows of C with as many rows of A.
                unsafe { K::simple(aa, b, cc, cc.len() / n, k, n) }
            });
    } else {
        // SAFETY: as above, for the whole matrices (lengths checked by the caller).
        unsafe { K::simple(a, b, c, m, k, n) }
    }
}

/// Where the tiled path gets its B panels from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BMode {
    /// Packed up front for a block of columns (all `k` rows), shared by every task.
    Packed,
    /// Packed by each task, one `KC × NR` panel at a time, just before use.
    Local,
    /// Full-width panels read in place with row stride `n`; the ragged last one is packed.
    Direct,
}

/// The blocked product (see the module docs): A packed per task in row panels `MR` tall and
/// `KC` deep, B in column panels `NR` wide as `mode` says, tiles of `C` split into tasks.
#[allow(clippy::too_many_arguments)]
fn gemm_tiled<K: Micro>(
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
    mode: BMode,
) {
    let (mr, nr) = (K::MR, K::NR);
    let a_step = mr * if K::A_ROT { 2 } else { 1 };
    let kc_max = KC.min(k);
    // Columns per block of B: with up-front packing as many panels as the budget allows.
    let nc = match mode {
        BMode::Packed => ((B_BUDGET / k).max(nr) / nr * nr).min(n.div_ceil(nr) * nr),
        _ => n,
    };
    let cptr = SharedMut(c.as_mut_ptr());

    for jc in (0..n).step_by(nc) {
        let ncw = nc.min(n - jc);
        let panels = ncw.div_ceil(nr);
        // Panels `first_pre..panels` are packed up front.
        let first_pre = match mode {
            BMode::Packed => 0,
            BMode::Direct => ncw / nr,
            BMode::Local => panels,
        };
        let pre = panels - first_pre;
        with_scratch(&B_SCRATCH, pre * k * nr, |bp| {
            // Pack B[0..k, columns of the panel] into `k × nr` (zero-padded on the right).
            let pack = |(q, dst): (usize, &mut [u64])| {
                let col = (first_pre + q) * nr;
                pack_b(b, n, k, jc + col, ncw - col, nr, dst)
            };
            if threads > 1 && pre > 1 {
                bp.par_chunks_mut(k * nr).enumerate().for_each(pack);
            } else {
                bp.chunks_mut(k * nr).enumerate().for_each(pack);
            }
            let bp: &[u64] = bp;

            // Tasks: blocks of `mc` rows (one block unless B is packed up front), split further
            // by columns until there are a few tasks per thread.
            let mc = match mode {
                // As many blocks as `MC` requires, of about equal height (balances the threads).
                BMode::Packed => m.div_ceil(m.div_ceil(MC)).next_multiple_of(mr),
                _ => m,
            };
            let row_blocks = m.div_ceil(mc);
            let col_groups = if threads > 1 {
                (2 * threads).div_ceil(row_blocks).clamp(1, panels)
            } else {
                1
            };
            let panels_per_group = panels.div_ceil(col_groups);
            let col_groups = panels.div_ceil(panels_per_group);

            let task = |t: usize| {
                let (rb, cg) = (t / col_groups, t % col_groups);
                let (r0, r1) = (rb * mc, (rb * mc + mc).min(m));
                let (p0, p1) = (
                    cg * panels_per_group,
                    (cg * panels_per_group + panels_per_group).min(panels),
                );
                let rows = r1 - r0;
                let rpanels = rows.div_ceil(mr);
                // With few B panels per task, packing A would cost about as much as the product:
                // read it in place instead.
                let direct_a = K::STRIDED_A && p1 - p0 <= DIRECT_A_PANELS;
                // Scratch: the packed A block, then (for `Local`) one B panel, 64-byte aligned.
                let a_len = if direct_a {
                    0
                } else {
                    (rpanels * kc_max * a_step).next_multiple_of(8)
                };
                let b_len = if mode == BMode::Local { kc_max * nr } else { 0 };
                with_scratch(&A_SCRATCH, a_len + b_len, |scratch| {
                    let (ap, bl) = scratch.split_at_mut(a_len);
                    for pc in (0..k).step_by(KC) {
                        let kc = KC.min(k - pc);
                        if !direct_a {
                            pack_a(a, k, r0, rows, pc, kc, mr, K::A_ROT, ap);
                        }
                        for p in p0..p1 {
                            let col = p * nr;
                            let nrw = nr.min(ncw - col);
                            // Rows `pc..pc+kc` of the panel and their stride.
                            let (bpanel, ldb): (&[u64], usize) = if p >= first_pre {
                                (&bp[(p - first_pre) * k * nr + pc * nr..][..kc * nr], nr)
                            } else if mode == BMode::Direct {
                                (&b[pc * n + jc + col..][..(kc - 1) * n + nr], n)
                            } else {
                                pack_b(&b[pc * n..], n, kc, jc + col, nrw, nr, bl);
                                (&bl[..kc * nr], nr)
                            };
                            for ip in 0..rpanels {
                                let mrw = mr.min(rows - ip * mr);
                                if direct_a {
                                    let arows = &a[(r0 + ip * mr) * k + pc..][..(mrw - 1) * k + kc];
                                    // SAFETY: as below, with A's `mrw` rows of `kc` values read in
                                    // place (`k` apart) from `arows`.
                                    unsafe {
                                        let cblk = cptr.get().add((r0 + ip * mr) * n + jc + col);
                                        K::tile_strided(kc, arows.as_ptr(), k, bpanel.as_ptr(), ldb, cblk, n, mrw, nrw);
                                    }
                                    continue;
                                }
                                let apanel = &ap[ip * kc * a_step..][..kc * a_step];
                                // SAFETY: `K` is supported (see `run`); `apanel` holds the `kc`
                                // steps `tile` reads and `bpanel` the `kc` rows of `nr` values
                                // `ldb` apart; the C block (rows `r0+ip*mr ..` + `mrw`, columns
                                // `jc+col ..` + `nrw`) lies inside the m×n matrix, and this task
                                // is the only one touching it.
                                unsafe {
                                    let cblk = cptr.get().add((r0 + ip * mr) * n + jc + col);
                                    K::tile(kc, apanel.as_ptr(), bpanel.as_ptr(), ldb, cblk, n, mrw, nrw);
                                }
                            }
                        }
                    }
                });
            };
            let tasks = row_blocks * col_groups;
            if threads > 1 && tasks > 1 {
                (0..tasks).into_par_iter().for_each(task);
            } else {
                (0..tasks).for_each(task);
            }
        });
    }
}

/// Very few rows: stream B once, in row order. Threads take column ranges, each into a private
/// buffer (`m × width`, small next to B) that is then added into `c`.
#[allow(clippy::too_many_arguments)]
fn gemm_stream<K: Micro>(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize, threads: usize) {
    let width = n.div_ceil(2 * threads).next_multiple_of(64);
    if threads > 1 && width < n {
        let parts: Vec<(usize, Vec<u64>)> = (0..n.div_ceil(width))
            .into_par_iter()
            .map(|t| {
                let (j0, w) = (t * width, width.min(n - t * width));
                let mut part = vec![0u64; m * w];
                // SAFETY: `run` only selects `K` when the CPU supports it.
                unsafe { K::stream(a, b, &mut part, m, k, n, j0, w, w) };
                (j0, part)
            })
            .collect();
        for (j0, part) in parts {
            let w = part.len() / m;
            for (crow, prow) in c.chunks_exact_mut(n).zip(part.chunks_exact(w)) {
                for (d, &x) in crow[j0..j0 + w].iter_mut().zip(prow) {
                    *d = d.wrapping_add(x);
                }
            }
        }
    } else {
        // SAFETY: as above.
        unsafe { K::stream(a, b, c, m, k, n, 0, n, n) };
    }
}

/// Few output columns: transpose B (`n × k`, small) and take dot products, in parallel over rows.
#[allow(clippy::too_many_arguments)]
fn gemm_narrow<K: Micro>(a: &[u64], b: &[u64], c: &mut [u64], m: usize, k: usize, n: usize, threads: usize) {
    let mut bt = vec![0u64; k * n];
    for (l, row) in b.chunks_exact(n).enumerate() {
        for (j, &x) in row.iter().enumerate() {
            bt[j * k + l] = x;
        }
    }
    if threads > 1 {
        let rows = m.div_ceil(4 * threads).max(1);
        c.par_chunks_mut(rows * n)
            .zip(a.par_chunks(rows * k))
            .for_each(|(cc, aa)| {
                // SAFETY: `run` only selects `K` when the CPU supports it.
                unsafe { K::dots(aa, &bt, cc, cc.len() / n, k, n) }
            });
    } else {
        // SAFETY: as above.
        unsafe { K::dots(a, &bt, c, m, k, n) };
    }
}

/// Packs `width` columns of `b` (row stride `ldb`) starting at `col`, `k` rows, into `dst`
/// (`k × nr`, zero-padded on the right when `width < nr`).
///
/// Inlined so that `nr` (a kernel constant) makes the full-width row copies fixed-size moves.
#[inline(always)]
fn pack_b(b: &[u64], ldb: usize, k: usize, col: usize, width: usize, nr: usize, dst: &mut [u64]) {
    let rows = dst.chunks_exact_mut(nr).take(k).enumerate();
    if width >= nr {
        for (l, d) in rows {
            d.copy_from_slice(&b[l * ldb + col..][..nr]);
        }
    } else {
        for (l, d) in rows {
            d[..width].copy_from_slice(&b[l * ldb + col..][..width]);
            d[width..].fill(0);
        }
    }
}

/// Packs rows `r0 .. r0+rows`, columns `pc .. pc+kc` of `a` (row stride `lda`) into panels of `mr`
/// rows: panel `p` is `kc` steps of `mr` values (zero-padded below the last row), each followed by
/// the `mr` values with swapped 32-bit halves when `rot`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pack_a(a: &[u64], lda: usize, r0: usize, rows: usize, pc: usize, kc: usize, mr: usize, rot: bool, dst: &mut [u64]) {
    let step = if rot { 2 * mr } else { mr };
    for (p, panel) in dst.chunks_mut(kc * step).take(rows.div_ceil(mr)).enumerate() {
        let live = mr.min(rows - p * mr);
        for i in 0..mr {
            if i < live {
                let src = &a[(r0 + p * mr + i) * lda + pc..][..kc];
                for (l, &x) in src.iter().enumerate() {
                    panel[l * step + i] = x;
                    if rot {
                        panel[l * step + mr + i] = x.rotate_left(32);
                    }
                }
            } else {
                for l in 0..kc {
                    panel[l * step + i] = 0;
                    if rot {
                        panel[l * step + mr + i] = 0;
                    }
                }
            }
        }
    }
}

/// `c[batch] += a[batch or shared] · b[batch or shared]` for contiguous batches (stride 0 =
/// the operand is shared by every batch).
#[allow(clippy::too_many_arguments)]
fn batched(a: &[u64], b: &[u64], c: &mut [u64], batch: usize, sa: usize, sb: usize, m: usize, k: usize, n: usize) {
    let kernel = best_kernel();
    let (mn, mk, kn) = (m * n, m * k, k * n);
    if mn == 0 {
        return;
    }
    let each = m.saturating_mul(k).saturating_mul(n);
    let slice_a = |i: usize| &a[i * sa..][..mk];
    let slice_b = |i: usize| &b[i * sb..][..kn];
    if batch > 1 && each < PAR_WORK && each.saturating_mul(batch) >= SMALL_WORK {
        // Many small products: one thread each.
        c.par_chunks_mut(mn)
            .enumerate()
            .for_each(|(i, cc)| run(kernel, slice_a(i), slice_b(i), cc, m, k, n, Plan::SERIAL));
    } else {
        for (i, cc) in c.chunks_mut(mn).enumerate() {
            run(kernel, slice_a(i), slice_b(i), cc, m, k, n, Plan::AUTO);
        }
    }
}

impl RingTensor {
    /// Checks the shapes of `self · other` (see [`RingTensor::matmul`]).
    fn matmul_plan(&self, other: &RingTensor) -> Result<MatmulPlan> {
        let (sa, sb) = (self.shape(), other.shape());
        let fail = |why: &str| {
            Error::shape(
                "matmul",
                format!("cannot multiply {} by {}: {why}", shape_string(sa), shape_string(sb)),
            )
        };
        if sa.len() < 2 || sb.len() < 2 {
            return Err(fail("both operands need at least 2 dimensions"));
        }
        let (ra, rb) = (sa.len(), sb.len());
        let (m, k, k2, n) = (sa[ra - 2], sa[ra - 1], sb[rb - 2], sb[rb - 1]);
        if k != k2 {
            return Err(fail("inner dimensions differ"));
        }
        let (ba, bb) = (&sa[..ra - 2], &sb[..rb - 2]);
        let batch_dims = match (ba.is_empty(), bb.is_empty()) {
            (_, true) => ba,
            (true, false) => bb,
            (false, false) if ba == bb => ba,
            _ => return Err(fail("batch dimensions differ")),
        };
        let mut shape = batch_dims.to_vec();
        shape.extend([m, n]);
        let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let Some(len) = len else {
            return Err(fail("the result has too many elements"));
        };
        Ok(MatmulPlan {
            shape,
            len,
            batch_a: !ba.is_empty(),
            batch_b: !bb.is_empty(),
            m,
            k,
            n,
        })
    }

    /// Matrix product over Z_2^64.
    ///
    /// * `[m,k]·[k,n] -> [m,n]`;
    /// * batched `[..B,m,k]·[..B,k,n] -> [..B,m,n]` with identical batch dimensions `..B`;
    /// * a 2-D operand broadcast against a batched one: `[..B,m,k]·[k,n]` and `[m,k]·[..B,k,n]`.
    ///
    /// Any other combination of shapes (rank below 2, inner dimensions that differ, batch
    /// dimensions that differ) is an [`Error::Shape`].
    pub fn matmul(&self, other: &RingTensor) -> Result<RingTensor> {
        let plan = self.matmul_plan(other)?;
        let mut out = vec![0u64; plan.len];
        plan.run(self, other, &mut out);
        Ok(RingTensor::from_parts(plan.shape, out))
    }

    /// `out += self · other` (see [`RingTensor::matmul`]); errors when `out` does not have the
    /// product's shape.
    pub fn matmul_acc(&self, other: &RingTensor, out: &mut RingTensor) -> Result<()> {
        let plan = self.matmul_plan(other)?;
        super::check_out("matmul", &plan.shape, out)?;
        plan.run(self, other, out.data_mut());
        Ok(())
    }
}

/// A checked matrix product: output shape and the dimensions of each 2-D product.
struct MatmulPlan {
    shape: Vec<usize>,
    len: usize,
    batch_a: bool,
    batch_b: bool,
    m: usize,
    k: usize,
    n: usize,
}

impl MatmulPlan {
    /// Adds the product into `out` (`len` elements).
    fn run(&self, a: &RingTensor, b: &RingTensor, out: &mut [u64]) {
        let (m, k, n) = (self.m, self.k, self.n);
        if self.len == 0 || k == 0 {
            return;
        }
        // Cannot overflow: `batch · m · n = len` with every factor non-zero.
        let batch = self.len / (m * n);
        if !self.batch_b {
            // `[..B,m,k]·[k,n]` is one `[B·m, k]·[k,n]` product (also covers plain 2-D).
            run(best_kernel(), a.data(), b.data(), out, batch * m, k, n, Plan::AUTO);
        } else {
            let sa = if self.batch_a { m * k } else { 0 };
            batched(a.data(), b.data(), out, batch, sa, k * n, m, k, n);
        }
    }
}

#[cfg(test)]
mod tests;
