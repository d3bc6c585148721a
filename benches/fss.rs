//! Benchmarks of the function-secret-sharing core (`cargo bench --bench fss`): DReLU key
//! generation (the dealer) and evaluation (one party) over 2^16 elements, at the exact 64-bit
//! window and at a 32-bit window; throughput in elements per second. Per element, evaluation
//! hashes k − 1 − 7 + 1 AES blocks and generation 4(k − 8) + 2. Also the one-round ReLU's
//! ring-payload DCF (`relu_one/…`): 2(k − 1) + 1 blocks to evaluate, 8(k − 1) + 2 to generate.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use testbed::fss::{drelu, relu_one_round};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// splitmix64 words from a counter: a deterministic stand-in for the dealer's PRG.
fn rng(seed: u64) -> impl FnMut(&mut [u64]) {
    let mut s = seed;
    move |out: &mut [u64]| {
        for o in out {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *o = z ^ (z >> 31);
        }
    }
}

fn bench_drelu(c: &mut Criterion) {
    let n = 1 << 16;
    let mut group = c.benchmark_group("drelu");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    let mut rand = rng(1);
    let mut masks = vec![0u64; n];
    rand(&mut masks);
    let mut xhat = vec![0u64; n];
    rand(&mut xhat);
    for window in [32u32, 64] {
        group.bench_with_input(BenchmarkId::new("keygen", window), &window, |b, &k| {
            b.iter(|| black_box(drelu::keygen(&masks, k, &mut rand)))
        });
        let (k0, _) = drelu::keygen(&masks, window, &mut rand);
        group.bench_with_input(BenchmarkId::new("eval", window), &window, |b, _| {
            b.iter(|| black_box(drelu::eval(&k0, &xhat)))
        });
    }
    group.finish();
}

fn bench_relu_one_round(c: &mut Criterion) {
    let n = 1 << 16;
    let mut group = c.benchmark_group("relu_one");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    let mut rand = rng(2);
    let mut masks = vec![0u64; n];
    rand(&mut masks);
    let mut xhat = vec![0u64; n];
    rand(&mut xhat);
    for window in [32u32, 64] {
        group.bench_with_input(BenchmarkId::new("keygen", window), &window, |b, &k| {
            b.iter(|| black_box(relu_one_round::keygen_for_masks(&masks, k, &mut rand)))
        });
        let (k0, _) = relu_one_round::keygen_for_masks(&masks, window, &mut rand);
        group.bench_with_input(BenchmarkId::new("eval", window), &window, |b, _| {
            b.iter(|| black_box(relu_one_round::finish(&k0, &xhat)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_drelu, bench_relu_one_round);
criterion_main!(benches);
