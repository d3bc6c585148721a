//! paraphrase-MiniLM-L3-v2 (sentence-transformers, Apache-2.0; `scripts/fetch-data.sh minilm`) as
//! the frozen encoder of the `minilm_polarity` model: the ONNX export rewritten by
//! `nn::bert::sentence_encoder` (one private input, the token ids; the attention mask derived
//! from them), mean-pooled 384-wide embeddings, and a 2-class linear head `fc` that is trained in
//! plaintext on pooled embeddings of the VADER training words ([`embed`]; see
//! `experiment::train`).

use super::wordpiece::WordPiece;
use super::{Dataset, require};
use crate::error::Result;
use crate::nn::bert::{attach_head, sentence_encoder};
use crate::nn::graph::Graph;
use crate::nn::infer::{run_plain, split_batches};
use crate::nn::tensor::F32Tensor;

/// The model name experiments and the CLI use.
pub const POLARITY_MODEL: &str = "minilm_polarity";

/// Width of the pooled embedding.
pub const DIM: usize = 384;

/// The rewritten encoder: `input_ids` `[batch, len]` → pooled embedding `[batch, 384]`.
pub fn encoder() -> Result<Graph> {
    let vocab = WordPiece::load(&require("minilm", "minilm/vocab.txt")?)?;
    let g = crate::nn::onnx::load_onnx(&require("minilm", "minilm/paraphrase-MiniLM-L3-v2.onnx")?)?;
    sentence_encoder(g, vocab.pad as usize)
}

/// The encoder with a 2-class polarity head (random from `seed` until trained weights load).
pub fn polarity_model(seed: u64) -> Result<Graph> {
    Ok(attach_head(encoder()?, DIM, 2, seed))
}

/// The pooled embeddings of a data set of token ids, computed in plaintext in batches of 64:
/// the features the head trains on (the encoder is frozen).
pub fn embed(encoder: &Graph, set: &Dataset) -> Result<Dataset> {
    let n = set.len();
    let mut data = Vec::with_capacity(n * DIM);
    for batch in split_batches(encoder, &set.inputs, 64)? {
        data.extend_from_slice(run_plain(encoder, &batch)?.data());
    }
    data.truncate(n * DIM);
    Dataset::new(
        set.name.clone(),
        F32Tensor::from_vec(&[n, DIM], data)?,
        set.labels.clone(),
        set.classes,
    )
}
