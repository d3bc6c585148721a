//! `F32Tensor`: dense float32 tensors for the plaintext backend and for public values.
//!
//! Every kernel follows the ONNX operator of the same name (and PyTorch where ONNX leaves a choice
//! open, e.g. pooling output sizes with `ceil_mode`). Shapes are checked up front: a mismatch is an
//! [`Error::shape`], a bad argument an [`Error::invalid`]; no kernel panics on user input.
//!
//! Matrix products and convolutions (im2col) go through `matrixmultiply::sgemm`, split across the
//! rayon pool when the product is large.

use crate::error::{Error, Result};
use rayon::prelude::*;

mod grad;

/// A dense row-major f32 tensor.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct F32Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

// ------------------------------------------------------------------------------------------------
// Shape helpers
// ------------------------------------------------------------------------------------------------

/// Largest element count a tensor may have (so byte sizes and `isize` offsets never overflow).
const MAX_NUMEL: usize = isize::MAX as usize / 8;

/// Multiply-adds above which a matrix product is split across threads.
const PAR_GEMM_WORK: usize = 1 << 21;

/// Element count of `shape`, or a shape error when it overflows.
fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_NUMEL)
        .ok_or_else(|| Error::shape(op, format!("shape {shape:?} has too many elements")))
}

/// Row-major strides of a contiguous tensor of `shape`.
fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Normalises an axis in `[-rank, rank)`.
fn norm_axis(op: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(Error::invalid(
            op,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Normalises a list of distinct axes in `[-rank, rank)`, keeping their order.
fn norm_axes(op: &'static str, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let ax = norm_axis(op, a, rank)?;
        if out.contains(&ax) {
            return Err(Error::invalid(op, format!("axes {axes:?} repeat axis {ax}")));
        }
        out.push(ax);
    }
    Ok(out)
}

/// Strides (in elements of a contiguous tensor of `from`) that read `from` broadcast to `to`
/// (which has at least as many dims and is compatible): 0 on broadcast and missing leading axes.
fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let src = contiguous_strides(from);
    let lead = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < lead || from[i - lead] == 1 {
                0
            } else {
                src[i - lead]
            }
        })
        .collect()
}

fn broadcast_shape_op(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0usize; r];
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(op, format!("shapes {a:?} and {b:?} do not broadcast")));
        };
    }
    Ok(out)
}

/// The numpy broadcast of shapes `a` and `b`.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    broadcast_shape_op("broadcast", a, b)
}

/// Copies the box `shape` read from `src` (offset `sb`, strides `ss`) into `dst` (offset `db`,
/// strides `ds`). All offsets are in range by construction of the callers.
fn copy_box(src: &[f32], sb: isize, ss: &[isize], dst: &mut [f32], db: isize, ds: &[isize], shape: &[usize]) {
    if shape.contains(&0) {
        return;
    }
    let r = shape.len();
    if r == 0 {
        dst[db as usize] = src[sb as usize];
        return;
    }
    let inner = shape[r - 1];
    let (si, di) = (ss[r - 1], ds[r - 1]);
    let mut idx = vec![0usize; r - 1];
    let (mut so, mut dof) = (sb, db);
    loop {
        if si == 1 && di == 1 {
            let (s, d) = (so as usize, dof as usize);
            dst[d..d + inner].copy_from_slice(&src[s..s + inner]);
        } else {
            for j in 0..inner as isize {
                dst[(dof + j * di) as usize] = src[(so + j * si) as usize];
            }
        }
        let mut k = r - 1;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            so += ss[k];
            dof += ds[k];
            if idx[k] < shape[k] {
                break;
            }
            so -= ss[k] * shape[k] as isize;
            dof -= ds[k] * shape[k] as isize;
            idx[k] = 0;
        }
    }
}

fn to_isize(v: &[usize]) -> Vec<isize> {
    v.iter().map(|&x| x as isize).collect()
}

// ------------------------------------------------------------------------------------------------
// sgemm wrapper
// ------------------------------------------------------------------------------------------------

