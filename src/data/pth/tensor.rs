//! Torch storages and the tensors viewing them: element types, and the strided view of a raw
//! little-endian blob materialised as an f32 tensor.

use crate::nn::tensor::F32Tensor;

/// Element types of torch storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub(super) fn from_storage(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    /// Element `i` of little-endian `raw` as f32.
    pub(super) fn get(self, raw: &[u8], i: usize) -> f32 {
        let s = self.size();
        let b = &raw[i * s..(i + 1) * s];
        match self {
            DType::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")),
            DType::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            DType::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            DType::BF16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            _ => 0.0,
        }
    }
}

/// IEEE half precision to f32 (exact).
pub(super) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let man = (h & 0x3ff) as u32;
    match exp {
        0 => sign * man as f32 * (1.0 / 16_777_216.0),
        31 => f32::from_bits(((h as u32 & 0x8000) << 16) | 0x7f80_0000 | (man << 13)),
        e => f32::from_bits(((h as u32 & 0x8000) << 16) | ((e as u32 + 112) << 23) | (man << 13)),
    }
}

/// A tensor as the pickle describes it: a view into a storage blob.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TensorRef {
    pub(super) key: String,
    pub(super) dtype: DType,
    pub(super) numel: usize,
    pub(super) offset: usize,
    pub(super) shape: Vec<usize>,
    pub(super) stride: Vec<usize>,
}

impl TensorRef {
    /// The tensor's elements as f32 (`None` for integer tensors), following its strides.
    pub(super) fn materialise(&self, blob: &[u8]) -> std::result::Result<Option<F32Tensor>, String> {
        if blob.len() < self.numel * self.dtype.size() {
            return Err(format!(
                "storage {} holds {} bytes, {} elements of {:?} need {}",
                self.key,
                blob.len(),
                self.numel,
                self.dtype,
                self.numel * self.dtype.size()
            ));
        }
        if !self.dtype.is_float() {
            return Ok(None);
        }
        let n: usize = self.shape.iter().product();
        if n > 0 {
            let last = self
                .shape
                .iter()
                .zip(&self.stride)
                .try_fold(self.offset, |acc, (&d, &s)| acc.checked_add((d - 1).checked_mul(s)?))
                .ok_or("strides overflow")?;
            if last >= self.numel {
                return Err(format!(
                    "view (offset {}, shape {:?}, stride {:?}) reaches past the storage of {} elements",
                    self.offset, self.shape, self.stride, self.numel
                ));
            }
        }
        let mut data = Vec::with_capacity(n);
        let mut idx = vec![0usize; self.shape.len()];
        for _ in 0..n {
            let pos = self.offset + idx.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>();
            data.push(self.dtype.get(blob, pos));
            for ax in (0..idx.len()).rev() {
                idx[ax] += 1;
                if idx[ax] < self.shape[ax] {
                    break;
                }
                idx[ax] = 0;
            }
        }
        F32Tensor::from_vec(&self.shape, data)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
