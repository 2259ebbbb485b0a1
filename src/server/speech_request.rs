//! The HTTP speech routes' requests, parsed: OpenAI's `POST /v1/audio/speech` body and upstream
//! api_v2's `/tts` fields (query string or JSON) → a [`SpeechRequest`] or a typed error naming
//! the field. Pure, so it is tested and fuzzed without a server (`fuzz/fuzz_targets/`).

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::audio::encoder::{OutputFormat, OutputRate};
use crate::engine::params::PARAMETERS;
use crate::engine::{ReferenceVoice, SessionRequest};
use crate::error::ErrorCode;
use crate::server::auth::url_pairs;
use crate::text::has_speakable_text;

/// OpenAI's limit on `input`.
pub const MAX_INPUT_CHARS: usize = 4096;
/// The OpenAI route's format when `response_format` is absent: OpenAI's own default.
const DEFAULT_SPEECH_FORMAT: &str = "mp3";
/// The answer to text with no word in it, on every route.
pub const NOTHING_SPEAKABLE: &str =
    "the text has nothing to speak (it is empty or only punctuation, symbols, emoji or spaces); give it some words";

/// A speech request ready for the engine.
#[derive(Debug, Clone)]
pub struct SpeechRequest {
    pub session: SessionRequest,
    pub text: String,
    pub format: OutputFormat,
    pub rate: OutputRate,
    pub delivery: Delivery,
}

/// How the audio goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The encoded audio as it is generated (chunked transfer).
    Stream,
    /// OpenAI's server-sent events: base64 audio deltas, then `speech.audio.done`.
    Sse,
    /// api_v2 without `streaming_mode`: one WAV with its real length in the header.
    WholeWav,
}

/// Why a request was refused: its code and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RequestError {
    pub code: ErrorCode,
    pub message: String,
}

fn bad(message: impl Into<String>) -> RequestError {
    RequestError { code: ErrorCode::BadRequest, message: message.into() }
}

fn nothing_speakable() -> RequestError {
    RequestError { code: ErrorCode::BadInput, message: NOTHING_SPEAKABLE.into() }
}

/// `POST /v1/audio/speech` (OpenAI): `model`, `input`, `voice` (a name or `{"id": name}`),
/// `response_format` mp3 (default) | opus (Ogg Opus) | wav | pcm (24 kHz s16le, OpenAI's rate) |
/// flac, `stream_format` audio | sse, `lang`, and every request parameter by its own name.
pub fn openai(body: &[u8]) -> Result<SpeechRequest, RequestError> {
    let body: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(bad("the body must be a JSON object")),
        Err(err) => return Err(bad(format!("malformed JSON: {err}"))),
    };
    // A field that must be a string when present: its value, or an error naming it.
    let string = |k: &str| -> Result<Option<&str>, RequestError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(bad(format!("\"{k}\" must be a string, got {v}"))),
        }
    };
    let required = |k: &str, what: &str| -> Result<&str, RequestError> {
        string(k)?.ok_or_else(|| bad(format!("\"{k}\" ({what}) is required")))
    };
    let _model = required("model", "any name; the voice decides the model")?;
    let input = required("input", "the text to speak")?;
    let format = string("response_format")?.unwrap_or(DEFAULT_SPEECH_FORMAT);
    let (stream_format, lang) = (string("stream_format")?, string("lang")?);
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(bad(format!("\"input\" is limited to {MAX_INPUT_CHARS} characters")));
    }
    if !has_speakable_text(input) {
        return Err(nothing_speakable());
    }
    let voice = match body.get("voice") {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Object(o)) if o.get("id").is_some_and(Value::is_string) => {
            o["id"].as_str().unwrap_or_default().to_string()
        }
        None | Some(Value::Null) => return Err(bad("\"voice\" is required: a voice name or {\"id\": name}")),
        Some(v) => return Err(bad(format!("\"voice\" must be a voice name (a string) or {{\"id\": name}}, got {v}"))),
    };
    let (format, rate) = match format {
        "opus" => (OutputFormat::OggOpus, OutputRate::Hz48000),
        "wav" => (OutputFormat::Wav, OutputRate::Hz32000),
        "pcm" => (OutputFormat::Pcm, OutputRate::Hz24000),
        "flac" => (OutputFormat::Flac, OutputRate::Hz32000),
        "mp3" => (OutputFormat::Mp3, OutputRate::Hz32000),
        other => {
            return Err(bad(format!(
                "response_format {other:?} is not supported: use mp3, opus, wav, pcm or flac (aac is not encoded)"
            )))
        }
    };
    let delivery = match stream_format.unwrap_or("audio") {
        "audio" => Delivery::Stream,
        "sse" => Delivery::Sse,
        other => return Err(bad(format!("stream_format {other:?}: use audio or sse"))),
    };
    // Every request parameter by its own name (OpenAI's `speed`, and ours); the engine checks them.
    let params: Map<String, Value> =
        PARAMETERS.iter().filter_map(|(name, _)| Some((name.to_string(), body.get(*name)?.clone()))).collect();
    let session = SessionRequest { voice, reference: None, lang: lang.map(str::to_string), params };
    Ok(SpeechRequest { session, text: input.to_string(), format, rate, delivery })
}

