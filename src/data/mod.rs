//! Data sets for training and accuracy experiments: labelled samples as one f32 tensor.
//!
//! May import `crate::error` and `crate::nn` (tensors, tensor files, and the zoo for the pretrained
//! MNIST CNN). Loaders read the files that
//! `scripts/fetch-data.sh` installs under the data directory ([`data_dir`]); a missing file is a
//! bad-input error that prints the exact command that fetches it. Preprocessing (scaling pixels,
//! MFCC features) happens here, in plaintext, on the data owner's side.

use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use rand_core::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

pub mod audio;
pub mod digits;
pub mod fashion;
pub mod idx;
pub mod mfcc;
pub mod minilm;
pub mod mnist;
pub mod model;
pub mod pth;
pub mod speech;
pub mod vader;
pub mod wordpiece;

/// Labelled samples: `inputs` is `[n, ...sample shape]`, `labels[i]` the class of sample i.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Name for reports (e.g. `digits`, `fashion-mnist/test`).
    pub name: String,
    /// All samples stacked along axis 0.
    pub inputs: F32Tensor,
    /// One class index per sample, each below `classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// A data set, checked: one label per sample, every label below `classes`.
    pub fn new(name: impl Into<String>, inputs: F32Tensor, labels: Vec<usize>, classes: usize) -> Result<Self> {
        let name = name.into();
        let n = inputs.shape().first().copied().unwrap_or(0);
        if n != labels.len() {
            return Err(Error::invalid(
                format!("data set {name}"),
                format!("{n} samples but {} labels", labels.len()),
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(Error::invalid(
                format!("data set {name}"),
                format!("label {bad} is not below the class count {classes}"),
            ));
        }
        Ok(Self {
            name,
            inputs,
            labels,
            classes,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of one sample.
    pub fn sample_shape(&self) -> &[usize] {
        &self.inputs.shape()[1..]
    }

    /// The samples at `indices` (in that order), as a batch `[indices.len(), ...]`, with labels.
    pub fn batch(&self, indices: &[usize]) -> Result<(F32Tensor, Vec<usize>)> {
        let per: usize = self.sample_shape().iter().product();
        let mut data = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= self.len() {
                return Err(Error::invalid(
                    format!("data set {}", self.name),
                    format!("sample {i} is out of range ({} samples)", self.len()),
                ));
            }
            data.extend_from_slice(&self.inputs.data()[i * per..(i + 1) * per]);
            labels.push(self.labels[i]);
        }
        let mut shape = vec![indices.len()];
        shape.extend_from_slice(self.sample_shape());
        Ok((F32Tensor::from_vec(&shape, data)?, labels))
    }

    /// The samples at `indices` as a data set of their own.
    pub fn subset(&self, name: impl Into<String>, indices: &[usize]) -> Result<Dataset> {
        let (inputs, labels) = self.batch(indices)?;
        Dataset::new(name, inputs, labels, self.classes)
    }

    /// The first `n` samples (all of them when `n` is larger).
    pub fn take(&self, n: usize) -> Result<Dataset> {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(self.name.clone(), &idx)
    }

    /// How many samples each class has (index = label).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        self.labels.iter().for_each(|&l| counts[l] += 1);
        counts
    }

    /// A seeded sample of `n` samples stratified by class (all of them when `n` ≥ the set's
    /// size), as a data set of its own in the set's order. A prefix is no sample: sets such as
    /// MNIST-5k are sorted by label.
    pub fn stratified(&self, n: usize, seed: u64) -> Result<Dataset> {
        let idx = stratified_indices(&self.labels, self.classes, n, seed);
        self.subset(self.name.clone(), &idx)
    }
}

/// The indices of a stratified sample of `n` of the `labels`, in ascending order. Each class
/// gets its share of `n` in proportion to its size (rounded down, the remaining samples going
/// to the classes with the largest remainders, lower labels first on ties), drawn uniformly
/// within the class by a generator seeded with `seed`.
pub fn stratified_indices(labels: &[usize], classes: usize, n: usize, seed: u64) -> Vec<usize> {
    let total = labels.len();
    if n >= total {
        return (0..total).collect();
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l].push(i);
    }
    let mut quota: Vec<usize> = members.iter().map(|m| n * m.len() / total).collect();
    let mut by_remainder: Vec<usize> = (0..classes).collect();
    by_remainder.sort_by_key(|&c| std::cmp::Reverse(n * members[c].len() % total));
    let short = n - quota.iter().sum::<usize>();
    for &c in by_remainder.iter().take(short) {
        quota[c] += 1;
    }
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for (mut m, q) in members.into_iter().zip(quota) {
        shuffle(&mut m, &mut rng);
        out.extend_from_slice(&m[..q]);
    }
    out.sort_unstable();
    out
}

/// Fisher–Yates shuffle.
fn shuffle(v: &mut [usize], rng: &mut impl Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// A data set split into training and test samples.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

/// The data sets known by name (`--data NAME`, `data:` in experiments).
pub const NAMES: [&str; 10] = [
    "digits",
    "digits-28x28",
    "fashion-mnist",
    "mnist5k",
    "speech-human",
    "speech-synth-val",
    "speech-synth-test",
    "vader",
    "vader-16",
    "vader-32",
];

/// Loads data set `name` with its train/test split. Every loader registers here, so the CLI and
/// experiments resolve names in one place.
pub fn load(name: &str) -> Result<Split> {
    match name {
        // sklearn ships no split: a fixed shuffle, 1,437 training and 360 test samples (80/20).
        "digits" => split_shuffled(digits::load(false)?, 360, 0x5eed),
        // The same images zero-padded to 1×28×28 (centred), for LeNet-style models; same split.
        "digits-28x28" => split_shuffled(digits::padded(&digits::load(true)?, 28)?, 360, 0x5eed),
        "fashion-mnist" => fashion::load(),
        // An evaluation set (for the pretrained CNN): all 5,000 samples are test samples, the
        // training part is empty. They are MNIST TRAINING images (the first 500 of each digit),
        // which the pretrained CNN probably saw. Pixels in [0, 1]; see `mnist::load_5k`.
        "mnist5k" => {
            let mut test = mnist::load_5k(mnist::Pixels::Unit)?;
            test.name = "mnist5k (MNIST training images)".into();
            let train = test.subset("mnist5k/train", &[])?;
            Ok(Split { train, test })
        }
        // Spoken digits, MFCC `[n, 40, 100]`, all training on synthetic espeak-ng voices. Test
        // splits: real human speech (3 speakers, one recording per digit each), the synthetic
        // validation voices (for choosing training settings) or the synthetic held-out voices.
        "speech-human" | "speech-synth-val" | "speech-synth-test" => {
            let sets = speech::load(&speech::SpeechConfig::default())?;
            let test = match name {
                "speech-synth-val" => sets.val,
                "speech-synth-test" => sets.test,
                _ => sets.real,
            };
            Ok(Split {
                train: sets.train,
                test,
            })
        }
        // Word polarity: WordPiece ids `[n, 8]` of VADER words, labels negative 0 / positive 1;
        // the same words padded to 16 or 32 tokens.
        "vader" => vader::load(8),
        "vader-16" => vader::load(16),
        "vader-32" => vader::load(32),
        _ => Err(Error::invalid(
            "data set",
            format!("unknown data set `{name}` (known: {})", NAMES.join(", ")),
        )),
    }
}

/// The data set whose split trains a model for data set `name` and reports its accuracy while
/// training: the synthetic validation voices for every speech set, so that training settings
/// are judged on validation data, never on a test set; `name` itself otherwise.
pub fn training_set(name: &str) -> &str {
    if name.starts_with("speech-") {
        "speech-synth-val"
    } else {
        name
    }
}

/// The folders under the data directory that data set `name` is read from.
fn sources(name: &str) -> &'static [&'static str] {
    match name {
        "digits" | "digits-28x28" => &["digits"],
        "fashion-mnist" => &["fashion-mnist"],
        "mnist5k" => &["mnist5k"],
        n if n.starts_with("speech-") => &["speech-synth", "speech-real"],
        n if n.starts_with("vader") => &["vader"],
        _ => &[],
    }
}

/// Where data set `name` came from, as `scripts/fetch-data.sh` recorded it (package, version,
/// hashes; for generated speech the espeak-ng version and the set's hash), or `None` when it
/// recorded nothing.
pub fn provenance(name: &str) -> Option<String> {
    let parts: Vec<String> = sources(name)
        .iter()
        .filter_map(|set| std::fs::read_to_string(data_dir().join(set).join("PROVENANCE")).ok())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Shuffles `all` with a fixed seed and keeps the last `test` samples for testing.
pub fn split_shuffled(all: Dataset, test: usize, seed: u64) -> Result<Split> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..all.len()).collect();
    shuffle(&mut idx, &mut rng);
    let cut = all.len().saturating_sub(test);
    Ok(Split {
        train: all.subset(format!("{}/train", all.name), &idx[..cut])?,
        test: all.subset(format!("{}/test", all.name), &idx[cut..])?,
    })
}

