//! Every kernel and path of the ring matmul against a plain triple-loop oracle.

use super::*;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn random(rng: &mut Xoshiro256PlusPlus, len: usize) -> Vec<u64> {
    (0..len).map(|_| rng.next_u64()).collect()
}

/// The oracle: a naive triple loop.
fn naive(a: &[u64], b: &[u64], m: usize, k: usize, n: usize) -> Vec<u64> {
    let mut c = vec![0u64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0u64;
            for l in 0..k {
                s = s.wrapping_add(a[i * k + l].wrapping_mul(b[l * n + j]));
            }
            c[i * n + j] = s;
        }
    }
    c
}

/// Every kernel (and the dispatched entry points) agrees with the oracle on `m×k×n`, both
/// from zero and accumulating onto a random `C`.
fn check(rng: &mut Xoshiro256PlusPlus, m: usize, k: usize, n: usize) {
    let (a, b) = (random(rng, m * k), random(rng, k * n));
    let want = naive(&a, &b, m, k, n);
    assert_eq!(matmul_slices(&a, &b, m, k, n), want, "matmul_slices {m}x{k}x{n}");
    let c0 = random(rng, m * n);
    let want_acc: Vec<u64> = c0.iter().zip(&want).map(|(x, y)| x.wrapping_add(*y)).collect();
    for kernel in available_kernels() {
        let mut c = c0.clone();
        matmul_with(kernel, &a, &b, &mut c, m, k, n);
        assert_eq!(c, want_acc, "{} {m}x{k}x{n}", kernel.name());
        for path in [
            Path::Simple,
            Path::Narrow,
            Path::Tiled,
            Path::TiledLocal,
            Path::TiledDirect,
        ] {
            // 3 threads: more tasks than the pool has threads, whatever the work.
            for threads in [1, 3] {
                let mut c = c0.clone();
                run(kernel, &a, &b, &mut c, m, k, n, Plan { path, threads });
                assert_eq!(c, want_acc, "{} {path:?} threads {threads} {m}x{k}x{n}", kernel.name());
            }
        }
    }
}

/// `tile_strided` (A read in place, or the packing fallback) equals `tile` on a packed panel.
fn strided_tile_matches<K: Micro>() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let (kc, lda) = (37, 41);
    for mr in 1..=K::MR {
        for nr in [1, K::NR / 2, K::NR] {
            let a = random(&mut rng, K::MR * lda);
            let b = random(&mut rng, kc * K::NR);
            let c0 = random(&mut rng, K::MR * K::NR);
            let mut packed = vec![0u64; kc * K::MR * if K::A_ROT { 2 } else { 1 }];
            pack_a(&a, lda, 0, mr, 0, kc, K::MR, K::A_ROT, &mut packed);
            let (mut want, mut got) = (c0.clone(), c0.clone());
            // SAFETY: the kernel was checked to be available; the panels and blocks are sized
            // as `tile` and `tile_strided` require.
            unsafe {
                K::tile(kc, packed.as_ptr(), b.as_ptr(), K::NR, want.as_mut_ptr(), K::NR, mr, nr);
                K::tile_strided(kc, a.as_ptr(), lda, b.as_ptr(), K::NR, got.as_mut_ptr(), K::NR, mr, nr);
            }
            assert_eq!(got, want, "mr {mr} nr {nr}");
        }
    }
}

#[test]
fn strided_tiles_match_packed_tiles() {
    strided_tile_matches::<portable::Portable>();
    #[cfg(target_arch = "x86_64")]
    {
        if Kernel::Avx2.is_available() {
            strided_tile_matches::<avx2::Avx2>();
        }
        if Kernel::Avx512.is_available() {
            strided_tile_matches::<avx512::Avx512>();
        }
    }
}

#[test]
fn kernels_detected() {
    let ks = available_kernels();
    assert_eq!(ks[0], Kernel::Portable);
    assert_eq!(*ks.last().unwrap(), best_kernel());
    assert!(ks.iter().all(|k| k.is_available()));
}

