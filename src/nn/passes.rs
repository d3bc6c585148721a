//! Graph rewrites done once at load time.

use super::graph::{Const, Graph, Op};
use super::tensor::F32Tensor;
use crate::error::Result;

/// Folds eval-mode BatchNormalization into the convolution that feeds it, when the statistics and
/// the convolution's weights are constants and nothing else reads the convolution's output:
/// W' = W·s and b' = (b − mean)·s + β per output channel, with s = γ/√(var + ε). Saves a private
/// product per batch-norm layer.
pub fn fold_batch_norm(graph: &mut Graph) -> Result<usize> {
    let mut folded = 0;
    let mut i = 0;
    while i < graph.nodes.len() {
        let Op::BatchNormalization { epsilon } = graph.nodes[i].op else {
            i += 1;
            continue;
        };
        let bn = graph.nodes[i].clone();
        let x = &bn.inputs[0];
        let producer = graph
            .nodes
            .iter()
            .position(|n| n.outputs.len() == 1 && &n.outputs[0] == x && matches!(n.op, Op::Conv { .. }));
        let readers = graph.nodes.iter().filter(|n| n.inputs.contains(x)).count();
        let params: Option<Vec<&F32Tensor>> = bn.inputs[1..5]
            .iter()
            .map(|n| match graph.initializers.get(n) {
                Some(Const::F32(t)) => Some(t),
                _ => None,
            })
            .collect();
        let (Some(j), Some(params), false) = (producer, params, graph.outputs.contains(x)) else {
            i += 1;
            continue;
        };
        let conv = graph.nodes[j].clone();
        let Some(Const::F32(w)) = graph.initializers.get(&conv.inputs[1]).cloned() else {
            i += 1;
            continue;
        };
        if readers != 1 {
            i += 1;
            continue;
        }
        let (g, beta, mean, var) = (params[0], params[1], params[2], params[3]);
        let c = w.shape()[0];
        let per = w.data().len() / c;
        let s: Vec<f32> = (0..c).map(|o| g.data()[o] / (var.data()[o] + epsilon).sqrt()).collect();
        let wd: Vec<f32> = w.data().iter().enumerate().map(|(k, &v)| v * s[k / per]).collect();
        let b_old: Vec<f32> = match conv.inputs.get(2).and_then(|n| graph.initializers.get(n)) {
            Some(Const::F32(b)) => b.data().to_vec(),
            _ => vec![0.0; c],
        };
        let bd: Vec<f32> = (0..c)
            .map(|o| (b_old[o] - mean.data()[o]) * s[o] + beta.data()[o])
            .collect();
        let wname = format!("{}.folded_weight", bn.name);
        let bname = format!("{}.folded_bias", bn.name);
        graph
            .initializers
            .insert(wname.clone(), Const::F32(F32Tensor::from_vec(w.shape(), wd)?));
        graph
            .initializers
            .insert(bname.clone(), Const::F32(F32Tensor::from_vec(&[c], bd)?));
        let node = &mut graph.nodes[j];
        node.inputs = vec![node.inputs[0].clone(), wname, bname];
        node.outputs = bn.outputs.clone();
        graph.nodes.remove(i);
        folded += 1;
    }
    // Drop initializers nothing reads any more (a graph output may be an initializer itself).
    let used: std::collections::HashSet<String> = graph
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().cloned())
        .chain(graph.outputs.iter().cloned())
        .collect();
    graph.initializers.retain(|k, _| used.contains(k));
    Ok(folded)
}

