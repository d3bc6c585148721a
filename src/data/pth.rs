//! PyTorch checkpoints (`torch.save(model.state_dict())`) read without torch and without
//! executing pickles.
//!
//! A `.pth` file is a zip archive: `<name>/data.pkl` is a pickle of the state dict, and each
//! tensor storage is a raw little-endian blob `<name>/data/<key>`. The pickle is run by a
//! restricted interpreter that knows only what a state dict needs: containers, numbers, strings,
//! and four callables (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter` and the `torch.*Storage` types named by persistent ids).
//! Any other global, and any opcode that builds arbitrary objects, is refused with the byte
//! offset, so a malicious checkpoint cannot run code; it can at worst fail to load.
//!
//! The zip archive is read with the `zip` crate (no default features: stored and deflated
//! entries), which handles zip64 and the other corners of the format; writing one more zip
//! parser for untrusted input would be the riskier choice.

use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A state dict: floating-point tensors as f32 by name, plus the names of tensors that were not
/// converted (integer tensors such as batch norm's `num_batches_tracked`).
#[derive(Clone, Debug, Default)]
pub struct StateDict {
    pub tensors: BTreeMap<String, F32Tensor>,
    pub skipped: Vec<String>,
}

/// Reads the state dict of the checkpoint at `path`.
pub fn read_pth(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_pth(&bytes, &path.display().to_string())
}

/// Parses checkpoint bytes; `file` names the source in errors.
pub fn parse_pth(bytes: &[u8], file: &str) -> Result<StateDict> {
    let bad = |detail: String| Error::invalid(file, detail);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a PyTorch zip checkpoint: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .map(|n| n.into_owned())
        .collect();
    let pkl = names
        .iter()
        .find(|n| n.ends_with("/data.pkl") || n.as_str() == "data.pkl")
        .ok_or_else(|| bad("no data.pkl in the archive (a legacy, non-zip checkpoint?)".into()))?
        .clone();
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    if let Some(order) = names.iter().find(|n| *n == &format!("{prefix}byteorder")) {
        let order = read_entry(&mut zip, order, bytes.len()).map_err(bad)?;
        if order != b"little" {
            return Err(bad(format!(
                "storages are {} endian; only little endian is supported",
                String::from_utf8_lossy(&order)
            )));
        }
    }
    let program = read_entry(&mut zip, &pkl, bytes.len()).map_err(bad)?;
    let root = Unpickler::new(&program).run().map_err(|e| bad(format!("{pkl}: {e}")))?;
    let entries = state_entries(root).map_err(|e| bad(format!("{pkl}: {e}")))?;
    let mut out = StateDict::default();
    for (name, t) in entries {
        let blob = read_entry(&mut zip, &format!("{prefix}data/{}", t.key), bytes.len()).map_err(bad)?;
        match t.materialise(&blob) {
            Ok(Some(tensor)) => {
                out.tensors.insert(name, tensor);
            }
            Ok(None) => out.skipped.push(name),
            Err(e) => return Err(bad(format!("tensor {name}: {e}"))),
        }
    }
    Ok(out)
}

/// Largest entry we unpack (a guard against zip bombs; one storage of a real checkpoint is
/// far smaller).
const MAX_ENTRY: u64 = 1 << 32;

type Archive<'a> = zip::ZipArchive<std::io::Cursor<&'a [u8]>>;

