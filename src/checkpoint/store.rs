//! A name → tensor table over memory-mapped checkpoint bytes.
//!
//! Every reader in this module (torch zip, safetensors) produces a [`TensorStore`]: the tensor
//! bytes stay in the file mapping until a model asks for them, converted to the precision it
//! computes in ([`TensorView::to_f32`], [`TensorView::to_f16`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::{bf16, f16};
use memmap2::Mmap;

use super::CheckpointError;

/// Element types found in the files we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F16,
    BF16,
    F32,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    /// Every element type, for tables keyed by type (storage classes, safetensors dtypes).
    pub const ALL: [DType; 10] = [
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U8,
        DType::Bool,
    ];

    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
}

/// Bytes that back tensors: a read-only file mapping, or a buffer we assembled ourselves.
pub enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    /// Maps `path` read-only.
    pub fn map(path: &Path) -> Result<Self, CheckpointError> {
        let file = std::fs::File::open(path).map_err(|e| CheckpointError::io(path, e))?;
        // SAFETY: the mapping is read-only; a user who rewrites a checkpoint while the engine
        // runs gets garbage weights, the same as with any reader (documented in the README).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| CheckpointError::io(path, e))?;
        Ok(Bytes::Mapped(map))
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    dtype: DType,
    shape: Vec<usize>,
    source: usize,
    range: Range<usize>,
}

/// Tensors by name, plus the string metadata some formats carry.
#[derive(Default)]
pub struct TensorStore {
    path: PathBuf,
    sources: Vec<Arc<Bytes>>,
    entries: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
}

/// One tensor's dtype, shape and raw little-endian bytes.
#[derive(Clone, Copy)]
pub struct TensorView<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: &'a [usize],
    pub bytes: &'a [u8],
    path: &'a Path,
}

impl TensorStore {
    pub fn new(path: &Path) -> Self {
        TensorStore { path: path.to_path_buf(), ..Default::default() }
    }

    /// The file the tensors came from (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn add_source(&mut self, bytes: Arc<Bytes>) -> usize {
        self.sources.push(bytes);
        self.sources.len() - 1
    }

    /// Registers a tensor; checks that the byte range holds exactly `shape` elements.
    pub(crate) fn insert(
        &mut self,
        name: &str,
        dtype: DType,
        shape: Vec<usize>,
        source: usize,
        range: Range<usize>,
    ) -> Result<(), CheckpointError> {
        let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let len = self.sources.get(source).map_or(0, |s| s.as_slice().len());
        match numel.and_then(|n| n.checked_mul(dtype.size())) {
            Some(nbytes) if nbytes == range.len() && range.end <= len => {}
            _ => {
                return Err(CheckpointError::Layout {
                    path: self.path.clone(),
                    name: name.to_string(),
                    reason: format!("shape {shape:?} does not fit the {} stored bytes", range.len()),
                })
            }
        }
        self.entries.insert(name.to_string(), Entry { dtype, shape, source, range });
        Ok(())
    }

    /// Adds a tensor held in memory (synthetic checkpoints for benchmarks and property tests).
    pub fn insert_f16(&mut self, name: &str, shape: Vec<usize>, data: &[f16]) -> Result<(), CheckpointError> {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let len = bytes.len();
        let source = self.add_source(Arc::new(Bytes::Owned(bytes)));
        self.insert(name, DType::F16, shape, source, 0..len)
    }

    pub(crate) fn set_metadata(&mut self, metadata: BTreeMap<String, String>) {
        self.metadata = metadata;
    }

    /// String metadata (safetensors header `__metadata__`).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<TensorView<'_>> {
        let (key, e) = self.entries.get_key_value(name)?;
        let bytes = &self.sources[e.source].as_slice()[e.range.clone()];
        Some(TensorView { name: key, dtype: e.dtype, shape: &e.shape, bytes, path: &self.path })
    }

    /// Like [`get`](Self::get) but a missing tensor is an error naming the file.
    pub fn require(&self, name: &str) -> Result<TensorView<'_>, CheckpointError> {
        self.get(name).ok_or_else(|| CheckpointError::MissingTensor { path: self.path.clone(), name: name.to_string() })
    }

    /// Keeps only the tensors under `prefix`, with the prefix removed from their names.
    pub fn strip_prefix(mut self, prefix: &str) -> Self {
        self.entries = std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v)))
            .collect();
        self
    }
}

impl<'a> TensorView<'a> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    fn dtype_error(&self, wanted: &str) -> CheckpointError {
        CheckpointError::UnsupportedDtype {
            path: self.path.to_path_buf(),
            name: self.name.to_string(),
            dtype: format!("{:?} (wanted {wanted})", self.dtype),
        }
    }

    /// Converts a floating-point tensor to f32 (exact for f16/bf16 sources).
    pub fn to_f32(&self) -> Result<Vec<f32>, CheckpointError> {
        let b = self.bytes;
        Ok(match self.dtype {
            DType::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            DType::F16 => b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            DType::BF16 => b.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            DType::F64 => b
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    f64::from_le_bytes(a) as f32
                })
                .collect(),
            _ => return Err(self.dtype_error("a float type")),
        })
    }

    /// Converts a floating-point tensor to f16 (rounding f32 sources to nearest).
    pub fn to_f16(&self) -> Result<Vec<f16>, CheckpointError> {
        let b = self.bytes;
        Ok(match self.dtype {
            DType::F16 => b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect(),
            _ => self.to_f32()?.into_iter().map(f16::from_f32).collect(),
        })
    }

    /// Converts an integer tensor to i64.
    pub fn to_i64(&self) -> Result<Vec<i64>, CheckpointError> {
        let b = self.bytes;
        Ok(match self.dtype {
            DType::I64 => b
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    i64::from_le_bytes(a)
                })
                .collect(),
            DType::I32 => b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect(),
            DType::I16 => b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect(),
            DType::I8 => b.iter().map(|&x| x as i8 as i64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&x| x as i64).collect(),
            _ => return Err(self.dtype_error("an integer type")),
        })
    }
}