/// Moves a ReLU after the max pool it feeds: `Relu → MaxPool` becomes `MaxPool → Relu` when the
/// ReLU's output is read only by that pool (not a graph output) and the pool has no Indices
/// output. ReLU is monotone, so relu(max S) = max relu(S) for every window S, and padding never
/// wins a window (it holds at least one real element), so the result is the same; the ReLU then
/// runs on the pooled tensor (ResNet's 3×3/2 stem pool: 4× fewer elements). Returns the number
/// of pairs moved.
pub fn pool_before_relu(graph: &mut Graph) -> Result<usize> {
    let mut moved = 0;
    let mut i = 0;
    while i < graph.nodes.len() {
        let relu = &graph.nodes[i];
        if !is_plain_relu(relu) {
            i += 1;
            continue;
        }
        let y = relu.outputs[0].clone();
        let readers: Vec<usize> = (0..graph.nodes.len())
            .filter(|&k| graph.nodes[k].inputs.contains(&y))
            .collect();
        let j = match readers[..] {
            [j] if j > i && !graph.outputs.contains(&y) => j,
            _ => {
                i += 1;
                continue;
            }
        };
        let pool = &graph.nodes[j];
        let single_output = pool.outputs.len() == 1 || pool.outputs[1..].iter().all(|o| o.is_empty());
        if !matches!(pool.op, Op::MaxPool { .. }) || pool.inputs.len() != 1 || !single_output {
            i += 1;
            continue;
        }
        let out = pool.outputs[0].clone();
        // The pooled, not yet rectified value gets a fresh name.
        let mut mid = format!("{out}.before_relu");
        while graph
            .nodes
            .iter()
            .any(|n| n.inputs.contains(&mid) || n.outputs.contains(&mid))
        {
            mid.push('_');
        }
        let mut relu = graph.nodes.remove(i);
        let pool = &mut graph.nodes[j - 1];
        pool.inputs = vec![relu.inputs[0].clone()];
        pool.outputs = vec![mid.clone()];
        relu.inputs = vec![mid];
        relu.outputs = vec![out];
        graph.nodes.insert(j, relu);
        moved += 1;
        // Index i now holds the node that followed the ReLU; the moved ReLU is examined again
        // when reached (it may move past a second pool) and only ever moves later, so this ends.
    }
    Ok(moved)
}

/// A ReLU node with one input and one output (what the ReLU rewrites move or join).
fn is_plain_relu(n: &crate::nn::graph::Node) -> bool {
    matches!(n.op, Op::Relu) && n.inputs.len() == 1 && n.outputs.len() == 1
}

/// Joins each Conv or Gemm whose output only a ReLU reads (and that is no graph output) with that
/// ReLU: the product node takes the ReLU's output and `relu_after`, the ReLU node goes. Backends
/// evaluate the pair in one call (`ProductOps::conv_relu`, `gemm_relu`; by default the product
/// then the ReLU, so the result and every family's cost stay the same); a protocol that truncates and rectifies in one step
/// (`Protocol::fuses_trunc_relu`) saves the truncation's round there. Returns the pairs joined.
pub fn fuse_conv_relu(graph: &mut Graph) -> Result<usize> {
    let mut fused = 0;
    let mut i = 0;
    while i < graph.nodes.len() {
        let relu = &graph.nodes[i];
        if !is_plain_relu(relu) {
            i += 1;
            continue;
        }
        let y = relu.inputs[0].clone();
        let producer = graph.nodes[..i]
            .iter()
            .position(|n| n.outputs.len() == 1 && n.outputs[0] == y);
        let readers = graph.nodes.iter().filter(|n| n.inputs.contains(&y)).count();
        let Some(j) = producer
            .filter(|&j| matches!(graph.nodes[j].op, Op::Conv { .. } | Op::Gemm { .. }) && !graph.nodes[j].relu_after)
        else {
            i += 1;
            continue;
        };
        if readers != 1 || graph.outputs.contains(&y) {
            i += 1;
            continue;
        }
        let relu = graph.nodes.remove(i);
        let conv = &mut graph.nodes[j];
        conv.outputs = relu.outputs;
        conv.relu_after = true;
        fused += 1;
    }
    Ok(fused)
}

/// The rewrites every inference graph gets (plaintext and private alike, so both run the same
/// graph): batch norm folded into convolutions, ReLU moved after max pools, each remaining
/// Conv → ReLU pair joined. Not for training graphs, whose saved activations and parameter names
/// these rewrites change.
pub fn prepare_inference(graph: &mut Graph) -> Result<()> {
    fold_batch_norm(graph)?;
    pool_before_relu(graph)?;
    fuse_conv_relu(graph)?;
    Ok(())
}
