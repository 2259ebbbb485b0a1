//! HTTP speech routes: OpenAI's `POST /v1/audio/speech` and upstream GPT-SoVITS api_v2's
//! `GET|POST /tts`, as their usual clients send them. Both stream the body while it is generated
//! (chunked transfer), except api_v2 without `streaming_mode`, which answers one complete WAV.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::audio::encoder::{OutputFormat, OutputRate};
use crate::audio::wav_stream::{pcm_s16le, wav_header};
use crate::engine::{SessionEvent, SessionRequest};
use crate::error::ErrorCode;
use crate::server::error_response::{error, Dialect};
use crate::server::speech_request::{self, Delivery, SpeechRequest, NOTHING_SPEAKABLE};
use crate::server::stream_out::{self, OutEvent, SessionOutput};
use crate::server::AppState;

/// A body that streams a session's encoded audio, or its SSE events (`speech.audio.delta` with
/// base64 audio, then `speech.audio.done`). A failure after the headers went out cuts the body
/// short (plain audio) or sends an `error` event (SSE).
fn streaming_body(out: SessionOutput, sse: bool) -> Body {
    let stream = futures_util::stream::unfold(Some(out), move |out| async move {
        let mut out = out?;
        loop {
            let event = out.next().await?;
            let bytes = match event {
                OutEvent::Audio { chunk, .. } => {
                    let audio: Vec<u8> = chunk.frames.concat();
                    if sse {
                        let b64 = base64::engine::general_purpose::STANDARD.encode(&audio);
                        sse_event(&json!({"type": "speech.audio.delta", "audio": b64}))
                    } else {
                        audio
                    }
                }
                OutEvent::Done(stats) if sse => {
                    let usage = json!({"input_tokens": 0, "output_tokens": stats.tokens, "total_tokens": stats.tokens});
                    sse_event(&json!({"type": "speech.audio.done", "usage": usage}))
                }
                OutEvent::Failed { code, message } => {
                    if !sse {
                        return Some((Err(std::io::Error::other(format!("{code}: {message}"))), None));
                    }
                    sse_event(&json!({"type": "error", "error": {"code": code, "message": message}}))
                }
                OutEvent::Done(_) | OutEvent::Segment { .. } | OutEvent::Warning { .. } => continue,
            };
            return Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), Some(out)));
        }
    });
    Body::from_stream(stream)
}

fn sse_event(value: &Value) -> Vec<u8> {
    format!("data: {value}\n\n").into_bytes()
}

/// Starts a session for `text` and answers with its audio stream.
async fn speak(
    state: &AppState,
    request: SessionRequest,
    text: &str,
    format: OutputFormat,
    rate: OutputRate,
    sse: bool,
    dialect: Dialect,
) -> Response {
    let session = match stream_out::open(&state.engine, request).await {
        Ok(s) => s,
        Err(e) => return error(dialect, e.code(), &e.to_string()),
    };
    session.push_text(text);
    session.close();
    let out = match SessionOutput::new(session, format, rate, state.engine.metrics().clone()) {
        Ok(o) => o,
        Err(e) => return error(dialect, ErrorCode::Internal, &e.to_string()),
    };
    let content_type = if sse { "text/event-stream" } else { format.mime_type() };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], streaming_body(out, sse))
        .into_response()
}

/// `POST /v1/audio/speech` (OpenAI); the body is read by [`speech_request::openai`].
pub(crate) async fn openai_speech(State(state): State<AppState>, body: Bytes) -> Response {
    match speech_request::openai(&body) {
        Ok(r) => deliver(&state, r, Dialect::OpenAi).await,
        Err(e) => error(Dialect::OpenAi, e.code, &e.message),
    }
}

/// `GET /tts` (upstream api_v2), its fields in the query string.
pub(crate) async fn tts_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let fields = speech_request::query_fields(query.as_deref().unwrap_or(""));
    tts(&state, fields).await
}

/// `POST /tts`, its fields in a JSON object.
pub(crate) async fn tts_post(State(state): State<AppState>, body: Bytes) -> Response {
    match speech_request::json_fields(&body) {
        Ok(fields) => tts(&state, fields).await,
        Err(e) => error(Dialect::ApiV2, e.code, &e.message),
    }
}

async fn tts(state: &AppState, fields: Map<String, Value>) -> Response {
    match speech_request::api_v2(fields, state.engine.config().max_pending_chars) {
        Ok(r) => deliver(state, r, Dialect::ApiV2).await,
        Err(e) => error(Dialect::ApiV2, e.code, &e.message),
    }
}

/// Answers a parsed request: a stream of encoded audio (or SSE events), or one whole WAV.
async fn deliver(state: &AppState, r: SpeechRequest, dialect: Dialect) -> Response {
    match r.delivery {
        Delivery::WholeWav => whole_wav(state, r.session, &r.text).await,
        Delivery::Stream => speak(state, r.session, &r.text, r.format, r.rate, false, dialect).await,
        Delivery::Sse => speak(state, r.session, &r.text, r.format, r.rate, true, dialect).await,
    }
}

/// api_v2 without streaming: one complete WAV with its real length in the header.
async fn whole_wav(state: &AppState, request: SessionRequest, text: &str) -> Response {
    let mut session = match stream_out::open(&state.engine, request).await {
        Ok(s) => s,
        Err(err) => return error(Dialect::ApiV2, err.code(), &err.to_string()),
    };
    session.push_text(text);
    session.close();
    let mut samples = Vec::new();
    while let Some(event) = session.next_event().await {
        match event {
            SessionEvent::Audio(a) => samples.extend(a),
            SessionEvent::Done(_) => break,
            SessionEvent::Segment { .. } | SessionEvent::Warning { .. } => {}
        }
    }
    if let Some((code, message)) = session.failure() {
        return error(Dialect::ApiV2, code, &message);
    }
    if samples.is_empty() {
        return error(Dialect::ApiV2, ErrorCode::BadInput, NOTHING_SPEAKABLE);
    }
    let pcm = pcm_s16le(&samples);
    let mut wav = wav_header(crate::audio::MODEL_RATE, Some(samples.len() as u32)).to_vec();
    wav.extend(pcm);
    ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response()
}
