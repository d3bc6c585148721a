//! Plaintext training speed of the zoo's CNNs: seconds per SGD step (forward, loss gradient,
//! backward, update) on random data, for the experiments' sizes.
//!
//!     cargo run --release --example train_step_speed [STEPS]
//!
//! LeNet on 1×28×28 images (batch 64, cross-entropy) and Wav2Letter on 40×100 MFCC frames
//! (batch 4, per-frame negative log-likelihood of random one-hot targets).

use std::time::Instant;
use testbed::data::model::ModelSource;
use testbed::nn::autograd::{Loss, Sgd};
use testbed::nn::exec::Value;
use testbed::nn::plain::PlainBackend;
use testbed::nn::tensor::F32Tensor;
use testbed::train::{Model, step};

fn random(shape: &[usize], seed: u32) -> F32Tensor {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32)
        .collect();
    F32Tensor::from_vec(shape, v).unwrap()
}

/// One-hot targets along axis 1 of `shape`.
fn one_hot(shape: &[usize]) -> F32Tensor {
    let (n, c) = (shape[0], shape[1]);
    let rest: usize = shape[2..].iter().product();
    let mut t = F32Tensor::zeros(shape);
    for i in 0..n {
        for j in 0..rest {
            let class = (i * 7 + j * 3) % c;
            t.data_mut()[(i * c + class) * rest + j] = 1.0;
        }
    }
    t
}

fn time(name: &str, input: &[usize], loss: Loss, steps: usize) {
    let graph = ModelSource::new(name, 1)
        .with_classes(10)
        .load_unprepared(input)
        .unwrap();
    let x = random(input, 1);
    let y = testbed::train::infer(&graph, &x).unwrap();
    let t = one_hot(y.shape());
    let mut params = std::collections::BTreeMap::new();
    for k in testbed::nn::autograd::trainable_params(&graph) {
        if let testbed::nn::graph::Const::F32(w) = &graph.initializers[&k] {
            params.insert(k, w.clone());
        }
    }
    let buffers: std::collections::BTreeMap<String, Value<F32Tensor>> = Default::default();
    let mut model = Model::new(&graph, params, buffers);
    let sgd = Sgd::new(0.01);
    let mut b = PlainBackend;
    let mut walls = Vec::new();
    for _ in 0..steps + 1 {
        let t0 = Instant::now();
        step(&mut b, &graph, &mut model, x.clone(), &t, loss, Some(&sgd), false).unwrap();
        walls.push(t0.elapsed().as_secs_f64());
    }
    walls.remove(0);
    walls.sort_by(f64::total_cmp);
    let med = walls[walls.len() / 2];
    println!(
        "{name} input {input:?}: {med:.4} s per step (median of {steps}), {:.3} ms per sample",
        1e3 * med / input[0] as f64
    );
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    testbed::alloc::keep_freed_memory();
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    time("lenet", &[64, 1, 28, 28], Loss::CrossEntropy, steps);
    time("wav2letter", &[4, 40, 100], Loss::Nll, steps);
}
