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
/// renamed over the target, so readers (and a crash) never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| file_err(path, "not a file path"))?;
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
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| file_err(path, format!("not a valid .npy file: {e}")))?;
    let header = npy.header().clone();
    if header.order() != Order::C {
        return Err(file_err(path, "fortran-order arrays are not supported"));
    }
    let dtype = header.dtype();
    let ts = match &dtype {
        npyz::DType::Plain(ts) => ts.clone(),
        other => {
            return Err(file_err(path, format!("unsupported dtype {}", other.descr())));
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

fn npy_bytes<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[usize], data: &[T]) -> Result<Vec<u8>> {
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
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))?;
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
        let t = F32Tensor::from_vec(view.shape(), data).map_err(|e| file_err(path, format!("tensor {name}: {e}")))?;
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
    let bytes = safetensors::serialize(views, None).map_err(|e| file_err(path, format!("cannot serialise: {e}")))?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;
    use std::path::PathBuf;

    const FIXTURES: &str = "/work/shared/fixtures/onnx";

    /// A fresh scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("testbed-io-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rand_t(seed: u64, shape: &[usize]) -> F32Tensor {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
        let n = shape.iter().product();
        F32Tensor::from_vec(
            shape,
            (0..n).map(|_| (r.next_u32() >> 8) as f32 / 65536.0 - 128.0).collect(),
        )
        .unwrap()
    }

    /// Writes an arbitrary npy file with npyz (for dtypes the module does not write itself).
    fn write_raw<T: npyz::Serialize + Copy>(path: &Path, dtype: &str, order: Order, shape: &[u64], data: &[T]) {
        let mut buf = Vec::new();
        let mut w = npyz::WriteOptions::<T>::new()
            .dtype(npyz::DType::Plain(dtype.parse().unwrap()))
            .order(order)
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        std::fs::write(path, buf).unwrap();
    }

    fn one_line_naming(e: &Error, path: &Path) {
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "multi-line error: {msg}");
        assert!(
            msg.contains(&path.display().to_string()),
            "error does not name the file: {msg}"
        );
    }

    #[test]
    fn npy_f32_round_trip() {
        let dir = scratch("npy-rt");
        for shape in [vec![3, 4, 5], vec![], vec![0, 2], vec![7]] {
            let t = rand_t(1, &shape);
            let p = dir.join("t.npy");
            write_npy_f32(&p, &t).unwrap();
            match read_npy(&p).unwrap() {
                NpyArray::F32(u) => assert_eq!(u, t),
                other => panic!("wrong kind {other:?}"),
            }
        }
        // Overwrite is atomic: no temporary files remain.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("t.npy")]);
        let p = dir.join("i.npy");
        write_npy_i64(&p, &[2, 2], &[1, -2, 3, i64::MIN]).unwrap();
        assert_eq!(
            read_npy(&p).unwrap(),
            NpyArray::I64 {
                shape: vec![2, 2],
                data: vec![1, -2, 3, i64::MIN]
            }
        );
        assert!(write_npy_i64(&p, &[3], &[1]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn npy_conversions() {
        let dir = scratch("npy-conv");
        let p = dir.join("f8.npy");
        write_raw(&p, "<f8", Order::C, &[2, 2], &[1.5f64, -2.25, 1e-3, 3.0]);
        assert_eq!(
            read_npy(&p).unwrap(),
            NpyArray::F32(F32Tensor::from_vec(&[2, 2], vec![1.5, -2.25, 1e-3, 3.0]).unwrap())
        );
        let p = dir.join("i4.npy");
        write_raw(&p, "<i4", Order::C, &[3], &[7i32, -8, i32::MAX]);
        assert_eq!(
            read_npy(&p).unwrap(),
            NpyArray::I64 {
                shape: vec![3],
                data: vec![7, -8, i32::MAX as i64]
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn npy_fixtures() {
        let p = Path::new(FIXTURES).join("embed_cls.input.npy");
        match read_npy(&p).unwrap() {
            NpyArray::I64 { shape, data } => {
                assert_eq!(shape, vec![2, 6]);
                assert!(data.iter().all(|&v| v >= 0), "token ids {data:?}");
            }
            other => panic!("expected int64, got {other:?}"),
        }
        let p = Path::new(FIXTURES).join("lenet_small.input.npy");
        match read_npy(&p).unwrap() {
            NpyArray::F32(t) => {
                assert_eq!(t.shape(), &[3, 1, 28, 28]);
                assert!(t.data().iter().all(|v| v.is_finite()));
                assert!(t.data().iter().any(|&v| v != 0.0));
            }
            other => panic!("expected float32, got {other:?}"),
        }
    }

    #[test]
    fn npy_errors() {
        let dir = scratch("npy-err");
        type Make = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Make)> = vec![
            (
                "fortran.npy",
                Box::new(|p| write_raw(p, "<f4", Order::Fortran, &[2, 2], &[1f32, 2., 3., 4.])),
            ),
            (
                "bigendian.npy",
                Box::new(|p| write_raw(p, ">f4", Order::C, &[2], &[1f32, 2.])),
            ),
            ("u1.npy", Box::new(|p| write_raw(p, "|u1", Order::C, &[2], &[1u8, 2]))),
            ("i2.npy", Box::new(|p| write_raw(p, "<i2", Order::C, &[2], &[1i16, 2]))),
            (
                "garbage.npy",
                Box::new(|p| std::fs::write(p, b"this is not an npy file at all").unwrap()),
            ),
            ("empty.npy", Box::new(|p| std::fs::write(p, b"").unwrap())),
            (
                "truncated.npy",
                Box::new(|p| {
                    write_raw(p, "<f4", Order::C, &[4], &[1f32, 2., 3., 4.]);
                    let b = std::fs::read(p).unwrap();
                    std::fs::write(p, &b[..b.len() - 3]).unwrap();
                }),
            ),
            (
                "trailing.npy",
                Box::new(|p| {
                    write_raw(p, "<f4", Order::C, &[4], &[1f32, 2., 3., 4.]);
                    let mut b = std::fs::read(p).unwrap();
                    b.extend_from_slice(&[0; 4]);
                    std::fs::write(p, &b).unwrap();
                }),
            ),
        ];
        for (name, make) in cases {
            let p = dir.join(name);
            make(&p);
            let e = read_npy(&p).expect_err(name);
            one_line_naming(&e, &p);
        }
        let missing = dir.join("missing.npy");
        one_line_naming(&read_npy(&missing).unwrap_err(), &missing);
        let bad_dir = dir.join("no/such/dir/x.npy");
        one_line_naming(&write_npy_f32(&bad_dir, &F32Tensor::scalar(1.0)).unwrap_err(), &bad_dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn safetensors_round_trip() {
        let dir = scratch("st-rt");
        let p = dir.join("w.safetensors");
        let mut m = BTreeMap::new();
        m.insert("conv.weight".to_string(), rand_t(2, &[4, 3, 3, 3]));
        m.insert("conv.bias".to_string(), rand_t(3, &[4]));
        m.insert("scalar".to_string(), F32Tensor::scalar(-0.5));
        m.insert("empty".to_string(), F32Tensor::zeros(&[0, 5]));
        save_safetensors(&p, &m).unwrap();
        assert_eq!(load_safetensors(&p).unwrap(), m);
        save_safetensors(&p, &BTreeMap::new()).unwrap();
        assert!(load_safetensors(&p).unwrap().is_empty());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn safetensors_conversions_and_errors() {
        let dir = scratch("st-conv");
        let vals = [
            1.0f32,
            -2.5,
            0.0,
            65504.0,
            6.103_515_6e-5,
            5.960_464_5e-8,
            f32::INFINITY,
            -0.0,
        ];
        let f16_bits: [u16; 8] = [0x3c00, 0xc100, 0x0000, 0x7bff, 0x0400, 0x0001, 0x7c00, 0x8000];
        let f16: Vec<u8> = f16_bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let bf16: Vec<u8> = vals
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let f64b: Vec<u8> = vals.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect();
        let views = vec![
            ("h", TensorView::new(Dtype::F16, vec![2, 4], &f16).unwrap()),
            ("b", TensorView::new(Dtype::BF16, vec![8], &bf16).unwrap()),
            ("d", TensorView::new(Dtype::F64, vec![4, 2], &f64b).unwrap()),
        ];
        let p = dir.join("mixed.safetensors");
        std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
        let m = load_safetensors(&p).unwrap();
        assert_eq!(m["h"].shape(), &[2, 4]);
        assert_eq!(m["h"].data(), &vals);
        // bf16 truncation keeps these values except the small ones, which lose mantissa bits.
        for (got, want) in m["b"].data().iter().zip(vals) {
            assert!(
                (got - want).abs() <= want.abs() / 128.0 || got == &want,
                "{got} vs {want}"
            );
        }
        assert_eq!(m["d"].data(), &vals);
        // Unsupported dtype: names the file and the tensor.
        let ints: Vec<u8> = [1i32, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = dir.join("ints.safetensors");
        let views = vec![("ids", TensorView::new(Dtype::I32, vec![2], &ints).unwrap())];
        std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
        let e = load_safetensors(&p).unwrap_err();
        one_line_naming(&e, &p);
        assert!(e.to_string().contains("ids"), "{e}");
        // Corrupt files.
        let p = dir.join("corrupt.safetensors");
        std::fs::write(&p, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}").unwrap();
        one_line_naming(&load_safetensors(&p).unwrap_err(), &p);
        std::fs::write(&p, b"abc").unwrap();
        one_line_naming(&load_safetensors(&p).unwrap_err(), &p);
        let missing = dir.join("missing.safetensors");
        one_line_naming(&load_safetensors(&missing).unwrap_err(), &missing);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
