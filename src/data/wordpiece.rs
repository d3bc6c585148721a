//! BERT's uncased WordPiece tokenizer over a `vocab.txt` (one token per line, id = line index),
//! and the token-id inputs of BERT-style ONNX encoders such as paraphrase-MiniLM-L3-v2.
//!
//! Basic tokenisation as BERT's `BasicTokenizer(do_lower_case=True)`: drop control characters,
//! map whitespace to spaces, put spaces around CJK ideographs, lowercase, strip accents (NFD, then
//! drop combining marks), and split on whitespace and punctuation. Punctuation is ASCII
//! punctuation plus every other character that is neither alphanumeric, whitespace nor a
//! combining mark (BERT uses the Unicode "P" categories; the two differ only for non-ASCII
//! symbols such as `©`). Then each word is split greedily into the longest vocabulary pieces,
//! pieces after the first prefixed `##`; a word that cannot be split (or has more than 100
//! characters) becomes `[UNK]`.

use crate::error::{Error, Result};
use crate::nn::graph::Const;
use std::collections::HashMap;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// A WordPiece vocabulary with the special tokens' ids.
#[derive(Clone, Debug)]
pub struct WordPiece {
    ids: HashMap<String, u32>,
    tokens: Vec<String>,
    pub unk: u32,
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
}

/// Longest word (in characters) that is split; longer ones are `[UNK]` (as in BERT).
const MAX_WORD: usize = 100;

impl WordPiece {
    /// Reads `vocab.txt`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_lines(text.lines(), &path.display().to_string())
    }

    /// A vocabulary from its tokens in id order; `file` names it in errors.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>, file: &str) -> Result<Self> {
        let tokens: Vec<String> = lines
            .into_iter()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        let mut ids = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            ids.entry(t.clone()).or_insert(i as u32);
        }
        let special = |name: &str| {
            ids.get(name)
                .copied()
                .ok_or_else(|| Error::invalid(file, format!("the vocabulary has no {name} token")))
        };
        Ok(Self {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            pad: special("[PAD]")?,
            ids,
            tokens,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True for an empty vocabulary (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of a token, if it is in the vocabulary.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The token of an id.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Word pieces of `text` (no special tokens).
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in basic_tokens(text) {
            self.word_pieces(&word, &mut out);
        }
        out
    }

    /// Ids of `text`'s word pieces (no special tokens).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.tokenize(text)
            .iter()
            .map(|t| self.id(t).unwrap_or(self.unk))
            .collect()
    }

    fn word_pieces(&self, word: &str, out: &mut Vec<String>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD {
            out.push("[UNK]".into());
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut s: String = chars[start..end].iter().collect();
                if start > 0 {
                    s.insert_str(0, "##");
                }
                if self.ids.contains_key(&s) {
                    found = Some(s);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(s) => pieces.push(s),
                None => {
                    out.push("[UNK]".into());
                    return;
                }
            }
            start = end;
        }
        out.extend(pieces);
    }

    /// `[CLS] text [SEP]` padded with `[PAD]` (or truncated) to `len` tokens.
    pub fn encode_padded(&self, text: &str, len: usize) -> Encoding {
        let mut ids = vec![self.cls];
        ids.extend(self.encode(text).into_iter().take(len.saturating_sub(2)));
        ids.push(self.sep);
        ids.truncate(len);
        let n = ids.len();
        ids.resize(len, self.pad);
        Encoding {
            batch: 1,
            len,
            input_ids: ids.iter().map(|&i| i as i64).collect(),
            attention_mask: (0..len).map(|i| (i < n) as i64).collect(),
            token_type_ids: vec![0; len],
        }
    }

    /// A batch of texts at sequence length `len`: each of the three tensors is `[texts, len]`.
    pub fn encode_batch(&self, texts: &[&str], len: usize) -> Encoding {
        let mut out = Encoding {
            batch: texts.len(),
            len,
            ..Default::default()
        };
        for t in texts {
            let e = self.encode_padded(t, len);
            out.input_ids.extend(e.input_ids);
            out.attention_mask.extend(e.attention_mask);
            out.token_type_ids.extend(e.token_type_ids);
        }
        out
    }
}

