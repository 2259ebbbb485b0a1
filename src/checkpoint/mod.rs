//! Reading the files users already have, as they are: GPT-SoVITS GPT `.ckpt` and SoVITS `.pth`
//! (torch zip + pickle, fp16, GPT-SoVITS version header bytes) and the Hugging Face folders
//! `chinese-hubert-base` / `chinese-roberta-wwm-ext-large` (`config.json` + `pytorch_model.bin`
//! or `model.safetensors`, fp16 or fp32), and the bare ERes2NetV2 state dict of the v2Pro
//! speaker-verification branch. research/upstream-v2.md §1 is the specification.
//!
//! The same formats are written from memory (`write_gpt`, `write_sovits`, `write_hf_folder`,
//! `write_safetensors`) so that synthetic models load through the readers unchanged.
//!
//! This layer knows file formats only; the architecture each file implies is read from tensor
//! shapes by `crate::model::config`.

mod files;
pub mod pickle;
mod safetensors_file;
mod speaker_file;
mod store;
mod torch;
mod torch_write;

use std::path::{Path, PathBuf};

pub use files::{
    open_gpt, open_hf_folder, open_sovits, write_gpt, write_hf_folder, write_sovits, GptFile, HfFolder, SovitsFile,
    SovitsKind,
};
pub use safetensors_file::{open_safetensors, write_safetensors};
pub use speaker_file::{open_speaker_verifier, SpeakerVerifierFile};
pub use store::{DType, TensorStore, TensorView};
pub use torch::TorchFile;

/// Everything that can be wrong with a checkpoint file. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a PyTorch checkpoint: {reason}")]
    NotATorchFile { path: PathBuf, reason: String },
    #[error("{path}: the file starts with bytes {found:?}, which is neither a zip ('PK') nor a GPT-SoVITS version marker ('00'..'06')")]
    BadMagic { path: PathBuf, found: String },
    #[error("{path}: this is a GPT-SoVITS {version} model; sovits-rt supports v1, v2, v2Pro and v2ProPlus models so far (model version not supported yet)")]
    UnsupportedVersion { path: PathBuf, version: String },
    #[error("{path}: {source}")]
    Pickle { path: PathBuf, source: pickle::PickleError },
    #[error("{path}: unexpected content: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: tensor {name} has unsupported element type {dtype}")]
    UnsupportedDtype { path: PathBuf, name: String, dtype: String },
    #[error("{path}: tensor {name}: {reason}")]
    Layout { path: PathBuf, name: String, reason: String },
    #[error("{path}: tensor {name} is missing")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: bad config.json: {reason}")]
    Config { path: PathBuf, reason: String },
}

impl CheckpointError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CheckpointError::Io { path: path.to_path_buf(), source }
    }
}
