//! The model zoo: the architectures of the CrypTen comparison, built as graphs with tensor names
//! that match torchvision / torchaudio, so exported PyTorch weights load directly
//! (see [`super::weights`]). Random weights are uniform in ±1/√fan_in (PyTorch's default bound),
//! which keeps activations well inside the fixed-point range; batch-norm layers start as identity
//! (γ = 1, β = 0, mean 0, var 1) and are folded into the convolution before running.

use super::graph::{Const, DType, Graph, Node, Op, ValueInfo};
use super::tensor::F32Tensor;
use crate::error::{Error, Result};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The zoo's model names.
pub const MODELS: [&str; 10] = [
    "lenet",
    "mnist_cnn",
    "resnet18",
    "resnet34",
    "resnet50",
    "wav2letter",
    "wav2letter_kws",
    "textcls",
    "transformer",
    "mlp",
];

/// Builds zoo model `name` with random weights from `seed`, for inputs of shape `input` (used for
/// shape-dependent sizes such as the classifier input of LeNet).
pub fn build(name: &str, input: &[usize], seed: u64) -> Result<Graph> {
    let mut b = Builder::new(seed);
    match name {
        "lenet" => lenet(&mut b, input)?,
        "mnist_cnn" => mnist_cnn(&mut b, input)?,
        "resnet18" => resnet(&mut b, input, &[2, 2, 2, 2], false)?,
        "resnet34" => resnet(&mut b, input, &[3, 4, 6, 3], false)?,
        "resnet50" => resnet(&mut b, input, &[3, 4, 6, 3], true)?,
        "wav2letter" => wav2letter(&mut b, input, 40)?,
        "wav2letter_kws" => wav2letter_kws(&mut b, input, 10)?,
        "textcls" => textcls(&mut b, input)?,
        "transformer" => transformer(&mut b, input)?,
        "mlp" => mlp(&mut b, input)?,
        _ => {
            return Err(Error::invalid(
                "--model",
                format!("unknown zoo model `{name}` (known: {})", MODELS.join(", ")),
            ));
        }
    }
    Ok(b.graph)
}

/// Incremental graph construction with named parameters.
pub struct Builder {
    pub graph: Graph,
    rng: Xoshiro256PlusPlus,
    count: usize,
}

