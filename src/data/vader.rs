//! Word polarity from the VADER sentiment lexicon (Hutto and Gilbert 2014, MIT; PyPI
//! `vaderSentiment` 3.3.2): 7,520 tokens, each with the mean valence (−4 … +4) given by ten human
//! raters.
//!
//! The `vader` data set keeps the plain words (ASCII letters only: 7,217 entries; emoticons and
//! multi-word entries are dropped) whose polarity is clear: mean ≥ +1 is positive (label 1),
//! mean ≤ −1 negative (label 0); the 1,631 words in between are dropped, leaving 2,442 positive
//! and 3,144 negative words. A fixed shuffle puts 20 % of them in the test set. Inputs are the
//! words' BERT WordPiece ids (`[CLS] word [SEP] [PAD]…`) stored as f32 (exact: ids < 2^24).

use super::wordpiece::WordPiece;
use super::{Dataset, Split, require};
use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use rand_core::{Rng, SeedableRng};
use std::path::Path;

/// One lexicon entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub token: String,
    /// Mean valence of the raters, −4 (most negative) … +4.
    pub valence: f32,
}

/// Reads `vader_lexicon.txt` (token, mean, standard deviation, ratings; tab-separated).
pub fn read_lexicon(path: &Path) -> Result<Vec<Entry>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |d: &str| Error::invalid(format!("{file}:{}", i + 1), d.to_string());
        let mut f = line.split('\t');
        let (Some(token), Some(mean)) = (f.next(), f.next()) else {
            return Err(bad("expected a token and its mean valence, tab-separated"));
        };
        let valence: f32 = mean
            .trim()
            .parse()
            .map_err(|_| bad("the mean valence is not a number"))?;
        if !(-4.0..=4.0).contains(&valence) {
            return Err(bad("the mean valence is outside -4..4"));
        }
        out.push(Entry {
            token: token.to_string(),
            valence,
        });
    }
    Ok(out)
}

/// Polarity threshold: |mean valence| ≥ this is a clear polarity.
pub const THRESHOLD: f32 = 1.0;

/// Words with their labels.
pub type Labelled = Vec<(String, usize)>;

/// The labelled words: (word, 1 for positive / 0 for negative), in lexicon order.
pub fn polar_words(lexicon: &[Entry]) -> Labelled {
    lexicon
        .iter()
        .filter(|e| !e.token.is_empty() && e.token.bytes().all(|b| b.is_ascii_lowercase()))
        .filter_map(|e| {
            if e.valence >= THRESHOLD {
                Some((e.token.clone(), 1))
            } else if e.valence <= -THRESHOLD {
                Some((e.token.clone(), 0))
            } else {
                None
            }
        })
        .collect()
}

/// The fixed split of the labelled words: (train, test), 20 % test, shuffled with a fixed seed.
pub fn split_words(words: Labelled) -> (Labelled, Labelled) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x7ade);
    let mut w = words;
    for i in (1..w.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        w.swap(i, j);
    }
    let test = w.split_off(w.len() - w.len() / 5);
    (w, test)
}

/// Words as a data set of token ids `[n, len]` (f32), with their labels.
pub fn encode(name: &str, words: &[(String, usize)], vocab: &WordPiece, len: usize) -> Result<Dataset> {
    let texts: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
    let enc = vocab.encode_batch(&texts, len);
    let ids = enc.input_ids.iter().map(|&i| i as f32).collect();
    Dataset::new(
        name,
        F32Tensor::from_vec(&[words.len(), len], ids)?,
        words.iter().map(|&(_, l)| l).collect(),
        2,
    )
}

/// The `vader` data set at sequence length `len` (needs the lexicon and the MiniLM vocabulary).
pub fn load(len: usize) -> Result<Split> {
    let lex = read_lexicon(&require("vader", "vader/vader_lexicon.txt")?)?;
    let vocab = WordPiece::load(&require("minilm", "minilm/vocab.txt")?)?;
    let (train, test) = split_words(polar_words(&lex));
    Ok(Split {
        train: encode("vader/train", &train, &vocab, len)?,
        test: encode("vader/test", &test, &vocab, len)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_lines_and_polarity() {
        let dir = std::env::temp_dir().join(format!("testbed-vader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lex.txt");
        std::fs::write(
            &p,
            "good\t1.9\t0.9\t[2, 2]\nmeh\t-0.3\t0.5\t[0]\nawful\t-2.0\t0.7\t[-2]\n:)\t2.0\t0.6\t[2]\nfed up\t-1.8\t0.6\t[-2]\n",
        )
        .unwrap();
        let lex = read_lexicon(&p).unwrap();
        assert_eq!(lex.len(), 5);
        assert_eq!(
            polar_words(&lex),
            vec![("good".to_string(), 1), ("awful".to_string(), 0)]
        );
        std::fs::write(&p, "good\tvery\n").unwrap();
        let e = read_lexicon(&p).unwrap_err().to_string();
        assert!(e.contains("lex.txt:1") && e.contains("not a number"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let words: Vec<(String, usize)> = (0..10).map(|i| (format!("w{i}"), i % 2)).collect();
        let (a, b) = split_words(words.clone());
        assert_eq!((a.len(), b.len()), (8, 2));
        assert_eq!(split_words(words).1, b, "the split is fixed");
    }
}
