//! Reading and writing tensors: numpy `.npy` files and safetensors archives.
//!
//! Readers accept little-endian C-order data only and convert to the backend's element types
//! (f32 for reals, i64 for integers). Writers replace the target atomically: they write a
//! temporary file next to it and rename it into place. Every error is one line naming the file
//! (and, for safetensors, the tensor).

use super::tensor::F32Tensor;
use crate::error::{Error, Result};
use npyz::{Endianness, Order, TypeChar, WriterBuilder};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The contents of a `.npy` file: reals as f32, integers as i64.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyArray {
    /// A float32 or float64 array (float64 is rounded to f32).
    F32(F32Tensor),
    /// An int64 or int32 array.
    I64 { shape: Vec<usize>, data: Vec<i64> },
}

impl NpyArray {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            NpyArray::F32(t) => t.shape(),
            NpyArray::I64 { shape, .. } => shape,
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// One-line error about the file at `path`.
fn file_err(path: &Path, detail: impl std::fmt::Display) -> Error {
    let detail = detail.to_string().replace(['\n', '\r'], " ");
    Error::invalid(display(path), detail)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: display(path),
        source,
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_err(path, e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over the target.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| file_err(path, "not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// .npy
// ------------------------------------------------------------------------------------------------

/// Converts raw little-endian bytes of `N`-byte values with `f`.
fn decode<T, const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N bytes")))
        .collect()
}

/// Reads a `.npy` file holding a little-endian C-order float32, float64, int64 or int32 array.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| file_err(path, format!("not a valid .npy file: {e}")))?;
    let header = npy.header().clone();
    if header.order() != Order::C {
        return Err(file_err(path, "fortran-order arrays are not supported"));
    }
    let dtype = header.dtype();
    let ts = match &dtype {
        npyz::DType::Plain(ts) => ts.clone(),
        other => {
            return Err(file_err(
                path,
                format!("unsupported dtype {}", other.descr()),
            ));
        }
    };
    let kind = match (ts.type_char(), ts.size_field(), ts.endianness()) {
        (TypeChar::Float, 4, Endianness::Little) => 'f',
        (TypeChar::Float, 8, Endianness::Little) => 'd',
        (TypeChar::Int, 8, Endianness::Little) => 'l',
        (TypeChar::Int, 4, Endianness::Little) => 'i',
        _ => {
            return Err(file_err(
                path,
                format!("unsupported dtype {ts} (want little-endian f4, f8, i8 or i4)"),
            ));
        }
    };
    let shape = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| file_err(path, "shape is too large"))?;
    let width = if kind == 'f' || kind == 'i' { 4 } else { 8 };
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| file_err(path, format!("shape {shape:?} is too large")))?;
    let body = npy.into_inner();
    if body.len() != numel * width {
        return Err(file_err(
            path,
            format!(
                "data holds {} bytes, shape {shape:?} of {ts} needs {}",
                body.len(),
                numel * width
            ),
        ));
    }
    Ok(match kind {
        'f' => NpyArray::F32(F32Tensor::from_vec(&shape, decode(body, f32::from_le_bytes))?),
        'd' => NpyArray::F32(F32Tensor::from_vec(
            &shape,
            decode(body, |b| f64::from_le_bytes(b) as f32),
        )?),
        'l' => NpyArray::I64 {
            shape,
            data: decode(body, i64::from_le_bytes),
        },
        _ => NpyArray::I64 {
            shape,
            data: decode(body, |b| i32::from_le_bytes(b) as i64),
        },
    })
}

fn npy_bytes<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<Vec<u8>> {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut buf = Vec::new();
    let result = (|| {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()?;
        w.extend(data.iter().copied())?;
        w.finish()
    })();
    result.map_err(|e| io_err(path, e))?;
    Ok(buf)
}

/// Writes `t` as a little-endian float32 `.npy` file (atomically).
pub fn write_npy_f32(path: impl AsRef<Path>, t: &F32Tensor) -> Result<()> {
    let path = path.as_ref();
    let bytes = npy_bytes(path, t.shape(), t.data())?;
    write_atomic(path, &bytes)
}

/// Writes an int64 array as a little-endian `.npy` file (atomically).
pub fn write_npy_i64(path: impl AsRef<Path>, shape: &[usize], data: &[i64]) -> Result<()> {
    let path = path.as_ref();
    if shape.iter().product::<usize>() != data.len() {
        return Err(file_err(
            path,
            format!("shape {shape:?} does not hold {} values", data.len()),
        ));
    }
    let bytes = npy_bytes(path, shape, data)?;
    write_atomic(path, &bytes)
}

// ------------------------------------------------------------------------------------------------
// safetensors
// ------------------------------------------------------------------------------------------------

/// IEEE half precision → f32 (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let man = (h & 0x3ff) as u32;
    match exp {
        0 => sign * man as f32 * (1.0 / 16_777_216.0), // subnormal: man · 2^−24
        31 => f32::from_bits(((h as u32 & 0x8000) << 16) | 0x7f80_0000 | (man << 13)),
        e => f32::from_bits(((h as u32 & 0x8000) << 16) | ((e as u32 + 112) << 23) | (man << 13)),
    }
}

/// Loads every tensor of a safetensors file, converting F32, F64, F16 and BF16 to f32.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<BTreeMap<String, F32Tensor>> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.iter() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => decode(raw, f32::from_le_bytes),
            Dtype::F64 => decode(raw, |b| f64::from_le_bytes(b) as f32),
            Dtype::F16 => decode(raw, |b| f16_to_f32(u16::from_le_bytes(b))),
            Dtype::BF16 => decode(raw, |b| f32::from_bits((u16::from_le_bytes(b) as u32) << 16)),
            other => {
                return Err(file_err(
                    path,
                    format!("tensor {name}: unsupported dtype {other:?} (want F32, F64, F16 or BF16)"),
                ));
            }
        };
        let t = F32Tensor::from_vec(view.shape(), data)
            .map_err(|e| file_err(path, format!("tensor {name}: {e}")))?;
        out.insert(name.to_string(), t);
    }
    Ok(out)
}

/// Saves `tensors` as float32 entries of a safetensors file (atomically).
pub fn save_safetensors(path: impl AsRef<Path>, tensors: &BTreeMap<String, F32Tensor>) -> Result<()> {
    let path = path.as_ref();
    let raw: Vec<(&String, &F32Tensor, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| (name, t, t.data().iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let mut views = Vec::with_capacity(raw.len());
    for (name, t, bytes) in &raw {
        let v = TensorView::new(Dtype::F32, t.shape().to_vec(), bytes)
            .map_err(|e| file_err(path, format!("tensor {name}: {e}")))?;
        views.push((name.as_str(), v));
    }
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| file_err(path, format!("cannot serialise: {e}")))?;
    write_atomic(path, &bytes)
}
