//! `/v1/voices`: list (`GET`), add (`POST` with the WAV clip as the body and `name`,
//! `transcript`, `lang` in the query), remove (`DELETE /v1/voices/{name}`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::engine::{EngineError, NewVoice, RequestParams, VoiceManifest};
use crate::server::auth::url_pairs;
use crate::server::error_response::{error, Dialect};
use crate::server::AppState;

fn failure(e: &EngineError) -> Response {
    error(Dialect::OpenAi, e.code(), &e.to_string())
}

fn describe(m: &VoiceManifest) -> Value {
    json!({"name": m.name, "lang": m.lang, "transcript": m.transcript, "gpt": m.gpt, "sovits": m.sovits, "defaults": m.defaults})
}

pub(crate) async fn list(State(state): State<AppState>) -> Response {
    match state.engine.voices().list() {
        Ok(voices) => Json(json!({"voices": voices.iter().map(describe).collect::<Vec<_>>()})).into_response(),
        Err(e) => failure(&e.into()),
    }
}

pub(crate) async fn add(State(state): State<AppState>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let fields: std::collections::HashMap<String, String> = url_pairs(query.as_deref().unwrap_or("")).collect();
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let manifest = VoiceManifest {
        name: field("name"),
        transcript: field("transcript"),
        lang: fields.get("lang").cloned().unwrap_or_else(|| "auto".into()),
        gpt: None,
        sovits: None,
        defaults: RequestParams::default(),
    };
    let new = NewVoice { manifest, reference_wav: body.to_vec() };
    let engine = state.engine.clone();
    match tokio::task::spawn_blocking(move || engine.add_voice(&new)).await {
        Ok(Ok(ready)) => (StatusCode::CREATED, Json(describe(&ready.manifest))).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(e) => failure(&EngineError::Internal(e.to_string())),
    }
}

pub(crate) async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.engine.remove_voice(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(&e),
    }
}
