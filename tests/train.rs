//! Autograd: every backward rule against finite differences on the plaintext backend, and private
//! gradients against plaintext gradients on 2pc-ttp and 3pc-replicated.
//!
//! Finite differences: central, step h = 1e−2 on the parameter (1e−3 for the kinked ops), the
//! forward in f32 and the loss L = Σ w·y (fixed random w) summed in f64. Tolerance:
//! |analytic − numeric| ≤ 5e−3 + 2e−2·|numeric|, which f32 rounding (≈ 1e−7·|L|/h) and the
//! truncation error of the difference (≈ h²·|f'''|) stay well inside.

use crate::common::{random_reals, run};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use testbed::Result;
use testbed::nn::autograd::{Ctx, MapCache, backward, forward, trainable_params};
use testbed::nn::exec::{Backend, Value};
use testbed::nn::graph::{Const, DType, Graph, Op, PadKind};
use testbed::nn::plain::PlainBackend;
use testbed::nn::private::PrivateBackend;
use testbed::nn::tensor::F32Tensor;
use testbed::nn::zoo::Builder;
use testbed::protocol::{Job, Protocol, ProtocolConfig};
use testbed::ring::{decode, encode};

fn tensor(shape: &[usize], lo: f64, hi: f64, seed: u64) -> F32Tensor {
    let n = shape.iter().product();
    F32Tensor::from_vec(shape, random_reals(n, lo, hi, seed).iter().map(|&v| v as f32).collect()).unwrap()
}

/// A test graph: input `x` plus a trainable zero `dx` added to it (so ∂/∂dx = ∂/∂x).
struct Case {
    name: &'static str,
    graph: Graph,
    x: Value<F32Tensor>,
    step: f64,
}

fn with_input(b: &mut Builder, shape: &[usize]) -> String {
    let x = b.input("input", DType::F32, shape);
    let dx = b.constant("dx", F32Tensor::zeros(shape));
    b.node(Op::Add, &[&x, &dx])
}

fn param(b: &mut Builder, name: &str, shape: &[usize], lo: f64, hi: f64, seed: u64) -> String {
    b.constant(name, tensor(shape, lo, hi, seed))
}