/// Entry `name` of an archive of `archive_len` bytes.
fn read_entry(zip: &mut Archive, name: &str, archive_len: usize) -> std::result::Result<Vec<u8>, String> {
    let f = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    if f.size() > MAX_ENTRY {
        return Err(format!("{name}: entry of {} bytes is too large", f.size()));
    }
    // The declared size is untrusted: reserve at most what the archive could hold.
    let mut out = Vec::with_capacity(f.size().min(archive_len as u64) as usize);
    f.take(MAX_ENTRY + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 > MAX_ENTRY {
        return Err(format!("{name}: entry is larger than {MAX_ENTRY} bytes"));
    }
    Ok(out)
}

/// Element types of torch storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DType {
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
    fn from_storage(name: &str) -> Option<Self> {
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
    fn get(self, raw: &[u8], i: usize) -> f32 {
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
fn f16_to_f32(h: u16) -> f32 {
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
struct TensorRef {
    key: String,
    dtype: DType,
    numel: usize,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorRef {
    /// The tensor's elements as f32 (`None` for integer tensors), following its strides.
    fn materialise(&self, blob: &[u8]) -> std::result::Result<Option<F32Tensor>, String> {
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

/// The callables a state dict may name.
#[derive(Clone, Debug, PartialEq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
}

/// A pickle value (only the kinds a state dict uses).
#[derive(Clone, Debug, PartialEq)]
enum Val {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(Global),
    /// The storage named by a persistent id: (type, key, element count).
    Storage(DType, String, usize),
    Tensor(TensorRef),
    /// The stack marker pushed by MARK.
    Mark,
}

/// Containers may nest this deep (a state dict needs four levels); deeper values are refused, so
/// that dropping them cannot overflow the stack.
const MAX_DEPTH: u32 = 32;

/// Values the memo may copy in total (each GET and PUT copies one): bounds the work and memory
/// a small file can ask for, e.g. by doubling a list through the memo.
const MAX_COPIED: usize = 1 << 20;

/// The restricted pickle machine. `depths[i]` is the nesting depth of `stack[i]`.
struct Unpickler<'a> {
    code: &'a [u8],
    pos: usize,
    stack: Vec<Val>,
    depths: Vec<u32>,
    memo: BTreeMap<u32, (Val, u32)>,
    /// Values the memo may still copy.
    budget: usize,
}

type PResult<T> = std::result::Result<T, String>;

impl<'a> Unpickler<'a> {
    fn new(code: &'a [u8]) -> Self {
        Self {
            code,
            pos: 0,
            stack: Vec::new(),
            depths: Vec::new(),
            memo: BTreeMap::new(),
            budget: MAX_COPIED,
        }
    }

    fn take(&mut self, n: usize) -> PResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.code.len());
        let end = end.ok_or_else(|| format!("pickle ends inside an argument at byte {}", self.pos))?;
        let s = &self.code[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> PResult<&'a str> {
        let rest = &self.code[self.pos..];
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated text argument")?;
        let s = std::str::from_utf8(&rest[..nl]).map_err(|_| "text argument is not UTF-8")?;
        self.pos += nl + 1;
        Ok(s)
    }

    fn string(&mut self, n: usize) -> PResult<Val> {
        let b = self.take(n)?;
        Ok(Val::Str(
            String::from_utf8(b.to_vec()).map_err(|_| "string is not UTF-8")?,
        ))
    }

    fn push(&mut self, v: Val) {
        self.stack.push(v);
        self.depths.push(0);
    }

    /// Pushes a value that nests `depth` levels.
    fn push_at(&mut self, v: Val, depth: u32) -> PResult<()> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "values nest deeper than {MAX_DEPTH} levels at byte {}",
                self.pos
            ));
        }
        self.stack.push(v);
        self.depths.push(depth);
        Ok(())
    }

    fn pop(&mut self) -> PResult<Val> {
        Ok(self.pop_d()?.0)
    }

    /// Pops a value with its depth.
    fn pop_d(&mut self) -> PResult<(Val, u32)> {
        match self.stack.pop() {
            Some(Val::Mark) | None => Err(format!("stack underflow at byte {}", self.pos)),
            Some(v) => Ok((v, self.depths.pop().expect("depths follow the stack"))),
        }
    }

    /// The top container now holds a value of depth `d`.
    fn nest_top(&mut self, d: u32) -> PResult<()> {
        let t = self.depths.last_mut().expect("a top value");
        *t = (*t).max(d + 1);
        if *t > MAX_DEPTH {
            return Err(format!(
                "values nest deeper than {MAX_DEPTH} levels at byte {}",
                self.pos
            ));
        }
        Ok(())
    }

    fn top(&mut self) -> PResult<&mut Val> {
        match self.stack.last_mut() {
            Some(Val::Mark) | None => Err(format!("stack underflow at byte {}", self.pos)),
            Some(v) => Ok(v),
        }
    }

    /// Pops everything down to the topmost MARK (and the mark), with the deepest item's depth.
    fn pop_mark(&mut self) -> PResult<(Vec<Val>, u32)> {
        let m = self
            .stack
            .iter()
            .rposition(|v| *v == Val::Mark)
            .ok_or_else(|| format!("no MARK on the stack at byte {}", self.pos))?;
        let items = self.stack.split_off(m + 1);
        let depth = self.depths.split_off(m + 1).into_iter().max().unwrap_or(0);
        self.stack.pop();
        self.depths.pop();
        Ok((items, depth))
    }

    fn global(module: &str, name: &str) -> PResult<Val> {
        Ok(Val::Global(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch", s) if DType::from_storage(s).is_some() => Global::Storage(DType::from_storage(s).expect("known")),
            _ => return Err(format!("refusing global {module}.{name} (not part of a state dict)")),
        }))
    }

    fn memo_get(&mut self, i: u32) -> PResult<()> {
        let (v, d) = self.memo.get(&i).ok_or_else(|| format!("memo slot {i} is empty"))?;
        charge(&mut self.budget, v)?;
        let (v, d) = (v.clone(), *d);
        self.push_at(v, d)
    }

    fn memo_put(&mut self, i: u32) -> PResult<()> {
        self.top()?;
        charge(&mut self.budget, self.stack.last().expect("a top value"))?;
        let v = self.stack.last().expect("a top value").clone();
        let d = *self.depths.last().expect("a top value");
        self.memo.insert(i, (v, d));
        Ok(())
    }

    /// Runs the program to STOP and returns the result.
    fn run(mut self) -> PResult<Val> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(format!("pickle protocol {v} is not supported"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => self.push(Val::Mark),
                b')' => self.push_at(Val::Tuple(Vec::new()), 1)?,
                b't' => {
                    let (items, d) = self.pop_mark()?;
                    self.push_at(Val::Tuple(items), d + 1)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    let mut depth = 0;
                    for _ in 0..n {
                        let (v, d) = self.pop_d()?;
                        items.push(v);
                        depth = depth.max(d);
                    }
                    items.reverse();
                    self.push_at(Val::Tuple(items), depth + 1)?;
                }
                b']' => self.push_at(Val::List(Vec::new()), 1)?,
                b'l' => {
                    let (items, d) = self.pop_mark()?;
                    self.push_at(Val::List(items), d + 1)?;
                }
                b'a' => {
                    let (v, d) = self.pop_d()?;
                    match self.top()? {
                        Val::List(l) => l.push(v),
                        _ => return Err(format!("APPEND to a non-list at byte {at}")),
                    }
                    self.nest_top(d)?;
                }
                b'e' => {
                    let (items, d) = self.pop_mark()?;
                    match self.top()? {
                        Val::List(l) => l.extend(items),
                        _ => return Err(format!("APPENDS to a non-list at byte {at}")),
                    }
                    self.nest_top(d)?;
                }
                b'}' => self.push_at(Val::Dict(Vec::new()), 1)?,
                b'd' => {
                    let (items, d) = self.pop_mark()?;
                    let kv = pairs(items).ok_or_else(|| format!("odd DICT at byte {at}"))?;
                    self.push_at(Val::Dict(kv), d + 1)?;
                }
                b's' => {
                    let (v, dv) = self.pop_d()?;
                    let (k, dk) = self.pop_d()?;
                    match self.top()? {
                        Val::Dict(d) => d.push((k, v)),
                        _ => return Err(format!("SETITEM on a non-dict at byte {at}")),
                    }
                    self.nest_top(dv.max(dk))?;
                }
                b'u' => {
                    let (items, d) = self.pop_mark()?;
                    let kv = pairs(items).ok_or_else(|| format!("odd SETITEMS at byte {at}"))?;
                    match self.top()? {
                        Val::Dict(d) => d.extend(kv),
                        _ => return Err(format!("SETITEMS on a non-dict at byte {at}")),
                    }
                    self.nest_top(d)?;
                }
                b'N' => self.push(Val::None),
                0x88 => self.push(Val::Bool(true)),
                0x89 => self.push(Val::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.push(Val::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Val::Int(v as i64));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Val::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(format!("integer of {n} bytes at byte {at} is too large"));
                    }
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(b);
                    self.push(Val::Int(i64::from_le_bytes(buf)));
                }
                b'I' => {
                    let s = self.line()?;
                    let v = match s {
                        "00" => Val::Bool(false),
                        "01" => Val::Bool(true),
                        _ => Val::Int(s.parse().map_err(|_| format!("bad INT {s:?} at byte {at}"))?),
                    };
                    self.push(v);
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.push(Val::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.push(v);
                }
                0x8c | b'U' => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.push(v);
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.push(v);
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    let v = self.string(usize::try_from(n).map_err(|_| "string too long")?)?;
                    self.push(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = Self::global(module, name)?;
                    self.push(g);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Val::Str(m), Val::Str(n)) = (module, name) else {
                        return Err(format!("STACK_GLOBAL without strings at byte {at}"));
                    };
                    let g = Self::global(&m, &n)?;
                    self.push(g);
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                b'p' => {
                    let s = self.line()?;
                    let i = s.parse().map_err(|_| format!("bad PUT index at byte {at}"))?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(i)?;
                }
                b'g' => {
                    let s = self.line()?;
                    let i = s.parse().map_err(|_| format!("bad GET index at byte {at}"))?;
                    self.memo_get(i)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent_load(pid).map_err(|e| format!("{e} at byte {at}"))?;
                    self.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = reduce(f, args).map_err(|e| format!("{e} at byte {at}"))?;
                    let d = matches!(v, Val::Dict(_)) as u32;
                    self.push_at(v, d)?;
                }
                b'b' => {
                    // BUILD: only the `_metadata` attribute an OrderedDict state dict carries.
                    let state = self.pop()?;
                    match (self.top()?, state) {
                        (Val::Dict(_), Val::Dict(_) | Val::None) => {}
                        _ => return Err(format!("BUILD of an object other than a state dict at byte {at}")),
                    }
                }
                _ => {
                    return Err(format!(
                        "pickle opcode 0x{op:02x} at byte {at} is not allowed in a state dict"
                    ));
                }
            }
        }
    }
}

