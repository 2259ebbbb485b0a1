//! `.safetensors` files (HF `model.safetensors`, and the parity fixtures), memory-mapped.

use std::path::Path;
use std::sync::Arc;

use super::store::{Bytes, DType, TensorStore};
use super::CheckpointError;

/// Maps a safetensors file and lists its tensors and `__metadata__` strings.
pub fn open_safetensors(path: &Path) -> Result<TensorStore, CheckpointError> {
    let bytes = Arc::new(Bytes::map(path)?);
    let data = bytes.as_slice();
    let bad = |reason: String| CheckpointError::Format { path: path.to_path_buf(), reason };
    let (header_len, meta) =
        safetensors::SafeTensors::read_metadata(data).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let base = 8 + header_len;
    let mut store = TensorStore::new(path);
    let source = store.add_source(bytes.clone());
    for (name, info) in meta.tensors() {
        let dtype = match info.dtype {
            safetensors::Dtype::F16 => DType::F16,
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::F64 => DType::F64,
            safetensors::Dtype::I64 => DType::I64,
            safetensors::Dtype::I32 => DType::I32,
            safetensors::Dtype::I16 => DType::I16,
            safetensors::Dtype::I8 => DType::I8,
            safetensors::Dtype::U8 => DType::U8,
            safetensors::Dtype::BOOL => DType::Bool,
            other => {
                return Err(CheckpointError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    name,
                    dtype: format!("{other:?}"),
                })
            }
        };
        let (s, e) = info.data_offsets;
        store.insert(&name, dtype, info.shape.clone(), source, base + s..base + e)?;
    }
    if let Some(m) = meta.metadata() {
        store.set_metadata(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    }
    Ok(store)
}
