//! The text model path of `experiments/text.yaml` without the MiniLM data: a tiny encoder built
//! like a sentence-transformers BERT export (`input_ids` + `attention_mask`, an f32::MIN mask
//! bias on the attention scores, masked mean pooling) goes through the same rewrite
//! (`nn::bert::sentence_encoder`: mask derived from the private ids) and head attachment as
//! `minilm_polarity`. The MiniLM tests themselves are in `data` (ignored without the data).

use crate::common::run;
use testbed::nn::bert::{attach_head, sentence_encoder};
use testbed::nn::graph::{Const, DType, Graph, Op};
use testbed::nn::infer::{InferJob, Input, WeightPrivacy, run_plain, run_plain_all};
use testbed::nn::tensor::F32Tensor;
use testbed::nn::zoo::Builder;
use testbed::protocol::ProtocolConfig;

const VOCAB: usize = 20;
const DIM: usize = 8;
const PAD: i64 = 0;

/// One post-norm attention layer and masked mean pooling, with the node pattern of the export.
fn tiny_bert(seed: u64) -> Graph {
    let mut b = Builder::new(seed);
    let ids = b.input("input_ids", DType::I64, &[]);
    let am = b.input("attention_mask", DType::I64, &[]);
    let table = b.param("word_embeddings.weight", &[VOCAB, DIM], 1.0);
    let e = b.node(Op::Gather { axis: 0 }, &[&table, &ids]);
    let ln = |b: &mut Builder, x: &str, p: &str| {
        let g = b.param(&format!("{p}.weight"), &[DIM], 1.0);
        let beta = b.param(&format!("{p}.bias"), &[DIM], 0.1);
        b.node(
            Op::LayerNormalization {
                axis: -1,
                epsilon: 1e-12,
            },
            &[x, &g, &beta],
        )
    };
    let x = ln(&mut b, &e, "embeddings.LayerNorm");
    // Extended mask: (1 − mask[:, None, None, :]) · f32::MIN.
    let m = b.node(Op::Unsqueeze { axes: vec![1] }, &[&am]);
    let m = b.node(Op::Unsqueeze { axes: vec![2] }, &[&m]);
    let m = b.node(Op::Cast { to: DType::F32 }, &[&m]);
    let one = b.constant("one", F32Tensor::scalar(1.0));
    let inv = b.node(Op::Sub, &[&one, &m]);
    let min = b.constant("min", F32Tensor::scalar(f32::MIN));
    let bias = b.node(Op::Mul, &[&inv, &min]);
    let proj = |b: &mut Builder, name: &str| {
        let w = b.param(name, &[DIM, DIM], 1.0 / (DIM as f32).sqrt());
        let y = b.node(Op::MatMul, &[&x, &w]);
        b.node(Op::Unsqueeze { axes: vec![1] }, &[&y])
    };
    let (q, k, v) = (proj(&mut b, "q"), proj(&mut b, "k"), proj(&mut b, "v"));
    let kt = b.node(Op::Transpose { perm: vec![0, 1, 3, 2] }, &[&k]);
    let s = b.node(Op::MatMul, &[&q, &kt]);
    let scale = b.constant("scale", F32Tensor::scalar(1.0 / (DIM as f32).sqrt()));
    let s = b.node(Op::Mul, &[&s, &scale]);
    let s = b.node(Op::Add, &[&s, &bias]);
    let a = b.node(Op::Softmax { axis: -1 }, &[&s]);
    let c = b.node(Op::MatMul, &[&a, &v]);
    let c = b.node(Op::Squeeze { axes: vec![1] }, &[&c]);
    let h = b.node(Op::Add, &[&x, &c]);
    let h = ln(&mut b, &h, "output.LayerNorm");
    // Pooling: Σ h·mask / max(Σ mask, 1e−9) over the tokens.
    let mu = b.node(Op::Unsqueeze { axes: vec![-1] }, &[&am]);
    let shape = b.node(Op::Shape, &[&h]);
    let mu = b.node(Op::Expand, &[&mu, &shape]);
    let mu = b.node(Op::Cast { to: DType::F32 }, &[&mu]);
    let hm = b.node(Op::Mul, &[&h, &mu]);
    let sum = |b: &mut Builder, x: &str| {
        b.node(
            Op::ReduceSum {
                axes: vec![1],
                keepdims: false,
            },
            &[x],
        )
    };
    let num = sum(&mut b, &hm);
    let den = sum(&mut b, &mu);
    let den = b.node(
        Op::Clip {
            min: Some(1e-9),
            max: None,
        },
        &[&den],
    );
    let pooled = b.node(Op::Div, &[&num, &den]);
    b.output(&h);
    b.output(&pooled);
    b.graph
}