impl Builder {
    /// An empty graph; parameters drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            graph: Graph::default(),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            count: 0,
        }
    }

    fn fresh(&mut self, op: &str) -> String {
        self.count += 1;
        format!("{op}_{}", self.count)
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, dtype: DType, shape: &[usize]) -> String {
        self.graph.inputs.push(ValueInfo {
            name: name.into(),
            dtype,
            shape: shape.iter().map(|&d| Some(d)).collect(),
        });
        name.into()
    }

    /// A parameter uniform in ±bound.
    pub fn param(&mut self, name: &str, shape: &[usize], bound: f32) -> String {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| ((self.rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound)
            .collect();
        self.constant(name, F32Tensor::from_vec(shape, data).expect("sized"))
    }

    /// A named constant.
    pub fn constant(&mut self, name: &str, t: F32Tensor) -> String {
        self.graph.initializers.insert(name.into(), Const::F32(t));
        name.into()
    }

    /// An integer constant (shapes, axes).
    pub fn ints(&mut self, data: &[i64]) -> String {
        let name = self.fresh("const");
        self.graph.initializers.insert(
            name.clone(),
            Const::I64 {
                shape: vec![data.len()],
                data: data.to_vec(),
            },
        );
        name
    }

    /// Appends a node; returns its (single) output.
    pub fn node(&mut self, op: Op, inputs: &[&str]) -> String {
        let name = self.fresh(op.onnx_name());
        let out = name.clone();
        self.graph.nodes.push(Node {
            name,
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.clone()],
            relu_after: false,
        });
        out
    }

    /// Marks a graph output.
    pub fn output(&mut self, name: &str) {
        self.graph.outputs.push(name.into());
    }

    /// Conv (1-D or 2-D by `k.len()`) with weight `{prefix}.weight` and optional bias.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &str,
        prefix: &str,
        cin: usize,
        cout: usize,
        k: &[usize],
        stride: usize,
        pad: usize,
        groups: usize,
        bias: bool,
    ) -> String {
        let mut wshape = vec![cout, cin / groups];
        wshape.extend_from_slice(k);
        let fan_in = (cin / groups) * k.iter().product::<usize>();
        let bound = 1.0 / (fan_in as f32).sqrt();
        let w = self.param(&format!("{prefix}.weight"), &wshape, bound);
        let mut inputs = vec![x.to_string(), w];
        if bias {
            inputs.push(self.param(&format!("{prefix}.bias"), &[cout], bound));
        }
        let s = k.len();
        let op = Op::Conv {
            strides: vec![stride; s],
            pads: vec![pad; 2 * s],
            dilations: vec![1; s],
            group: groups,
        };
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node(op, &refs)
    }

    /// Eval-mode batch norm with identity statistics, named as torchvision does.
    pub fn bn(&mut self, x: &str, prefix: &str, c: usize) -> String {
        let ones = F32Tensor::from_vec(&[c], vec![1.0; c]).expect("sized");
        let zeros = F32Tensor::zeros(&[c]);
        let g = self.constant(&format!("{prefix}.weight"), ones.clone());
        let b = self.constant(&format!("{prefix}.bias"), zeros.clone());
        let m = self.constant(&format!("{prefix}.running_mean"), zeros);
        let v = self.constant(&format!("{prefix}.running_var"), ones);
        self.node(Op::BatchNormalization { epsilon: 1e-5 }, &[x, &g, &b, &m, &v])
    }

    /// y = x·Wᵀ + b with weight `{prefix}.weight` [out, in] (PyTorch Linear).
    pub fn linear(&mut self, x: &str, prefix: &str, fin: usize, fout: usize) -> String {
        let bound = 1.0 / (fin as f32).sqrt();
        let w = self.param(&format!("{prefix}.weight"), &[fout, fin], bound);
        let b = self.param(&format!("{prefix}.bias"), &[fout], bound);
        self.node(
            Op::Gemm {
                alpha: 1.0,
                beta: 1.0,
                trans_a: false,
                trans_b: true,
            },
            &[x, &w, &b],
        )
    }

    /// ReLU.
    pub fn relu(&mut self, x: &str) -> String {
        self.node(Op::Relu, &[x])
    }
}

fn rank(input: &[usize], want: usize, model: &str) -> Result<()> {
    if input.len() != want {
        return Err(Error::invalid(
            "--input-shape",
            format!("{model} takes a rank-{want} input, got {input:?}"),
        ));
    }
    Ok(())
}

/// LeNet as in the CrypTen comparison: Conv(1→16,5)-ReLU-AvgPool2-Conv(16→16,5)-ReLU-AvgPool2-
/// Flatten-Linear(256,100)-ReLU-Linear(100,10), for 1×28×28 images.
fn lenet(b: &mut Builder, input: &[usize]) -> Result<()> {
    rank(input, 4, "lenet")?;
    let x = b.input("input", DType::F32, input);
    let pool = |b: &mut Builder, x: &str| {
        b.node(
            Op::AveragePool {
                kernel: vec![2, 2],
                strides: vec![2, 2],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                ceil_mode: false,
                count_include_pad: true,
            },
            &[x],
        )
    };
    let h = b.conv(&x, "conv1", input[1], 16, &[5, 5], 1, 0, 1, true);
    let h = b.relu(&h);
    let h = pool(b, &h);
    let h = b.conv(&h, "conv2", 16, 16, &[5, 5], 1, 0, 1, true);
    let h = b.relu(&h);
    let h = pool(b, &h);
    let (hh, ww) = (((input[2] - 4) / 2 - 4) / 2, ((input[3] - 4) / 2 - 4) / 2);
    let h = b.node(Op::Flatten { axis: 1 }, &[&h]);
    let h = b.linear(&h, "fc1", 16 * hh * ww, 100);
    let h = b.relu(&h);
    let y = b.linear(&h, "fc2", 100, 10);
    b.output(&y);
    Ok(())
}

