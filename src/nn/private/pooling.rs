//! Pooling on shares: the 1-D/2-D kernels of `func::pool` where they apply, else general windows
//! gathered locally by the public [`Windows`] map and reduced on shares. Global pooling uses the
//! reductions (the default bodies of [`PoolOps`]).
//!
//! Declared cost (the [`CostBackend`] implementation below):
//!
//! | op | calls |
//! |---|---|
//! | MaxPool, AveragePool with the 1-D/2-D kernels | not declared here: costed by `func::pool` |
//! | MaxPool, general windows | `max_values` over every window |
//! | AveragePool, general windows | one truncation per output cell |
//! | GlobalMaxPool; GlobalAveragePool | `max_values` over each channel plane; one truncation per channel |

use super::PrivateBackend;
use super::cost::{Call, CostBackend};
use crate::error::{Error, Result};
use crate::func::{fixed, pool, reduce};
use crate::nn::ops::{PoolAttrs, PoolOps};
use crate::nn::plain::PlainBackend;
use crate::nn::tensor::F32Tensor;
use crate::nn::window::Windows;
use crate::protocol::Protocol;
use crate::ring::RingTensor;

impl<P: Protocol> PrivateBackend<'_, P> {
    /// General pooling (any rank, padding, dilation): each share component's windows are
    /// gathered locally by the public [`Windows`] map, then reduced: a max tournament over the
    /// window (padding gets a public value far below any input), or a sum times the public
    /// reciprocal of each window's divisor (`avg`: whether padding counts).
    fn pool_windows(&mut self, x: &P::Share, a: &PoolAttrs, avg: Option<bool>) -> Result<P::Share> {
        let xs = self.p.shape(x).to_vec();
        if xs.len() < 3 {
            return Err(Error::invalid("pooling", format!("input {xs:?} has no spatial axes")));
        }
        let w = Windows::new(&xs[2..], &a.kernel, &a.strides, &a.pads, &a.dilations, a.ceil_mode)?;
        let plane: usize = xs[2..].iter().product();
        let (nc, cells, k) = (xs[0] * xs[1], w.cells(), w.k);
        let wshape = [xs[0], xs[1], cells, k];
        let windows = self
            .p
            .linear(x, &|t| RingTensor::from_vec(&wshape, w.gather(t.data(), plane, 0)))?;
        let mut out_shape = xs[..2].to_vec();
        out_shape.extend_from_slice(&w.out);
        let y = match avg {
            None => {
                let low = fixed::encode_const(self.p, -((1u64 << 24) as f64));
                let mask: Vec<u64> = (0..nc)
                    .flat_map(|_| w.src.iter().map(|s| if s.is_some() { 0 } else { low }))
                    .collect();
                let windows = self.p.add_public(&windows, &RingTensor::from_vec(&wshape, mask)?)?;
                reduce::max_values(self.p, &windows, 3)?
            }
            Some(count_include_pad) => {
                let sums = self.p.linear(&windows, &|t| t.sum_axis(3, false))?;
                let div = if count_include_pad {
                    w.padded_count.clone()
                } else {
                    w.input_count()
                };
                let f: Vec<f64> = (0..nc * cells).map(|i| 1.0 / div[i % cells].max(1) as f64).collect();
                fixed::mul_public(self.p, &sums, &f)?
            }
        };
        self.p.linear(&y, &|t| t.clone().reshape(&out_shape))
    }

    /// The 1-D/2-D kernels (1-D runs as 2-D with height 1); `avg` as in [`Self::pool_windows`].
    fn pool_fast(&mut self, x: &P::Share, a: &PoolAttrs, avg: Option<bool>) -> Result<P::Share> {
        let xs = self.p.shape(x).to_vec();
        let (kernel, strides, pads) = (&a.kernel, &a.strides, &a.pads);
        let (x4, k, s, pd) = if kernel.len() == 1 {
            let x4 = self.p.linear(x, &|t| t.clone().reshape(&[xs[0], xs[1], 1, xs[2]]))?;
            (x4, [1, kernel[0]], [1, strides[0]], [0, pads[0]])
        } else {
            (
                x.clone(),
                [kernel[0], kernel[1]],
                [strides[0], strides[1]],
                [pads[0], pads[1]],
            )
        };
        let y = match avg {
            None => pool::max_pool2d(self.p, &x4, k, s, pd, a.ceil_mode)?,
            Some(count_include_pad) => pool::avg_pool2d(self.p, &x4, k, s, pd, a.ceil_mode, count_include_pad)?,
        };
        if kernel.len() == 1 {
            let ys = self.p.shape(&y).to_vec();
            return self.p.linear(&y, &|t| t.clone().reshape(&[ys[0], ys[1], ys[3]]));
        }
        Ok(y)
    }

    fn pool(&mut self, x: &P::Share, a: &PoolAttrs, avg: Option<bool>) -> Result<P::Share> {
        if a.fast(self.p.shape(x).len()) {
            self.pool_fast(x, a, avg)
        } else {
            self.pool_windows(x, a, avg)
        }
    }
}

impl<P: Protocol> PoolOps for PrivateBackend<'_, P> {
    fn max_pool(&mut self, x: &P::Share, a: &PoolAttrs) -> Result<P::Share> {
        self.pool(x, a, None)
    }

    fn avg_pool(&mut self, x: &P::Share, a: &PoolAttrs, count_include_pad: bool) -> Result<P::Share> {
        self.pool(x, a, Some(count_include_pad))
    }
}

impl CostBackend {
    fn pool_cost(&mut self, x: &F32Tensor, a: &PoolAttrs, max: bool) -> Result<()> {
        let s = x.shape();
        if a.fast(s.len()) || s.len() < 3 {
            self.undeclared();
            return Ok(());
        }
        let w = Windows::new(&s[2..], &a.kernel, &a.strides, &a.pads, &a.dilations, a.ceil_mode)?;
        let rows = s[0] * s[1] * w.cells();
        self.call(if max {
            Call::MaxValues { rows, k: w.k }
        } else {
            Call::Trunc(rows)
        });
        Ok(())
    }
}

impl PoolOps for CostBackend {
    fn max_pool(&mut self, x: &F32Tensor, a: &PoolAttrs) -> Result<F32Tensor> {
        self.pool_cost(x, a, true)?;
        PlainBackend.max_pool(x, a)
    }

    fn avg_pool(&mut self, x: &F32Tensor, a: &PoolAttrs, count_include_pad: bool) -> Result<F32Tensor> {
        self.pool_cost(x, a, false)?;
        PlainBackend.avg_pool(x, a, count_include_pad)
    }
}