/// Token ids `[rows, len]`: [CLS]=1, words of 1..=3 tokens, [SEP]=2, then [PAD]=0.
fn words(rows: usize, len: usize) -> (Vec<i64>, Vec<i64>) {
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for r in 0..rows {
        let n = 1 + r % 3;
        let mut row = vec![1];
        row.extend((0..n).map(|k| 3 + ((r * 7 + k * 5) % (VOCAB - 3)) as i64));
        row.push(2);
        row.resize(len, PAD);
        mask.extend(row.iter().map(|&t| i64::from(t != PAD)));
        ids.extend(row);
    }
    (ids, mask)
}

fn ids_input(rows: usize, len: usize) -> Input {
    Input::Ids {
        shape: vec![rows, len],
        data: words(rows, len).0,
    }
}

#[test]
fn the_derived_mask_matches_the_explicit_one_and_ignores_padding() {
    let g = tiny_bert(5);
    let enc = sentence_encoder(g.clone(), PAD as usize).unwrap();
    assert_eq!(enc.inputs.len(), 1, "the mask is no longer an input");
    assert_eq!(enc.inputs[0].name, "input_ids");
    assert!(
        enc.initializers.values().all(|c| match c {
            Const::F32(t) => t.data().iter().all(|v| v.abs() < 1e30),
            _ => true,
        }),
        "no f32::MIN mask fill is left"
    );
    let (ids, mask) = words(6, 7);
    let explicit = run_plain_all(
        &g,
        &[
            Input::Ids {
                shape: vec![6, 7],
                data: ids.clone(),
            },
            Input::Ids {
                shape: vec![6, 7],
                data: mask,
            },
        ],
    )
    .unwrap();
    let derived = run_plain(&enc, &ids_input(6, 7)).unwrap();
    assert_eq!(derived.shape(), &[6, DIM]);
    assert!(derived.max_abs_diff(&explicit[1]) < 1e-5, "derived mask");
    // Masking works: the same words padded to 12 tokens pool to the same embeddings...
    let longer = run_plain(&enc, &ids_input(6, 12)).unwrap();
    assert!(longer.max_abs_diff(&derived) < 1e-5, "padding changed the embedding");
    // ...which they would not with every token attended and pooled.
    let all_ones = run_plain_all(
        &g,
        &[
            Input::Ids {
                shape: vec![6, 7],
                data: ids,
            },
            Input::Ids {
                shape: vec![6, 7],
                data: vec![1; 42],
            },
        ],
    )
    .unwrap();
    assert!(
        all_ones[1].max_abs_diff(&derived) > 1e-2,
        "the test would not see a missing mask"
    );
}

#[test]
fn the_polarity_head_runs_privately_like_in_plaintext_on_three_families() {
    let enc = sentence_encoder(tiny_bert(7), PAD as usize).unwrap();
    let g = attach_head(enc, DIM, 2, 9);
    // A head trained by `crate::train` (`logreg`, layer `fc`) loads into it by name.
    let mut logreg = testbed::data::model::ModelSource::new("logreg", 11)
        .with_classes(2)
        .load_unprepared(&[1, DIM])
        .unwrap();
    let w = F32Tensor::from_vec(&[2, DIM], (0..2 * DIM).map(|i| (i as f32 - 8.0) / 4.0).collect()).unwrap();
    logreg.initializers.insert("fc.weight".into(), Const::F32(w.clone()));
    let path = std::env::temp_dir().join(format!("testbed-text-head-{}.safetensors", std::process::id()));
    testbed::nn::weights::save_weights(&logreg, &path).unwrap();
    let mut g = g;
    assert_eq!(testbed::nn::weights::load_weights(&mut g, &path, false).unwrap(), 2);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(g.initializers.get("fc.weight"), Some(&Const::F32(w)));
    let x = ids_input(6, 7);
    let want = run_plain(&g, &x).unwrap();
    assert_eq!(want.shape(), &[6, 2]);
    for name in ["2pc-ttp", "3pc-replicated", "npc-additive"] {
        let cfg = ProtocolConfig::load(name).unwrap();
        let out = run(
            &cfg,
            3,
            &InferJob::local(&g, std::slice::from_ref(&x), WeightPrivacy::Private, 1),
        );
        let got = &crate::common::revealed(&out)[0];
        let err = got.max_abs_diff(&want);
        assert!(err < 0.05, "{name}: max abs error {err}");
        for (p, q) in got.data().chunks(2).zip(want.data().chunks(2)) {
            if (q[0] - q[1]).abs() > 0.1 {
                assert_eq!(p[0] > p[1], q[0] > q[1], "{name}: private {p:?} vs plaintext {q:?}");
            }
        }
    }
}