/// The pretrained MNIST CNN of PyPI `digit-recognizer-py` (weights: `testbed::data::mnist`), with
/// its state-dict names: three blocks Conv3×3 (padding 1) → ReLU → MaxPool2 with 32, 64 and 128
/// channels (`conv_layers.{0,3,6}`; 28 → 14 → 7 → 3), Flatten, Linear(1152, 256) → ReLU →
/// Linear(256, 10) (`fc_layers.{0,2}`). Inputs are 1×28×28 images normalised as
/// (x/255 − 0.1307)/0.3081.
fn mnist_cnn(b: &mut Builder, input: &[usize]) -> Result<()> {
    rank(input, 4, "mnist_cnn")?;
    if input[1..] != [1, 28, 28] {
        return Err(Error::invalid(
            "--input-shape",
            format!("mnist_cnn takes Nx1x28x28 images, got {input:?}"),
        ));
    }
    let mut h = b.input("input", DType::F32, input);
    let mut cin = 1;
    for (i, cout) in [32, 64, 128].into_iter().enumerate() {
        h = b.conv(&h, &format!("conv_layers.{}", 3 * i), cin, cout, &[3, 3], 1, 1, 1, true);
        h = b.relu(&h);
        h = b.node(
            Op::MaxPool {
                kernel: vec![2, 2],
                strides: vec![2, 2],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                ceil_mode: false,
            },
            &[&h],
        );
        cin = cout;
    }
    let h = b.node(Op::Flatten { axis: 1 }, &[&h]);
    let h = b.linear(&h, "fc_layers.0", 128 * 3 * 3, 256);
    let h = b.relu(&h);
    let y = b.linear(&h, "fc_layers.2", 256, 10);
    b.output(&y);
    Ok(())
}

/// A small MLP (784 → 128 → 128 → 10) on flattened inputs.
fn mlp(b: &mut Builder, input: &[usize]) -> Result<()> {
    rank(input, 2, "mlp")?;
    let x = b.input("input", DType::F32, input);
    let h = b.linear(&x, "fc1", input[1], 128);
    let h = b.relu(&h);
    let h = b.linear(&h, "fc2", 128, 128);
    let h = b.relu(&h);
    let y = b.linear(&h, "fc3", 128, 10);
    b.output(&y);
    Ok(())
}

/// torchvision ResNet-18/34 (basic blocks) or ResNet-50 (bottlenecks), 1000 classes.
fn resnet(b: &mut Builder, input: &[usize], blocks: &[usize; 4], bottleneck: bool) -> Result<()> {
    rank(input, 4, "resnet")?;
    let x = b.input("input", DType::F32, input);
    let h = b.conv(&x, "conv1", input[1], 64, &[7, 7], 2, 3, 1, false);
    let h = b.bn(&h, "bn1", 64);
    let h = b.relu(&h);
    let mut h = b.node(
        Op::MaxPool {
            kernel: vec![3, 3],
            strides: vec![2, 2],
            pads: vec![1; 4],
            dilations: vec![1, 1],
            ceil_mode: false,
        },
        &[&h],
    );
    let expansion = if bottleneck { 4 } else { 1 };
    let mut cin = 64;
    for (stage, &n) in blocks.iter().enumerate() {
        let width = 64 << stage;
        for i in 0..n {
            let stride = if i == 0 && stage > 0 { 2 } else { 1 };
            let p = format!("layer{}.{i}", stage + 1);
            let cout = width * expansion;
            let mut y = if bottleneck {
                let y = b.conv(&h, &format!("{p}.conv1"), cin, width, &[1, 1], 1, 0, 1, false);
                let y = b.bn(&y, &format!("{p}.bn1"), width);
                let y = b.relu(&y);
                let y = b.conv(&y, &format!("{p}.conv2"), width, width, &[3, 3], stride, 1, 1, false);
                let y = b.bn(&y, &format!("{p}.bn2"), width);
                let y = b.relu(&y);
                let y = b.conv(&y, &format!("{p}.conv3"), width, cout, &[1, 1], 1, 0, 1, false);
                b.bn(&y, &format!("{p}.bn3"), cout)
            } else {
                let y = b.conv(&h, &format!("{p}.conv1"), cin, width, &[3, 3], stride, 1, 1, false);
                let y = b.bn(&y, &format!("{p}.bn1"), width);
                let y = b.relu(&y);
                let y = b.conv(&y, &format!("{p}.conv2"), width, width, &[3, 3], 1, 1, 1, false);
                b.bn(&y, &format!("{p}.bn2"), width)
            };
            let shortcut = if stride != 1 || cin != cout {
                let s = b.conv(
                    &h,
                    &format!("{p}.downsample.0"),
                    cin,
                    cout,
                    &[1, 1],
                    stride,
                    0,
                    1,
                    false,
                );
                b.bn(&s, &format!("{p}.downsample.1"), cout)
            } else {
                h.clone()
            };
            y = b.node(Op::Add, &[&y, &shortcut]);
            h = b.relu(&y);
            cin = cout;
        }
    }
    let h = b.node(Op::GlobalAveragePool, &[&h]);
    let h = b.node(Op::Flatten { axis: 1 }, &[&h]);
    let y = b.linear(&h, "fc", cin, 1000);
    b.output(&y);
    Ok(())
}

