//! The restricted pickle interpreter: containers, numbers and strings, and only the callables a
//! state dict needs (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter`, `torch.*Storage` persistent ids). Any other global or
//! object-building opcode is refused with its byte offset.

use super::tensor::{DType, TensorRef};
use std::collections::BTreeMap;

/// The callables a state dict may name.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
}

/// A pickle value (only the kinds a state dict uses).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Val {
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
pub(super) const MAX_DEPTH: u32 = 32;

/// Values the memo may copy in total (each GET and PUT copies one): bounds the work and memory
/// a small file can ask for, e.g. by doubling a list through the memo.
pub(super) const MAX_COPIED: usize = 1 << 20;

/// The restricted pickle machine. `depths[i]` is the nesting depth of `stack[i]`.
pub(super) struct Unpickler<'a> {
    code: &'a [u8],
    pos: usize,
    stack: Vec<Val>,
    depths: Vec<u32>,
    memo: BTreeMap<u32, (Val, u32)>,
    /// Values the memo may still copy.
    budget: usize,
}

pub(super) type PResult<T> = std::result::Result<T, String>;

impl<'a> Unpickler<'a> {
    pub(super) fn new(code: &'a [u8]) -> Self {
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
    pub(super) fn run(mut self) -> PResult<Val> {
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
pub(super) fn state_entries(root: Val) -> PResult<Vec<(String, TensorRef)>> {
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