/// `GET /tts`'s fields: the query string's pairs, as text.
pub fn query_fields(query: &str) -> Map<String, Value> {
    url_pairs(query).map(|(k, v)| (k, Value::String(v))).collect()
}

/// `POST /tts`'s fields: a JSON object.
pub fn json_fields(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad("the body must be a JSON object of api_v2 /tts fields")),
    }
}

/// A field as a number, whether JSON gave a number or the query string a text.
fn number(fields: &Map<String, Value>, key: &str) -> Result<Option<f64>, RequestError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(format!("{key} = {s:?} is not a number"))),
        Some(v) => Err(bad(format!("{key} = {v} is not a number"))),
    }
}

/// api_v2's `streaming_mode`: false/0 whole response, true/1/2/3 streamed.
fn streaming_mode(fields: &Map<String, Value>) -> Result<bool, RequestError> {
    match fields.get("streaming_mode") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if matches!(n.as_u64(), Some(0..=3)) => Ok(n.as_u64() != Some(0)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "false" | "0" => Ok(false),
            "true" | "1" | "2" | "3" => Ok(true),
            _ => Err(bad(format!("streaming_mode = {s:?}: use true/false or 0-3"))),
        },
        Some(v) => Err(bad(format!("streaming_mode = {v}: use true/false or 0-3"))),
    }
}

/// `/tts` fields whose value must be text.
const TEXT_FIELDS: [&str; 8] =
    ["text", "text_lang", "ref_audio_path", "prompt_text", "prompt_lang", "media_type", "voice", "text_split_method"];

/// api_v2's `aux_ref_audio_paths`: a list of clip paths (absent, null or empty: none; a single
/// string, as a GET query gives it: one path).
fn aux_references(fields: &Map<String, Value>) -> Result<Vec<PathBuf>, RequestError> {
    let wrong = |v: &Value| bad(format!("aux_ref_audio_paths must be a list of file paths, found {v}"));
    match fields.get("aux_ref_audio_paths") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(p)) if !p.trim().is_empty() => Ok(vec![PathBuf::from(p.trim())]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str().map(str::trim) {
                Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
                _ => Err(wrong(v)),
            })
            .collect(),
        Some(v) => Err(wrong(v)),
    }
}

/// api_v2's sampling fields → ours: (our name, api_v2's name).
const API_V2_PARAMETERS: [(&str, &str); 8] = [
    ("top_k", "top_k"),
    ("top_p", "top_p"),
    ("temperature", "temperature"),
    ("repetition_penalty", "repetition_penalty"),
    ("speed", "speed_factor"),
    ("seed", "seed"),
    ("noise_scale", "noise_scale"),
    ("max_tokens", "max_tokens"),
];

