//! The crate-level error: one variant per layer, each with a stable machine-readable code
//! (used on the wire by the server and in the CLI's exit message).

use crate::audio::AudioError;
use crate::checkpoint::CheckpointError;
use crate::model::ModelError;
use crate::text::TextError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Text(#[from] TextError),
}

impl Error {
    /// Stable error code, e.g. `bad_checkpoint`, `unsupported_model`, `bad_audio`, `bad_input`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Checkpoint(CheckpointError::UnsupportedVersion { .. }) => "unsupported_model",
            Error::Checkpoint(_) | Error::Model(ModelError::Checkpoint(_)) => "bad_checkpoint",
            Error::Model(ModelError::Incompatible(_)) => "incompatible_models",
            Error::Model(ModelError::Input(_)) | Error::Text(_) => "bad_input",
            Error::Model(ModelError::Device(_)) => "device_error",
            Error::Model(_) => "bad_checkpoint",
            Error::Audio(_) => "bad_audio",
        }
    }
}
