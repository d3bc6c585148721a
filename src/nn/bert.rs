//! BERT-style sentence encoders (sentence-transformers ONNX exports such as
//! paraphrase-MiniLM-L3-v2) made fit for private inference, and a classification head on their
//! pooled output.
//!
//! An export takes `input_ids` and `attention_mask` (`[batch, len]` int64) and lists the mean-pooled
//! sentence embedding as its last output. [`sentence_encoder`] rewrites it to take the token ids
//! only:
//!
//! - **The attention mask is derived in the graph from the private ids**, so the data owner's
//!   single private input is the one-hot encoded ids and the mask never appears in the clear (a
//!   public mask would reveal each text's length in tokens). The embedding table gets one more
//!   column, 1 for every token but `[PAD]` and 0 for `[PAD]`: the one lookup (a product of the
//!   one-hot ids with the table) yields the token embeddings and the mask together, at the cost of
//!   one extra output column instead of a second product over the vocabulary.
//! - **The mask bias is made finite**: exports add (1 − mask)·f32::MIN to the attention scores,
//!   which no fixed-point ring holds. It becomes [`MASK_BIAS`] (−256): masked scores then sit
//!   hundreds below the others, so their softmax weight is 0 in float32 and, privately, the limit
//!   exponential (1 + x/2^8)^(2^8) of x ≈ −256 ± the score range is ≈ 0 too (it is 0 at x = −256
//!   and below 1e−50 for scores within ±100 of it).
//! - Only the pooled sentence embedding stays an output (nodes that do not lead to it are dropped).

use super::graph::{Const, DType, Graph, Node, Op};
use super::tensor::F32Tensor;
use super::zoo::Builder;
use crate::error::{Error, Result};
use std::collections::HashSet;

/// The finite attention-mask bias that replaces the export's f32::MIN (see the module doc).
pub const MASK_BIAS: f32 = -256.0;

/// Constants at least this large in magnitude are "minus infinity" mask fills.
const HUGE: f32 = 1e30;

fn bad(detail: impl Into<String>) -> Error {
    Error::invalid("bert encoder", detail.into())
}

/// Rewrites a sentence-transformers export (see the module doc): one input `input_ids`, the
/// mask derived from it (`[PAD]` is token `pad_id`), finite mask bias, the pooled embedding
/// `[batch, dim]` as the only output.
pub fn sentence_encoder(mut g: Graph, pad_id: usize) -> Result<Graph> {
    let ids = "input_ids";
    let mask = "attention_mask";
    if !g.inputs.iter().any(|i| i.name == ids && i.dtype == DType::I64) {
        return Err(bad("the graph has no int64 input `input_ids`"));
    }
    let pooled = g
        .outputs
        .last()
        .cloned()
        .ok_or_else(|| bad("the graph has no outputs"))?;
    // The word-embedding lookup: Gather(table, input_ids) on axis 0.
    let at = g
        .nodes
        .iter()
        .position(|n| {
            matches!(n.op, Op::Gather { axis: 0 })
                && n.inputs.get(1).is_some_and(|i| i == ids)
                && n.inputs.first().is_some_and(|t| g.initializers.contains_key(t))
        })
        .ok_or_else(|| bad("no embedding lookup Gather(table, input_ids)"))?;
    let mut lookup = g.nodes.remove(at);
    let table_name = lookup.inputs[0].clone();
    let Some(Const::F32(table)) = g.initializers.get(&table_name) else {
        return Err(bad(format!("the embedding table {table_name} is not real-valued")));
    };
    let (vocab, dim) = match table.shape() {
        [v, d] => (*v, *d),
        s => return Err(bad(format!("the embedding table has shape {s:?}, not [vocab, dim]"))),
    };
    if pad_id >= vocab {
        return Err(bad(format!("[PAD] id {pad_id} is outside the vocabulary of {vocab}")));
    }
    let mut wide = Vec::with_capacity(vocab * (dim + 1));
    for (v, row) in table.data().chunks(dim).enumerate() {
        wide.extend_from_slice(row);
        wide.push(if v == pad_id { 0.0 } else { 1.0 });
    }
    let wide_name = format!("{table_name}+mask");
    g.initializers.remove(&table_name);
    g.initializers.insert(
        wide_name.clone(),
        Const::F32(F32Tensor::from_vec(&[vocab, dim + 1], wide)?),
    );
    let both = format!("{}+mask", lookup.outputs[0]);
    let embedded = std::mem::replace(&mut lookup.outputs[0], both.clone());
    lookup.inputs[0] = wide_name;
    let mut ints = |name: &str, v: i64| {
        let n = format!("{both}.{name}");
        g.initializers.insert(
            n.clone(),
            Const::I64 {
                shape: vec![1],
                data: vec![v],
            },
        );
        n
    };
    let (zero, d, d1, two) = (
        ints("0", 0),
        ints("d", dim as i64),
        ints("d+1", dim as i64 + 1),
        ints("2", 2),
    );
    let slice = |name: &str, from: &str, to: &str, out: &str| Node {
        name: format!("{both}.{name}"),
        op: Op::Slice,
        inputs: vec![both.clone(), from.into(), to.into(), two.clone()],
        outputs: vec![out.into()],
        relu_after: false,
    };
    let mask3 = format!("{both}.mask3");
    let derived = [
        lookup,
        slice("embeddings", &zero, &d, &embedded),
        slice("mask", &d, &d1, &mask3),
        Node {
            name: format!("{both}.squeeze"),
            op: Op::Squeeze { axes: vec![2] },
            inputs: vec![mask3],
            outputs: vec![mask.into()],
            relu_after: false,
        },
    ];
    // The lookup depends on the ids only: it goes first, before every use of the mask.
    g.nodes.splice(0..0, derived);
    g.inputs.retain(|i| i.name != mask);
    for c in g.initializers.values_mut() {
        if let Const::F32(t) = c
            && t.data().iter().any(|v| v.abs() >= HUGE)
        {
            *t = t.map(|v| if v.abs() >= HUGE { v.signum() * -MASK_BIAS } else { v });
        }
    }
    g.outputs = vec![pooled];
    prune(&mut g);
    Ok(g)
}

/// Appends a linear classification head `fc` (PyTorch Linear names `fc.weight` [classes, dim],
/// `fc.bias`, random in ±1/√dim from `seed`) on the encoder's `[batch, dim]` output. The names
/// match `crate::train`'s `logreg`, so a head trained there loads by name.
pub fn attach_head(g: Graph, dim: usize, classes: usize, seed: u64) -> Graph {
    let x = g.outputs[0].clone();
    let mut b = Builder::new(seed);
    b.graph = g;
    b.graph.outputs.clear();
    let y = b.linear(&x, "fc", dim, classes);
    b.output(&y);
    b.graph
}

/// Drops the nodes and initializers the outputs do not depend on.
fn prune(g: &mut Graph) {
    let mut live: HashSet<String> = g.outputs.iter().cloned().collect();
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(n.inputs.iter().filter(|s| !s.is_empty()).cloned());
        }
    }
    let mut k = keep.into_iter();
    g.nodes.retain(|_| k.next().expect("one flag per node"));
    g.initializers.retain(|name, _| live.contains(name));
}
