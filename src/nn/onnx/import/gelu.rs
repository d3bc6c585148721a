//! Fusion of the exported erf-GELU pattern into one [`Op::Gelu`].

use crate::nn::graph::{Const, Node, Op};
use std::collections::HashMap;

/// Replaces `x·0.5·(1 + erf(x/√2))` as exported by PyTorch (Div or Mul by 1/√2, Erf, Add 1, then
/// two Muls in any order/association) with one [`Op::Gelu`].
pub(super) fn fuse_gelu(nodes: Vec<Node>, consts: &HashMap<String, Const>, outputs: &[String]) -> Vec<Node> {
    const GRAPH_OUTPUT: usize = usize::MAX;
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut uses: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.outputs {
            producer.insert(o, i);
        }
        for x in &n.inputs {
            uses.entry(x).or_default().push(i);
        }
    }
    for o in outputs {
        uses.entry(o).or_default().push(GRAPH_OUTPUT);
    }
    let scalar = |name: &str, v: f32| match consts.get(name) {
        Some(Const::F32(t)) => {
            t.data().len() == 1 && t.shape().len() <= 1 && (t.data()[0] - v).abs() <= 1e-4 * v.abs().max(1.0)
        }
        _ => false,
    };
    let sole = |name: &str| match uses.get(name).map(Vec::as_slice) {
        Some(&[i]) if i != GRAPH_OUTPUT => Some(i),
        _ => None,
    };
    // The other input of a binary node, given one of them.
    let other = |n: &Node, x: &str| -> Option<String> {
        match n.inputs.as_slice() {
            [a, b] if a == x => Some(b.clone()),
            [a, b] if b == x => Some(a.clone()),
            _ => None,
        }
    };
    let is_mul_by = |n: &Node, v: f32| -> Option<String> {
        match n.inputs.as_slice() {
            [a, b] if n.op == Op::Mul && scalar(b, v) => Some(a.clone()),
            [a, b] if n.op == Op::Mul && scalar(a, v) => Some(b.clone()),
            _ => None,
        }
    };
    let mut removed = vec![false; nodes.len()];
    let mut replaced: HashMap<usize, Node> = HashMap::new();
    for (ei, e) in nodes.iter().enumerate() {
        if e.op != Op::Erf {
            continue;
        }
        let matched = (|| -> Option<(usize, Vec<usize>, String)> {
            let t1 = &e.inputs[0];
            let pi = *producer.get(t1.as_str())?;
            let p = &nodes[pi];
            if sole(t1) != Some(ei) {
                return None;
            }
            let x = match p.op {
                Op::Div if scalar(&p.inputs[1], std::f32::consts::SQRT_2) => p.inputs[0].clone(),
                Op::Mul => is_mul_by(p, std::f32::consts::FRAC_1_SQRT_2)?,
                _ => return None,
            };
            if consts.contains_key(&x) {
                return None;
            }
            let ai = sole(&e.outputs[0])?;
            let add = &nodes[ai];
            if add.op != Op::Add || !scalar(&other(add, &e.outputs[0])?, 1.0) {
                return None;
            }
            let t3 = &add.outputs[0];
            let m1i = sole(t3)?;
            let m1 = &nodes[m1i];
            if m1.op != Op::Mul {
                return None;
            }
            let o1 = other(m1, t3)?;
            let mut chain = vec![pi, ei, ai, m1i];
            let last = if o1 == x {
                // (x · (1 + erf)) · 0.5
                let m2i = sole(&m1.outputs[0])?;
                is_mul_by(&nodes[m2i], 0.5).filter(|y| *y == m1.outputs[0])?;
                m2i
            } else if scalar(&o1, 0.5) {
                // ((1 + erf) · 0.5) · x
                let m2i = sole(&m1.outputs[0])?;
                let m2 = &nodes[m2i];
                (m2.op == Op::Mul && other(m2, &m1.outputs[0])? == x).then_some(())?;
                m2i
            } else {
                // (x · 0.5) · (1 + erf)
                let qi = *producer.get(o1.as_str())?;
                (sole(&o1) == Some(m1i) && is_mul_by(&nodes[qi], 0.5)? == x).then_some(())?;
                chain.push(qi);
                m1i
            };
            if !chain.contains(&last) {
                chain.push(last);
            }
            Some((last, chain, x))
        })();
        let Some((last, chain, x)) = matched else {
            continue;
        };
        if chain.iter().any(|&i| removed[i]) {
            continue;
        }
        for &i in &chain {
            removed[i] = true;
        }
        replaced.insert(
            last,
            Node {
                name: e.name.clone(),
                op: Op::Gelu { tanh: false },
                inputs: vec![x],
                outputs: nodes[last].outputs.clone(),
                relu_after: false,
            },
        );
    }
    nodes
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| match replaced.remove(&i) {
            Some(g) => Some(g),
            None if removed[i] => None,
            None => Some(n),
        })
        .collect()
}