/// `/tts` (upstream api_v2): `text`, `text_lang`, `ref_audio_path`, `prompt_lang` required,
/// `prompt_text`, `aux_ref_audio_paths`, sampling fields, `speed_factor`, `seed` (-1 = random),
/// `media_type` wav | raw | ogg, `streaming_mode`. Our extension: `voice` instead of the reference
/// fields. `max_chars` bounds the text (the engine's unspoken-text limit).
pub fn api_v2(fields: Map<String, Value>, max_chars: usize) -> Result<SpeechRequest, RequestError> {
    let text_field = |k: &str| fields.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    if let Some((k, v)) =
        fields.iter().find(|(k, v)| TEXT_FIELDS.contains(&k.as_str()) && !(v.is_string() || v.is_null()))
    {
        return Err(bad(format!("{k} must be a string, got {v}")));
    }
    let text = text_field("text").ok_or_else(|| bad("text is required"))?;
    let text_lang = text_field("text_lang").ok_or_else(|| bad("text_lang is required"))?;
    if text.chars().count() > max_chars {
        let message = format!("text is limited to {max_chars} characters; send a longer text as several requests");
        return Err(RequestError { code: ErrorCode::TooLarge, message });
    }
    if !has_speakable_text(text) {
        return Err(nothing_speakable());
    }
    // Sentences are cut as the engine streams them; the method is checked, not applied.
    if let Some(method) = text_field("text_split_method") {
        crate::text::segment::SplitMethod::parse(method).map_err(|err| bad(format!("text_split_method: {err}")))?;
    }
    let reference = match (text_field("voice"), text_field("ref_audio_path")) {
        (Some(_), _) => None,
        (None, Some(path)) => {
            let prompt_lang = text_field("prompt_lang").ok_or_else(|| bad("prompt_lang is required"))?;
            Some(ReferenceVoice {
                path: PathBuf::from(path),
                transcript: text_field("prompt_text").unwrap_or_default().to_string(),
                lang: prompt_lang.to_ascii_lowercase(),
                aux: aux_references(&fields)?,
            })
        }
        (None, None) => return Err(bad("ref_audio_path is required (or voice, a name from /v1/voices)")),
    };
    let (format, rate) = match text_field("media_type").unwrap_or("wav") {
        "wav" => (OutputFormat::Wav, OutputRate::Hz32000),
        "raw" => (OutputFormat::Pcm, OutputRate::Hz32000),
        "ogg" => (OutputFormat::OggOpus, OutputRate::Hz48000),
        other => return Err(bad(format!("media_type {other:?} is not supported: use wav, raw or ogg"))),
    };
    let streaming = streaming_mode(&fields)?;
    let mut params = Map::new();
    for (ours, theirs) in API_V2_PARAMETERS {
        match number(&fields, theirs)? {
            Some(v) if theirs == "seed" && v < 0.0 => {}
            Some(v) if ["top_k", "seed", "max_tokens"].contains(&ours) => {
                if v.fract() != 0.0 || v < 0.0 {
                    return Err(bad(format!("{theirs} = {v} must be a whole number")));
                }
                params.insert(ours.into(), Value::from(v as u64));
            }
            Some(v) => {
                params.insert(ours.into(), Value::from(v));
            }
            None => {}
        }
    }
    let session = SessionRequest {
        voice: text_field("voice").unwrap_or_default().to_string(),
        reference,
        lang: Some(text_lang.to_ascii_lowercase()),
        params,
    };
    let delivery = if streaming || format != OutputFormat::Wav { Delivery::Stream } else { Delivery::WholeWav };
    Ok(SpeechRequest { session, text: text.to_string(), format, rate, delivery })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn openai_json(v: Value) -> Result<SpeechRequest, RequestError> {
        openai(v.to_string().as_bytes())
    }

    #[test]
    fn openai_fields_are_named_in_errors() {
        let ok = json!({"model": "m", "input": "hello", "voice": {"id": "alice"}, "speed": 1.2, "extra": 1});
        let r = openai_json(ok).unwrap();
        assert_eq!((r.session.voice.as_str(), r.format, r.delivery), ("alice", OutputFormat::Mp3, Delivery::Stream));
        assert_eq!(Value::Object(r.session.params), json!({"speed": 1.2}));
        for (body, field) in [
            (json!({"model": "m", "input": 123, "voice": "a"}), "\"input\" must be a string"),
            (json!({"model": 5, "input": "hi", "voice": "a"}), "\"model\" must be a string"),
            (json!({"model": "m", "input": "hi", "voice": 1}), "\"voice\""),
            (json!({"model": "m", "input": "hi", "voice": "a", "response_format": 5}), "\"response_format\""),
            (json!({"model": "m", "input": "hi", "voice": "a", "response_format": "aac"}), "aac"),
        ] {
            let e = openai_json(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(e.message.contains(field), "{e}");
        }
        let e = openai_json(json!({"model": "m", "input": "!!", "voice": "a"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadInput);
    }

    #[test]
    fn api_v2_reads_query_and_json_alike() {
        let query = "text=hi%20there&text_lang=EN&voice=alice&speed_factor=0.9&seed=-1&top_k=5&streaming_mode=1";
        let r = api_v2(query_fields(query), 100).unwrap();
        assert_eq!((r.session.lang.as_deref(), r.delivery), (Some("en"), Delivery::Stream));
        assert_eq!(Value::Object(r.session.params.clone()), json!({"speed": 0.9, "top_k": 5}));
        let body = json!({"text": "hi there", "text_lang": "EN", "voice": "alice", "speed_factor": 0.9, "seed": -1, "top_k": 5});
        let j = api_v2(json_fields(body.to_string().as_bytes()).unwrap(), 100).unwrap();
        assert_eq!((j.session.params, j.delivery), (r.session.params, Delivery::WholeWav));
    }

    #[test]
    fn api_v2_errors_have_their_codes() {
        let fields = |v: Value| v.as_object().unwrap().clone();
        let e = api_v2(fields(json!({"text": 123, "text_lang": "en", "voice": "a"})), 100).unwrap_err();
        assert!(e.message.contains("text must be a string"), "{e}");
        let e = api_v2(fields(json!({"text": "hello", "text_lang": "en", "voice": "a"})), 3).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        let e =
            api_v2(fields(json!({"text": "hi", "text_lang": "en", "voice": "a", "text_split_method": "cut9"})), 100)
                .unwrap_err();
        assert!(e.message.contains("text_split_method"), "{e}");
        let e = api_v2(fields(json!({"text": "hi", "text_lang": "en", "ref_audio_path": "a.wav"})), 100).unwrap_err();
        assert!(e.message.contains("prompt_lang"), "{e}");
        let e = api_v2(fields(json!({"text": "hi", "text_lang": "en", "voice": "a", "top_k": 2.5})), 100).unwrap_err();
        assert!(e.message.contains("whole number"), "{e}");
        assert!(json_fields(b"[1]").is_err());
    }
}
