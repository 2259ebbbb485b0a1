//! Error responses: one JSON shape per client dialect, with the code's one HTTP status
//! ([`ErrorCode::http_status`]), for every route and middleware.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ErrorCode;

/// An error in the shape the route's clients expect.
pub(crate) enum Dialect {
    OpenAi,
    ApiV2,
}

impl Dialect {
    /// api_v2's for `/tts`, OpenAI's (which our other routes share) elsewhere.
    pub(crate) fn of_path(path: &str) -> Self {
        if path == "/tts" {
            Dialect::ApiV2
        } else {
            Dialect::OpenAi
        }
    }
}

/// An error response in the route's dialect, with the code's one HTTP status.
pub(crate) fn error(dialect: Dialect, code: ErrorCode, message: &str) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match dialect {
        Dialect::OpenAi => json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
        Dialect::ApiV2 => json!({"message": message, "Exception": code}),
    };
    (status, Json(body)).into_response()
}
