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
            Error::Checkpoint(_) => "bad_checkpoint",
            Error::Model(e) => e.code(),
            Error::Text(_) => "bad_input",
            Error::Audio(_) => "bad_audio",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint problem has one code however it travels (directly, or inside a model error).
    #[test]
    fn one_code_per_kind_of_error() {
        let bad = || CheckpointError::Format { path: "x.pth".into(), reason: "r".into() };
        let old = || CheckpointError::UnsupportedVersion { path: "x.pth".into(), version: "v4".into() };
        assert_eq!(Error::Checkpoint(bad()).code(), "bad_checkpoint");
        assert_eq!(Error::Model(ModelError::Checkpoint(bad())).code(), "bad_checkpoint");
        assert_eq!(ModelError::Checkpoint(bad()).code(), "bad_checkpoint");
        assert_eq!(Error::Checkpoint(old()).code(), "unsupported_model");
        assert_eq!(ModelError::Checkpoint(old()).code(), "unsupported_model");
        assert_eq!(ModelError::Input("x".into()).code(), "bad_input");
        assert_eq!(ModelError::Device("x".into()).code(), "device_error");
        assert_eq!(Error::Model(ModelError::Incompatible("x".into())).code(), "incompatible_models");
    }
}
