//! Writing GPT-SoVITS checkpoints as `torch.save` zip archives, so that models built in memory
//! (`crate::synthetic`) go through the same readers as the files users have: `archive/data.pkl`
//! (pickle protocol 2 of `{"weight": {name: tensor}, "config": …, "info": …}`, every tensor a
//! `torch._utils._rebuild_tensor_v2` of its own storage), one stored, 64-byte aligned entry per
//! storage `archive/data/<n>` (little-endian, as in memory), `archive/byteorder` and
//! `archive/version`, as torch 2 writes them. A header other than `PK` replaces the first two
//! bytes afterwards, as GPT-SoVITS `my_save2` does.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::pickle::Value;
use super::store::{DType, TensorStore};
use super::torch::storage_class;
use super::CheckpointError;

/// The folder inside the zip (`torch.save` to a buffer uses `archive`; readers find it by suffix).
const PREFIX: &str = "archive";

/// What one checkpoint file holds.
pub(crate) struct Checkpoint<'a> {
    /// The first two bytes of the file: `PK`, or a GPT-SoVITS version marker.
    pub header: [u8; 2],
    /// The tensors of `weight`, each named `name_prefix` + its name in the store.
    pub weights: &'a TensorStore,
    pub name_prefix: &'a str,
    pub config: &'a Value,
    /// `info`, left out when `None`.
    pub info: Option<&'a str>,
}

/// Writes `checkpoint` to `path`.
pub(crate) fn write_checkpoint(path: &Path, checkpoint: &Checkpoint<'_>) -> Result<(), CheckpointError> {
    let io = |e: std::io::Error| CheckpointError::io(path, e);
    let zip_err = |e: zip::result::ZipError| CheckpointError::io(path, std::io::Error::other(e));
    let tensors: Vec<_> = checkpoint.weights.names().filter_map(|n| checkpoint.weights.get(n)).collect();

    let mut p = Pickler::default();
    p.bytes(&[PROTO, 2, EMPTY_DICT, MARK]);
    p.str("weight");
    p.bytes(&[EMPTY_DICT, MARK]);
    for (key, t) in tensors.iter().enumerate() {
        p.str(&format!("{}{}", checkpoint.name_prefix, t.name));
        p.tensor(key, t.dtype, t.shape);
    }
    p.bytes(&[SETITEMS]);
    p.str("config");
    p.value(checkpoint.config).map_err(|reason| CheckpointError::Format { path: path.to_path_buf(), reason })?;
    if let Some(info) = checkpoint.info {
        p.str("info");
        p.str(info);
    }
    p.bytes(&[SETITEMS, STOP]);

    let file = std::fs::File::create(path).map_err(io)?;
    let mut zip = ZipWriter::new(std::io::BufWriter::new(file));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored).with_alignment(64);
    let mut entry = |name: String, bytes: &[u8]| -> Result<(), CheckpointError> {
        zip.start_file(name, stored).map_err(zip_err)?;
        zip.write_all(bytes).map_err(io)
    };
    entry(format!("{PREFIX}/data.pkl"), &p.out)?;
    entry(format!("{PREFIX}/byteorder"), b"little")?;
    for (key, t) in tensors.iter().enumerate() {
        entry(format!("{PREFIX}/data/{key}"), t.bytes)?;
    }
    entry(format!("{PREFIX}/version"), b"3\n")?;
    let mut file = zip.finish().map_err(zip_err)?.into_inner().map_err(|e| io(e.into_error()))?;
    if &checkpoint.header != b"PK" {
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&checkpoint.header).map_err(io)?;
    }
    file.sync_all().map_err(io)
}

const PROTO: u8 = 0x80;
const STOP: u8 = b'.';
const MARK: u8 = b'(';
const EMPTY_DICT: u8 = b'}';
const EMPTY_LIST: u8 = b']';
const EMPTY_TUPLE: u8 = b')';
const SETITEMS: u8 = b'u';
const APPENDS: u8 = b'e';
const TUPLE: u8 = b't';
const NONE: u8 = b'N';
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const BININT: u8 = b'J';
const LONG1: u8 = 0x8a;
const BINFLOAT: u8 = b'G';
const BINUNICODE: u8 = b'X';
const BINBYTES: u8 = b'B';
const GLOBAL: u8 = b'c';
const REDUCE: u8 = b'R';
const BUILD: u8 = b'b';
const BINPERSID: u8 = b'Q';

/// A pickle stream under construction (no memo: every value is written where it occurs).
#[derive(Default)]
struct Pickler {
    out: Vec<u8>,
}

