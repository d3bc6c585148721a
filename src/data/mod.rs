//! Data sets for training and accuracy experiments: labelled samples as one f32 tensor.
//!
//! May import `crate::error` and `crate::nn` (tensors, tensor files, and the zoo for the pretrained
//! MNIST CNN). Loaders read the files that
//! `scripts/fetch-data.sh` installs under the data directory ([`data_dir`]); a missing file is a
//! bad-input error that prints the exact command that fetches it. Preprocessing (scaling pixels,
//! MFCC features) happens here, in plaintext, on the data owner's side.

use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use std::path::{Path, PathBuf};

pub mod audio;
pub mod digits;
pub mod fashion;
pub mod idx;
pub mod mfcc;
pub mod minilm;
pub mod mnist;
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
    "speech",
    "speech-real-aug",
    "speech-synth",
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
        // training part is empty. Pixels in [0, 1]; see `mnist::load_5k` for the CNN's scaling.
        "mnist5k" => {
            let mut test = mnist::load_5k(mnist::Pixels::Unit)?;
            test.name = "mnist5k/test".into();
            let train = test.subset("mnist5k/train", &[])?;
            Ok(Split { train, test })
        }
        // Spoken digits, MFCC `[n, 40, 100]`: train on espeak-ng voices, test on real speech (the
        // 10 recordings; with 9 perturbed copies each in `speech-real-aug`) or on held-out voices.
        "speech" | "speech-real-aug" | "speech-synth" => {
            let cfg = speech::SpeechConfig {
                real_copies: if name == "speech-real-aug" { 9 } else { 0 },
                ..Default::default()
            };
            let sets = speech::load(&cfg)?;
            let test = if name == "speech-synth" {
                sets.heldout
            } else {
                sets.real
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

/// Shuffles `all` with a fixed seed and keeps the last `test` samples for testing.
pub fn split_shuffled(all: Dataset, test: usize, seed: u64) -> Result<Split> {
    use rand_core::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..all.len()).collect();
    for i in (1..idx.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
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