/// Where fetched data lives: `$TESTBED_DATA`, else `data/` in the current directory (the
/// repository root when commands run from there, as the README's do).
pub fn data_dir() -> PathBuf {
    std::env::var_os("TESTBED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// `path` under the data directory, or a bad-input error naming the data set, the missing file
/// and the command that fetches it.
pub fn require(dataset: &str, relative: impl AsRef<Path>) -> Result<PathBuf> {
    let path = data_dir().join(relative.as_ref());
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::invalid(
            format!("data set {dataset}"),
            format!(
                "{} is missing; fetch it with `scripts/fetch-data.sh {dataset}`",
                path.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_order_and_labels() {
        let x = F32Tensor::from_vec(&[3, 2], vec![0., 1., 2., 3., 4., 5.]).unwrap();
        let d = Dataset::new("t", x, vec![0, 1, 2], 3).unwrap();
        let (b, l) = d.batch(&[2, 0]).unwrap();
        assert_eq!(b.shape(), &[2, 2]);
        assert_eq!(b.data(), &[4., 5., 0., 1.]);
        assert_eq!(l, vec![2, 0]);
        assert!(d.batch(&[3]).is_err());
    }

    #[test]
    fn labels_are_checked() {
        let x = F32Tensor::zeros(&[2, 1]);
        assert!(Dataset::new("t", x.clone(), vec![0], 2).is_err());
        assert!(Dataset::new("t", x, vec![0, 2], 2).is_err());
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = load("nope").unwrap_err().to_string();
        assert!(e.contains("digits"), "{e}");
    }

    #[test]
    fn a_missing_file_names_the_fetch_command() {
        let e = require("nothing-here", "no/such/file").unwrap_err().to_string();
        assert!(e.contains("scripts/fetch-data.sh nothing-here"), "{e}");
    }
}