fn unary(name: &'static str, op: Op, lo: f64, hi: f64) -> Case {
    let mut b = Builder::new(1);
    let h = with_input(&mut b, &[3, 5]);
    let y = b.node(op, &[&h]);
    b.output(&y);
    Case {
        name,
        graph: b.graph,
        x: Value::Data(tensor(&[3, 5], lo, hi, 11)),
        step: 1e-2,
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let conv = |strides: &[usize], pads: &[usize], dil: &[usize], group: usize| Op::Conv {
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dil.to_vec(),
        group,
    };
    // Linear layers: Gemm (both transposes, alpha, beta) and batched, broadcast MatMul.
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[3, 4]);
        let h = b.linear(&h, "fc", 4, 5);
        let w = param(&mut b, "w2", &[3, 2], -1.0, 1.0, 2);
        let c = param(&mut b, "c2", &[2], -1.0, 1.0, 3);
        let op = Op::Gemm {
            alpha: 0.7,
            beta: 1.3,
            trans_a: true,
            trans_b: false,
        };
        let y = b.node(op, &[&h, &w, &c]);
        b.output(&y);
        out.push(Case {
            name: "gemm",
            graph: b.graph,
            x: Value::Data(tensor(&[3, 4], -1.0, 1.0, 4)),
            step: 1e-2,
        });
    }
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[2, 3, 4]);
        let w = param(&mut b, "w", &[4, 5], -1.0, 1.0, 5);
        let h = b.node(Op::MatMul, &[&h, &w]);
        let v = param(&mut b, "v", &[2, 5, 3], -1.0, 1.0, 6);
        let y = b.node(Op::MatMul, &[&h, &v]);
        b.output(&y);
        out.push(Case {
            name: "matmul",
            graph: b.graph,
            x: Value::Data(tensor(&[2, 3, 4], -1.0, 1.0, 7)),
            step: 1e-2,
        });
    }
    // Convolutions: 2-D grouped, strided, dilated, asymmetric pads; 1-D strided.
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[2, 2, 6, 5]);
        let w = param(&mut b, "w", &[4, 1, 3, 2], -1.0, 1.0, 8);
        let bias = param(&mut b, "b", &[4], -1.0, 1.0, 9);
        let y = b.node(conv(&[2, 1], &[1, 0, 0, 1], &[1, 2], 2), &[&h, &w, &bias]);
        b.output(&y);
        out.push(Case {
            name: "conv2d",
            graph: b.graph,
            x: Value::Data(tensor(&[2, 2, 6, 5], -1.0, 1.0, 10)),
            step: 1e-2,
        });
    }
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[2, 3, 9]);
        let w = param(&mut b, "w", &[4, 3, 3], -1.0, 1.0, 11);
        let y = b.node(conv(&[2], &[1, 1], &[1], 1), &[&h, &w]);
        b.output(&y);
        out.push(Case {
            name: "conv1d",
            graph: b.graph,
            x: Value::Data(tensor(&[2, 3, 9], -1.0, 1.0, 12)),
            step: 1e-2,
        });
    }
    // Pooling.
    let pool_case = |name: &'static str, shape: &[usize], op: Op| {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, shape);
        let y = b.node(op, &[&h]);
        b.output(&y);
        // Distinct values, far apart compared with the step, so no argmax flips.
        let n: usize = shape.iter().product();
        let mut v: Vec<f32> = (0..n).map(|i| ((i * 37) % n) as f32 / n as f32 * 4.0 - 2.0).collect();
        v.rotate_left(3);
        Case {
            name,
            graph: b.graph,
            x: Value::Data(F32Tensor::from_vec(shape, v).unwrap()),
            step: 1e-3,
        }
    };
    out.push(pool_case(
        "maxpool2d",
        &[1, 2, 5, 5],
        Op::MaxPool {
            kernel: vec![2, 2],
            strides: vec![2, 2],
            pads: vec![1, 1, 1, 1],
            dilations: vec![1, 1],
            ceil_mode: false,
        },
    ));
    out.push(pool_case(
        "maxpool1d",
        &[2, 2, 7],
        Op::MaxPool {
            kernel: vec![3],
            strides: vec![2],
            pads: vec![0, 0],
            dilations: vec![1],
            ceil_mode: false,
        },
    ));
    for (name, cip) in [("avgpool", true), ("avgpool-exclude-pad", false)] {
        out.push(pool_case(
            name,
            &[1, 2, 6, 6],
            Op::AveragePool {
                kernel: vec![3, 3],
                strides: vec![2, 2],
                pads: vec![1, 1, 1, 1],
                dilations: vec![1, 1],
                ceil_mode: false,
                count_include_pad: cip,
            },
        ));
    }
    out.push(pool_case("globalavgpool", &[2, 3, 4, 4], Op::GlobalAveragePool));
    // Activations and elementwise functions.
    let mut relu = unary("relu", Op::Relu, -1.0, 1.0);
    relu.step = 1e-3;
    out.push(relu);
    out.push(unary("sigmoid", Op::Sigmoid, -3.0, 3.0));
    out.push(unary("tanh", Op::Tanh, -2.0, 2.0));
    out.push(unary("gelu", Op::Gelu { tanh: false }, -3.0, 3.0));
    out.push(unary("gelu-tanh", Op::Gelu { tanh: true }, -3.0, 3.0));
    out.push(unary("erf", Op::Erf, -2.0, 2.0));
    out.push(unary("exp", Op::Exp, -2.0, 1.0));
    out.push(unary("log", Op::Log, 0.5, 2.0));
    out.push(unary("sqrt", Op::Sqrt, 0.5, 2.0));
    out.push(unary("reciprocal", Op::Reciprocal, 0.5, 2.0));
    out.push(unary("neg", Op::Neg, -1.0, 1.0));
    out.push(unary("softmax", Op::Softmax { axis: 1 }, -2.0, 2.0));
    out.push(unary("log_softmax", Op::LogSoftmax { axis: -1 }, -2.0, 2.0));
    out.push(unary(
        "reduce_mean",
        Op::ReduceMean {
            axes: vec![1],
            keepdims: false,
        },
        -1.0,
        1.0,
    ));
    out.push(unary(
        "reduce_sum",
        Op::ReduceSum {
            axes: vec![0],
            keepdims: true,
        },
        -1.0,
        1.0,
    ));
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[3, 5]);
        let two = b.constant("two", F32Tensor::scalar(2.0));
        let y = b.node(Op::Pow, &[&h, &two]);
        b.output(&y);
        out.push(Case {
            name: "pow",
            graph: b.graph,
            x: Value::Data(tensor(&[3, 5], -1.0, 1.0, 13)),
            step: 1e-2,
        });
    }
    // Normalisation.
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[3, 6]);
        let g = param(&mut b, "ln.weight", &[6], 0.5, 1.5, 14);
        let be = param(&mut b, "ln.bias", &[6], -0.5, 0.5, 15);
        let y = b.node(
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-5,
            },
            &[&h, &g, &be],
        );
        b.output(&y);
        out.push(Case {
            name: "layernorm",
            graph: b.graph,
            x: Value::Data(tensor(&[3, 6], -2.0, 2.0, 16)),
            step: 1e-2,
        });
    }
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[4, 3, 2, 2]);
        let g = param(&mut b, "bn.weight", &[3], 0.5, 1.5, 17);
        let be = param(&mut b, "bn.bias", &[3], -0.5, 0.5, 18);
        let m = b.constant("bn.running_mean", F32Tensor::zeros(&[3]));
        let v = b.constant("bn.running_var", F32Tensor::full(&[3], 1.0));
        let y = b.node(Op::BatchNormalization { epsilon: 1e-5 }, &[&h, &g, &be, &m, &v]);
        b.output(&y);
        out.push(Case {
            name: "batchnorm",
            graph: b.graph,
            x: Value::Data(tensor(&[4, 3, 2, 2], -2.0, 2.0, 19)),
            step: 1e-2,
        });
    }
    // Embedding with public token ids.
    {
        let mut b = Builder::new(1);
        let ids = b.input("input", DType::I64, &[2, 3]);
        let table = param(&mut b, "embedding.weight", &[7, 4], -1.0, 1.0, 20);
        let y = b.node(Op::Gather { axis: 0 }, &[&table, &ids]);
        b.output(&y);
        out.push(Case {
            name: "embedding",
            graph: b.graph,
            x: Value::Public(Const::I64 {
                shape: vec![2, 3],
                data: vec![1, 4, 1, 6, 0, 4],
            }),
            step: 1e-2,
        });
    }
    // Broadcasting arithmetic.
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[3, 4]);
        let a = param(&mut b, "a", &[4], -1.0, 1.0, 21);
        let s = param(&mut b, "s", &[3, 1], -1.0, 1.0, 22);
        let c = param(&mut b, "c", &[1, 4], 1.0, 2.0, 23);
        let d = b.constant("d", F32Tensor::from_vec(&[1], vec![0.3]).unwrap());
        let h = b.node(Op::Mul, &[&h, &a]);
        let h = b.node(Op::Sub, &[&h, &s]);
        let h = b.node(Op::Div, &[&h, &c]);
        let y = b.node(Op::Add, &[&h, &d]);
        b.output(&y);
        out.push(Case {
            name: "broadcast-arith",
            graph: b.graph,
            x: Value::Data(tensor(&[3, 4], -1.0, 1.0, 24)),
            step: 1e-2,
        });
    }
    // Data movement: transpose, reshape, slice, pad, concat, flatten, unsqueeze, squeeze.
    {
        let mut b = Builder::new(1);
        let h = with_input(&mut b, &[2, 3, 4]);
        let h = b.node(Op::Transpose { perm: vec![0, 2, 1] }, &[&h]);
        let shape = b.ints(&[2, 12]);
        let h = b.node(Op::Reshape, &[&h, &shape]);
        let (st, en, ax) = (b.ints(&[1]), b.ints(&[10]), b.ints(&[1]));
        let h = b.node(Op::Slice, &[&h, &st, &en, &ax]);
        let pads = b.ints(&[0, 2, 1, 0]);
        let h = b.node(
            Op::Pad {
                mode: PadKind::Constant,
            },
            &[&h, &pads],
        );
        let other = param(&mut b, "other", &[3, 4], -1.0, 1.0, 25);
        let h = b.node(Op::Concat { axis: 1 }, &[&h, &other]);
        let h = b.node(Op::Unsqueeze { axes: vec![0] }, &[&h]);
        let h = b.node(Op::Squeeze { axes: vec![0] }, &[&h]);
        let y = b.node(Op::Flatten { axis: 0 }, &[&h]);
        b.output(&y);
        out.push(Case {
            name: "data-movement",
            graph: b.graph,
            x: Value::Data(tensor(&[2, 3, 4], -1.0, 1.0, 26)),
            step: 1e-2,
        });
    }
    out
}