/// Charges the copy of `v` to `budget` (values the memo may still copy), before it is made.
fn charge(budget: &mut usize, v: &Val) -> PResult<()> {
    let mut todo = vec![v];
    let mut n = 0;
    while let Some(x) = todo.pop() {
        n += 1;
        if n > *budget {
            return Err(format!("the pickle copies too many values (over {MAX_COPIED})"));
        }
        match x {
            Val::Tuple(items) | Val::List(items) => todo.extend(items),
            Val::Dict(items) => todo.extend(items.iter().flat_map(|(k, v)| [k, v])),
            _ => {}
        }
    }
    *budget -= n;
    Ok(())
}

fn pairs(items: Vec<Val>) -> Option<Vec<(Val, Val)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

fn int(v: &Val, what: &str) -> PResult<usize> {
    match v {
        Val::Int(i) if *i >= 0 => Ok(*i as usize),
        other => Err(format!("{what} is {other:?}, not a non-negative integer")),
    }
}

fn ints(v: &Val, what: &str) -> PResult<Vec<usize>> {
    match v {
        Val::Tuple(items) | Val::List(items) => items.iter().map(|x| int(x, what)).collect(),
        other => Err(format!("{what} is {other:?}, not a tuple of integers")),
    }
}

/// persistent_load: `('storage', torch.XStorage, key, location, numel)` names a storage blob.
fn persistent_load(pid: Val) -> PResult<Val> {
    let Val::Tuple(items) = pid else {
        return Err("persistent id is not a tuple".into());
    };
    match items.as_slice() {
        [
            Val::Str(kind),
            Val::Global(Global::Storage(dtype)),
            Val::Str(key),
            Val::Str(_location),
            numel,
        ] if kind == "storage" => {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("storage key {key:?} is not a plain name"));
            }
            Ok(Val::Storage(*dtype, key.clone(), int(numel, "storage size")?))
        }
        _ => Err(format!("persistent id {items:?} is not a torch storage")),
    }
}

