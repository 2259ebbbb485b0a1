//! The crate-level error: one variant per layer, each with a stable machine-readable
//! [`ErrorCode`] (used on the wire by the server and in the CLI's exit message).

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
    /// The error's code on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Checkpoint(e) => ErrorCode::of_checkpoint(e),
            Error::Model(e) => e.code(),
            Error::Text(_) => ErrorCode::BadInput,
            Error::Audio(_) => ErrorCode::BadAudio,
        }
    }
}

/// Every error code a client can see (docs/PROTOCOL.md), with its one HTTP status and its one
/// WebSocket close code, so no route can map an error differently from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: JSON, a missing or mistyped field, a value out of range.
    BadRequest,
    /// The text or tokens cannot be spoken (nothing speakable, a sentence the GPT cannot take).
    BadInput,
    /// A WebSocket text frame that is not UTF-8.
    BadEncoding,
    /// A reference clip that cannot be read or is out of the 3–10 s range.
    BadAudio,
    BadCheckpoint,
    UnsupportedModel,
    IncompatibleModels,
    UnknownVoice,
    /// Missing or wrong API key.
    Unauthorized,
    /// A browser page's request refused by the Host/Origin checks, or a reference path outside
    /// the allowed roots.
    Forbidden,
    /// A server on loopback asked for another host name (DNS rebinding).
    WrongHost,
    UnsupportedMediaType,
    /// The server is at capacity (`--max-sessions`): retry.
    Busy,
    TooLarge,
    /// The client did not read its audio in time.
    SlowClient,
    /// The GPU failed or is out of memory or slots: retry, or serve fewer sessions.
    DeviceError,
    Internal,
    /// The server is stopping.
    ShuttingDown,
}

impl ErrorCode {
    /// The code as it appears in JSON and in close-frame reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadInput => "bad_input",
            ErrorCode::BadEncoding => "bad_encoding",
            ErrorCode::BadAudio => "bad_audio",
            ErrorCode::BadCheckpoint => "bad_checkpoint",
            ErrorCode::UnsupportedModel => "unsupported_model",
            ErrorCode::IncompatibleModels => "incompatible_models",
            ErrorCode::UnknownVoice => "unknown_voice",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::WrongHost => "wrong_host",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Busy => "busy",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::SlowClient => "slow_client",
            ErrorCode::DeviceError => "device_error",
            ErrorCode::Internal => "internal",
            ErrorCode::ShuttingDown => "shutting_down",
        }
    }

    /// The HTTP status of a response carrying this error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Busy | ErrorCode::DeviceError | ErrorCode::ShuttingDown => 503,
            ErrorCode::UnknownVoice => 404,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::WrongHost => 421,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooLarge => 413,
            ErrorCode::Internal | ErrorCode::SlowClient => 500,
            ErrorCode::BadRequest
            | ErrorCode::BadInput
            | ErrorCode::BadEncoding
            | ErrorCode::BadAudio
            | ErrorCode::BadCheckpoint
            | ErrorCode::UnsupportedModel
            | ErrorCode::IncompatibleModels => 400,
        }
    }

    /// The WebSocket close code after a fatal error (docs/PROTOCOL.md): 1001 going away, 1007 not
    /// UTF-8, 1008 policy (too slow), 1009 too big, 1011 a server-side failure, 4xxx the client's
    /// request (4000 wrong, 4001 unauthorized, 4003 forbidden, 4004 unknown voice, 4029 busy).
    pub fn close_code(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::BadInput | ErrorCode::UnsupportedMediaType => 4000,
            ErrorCode::Unauthorized => 4001,
            ErrorCode::Forbidden | ErrorCode::WrongHost => 4003,
            ErrorCode::UnknownVoice => 4004,
            ErrorCode::Busy => 4029,
            ErrorCode::BadEncoding => 1007,
            ErrorCode::SlowClient => 1008,
            ErrorCode::TooLarge => 1009,
            ErrorCode::ShuttingDown => 1001,
            ErrorCode::BadAudio
            | ErrorCode::BadCheckpoint
            | ErrorCode::UnsupportedModel
            | ErrorCode::IncompatibleModels
            | ErrorCode::DeviceError
            | ErrorCode::Internal => 1011,
        }
    }

    /// A checkpoint problem has one code however it travels.
    pub fn of_checkpoint(e: &CheckpointError) -> ErrorCode {
        match e {
            CheckpointError::UnsupportedVersion { .. } => ErrorCode::UnsupportedModel,
            _ => ErrorCode::BadCheckpoint,
        }
    }

    /// Every code, for the documentation test.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::BadRequest,
        ErrorCode::BadInput,
        ErrorCode::BadEncoding,
        ErrorCode::BadAudio,
        ErrorCode::BadCheckpoint,
        ErrorCode::UnsupportedModel,
        ErrorCode::IncompatibleModels,
        ErrorCode::UnknownVoice,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::WrongHost,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Busy,
        ErrorCode::TooLarge,
        ErrorCode::SlowClient,
        ErrorCode::DeviceError,
        ErrorCode::Internal,
        ErrorCode::ShuttingDown,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
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

    /// The wire name is the serde name, and each code has a status and close code of its kind.
    #[test]
    fn codes_serialize_as_their_names() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
            assert!((400..600).contains(&code.http_status()), "{code}");
            assert!(matches!(code.close_code(), 1001..=1011 | 4000..=4999), "{code}");
        }
    }

    /// docs/PROTOCOL.md's close-code table gives every code a session can end with, and the
    /// same close code as [`ErrorCode::close_code`].
    #[test]
    fn the_protocol_documents_every_close_code() {
        let doc = include_str!("../docs/PROTOCOL.md");
        let table = doc.split("| close code |").nth(1).expect("no close-code table");
        let rows: Vec<&str> = table.lines().skip(2).take_while(|l| l.starts_with('|')).collect();
        let refused_at_upgrade =
            [ErrorCode::Unauthorized, ErrorCode::Forbidden, ErrorCode::WrongHost, ErrorCode::UnsupportedMediaType];
        for code in ErrorCode::ALL.into_iter().filter(|c| !refused_at_upgrade.contains(c)) {
            let needle = format!("`{code}`");
            let row = rows.iter().find(|r| r.split('|').nth(2).is_some_and(|cell| cell.contains(&needle)));
            let row = row.unwrap_or_else(|| panic!("docs/PROTOCOL.md gives no close code for {code}"));
            let documented: u16 = row.split('|').nth(1).unwrap().trim().parse().unwrap();
            assert_eq!(documented, code.close_code(), "{code}");
        }
    }
}
