//! Measures the share PRG's throughput (AES-128-CTR), one and all threads.
use std::time::Instant;
use testbed::protocol::prg::{Prg, seed_from_u64};

fn main() {
    let mut buf = vec![0u64; 1 << 22]; // 32 MiB
    let mut prg = Prg::new(&seed_from_u64(1, 1));
    for _ in 0..3 {
        let t = Instant::now();
        prg.fill(&mut buf);
        let s = t.elapsed().as_secs_f64();
        println!("fill 32 MiB: {:.2} ms, {:.2} GB/s", s * 1e3, 32.0 * 1.048576 / 1e3 / s);
    }
}
