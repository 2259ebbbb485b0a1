//! HTTP speech routes: OpenAI's `POST /v1/audio/speech` and upstream GPT-SoVITS api_v2's
//! `GET|POST /tts`, as their usual clients send them. Both stream the body while it is generated
//! (chunked transfer), except api_v2 without `streaming_mode`, which answers one complete WAV.

use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::audio::encoder::{OutputFormat, OutputRate};
use crate::audio::wav_stream::{pcm_s16le, wav_header};
use crate::engine::params::PARAMETERS;
use crate::engine::{ReferenceVoice, SessionEvent, SessionRequest};
use crate::error::ErrorCode;
use crate::server::auth::url_pairs;
use crate::server::stream_out::{self, OutEvent, SessionOutput};
use crate::server::AppState;
use crate::text::has_speakable_text;

/// OpenAI's limit on `input`.
const MAX_INPUT_CHARS: usize = 4096;
/// The OpenAI route's format when `response_format` is absent: OpenAI's own default.
const DEFAULT_SPEECH_FORMAT: &str = "mp3";
/// The answer to text with no word in it, on every route.
const NOTHING_SPEAKABLE: &str =
    "the text has nothing to speak (it is empty or only punctuation, symbols, emoji or spaces); give it some words";

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

/// `POST /v1/audio/speech` (OpenAI): `model`, `input`, `voice` (a name or `{"id": name}`),
/// `response_format` opus (Ogg Opus) | wav | pcm (24 kHz s16le, OpenAI's rate) | flac (default
/// wav; mp3/aac are refused with a clear message), `speed`, `stream_format` audio | sse.
pub(crate) async fn openai_speech(State(state): State<AppState>, body: Bytes) -> Response {
    let e = |message: &str| error(Dialect::OpenAi, ErrorCode::BadRequest, message);
    let body: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return e("the body must be a JSON object"),
        Err(err) => return e(&format!("malformed JSON: {err}")),
    };
    // A field that must be a string when present: its value, or an error naming it.
    let string = |k: &str| -> Result<Option<&str>, String> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(format!("\"{k}\" must be a string, got {v}")),
        }
    };
    let required = |k: &str, what: &str| -> Result<&str, String> {
        string(k)?.ok_or_else(|| format!("\"{k}\" ({what}) is required"))
    };
    let fields = (|| {
        let _model = required("model", "any name; the voice decides the model")?;
        let input = required("input", "the text to speak")?;
        let format = string("response_format")?.unwrap_or(DEFAULT_SPEECH_FORMAT);
        Ok::<_, String>((input, format, string("stream_format")?, string("lang")?))
    })();
    let (input, format, stream_format, lang) = match fields {
        Ok(f) => f,
        Err(m) => return e(&m),
    };
    if input.chars().count() > MAX_INPUT_CHARS {
        return e(&format!("\"input\" is limited to {MAX_INPUT_CHARS} characters"));
    }
    if !has_speakable_text(input) {
        return error(Dialect::OpenAi, ErrorCode::BadInput, NOTHING_SPEAKABLE);
    }
    let voice = match body.get("voice") {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Object(o)) if o.get("id").is_some_and(Value::is_string) => {
            o["id"].as_str().unwrap_or_default().to_string()
        }
        None | Some(Value::Null) => return e("\"voice\" is required: a voice name or {\"id\": name}"),
        Some(v) => return e(&format!("\"voice\" must be a voice name (a string) or {{\"id\": name}}, got {v}")),
    };
    let (format, rate) = match format {
        "opus" => (OutputFormat::OggOpus, OutputRate::Hz48000),
        "wav" => (OutputFormat::Wav, OutputRate::Hz32000),
        "pcm" => (OutputFormat::Pcm, OutputRate::Hz24000),
        "flac" => (OutputFormat::Flac, OutputRate::Hz32000),
        "mp3" => (OutputFormat::Mp3, OutputRate::Hz32000),
        other => {
            return e(&format!(
                "response_format {other:?} is not supported: use mp3, opus, wav, pcm or flac (aac is not encoded)"
            ))
        }
    };
    let sse = match stream_format.unwrap_or("audio") {
        "audio" => false,
        "sse" => true,
        other => return e(&format!("stream_format {other:?}: use audio or sse")),
    };
    // Every request parameter by its own name (OpenAI's `speed`, and ours); the engine checks them.
    let params: Map<String, Value> =
        PARAMETERS.iter().filter_map(|(name, _)| Some((name.to_string(), body.get(*name)?.clone()))).collect();
    let request = SessionRequest { voice, reference: None, lang: lang.map(str::to_string), params };
    speak(&state, request, input, format, rate, sse, Dialect::OpenAi).await
}

pub(crate) async fn tts_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let fields: Map<String, Value> =
        url_pairs(query.as_deref().unwrap_or("")).map(|(k, v)| (k, Value::String(v))).collect();
    tts(state, fields).await
}

pub(crate) async fn tts_post(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => tts(state, m).await,
        _ => error(Dialect::ApiV2, ErrorCode::BadRequest, "the body must be a JSON object of api_v2 /tts fields"),
    }
}

/// A field as a number, whether JSON gave a number or the query string a text.
fn number(fields: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| format!("{key} = {s:?} is not a number")),
        Some(v) => Err(format!("{key} = {v} is not a number")),
    }
}