/// The graph's output in training mode for parameters `params`.
fn forward_plain(graph: &Graph, x: &Value<F32Tensor>, params: &HashMap<String, Value<F32Tensor>>) -> F32Tensor {
    let mut b = PlainBackend;
    let mut maps = MapCache::default();
    let mut cx = Ctx {
        b: &mut b,
        maps: &mut maps,
    };
    let tape = forward(&mut cx, graph, vec![x.clone()], params.clone(), &BTreeSet::new(), true).unwrap();
    cx.data(tape.value(&graph.outputs[0]).unwrap()).unwrap()
}

fn params_of(graph: &Graph) -> BTreeMap<String, F32Tensor> {
    trainable_params(graph)
        .into_iter()
        .map(|k| match &graph.initializers[&k] {
            Const::F32(t) => (k, t.clone()),
            _ => unreachable!(),
        })
        .collect()
}

/// Plaintext gradients of Σ w·y for every trainable parameter.
fn plain_grads(graph: &Graph, x: &Value<F32Tensor>, w: &F32Tensor) -> BTreeMap<String, F32Tensor> {
    let mut b = PlainBackend;
    let mut maps = MapCache::default();
    let mut cx = Ctx {
        b: &mut b,
        maps: &mut maps,
    };
    let train = trainable_params(graph);
    let params: HashMap<String, Value<F32Tensor>> =
        params_of(graph).into_iter().map(|(k, t)| (k, Value::Data(t))).collect();
    let tape = forward(&mut cx, graph, vec![x.clone()], params, &train, true).unwrap();
    let g = backward(&mut cx, graph, &tape, vec![(graph.outputs[0].clone(), w.clone())]).unwrap();
    g.into_iter().collect()
}

