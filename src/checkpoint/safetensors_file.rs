//! `.safetensors` files (HF `model.safetensors`, and the parity fixtures), memory-mapped, and
//! written back from a [`TensorStore`] (synthetic models are put on disk this way).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use safetensors::Dtype;

use super::store::{Bytes, DType, TensorStore, TensorView};
use super::CheckpointError;

/// The safetensors name of each element type we read and write.
fn safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::I16 => Dtype::I16,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        DType::Bool => Dtype::BOOL,
    }
}

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
        let Some(dtype) = DType::ALL.into_iter().find(|&d| safetensors_dtype(d) == info.dtype) else {
            return Err(CheckpointError::UnsupportedDtype {
                path: path.to_path_buf(),
                name,
                dtype: format!("{:?}", info.dtype),
            });
        };
        let (s, e) = info.data_offsets;
        store.insert(&name, dtype, info.shape.clone(), source, base + s..base + e)?;
    }
    if let Some(m) = meta.metadata() {
        store.set_metadata(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    }
    Ok(store)
}

/// A stored tensor as the safetensors serializer sees it.
struct Stored<'a>(TensorView<'a>);

impl safetensors::View for Stored<'_> {
    fn dtype(&self) -> Dtype {
        safetensors_dtype(self.0.dtype)
    }

    fn shape(&self) -> &[usize] {
        self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.bytes)
    }

    fn data_len(&self) -> usize {
        self.0.bytes.len()
    }
}

/// Writes every tensor of `store` (and its metadata) to `path` as one safetensors file.
pub fn write_safetensors(store: &TensorStore, path: &Path) -> Result<(), CheckpointError> {
    let tensors = store.names().filter_map(|n| store.get(n)).map(|v| (v.name, Stored(v)));
    let metadata = (!store.metadata().is_empty())
        .then(|| store.metadata().iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>());
    safetensors::serialize_to_file(tensors, metadata, path)
        .map_err(|e| CheckpointError::io(path, std::io::Error::other(e.to_string())))
}
