//! The subset of Python's pickle VM that `torch.save` files use.
//!
//! Why our own and not a crate (research/rust-stack.md §6): `serde-pickle` stops at the
//! persistent-id opcode every torch file uses, `repugnant-pickle` rejects nested top-level
//! dicts, and `candle-core` reads the files but drags a whole tensor framework in and turns
//! unknown classes into errors we cannot word. GPT-SoVITS files also pickle a custom class
//! (`utils.HParams`) that we must accept without importing anything. This VM never executes
//! code: every `GLOBAL` stays a name, `REDUCE`/`NEWOBJ`/`BUILD` build inert [`Value::Object`]s,
//! and only `torch._utils._rebuild_tensor_v2` (and `_rebuild_parameter`) and
//! `collections.OrderedDict` are interpreted.
//!
//! Every malformed input (truncation, stack underflow, unknown opcode, bad memo index) is a
//! [`PickleError`] carrying the byte offset; nothing here panics on file contents.

use std::collections::HashMap;

/// A decoded pickle value. Dicts keep insertion order (state dicts are `OrderedDict`s).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A `GLOBAL` reference that was never called.
    Global {
        module: String,
        name: String,
    },
    /// An instance of a class we do not interpret (e.g. `utils.HParams`).
    Object {
        module: String,
        name: String,
        args: Vec<Value>,
        state: Option<Box<Value>>,
    },
    /// `BINPERSID` payload of a torch storage: `('storage', torch.HalfStorage, key, location, numel)`.
    Storage {
        class: String,
        key: String,
    },
    /// A tensor rebuilt by `torch._utils._rebuild_tensor_v2`.
    Tensor(TensorRef),
}

/// Where a tensor's elements live inside the torch zip, as the pickle describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// Storage class name, e.g. `HalfStorage`.
    pub storage_class: String,
    /// Storage key: the entry `<prefix>/data/<key>`.
    pub storage_key: String,
    /// Offset into the storage, in elements.
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

impl Value {
    /// Looks a string key up in a dict value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find_map(|(k, v)| match k {
                Value::Str(s) if s == key => Some(v),
                _ => None,
            }),
            Value::Object { state: Some(state), .. } => state.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// Human-readable type name for error messages.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::List(_) => "list".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::Dict(_) => "dict".into(),
            Value::Global { module, name } => format!("global {module}.{name}"),
            Value::Object { module, name, .. } => format!("{module}.{name} object"),
            Value::Storage { .. } => "storage".into(),
            Value::Tensor(_) => "tensor".into(),
        }
    }
}

/// A pickle stream that could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pickle error at byte {offset}: {reason}")]
pub struct PickleError {
    pub offset: usize,
    pub reason: String,
}

/// Most nested containers a file may open before we call it hostile.
const MAX_STACK: usize = 1 << 20;