/// A strided matrix view: element (i, j) is `data[off + i·rs + j·cs]`.
#[derive(Clone, Copy)]
struct MatRef<'a> {
    data: &'a [f32],
    off: usize,
    rs: usize,
    cs: usize,
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
fn sgemm_into(
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

// ------------------------------------------------------------------------------------------------
// Convolution and pooling geometry
// ------------------------------------------------------------------------------------------------

/// Spatial parameters of a 1-D or 2-D window op, seen as 2-D (a 1-D op has height 1).
#[derive(Clone, Copy, Debug)]
struct Window2d {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    /// Pads: top, left, bottom, right.
    pt: usize,
    pl: usize,
    pb: usize,
    pr: usize,
    dh: usize,
    dw: usize,
    ho: usize,
    wo: usize,
}

impl Window2d {
    /// Output spatial dims for an input of rank `r` (3: 1-D, 4: 2-D).
    fn out_dims(&self, r: usize) -> Vec<usize> {
        if r == 3 { vec![self.wo] } else { vec![self.ho, self.wo] }
    }
}

/// Checks one attribute list: empty means `default` on every spatial axis.
fn attr_list(op: &'static str, name: &str, v: &[usize], len: usize, default: usize) -> Result<Vec<usize>> {
    if v.is_empty() {
        return Ok(vec![default; len]);
    }
    if v.len() != len {
        return Err(Error::invalid(op, format!("{name} {v:?} must have {len} entries")));
    }
    Ok(v.to_vec())
}

/// Output size of one axis of a window op; `ceil` applies the PyTorch/ONNX ceil_mode rule (the
/// last window must start inside the input or the leading padding).
#[allow(clippy::too_many_arguments)]
fn window_out(
    op: &'static str,
    n: usize,
    k: usize,
    s: usize,
    d: usize,
    pb: usize,
    pe: usize,
    ceil: bool,
) -> Result<usize> {
    let padded = n.checked_add(pb).and_then(|x| x.checked_add(pe));
    let span = (k - 1).checked_mul(d).and_then(|x| x.checked_add(1));
    match (padded, span) {
        (Some(padded), Some(span)) if span <= padded => {
            let num = padded - span;
            let mut out = if ceil { num.div_ceil(s) } else { num / s } + 1;
            if ceil && (out - 1) * s >= n + pb {
                out -= 1;
            }
            Ok(out)
        }
        _ => Err(Error::shape(
            op,
            format!("window of size {k} (dilation {d}) does not fit the input of size {n} with padding {pb}+{pe}"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn window2d(
    op: &'static str,
    spatial: &[usize],
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    ceil: bool,
) -> Result<Window2d> {
    let sp = spatial.len();
    if kernel.len() != sp {
        return Err(Error::shape(
            op,
            format!("kernel {kernel:?} must have {sp} entries for a {sp}-d input"),
        ));
    }
    let strides = attr_list(op, "strides", strides, sp, 1)?;
    let pads = attr_list(op, "pads", pads, 2 * sp, 0)?;
    let dil = attr_list(op, "dilations", dilations, sp, 1)?;
    if strides.contains(&0) {
        return Err(Error::invalid(op, format!("strides {strides:?} must be positive")));
    }
    if dil.contains(&0) {
        return Err(Error::invalid(op, format!("dilations {dil:?} must be positive")));
    }
    if kernel.contains(&0) {
        return Err(Error::shape(op, format!("kernel {kernel:?} must be positive")));
    }
    let mut outs = Vec::with_capacity(sp);
    for i in 0..sp {
        outs.push(window_out(
            op,
            spatial[i],
            kernel[i],
            strides[i],
            dil[i],
            pads[i],
            pads[sp + i],
            ceil,
        )?);
    }
    Ok(if sp == 1 {
        Window2d {
            h: 1,
            w: spatial[0],
            kh: 1,
            kw: kernel[0],
            sh: 1,
            sw: strides[0],
            pt: 0,
            pl: pads[0],
            pb: 0,
            pr: pads[1],
            dh: 1,
            dw: dil[0],
            ho: 1,
            wo: outs[0],
        }
    } else {
        Window2d {
            h: spatial[0],
            w: spatial[1],
            kh: kernel[0],
            kw: kernel[1],
            sh: strides[0],
            sw: strides[1],
            pt: pads[0],
            pl: pads[1],
            pb: pads[2],
            pr: pads[3],
            dh: dil[0],
            dw: dil[1],
            ho: outs[0],
            wo: outs[1],
        }
    })
}

/// Output positions `lo..hi` (clamped to `0..out`) whose input index `o·s + off − pad` lies in
/// `0..n`.
fn valid_range(n: usize, out: usize, s: usize, off: usize, pad: usize) -> (usize, usize) {
    let lo = if off >= pad { 0 } else { (pad - off).div_ceil(s) };
    let hi = if n + pad <= off { 0 } else { (n + pad - off).div_ceil(s) };
    let hi = hi.min(out);
    (lo.min(hi), hi)
}

/// Fills the im2col matrix `[c·kh·kw, ho·wo]` of one image `[c, h, w]`.
fn im2col(g: &Window2d, c: usize, image: &[f32], cols: &mut [f32]) {
    let plane = g.ho * g.wo;
    for (row, dst) in cols.chunks_exact_mut(plane).enumerate().take(c * g.kh * g.kw) {
        let kj = row % g.kw;
        let ki = (row / g.kw) % g.kh;
        let ch = row / (g.kw * g.kh);
        let src = &image[ch * g.h * g.w..(ch + 1) * g.h * g.w];
        let (wlo, whi) = valid_range(g.w, g.wo, g.sw, kj * g.dw, g.pl);
        for oh in 0..g.ho {
            let out = &mut dst[oh * g.wo..(oh + 1) * g.wo];
            let ih = (oh * g.sh + ki * g.dh) as isize - g.pt as isize;
            if ih < 0 || ih >= g.h as isize || wlo >= whi {
                out.fill(0.0);
                continue;
            }
            let srow = &src[ih as usize * g.w..(ih as usize + 1) * g.w];
            out[..wlo].fill(0.0);
            out[whi..].fill(0.0);
            let iw0 = wlo * g.sw + kj * g.dw - g.pl;
            if g.sw == 1 {
                out[wlo..whi].copy_from_slice(&srow[iw0..iw0 + (whi - wlo)]);
            } else {
                for (t, o) in out[wlo..whi].iter_mut().enumerate() {
                    *o = srow[iw0 + t * g.sw];
                }
            }
        }
    }
}

/// Which pooling a window op computes.
#[derive(Clone, Copy)]
enum PoolKind {
    Max,
    Avg { count_include_pad: bool },
}

// ------------------------------------------------------------------------------------------------
// F32Tensor
// ------------------------------------------------------------------------------------------------

impl F32Tensor {
    // ----- construction and access -----

    /// Wraps `data` with `shape`; errors when the element count does not match.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let n = checked_numel("tensor", shape)?;
        if n != data.len() {
            return Err(Error::shape(
                "tensor",
                format!("shape {shape:?} holds {n} elements, got {}", data.len()),
            ));
        }
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// Every element equal to `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![value; shape.iter().product()],
        }
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: f32) -> Self {
        Self {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Row-major values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable row-major values.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the tensor, returning its values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// The largest `|self − other|` over all elements (0 where both are equal, including equal
    /// infinities); `f32::INFINITY` when the shapes differ or exactly one side is NaN.
    pub fn max_abs_diff(&self, other: &Self) -> f32 {
        if self.shape != other.shape {
            return f32::INFINITY;
        }
        self.data
            .iter()
            .zip(&other.data)
            .map(|(&a, &b)| {
                if a == b || (a.is_nan() && b.is_nan()) {
                    0.0
                } else {
                    let d = (a - b).abs();
                    if d.is_nan() { f32::INFINITY } else { d }
                }
            })
            .fold(0.0f32, f32::max)
    }

    // ----- shape and data movement -----

    /// Same values with `shape` (element counts must match).
    pub fn reshape_exact(&self, shape: &[usize]) -> Result<Self> {
        let n = checked_numel("reshape", shape)?;
        if n != self.data.len() {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {:?} to {shape:?}", self.shape),
            ));
        }
        Ok(Self {
            shape: shape.to_vec(),
            data: self.data.clone(),
        })
    }

    /// ONNX Reshape: 0 copies the input dimension at the same index, one −1 is inferred.
    pub fn reshape(&self, shape: &[i64]) -> Result<Self> {
        const OP: &str = "reshape";
        let mut out = Vec::with_capacity(shape.len());
        let mut infer = None;
        for (i, &d) in shape.iter().enumerate() {
            match d {
                -1 => {
                    if infer.replace(i).is_some() {
                        return Err(Error::invalid(OP, format!("shape {shape:?} has more than one -1")));
                    }
                    out.push(1);
                }
                0 => match self.shape.get(i) {
                    Some(&s) => out.push(s),
                    None => {
                        return Err(Error::shape(
                            OP,
                            format!(
                                "shape {shape:?} copies dim {i} (0) but the input {:?} has rank {}",
                                self.shape,
                                self.shape.len()
                            ),
                        ));
                    }
                },
                d if d > 0 => {
                    out.push(usize::try_from(d).map_err(|_| Error::invalid(OP, format!("dimension {d} is too large")))?)
                }
                _ => {
                    return Err(Error::invalid(
                        OP,
                        format!("shape {shape:?} has a negative dimension other than -1"),
                    ));
                }
            }
        }
        let known = checked_numel(OP, &out)?;
        if let Some(i) = infer {
            if known == 0 || !self.data.len().is_multiple_of(known) {
                return Err(Error::shape(
                    OP,
                    format!("cannot reshape {:?} to {shape:?}", self.shape),
                ));
            }
            out[i] = self.data.len() / known;
        }
        self.reshape_exact(&out)
            .map_err(|_| Error::shape(OP, format!("cannot reshape {:?} to {shape:?}", self.shape)))
    }

    /// ONNX Flatten: `[d0..d(axis−1), d(axis)..]` → 2-D; `axis` in `[-rank, rank]`.
    pub fn flatten(&self, axis: i64) -> Result<Self> {
        let r = self.rank() as i64;
        if axis < -r || axis > r {
            return Err(Error::invalid(
                "flatten",
                format!("axis {axis} is out of range for rank {r}"),
            ));
        }
        let a = if axis < 0 { axis + r } else { axis } as usize;
        let outer: usize = self.shape[..a].iter().product();
        let inner: usize = self.shape[a..].iter().product();
        Ok(Self {
            shape: vec![outer, inner],
            data: self.data.clone(),
        })
    }

    /// Permutes the axes: output axis `i` is input axis `perm[i]`. An empty `perm` reverses the
    /// axes (the ONNX default).
    pub fn transpose(&self, perm: &[usize]) -> Result<Self> {
        let r = self.rank();
        let perm: Vec<usize> = if perm.is_empty() {
            (0..r).rev().collect()
        } else {
            perm.to_vec()
        };
        let mut seen = vec![false; r];
        if perm.len() != r || perm.iter().any(|&p| p >= r || std::mem::replace(&mut seen[p], true)) {
            return Err(Error::invalid(
                "transpose",
                format!("{perm:?} is not a permutation of the axes of {:?}", self.shape),
            ));
        }
        let src = contiguous_strides(&self.shape);
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let ss: Vec<isize> = perm.iter().map(|&p| src[p] as isize).collect();
        let mut data = vec![0.0; self.data.len()];
        copy_box(
            &self.data,
            0,
            &ss,
            &mut data,
            0,
            &to_isize(&contiguous_strides(&shape)),
            &shape,
        );
        Ok(Self { shape, data })
    }

    /// ONNX Unsqueeze: inserts size-1 axes at `axes` (positions in the output, negative allowed).
    pub fn unsqueeze(&self, axes: &[i64]) -> Result<Self> {
        let out_rank = self.rank() + axes.len();
        let axes = norm_axes("unsqueeze", axes, out_rank)?;
        let mut it = self.shape.iter();
        let shape = (0..out_rank)
            .map(|i| {
                if axes.contains(&i) {
                    1
                } else {
                    *it.next().expect("rank arithmetic")
                }
            })
            .collect();
        Ok(Self {
            shape,
            data: self.data.clone(),
        })
    }

    /// ONNX Squeeze: removes the size-1 axes `axes` (all size-1 axes when empty).
    pub fn squeeze(&self, axes: &[i64]) -> Result<Self> {
        let axes = norm_axes("squeeze", axes, self.rank())?;
        for &a in &axes {
            if self.shape[a] != 1 {
                return Err(Error::shape(
                    "squeeze",
                    format!("axis {a} of {:?} is not 1", self.shape),
                ));
            }
        }
        let shape = self
            .shape
            .iter()
            .enumerate()
            .filter(|&(i, &d)| if axes.is_empty() { d != 1 } else { !axes.contains(&i) })
            .map(|(_, &d)| d)
            .collect();
        Ok(Self {
            shape,
            data: self.data.clone(),
        })
    }

    /// ONNX Concat of `parts` along `axis` (all other dims must agree).
    pub fn concat(parts: &[&F32Tensor], axis: i64) -> Result<Self> {
        const OP: &str = "concat";
        let first = parts.first().ok_or_else(|| Error::invalid(OP, "no inputs"))?;
        let r = first.rank();
        if r == 0 {
            return Err(Error::shape(OP, "cannot concatenate scalars"));
        }
        let ax = norm_axis(OP, axis, r)?;
        let mut total = 0usize;
        for p in parts {
            let same = p.rank() == r && (0..r).all(|i| i == ax || p.shape[i] == first.shape[i]);
            if !same {
                return Err(Error::shape(
                    OP,
                    format!("cannot concatenate {:?} and {:?} along axis {ax}", first.shape, p.shape),
                ));
            }
            total = total
                .checked_add(p.shape[ax])
                .ok_or_else(|| Error::shape(OP, "result is too large"))?;
        }
        let mut shape = first.shape.clone();
        shape[ax] = total;
        let n = checked_numel(OP, &shape)?;
        let outer: usize = shape[..ax].iter().product();
        let inner: usize = shape[ax + 1..].iter().product();
        let mut data = Vec::with_capacity(n);
        for o in 0..outer {
            for p in parts {
                let block = p.shape[ax] * inner;
                data.extend_from_slice(&p.data[o * block..(o + 1) * block]);
            }
        }
        Ok(Self { shape, data })
    }

    /// ONNX Slice. `axes` empty means `0..starts.len()`, `steps` empty means all 1. Negative
    /// starts/ends count from the end; out-of-range values are clamped (to `[0, d]` for positive
    /// steps, `[0, d−1]` / `[−1, d−1]` for negative ones).
    pub fn slice(&self, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<Self> {
        const OP: &str = "slice";
        let r = self.rank();
        if ends.len() != starts.len()
            || (!axes.is_empty() && axes.len() != starts.len())
            || (!steps.is_empty() && steps.len() != starts.len())
        {
            return Err(Error::invalid(
                OP,
                format!("starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"),
            ));
        }
        let axes = if axes.is_empty() {
            if starts.len() > r {
                return Err(Error::invalid(OP, format!("{} starts for rank {r}", starts.len())));
            }
            (0..starts.len()).collect()
        } else {
            norm_axes(OP, axes, r)?
        };
        let src = contiguous_strides(&self.shape);
        let mut shape = self.shape.clone();
        let mut ss = to_isize(&src);
        let mut base = 0isize;
        for (i, &ax) in axes.iter().enumerate() {
            let step = steps.get(i).copied().unwrap_or(1);
            if step == 0 {
                return Err(Error::invalid(OP, "step 0"));
            }
            let d = self.shape[ax] as i64;
            let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
            let (s, e) = (fix(starts[i]), fix(ends[i]));
            let (start, len) = if step > 0 {
                let (s, e) = (s.clamp(0, d), e.clamp(0, d));
                let len = if e > s { (e - s - 1) / step + 1 } else { 0 };
                (s, len)
            } else if d == 0 {
                (0, 0)
            } else {
                let (s, e) = (s.clamp(0, d - 1), e.clamp(-1, d - 1));
                let len = if s > e { (s - e - 1) / (-step) + 1 } else { 0 };
                (s, len)
            };
            shape[ax] = len as usize;
            if len > 0 {
                base += start as isize * src[ax] as isize;
            }
            // With one element or none the stride is never used; otherwise |step| < d.
            ss[ax] = if len > 1 { src[ax] as isize * step as isize } else { 0 };
        }
        let n = checked_numel(OP, &shape)?;
        let mut data = vec![0.0; n];
        if n > 0 {
            copy_box(
                &self.data,
                base,
                &ss,
                &mut data,
                0,
                &to_isize(&contiguous_strides(&shape)),
                &shape,
            );
        }
        Ok(Self { shape, data })
    }

    /// ONNX constant Pad: `pads` holds all begins then all ends (negative values crop).
    pub fn pad(&self, pads: &[i64], value: f32) -> Result<Self> {
        const OP: &str = "pad";
        let r = self.rank();
        if pads.len() != 2 * r {
            return Err(Error::invalid(
                OP,
                format!("pads {pads:?} must have {} entries for rank {r}", 2 * r),
            ));
        }
        let mut shape = Vec::with_capacity(r);
        let mut box_shape = Vec::with_capacity(r);
        let mut sb = 0isize;
        let mut db = 0isize;
        let mut lows = Vec::with_capacity(r);
        for i in 0..r {
            let d = self.shape[i] as i64;
            let (b, e) = (pads[i], pads[r + i]);
            let out = d
                .checked_add(b)
                .and_then(|x| x.checked_add(e))
                .filter(|&o| o >= 0)
                .ok_or_else(|| Error::shape(OP, format!("pads {pads:?} crop more than the input {:?}", self.shape)))?;
            shape.push(out as usize);
            // Input indices x with 0 <= x + b < out.
            let lo = (-b).clamp(0, d);
            let hi = (out - b).clamp(lo, d);
            box_shape.push((hi - lo) as usize);
            lows.push((lo, lo + b));
        }
        let n = checked_numel(OP, &shape)?;
        let mut data = vec![value; n];
        let ss = to_isize(&contiguous_strides(&self.shape));
        let ds = to_isize(&contiguous_strides(&shape));
        for i in 0..r {
            sb += lows[i].0 as isize * ss[i];
            db += lows[i].1 as isize * ds[i];
        }
        copy_box(&self.data, sb, &ss, &mut data, db, &ds, &box_shape);
        Ok(Self { shape, data })
    }

    /// ONNX Gather along `axis` with `indices` of shape `indices_shape` (negative indices count
    /// from the end). The output shape is `shape[..axis] ++ indices_shape ++ shape[axis+1..]`.
    pub fn gather(&self, axis: i64, indices: &[i64], indices_shape: &[usize]) -> Result<Self> {
        const OP: &str = "gather";
        if self.rank() == 0 {
            return Err(Error::shape(OP, "cannot gather from a scalar"));
        }
        let ax = norm_axis(OP, axis, self.rank())?;
        if checked_numel(OP, indices_shape)? != indices.len() {
            return Err(Error::shape(
                OP,
                format!(
                    "indices shape {indices_shape:?} does not hold {} indices",
                    indices.len()
                ),
            ));
        }
        let d = self.shape[ax] as i64;
        let idx = indices
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + d } else { i };
                if (0..d).contains(&j) {
                    Ok(j as usize)
                } else {
                    Err(Error::invalid(
                        OP,
                        format!("index {i} is out of range for axis {ax} of size {d}"),
                    ))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut shape = self.shape[..ax].to_vec();
        shape.extend_from_slice(indices_shape);
        shape.extend_from_slice(&self.shape[ax + 1..]);
        let n = checked_numel(OP, &shape)?;
        let outer: usize = self.shape[..ax].iter().product();
        let inner: usize = self.shape[ax + 1..].iter().product();
        let mut data = Vec::with_capacity(n);
        for o in 0..outer {
            let block = &self.data[o * self.shape[ax] * inner..(o + 1) * self.shape[ax] * inner];
            for &j in &idx {
                data.extend_from_slice(&block[j * inner..(j + 1) * inner]);
            }
        }
        Ok(Self { shape, data })
    }

    fn broadcast_to_op(&self, op: &'static str, shape: &[usize]) -> Result<Self> {
        let compatible = self.rank() <= shape.len()
            && self
                .shape
                .iter()
                .zip(&shape[shape.len() - self.rank()..])
                .all(|(&a, &b)| a == b || a == 1);
        if !compatible {
            return Err(Error::shape(
                op,
                format!("cannot broadcast {:?} to {shape:?}", self.shape),
            ));
        }
        if self.shape == shape {
            return Ok(self.clone());
        }
        let n = checked_numel(op, shape)?;
        let mut data = vec![0.0; n];
        copy_box(
            &self.data,
            0,
            &to_isize(&broadcast_strides(&self.shape, shape)),
            &mut data,
            0,
            &to_isize(&contiguous_strides(shape)),
            shape,
        );
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// numpy `broadcast_to`: repeats size-1 and missing leading axes to reach `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        self.broadcast_to_op("broadcast_to", shape)
    }

    // ----- elementwise -----

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Self {
        Self {
            shape: self.shape.clone(),
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }

    /// Combines `self` and `other` elementwise with numpy broadcasting.
    pub fn zip_with(&self, other: &Self, op: &'static str, f: impl Fn(f32, f32) -> f32) -> Result<Self> {
        if self.shape == other.shape {
            let data = self.data.iter().zip(&other.data).map(|(&a, &b)| f(a, b)).collect();
            return Ok(Self {
                shape: self.shape.clone(),
                data,
            });
        }
        let shape = broadcast_shape_op(op, &self.shape, &other.shape)?;
        let n = checked_numel(op, &shape)?;
        if other.data.len() == 1 && shape == self.shape {
            let b = other.data[0];
            return Ok(self.map(|a| f(a, b)));
        }
        if self.data.len() == 1 && shape == other.shape {
            let a = self.data[0];
            return Ok(other.map(|b| f(a, b)));
        }
        let mut data = Vec::with_capacity(n);
        if n == 0 {
            return Ok(Self { shape, data });
        }
        let sa = broadcast_strides(&self.shape, &shape);
        let sb = broadcast_strides(&other.shape, &shape);
        let r = shape.len();
        let inner = shape[r - 1];
        let (ia, ib) = (sa[r - 1], sb[r - 1]);
        let mut idx = vec![0usize; r - 1];
        let (mut oa, mut ob) = (0usize, 0usize);
        loop {
            match (ia != 0, ib != 0) {
                (true, true) => data.extend(
                    self.data[oa..oa + inner]
                        .iter()
                        .zip(&other.data[ob..ob + inner])
                        .map(|(&a, &b)| f(a, b)),
                ),
                (true, false) => {
                    let b = other.data[ob];
                    data.extend(self.data[oa..oa + inner].iter().map(|&a| f(a, b)));
                }
                (false, true) => {
                    let a = self.data[oa];
                    data.extend(other.data[ob..ob + inner].iter().map(|&b| f(a, b)));
                }
                (false, false) => data.extend(std::iter::repeat_n(f(self.data[oa], other.data[ob]), inner)),
            }
            let mut k = r - 1;
            loop {
                if k == 0 {
                    return Ok(Self { shape, data });
                }
                k -= 1;
                idx[k] += 1;
                oa += sa[k];
                ob += sb[k];
                if idx[k] < shape[k] {
                    break;
                }
                oa -= sa[k] * shape[k];
                ob -= sb[k] * shape[k];
                idx[k] = 0;
            }
        }
    }

    /// `self + other` (broadcasting).
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "add", |a, b| a + b)
    }

    /// `self − other` (broadcasting).
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "sub", |a, b| a - b)
    }

    /// `self · other` (broadcasting).
    pub fn mul(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "mul", |a, b| a * b)
    }

    /// `self / other` (broadcasting, IEEE division).
    pub fn div(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "div", |a, b| a / b)
    }

    /// `self ^ other` (broadcasting, `powf`).
    pub fn pow(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "pow", f32::powf)
    }

    /// `c · self`.
    pub fn scale(&self, c: f32) -> Self {
        self.map(|x| c * x)
    }

    /// `−self`.
    pub fn neg(&self) -> Self {
        self.map(|x| -x)
    }

    /// Square root (NaN below 0).
    pub fn sqrt(&self) -> Self {
        self.map(f32::sqrt)
    }

    /// `e^x`.
    pub fn exp(&self) -> Self {
        self.map(f32::exp)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Self {
        self.map(f32::ln)
    }

    /// `1 / x`.
    pub fn reciprocal(&self) -> Self {
        self.map(|x| 1.0 / x)
    }

    /// `max(x, 0)`.
    pub fn relu(&self) -> Self {
        self.map(|x| if x > 0.0 || x.is_nan() { x } else { 0.0 })
    }

    /// `1 / (1 + e^−x)`, evaluated without overflow.
    pub fn sigmoid(&self) -> Self {
        self.map(|x| {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        })
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Self {
        self.map(f32::tanh)
    }

    /// The error function.
    pub fn erf(&self) -> Self {
        self.map(libm::erff)
    }

    /// GELU: `x·Φ(x)` exactly, or the tanh approximation
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    pub fn gelu(&self, tanh: bool) -> Self {
        if tanh {
            let c = (2.0f32 / std::f32::consts::PI).sqrt();
            self.map(|x| 0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh()))
        } else {
            self.map(|x| 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)))
        }
    }

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
        let batch = broadcast_shape_op(OP, a_batch, b_batch)?;
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

    /// ONNX Conv for 1-D (`[N, C, L]`) and 2-D (`[N, C, H, W]`) inputs with weights
    /// `[O, C/group, k…]` and optional bias `[O]`. Empty `strides`/`dilations` mean 1, empty
    /// `pads` mean 0; `pads` holds all begins then all ends.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &self,
        w: &Self,
        bias: Option<&Self>,
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
        group: usize,
    ) -> Result<Self> {
        const OP: &str = "conv";
        let r = self.rank();
        if !(r == 3 || r == 4) || w.rank() != r {
            return Err(Error::shape(
                OP,
                format!(
                    "input {:?} and weights {:?} must both be 3-d or 4-d",
                    self.shape, w.shape
                ),
            ));
        }
        if group == 0 {
            return Err(Error::invalid(OP, "group must be positive"));
        }
        let (nimg, c) = (self.shape[0], self.shape[1]);
        let o = w.shape[0];
        if !c.is_multiple_of(group) || !o.is_multiple_of(group) || w.shape[1] * group != c {
            return Err(Error::shape(
                OP,
                format!(
                    "input {:?} and weights {:?} do not fit group {group}",
                    self.shape, w.shape
                ),
            ));
        }
        if let Some(b) = bias
            && b.shape != [o]
        {
            return Err(Error::shape(OP, format!("bias {:?} must be [{o}]", b.shape)));
        }
        let g = window2d(OP, &self.shape[2..], &w.shape[2..], strides, pads, dilations, false)?;
        let (cg, og) = (c / group, o / group);
        let kk = cg * g.kh * g.kw;
        let plane = g.ho * g.wo;
        let mut shape = vec![nimg, o];
        shape.extend_from_slice(&g.out_dims(r));
        let n = checked_numel(OP, &shape)?;
        checked_numel(OP, &[kk, plane])?;
        let mut data = vec![0.0f32; n];
        if n == 0 {
            return Ok(Self { shape, data });
        }
        if let Some(b) = bias {
            for (ch, block) in data.chunks_exact_mut(plane).enumerate() {
                block.fill(b.data[ch % o]);
            }
        }
        let beta = if bias.is_some() { 1.0 } else { 0.0 };
        let pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt + g.pl + g.pb + g.pr == 0;
        let in_image = c * g.h * g.w;
        let task = |i: usize, out: &mut [f32], cols: &mut Vec<f32>, parallel: bool| {
            let (img, gi) = (i / group, i % group);
            let chans = &self.data[img * in_image + gi * cg * g.h * g.w..][..cg * g.h * g.w];
            let bmat = if pointwise || kk == 0 {
                chans
            } else {
                cols.resize(kk * plane, 0.0);
                im2col(&g, cg, chans, cols);
                &cols[..]
            };
            let a = MatRef {
                data: &w.data,
                off: gi * og * kk,
                rs: kk,
                cs: 1,
            };
            let b = MatRef {
                data: bmat,
                off: 0,
                rs: plane,
                cs: 1,
            };
            sgemm_into(og, kk, plane, 1.0, a, b, beta, out, parallel);
        };
        let tasks = nimg * group;
        let work = og.saturating_mul(kk).saturating_mul(plane);
        if tasks >= rayon::current_num_threads() && tasks > 1 && tasks.saturating_mul(work) >= PAR_GEMM_WORK {
            data.par_chunks_mut(og * plane)
                .enumerate()
                .for_each_init(Vec::new, |cols, (i, out)| task(i, out, cols, false));
        } else {
            let mut cols = Vec::new();
            for (i, out) in data.chunks_mut(og * plane).enumerate() {
                task(i, out, &mut cols, true);
            }
        }
        Ok(Self { shape, data })
    }

    // ----- pooling -----

    fn pool(
        &self,
        op: &'static str,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        ceil_mode: bool,
        kind: PoolKind,
    ) -> Result<Self> {
        let r = self.rank();
        if !(r == 3 || r == 4) {
            return Err(Error::shape(op, format!("input {:?} must be 3-d or 4-d", self.shape)));
        }
        let g = window2d(op, &self.shape[2..], kernel, strides, pads, &[], ceil_mode)?;
        if g.pt >= g.kh || g.pb >= g.kh || g.pl >= g.kw || g.pr >= g.kw {
            return Err(Error::invalid(
                op,
                format!("pads {pads:?} must be smaller than the kernel {kernel:?}"),
            ));
        }
        let mut shape = self.shape[..2].to_vec();
        shape.extend_from_slice(&g.out_dims(r));
        let n = checked_numel(op, &shape)?;
        let mut data = vec![0.0f32; n];
        let plane_out = g.ho * g.wo;
        let plane_in = g.h * g.w;
        if n == 0 {
            return Ok(Self { shape, data });
        }
        let run = |p: usize, out: &mut [f32]| {
            let src = &self.data[p * plane_in..(p + 1) * plane_in];
            for oh in 0..g.ho {
                let hs = (oh * g.sh) as isize - g.pt as isize;
                let he_pad = (hs + g.kh as isize).min((g.h + g.pb) as isize);
                let (h0, h1) = (hs.max(0) as usize, (hs + g.kh as isize).min(g.h as isize) as usize);
                for ow in 0..g.wo {
                    let ws = (ow * g.sw) as isize - g.pl as isize;
                    let we_pad = (ws + g.kw as isize).min((g.w + g.pr) as isize);
                    let (w0, w1) = (ws.max(0) as usize, (ws + g.kw as isize).min(g.w as isize) as usize);
                    out[oh * g.wo + ow] = match kind {
                        PoolKind::Max => {
                            let mut m = f32::NEG_INFINITY;
                            for ih in h0..h1 {
                                for &v in &src[ih * g.w + w0..ih * g.w + w1] {
                                    if v > m || v.is_nan() {
                                        m = v;
                                    }
                                }
                            }
                            m
                        }
                        PoolKind::Avg { count_include_pad } => {
                            let mut s = 0.0f32;
                            for ih in h0..h1 {
                                s += src[ih * g.w + w0..ih * g.w + w1].iter().sum::<f32>();
                            }
                            let count = if count_include_pad {
                                ((he_pad - hs) * (we_pad - ws)) as usize
                            } else {
                                (h1 - h0) * (w1 - w0)
                            };
                            s / count as f32
                        }
                    };
                }
            }
        };
        let work = n.saturating_mul(g.kh * g.kw);
        if work >= 1 << 18 {
            data.par_chunks_mut(plane_out)
                .enumerate()
                .for_each(|(p, out)| run(p, out));
        } else {
            for (p, out) in data.chunks_mut(plane_out).enumerate() {
                run(p, out);
            }
        }
        Ok(Self { shape, data })
    }

    /// ONNX MaxPool (1-D or 2-D); padding is ignored, `ceil_mode` follows PyTorch.
    pub fn max_pool(&self, kernel: &[usize], strides: &[usize], pads: &[usize], ceil_mode: bool) -> Result<Self> {
        self.pool("max_pool", kernel, strides, pads, ceil_mode, PoolKind::Max)
    }

    /// ONNX AveragePool (1-D or 2-D). With `count_include_pad` the divisor counts the window
    /// clipped to the padded input (PyTorch), otherwise only the input elements.
    pub fn avg_pool(
        &self,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        ceil_mode: bool,
        count_include_pad: bool,
    ) -> Result<Self> {
        self.pool(
            "avg_pool",
            kernel,
            strides,
            pads,
            ceil_mode,
            PoolKind::Avg { count_include_pad },
        )
    }

    /// ONNX GlobalAveragePool: `[N, C, d…]` → `[N, C, 1…]`.
    pub fn global_avg_pool(&self) -> Result<Self> {
        if self.rank() < 3 {
            return Err(Error::shape(
                "global_avg_pool",
                format!("input {:?} must have spatial axes", self.shape),
            ));
        }
        let plane: usize = self.shape[2..].iter().product();
        let mut shape = self.shape[..2].to_vec();
        shape.resize(self.rank(), 1);
        let planes = self.shape[0] * self.shape[1];
        let data = if plane == 0 {
            vec![f32::NAN; planes]
        } else {
            self.data
                .chunks_exact(plane)
                .map(|p| (p.iter().map(|&x| x as f64).sum::<f64>() / plane as f64) as f32)
                .collect()
        };
        Ok(Self { shape, data })
    }

    /// PyTorch `adaptive_avg_pool2d` on `[N, C, H, W]` (or `[C, H, W]`): output cell `i` averages
    /// rows `floor(i·H/o) .. ceil((i+1)·H/o)`, likewise for columns.
    pub fn adaptive_avg_pool2d(&self, out_h: usize, out_w: usize) -> Result<Self> {
        const OP: &str = "adaptive_avg_pool2d";
        let r = self.rank();
        if !(r == 3 || r == 4) {
            return Err(Error::shape(OP, format!("input {:?} must be 3-d or 4-d", self.shape)));
        }
        let (h, w) = (self.shape[r - 2], self.shape[r - 1]);
        if out_h == 0 || out_w == 0 || (h == 0 && out_h > 0) || (w == 0 && out_w > 0) {
            return Err(Error::invalid(
                OP,
                format!("output size {out_h}x{out_w} for input {:?}", self.shape),
            ));
        }
        let mut shape = self.shape[..r - 2].to_vec();
        shape.extend_from_slice(&[out_h, out_w]);
        let n = checked_numel(OP, &shape)?;
        let planes: usize = self.shape[..r - 2].iter().product();
        let mut data = Vec::with_capacity(n);
        for p in 0..planes {
            let src = &self.data[p * h * w..(p + 1) * h * w];
            for i in 0..out_h {
                let (h0, h1) = (i * h / out_h, ((i + 1) * h).div_ceil(out_h));
                for j in 0..out_w {
                    let (w0, w1) = (j * w / out_w, ((j + 1) * w).div_ceil(out_w));
                    let mut s = 0.0f32;
                    for ih in h0..h1 {
                        s += src[ih * w + w0..ih * w + w1].iter().sum::<f32>();
                    }
                    data.push(s / ((h1 - h0) * (w1 - w0)) as f32);
                }
            }
        }
        Ok(Self { shape, data })
    }

    // ----- reductions and normalisation -----

    /// `(outer, len, inner)` around `axis`.
    fn split_at_axis(&self, ax: usize) -> (usize, usize, usize) {
        (
            self.shape[..ax].iter().product(),
            self.shape[ax],
            self.shape[ax + 1..].iter().product(),
        )
    }

    fn softmax_impl(&self, op: &'static str, axis: i64, log: bool) -> Result<Self> {
        let ax = norm_axis(op, axis, self.rank())?;
        let (outer, len, inner) = self.split_at_axis(ax);
        let mut data = self.data.clone();
        let mut line = vec![0.0f32; len];
        for o in 0..outer {
            let block = &mut data[o * len * inner..(o + 1) * len * inner];
            for j in 0..inner {
                for (t, v) in line.iter_mut().enumerate() {
                    *v = block[t * inner + j];
                }
                let m = line.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let s: f32 = line.iter().map(|&x| (x - m).exp()).sum();
                if log {
                    let ls = s.ln();
                    for (t, &v) in line.iter().enumerate() {
                        block[t * inner + j] = (v - m) - ls;
                    }
                } else {
                    for (t, &v) in line.iter().enumerate() {
                        block[t * inner + j] = (v - m).exp() / s;
                    }
                }
            }
        }
        Ok(Self {
            shape: self.shape.clone(),
            data,
        })
    }

    /// ONNX Softmax (opset ≥ 13) along `axis`, stabilised by subtracting the maximum.
    pub fn softmax(&self, axis: i64) -> Result<Self> {
        self.softmax_impl("softmax", axis, false)
    }

    /// ONNX LogSoftmax along `axis`: `x − max − log Σ e^(x − max)`.
    pub fn log_softmax(&self, axis: i64) -> Result<Self> {
        self.softmax_impl("log_softmax", axis, true)
    }

    fn reduce(&self, op: &'static str, axes: &[i64], keepdims: bool, mean: bool) -> Result<Self> {
        let r = self.rank();
        let axes = norm_axes(op, axes, r)?;
        let reduced: Vec<bool> = (0..r).map(|i| axes.is_empty() || axes.contains(&i)).collect();
        let keep_shape: Vec<usize> = (0..r).map(|i| if reduced[i] { 1 } else { self.shape[i] }).collect();
        let count: usize = (0..r).filter(|&i| reduced[i]).map(|i| self.shape[i]).product();
        let ks = contiguous_strides(&keep_shape);
        let os: Vec<usize> = (0..r).map(|i| if reduced[i] { 0 } else { ks[i] }).collect();
        let nout: usize = keep_shape.iter().product();
        let mut acc = vec![0.0f64; nout];
        if !self.data.is_empty() {
            if r == 0 {
                acc[0] = self.data[0] as f64;
            } else {
                let inner = self.shape[r - 1];
                let oi = os[r - 1];
                let mut idx = vec![0usize; r - 1];
                let mut off = 0usize;
                'outer: for row in self.data.chunks_exact(inner) {
                    if oi == 0 {
                        acc[off] += row.iter().map(|&x| x as f64).sum::<f64>();
                    } else {
                        for (a, &x) in acc[off..off + inner].iter_mut().zip(row) {
                            *a += x as f64;
                        }
                    }
                    let mut k = r - 1;
                    loop {
                        if k == 0 {
                            break 'outer;
                        }
                        k -= 1;
                        idx[k] += 1;
                        off += os[k];
                        if idx[k] < self.shape[k] {
                            break;
                        }
                        off -= os[k] * self.shape[k];
                        idx[k] = 0;
                    }
                }
            }
        }
        let data = acc
            .into_iter()
            .map(|a| if mean { (a / count as f64) as f32 } else { a as f32 })
            .collect();
        let shape = if keepdims {
            keep_shape
        } else {
            (0..r).filter(|&i| !reduced[i]).map(|i| self.shape[i]).collect()
        };
        Ok(Self { shape, data })
    }

    /// ONNX ReduceMean over `axes` (all axes when empty; negative allowed).
    pub fn reduce_mean(&self, axes: &[i64], keepdims: bool) -> Result<Self> {
        self.reduce("reduce_mean", axes, keepdims, true)
    }

    /// ONNX ReduceSum over `axes` (all axes when empty; negative allowed).
    pub fn reduce_sum(&self, axes: &[i64], keepdims: bool) -> Result<Self> {
        self.reduce("reduce_sum", axes, keepdims, false)
    }

    /// ONNX LayerNormalization: normalises over axes `axis..rank` (biased variance), then
    /// multiplies by `scale` and adds `bias`, both broadcast to the input shape.
    pub fn layer_norm(&self, axis: i64, eps: f32, scale: &Self, bias: Option<&Self>) -> Result<Self> {
        const OP: &str = "layer_norm";
        let ax = norm_axis(OP, axis, self.rank())?;
        let inner: usize = self.shape[ax..].iter().product();
        let mut data = self.data.clone();
        if inner > 0 {
            for row in data.chunks_exact_mut(inner) {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / inner as f64;
                let var = row
                    .iter()
                    .map(|&x| {
                        let d = x as f64 - mean;
                        d * d
                    })
                    .sum::<f64>()
                    / inner as f64;
                let inv = 1.0 / (var + eps as f64).sqrt();
                for x in row.iter_mut() {
                    *x = ((*x as f64 - mean) * inv) as f32;
                }
            }
        }
        let y = Self {
            shape: self.shape.clone(),
            data,
        };
        let mut y = y.zip_with(scale, OP, |a, b| a * b)?;
        if let Some(b) = bias {
            y = y.zip_with(b, OP, |a, b| a + b)?;
        }
        if y.shape != self.shape {
            return Err(Error::shape(
                OP,
                format!(
                    "scale {:?} / bias {:?} do not broadcast to the input {:?}",
                    scale.shape,
                    bias.map(|b| b.shape.clone()),
                    self.shape
                ),
            ));
        }
        Ok(y)
    }

    /// The mean and 1/√(var + eps) that [`layer_norm`](Self::layer_norm) uses, shaped like the
    /// input with axes `axis..` of size 1 (ONNX LayerNormalization's optional outputs).
    pub fn layer_norm_moments(&self, axis: i64, eps: f32) -> Result<(Self, Self)> {
        let ax = norm_axis("layer_norm", axis, self.rank())?;
        let inner: usize = self.shape[ax..].iter().product();
        let mut shape = self.shape[..ax].to_vec();
        shape.resize(self.rank(), 1);
        let (mut means, mut invs) = (Vec::new(), Vec::new());
        if inner > 0 {
            for row in self.data.chunks_exact(inner) {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / inner as f64;
                let var = row.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / inner as f64;
                means.push(mean as f32);
                invs.push((1.0 / (var + eps as f64).sqrt()) as f32);
            }
        }
        Ok((Self::from_vec(&shape, means)?, Self::from_vec(&shape, invs)?))
    }

    /// Inference BatchNormalization over channel axis 1:
    /// `(x − mean) / √(var + eps) · scale + bias`, every parameter of shape `[C]`.
    pub fn batch_norm(&self, scale: &Self, bias: &Self, mean: &Self, var: &Self, eps: f32) -> Result<Self> {
        const OP: &str = "batch_norm";
        if self.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!("input {:?} must have a channel axis", self.shape),
            ));
        }
        let c = self.shape[1];
        for (name, p) in [("scale", scale), ("bias", bias), ("mean", mean), ("var", var)] {
            if p.shape != [c] {
                return Err(Error::shape(
                    OP,
                    format!("{name} {:?} must be [{c}] for input {:?}", p.shape, self.shape),
                ));
            }
        }
        let plane: usize = self.shape[2..].iter().product();
        let mul: Vec<f32> = (0..c).map(|i| scale.data[i] / (var.data[i] + eps).sqrt()).collect();
        let add: Vec<f32> = (0..c).map(|i| bias.data[i] - mean.data[i] * mul[i]).collect();
        let mut data = self.data.clone();
        if plane > 0 {
            for (p, block) in data.chunks_exact_mut(plane).enumerate() {
                let ch = p % c;
                for x in block {
                    *x = *x * mul[ch] + add[ch];
                }
            }
        }
        Ok(Self {
            shape: self.shape.clone(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rng(seed: u64) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(seed)
    }

    /// Uniform in [-1, 1).
    fn uniform(r: &mut Xoshiro256PlusPlus) -> f32 {
        (r.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }

    fn rand_t(r: &mut Xoshiro256PlusPlus, shape: &[usize]) -> F32Tensor {
        let n = shape.iter().product();
        F32Tensor::from_vec(shape, (0..n).map(|_| uniform(r)).collect()).unwrap()
    }

    fn t(shape: &[usize], data: &[f32]) -> F32Tensor {
        F32Tensor::from_vec(shape, data.to_vec()).unwrap()
    }

    fn arange(shape: &[usize]) -> F32Tensor {
        let n = shape.iter().product();
        F32Tensor::from_vec(shape, (0..n).map(|i| i as f32).collect()).unwrap()
    }

    fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for ax in (0..shape.len()).rev() {
            idx[ax] = i % shape[ax];
            i /= shape[ax];
        }
        idx
    }

    fn ravel(idx: &[usize], shape: &[usize]) -> usize {
        idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
    }

    /// The element of `x` that numpy broadcasting reads for output index `out_idx`.
    fn bget(x: &F32Tensor, out_idx: &[usize]) -> f32 {
        let lead = out_idx.len() - x.rank();
        let idx: Vec<usize> = (0..x.rank())
            .map(|i| if x.shape[i] == 1 { 0 } else { out_idx[lead + i] })
            .collect();
        x.data[ravel(&idx, &x.shape)]
    }

    fn assert_close(got: &F32Tensor, want: &F32Tensor, tol: f32, what: &str) {
        assert_eq!(got.shape, want.shape, "{what}: shape");
        let d = got.max_abs_diff(want);
        assert!(
            d <= tol,
            "{what}: max abs diff {d} > {tol}\n got {:?}\nwant {:?}",
            got.data,
            want.data
        );
    }

    // ----- shapes and data movement -----

    #[test]
    fn broadcast_shapes() {
        assert_eq!(broadcast_shape(&[2, 3, 4], &[4]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shape(&[], &[5]).unwrap(), vec![5]);
        assert_eq!(broadcast_shape(&[0, 1], &[1, 3]).unwrap(), vec![0, 3]);
        assert!(broadcast_shape(&[2, 3], &[4]).is_err());
        assert!(broadcast_shape(&[2, 3], &[3, 3]).is_err());
    }

    #[test]
    fn construction() {
        assert!(F32Tensor::from_vec(&[2, 2], vec![0.0; 3]).is_err());
        assert!(F32Tensor::from_vec(&[usize::MAX, 3], vec![]).is_err());
        let s = F32Tensor::scalar(2.5);
        assert_eq!((s.shape(), s.data()), (&[][..], &[2.5][..]));
        let f = F32Tensor::full(&[2, 3], 7.0);
        assert_eq!(f.data(), &[7.0; 6]);
        assert_eq!(F32Tensor::zeros(&[0, 4]).numel(), 0);
        assert_eq!(f.max_abs_diff(&F32Tensor::zeros(&[3, 2])), f32::INFINITY);
        assert_eq!(t(&[1], &[f32::NAN]).max_abs_diff(&t(&[1], &[f32::NAN])), 0.0);
        assert_eq!(t(&[1], &[f32::NAN]).max_abs_diff(&t(&[1], &[1.0])), f32::INFINITY);
    }

    #[test]
    fn reshape_onnx() {
        let x = arange(&[2, 3, 4]);
        assert_eq!(x.reshape(&[0, -1]).unwrap().shape(), &[2, 12]);
        assert_eq!(x.reshape(&[-1, 0, 2]).unwrap().shape(), &[4, 3, 2]);
        assert_eq!(x.reshape(&[4, 0, 2]).unwrap().shape(), &[4, 3, 2]);
        assert_eq!(x.reshape(&[24]).unwrap().data(), x.data());
        assert!(x.reshape(&[-1, -1]).is_err());
        assert!(x.reshape(&[5, -1]).is_err());
        assert!(x.reshape(&[0, 0, 0, 0]).is_err());
        assert!(x.reshape(&[-2, 12]).is_err());
        assert!(x.reshape(&[7]).is_err());
        assert!(x.reshape_exact(&[4, 6]).is_ok());
        assert!(x.reshape_exact(&[4, 5]).is_err());
        let e = F32Tensor::zeros(&[0, 3]);
        assert!(e.reshape(&[0, -1]).is_err()); // -1 is ambiguous with zero elements
        assert_eq!(e.reshape(&[-1, 0]).unwrap().shape(), &[0, 3]);
        assert_eq!(e.reshape(&[0, 0, 1]).unwrap().shape(), &[0, 3, 1]);
        assert!(e.reshape(&[3, 0, 5]).is_err());
    }

    #[test]
    fn flatten_onnx() {
        let x = arange(&[2, 3, 4, 5]);
        assert_eq!(x.flatten(0).unwrap().shape(), &[1, 120]);
        assert_eq!(x.flatten(1).unwrap().shape(), &[2, 60]);
        assert_eq!(x.flatten(-1).unwrap().shape(), &[24, 5]);
        assert_eq!(x.flatten(4).unwrap().shape(), &[120, 1]);
        assert!(x.flatten(5).is_err());
        assert!(x.flatten(-5).is_err());
        assert_eq!(F32Tensor::scalar(1.0).flatten(0).unwrap().shape(), &[1, 1]);
    }

    #[test]
    fn transpose_matches_oracle() {
        let mut r = rng(1);
        for (shape, perm) in [
            (vec![2, 3], vec![1, 0]),
            (vec![2, 3, 4], vec![2, 0, 1]),
            (vec![2, 3, 4, 5], vec![0, 2, 1, 3]),
            (vec![3, 1, 4, 2], vec![3, 2, 1, 0]),
        ] {
            let x = rand_t(&mut r, &shape);
            let y = x.transpose(&perm).unwrap();
            let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            assert_eq!(y.shape(), &oshape[..]);
            for i in 0..y.numel() {
                let oi = unravel(i, &oshape);
                let mut xi = vec![0; shape.len()];
                for (k, &p) in perm.iter().enumerate() {
                    xi[p] = oi[k];
                }
                assert_eq!(y.data[i], x.data[ravel(&xi, &shape)]);
            }
        }
        let x = arange(&[2, 3, 4]);
        assert_eq!(x.transpose(&[]).unwrap(), x.transpose(&[2, 1, 0]).unwrap());
        assert!(x.transpose(&[0, 0, 1]).is_err());
        assert!(x.transpose(&[0, 1]).is_err());
        assert!(x.transpose(&[0, 1, 3]).is_err());
    }

    #[test]
    fn unsqueeze_squeeze() {
        let x = arange(&[3, 4]);
        assert_eq!(x.unsqueeze(&[0]).unwrap().shape(), &[1, 3, 4]);
        assert_eq!(x.unsqueeze(&[-1]).unwrap().shape(), &[3, 4, 1]);
        assert_eq!(x.unsqueeze(&[0, 3]).unwrap().shape(), &[1, 3, 4, 1]);
        assert_eq!(x.unsqueeze(&[1, -2]).unwrap().shape(), &[3, 1, 1, 4]);
        assert!(x.unsqueeze(&[4]).is_err());
        assert!(x.unsqueeze(&[1, 1]).is_err());
        let y = arange(&[1, 3, 1, 4]);
        assert_eq!(y.squeeze(&[]).unwrap().shape(), &[3, 4]);
        assert_eq!(y.squeeze(&[-2]).unwrap().shape(), &[1, 3, 4]);
        assert_eq!(y.squeeze(&[0, 2]).unwrap().data(), y.data());
        assert!(y.squeeze(&[1]).is_err());
        assert!(y.squeeze(&[4]).is_err());
    }

    #[test]
    fn concat_matches_oracle() {
        let mut r = rng(2);
        let a = rand_t(&mut r, &[2, 3, 4]);
        let b = rand_t(&mut r, &[2, 1, 4]);
        let c = rand_t(&mut r, &[2, 2, 4]);
        let y = F32Tensor::concat(&[&a, &b, &c], 1).unwrap();
        assert_eq!(y.shape(), &[2, 6, 4]);
        for i in 0..y.numel() {
            let idx = unravel(i, &y.shape);
            let (src, j) = match idx[1] {
                0..=2 => (&a, idx[1]),
                3 => (&b, 0),
                j => (&c, j - 4),
            };
            assert_eq!(y.data[i], src.data[ravel(&[idx[0], j, idx[2]], &src.shape)]);
        }
        let z = F32Tensor::concat(&[&a, &a], -1).unwrap();
        assert_eq!(z.shape(), &[2, 3, 8]);
        assert_eq!(&z.data[4..8], &a.data[0..4]);
        assert!(F32Tensor::concat(&[&a, &b], 0).is_err());
        assert!(F32Tensor::concat(&[], 0).is_err());
        assert!(F32Tensor::concat(&[&a, &b], 3).is_err());
    }

    #[test]
    fn slice_cases() {
        let x = arange(&[10]);
        let s = |st: i64, en: i64, step: i64| x.slice(&[st], &[en], &[], &[step]).unwrap().into_vec();
        assert_eq!(s(-3, i64::MAX, 1), vec![7.0, 8.0, 9.0]);
        assert_eq!(s(8, 2, -2), vec![8.0, 6.0, 4.0]);
        assert_eq!(s(-1, i64::MIN, -1), (0..10).rev().map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(s(20, 30, 1), Vec::<f32>::new());
        assert_eq!(s(-100, 3, 1), vec![0.0, 1.0, 2.0]);
        assert_eq!(s(1, -1, 3), vec![1.0, 4.0, 7.0]);
        assert_eq!(s(100, -100, -4), vec![9.0, 5.0, 1.0]);
        assert_eq!(s(5, 5, 1), Vec::<f32>::new());
        assert_eq!(s(2, 7, i64::MAX), vec![2.0]);
        assert_eq!(s(7, 2, i64::MIN), vec![7.0]);
        // ONNX (unlike numpy) clamps a too-negative start to 0 for negative steps.
        assert_eq!(s(-100, -200, -1), vec![0.0]);
        assert_eq!(s(3, -100, -1), vec![3.0, 2.0, 1.0, 0.0]);
        let m = arange(&[3, 4]);
        let y = m.slice(&[1, -1], &[3, -5], &[0, -1], &[1, -2]).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.data(), &[7.0, 5.0, 11.0, 9.0]);
        let y = m.slice(&[0], &[i64::MAX], &[1], &[2]).unwrap();
        assert_eq!(y.data(), &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert!(m.slice(&[0], &[1], &[], &[0]).is_err());
        assert!(m.slice(&[0], &[1, 2], &[], &[]).is_err());
        assert!(m.slice(&[0], &[1], &[2], &[]).is_err());
        assert!(m.slice(&[0, 0], &[1, 1], &[1, -1], &[]).is_err());
    }

    /// Indices an ONNX slice of one axis of size `d` selects, by enumerating candidates.
    fn slice_oracle(d: i64, s: i64, e: i64, step: i64) -> Vec<usize> {
        let norm = |v: i64| if v < 0 { v + d } else { v };
        let (s, e) = (norm(s), norm(e));
        let mut out = Vec::new();
        if step > 0 {
            let mut i = s.max(0);
            while i < e.min(d) {
                out.push(i as usize);
                i += step;
            }
        } else {
            // ONNX clamps the start to [0, d-1] (numpy would select nothing for start < -d).
            let mut i = s.clamp(0, d - 1);
            while i > e.max(-1) {
                out.push(i as usize);
                i += step;
            }
        }
        out
    }

    #[test]
    fn slice_matches_oracle() {
        let mut r = rng(3);
        let x = rand_t(&mut r, &[5, 6, 7]);
        for _ in 0..300 {
            let mut pick = |lo: i64, hi: i64| lo + (r.next_u32() as i64).rem_euclid(hi - lo + 1);
            let axes: Vec<i64> = vec![pick(-3, -1), pick(0, 2)];
            if axes[0].rem_euclid(3) == axes[1] {
                continue;
            }
            let starts = vec![pick(-9, 9), pick(-9, 9)];
            let ends = vec![pick(-9, 9), pick(-9, 9)];
            let steps: Vec<i64> = (0..2)
                .map(|_| {
                    let s = pick(-3, 3);
                    if s == 0 { 1 } else { s }
                })
                .collect();
            let y = x.slice(&starts, &ends, &axes, &steps).unwrap();
            let mut sel: Vec<Vec<usize>> = x.shape.iter().map(|&d| (0..d).collect()).collect();
            for k in 0..2 {
                let ax = axes[k].rem_euclid(3) as usize;
                sel[ax] = slice_oracle(x.shape[ax] as i64, starts[k], ends[k], steps[k]);
            }
            let shape: Vec<usize> = sel.iter().map(|v| v.len()).collect();
            assert_eq!(y.shape(), &shape[..], "{starts:?} {ends:?} {axes:?} {steps:?}");
            for i in 0..y.numel() {
                let oi = unravel(i, &shape);
                let xi: Vec<usize> = (0..3).map(|a| sel[a][oi[a]]).collect();
                assert_eq!(y.data[i], x.data[ravel(&xi, &x.shape)]);
            }
        }
    }

    #[test]
    fn pad_matches_oracle() {
        let mut r = rng(4);
        let x = rand_t(&mut r, &[2, 3, 4]);
        for pads in [
            vec![0, 1, 2, 0, 3, 1],
            vec![1, 0, 0, 1, 0, 0],
            vec![0, -1, 1, 0, 2, -2],
            vec![0, 0, 0, 0, 0, 0],
            vec![0, -3, 0, 0, 0, 0],
        ] {
            let y = x.pad(&pads, 1.5).unwrap();
            let shape: Vec<usize> = (0..3)
                .map(|i| (x.shape[i] as i64 + pads[i] + pads[3 + i]) as usize)
                .collect();
            assert_eq!(y.shape(), &shape[..]);
            for i in 0..y.numel() {
                let oi = unravel(i, &shape);
                let xi: Vec<i64> = (0..3).map(|a| oi[a] as i64 - pads[a]).collect();
                let inside = (0..3).all(|a| xi[a] >= 0 && xi[a] < x.shape[a] as i64);
                let want = if inside {
                    x.data[ravel(&xi.iter().map(|&v| v as usize).collect::<Vec<_>>(), &x.shape)]
                } else {
                    1.5
                };
                assert_eq!(y.data[i], want, "pads {pads:?} at {oi:?}");
            }
        }
        assert!(x.pad(&[0, 0, 0, 0], 0.0).is_err());
        assert!(x.pad(&[0, -3, 0, 0, -1, 0], 0.0).is_err());
    }

    #[test]
    fn gather_negative_indices() {
        let x = arange(&[3, 4]);
        let y = x.gather(1, &[-1, 0, 2, -4], &[2, 2]).unwrap();
        assert_eq!(y.shape(), &[3, 2, 2]);
        assert_eq!(&y.data[..4], &[3.0, 0.0, 2.0, 0.0]);
        assert_eq!(&y.data[4..8], &[7.0, 4.0, 6.0, 4.0]);
        let e = x.gather(0, &[-3, 2], &[2]).unwrap();
        assert_eq!(e.data(), &[0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]);
        let s = x.gather(-2, &[1], &[]).unwrap();
        assert_eq!(s.shape(), &[4]);
        assert_eq!(s.data(), &[4.0, 5.0, 6.0, 7.0]);
        // Oracle on a 3-d tensor along the middle axis.
        let mut r = rng(5);
        let z = rand_t(&mut r, &[2, 5, 3]);
        let idx = [4i64, -5, 0, -1, 2, 2];
        let g = z.gather(1, &idx, &[3, 2]).unwrap();
        assert_eq!(g.shape(), &[2, 3, 2, 3]);
        for i in 0..g.numel() {
            let oi = unravel(i, &g.shape);
            let j = idx[oi[1] * 2 + oi[2]].rem_euclid(5) as usize;
            assert_eq!(g.data[i], z.data[ravel(&[oi[0], j, oi[3]], &z.shape)]);
        }
        assert!(x.gather(1, &[4], &[1]).is_err());
        assert!(x.gather(1, &[-5], &[1]).is_err());
        assert!(x.gather(2, &[0], &[1]).is_err());
        assert!(x.gather(0, &[0, 1], &[3]).is_err());
        assert!(F32Tensor::scalar(1.0).gather(0, &[0], &[1]).is_err());
    }

    #[test]
    fn broadcast_to_matches_oracle() {
        let mut r = rng(6);
        let x = rand_t(&mut r, &[3, 1]);
        let y = x.broadcast_to(&[2, 3, 4]).unwrap();
        for i in 0..y.numel() {
            assert_eq!(y.data[i], bget(&x, &unravel(i, &y.shape)));
        }
        assert!(x.broadcast_to(&[2, 4, 4]).is_err());
        assert!(x.broadcast_to(&[3]).is_err());
        assert_eq!(F32Tensor::scalar(2.0).broadcast_to(&[2, 2]).unwrap().data(), &[2.0; 4]);
    }

    // ----- elementwise -----

    #[test]
    fn binary_ops_broadcast() {
        let mut r = rng(7);
        let pairs: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 3, 4], &[4]),
            (&[4], &[2, 3, 4]),
            (&[2, 1, 4], &[3, 1]),
            (&[1], &[2, 3]),
            (&[], &[2, 2]),
            (&[2, 2], &[]),
            (&[5, 1, 1], &[1, 4, 3]),
            (&[2, 3, 1], &[2, 1, 5]),
            (&[0, 3], &[1, 3]),
        ];
        type Op = (
            &'static str,
            fn(&F32Tensor, &F32Tensor) -> Result<F32Tensor>,
            fn(f32, f32) -> f32,
        );
        let ops: [Op; 5] = [
            ("add", F32Tensor::add, |a, b| a + b),
            ("sub", F32Tensor::sub, |a, b| a - b),
            ("mul", F32Tensor::mul, |a, b| a * b),
            ("div", F32Tensor::div, |a, b| a / b),
            ("pow", F32Tensor::pow, |a, b| a.powf(b)),
        ];
        for &(sa, sb) in pairs {
            let a = rand_t(&mut r, sa).map(|v| v.abs() + 0.1);
            let b = rand_t(&mut r, sb);
            let shape = broadcast_shape(sa, sb).unwrap();
            for (name, f, g) in &ops {
                let y = f(&a, &b).unwrap();
                assert_eq!(y.shape(), &shape[..], "{name} {sa:?} {sb:?}");
                for i in 0..y.numel() {
                    let idx = unravel(i, &shape);
                    let want = g(bget(&a, &idx), bget(&b, &idx));
                    assert_eq!(y.data[i].to_bits(), want.to_bits(), "{name} {sa:?} {sb:?} at {idx:?}");
                }
            }
        }
        let a = arange(&[2, 3]);
        assert!(a.add(&arange(&[2])).is_err());
        assert!(a.mul(&arange(&[3, 3])).is_err());
    }

    #[test]
    fn unary_ops() {
        let mut r = rng(8);
        let x = rand_t(&mut r, &[64]).scale(6.0);
        let check = |y: F32Tensor, f: &dyn Fn(f64) -> f64, tol: f32, name: &str| {
            let want = F32Tensor::from_vec(&[64], x.data.iter().map(|&v| f(v as f64) as f32).collect()).unwrap();
            assert_close(&y, &want, tol, name);
        };
        check(x.neg(), &|v| -v, 0.0, "neg");
        check(x.scale(0.5), &|v| 0.5 * v, 0.0, "scale");
        check(x.exp(), &f64::exp, 1e-3, "exp");
        check(x.tanh(), &f64::tanh, 1e-6, "tanh");
        check(x.relu(), &|v| v.max(0.0), 0.0, "relu");
        check(x.sigmoid(), &|v| 1.0 / (1.0 + (-v).exp()), 1e-6, "sigmoid");
        check(x.erf(), &libm::erf, 1e-6, "erf");
        check(
            x.gelu(false),
            &|v| 0.5 * v * (1.0 + libm::erf(v / 2f64.sqrt())),
            1e-5,
            "gelu",
        );
        let c = (2.0 / std::f64::consts::PI).sqrt();
        check(
            x.gelu(true),
            &|v| 0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh()),
            1e-5,
            "gelu tanh",
        );
        assert!(x.gelu(true).max_abs_diff(&x.gelu(false)) < 1e-3);
        let p = x.map(|v| v.abs() + 0.01);
        let check_p = |y: F32Tensor, f: &dyn Fn(f64) -> f64, tol: f32, name: &str| {
            let want = F32Tensor::from_vec(&[64], p.data.iter().map(|&v| f(v as f64) as f32).collect()).unwrap();
            assert_close(&y, &want, tol, name);
        };
        check_p(p.sqrt(), &f64::sqrt, 1e-6, "sqrt");
        check_p(p.log(), &f64::ln, 1e-6, "log");
        check_p(p.reciprocal(), &|v| 1.0 / v, 1e-4, "reciprocal");
        // Known values and extremes.
        let e = t(&[3], &[0.0, 1.0, -2.0]).erf();
        assert_close(&e, &t(&[3], &[0.0, 0.842_700_8, -0.995_322_3]), 1e-6, "erf values");
        let s = t(&[2], &[-200.0, 200.0]).sigmoid();
        assert_eq!(s.data(), &[0.0, 1.0]);
    }

    // ----- linear algebra -----

    fn matmul_oracle(a: &F32Tensor, b: &F32Tensor) -> F32Tensor {
        let a2 = if a.rank() == 1 {
            a.reshape_exact(&[1, a.shape[0]]).unwrap()
        } else {
            a.clone()
        };
        let b2 = if b.rank() == 1 {
            b.reshape_exact(&[b.shape[0], 1]).unwrap()
        } else {
            b.clone()
        };
        let (ra, rb) = (a2.rank(), b2.rank());
        let (m, k, n) = (a2.shape[ra - 2], a2.shape[ra - 1], b2.shape[rb - 1]);
        let batch = broadcast_shape(&a2.shape[..ra - 2], &b2.shape[..rb - 2]).unwrap();
        let mut oshape = batch.clone();
        oshape.extend([m, n]);
        let total: usize = oshape.iter().product();
        let mut out = vec![0.0f32; total];
        for (i, o) in out.iter_mut().enumerate() {
            let idx = unravel(i, &oshape);
            let bi = &idx[..batch.len()];
            let mut acc = 0.0f64;
            for kk in 0..k {
                let mut ai = bi.to_vec();
                ai.extend([idx[batch.len()], kk]);
                let mut bj = bi.to_vec();
                bj.extend([kk, idx[batch.len() + 1]]);
                acc += bget(&a2, &ai) as f64 * bget(&b2, &bj) as f64;
            }
            *o = acc as f32;
        }
        let mut shape = batch;
        if a.rank() > 1 {
            shape.push(m);
        }
        if b.rank() > 1 {
            shape.push(n);
        }
        F32Tensor::from_vec(&shape, out).unwrap()
    }

    #[test]
    fn matmul_matches_oracle() {
        let mut r = rng(9);
        let cases: &[(&[usize], &[usize])] = &[
            (&[3, 4], &[4, 5]),
            (&[2, 3, 4], &[4, 5]),
            (&[4, 5], &[2, 5, 3]),
            (&[4], &[4, 5]),
            (&[3, 4], &[4]),
            (&[4], &[4]),
            (&[2, 3, 4], &[4]),
            (&[2, 1, 3, 4], &[5, 4, 6]),
            (&[3, 2, 7], &[3, 7, 2]),
            (&[1, 0], &[0, 3]),
            (&[0, 4], &[4, 3]),
            (&[200, 150], &[150, 120]),
            (&[20, 300], &[300, 600]),
            (&[4, 60, 70], &[70, 80]),
        ];
        for &(sa, sb) in cases {
            let a = rand_t(&mut r, sa);
            let b = rand_t(&mut r, sb);
            let y = a.matmul(&b).unwrap();
            let k = sa[sa.len() - 1] as f32;
            assert_close(
                &y,
                &matmul_oracle(&a, &b),
                1e-5 * k.max(1.0),
                &format!("matmul {sa:?} {sb:?}"),
            );
        }
        let a = arange(&[2, 3]);
        assert!(a.matmul(&arange(&[2, 3])).is_err());
        assert!(a.matmul(&F32Tensor::scalar(1.0)).is_err());
        assert!(arange(&[2, 2, 3]).matmul(&arange(&[3, 3, 1])).is_err());
    }

    #[test]
    fn gemm_matches_oracle() {
        let mut r = rng(10);
        let (m, k, n) = (5, 7, 4);
        let cs: Vec<Option<Vec<usize>>> = vec![None, Some(vec![n]), Some(vec![m, 1]), Some(vec![m, n]), Some(vec![])];
        for trans_a in [false, true] {
            for trans_b in [false, true] {
                for cshape in &cs {
                    let a = rand_t(&mut r, &if trans_a { [k, m] } else { [m, k] });
                    let b = rand_t(&mut r, &if trans_b { [n, k] } else { [k, n] });
                    let c = cshape.as_ref().map(|s| rand_t(&mut r, s));
                    let (alpha, beta) = (0.75, -1.5);
                    let y = a.gemm(&b, c.as_ref(), alpha, beta, trans_a, trans_b).unwrap();
                    let at = if trans_a {
                        a.transpose(&[1, 0]).unwrap()
                    } else {
                        a.clone()
                    };
                    let bt = if trans_b {
                        b.transpose(&[1, 0]).unwrap()
                    } else {
                        b.clone()
                    };
                    let mut want = matmul_oracle(&at, &bt).scale(alpha);
                    if let Some(c) = &c {
                        want = want.add(&c.scale(beta)).unwrap();
                    }
                    assert_close(&y, &want, 1e-5, &format!("gemm ta {trans_a} tb {trans_b} c {cshape:?}"));
                }
            }
        }
        let a = arange(&[2, 3]);
        assert!(a.gemm(&arange(&[2, 3]), None, 1.0, 1.0, false, false).is_err());
        assert!(a.gemm(&arange(&[2, 3]), None, 1.0, 1.0, false, true).is_ok());
        assert!(
            a.gemm(&arange(&[3, 2]), Some(&arange(&[3])), 1.0, 1.0, false, false)
                .is_err()
        );
        assert!(
            arange(&[3])
                .gemm(&arange(&[3, 2]), None, 1.0, 1.0, false, false)
                .is_err()
        );
    }

    // ----- convolution -----

    #[allow(clippy::too_many_arguments)]
    fn conv2d_oracle(
        x: &F32Tensor,
        w: &F32Tensor,
        b: Option<&F32Tensor>,
        s: [usize; 2],
        p: [usize; 4],
        d: [usize; 2],
        g: usize,
    ) -> F32Tensor {
        let [n, _c, h, wd] = x.shape[..] else { panic!() };
        let [o, cg, kh, kw] = w.shape[..] else { panic!() };
        let ho = (h + p[0] + p[2] - d[0] * (kh - 1) - 1) / s[0] + 1;
        let wo = (wd + p[1] + p[3] - d[1] * (kw - 1) - 1) / s[1] + 1;
        let og = o / g;
        let mut out = F32Tensor::zeros(&[n, o, ho, wo]);
        for ni in 0..n {
            for oc in 0..o {
                let gi = oc / og;
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut acc = b.map_or(0.0, |b| b.data[oc] as f64);
                        for ic in 0..cg {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let ih = (oh * s[0] + ki * d[0]) as i64 - p[0] as i64;
                                    let iw = (ow * s[1] + kj * d[1]) as i64 - p[1] as i64;
                                    if ih < 0 || iw < 0 || ih >= h as i64 || iw >= wd as i64 {
                                        continue;
                                    }
                                    let xv = x.data[ravel(&[ni, gi * cg + ic, ih as usize, iw as usize], &x.shape)];
                                    let wv = w.data[ravel(&[oc, ic, ki, kj], &w.shape)];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        out.data[ravel(&[ni, oc, oh, ow], &[n, o, ho, wo])] = acc as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn conv2d_matches_oracle() {
        let mut r = rng(11);
        // (n, c, h, w, o, kh, kw, stride, pads, dilation, group, bias)
        type Case = (
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            [usize; 2],
            [usize; 4],
            [usize; 2],
            usize,
            bool,
        );
        let cases: &[Case] = &[
            (1, 1, 5, 5, 1, 3, 3, [1, 1], [0; 4], [1, 1], 1, false),
            (2, 3, 7, 6, 4, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1], 1, true),
            (2, 3, 9, 8, 4, 3, 2, [2, 3], [1, 0, 2, 1], [1, 1], 1, true),
            (1, 4, 9, 9, 6, 3, 3, [1, 2], [2, 1, 0, 2], [2, 3], 2, true),
            (2, 4, 6, 6, 4, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1], 4, false),
            (2, 6, 5, 4, 3, 1, 1, [1, 1], [0; 4], [1, 1], 3, true),
            (1, 6, 5, 4, 4, 1, 1, [1, 1], [0; 4], [1, 1], 1, false),
            (1, 2, 5, 5, 2, 1, 1, [2, 2], [1, 1, 1, 1], [1, 1], 1, true),
            (1, 16, 40, 40, 24, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1], 1, true),
            (3, 8, 20, 20, 8, 5, 5, [2, 2], [2, 2, 1, 1], [1, 1], 2, true),
        ];
        for &(n, c, h, w, o, kh, kw, s, p, d, g, bias) in cases {
            let x = rand_t(&mut r, &[n, c, h, w]);
            let wt = rand_t(&mut r, &[o, c / g, kh, kw]);
            let b = bias.then(|| rand_t(&mut r, &[o]));
            let y = x.conv(&wt, b.as_ref(), &s, &p, &d, g).unwrap();
            let want = conv2d_oracle(&x, &wt, b.as_ref(), s, p, d, g);
            let tol = 1e-5 * (c / g * kh * kw) as f32;
            assert_close(
                &y,
                &want,
                tol,
                &format!("conv2d n{n} c{c} {h}x{w} o{o} k{kh}x{kw} s{s:?} p{p:?} d{d:?} g{g}"),
            );
        }
        // Defaults for empty attribute lists.
        let x = rand_t(&mut r, &[1, 2, 4, 4]);
        let wt = rand_t(&mut r, &[3, 2, 2, 2]);
        assert_eq!(
            x.conv(&wt, None, &[], &[], &[], 1).unwrap(),
            x.conv(&wt, None, &[1, 1], &[0; 4], &[1, 1], 1).unwrap()
        );
    }

    #[test]
    fn conv1d_matches_oracle() {
        let mut r = rng(12);
        // (n, c, l, o, k, stride, pads, dilation, group, bias)
        type Case = (usize, usize, usize, usize, usize, usize, [usize; 2], usize, usize, bool);
        let cases: &[Case] = &[
            (1, 8, 20, 6, 3, 1, [1, 1], 1, 1, true),
            (2, 4, 15, 4, 3, 2, [0, 2], 2, 2, true),
            (2, 4, 11, 8, 5, 3, [2, 1], 1, 4, false),
            (3, 2, 9, 2, 1, 1, [0, 0], 1, 1, true),
        ];
        for &(n, c, l, o, k, s, p, d, g, bias) in cases {
            let x = rand_t(&mut r, &[n, c, l]);
            let wt = rand_t(&mut r, &[o, c / g, k]);
            let b = bias.then(|| rand_t(&mut r, &[o]));
            let y = x.conv(&wt, b.as_ref(), &[s], &p, &[d], g).unwrap();
            let lo = (l + p[0] + p[1] - d * (k - 1) - 1) / s + 1;
            let mut want = F32Tensor::zeros(&[n, o, lo]);
            for ni in 0..n {
                for oc in 0..o {
                    let gi = oc / (o / g);
                    for ol in 0..lo {
                        let mut acc = b.as_ref().map_or(0.0, |b| b.data[oc] as f64);
                        for ic in 0..c / g {
                            for kk in 0..k {
                                let il = (ol * s + kk * d) as i64 - p[0] as i64;
                                if il >= 0 && il < l as i64 {
                                    acc += x.data[ravel(&[ni, gi * (c / g) + ic, il as usize], &x.shape)] as f64
                                        * wt.data[ravel(&[oc, ic, kk], &wt.shape)] as f64;
                                }
                            }
                        }
                        want.data[ravel(&[ni, oc, ol], &[n, o, lo])] = acc as f32;
                    }
                }
            }
            assert_close(
                &y,
                &want,
                1e-5 * (c * k) as f32,
                &format!("conv1d {n} {c} {l} {o} {k} {s} {p:?} {d} {g}"),
            );
        }
    }

    #[test]
    fn conv_errors() {
        let x = arange(&[1, 4, 5, 5]);
        let w = arange(&[2, 4, 3, 3]);
        assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[1, 1], 1).is_ok());
        assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[1, 1], 2).is_err()); // weights C/g mismatch
        assert!(x.conv(&w, None, &[0, 1], &[0; 4], &[1, 1], 1).is_err());
        assert!(x.conv(&w, None, &[1, 1], &[0; 2], &[1, 1], 1).is_err());
        assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[3, 3], 1).is_err()); // kernel span 7 > 5
        assert!(x.conv(&w, Some(&arange(&[3])), &[1, 1], &[0; 4], &[1, 1], 1).is_err());
        assert!(x.conv(&arange(&[2, 4, 3]), None, &[1], &[0; 2], &[1], 1).is_err());
        assert!(x.conv(&w, None, &[1, 1], &[0; 4], &[1, 1], 0).is_err());
        assert!(arange(&[4, 5]).conv(&arange(&[2, 4]), None, &[], &[], &[], 1).is_err());
    }

    // ----- pooling -----

    fn pool_out(n: usize, k: usize, s: usize, pb: usize, pe: usize, ceil: bool) -> usize {
        let num = n + pb + pe - k;
        let mut o = if ceil { num.div_ceil(s) + 1 } else { num / s + 1 };
        if ceil && (o - 1) * s >= n + pb {
            o -= 1;
        }
        o
    }

    /// 2-D pooling oracle; `avg` is `None` for max, `Some(count_include_pad)` for average.
    fn pool2d_oracle(
        x: &F32Tensor,
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 4],
        ceil: bool,
        avg: Option<bool>,
    ) -> F32Tensor {
        let [n, c, h, w] = x.shape[..] else { panic!() };
        let ho = pool_out(h, k[0], s[0], p[0], p[2], ceil);
        let wo = pool_out(w, k[1], s[1], p[1], p[3], ceil);
        let mut out = F32Tensor::zeros(&[n, c, ho, wo]);
        for pl in 0..n * c {
            for oh in 0..ho {
                for ow in 0..wo {
                    let h0 = (oh * s[0]) as i64 - p[0] as i64;
                    let w0 = (ow * s[1]) as i64 - p[1] as i64;
                    let (mut mx, mut sum, mut cnt, mut cnt_pad) = (f32::NEG_INFINITY, 0.0f64, 0, 0);
                    for ih in h0..h0 + k[0] as i64 {
                        for iw in w0..w0 + k[1] as i64 {
                            if ih < (h + p[2]) as i64 && iw < (w + p[3]) as i64 {
                                cnt_pad += 1;
                            }
                            if ih >= 0 && iw >= 0 && ih < h as i64 && iw < w as i64 {
                                let v = x.data[pl * h * w + ih as usize * w + iw as usize];
                                mx = mx.max(v);
                                sum += v as f64;
                                cnt += 1;
                            }
                        }
                    }
                    out.data[pl * ho * wo + oh * wo + ow] = match avg {
                        None => mx,
                        Some(true) => (sum / cnt_pad as f64) as f32,
                        Some(false) => (sum / cnt as f64) as f32,
                    };
                }
            }
        }
        out
    }

    #[test]
    fn pool2d_matches_oracle() {
        let mut r = rng(13);
        type Case = ([usize; 4], [usize; 2], [usize; 2], [usize; 4]);
        let cases: &[Case] = &[
            ([2, 3, 8, 8], [2, 2], [2, 2], [0; 4]),
            ([1, 2, 7, 7], [3, 3], [2, 2], [1, 1, 1, 1]),
            ([1, 2, 5, 6], [2, 3], [2, 2], [0, 1, 1, 0]),
            ([2, 2, 6, 9], [3, 2], [3, 2], [1, 0, 2, 1]),
            ([1, 1, 4, 4], [2, 2], [2, 2], [0, 0, 1, 1]),
            ([1, 3, 10, 7], [3, 3], [1, 2], [1, 1, 1, 1]),
            ([4, 16, 32, 32], [3, 3], [2, 2], [1, 1, 1, 1]),
        ];
        for &(shape, k, s, p) in cases {
            let x = rand_t(&mut r, &shape);
            for ceil in [false, true] {
                let y = x.max_pool(&k, &s, &p, ceil).unwrap();
                assert_close(
                    &y,
                    &pool2d_oracle(&x, k, s, p, ceil, None),
                    0.0,
                    &format!("max {shape:?} {k:?} {s:?} {p:?} ceil {ceil}"),
                );
                for cip in [false, true] {
                    let y = x.avg_pool(&k, &s, &p, ceil, cip).unwrap();
                    let want = pool2d_oracle(&x, k, s, p, ceil, Some(cip));
                    assert_close(
                        &y,
                        &want,
                        1e-6,
                        &format!("avg {shape:?} {k:?} {s:?} {p:?} ceil {ceil} cip {cip}"),
                    );
                }
            }
        }
    }

    #[test]
    fn pool_known_values() {
        // PyTorch: MaxPool2d(2, 2, ceil_mode=True) on 5x5 gives 3x3.
        let x = arange(&[1, 1, 5, 5]);
        assert_eq!(
            x.max_pool(&[2, 2], &[2, 2], &[0; 4], true).unwrap().shape(),
            &[1, 1, 3, 3]
        );
        assert_eq!(
            x.max_pool(&[2, 2], &[2, 2], &[0; 4], false).unwrap().shape(),
            &[1, 1, 2, 2]
        );
        // 6 with k3 s2 p1 ceil: 4 outputs.
        let x6 = arange(&[1, 1, 6, 6]);
        assert_eq!(
            x6.avg_pool(&[3, 3], &[2, 2], &[1; 4], true, true).unwrap().shape(),
            &[1, 1, 4, 4]
        );
        // 1-D cases.
        let v = t(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            v.avg_pool(&[2], &[2], &[0, 0], true, true).unwrap().data(),
            &[1.5, 3.5, 5.0]
        );
        assert_eq!(
            v.avg_pool(&[2], &[2], &[0, 0], false, true).unwrap().data(),
            &[1.5, 3.5]
        );
        assert_eq!(
            v.avg_pool(&[2], &[2], &[1, 1], true, true).unwrap().data(),
            &[0.5, 2.5, 4.5]
        );
        assert_eq!(
            v.avg_pool(&[2], &[2], &[1, 1], true, false).unwrap().data(),
            &[1.0, 2.5, 4.5]
        );
        let m = t(&[1, 1, 5], &[1.0, 3.0, 2.0, 5.0, 4.0]);
        assert_eq!(m.max_pool(&[2], &[2], &[0, 0], true).unwrap().data(), &[3.0, 5.0, 4.0]);
        assert_eq!(
            m.max_pool(&[3], &[1], &[1, 1], false).unwrap().data(),
            &[3.0, 3.0, 5.0, 5.0, 5.0]
        );
        // The ceil rule drops a window that would start in the trailing padding.
        let z = arange(&[1, 1, 4]);
        assert_eq!(z.max_pool(&[2], &[2], &[0, 1], true).unwrap().shape(), &[1, 1, 2]);
        // Negative values: max ignores padding.
        let neg = t(&[1, 1, 3], &[-3.0, -2.0, -1.0]);
        assert_eq!(neg.max_pool(&[2], &[2], &[1, 0], false).unwrap().data(), &[-3.0, -1.0]);
    }

    #[test]
    fn pool1d_matches_oracle() {
        let mut r = rng(14);
        for &(n, c, l, k, s, p) in &[
            (2, 3, 11, 3, 2, [1, 1]),
            (1, 2, 9, 2, 3, [1, 0]),
            (1, 1, 7, 4, 2, [0, 2]),
        ] {
            let x = rand_t(&mut r, &[n, c, l]);
            let x4 = x.reshape_exact(&[n, c, 1, l]).unwrap();
            for ceil in [false, true] {
                let y = x.max_pool(&[k], &[s], &p, ceil).unwrap();
                let want = pool2d_oracle(&x4, [1, k], [1, s], [0, p[0], 0, p[1]], ceil, None);
                assert_close(&y, &want.reshape_exact(y.shape()).unwrap(), 0.0, "max1d");
                assert_eq!(&y.shape()[..2], &[n, c]);
                for cip in [false, true] {
                    let y = x.avg_pool(&[k], &[s], &p, ceil, cip).unwrap();
                    let want = pool2d_oracle(&x4, [1, k], [1, s], [0, p[0], 0, p[1]], ceil, Some(cip));
                    assert_close(&y, &want.reshape_exact(y.shape()).unwrap(), 1e-6, "avg1d");
                }
            }
        }
    }

    #[test]
    fn pool_errors() {
        let x = arange(&[1, 1, 4, 4]);
        assert!(x.max_pool(&[2], &[2, 2], &[0; 4], false).is_err());
        assert!(x.max_pool(&[2, 2], &[0, 2], &[0; 4], false).is_err());
        assert!(x.max_pool(&[5, 5], &[1, 1], &[0; 4], false).is_err());
        assert!(x.max_pool(&[2, 2], &[1, 1], &[2, 0, 0, 0], false).is_err());
        assert!(x.avg_pool(&[2, 2], &[1, 1], &[0; 3], false, true).is_err());
        assert!(arange(&[4, 4]).avg_pool(&[2, 2], &[], &[], false, true).is_err());
        assert!(arange(&[4, 4]).global_avg_pool().is_err());
        assert!(x.adaptive_avg_pool2d(0, 2).is_err());
    }

    #[test]
    fn global_and_adaptive_avg_pool() {
        let mut r = rng(15);
        let x = rand_t(&mut r, &[2, 3, 5, 7]);
        let g = x.global_avg_pool().unwrap();
        assert_eq!(g.shape(), &[2, 3, 1, 1]);
        for p in 0..6 {
            let m = x.data[p * 35..(p + 1) * 35].iter().map(|&v| v as f64).sum::<f64>() / 35.0;
            assert!((g.data[p] as f64 - m).abs() < 1e-6);
        }
        assert_eq!(arange(&[1, 2, 4]).global_avg_pool().unwrap().data(), &[1.5, 5.5]);
        for (oh, ow) in [(1, 1), (2, 3), (3, 2), (5, 7), (4, 4), (7, 10)] {
            let y = x.adaptive_avg_pool2d(oh, ow).unwrap();
            assert_eq!(y.shape(), &[2, 3, oh, ow]);
            for i in 0..y.numel() {
                let [pn, pc, i0, j0] = unravel(i, y.shape())[..] else {
                    panic!()
                };
                let (h0, h1) = ((i0 * 5) / oh, ((i0 + 1) * 5).div_ceil(oh));
                let (w0, w1) = ((j0 * 7) / ow, ((j0 + 1) * 7).div_ceil(ow));
                let mut s = 0.0f64;
                for a in h0..h1 {
                    for b in w0..w1 {
                        s += x.data[ravel(&[pn, pc, a, b], &x.shape)] as f64;
                    }
                }
                let want = s / ((h1 - h0) * (w1 - w0)) as f64;
                assert!((y.data[i] as f64 - want).abs() < 1e-6, "adaptive {oh}x{ow} at {i}");
            }
        }
        assert_eq!(
            x.adaptive_avg_pool2d(1, 1).unwrap().max_abs_diff(&g),
            0.0f32.max(x.adaptive_avg_pool2d(1, 1).unwrap().max_abs_diff(&g))
        );
        assert!(x.adaptive_avg_pool2d(1, 1).unwrap().max_abs_diff(&g) < 1e-6);
    }

    // ----- reductions and normalisation -----

    #[test]
    fn softmax_rows_sum_to_one() {
        let mut r = rng(16);
        let x = rand_t(&mut r, &[3, 4, 5]).scale(10.0);
        for axis in [0i64, 1, 2, -1, -3] {
            let y = x.softmax(axis).unwrap();
            let ly = x.log_softmax(axis).unwrap();
            let ax = axis.rem_euclid(3) as usize;
            for i in 0..x.numel() {
                let idx = unravel(i, &x.shape);
                let line: Vec<f64> = (0..x.shape[ax])
                    .map(|j| {
                        let mut k = idx.clone();
                        k[ax] = j;
                        x.data[ravel(&k, &x.shape)] as f64
                    })
                    .collect();
                let m = line.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = line.iter().map(|v| (v - m).exp()).sum();
                let xi = x.data[i] as f64;
                assert!((y.data[i] as f64 - (xi - m).exp() / s).abs() < 1e-6);
                assert!((ly.data[i] as f64 - (xi - m - s.ln())).abs() < 1e-5);
                if idx[ax] == 0 {
                    let total: f64 = (0..x.shape[ax])
                        .map(|j| {
                            let mut k = idx.clone();
                            k[ax] = j;
                            y.data[ravel(&k, &x.shape)] as f64
                        })
                        .sum();
                    assert!((total - 1.0).abs() < 1e-5, "softmax axis {axis} sums to {total}");
                }
            }
        }
        // Stable for large inputs.
        let big = t(&[1, 3], &[1000.0, 1001.0, 1002.0]);
        let s = big.softmax(-1).unwrap();
        assert!(s.data.iter().all(|v| v.is_finite()));
        assert!((s.data.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let ls = big.log_softmax(1).unwrap();
        assert!((ls.data[2] - (-(1.0f64 + (-1.0f64).exp() + (-2.0f64).exp()).ln()) as f32).abs() < 1e-5);
        assert!(x.softmax(3).is_err());
        assert!(x.log_softmax(-4).is_err());
    }

    #[test]
    fn reductions_match_oracle() {
        let mut r = rng(17);
        let x = rand_t(&mut r, &[2, 3, 4, 5]);
        let axes_cases: &[&[i64]] = &[&[], &[0], &[1], &[-1], &[1, 3], &[-4, 2], &[0, 1, 2, 3], &[2, 0]];
        for &axes in axes_cases {
            let red: Vec<usize> = if axes.is_empty() {
                (0..4).collect()
            } else {
                axes.iter().map(|&a| a.rem_euclid(4) as usize).collect()
            };
            let keep_shape: Vec<usize> = (0..4).map(|i| if red.contains(&i) { 1 } else { x.shape[i] }).collect();
            let count: usize = red.iter().map(|&a| x.shape[a]).product();
            let mut acc = vec![0.0f64; keep_shape.iter().product()];
            for i in 0..x.numel() {
                let mut idx = unravel(i, &x.shape);
                for &a in &red {
                    idx[a] = 0;
                }
                acc[ravel(&idx, &keep_shape)] += x.data[i] as f64;
            }
            for keepdims in [true, false] {
                let s = x.reduce_sum(axes, keepdims).unwrap();
                let m = x.reduce_mean(axes, keepdims).unwrap();
                let shape: Vec<usize> = if keepdims {
                    keep_shape.clone()
                } else {
                    (0..4).filter(|i| !red.contains(i)).map(|i| x.shape[i]).collect()
                };
                let ws = F32Tensor::from_vec(&shape, acc.iter().map(|&v| v as f32).collect()).unwrap();
                let wm = F32Tensor::from_vec(&shape, acc.iter().map(|&v| (v / count as f64) as f32).collect()).unwrap();
                assert_close(&s, &ws, 1e-5, &format!("sum {axes:?} {keepdims}"));
                assert_close(&m, &wm, 1e-6, &format!("mean {axes:?} {keepdims}"));
            }
        }
        assert!(x.reduce_sum(&[4], true).is_err());
        assert!(x.reduce_mean(&[1, -3], true).is_err());
        assert_eq!(F32Tensor::scalar(3.0).reduce_sum(&[], false).unwrap().data(), &[3.0]);
    }

    #[test]
    fn layer_norm_normalises() {
        let mut r = rng(18);
        let x = rand_t(&mut r, &[4, 3, 8])
            .scale(5.0)
            .add(&F32Tensor::scalar(2.0))
            .unwrap();
        let ones = F32Tensor::full(&[8], 1.0);
        let y = x.layer_norm(-1, 1e-5, &ones, None).unwrap();
        for row in y.data.chunks(8) {
            let m = row.iter().map(|&v| v as f64).sum::<f64>() / 8.0;
            let v = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / 8.0;
            assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3, "mean {m} var {v}");
        }
        // Oracle over the last two axes with scale and bias.
        let scale = rand_t(&mut r, &[3, 8]);
        let bias = rand_t(&mut r, &[3, 8]);
        let y = x.layer_norm(1, 1e-3, &scale, Some(&bias)).unwrap();
        for (ri, row) in x.data.chunks(24).enumerate() {
            let m = row.iter().map(|&v| v as f64).sum::<f64>() / 24.0;
            let v = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / 24.0;
            for (j, &xj) in row.iter().enumerate() {
                let want = (xj as f64 - m) / (v + 1e-3).sqrt() * scale.data[j] as f64 + bias.data[j] as f64;
                assert!((y.data[ri * 24 + j] as f64 - want).abs() < 1e-5);
            }
        }
        assert!(x.layer_norm(-1, 1e-5, &F32Tensor::full(&[3], 1.0), None).is_err());
        assert!(
            x.layer_norm(-1, 1e-5, &F32Tensor::full(&[2, 4, 3, 8], 1.0), None)
                .is_err()
        );
        assert!(x.layer_norm(3, 1e-5, &ones, None).is_err());
    }

    #[test]
    fn batch_norm_matches_oracle() {
        let mut r = rng(19);
        let x = rand_t(&mut r, &[2, 3, 4, 5]);
        let scale = rand_t(&mut r, &[3]);
        let bias = rand_t(&mut r, &[3]);
        let mean = rand_t(&mut r, &[3]);
        let var = rand_t(&mut r, &[3]).map(|v| v.abs() + 0.5);
        let y = x.batch_norm(&scale, &bias, &mean, &var, 1e-5).unwrap();
        for i in 0..x.numel() {
            let c = unravel(i, &x.shape)[1];
            let want = (x.data[i] as f64 - mean.data[c] as f64) / (var.data[c] as f64 + 1e-5).sqrt()
                * scale.data[c] as f64
                + bias.data[c] as f64;
            assert!((y.data[i] as f64 - want).abs() < 1e-5);
        }
        let x2 = rand_t(&mut r, &[4, 3]);
        assert!(x2.batch_norm(&scale, &bias, &mean, &var, 1e-5).is_ok());
        assert!(x.batch_norm(&scale, &bias, &mean, &rand_t(&mut r, &[4]), 1e-5).is_err());
        assert!(arange(&[3]).batch_norm(&scale, &bias, &mean, &var, 1e-5).is_err());
    }

    /// Timings for the report: `cargo test --release --lib nn::tensor::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        let mut r = rng(20);
        let x = rand_t(&mut r, &[1, 64, 56, 56]);
        let w = rand_t(&mut r, &[64, 64, 3, 3]);
        let b = rand_t(&mut r, &[64]);
        let _ = x.conv(&w, Some(&b), &[1, 1], &[1; 4], &[1, 1], 1).unwrap();
        let reps = 20;
        let t0 = std::time::Instant::now();
        for _ in 0..reps {
            std::hint::black_box(x.conv(&w, Some(&b), &[1, 1], &[1; 4], &[1, 1], 1).unwrap());
        }
        let conv = t0.elapsed().as_secs_f64() / reps as f64;
        let a = rand_t(&mut r, &[1024, 1024]);
        let bm = rand_t(&mut r, &[1024, 1024]);
        let _ = a.matmul(&bm).unwrap();
        let t0 = std::time::Instant::now();
        for _ in 0..reps {
            std::hint::black_box(a.matmul(&bm).unwrap());
        }
        let mm = t0.elapsed().as_secs_f64() / reps as f64;
        println!(
            "conv 1x64x56x56 * 64x64x3x3 pad 1: {:.2} ms ({:.1} GFLOP/s); matmul 1024^3: {:.2} ms ({:.1} GFLOP/s); threads {}",
            conv * 1e3,
            2.0 * 64.0 * 576.0 * 3136.0 / conv / 1e9,
            mm * 1e3,
            2.0 * 1024f64.powi(3) / mm / 1e9,
            rayon::current_num_threads()
        );
    }
}
