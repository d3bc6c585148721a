//! Benchmarks of the ring kernels.
//!
//! `cargo bench --bench ring -- matmul` measures square matrix products over Z_2^64 with the
//! dispatched (fastest available) kernel; throughput is reported in multiply-adds (m·k·n), so
//! criterion prints "Gelem/s" = G multiply-adds per second.
//!
//! `cargo bench --bench ring -- conv` measures the convolutions of Wav2Letter (1 s of audio) and
//! ResNet-18 (224²), and `-- narrow` the matmul shapes they lower to (a weight times a narrow
//! im2col matrix), also in multiply-adds per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use testbed::ring::matmul::{matmul_into, matmul_slices};
use testbed::ring::{Conv1dParams, Conv2dParams, RingTensor};

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

/// Weight × im2col shapes of the models' convolutions (m = output channels, k = C·kernel, n =
/// output positions): few columns, so each weight value serves only a few register tiles.
fn bench_narrow(c: &mut Criterion) {
    testbed::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("narrow");
    group.sample_size(10);
    for &(m, k, n) in &[
        (2000usize, 8000usize, 51usize),
        (2000, 2000, 51),
        (512, 4608, 49),
        (256, 2304, 196),
    ] {
        let (a, b) = (words(m * k, 1), words(k * n, 2));
        let mut out = vec![0u64; m * n];
        group.throughput(Throughput::Elements((m * k * n) as u64));
        group.bench_function(BenchmarkId::new("matmul", format!("{m}x{k}x{n}")), |bench| {
            bench.iter(|| matmul_into(black_box(&a), black_box(&b), &mut out, m, k, n))
        });
    }
    group.finish();
}

fn tensor(shape: &[usize], seed: u64) -> RingTensor {
    RingTensor::from_vec(shape, words(shape.iter().product(), seed)).unwrap()
}

/// The convolutions of Wav2Letter (1x40x100) and ResNet-18 (1x3x224x224), im2col included.
fn bench_conv(c: &mut Criterion) {
    testbed::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    // (C, L, O, k, stride, padding)
    for &(ci, l, o, k, s, p) in &[
        (40usize, 100usize, 250usize, 48usize, 2usize, 23usize),
        (250, 50, 250, 7, 1, 3),
        (250, 50, 2000, 32, 1, 16),
        (2000, 51, 2000, 1, 1, 0),
    ] {
        let (x, w) = (tensor(&[1, ci, l], 1), tensor(&[o, ci, k], 2));
        let params = Conv1dParams {
            stride: s,
            padding: p,
            dilation: 1,
            groups: 1,
        };
        let lo = (l + 2 * p - k) / s + 1;
        group.throughput(Throughput::Elements((o * ci * k * lo) as u64));
        group.bench_function(
            BenchmarkId::new("wav2letter", format!("{ci}x{l}-{o}k{k}s{s}")),
            |bench| bench.iter(|| black_box(&x).conv1d(black_box(&w), &params).unwrap()),
        );
    }
    // (C, H, O, k, stride, padding)
    for &(ci, h, o, k, s, p) in &[
        (3usize, 224usize, 64usize, 7usize, 2usize, 3usize),
        (64, 56, 64, 3, 1, 1),
        (128, 28, 128, 3, 1, 1),
        (256, 14, 256, 3, 1, 1),
        (512, 7, 512, 3, 1, 1),
    ] {
        let (x, w) = (tensor(&[1, ci, h, h], 1), tensor(&[o, ci, k, k], 2));
        let params = Conv2dParams {
            stride: [s, s],
            padding: [p, p],
            dilation: [1, 1],
            groups: 1,
        };
        let ho = (h + 2 * p - k) / s + 1;
        group.throughput(Throughput::Elements((o * ci * k * k * ho * ho) as u64));
        group.bench_function(BenchmarkId::new("resnet18", format!("{ci}x{h}-{o}k{k}s{s}")), |bench| {
            bench.iter(|| black_box(&x).conv2d(black_box(&w), &params).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_matmul, bench_narrow, bench_conv);
criterion_main!(benches);