impl Pickler {
    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.out.push(BINUNICODE);
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, i: i64) {
        if let Ok(v) = u8::try_from(i) {
            self.bytes(&[BININT1, v]);
        } else if let Ok(v) = u16::try_from(i) {
            self.out.push(BININT2);
            self.bytes(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(i) {
            self.out.push(BININT);
            self.bytes(&v.to_le_bytes());
        } else {
            self.bytes(&[LONG1, 8]);
            self.bytes(&i.to_le_bytes());
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        self.out.push(GLOBAL);
        self.bytes(format!("{module}\n{name}\n").as_bytes());
    }

    fn tuple(&mut self, items: &[Value]) -> Result<(), String> {
        if items.is_empty() {
            self.out.push(EMPTY_TUPLE);
            return Ok(());
        }
        self.out.push(MARK);
        for v in items {
            self.value(v)?;
        }
        self.out.push(TUPLE);
        Ok(())
    }

    fn int_tuple(&mut self, items: &[usize]) {
        if items.is_empty() {
            self.out.push(EMPTY_TUPLE);
            return;
        }
        self.out.push(MARK);
        for &i in items {
            self.int(i as i64);
        }
        self.out.push(TUPLE);
    }

    /// A contiguous tensor over all of storage `key`:
    /// `_rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`.
    fn tensor(&mut self, key: usize, dtype: DType, shape: &[usize]) {
        let numel: usize = shape.iter().product();
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.push(MARK);
        // The persistent id `('storage', torch.HalfStorage, key, 'cpu', numel)`.
        self.out.push(MARK);
        self.str("storage");
        self.global("torch", storage_class(dtype));
        self.str(&key.to_string());
        self.str("cpu");
        self.int(numel as i64);
        self.bytes(&[TUPLE, BINPERSID]);
        self.int(0);
        self.int_tuple(shape);
        self.int_tuple(&stride);
        self.out.push(NEWFALSE);
        self.global("collections", "OrderedDict");
        self.bytes(&[EMPTY_TUPLE, REDUCE, TUPLE, REDUCE]);
    }

    /// Any value the reader produces, except tensors and storages: those need their bytes and
    /// are only written as weights.
    fn value(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::None => self.out.push(NONE),
            Value::Bool(b) => self.out.push(if *b { NEWTRUE } else { NEWFALSE }),
            Value::Int(i) => self.int(*i),
            Value::Float(f) => {
                self.out.push(BINFLOAT);
                self.bytes(&f.to_be_bytes());
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => {
                self.out.push(BINBYTES);
                self.bytes(&(b.len() as u32).to_le_bytes());
                self.bytes(b);
            }
            Value::List(items) => {
                self.out.push(EMPTY_LIST);
                if !items.is_empty() {
                    self.out.push(MARK);
                    for item in items {
                        self.value(item)?;
                    }
                    self.out.push(APPENDS);
                }
            }
            Value::Tuple(items) => self.tuple(items)?,
            Value::Dict(items) => {
                self.out.push(EMPTY_DICT);
                if !items.is_empty() {
                    self.out.push(MARK);
                    for (k, v) in items {
                        self.value(k)?;
                        self.value(v)?;
                    }
                    self.out.push(SETITEMS);
                }
            }
            Value::Global { module, name } => self.global(module, name),
            Value::Object { module, name, args, state } => {
                self.global(module, name);
                self.tuple(args)?;
                self.out.push(REDUCE);
                if let Some(state) = state {
                    self.value(state)?;
                    self.out.push(BUILD);
                }
            }
            Value::Storage { .. } | Value::Tensor(_) => {
                return Err(format!("a {} outside the weights cannot be written", v.kind()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::pickle;

    #[test]
    fn every_value_the_reader_makes_reads_back() {
        let s = |x: &str| Value::Str(x.into());
        let value = Value::Dict(vec![
            (
                s("ints"),
                Value::List([0, 255, 256, 65_535, 65_536, -1, i32::MIN as i64, i64::MAX].map(Value::Int).into()),
            ),
            (s("floats"), Value::Tuple(vec![Value::Float(0.5), Value::Float(-1e300)])),
            (
                s("misc"),
                Value::Tuple(vec![Value::None, Value::Bool(true), Value::Bool(false), Value::Bytes(vec![0, 1])]),
            ),
            (s("empty"), Value::Tuple(vec![Value::List(vec![]), Value::Tuple(vec![]), Value::Dict(vec![])])),
            (s("unicode ✓"), s("今天")),
            (Value::Int(3), Value::Global { module: "torch".into(), name: "float16".into() }),
            (
                s("hparams"),
                Value::Object {
                    module: "utils".into(),
                    name: "HParams".into(),
                    args: vec![],
                    state: Some(Box::new(Value::Dict(vec![(s("model"), Value::Dict(vec![(s("a"), Value::Int(1))]))]))),
                },
            ),
        ]);
        let mut p = Pickler::default();
        p.bytes(&[PROTO, 2]);
        p.value(&value).unwrap();
        p.out.push(STOP);
        assert_eq!(pickle::parse(&p.out).unwrap(), value);
    }

    #[test]
    fn tensors_cannot_hide_in_the_config() {
        let storage = Value::Storage { class: "HalfStorage".into(), key: "0".into() };
        let e = Pickler::default().value(&Value::List(vec![storage])).unwrap_err();
        assert!(e.contains("storage"), "{e}");
    }
}
