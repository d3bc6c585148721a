//! scikit-learn's `digits`: 1,797 handwritten digits as 8×8 images of 0–16 intensities (UCI), from
//! Debian's python3-sklearn package. Pixels are scaled to [0, 1].

use super::{Dataset, require};
use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use std::io::Read;

/// All 1,797 samples as `[n, 64]` (or `[n, 1, 8, 8]` with `image`), labels 0–9.
pub fn load(image: bool) -> Result<Dataset> {
    let path = require("digits", "digits/digits.csv.gz")?;
    let file = std::fs::File::open(&path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
    let bad = |line: usize, what: &str| Error::invalid(format!("{}:{line}", path.display()), what.to_string());
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(bad(i + 1, "expected 64 pixels and a label"));
        }
        for f in &fields[..64] {
            let v: f32 = f.trim().parse().map_err(|_| bad(i + 1, "a pixel is not a number"))?;
            data.push(v / 16.0);
        }
        let l: usize = fields[64]
            .trim()
            .parse()
            .map_err(|_| bad(i + 1, "the label is not a class index"))?;
        labels.push(l);
    }
    let n = labels.len();
    let shape: Vec<usize> = if image { vec![n, 1, 8, 8] } else { vec![n, 64] };
    Dataset::new("digits", F32Tensor::from_vec(&shape, data)?, labels, 10)
}

/// `[n, 1, 8, 8]` images zero-padded to `[n, 1, size, size]` with the digit centred.
pub fn padded(images: &Dataset, size: usize) -> Result<Dataset> {
    let shape = images.inputs.shape();
    if shape.len() != 4 || shape[2] > size || shape[3] > size {
        return Err(Error::invalid(
            format!("data set {}", images.name),
            format!("cannot pad images {shape:?} to {size}x{size}"),
        ));
    }
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let (top, left) = ((size - h) / 2, (size - w) / 2);
    let mut data = vec![0.0f32; n * c * size * size];
    for (p, plane) in images.inputs.data().chunks(h * w).enumerate() {
        for y in 0..h {
            let at = p * size * size + (top + y) * size + left;
            data[at..at + w].copy_from_slice(&plane[y * w..(y + 1) * w]);
        }
    }
    Dataset::new(
        format!("{}-{size}x{size}", images.name),
        F32Tensor::from_vec(&[n, c, size, size], data)?,
        images.labels.clone(),
        images.classes,
    )
}
