//! Matrix products of [`F32Tensor`] through `matrixmultiply::sgemm`: the strided-matrix wrapper
//! that splits large products across the rayon pool, batched `matmul` and ONNX `Gemm`.

use super::{F32Tensor, checked_numel};
use crate::dense::{broadcast_shape, broadcast_strides};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Multiply-adds above which a matrix product is split across threads.
pub(super) const PAR_GEMM_WORK: usize = 1 << 21;

/// A strided matrix view: element (i, j) is `data[off + i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(super) struct MatRef<'a> {
    pub(super) data: &'a [f32],
    pub(super) off: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

/// A raw pointer that may cross threads (each thread writes a disjoint block).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint sub-blocks of one output matrix to rayon workers.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// True when every element (i, j), i < rows, j < cols, of `v` lies inside `v.data`.
fn in_bounds(v: &MatRef<'_>, rows: usize, cols: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    (rows - 1)
        .checked_mul(v.rs)
        .and_then(|x| (cols - 1).checked_mul(v.cs).and_then(|y| x.checked_add(y)))
        .and_then(|x| x.checked_add(v.off))
        .is_some_and(|last| last < v.data.len())
}

/// `c ← alpha·a·b + beta·c` for `a` `[m, k]`, `b` `[k, n]` and a contiguous row-major `c`
/// `[m, n]`. With `parallel`, large products are split across the rayon pool.
#[allow(clippy::too_many_arguments)]
pub(super) fn sgemm_into(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: &mut [f32],
    parallel: bool,
) {
    assert!(
        c.len() == m * n && in_bounds(&a, m, k) && in_bounds(&b, k, n),
        "sgemm_into: operands out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    let work = m.saturating_mul(n).saturating_mul(k);
    // Not dereferenced when k == 0 (then the offsets may point one past the end).
    let ap = a.data.as_ptr().wrapping_add(a.off);
    let bp = b.data.as_ptr().wrapping_add(b.off);
    let (rsa, csa, rsb, csb) = (a.rs as isize, a.cs as isize, b.rs as isize, b.cs as isize);
    if !parallel || threads < 2 || work < PAR_GEMM_WORK {
        // SAFETY: bounds checked above; `c` is an exclusively borrowed contiguous m×n block.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                alpha,
                ap,
                rsa,
                csa,
                bp,
                rsb,
                csb,
                beta,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        };
        return;
    }
    let (ap, bp) = (ap as usize, bp as usize);
    if m >= n {
        let rows = m.div_ceil(threads);
        c.par_chunks_mut(rows * n).enumerate().for_each(|(i, cc)| {
            let r0 = i * rows;
            let mm = cc.len() / n;
            // SAFETY: rows r0..r0+mm of `a` are in bounds (checked above); `cc` is this
            // worker's exclusive block of rows of `c`.
            unsafe {
                matrixmultiply::sgemm(
                    mm,
                    k,
                    n,
                    alpha,
                    (ap as *const f32).offset(r0 as isize * rsa),
                    rsa,
                    csa,
                    bp as *const f32,
                    rsb,
                    csb,
                    beta,
                    cc.as_mut_ptr(),
                    n as isize,
                    1,
                )
            };
        });
    } else {
        let cols = n.div_ceil(threads);
        let cp = SendPtr(c.as_mut_ptr());
        (0..n.div_ceil(cols)).into_par_iter().for_each(|i| {
            let j0 = i * cols;
            let nn = cols.min(n - j0);
            // SAFETY: columns j0..j0+nn of `b` and `c` are in bounds; column blocks of `c` are
            // disjoint between workers and `c` stays exclusively borrowed for the whole call.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    nn,
                    alpha,
                    ap as *const f32,
                    rsa,
                    csa,
                    (bp as *const f32).offset(j0 as isize * csb),
                    rsb,
                    csb,
                    beta,
                    cp.get().add(j0),
                    n as isize,
                    1,
                )
            };
        });
    }
}

impl F32Tensor {
    // ----- linear algebra -----