/// Decodes one pickle stream (up to `STOP`).
pub fn parse(data: &[u8]) -> Result<Value, PickleError> {
    Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() }.run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError { offset: self.pos, reason: reason.into() })
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.err(format!("truncated: wanted {n} more bytes")),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        let n = self.u64()?;
        usize::try_from(n).or_else(|_| self.err("length does not fit in memory"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let s = String::from_utf8_lossy(&rest[..i]).into_owned();
                self.pos += i + 1;
                Ok(s)
            }
            None => self.err("truncated: unterminated text line"),
        }
    }

    fn utf8(&mut self, n: usize) -> Result<Value, PickleError> {
        let b = self.take(n)?.to_vec();
        match String::from_utf8(b) {
            Ok(s) => Ok(Value::Str(s)),
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }

    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return self.err("stack too deep");
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        let pos = self.pos;
        self.stack.last_mut().ok_or(PickleError { offset: pos, reason: "stack underflow".into() })
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(mark) = self.marks.pop() else {
            return self.err("MARK expected");
        };
        if mark > self.stack.len() {
            return self.err("MARK beyond stack");
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, idx: u32) -> Result<Value, PickleError> {
        match self.memo.get(&idx) {
            Some(v) => Ok(v.clone()),
            None => self.err(format!("memo entry {idx} missing")),
        }
    }

    fn memo_put(&mut self, idx: u32) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.err("odd number of items for SETITEMS");
        }
        let pos = self.pos;
        match self.top()? {
            Value::Dict(d) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
                Ok(())
            }
            other => Err(PickleError { offset: pos, reason: format!("SETITEMS on {}", other.kind()) }),
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let pos = self.pos;
        match self.top()? {
            Value::List(l) => {
                l.extend(items);
                Ok(())
            }
            // `set`/`frozenset` are rare; keep them as lists.
            other => Err(PickleError { offset: pos, reason: format!("APPEND on {}", other.kind()) }),
        }
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let v = self.u8()?;
                    if v > 5 {
                        return self.err(format!("pickle protocol {v} not supported"));
                    }
                }
                0x95 => {
                    // FRAME: length only, frames are transparent to us.
                    self.u64()?;
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b')' => self.push(Value::Tuple(Vec::new()))?,
                0x8f => self.push(Value::List(Vec::new()))?, // EMPTY_SET
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64))?
                }
                0x8a | 0x8b => {
                    // LONG1 / LONG4: little-endian two's complement
                    let n = if op == 0x8a { self.u8()? as usize } else { self.u32()? as usize };
                    let bytes = self.take(n)?.to_vec();
                    if n > 8 {
                        return self.err("integer wider than 64 bits");
                    }
                    let mut v: i64 = 0;
                    for (i, b) in bytes.iter().enumerate() {
                        v |= (*b as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v))?
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)))?
                }
                b'I' => {
                    // INT (text), used by protocol 0/1 writers
                    let line = self.line()?;
                    let v = match line.as_str() {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        s => match s.parse::<i64>() {
                            Ok(i) => Value::Int(i),
                            Err(_) => return self.err(format!("bad INT literal {s:?}")),
                        },
                    };
                    self.push(v)?
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.utf8(n)?;
                    self.push(v)?
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.utf8(n)?;
                    self.push(v)?
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let v = self.utf8(n)?;
                    self.push(v)?
                }
                b'T' | b'U' => {
                    // BINSTRING / SHORT_BINSTRING (py2 str): keep as text
                    let n = if op == b'T' { self.u32()? as usize } else { self.u8()? as usize };
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push(Value::Str(s))?
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.u32()? as usize,
                        b'C' => self.u8()? as usize,
                        _ => self.len_u64()?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return self.err("stack underflow in TUPLEn");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()))?;
                    self.set_items(items)?
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?
                }
                b'e' | 0x90 => {
                    // APPENDS / ADDITEMS
                    let items = self.pop_mark()?;
                    self.append(items)?
                }
                0x91 => {
                    // FROZENSET
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global { module, name })?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.push(Value::Global { module, name })?,
                        _ => return self.err("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v)?
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args)
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.reduce(cls, args)?;
                    self.push(v)?
                }
                0x92 => {
                    // NEWOBJ_EX: kwargs are dropped (inert objects)
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.reduce(cls, args)?;
                    self.push(v)?
                }
                b'b' => {
                    let state = self.pop()?;
                    // BUILD on anything but an object (OrderedDict `_metadata`, tensor hooks) is
                    // irrelevant for inference.
                    if let Value::Object { state: s, .. } = self.top()? {
                        *s = Some(Box::new(state));
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.push(v)?
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i)?
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    let v = self.memo_get(i)?;
                    self.push(v)?
                }
                b'j' => {
                    let i = self.u32()?;
                    let v = self.memo_get(i)?;
                    self.push(v)?
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?
                }
                _ => return self.err(format!("unsupported opcode 0x{op:02x}")),
            }
        }
    }

    fn persistent(&self, pid: Value) -> Result<Value, PickleError> {
        let Value::Tuple(items) = pid else {
            return self.err(format!("persistent id is a {}, expected a tuple", pid.kind()));
        };
        match items.as_slice() {
            [Value::Str(tag), class, Value::Str(key), ..] if tag == "storage" => {
                let class = match class {
                    Value::Global { name, .. } => name.clone(),
                    other => return self.err(format!("storage class is a {}", other.kind())),
                };
                Ok(Value::Storage { class, key: key.clone() })
            }
            _ => self.err("persistent id is not a torch storage"),
        }
    }

    fn reduce(&self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Global { module, name } = callable else {
            return self.err(format!("cannot call a {}", callable.kind()));
        };
        let args = match args {
            Value::Tuple(a) => a,
            other => return self.err(format!("call arguments are a {}", other.kind())),
        };
        match (module.as_str(), name.as_str()) {
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => self.rebuild_tensor(&args),
            ("torch._utils", "_rebuild_parameter") | ("torch._utils", "_rebuild_parameter_with_state") => {
                match args.into_iter().next() {
                    Some(t @ Value::Tensor(_)) => Ok(t),
                    _ => self.err("_rebuild_parameter without a tensor"),
                }
            }
            ("collections", "OrderedDict") | ("builtins", "dict") | ("__builtin__", "dict") => {
                Ok(Value::Dict(Vec::new()))
            }
            _ => Ok(Value::Object { module, name, args, state: None }),
        }
    }

    fn rebuild_tensor(&self, args: &[Value]) -> Result<Value, PickleError> {
        let (storage, offset, size, stride) = match args {
            [s, o, sz, st, ..] => (s, o, sz, st),
            _ => return self.err("_rebuild_tensor_v2 needs at least 4 arguments"),
        };
        let Value::Storage { class, key } = storage else {
            return self.err(format!("tensor storage is a {}", storage.kind()));
        };
        let dims = |v: &Value, what: &str| -> Result<Vec<usize>, PickleError> {
            let Value::Tuple(items) = v else {
                return self.err(format!("tensor {what} is a {}", v.kind()));
            };
            items
                .iter()
                .map(|d| match d.as_i64() {
                    Some(n) if n >= 0 => Ok(n as usize),
                    _ => self.err(format!("tensor {what} entry is not a non-negative int")),
                })
                .collect()
        };
        let shape = dims(size, "size")?;
        let stride = dims(stride, "stride")?;
        if shape.len() != stride.len() {
            return self.err("tensor size and stride differ in rank");
        }
        let offset = match offset.as_i64() {
            Some(n) if n >= 0 => n as usize,
            _ => return self.err("tensor storage offset is not a non-negative int"),
        };
        Ok(Value::Tensor(TensorRef { storage_class: class.clone(), storage_key: key.clone(), offset, shape, stride }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [&b""[..], b"\x80", b"\x80\x02}q\x00(", b"\xff\xff", b"h\x05."] {
            assert!(parse(data).is_err(), "{data:?}");
        }
    }

    #[test]
    fn small_dict_roundtrip() {
        // pickle.dumps({'a': 1, 'b': [True, None]}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02]q\x03(\x88Neu.";
        let v = parse(data).unwrap();
        assert_eq!(v.get("a"), Some(&Value::Int(1)));
        assert_eq!(v.get("b"), Some(&Value::List(vec![Value::Bool(true), Value::None])));
    }
}
