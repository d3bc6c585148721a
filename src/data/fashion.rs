//! Fashion-MNIST (Zalando, MIT): 60,000 training and 10,000 test images of 28×28 grey clothing
//! pictures in 10 classes, the original IDX files from Debian's `dataset-fashion-mnist`.
//! Pixels are scaled to [0, 1]; images are `[n, 1, 28, 28]`.

use super::idx::read_idx;
use super::{Dataset, Split, require};
use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use std::path::Path;

/// The class names, by label.
pub const CLASSES: [&str; 10] = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// The official split: 60,000 training and 10,000 test images.
pub fn load() -> Result<Split> {
    let file = |f: &str| require("fashion-mnist", format!("fashion-mnist/{f}"));
    Ok(Split {
        train: load_pair(
            "fashion-mnist/train",
            &file("train-images-idx3-ubyte.gz")?,
            &file("train-labels-idx1-ubyte.gz")?,
        )?,
        test: load_pair(
            "fashion-mnist/test",
            &file("t10k-images-idx3-ubyte.gz")?,
            &file("t10k-labels-idx1-ubyte.gz")?,
        )?,
    })
}

/// One images file and its labels file as a data set (MNIST-layout IDX files of any image size).
pub fn load_pair(name: &str, images: &Path, labels: &Path) -> Result<Dataset> {
    let im = read_idx(images, 3)?;
    let lb = read_idx(labels, 1)?;
    let (n, h, w) = (im.shape[0], im.shape[1], im.shape[2]);
    if lb.shape[0] != n {
        return Err(Error::invalid(
            labels.display().to_string(),
            format!("{} labels for {n} images in {}", lb.shape[0], images.display()),
        ));
    }
    if let Some(bad) = lb.data.iter().find(|&&l| l >= 10) {
        return Err(Error::invalid(
            labels.display().to_string(),
            format!("label {bad} is not a class (0-9)"),
        ));
    }
    let pixels = im.data.iter().map(|&p| p as f32 / 255.0).collect();
    let inputs = F32Tensor::from_vec(&[n, 1, h, w], pixels)?;
    Dataset::new(name, inputs, lb.data.iter().map(|&l| l as usize).collect(), 10)
}

#[cfg(test)]
mod tests {
    use super::super::idx::encode_idx;
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_gzipped_pairs_and_checks_counts() {
        let dir = std::env::temp_dir().join(format!("testbed-fashion-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (im, lb, lb_bad) = (dir.join("im.gz"), dir.join("lb.gz"), dir.join("bad.gz"));
        std::fs::write(&im, gz(&encode_idx(&[2, 2, 2], &[0, 255, 51, 102, 0, 0, 0, 255]))).unwrap();
        std::fs::write(&lb, gz(&encode_idx(&[2], &[3, 9]))).unwrap();
        std::fs::write(&lb_bad, gz(&encode_idx(&[3], &[3, 9, 1]))).unwrap();
        let d = load_pair("t", &im, &lb).unwrap();
        assert_eq!(d.inputs.shape(), &[2, 1, 2, 2]);
        assert_eq!(d.inputs.data(), &[0.0, 1.0, 0.2, 0.4, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(d.labels, vec![3, 9]);
        let e = load_pair("t", &im, &lb_bad).unwrap_err().to_string();
        assert!(e.contains("bad.gz") && e.contains("3 labels for 2 images"), "{e}");
        let e = load_pair("t", &lb, &lb).unwrap_err().to_string();
        assert!(e.contains("lb.gz") && e.contains("rank 1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