#[test]
fn odd_sizes_match_oracle() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let sizes = [1usize, 2, 3, 7, 8, 9, 16, 17, 33, 65];
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                check(&mut rng, m, k, n);
            }
        }
    }
}

#[test]
fn empty_dimensions() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    for &(m, k, n) in &[
        (0, 0, 0),
        (0, 5, 7),
        (5, 0, 7),
        (5, 7, 0),
        (300, 0, 300),
        (0, 300, 300),
        (300, 300, 0),
    ] {
        check(&mut rng, m, k, n);
    }
    // k = 0 leaves an accumulated C unchanged and gives zeros from scratch.
    assert_eq!(matmul_slices(&[], &[], 4, 0, 3), vec![0; 12]);
}

#[test]
fn block_boundaries_match_oracle() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    // Around MR/NR multiples, KC (256), MC (128), the small and parallel thresholds.
    for &(m, k, n) in &[
        (129, 257, 33),
        (128, 256, 32),
        (127, 255, 31),
        (130, 513, 47),
        (257, 129, 130),
        (1, 1000, 1000),
        (3, 600, 600),
        (1000, 300, 1),
        (777, 300, 5),
        (513, 97, 9),
        (31, 31, 33),
        (64, 64, 64),
        (200, 700, 17),
        (17, 700, 200),
        (260, 260, 260),
    ] {
        check(&mut rng, m, k, n);
    }
}

#[test]
fn auto_path_covers_every_path() {
    // One shape per branch of `auto_path`, each checked against the oracle.
    let cases = [
        ((5, 6, 7), Path::Simple),
        ((300, 200, 5), Path::Narrow),
        ((300, 200, 24), Path::Simple),
        ((100, 150, 150), Path::Simple),
        ((2, 300, 200), Path::Stream),
        ((1, 1000, 1000), Path::Stream),
        ((10, 300, 200), Path::TiledDirect),
        ((10, 20, 2100), Path::TiledLocal),
        ((100, 300, 200), Path::TiledLocal),
        ((200, 300, 200), Path::Tiled),
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    for ((m, k, n), path) in cases {
        assert_eq!(auto_path(m, k, n), path, "{m}x{k}x{n}");
        check(&mut rng, m, k, n);
    }
}

#[test]
fn large_wide_b_spans_several_column_blocks() {
    // k·n above the packing budget forces several column blocks of B.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
    let k = 1030;
    let n = B_BUDGET / k * 2 + 37;
    check(&mut rng, 9, k, n);
}

#[test]
fn random_shapes_match_oracle() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    for _ in 0..60 {
        let m = (rng.next_u64() % 150) as usize;
        let k = (rng.next_u64() % 300) as usize;
        let n = (rng.next_u64() % 150) as usize;
        check(&mut rng, m, k, n);
    }
}

#[test]
fn values_that_wrap() {
    // All-ones words: every product is 1 and sums wrap only through count; use 2^63 too.
    let (m, k, n) = (19, 301, 23);
    let a = vec![u64::MAX; m * k];
    let b = vec![1u64 << 63 | 3; k * n];
    let want = naive(&a, &b, m, k, n);
    for kernel in available_kernels() {
        let mut c = vec![0; m * n];
        matmul_with(kernel, &a, &b, &mut c, m, k, n);
        assert_eq!(c, want, "{}", kernel.name());
    }
}

fn tensor(rng: &mut Xoshiro256PlusPlus, shape: &[usize]) -> RingTensor {
    RingTensor::from_vec(shape, random(rng, shape.iter().product())).unwrap()
}

/// The 2-D matrix `i` of a tensor whose last two dims are `[r, c]`.
fn slice2(t: &RingTensor, i: usize) -> Vec<u64> {
    let s = t.shape();
    let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
    t.data()[i * r * c..][..r * c].to_vec()
}

#[test]
fn tensor_2d() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(6);
    let (a, b) = (tensor(&mut rng, &[5, 7]), tensor(&mut rng, &[7, 3]));
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), &[5, 3]);
    assert_eq!(c.data(), naive(a.data(), b.data(), 5, 7, 3).as_slice());
}