/// REDUCE: calls one of the allowed callables.
fn reduce(f: Val, args: Val) -> PResult<Val> {
    let Val::Tuple(args) = args else {
        return Err("REDUCE arguments are not a tuple".into());
    };
    match f {
        Val::Global(Global::OrderedDict) if args.is_empty() => Ok(Val::Dict(Vec::new())),
        Val::Global(Global::RebuildTensorV2) if (6..=7).contains(&args.len()) => {
            let Val::Storage(dtype, key, numel) = &args[0] else {
                return Err("_rebuild_tensor_v2 without a storage".into());
            };
            let shape = ints(&args[2], "tensor size")?;
            let stride = ints(&args[3], "tensor stride")?;
            if shape.len() != stride.len() {
                return Err(format!("tensor size {shape:?} and stride {stride:?} differ in rank"));
            }
            Ok(Val::Tensor(TensorRef {
                key: key.clone(),
                dtype: *dtype,
                numel: *numel,
                offset: int(&args[1], "storage offset")?,
                shape,
                stride,
            }))
        }
        Val::Global(Global::RebuildParameter) if args.len() == 3 => match &args[0] {
            Val::Tensor(t) => Ok(Val::Tensor(t.clone())),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        Val::Global(g) => Err(format!("{g:?} called with unexpected arguments")),
        other => Err(format!("REDUCE on {other:?}, which is not an allowed callable")),
    }
}

/// The (name, tensor) entries of the unpickled root: a state dict, or a checkpoint dict holding
/// one under `state_dict` / `model_state_dict` / `model`.
fn state_entries(root: Val) -> PResult<Vec<(String, TensorRef)>> {
    let Val::Dict(items) = root else {
        return Err("the checkpoint is not a dict of tensors".into());
    };
    let is_state = |items: &[(Val, Val)]| items.iter().all(|(_, v)| matches!(v, Val::Tensor(_)));
    let items = if is_state(&items) {
        items
    } else {
        let inner = items.into_iter().find_map(|(k, v)| match (k, v) {
            (Val::Str(k), Val::Dict(d)) if ["state_dict", "model_state_dict", "model"].contains(&k.as_str()) => Some(d),
            _ => None,
        });
        match inner {
            Some(d) if is_state(&d) => d,
            _ => return Err("no state dict (a dict of tensors) in the checkpoint".into()),
        }
    };
    items
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (Val::Str(k), Val::Tensor(t)) => Ok((k, t)),
            (k, _) => Err(format!("state dict key {k:?} is not a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &[u8]) -> PResult<Val> {
        Unpickler::new(code).run()
    }

    #[test]
    fn containers_numbers_strings_and_memo() {
        // (1, -2, 300, 'ab', [True, None], {'k': 1.5}) with a memo round trip.
        let mut p = vec![0x80, 2, b'('];
        p.extend([b'K', 1, b'J']);
        p.extend((-2i32).to_le_bytes());
        p.extend([b'M', 0x2c, 0x01, 0x8c, 2, b'a', b'b', b'q', 0]);
        p.extend([b']', 0x88, b'a', b'N', b'a', b'}', b'X', 1, 0, 0, 0, b'k', b'G']);
        p.extend(1.5f64.to_be_bytes());
        p.extend([b's', b't', b'.']);
        let v = run(&p).unwrap();
        assert_eq!(
            v,
            Val::Tuple(vec![
                Val::Int(1),
                Val::Int(-2),
                Val::Int(300),
                Val::Str("ab".into()),
                Val::List(vec![Val::Bool(true), Val::None]),
                Val::Dict(vec![(Val::Str("k".into()), Val::Float(1.5))]),
            ])
        );
        assert_eq!(
            run(&[b'K', 7, b'q', 3, b'h', 3, 0x86, b'.']).unwrap(),
            Val::Tuple(vec![Val::Int(7); 2])
        );
        assert_eq!(run(&[0x8a, 2, 0xff, 0xff, b'.']).unwrap(), Val::Int(-1));
    }

    #[test]
    fn refuses_code_execution() {
        let e = run(b"cos\nsystem\n(S'echo hi'\ntR.").unwrap_err();
        assert!(e.contains("refusing global os.system"), "{e}");
        let e = run(b"cbuiltins\neval\n.").unwrap_err();
        assert!(e.contains("refusing global builtins.eval"), "{e}");
        // INST, OBJ and NEWOBJ build arbitrary objects.
        for op in [b'i', b'o', 0x81, 0x92] {
            let e = run(&[b'(', op, b'.']).unwrap_err();
            assert!(e.contains("not allowed"), "{e}");
        }
        // An allowed callable with the wrong arguments.
        let e = run(b"ccollections\nOrderedDict\n(K\x01tR.").unwrap_err();
        assert!(e.contains("unexpected arguments"), "{e}");
        // Deep nesting and memo doubling are bounded.
        let deep = [vec![b'K', 1], vec![0x85; 100_000], vec![b'.']].concat();
        assert!(run(&deep).unwrap_err().contains("nest deeper"));
        let mut doubling = vec![b']', b'q', 0];
        for _ in 0..40 {
            doubling.extend([b'(', b'h', 0, b'h', 0, b'l', b'q', 0]);
        }
        doubling.push(b'.');
        assert!(run(&doubling).unwrap_err().contains("copies too many"));
        // Truncated input and stack underflow are errors, not panics.
        assert!(run(&[b'X', 9, 0, 0, 0, b'a']).unwrap_err().contains("ends inside"));
        assert!(run(b"s.").unwrap_err().contains("underflow"));
        assert!(run(b"").is_err());
    }

    #[test]
    fn strided_views_and_dtypes() {
        // A 2x3 float storage read as its transpose (shape [3, 2], stride [1, 3]).
        let blob: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let t = TensorRef {
            key: "0".into(),
            dtype: DType::F32,
            numel: 6,
            offset: 0,
            shape: vec![3, 2],
            stride: vec![1, 3],
        };
        let out = t.materialise(&blob).unwrap().unwrap();
        assert_eq!(out.data(), &[0., 3., 1., 4., 2., 5.]);
        let past = TensorRef { offset: 1, ..t.clone() };
        assert!(past.materialise(&blob).unwrap_err().contains("past the storage"));
        let long = TensorRef {
            dtype: DType::I64,
            numel: 1,
            shape: vec![],
            stride: vec![],
            ..t.clone()
        };
        assert_eq!(long.materialise(&[0; 8]).unwrap(), None);
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(DType::BF16.get(&[0x80, 0x3f], 0), 1.0);
    }
}
