//! Float64 plaintext reference implementations: the oracle every private op is checked against.
//!
//! Deliberately naive loops over the textbook definitions, so they are easy to trust.

use crate::ring::{Conv1dParams, Conv2dParams};

/// A dense f64 tensor (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct F64Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f64>,
}

/// `[m,k]·[k,n]`.
pub fn matmul(a: &F64Tensor, b: &F64Tensor) -> F64Tensor {
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1]);
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for l in 0..k {
            let x = a.data[i * k + l];
            let brow = &b.data[l * n..(l + 1) * n];
            for (cj, bj) in c[i * n..(i + 1) * n].iter_mut().zip(brow) {
                *cj += x * bj;
            }
        }
    }
    F64Tensor {
        shape: vec![m, n],
        data: c,
    }
}

/// 2-D convolution, PyTorch semantics, no bias.
pub fn conv2d(x: &F64Tensor, w: &F64Tensor, p: &Conv2dParams) -> F64Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let ho = (h + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
    let wo = (wd + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
    let og = o / p.groups;
    let mut out = vec![0.0; n * o * ho * wo];
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0.0;
                    for ic in 0..cg {
                        let cin = g * cg + ic;
                        for ky in 0..kh {
                            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.padding[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.padding[1] as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x.data[((b * c + cin) * h + iy as usize) * wd + ix as usize];
                                let wv = w.data[((oc * cg + ic) * kh + ky) * kw + kx];
                                acc += xv * wv;
                            }
                        }
                    }
                    out[((b * o + oc) * ho + oy) * wo + ox] = acc;
                }
            }
        }
    }
    let _ = c;
    F64Tensor {
        shape: vec![n, o, ho, wo],
        data: out,
    }
}

/// 1-D convolution, PyTorch semantics, no bias (a 2-D convolution with height 1).
pub fn conv1d(x: &F64Tensor, w: &F64Tensor, p: &Conv1dParams) -> F64Tensor {
    let x2 = F64Tensor {
        shape: vec![x.shape[0], x.shape[1], 1, x.shape[2]],
        data: x.data.clone(),
    };
    let w2 = F64Tensor {
        shape: vec![w.shape[0], w.shape[1], 1, w.shape[2]],
        data: w.data.clone(),
    };
    let p2 = Conv2dParams {
        stride: [1, p.stride],
        padding: [0, p.padding],
        dilation: [1, p.dilation],
        groups: p.groups,
    };
    let mut y = conv2d(&x2, &w2, &p2);
    y.shape = vec![y.shape[0], y.shape[1], y.shape[3]];
    y
}

pub use crate::launch::report::errors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_known_values() {
        let a = F64Tensor {
            shape: vec![2, 2],
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        let b = F64Tensor {
            shape: vec![2, 1],
            data: vec![1.0, -1.0],
        };
        assert_eq!(matmul(&a, &b).data, vec![-1.0, -1.0]);
        // 3x3 input of ones, 2x2 kernel of ones, padding 1: corner windows see 1 cell, edges 2, inside 4.
        let x = F64Tensor {
            shape: vec![1, 1, 3, 3],
            data: vec![1.0; 9],
        };
        let w = F64Tensor {
            shape: vec![1, 1, 2, 2],
            data: vec![1.0; 4],
        };
        let p = Conv2dParams {
            padding: [1, 1],
            ..Default::default()
        };
        let y = conv2d(&x, &w, &p);
        assert_eq!(y.shape, vec![1, 1, 4, 4]);
        assert_eq!(&y.data[..4], &[1.0, 2.0, 2.0, 1.0]);
        assert_eq!(&y.data[4..8], &[2.0, 4.0, 4.0, 2.0]);
        let (abs, rel) = errors(&[1.0, 0.0], &[1.5, 0.0005]);
        assert_eq!(abs, 0.5);
        assert!((rel - 0.5).abs() < 1e-12);
    }
}