fn loss(y: &F32Tensor, w: &F32Tensor) -> f64 {
    y.data().iter().zip(w.data()).map(|(&a, &b)| a as f64 * b as f64).sum()
}

#[test]
fn every_backward_rule_matches_finite_differences() {
    for case in cases() {
        let params = params_of(&case.graph);
        let base: HashMap<String, Value<F32Tensor>> = params
            .iter()
            .map(|(k, t)| (k.clone(), Value::Data(t.clone())))
            .collect();
        let y = forward_plain(&case.graph, &case.x, &base);
        let w = tensor(y.shape(), -1.0, 1.0, 99);
        let grads = plain_grads(&case.graph, &case.x, &w);
        assert_eq!(
            grads.keys().collect::<Vec<_>>(),
            params.keys().collect::<Vec<_>>(),
            "{}: every parameter gets a gradient",
            case.name
        );
        for (name, p) in &params {
            let g = &grads[name];
            assert_eq!(g.shape(), p.shape(), "{} {name}", case.name);
            let stride = (p.numel() / 24).max(1);
            for i in (0..p.numel()).step_by(stride) {
                let at = |d: f64| {
                    let mut q = p.clone();
                    q.data_mut()[i] += d as f32;
                    let mut ps = base.clone();
                    ps.insert(name.clone(), Value::Data(q));
                    loss(&forward_plain(&case.graph, &case.x, &ps), &w)
                };
                let h = case.step;
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                let analytic = g.data()[i] as f64;
                assert!(
                    (analytic - numeric).abs() <= 5e-3 + 2e-2 * numeric.abs(),
                    "{} ∂/∂{name}[{i}]: analytic {analytic}, numeric {numeric}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn every_loss_gradient_matches_finite_differences() {
    use testbed::nn::autograd::Loss;
    let z = tensor(&[4, 3], -2.0, 2.0, 30);
    let onehot = {
        let mut t = F32Tensor::zeros(&[4, 3]);
        for (i, c) in [2usize, 0, 1, 2].iter().enumerate() {
            t.data_mut()[i * 3 + c] = 1.0;
        }
        t
    };
    let logp = z.log_softmax(1).unwrap();
    let probs = z.sigmoid();
    let bits = tensor(&[4, 3], 0.0, 1.0, 31).map(|v| if v > 0.5 { 1.0 } else { 0.0 });
    let cases = [
        (Loss::CrossEntropy, z.clone(), onehot.clone()),
        (Loss::Nll, logp, onehot),
        (Loss::Mse, z.clone(), tensor(&[4, 3], -1.0, 1.0, 32)),
        (Loss::Bce, probs, bits.clone()),
        (Loss::BceWithLogits, z, bits),
    ];
    let value = |l: Loss, out: &F32Tensor, t: &F32Tensor| {
        let mut b = PlainBackend;
        let mut maps = MapCache::default();
        let mut cx = Ctx {
            b: &mut b,
            maps: &mut maps,
        };
        let (g, v) = l.grad(&mut cx, out, t, true).unwrap();
        (g, v.unwrap().data()[0] as f64)
    };
    for (l, out, t) in cases {
        let (g, _) = value(l, &out, &t);
        for i in 0..out.numel() {
            let at = |d: f32| {
                let mut o = out.clone();
                o.data_mut()[i] += d;
                value(l, &o, &t).1
            };
            let numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
            let analytic = g.data()[i] as f64;
            assert!(
                (analytic - numeric).abs() <= 2e-3 + 2e-2 * numeric.abs(),
                "{l:?}[{i}]: analytic {analytic}, numeric {numeric}"
            );
        }
    }
}

/// Private gradients: party 0 shares the parameters, the last party the input; gradients of
/// Σ w·y are revealed.
struct GradJob<'a> {
    graph: &'a Graph,
    x: &'a F32Tensor,
    w: &'a F32Tensor,
}

impl Job for GradJob<'_> {
    type Output = BTreeMap<String, F32Tensor>;

    fn run<P: Protocol>(&self, p: &mut P) -> Result<Self::Output> {
        let f = p.frac_bits();
        let enc = |t: &F32Tensor| {
            let v: Vec<f64> = t.data().iter().map(|&x| x as f64).collect();
            encode(&v, t.shape(), f).unwrap()
        };
        let last = p.parties() - 1;
        let xv = (p.id() == last).then(|| enc(self.x));
        let x = p.share(last, xv.as_ref(), self.x.shape())?;
        let mut params = HashMap::new();
        for (k, t) in params_of(self.graph) {
            let v = (p.id() == 0).then(|| enc(&t));
            params.insert(k, Value::Data(p.share(0, v.as_ref(), t.shape())?));
        }
        let train = trainable_params(self.graph);
        let grads = {
            let mut b = PrivateBackend::new(p);
            let mut maps = MapCache::default();
            let mut cx = Ctx {
                b: &mut b,
                maps: &mut maps,
            };
            let tape = forward(&mut cx, self.graph, vec![Value::Data(x)], params, &train, true)?;
            let seed = cx.b.lift(self.w)?;
            backward(&mut cx, self.graph, &tape, vec![(self.graph.outputs[0].clone(), seed)])?
        };
        let mut out = BTreeMap::new();
        let mut names: Vec<_> = grads.keys().cloned().collect();
        names.sort();
        for k in names {
            let r = testbed::protocol::reveal(p, &grads[&k])?;
            let v: Vec<f32> = decode(&r, f).iter().map(|&x| x as f32).collect();
            out.insert(k, F32Tensor::from_vec(r.shape(), v)?);
        }
        Ok(out)
    }
}

/// Small networks that together use every layer type of private training.
fn private_cases() -> Vec<(&'static str, Graph, F32Tensor)> {
    let mut out = Vec::new();
    {
        // conv2d → batch norm → ReLU → max pool → flatten → linear → softmax
        let mut b = Builder::new(3);
        let h = with_input(&mut b, &[2, 1, 6, 6]);
        let h = b.conv(&h, "conv", 1, 3, &[3, 3], 1, 1, 1, true);
        let g = param(&mut b, "bn.weight", &[3], 0.5, 1.5, 40);
        let be = param(&mut b, "bn.bias", &[3], -0.5, 0.5, 41);
        let m = b.constant("bn.running_mean", F32Tensor::zeros(&[3]));
        let v = b.constant("bn.running_var", F32Tensor::full(&[3], 1.0));
        let h = b.node(Op::BatchNormalization { epsilon: 1e-5 }, &[&h, &g, &be, &m, &v]);
        let h = b.relu(&h);
        let h = b.node(
            Op::MaxPool {
                kernel: vec![2, 2],
                strides: vec![2, 2],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                ceil_mode: false,
            },
            &[&h],
        );
        let h = b.node(Op::Flatten { axis: 1 }, &[&h]);
        let h = b.linear(&h, "fc", 27, 4);
        let y = b.node(Op::Softmax { axis: 1 }, &[&h]);
        b.output(&y);
        out.push(("cnn", b.graph, tensor(&[2, 1, 6, 6], 0.0, 1.0, 42)));
    }
    {
        // conv1d → average pool → tanh → flatten → linear → sigmoid
        let mut b = Builder::new(4);
        let h = with_input(&mut b, &[2, 3, 8]);
        let h = b.conv(&h, "conv", 3, 4, &[3], 1, 1, 1, true);
        let h = b.node(
            Op::AveragePool {
                kernel: vec![2],
                strides: vec![2],
                pads: vec![0, 0],
                dilations: vec![1],
                ceil_mode: false,
                count_include_pad: true,
            },
            &[&h],
        );
        let h = b.node(Op::Tanh, &[&h]);
        let h = b.node(Op::Flatten { axis: 1 }, &[&h]);
        let h = b.linear(&h, "fc", 16, 3);
        let y = b.node(Op::Sigmoid, &[&h]);
        b.output(&y);
        out.push(("seq", b.graph, tensor(&[2, 3, 8], -1.0, 1.0, 43)));
    }
    {
        // linear → LayerNorm → GELU → mul, reshape, concat → matmul → log-softmax
        let mut b = Builder::new(5);
        let h = with_input(&mut b, &[3, 4]);
        let h = b.linear(&h, "fc", 4, 6);
        let g = param(&mut b, "ln.weight", &[6], 0.5, 1.5, 44);
        let be = param(&mut b, "ln.bias", &[6], -0.5, 0.5, 45);
        let h = b.node(
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-5,
            },
            &[&h, &g, &be],
        );
        let h = b.node(Op::Gelu { tanh: false }, &[&h]);
        let s = param(&mut b, "scale", &[6], 0.5, 1.5, 46);
        let h = b.node(Op::Mul, &[&h, &s]);
        let shape = b.ints(&[6, 3]);
        let h = b.node(Op::Reshape, &[&h, &shape]);
        let extra = param(&mut b, "extra", &[6, 2], -1.0, 1.0, 47);
        let h = b.node(Op::Concat { axis: 1 }, &[&h, &extra]);
        let w = param(&mut b, "w", &[5, 4], -1.0, 1.0, 48);
        let h = b.node(Op::MatMul, &[&h, &w]);
        let y = b.node(Op::LogSoftmax { axis: 1 }, &[&h]);
        b.output(&y);
        out.push(("mixed", b.graph, tensor(&[3, 4], -1.0, 1.0, 49)));
    }
    out
}

#[test]
fn private_gradients_equal_plaintext_gradients() {
    // Fixed point (16 fractional bits) and the approximations of exp, reciprocal, inverse square
    // root and erf bound the difference.
    for proto in ["2pc-ttp", "3pc-replicated"] {
        let cfg = ProtocolConfig::load(proto).unwrap();
        for (name, graph, x) in private_cases() {
            let xv = Value::Data(x.clone());
            let params: HashMap<String, Value<F32Tensor>> = params_of(&graph)
                .into_iter()
                .map(|(k, t)| (k, Value::Data(t)))
                .collect();
            let y = forward_plain(&graph, &xv, &params);
            let w = tensor(y.shape(), -1.0, 1.0, 50);
            let want = plain_grads(&graph, &xv, &w);
            let got = run(
                &cfg,
                9,
                &GradJob {
                    graph: &graph,
                    x: &x,
                    w: &w,
                },
            );
            let got = &got.parties[0].output;
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{proto} {name}"
            );
            for (k, g) in &want {
                let p = &got[k];
                for (i, (&a, &b)) in p.data().iter().zip(g.data()).enumerate() {
                    assert!(
                        (a - b).abs() <= 0.02 + 0.03 * b.abs(),
                        "{proto} {name} ∂/∂{k}[{i}]: private {a}, plaintext {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn trainable_parameters_exclude_statistics_and_stray_scalars() {
    let mut b = Builder::new(1);
    let x = b.input("input", DType::F32, &[2, 1, 4, 4]);
    let h = b.conv(&x, "conv", 1, 1, &[1, 1], 1, 0, 1, true);
    let g = b.constant("bn.weight", F32Tensor::full(&[1], 1.0));
    let be = b.constant("bn.bias", F32Tensor::zeros(&[1]));
    let m = b.constant("bn.running_mean", F32Tensor::zeros(&[1]));
    let v = b.constant("bn.running_var", F32Tensor::full(&[1], 1.0));
    let h = b.node(Op::BatchNormalization { epsilon: 1e-5 }, &[&h, &g, &be, &m, &v]);
    let s = b.constant("scale", F32Tensor::scalar(0.5));
    let y = b.node(Op::Mul, &[&h, &s]);
    b.output(&y);
    let names: Vec<String> = trainable_params(&b.graph).into_iter().collect();
    assert_eq!(names, ["bn.bias", "bn.weight", "conv.bias", "conv.weight"]);
}
