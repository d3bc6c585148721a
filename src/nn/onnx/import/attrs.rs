//! Reading a node's attributes (each read is recorded, so unknown ones are reported) and ONNX
//! tensors.

use crate::error::{Error, Result};
use crate::nn::graph::{Const, DType};
use crate::nn::onnx::fold::{self};
use crate::nn::onnx::proto::{AttributeProto, TensorProto, ValueInfoProto, attribute_type as at, data_type as dt};
use std::fmt::Display;

/// A node's identity for error messages.
pub(super) struct Ctx<'a> {
    pub(super) name: &'a str,
    pub(super) op_type: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, detail: impl Display) -> Error {
        Error::invalid(format!("node \"{}\" ({})", self.name, self.op_type), detail.to_string())
    }
}

/// A node's attributes; records which were read so unknown ones are reported.
pub(super) struct Attrs<'a> {
    ctx: &'a Ctx<'a>,
    list: &'a [AttributeProto],
    used: Vec<bool>,
}

fn attr_type_name(t: i32) -> &'static str {
    match t {
        at::FLOAT => "FLOAT",
        at::INT => "INT",
        at::STRING => "STRING",
        at::TENSOR => "TENSOR",
        at::GRAPH => "GRAPH",
        at::FLOATS => "FLOATS",
        at::INTS => "INTS",
        at::STRINGS => "STRINGS",
        at::TENSORS => "TENSORS",
        at::GRAPHS => "GRAPHS",
        at::SPARSE_TENSOR => "SPARSE_TENSOR",
        at::SPARSE_TENSORS => "SPARSE_TENSORS",
        at::TYPE_PROTO => "TYPE_PROTO",
        at::TYPE_PROTOS => "TYPE_PROTOS",
        _ => "UNDEFINED",
    }
}

impl<'a> Attrs<'a> {
    pub(super) fn new(ctx: &'a Ctx<'a>, list: &'a [AttributeProto]) -> Self {
        Self {
            ctx,
            list,
            used: vec![false; list.len()],
        }
    }

    /// The attribute `name`, checked to have type `want`.
    pub(super) fn get(&mut self, name: &str, want: i32) -> Result<Option<&'a AttributeProto>> {
        let Some(i) = self.list.iter().position(|a| a.name == name) else {
            return Ok(None);
        };
        self.used[i] = true;
        let a = &self.list[i];
        if !a.ref_attr_name.is_empty() {
            return Err(self.ctx.err(format!(
                "attribute {name} refers to a function attribute, which is not supported"
            )));
        }
        if a.r#type != want {
            return Err(self.ctx.err(format!(
                "attribute {name} has type {}, expected {}",
                attr_type_name(a.r#type),
                attr_type_name(want)
            )));
        }
        Ok(Some(a))
    }

    pub(super) fn ignore(&mut self, name: &str) {
        for (u, a) in self.used.iter_mut().zip(self.list) {
            *u |= a.name == name;
        }
    }

    pub(super) fn int(&mut self, name: &str) -> Result<Option<i64>> {
        Ok(self.get(name, at::INT)?.map(|a| a.i))
    }

    pub(super) fn int_or(&mut self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    pub(super) fn bool_or(&mut self, name: &str, default: bool) -> Result<bool> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.ctx.err(format!("attribute {name} is {v}, expected 0 or 1"))),
        }
    }

    pub(super) fn float(&mut self, name: &str) -> Result<Option<f32>> {
        Ok(self.get(name, at::FLOAT)?.map(|a| a.f))
    }

    pub(super) fn float_or(&mut self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    pub(super) fn ints(&mut self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.get(name, at::INTS)?.map(|a| a.ints.clone()))
    }

    pub(super) fn floats(&mut self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.get(name, at::FLOATS)?.map(|a| a.floats.clone()))
    }

    pub(super) fn string(&mut self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(name, at::STRING)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    pub(super) fn tensor(&mut self, name: &str) -> Result<Option<&'a TensorProto>> {
        Ok(self.get(name, at::TENSOR)?.and_then(|a| a.t.as_ref()))
    }

    /// Non-negative integers (sizes, strides, pads); `None` when absent.
    pub(super) fn sizes(&mut self, name: &str) -> Result<Option<Vec<usize>>> {
        let Some(v) = self.ints(name)? else {
            return Ok(None);
        };
        if let Some(bad) = v.iter().find(|&&x| x < 0) {
            return Err(self.ctx.err(format!("attribute {name} has a negative value {bad}")));
        }
        Ok(Some(v.into_iter().map(|x| x as usize).collect()))
    }

    /// Errors on the first attribute nobody read.
    pub(super) fn finish(&self) -> Result<()> {
        match self.used.iter().position(|u| !u) {
            Some(i) => Err(self
                .ctx
                .err(format!("attribute {} is not supported", self.list[i].name))),
            None => Ok(()),
        }
    }
}

