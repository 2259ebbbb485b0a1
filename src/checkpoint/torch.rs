//! `torch.save` zip archives: `<prefix>/data.pkl` plus one stored (uncompressed) entry per
//! storage, `<prefix>/data/<key>`. The prefix is not fixed (a temp-file stem for GPT-SoVITS
//! `my_save`, `archive` for BytesIO saves, `pytorch_model` for HF files), so it is found by
//! suffix. GPT-SoVITS `my_save2` overwrites the first two bytes (`PK`) with a version marker;
//! like upstream's `load_sovits_new` we read those bytes and put `PK` back (in the reader only).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::pickle::{self, TensorRef, Value};
use super::store::{Bytes, DType, TensorStore};
use super::CheckpointError;

/// An opened torch zip: the unpickled object tree plus the tensor bytes it refers to.
pub struct TorchFile {
    path: std::path::PathBuf,
    /// The first two bytes of the file (`PK` for a plain zip, else a GPT-SoVITS version marker).
    pub header: [u8; 2],
    /// The unpickled `data.pkl`.
    pub root: Value,
    bytes: Arc<Bytes>,
    /// Storage key → byte range of its zip entry.
    storages: HashMap<String, std::ops::Range<usize>>,
}

/// A `Read + Seek` view of the mapping that reports `PK` for the first two bytes.
struct PatchedReader<'a> {
    data: &'a [u8],
    pos: u64,
}

impl Read for PatchedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = (self.pos as usize).min(self.data.len());
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            match start + i {
                0 => *b = b'P',
                1 => *b = b'K',
                _ => break,
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PatchedReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let len = self.data.len() as i128;
        let target = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start"));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}

/// The `torch.*Storage` class `torch.save` names for tensors of `dtype`.
pub(super) fn storage_class(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "HalfStorage",
        DType::BF16 => "BFloat16Storage",
        DType::F32 => "FloatStorage",
        DType::F64 => "DoubleStorage",
        DType::I64 => "LongStorage",
        DType::I32 => "IntStorage",
        DType::I16 => "ShortStorage",
        DType::I8 => "CharStorage",
        DType::U8 => "ByteStorage",
        DType::Bool => "BoolStorage",
    }
}

fn storage_dtype(class: &str) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| storage_class(d) == class)
}

impl TorchFile {
    /// Maps and parses a torch zip. Fails with a typed error on anything that is not one.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = Arc::new(Bytes::map(path)?);
        let data = bytes.as_slice();
        let not_zip = |reason: String| CheckpointError::NotATorchFile { path: path.to_path_buf(), reason };
        if data.len() < 22 {
            return Err(not_zip(format!("the file is only {} bytes long", data.len())));
        }
        let header = [data[0], data[1]];
        let mut zip = zip::ZipArchive::new(PatchedReader { data, pos: 0 })
            .map_err(|e| not_zip(format!("not a readable zip archive ({e}); truncated or corrupt?")))?;

        let mut pkl = None;
        let mut storages = HashMap::new();
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(|e| not_zip(format!("zip entry {i}: {e}")))?;
            let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
            // `<prefix>/data.pkl` and `<prefix>/data/<key>`: exactly one folder level.
            let Some((prefix, rest)) = name.split_once('/') else { continue };
            let key = match rest.strip_prefix("data/") {
                Some(key) => Some(key.to_string()),
                None if rest == "data.pkl" => None,
                None => continue,
            };
            if entry.compression() != zip::CompressionMethod::Stored {
                return Err(not_zip(format!("entry {name} is compressed; torch.save never compresses")));
            }
            let range = entry
                .data_start()
                .and_then(|s| usize::try_from(s).ok())
                .zip(usize::try_from(entry.size()).ok())
                .and_then(|(s, n)| Some(s..s.checked_add(n)?))
                .filter(|r| r.end <= data.len())
                .ok_or_else(|| not_zip(format!("entry {name} runs past the end of the file (truncated?)")))?;
            match key {
                Some(key) => {
                    storages.insert((prefix.to_string(), key), range);
                }
                None => pkl = Some((prefix.to_string(), range)),
            }
        }
        let Some((prefix, pkl_range)) = pkl else {
            return Err(not_zip("no <folder>/data.pkl entry: not a torch.save file".into()));
        };
        let root = pickle::parse(&data[pkl_range])
            .map_err(|e| CheckpointError::Pickle { path: path.to_path_buf(), source: e })?;
        let storages = storages.into_iter().filter(|((p, _), _)| *p == prefix).map(|((_, k), r)| (k, r)).collect();
        drop(zip);
        Ok(TorchFile { path: path.to_path_buf(), header, root, bytes, storages })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Builds a tensor store from a dict of tensors found in the object tree
    /// (e.g. `root["weight"]`). Non-tensor values are skipped.
    pub fn tensors(&self, dict: &Value) -> Result<TensorStore, CheckpointError> {
        let Value::Dict(items) = dict else {
            return Err(CheckpointError::Format {
                path: self.path.clone(),
                reason: format!("expected a dict of tensors, found a {}", dict.kind()),
            });
        };
        let mut store = TensorStore::new(&self.path);
        let mapped = store.add_source(self.bytes.clone());
        for (k, v) in items {
            let (Value::Str(name), Value::Tensor(t)) = (k, v) else { continue };
            self.add_tensor(&mut store, mapped, name, t)?;
        }
        Ok(store)
    }

    fn add_tensor(
        &self,
        store: &mut TensorStore,
        mapped: usize,
        name: &str,
        t: &TensorRef,
    ) -> Result<(), CheckpointError> {
        let layout =
            |reason: String| CheckpointError::Layout { path: self.path.clone(), name: name.to_string(), reason };
        let dtype = storage_dtype(&t.storage_class).ok_or_else(|| CheckpointError::UnsupportedDtype {
            path: self.path.clone(),
            name: name.to_string(),
            dtype: t.storage_class.clone(),
        })?;
        let storage = self
            .storages
            .get(&t.storage_key)
            .ok_or_else(|| layout(format!("storage {} is missing from the archive", t.storage_key)))?;
        let es = dtype.size();
        let numel: usize = t.shape.iter().product();
        // Highest element index touched, to bound-check before any copy.
        let span = t.shape.iter().zip(&t.stride).map(|(&d, &s)| d.saturating_sub(1).saturating_mul(s)).sum::<usize>();
        let last = t.offset.saturating_add(if numel == 0 { 0 } else { span + 1 });
        if last.saturating_mul(es) > storage.len() {
            return Err(layout(format!(
                "view of {numel} elements at offset {} overruns its storage of {} bytes",
                t.offset,
                storage.len()
            )));
        }
        let mut expected = 1usize;
        let contiguous = t.shape.iter().zip(&t.stride).rev().all(|(&d, &s)| {
            let ok = d == 1 || s == expected;
            expected *= d;
            ok
        });
        if contiguous {
            let start = storage.start + t.offset * es;
            return store.insert(name, dtype, t.shape.clone(), mapped, start..start + numel * es);
        }
        // Rare (a transposed view saved as is): gather it into an owned buffer.
        let src = &self.bytes.as_slice()[storage.clone()];
        let mut out = Vec::with_capacity(numel * es);
        let mut idx = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let off = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
            out.extend_from_slice(&src[off * es..(off + 1) * es]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        let owned = store.add_source(Arc::new(Bytes::Owned(out)));
        store.insert(name, dtype, t.shape.clone(), owned, 0..numel * es)
    }
}