/// torchaudio's Wav2Letter acoustic model on `[N, features, T]` MFCC frames, 40 classes,
/// log-softmax over classes.
fn wav2letter(b: &mut Builder, input: &[usize], classes: usize) -> Result<()> {
    rank(input, 3, "wav2letter")?;
    let x = b.input("input", DType::F32, input);
    let mut h = b.conv(&x, "acoustic_model.0", input[1], 250, &[48], 2, 23, 1, true);
    h = b.relu(&h);
    for i in 0..7 {
        h = b.conv(
            &h,
            &format!("acoustic_model.{}", 2 + 2 * i),
            250,
            250,
            &[7],
            1,
            3,
            1,
            true,
        );
        h = b.relu(&h);
    }
    h = b.conv(&h, "acoustic_model.16", 250, 2000, &[32], 1, 16, 1, true);
    h = b.relu(&h);
    h = b.conv(&h, "acoustic_model.18", 2000, 2000, &[1], 1, 0, 1, true);
    h = b.relu(&h);
    h = b.conv(&h, "acoustic_model.20", 2000, classes, &[1], 1, 0, 1, true);
    let y = b.node(Op::LogSoftmax { axis: 1 }, &[&h]);
    b.output(&y);
    Ok(())
}

/// A narrow Wav2Letter for keyword spotting on `[N, features, T]` MFCC frames: torchaudio's
/// layout (a strided wide convolution, a stack of k = 7 convolutions, a wide convolution, then
/// two 1×1 convolutions, ReLU between, names `acoustic_model.{i}`) at 64/128 channels instead of
/// 250/2000, so it trains on a laptop in minutes; the per-frame class scores are averaged over
/// time (GlobalAveragePool, then Flatten) into `[N, classes]` logits, the shape training and
/// top-1 accuracy take.
fn wav2letter_kws(b: &mut Builder, input: &[usize], classes: usize) -> Result<()> {
    rank(input, 3, "wav2letter_kws")?;
    let (c, wide) = (64, 128);
    let x = b.input("input", DType::F32, input);
    let mut h = b.conv(&x, "acoustic_model.0", input[1], c, &[11], 2, 5, 1, true);
    h = b.relu(&h);
    for i in 0..3 {
        h = b.conv(&h, &format!("acoustic_model.{}", 2 + 2 * i), c, c, &[7], 1, 3, 1, true);
        h = b.relu(&h);
    }
    h = b.conv(&h, "acoustic_model.8", c, wide, &[11], 1, 5, 1, true);
    h = b.relu(&h);
    h = b.conv(&h, "acoustic_model.10", wide, wide, &[1], 1, 0, 1, true);
    h = b.relu(&h);
    h = b.conv(&h, "acoustic_model.12", wide, classes, &[1], 1, 0, 1, true);
    let h = b.node(Op::GlobalAveragePool, &[&h]);
    let y = b.node(Op::Flatten { axis: 1 }, &[&h]);
    b.output(&y);
    Ok(())
}

/// Text classifier: token ids `[N, T]` → embedding (vocab 1000, dim 64) → mean over tokens →
/// Linear(64, 64) → ReLU → Linear(64, 2).
fn textcls(b: &mut Builder, input: &[usize]) -> Result<()> {
    rank(input, 2, "textcls")?;
    let ids = b.input("input", DType::I64, input);
    let table = b.param("embedding.weight", &[1000, 64], 1.0);
    let e = b.node(Op::Gather { axis: 0 }, &[&table, &ids]);
    let m = b.node(
        Op::ReduceMean {
            axes: vec![1],
            keepdims: false,
        },
        &[&e],
    );
    let h = b.linear(&m, "fc1", 64, 64);
    let h = b.relu(&h);
    let y = b.linear(&h, "fc2", 64, 2);
    b.output(&y);
    Ok(())
}

