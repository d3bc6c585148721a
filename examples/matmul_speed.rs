//! Ring matmul throughput (G multiply-adds per second) at 1024³, median of 5.
use std::time::Instant;
use testbed::ring::RingTensor;

fn main() {
    let n = 1024;
    let a = RingTensor::from_vec(
        &[n, n],
        (0..n * n)
            .map(|i| (i as u64).wrapping_mul(0x9e3779b97f4a7c15))
            .collect(),
    )
    .unwrap();
    let b = RingTensor::from_vec(
        &[n, n],
        (0..n * n)
            .map(|i| (i as u64).wrapping_mul(0xc2b2ae3d27d4eb4f))
            .collect(),
    )
    .unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let c = a.matmul(&b).unwrap();
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(c);
    }
    times.sort_by(f64::total_cmp);
    let s = times[2];
    println!(
        "matmul {n}^3: {:.1} ms, {:.1} G multiply-adds/s",
        s * 1e3,
        (n * n * n) as f64 / s / 1e9
    );
}