/// (a shape, b shape, batch count, a batched, b batched)
type Case = (&'static [usize], &'static [usize], usize, bool, bool);

#[test]
fn tensor_batched_and_broadcast() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let cases: &[Case] = &[
        (&[3, 5, 7], &[3, 7, 4], 3, true, true),
        (&[2, 3, 5, 7], &[2, 3, 7, 4], 6, true, true),
        (&[4, 5, 7], &[7, 6], 4, true, false),
        (&[2, 2, 5, 7], &[7, 6], 4, true, false),
        (&[5, 7], &[4, 7, 6], 4, false, true),
        (&[5, 7], &[2, 3, 7, 6], 6, false, true),
        (&[64, 40, 50], &[64, 50, 30], 64, true, true),
        (&[3, 130, 140], &[3, 140, 150], 3, true, true),
        (&[130, 140], &[3, 140, 150], 3, false, true),
        (&[2, 0, 7], &[2, 7, 4], 2, true, true),
        (&[2, 5, 0], &[2, 0, 4], 2, true, true),
        (&[0, 5, 7], &[0, 7, 4], 0, true, true),
    ];
    for &(sa, sb, batch, a_batched, b_batched) in cases {
        let (a, b) = (tensor(&mut rng, sa), tensor(&mut rng, sb));
        let c = a.matmul(&b).unwrap();
        let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let mut want_shape = if a_batched {
            sa[..sa.len() - 2].to_vec()
        } else {
            sb[..sb.len() - 2].to_vec()
        };
        want_shape.extend([m, n]);
        assert_eq!(c.shape(), want_shape.as_slice(), "{sa:?}·{sb:?}");
        for i in 0..batch {
            let ai = slice2(&a, if a_batched { i } else { 0 });
            let bi = slice2(&b, if b_batched { i } else { 0 });
            assert_eq!(slice2(&c, i), naive(&ai, &bi, m, k, n), "{sa:?}·{sb:?} batch {i}");
        }
    }
}

#[test]
fn tensor_shape_errors() {
    let t = |s: &[usize]| RingTensor::zeros(s);
    let bad: &[(&[usize], &[usize])] = &[
        (&[5, 7], &[6, 3]),
        (&[7], &[7, 3]),
        (&[5, 7], &[7]),
        (&[], &[]),
        (&[2, 5, 7], &[3, 7, 4]),
        (&[2, 5, 7], &[2, 1, 7, 4]),
        (&[2, 5, 7], &[2, 6, 4]),
        (&[5, 7], &[2, 6, 4]),
    ];
    for &(sa, sb) in bad {
        match t(sa).matmul(&t(sb)) {
            Err(e @ Error::Shape { op: "matmul", .. }) => assert!(e.is_bad_input()),
            other => panic!("{sa:?}·{sb:?} gave {other:?}"),
        }
    }
}

#[test]
fn many_small_batches_run_in_parallel() {
    // 64 products of 20×30·30×20: each below the parallel threshold, together above the
    // small one, so `batched` spreads them over threads; also the broadcast forms.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let (a, b) = (tensor(&mut rng, &[64, 20, 30]), tensor(&mut rng, &[64, 30, 20]));
    let (a2, b2) = (tensor(&mut rng, &[20, 30]), tensor(&mut rng, &[30, 20]));
    for (x, y, xb, yb) in [(&a, &b, true, true), (&a2, &b, false, true), (&a, &b2, true, false)] {
        let c = x.matmul(y).unwrap();
        assert_eq!(c.shape(), &[64, 20, 20]);
        for i in 0..64 {
            let xi = slice2(x, if xb { i } else { 0 });
            let yi = slice2(y, if yb { i } else { 0 });
            assert_eq!(slice2(&c, i), naive(&xi, &yi, 20, 30, 20), "batch {i}");
        }
    }
}

#[test]
#[should_panic(expected = "matmul")]
fn slice_length_mismatch_panics() {
    matmul_slices(&[1, 2, 3], &[1, 2], 1, 2, 1);
}