/// Converts a `TensorProto` into a [`Const`]: FLOAT/DOUBLE to F32, integer and BOOL types to I64.
pub(in crate::nn::onnx) fn tensor_to_const(t: &TensorProto) -> std::result::Result<Const, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err("tensor data is stored in an external file, which is not supported".into());
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("tensor has a negative dimension in {:?}", t.dims));
        }
        shape.push(d as usize);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n.checked_mul(8).is_some())
        .ok_or_else(|| format!("tensor dims {:?} are too large", t.dims))?;
    let raw = &t.raw_data;
    // Values from raw_data (little-endian, `w` bytes each) or from the typed field.
    fn from_raw<T, const W: usize>(
        raw: &[u8],
        n: usize,
        f: impl Fn([u8; W]) -> T,
    ) -> std::result::Result<Vec<T>, String> {
        if raw.len() != n * W {
            return Err(format!(
                "raw_data has {} bytes, expected {} for {n} values",
                raw.len(),
                n * W
            ));
        }
        Ok(raw
            .chunks_exact(W)
            .map(|c| f(c.try_into().expect("chunk width")))
            .collect())
    }
    let check = |got: usize| {
        if got == n {
            Ok(())
        } else {
            Err(format!("tensor holds {got} values, expected {n} for dims {:?}", t.dims))
        }
    };
    let use_raw = !raw.is_empty();
    let ints = |v: Vec<i64>| -> std::result::Result<Const, String> {
        check(v.len())?;
        Ok(Const::I64 {
            shape: shape.clone(),
            data: v,
        })
    };
    let floats = |v: Vec<f32>| -> std::result::Result<Const, String> {
        check(v.len())?;
        fold::make_f32(&shape, v)
    };
    let int32s = |f: fn(i32) -> i64| ints(t.int32_data.iter().map(|&v| f(v)).collect());
    match t.data_type {
        dt::FLOAT if use_raw => floats(from_raw(raw, n, f32::from_le_bytes)?),
        dt::FLOAT => floats(t.float_data.clone()),
        dt::DOUBLE if use_raw => floats(from_raw(raw, n, |b| f64::from_le_bytes(b) as f32)?),
        dt::DOUBLE => floats(t.double_data.iter().map(|&v| v as f32).collect()),
        dt::INT64 if use_raw => ints(from_raw(raw, n, i64::from_le_bytes)?),
        dt::INT64 => ints(t.int64_data.clone()),
        dt::INT32 if use_raw => ints(from_raw(raw, n, |b| i32::from_le_bytes(b) as i64)?),
        dt::INT32 => int32s(|v| v as i64),
        dt::INT16 if use_raw => ints(from_raw(raw, n, |b| i16::from_le_bytes(b) as i64)?),
        dt::INT16 => int32s(|v| v as i16 as i64),
        dt::UINT16 if use_raw => ints(from_raw(raw, n, |b| u16::from_le_bytes(b) as i64)?),
        dt::UINT16 => int32s(|v| v as u16 as i64),
        dt::INT8 if use_raw => ints(from_raw(raw, n, |b: [u8; 1]| b[0] as i8 as i64)?),
        dt::INT8 => int32s(|v| v as i8 as i64),
        dt::UINT8 if use_raw => ints(from_raw(raw, n, |b: [u8; 1]| b[0] as i64)?),
        dt::UINT8 => int32s(|v| v as u8 as i64),
        dt::BOOL if use_raw => ints(from_raw(raw, n, |b: [u8; 1]| (b[0] != 0) as i64)?),
        dt::BOOL => int32s(|v| (v != 0) as i64),
        other => Err(format!("tensor data type {} is not supported", dt::name(other))),
    }
}

/// Element type of a graph input.
pub(super) fn dtype_of(elem_type: i32) -> Option<DType> {
    match elem_type {
        dt::FLOAT | dt::DOUBLE | dt::FLOAT16 | dt::BFLOAT16 => Some(DType::F32),
        dt::INT64 | dt::INT32 | dt::INT16 | dt::INT8 | dt::UINT8 | dt::UINT16 | dt::UINT32 | dt::BOOL => {
            Some(DType::I64)
        }
        _ => None,
    }
}

/// Shape of a value (`None` entries are symbolic); `None` when the rank is unknown.
pub(super) fn value_shape(v: &ValueInfoProto) -> Option<Vec<Option<usize>>> {
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| d.dim_value.filter(|&x| x >= 0).map(|x| x as usize))
            .collect(),
    )
}
