//! What a WebSocket client may send (docs/PROTOCOL.md, "Client → server"), parsed into types.
//! Pure: a frame's text in, a [`ClientMessage`] or an error naming the field out, so the parser
//! is tested and fuzzed without a socket (`fuzz/fuzz_targets/ws_message.rs`).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

/// One control message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Opens the session; must come first.
    Start(Start),
    /// More text to speak.
    Text {
        text: String,
    },
    Flush,
    Cancel,
    Close,
}

/// `start`: the session's own fields and the request parameters (every other field), which the
/// engine checks (`merge_params`: unknown names and out-of-range values are `bad_request`).
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub voice: String,
    pub lang: Option<String>,
    pub format: StreamFormat,
    /// Optional first text.
    pub text: Option<String>,
    pub params: Map<String, Value>,
}

/// The audio a session sends in its binary frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    #[default]
    Opus,
    Pcm,
}

/// `start`'s own fields, as serde reads them.
#[derive(Deserialize)]
struct StartFields {
    voice: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    format: Option<StreamFormat>,
    #[serde(default)]
    text: Option<String>,
}

/// The names [`StartFields`] takes out of a `start` message.
const START_FIELDS: [&str; 4] = ["voice", "lang", "format", "text"];

#[derive(Deserialize)]
struct TextFields {
    text: String,
}

/// Why a frame is not a valid message; the text is the client-facing message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadMessage(pub String);

impl ClientMessage {
    /// Parses one text frame. Unknown fields of `text`, `flush`, `cancel` and `close` are
    /// ignored (a client may add its own); a type mismatch names the field.
    pub fn parse(frame: &str) -> Result<ClientMessage, BadMessage> {
        let bad = |m: String| Err(BadMessage(m));
        let mut fields = match serde_json::from_str::<Value>(frame) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return bad("a message must be a JSON object with a \"type\"".into()),
            Err(e) => return bad(format!("malformed JSON: {e}")),
        };
        let kind = match fields.remove("type") {
            Some(Value::String(kind)) => kind,
            _ => return bad("the message has no string \"type\"".into()),
        };
        match kind.as_str() {
            "start" => {
                let own: Map<String, Value> = START_FIELDS.iter().filter_map(|f| fields.remove_entry(*f)).collect();
                let start: StartFields = typed("start", own)?;
                Ok(ClientMessage::Start(Start {
                    voice: start.voice,
                    lang: start.lang,
                    format: start.format.unwrap_or_default(),
                    text: start.text,
                    params: fields,
                }))
            }
            "text" => typed::<TextFields>("text", fields).map(|t| ClientMessage::Text { text: t.text }),
            "flush" => Ok(ClientMessage::Flush),
            "cancel" => Ok(ClientMessage::Cancel),
            "close" => Ok(ClientMessage::Close),
            other => bad(format!("unknown message type {other:?}: use start, text, flush, cancel or close")),
        }
    }
}

/// Reads a message's fields into `T`; the error names the message and the field.
fn typed<T: DeserializeOwned>(kind: &str, fields: Map<String, Value>) -> Result<T, BadMessage> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            BadMessage(format!("{kind}: {inner}"))
        } else {
            BadMessage(format!("{kind}: \"{path}\": {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ClientMessage, BadMessage> {
        ClientMessage::parse(&v.to_string())
    }

    #[test]
    fn start_splits_its_fields_from_the_parameters() {
        let m = parse(json!({"type": "start", "voice": "alice", "format": "pcm", "seed": 7, "text": "hi"})).unwrap();
        let ClientMessage::Start(s) = m else { panic!("{m:?}") };
        assert_eq!(
            (s.voice.as_str(), s.format, s.text.as_deref(), s.lang),
            ("alice", StreamFormat::Pcm, Some("hi"), None)
        );
        assert_eq!(Value::Object(s.params), json!({"seed": 7}));
    }

    #[test]
    fn errors_name_the_message_and_the_field() {
        let message = |v: Value| parse(v).unwrap_err().0;
        assert!(message(json!({"type": "start"})).contains("voice"));
        let wrong = message(json!({"type": "start", "voice": 5}));
        assert!(wrong.contains("\"voice\"") && wrong.contains("string"), "{wrong}");
        assert!(message(json!({"type": "start", "voice": "a", "format": "mp3"})).contains("mp3"));
        assert!(message(json!({"type": "text"})).contains("text"));
        assert!(message(json!({"type": "text", "text": ["x"]})).contains("\"text\""));
        assert!(message(json!({"type": "pause"})).contains("pause"));
        assert!(message(json!({"text": "x"})).contains("type"));
        assert!(message(json!([1])).contains("object"));
        assert!(ClientMessage::parse("{").unwrap_err().0.contains("malformed"));
    }

    #[test]
    fn control_messages_ignore_extra_fields() {
        assert_eq!(parse(json!({"type": "flush", "id": 3})), Ok(ClientMessage::Flush));
        assert_eq!(parse(json!({"type": "text", "text": "x", "id": 3})), Ok(ClientMessage::Text { text: "x".into() }));
    }
}