    /// numpy `matmul`: 1-D operands are promoted (and the added axis removed), batch axes
    /// broadcast.
    pub fn matmul(&self, other: &Self) -> Result<Self> {
        const OP: &str = "matmul";
        if self.rank() == 0 || other.rank() == 0 {
            return Err(Error::shape(
                OP,
                format!("operands {:?} and {:?} must not be scalars", self.shape, other.shape),
            ));
        }
        let a_shape = if self.rank() == 1 {
            vec![1, self.shape[0]]
        } else {
            self.shape.clone()
        };
        let b_shape = if other.rank() == 1 {
            vec![other.shape[0], 1]
        } else {
            other.shape.clone()
        };
        let (ra, rb) = (a_shape.len(), b_shape.len());
        let (m, k) = (a_shape[ra - 2], a_shape[ra - 1]);
        let (k2, n) = (b_shape[rb - 2], b_shape[rb - 1]);
        if k != k2 {
            return Err(Error::shape(
                OP,
                format!("inner dimensions of {:?} and {:?} differ", self.shape, other.shape),
            ));
        }
        let (a_batch, b_batch) = (&a_shape[..ra - 2], &b_shape[..rb - 2]);
        let batch = broadcast_shape(a_batch, b_batch)
            .map_err(|_| Error::shape(OP, format!("shapes {a_batch:?} and {b_batch:?} do not broadcast")))?;
        let mut shape = batch.clone();
        if self.rank() > 1 {
            shape.push(m);
        }
        if other.rank() > 1 {
            shape.push(n);
        }
        let total = checked_numel(OP, &[checked_numel(OP, &batch)?, m, n])?;
        let nb = checked_numel(OP, &batch)?;
        let mut data = vec![0.0f32; total];
        if total == 0 {
            return Ok(Self { shape, data });
        }
        // Matrix offsets of each batch entry in a and b.
        let offsets = |from: &[usize], mat: usize| -> Vec<usize> {
            let st = broadcast_strides(from, &batch);
            let mut out = Vec::with_capacity(nb);
            let mut idx = vec![0usize; batch.len()];
            for _ in 0..nb {
                out.push(idx.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>() * mat);
                for ax in (0..batch.len()).rev() {
                    idx[ax] += 1;
                    if idx[ax] < batch[ax] {
                        break;
                    }
                    idx[ax] = 0;
                }
            }
            out
        };
        let (ao, bo) = (offsets(a_batch, m * k), offsets(b_batch, k * n));
        let run = |i: usize, c: &mut [f32], parallel: bool| {
            let a = MatRef {
                data: &self.data,
                off: ao[i],
                rs: k,
                cs: 1,
            };
            let b = MatRef {
                data: &other.data,
                off: bo[i],
                rs: n,
                cs: 1,
            };
            sgemm_into(m, k, n, 1.0, a, b, 0.0, c, parallel);
        };
        let work = m.saturating_mul(n).saturating_mul(k);
        if nb >= rayon::current_num_threads() && nb.saturating_mul(work) >= PAR_GEMM_WORK && nb > 1 {
            data.par_chunks_mut(m * n)
                .enumerate()
                .for_each(|(i, c)| run(i, c, false));
        } else {
            for (i, c) in data.chunks_mut(m * n).enumerate() {
                run(i, c, true);
            }
        }
        Ok(Self { shape, data })
    }

    /// ONNX Gemm: `alpha·op(A)·op(B) + beta·C` for 2-D `A = self` and `B`, `op` transposing
    /// when asked; `C` (optional) is broadcast to `[M, N]`.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        b: &Self,
        c: Option<&Self>,
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<Self> {
        const OP: &str = "gemm";
        if self.rank() != 2 || b.rank() != 2 {
            return Err(Error::shape(
                OP,
                format!("A {:?} and B {:?} must be 2-d", self.shape, b.shape),
            ));
        }
        let (m, k) = if trans_a {
            (self.shape[1], self.shape[0])
        } else {
            (self.shape[0], self.shape[1])
        };
        let (k2, n) = if trans_b {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[0], b.shape[1])
        };
        if k != k2 {
            return Err(Error::shape(
                OP,
                format!(
                    "inner dimensions of A {:?} (trans_a {trans_a}) and B {:?} (trans_b {trans_b}) differ",
                    self.shape, b.shape
                ),
            ));
        }
        let (mut out, beta) = match c {
            Some(c) => (c.broadcast_to_op(OP, &[m, n])?, beta),
            None => (Self::zeros(&[m, n]), 0.0),
        };
        checked_numel(OP, &[m, n])?;
        let a = MatRef {
            data: &self.data,
            off: 0,
            rs: if trans_a { 1 } else { self.shape[1] },
            cs: if trans_a { self.shape[1] } else { 1 },
        };
        let bm = MatRef {
            data: &b.data,
            off: 0,
            rs: if trans_b { 1 } else { b.shape[1] },
            cs: if trans_b { b.shape[1] } else { 1 },
        };
        sgemm_into(m, k, n, alpha, a, bm, beta, &mut out.data, true);
        Ok(out)
    }
}