/// A small transformer encoder on `[N, T, 64]`: two post-norm layers (4-head self-attention,
/// LayerNorm, GELU feed-forward of width 128), mean over tokens, Linear(64, 2).
fn transformer(b: &mut Builder, input: &[usize]) -> Result<()> {
    rank(input, 3, "transformer")?;
    let (n, t, d) = (input[0], input[1], input[2]);
    let heads = 4;
    if d % heads != 0 {
        return Err(Error::invalid(
            "--input-shape",
            format!("transformer width {d} is not divisible by {heads} heads"),
        ));
    }
    let dh = d / heads;
    let x = b.input("input", DType::F32, input);
    let mut h = x;
    for l in 0..2 {
        let p = format!("layers.{l}");
        let flat_shape = b.ints(&[(n * t) as i64, d as i64]);
        let flat = b.node(Op::Reshape, &[&h, &flat_shape]);
        let split = |b: &mut Builder, name: &str| {
            let y = b.linear(&flat, &format!("{p}.self_attn.{name}"), d, d);
            let s = b.ints(&[n as i64, t as i64, heads as i64, dh as i64]);
            let y = b.node(Op::Reshape, &[&y, &s]);
            b.node(Op::Transpose { perm: vec![0, 2, 1, 3] }, &[&y])
        };
        let (q, k, v) = (split(b, "q_proj"), split(b, "k_proj"), split(b, "v_proj"));
        let kt = b.node(Op::Transpose { perm: vec![0, 1, 3, 2] }, &[&k]);
        let scores = b.node(Op::MatMul, &[&q, &kt]);
        let scale = b.constant(
            &format!("{p}.scale"),
            F32Tensor::from_vec(&[1], vec![1.0 / (dh as f32).sqrt()]).expect("sized"),
        );
        let scores = b.node(Op::Mul, &[&scores, &scale]);
        let attn = b.node(Op::Softmax { axis: -1 }, &[&scores]);
        let ctx = b.node(Op::MatMul, &[&attn, &v]);
        let ctx = b.node(Op::Transpose { perm: vec![0, 2, 1, 3] }, &[&ctx]);
        let flat_shape2 = b.ints(&[(n * t) as i64, d as i64]);
        let ctx = b.node(Op::Reshape, &[&ctx, &flat_shape2]);
        let o = b.linear(&ctx, &format!("{p}.self_attn.out_proj"), d, d);
        let r = b.node(Op::Add, &[&flat, &o]);
        let g1 = b.constant(
            &format!("{p}.norm1.weight"),
            F32Tensor::from_vec(&[d], vec![1.0; d]).expect("sized"),
        );
        let b1 = b.constant(&format!("{p}.norm1.bias"), F32Tensor::zeros(&[d]));
        let r = b.node(
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-5,
            },
            &[&r, &g1, &b1],
        );
        let f = b.linear(&r, &format!("{p}.linear1"), d, 2 * d);
        let f = b.node(Op::Gelu { tanh: false }, &[&f]);
        let f = b.linear(&f, &format!("{p}.linear2"), 2 * d, d);
        let r2 = b.node(Op::Add, &[&r, &f]);
        let g2 = b.constant(
            &format!("{p}.norm2.weight"),
            F32Tensor::from_vec(&[d], vec![1.0; d]).expect("sized"),
        );
        let b2 = b.constant(&format!("{p}.norm2.bias"), F32Tensor::zeros(&[d]));
        let r2 = b.node(
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-5,
            },
            &[&r2, &g2, &b2],
        );
        let back = b.ints(&[n as i64, t as i64, d as i64]);
        h = b.node(Op::Reshape, &[&r2, &back]);
    }
    let m = b.node(
        Op::ReduceMean {
            axes: vec![1],
            keepdims: false,
        },
        &[&h],
    );
    let y = b.linear(&m, "classifier", d, 2);
    b.output(&y);
    Ok(())
}