/// The inputs of a BERT encoder, row-major `[batch, len]` int64 values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    pub batch: usize,
    pub len: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

impl Encoding {
    /// The tensors a model's graph inputs ask for, in the order of `names` (BERT exports name
    /// them `input_ids`, `attention_mask` and, in some, `token_type_ids`; paraphrase-MiniLM-L3-v2
    /// takes the first two), each `[batch, len]`.
    pub fn for_inputs<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Const>> {
        names
            .into_iter()
            .map(|name| {
                let data = match name {
                    "input_ids" => &self.input_ids,
                    "attention_mask" => &self.attention_mask,
                    "token_type_ids" => &self.token_type_ids,
                    other => {
                        return Err(Error::invalid(
                            "model",
                            format!(
                                "graph input `{other}` is not a BERT input (input_ids, attention_mask, token_type_ids)"
                            ),
                        ));
                    }
                };
                Ok(Const::I64 {
                    shape: vec![self.batch, self.len],
                    data: data.clone(),
                })
            })
            .collect()
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || (!c.is_ascii()
            && !c.is_alphanumeric()
            && !c.is_whitespace()
            && !unicode_normalization::char::is_combining_mark(c))
}

/// BERT's basic (uncased) tokenisation: words and punctuation marks.
pub fn basic_tokens(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' {
            continue;
        }
        if c.is_whitespace() {
            cleaned.push(' ');
        } else if c.is_control() {
            continue;
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let mut out = Vec::new();
    for word in cleaned.split(' ').filter(|w| !w.is_empty()) {
        let lowered: String = word
            .to_lowercase()
            .nfd()
            .filter(|&c| !unicode_normalization::char::is_combining_mark(c))
            .collect();
        let mut cur = String::new();
        for c in lowered.chars() {
            if is_punct(c) {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> WordPiece {
        let lines = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "runn", "##ing", "!", "cafe", "the", ",",
        ];
        WordPiece::from_lines(lines, "test").unwrap()
    }

    #[test]
    fn basic_tokenisation() {
        assert_eq!(
            basic_tokens(" Hello,\tWORLD!! ñandú\u{7}  x"),
            vec!["hello", ",", "world", "!", "!", "nandu", "x"]
        );
        assert_eq!(basic_tokens("ab中文cd"), vec!["ab", "中", "文", "cd"]);
        assert_eq!(basic_tokens("don't"), vec!["don", "'", "t"]);
        assert!(basic_tokens("   ").is_empty());
    }

    #[test]
    fn greedy_longest_match_first() {
        let v = vocab();
        assert_eq!(
            v.tokenize("unaffable running!"),
            vec!["un", "##aff", "##able", "runn", "##ing", "!"]
        );
        assert_eq!(v.tokenize("Café, unx"), vec!["cafe", ",", "[UNK]"]);
        assert_eq!(v.tokenize(&"a".repeat(101)), vec!["[UNK]"]);
        let e = v.encode_padded("the running", 6);
        assert_eq!(e.input_ids, vec![2, 11, 7, 8, 3, 0]);
        assert_eq!(e.attention_mask, vec![1, 1, 1, 1, 1, 0]);
        assert_eq!(e.token_type_ids, vec![0; 6]);
        // Truncation keeps [CLS] ... [SEP].
        let e = v.encode_padded("the running the", 4);
        assert_eq!(e.input_ids, vec![2, 11, 7, 3]);
        assert!(
            WordPiece::from_lines(["[PAD]", "[UNK]"], "v.txt")
                .unwrap_err()
                .to_string()
                .contains("[CLS]")
        );
    }
}
