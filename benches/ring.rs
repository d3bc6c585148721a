//! Benchmarks of the ring kernels.
//!
//! `cargo bench --bench ring -- matmul` measures square matrix products over Z_2^64 with the
//! dispatched (fastest available) kernel; throughput is reported in multiply-adds (m·k·n), so
//! criterion prints "Gelem/s" = G multiply-adds per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use testbed::ring::matmul::{matmul_into, matmul_slices};

/// The binary's allocator (mimalloc keeping freed pages), so allocating benchmarks measure what
/// the `testbed` command would see rather than the kernel zeroing fresh pages.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic full-width pseudo-random words (splitmix64), so every run multiplies the same data.
fn words(len: usize, seed: u64) -> Vec<u64> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect()
}

fn bench_matmul(c: &mut Criterion) {
    testbed::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    for &s in &[64usize, 256, 512, 1024] {
        let (a, b) = (words(s * s, 1), words(s * s, 2));
        group.throughput(Throughput::Elements((s * s * s) as u64));
        if s >= 512 {
            group.measurement_time(std::time::Duration::from_secs(4));
        } else {
            group.measurement_time(std::time::Duration::from_secs(2));
        }
        group.bench_with_input(BenchmarkId::new("square", s), &s, |bench, &s| {
            bench.iter(|| matmul_slices(black_box(&a), black_box(&b), s, s, s))
        });
        // The accumulating form into a reused output buffer (no allocation).
        let mut out = vec![0u64; s * s];
        group.bench_with_input(BenchmarkId::new("square_into", s), &s, |bench, &s| {
            bench.iter(|| matmul_into(black_box(&a), black_box(&b), &mut out, s, s, s))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_matmul);
criterion_main!(benches);
