//! Optimisers: SGD (momentum, dampening-free PyTorch form, weight decay, Nesterov, CrypTen's
//! gradient threshold) for every backend, and Adam for the plaintext backend.
//!
//! SGD step, per parameter p with gradient g (PyTorch's `torch.optim.SGD`):
//! g ← g + λ·p; v ← μ·v + g (v = g at the first step); g ← g + μ·v (Nesterov) or v; p ← p − η·g.
//! With a threshold t, elements with |g| > t are zeroed first (CrypTen's `grad_threshold`,
//! which guards training against the rare wrap-around error of a truncation).
//!
//! Private cost per step: each of the (at most) four scalings is one batched truncation for all
//! parameters (0 rounds with local 2-party truncation, 1 round between the parties otherwise: 2
//! on the critical path with a dealer's truncation mask); the threshold costs
//! one MSB circuit on 2n and one bit product per parameter tensor (see `backends`).

use super::AutodiffBackend;
use crate::error::Result;
use crate::nn::tensor::F32Tensor;
use std::collections::{BTreeMap, HashMap};

/// Stochastic gradient descent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    /// Zero gradient elements whose magnitude exceeds this.
    pub grad_threshold: Option<f64>,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            grad_threshold: None,
        }
    }

    /// Updates `params` in place from `grads` (parameters without a gradient are left alone);
    /// `velocity` holds the momentum buffers between steps.
    pub fn step<B: AutodiffBackend>(
        &self,
        b: &mut B,
        params: &mut BTreeMap<String, B::T>,
        grads: &HashMap<String, B::T>,
        velocity: &mut HashMap<String, B::T>,
    ) -> Result<()> {
        let names: Vec<String> = params.keys().filter(|k| grads.contains_key(*k)).cloned().collect();
        let mut g: Vec<B::T> = Vec::with_capacity(names.len());
        for n in &names {
            let gi = &grads[n];
            g.push(match self.grad_threshold {
                Some(t) => b.zero_above(gi, t)?,
                None => gi.clone(),
            });
        }
        if self.weight_decay != 0.0 {
            let items: Vec<(&B::T, f64)> = names.iter().map(|n| (&params[n], self.weight_decay)).collect();
            let decay = b.scale_many(&items)?;
            g = g.iter().zip(&decay).map(|(a, d)| b.add(a, d)).collect::<Result<_>>()?;
        }
        if self.momentum != 0.0 {
            let old: Vec<(usize, &B::T)> = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| velocity.get(n).map(|v| (i, v)))
                .collect();
            let items: Vec<(&B::T, f64)> = old.iter().map(|(_, v)| (*v, self.momentum)).collect();
            let kept = b.scale_many(&items)?;
            let mut v: Vec<B::T> = g.clone();
            for ((i, _), k) in old.iter().zip(kept) {
                v[*i] = b.add(&k, &g[*i])?;
            }
            if self.nesterov {
                let items: Vec<(&B::T, f64)> = v.iter().map(|x| (x, self.momentum)).collect();
                let mv = b.scale_many(&items)?;
                g = g.iter().zip(&mv).map(|(a, m)| b.add(a, m)).collect::<Result<_>>()?;
            } else {
                g = v.clone();
            }
            for (n, vi) in names.iter().zip(v) {
                velocity.insert(n.clone(), vi);
            }
        }
        let lr = self.lr;
        let items: Vec<(&mut B::T, &B::T, f64)> = params
            .iter_mut()
            .filter(|(k, _)| grads.contains_key(*k))
            .zip(&g)
            .map(|((_, p), gi)| (p, gi, lr))
            .collect();
        b.sub_scaled_many(items)?;
        Ok(())
    }
}

/// Adam (Kingma and Ba), plaintext only: PyTorch's defaults β = (0.9, 0.999), ε = 1e−8, and
/// L2 weight decay added to the gradient.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    t: i32,
    m: HashMap<String, Vec<f32>>,
    v: HashMap<String, Vec<f32>>,
}

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's defaults otherwise.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 0,
            m: HashMap::new(),
            v: HashMap::new(),
        }
    }

    /// One step on f32 parameters.
    pub fn step(&mut self, params: &mut BTreeMap<String, F32Tensor>, grads: &HashMap<String, F32Tensor>) {
        self.t += 1;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let c1 = 1.0 - self.beta1.powi(self.t);
        let c2 = 1.0 - self.beta2.powi(self.t);
        let step = (self.lr * c2.sqrt() / c1) as f32;
        let (eps, wd) = ((self.eps * c2.sqrt()) as f32, self.weight_decay as f32);
        for (name, p) in params.iter_mut() {
            let Some(g) = grads.get(name) else { continue };
            let n = p.numel();
            let m = self.m.entry(name.clone()).or_insert_with(|| vec![0.0; n]);
            let v = self.v.entry(name.clone()).or_insert_with(|| vec![0.0; n]);
            for (i, w) in p.data_mut().iter_mut().enumerate() {
                let gi = g.data()[i] + wd * *w;
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                *w -= step * m[i] / (v[i].sqrt() + eps);
            }
        }
    }
}