/// api_v2's `streaming_mode`: false/0 whole response, true/1/2/3 streamed.
fn streaming_mode(fields: &Map<String, Value>) -> Result<bool, String> {
    match fields.get("streaming_mode") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if matches!(n.as_u64(), Some(0..=3)) => Ok(n.as_u64() != Some(0)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "false" | "0" => Ok(false),
            "true" | "1" | "2" | "3" => Ok(true),
            _ => Err(format!("streaming_mode = {s:?}: use true/false or 0-3")),
        },
        Some(v) => Err(format!("streaming_mode = {v}: use true/false or 0-3")),
    }
}

/// `/tts` fields whose value must be text.
const TEXT_FIELDS: [&str; 8] =
    ["text", "text_lang", "ref_audio_path", "prompt_text", "prompt_lang", "media_type", "voice", "text_split_method"];

/// api_v2's `aux_ref_audio_paths`: a list of clip paths (absent, null or empty: none; a single
/// string, as a GET query gives it: one path).
fn aux_references(fields: &Map<String, Value>) -> Result<Vec<PathBuf>, String> {
    match fields.get("aux_ref_audio_paths") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(p)) if !p.trim().is_empty() => Ok(vec![PathBuf::from(p.trim())]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str().map(str::trim) {
                Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
                _ => Err(format!("aux_ref_audio_paths must be a list of file paths, found {v}")),
            })
            .collect(),
        Some(v) => Err(format!("aux_ref_audio_paths must be a list of file paths, found {v}")),
    }
}

/// `/tts` (upstream api_v2): `text`, `text_lang`, `ref_audio_path`, `prompt_lang` required,
/// `prompt_text`, `aux_ref_audio_paths`, sampling fields, `speed_factor`, `seed` (-1 = random), `media_type`
/// wav | raw | ogg, `streaming_mode`. Our extension: `voice` instead of the reference fields.
async fn tts(state: AppState, fields: Map<String, Value>) -> Response {
    let e = |message: String| error(Dialect::ApiV2, ErrorCode::BadRequest, &message);
    let text_field = |k: &str| fields.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    if let Some((k, v)) =
        fields.iter().find(|(k, v)| TEXT_FIELDS.contains(&k.as_str()) && !(v.is_string() || v.is_null()))
    {
        return e(format!("{k} must be a string, got {v}"));
    }
    let Some(text) = text_field("text") else { return e("text is required".into()) };
    let Some(text_lang) = text_field("text_lang") else { return e("text_lang is required".into()) };
    let limit = state.engine.config().max_pending_chars;
    if text.chars().count() > limit {
        let message = format!("text is limited to {limit} characters; send a longer text as several requests");
        return error(Dialect::ApiV2, ErrorCode::TooLarge, &message);
    }
    if !has_speakable_text(text) {
        return error(Dialect::ApiV2, ErrorCode::BadInput, NOTHING_SPEAKABLE);
    }
    // Sentences are cut as the engine streams them; the method is checked, not applied.
    if let Some(method) = text_field("text_split_method") {
        if let Err(err) = crate::text::segment::SplitMethod::parse(method) {
            return e(format!("text_split_method: {err}"));
        }
    }
    let reference = match (text_field("voice"), text_field("ref_audio_path")) {
        (Some(_), _) => None,
        (None, Some(path)) => {
            let Some(prompt_lang) = text_field("prompt_lang") else { return e("prompt_lang is required".into()) };
            let aux = match aux_references(&fields) {
                Ok(aux) => aux,
                Err(m) => return e(m),
            };
            Some(ReferenceVoice {
                path: PathBuf::from(path),
                transcript: text_field("prompt_text").unwrap_or_default().to_string(),
                lang: prompt_lang.to_ascii_lowercase(),
                aux,
            })
        }
        (None, None) => return e("ref_audio_path is required (or voice, a name from /v1/voices)".into()),
    };
    let (format, rate) = match text_field("media_type").unwrap_or("wav") {
        "wav" => (OutputFormat::Wav, OutputRate::Hz32000),
        "raw" => (OutputFormat::Pcm, OutputRate::Hz32000),
        "ogg" => (OutputFormat::OggOpus, OutputRate::Hz48000),
        other => return e(format!("media_type {other:?} is not supported: use wav, raw or ogg")),
    };
    let streaming = match streaming_mode(&fields) {
        Ok(s) => s,
        Err(m) => return e(m),
    };
    let mut params = Map::new();
    for (ours, theirs) in [
        ("top_k", "top_k"),
        ("top_p", "top_p"),
        ("temperature", "temperature"),
        ("repetition_penalty", "repetition_penalty"),
        ("speed", "speed_factor"),
        ("seed", "seed"),
        ("noise_scale", "noise_scale"),
        ("max_tokens", "max_tokens"),
    ] {
        match number(&fields, theirs) {
            Ok(Some(v)) if theirs == "seed" && v < 0.0 => {}
            Ok(Some(v)) if ["top_k", "seed", "max_tokens"].contains(&ours) => {
                if v.fract() != 0.0 || v < 0.0 {
                    return e(format!("{theirs} = {v} must be a whole number"));
                }
                params.insert(ours.into(), Value::from(v as u64));
            }
            Ok(Some(v)) => {
                params.insert(ours.into(), Value::from(v));
            }
            Ok(None) => {}
            Err(m) => return e(m),
        }
    }
    let request = SessionRequest {
        voice: text_field("voice").unwrap_or_default().to_string(),
        reference,
        lang: Some(text_lang.to_ascii_lowercase()),
        params,
    };
    if streaming || format != OutputFormat::Wav {
        return speak(&state, request, text, format, rate, false, Dialect::ApiV2).await;
    }
    whole_wav(&state, request, text).await
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
