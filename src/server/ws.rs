//! `/v1/stream`: one WebSocket, one session (docs/PROTOCOL.md). JSON control messages in, binary
//! audio frames and JSON events out. The socket is read and written concurrently, so `text`,
//! `flush` and `cancel` act while audio is flowing; a client that stops reading is dropped with
//! `slow_client` rather than buffered without bound.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};

use crate::audio::encoder::{OutputFormat, OutputRate};
use crate::engine::{SessionRequest, SessionStats};
use crate::server::stream_out::{self, OutEvent, SessionOutput};
use crate::server::AppState;

/// Largest control message accepted (a `text` piece).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// A frame the client has not taken within this time marks it as too slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection that sends no `start` within this time is closed.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the closing handshake may take: the client's close frame is awaited this long.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The fields of `start` itself; any other field is a sampling parameter, checked by the engine
/// (`merge_params`: unknown names and out-of-range values are `bad_request`).
const START_FIELDS: [&str; 5] = ["type", "voice", "lang", "format", "text"];

pub(crate) async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Messages up to 4× our limit are read so an oversized one gets a `too_large` answer
    // instead of a dropped connection; beyond that the WebSocket layer refuses them.
    ws.max_message_size(4 * MAX_MESSAGE_BYTES).max_frame_size(4 * MAX_MESSAGE_BYTES).on_upgrade(move |s| run(s, state))
}

type Tx = SplitSink<WebSocket, Message>;

/// An error event; fatal ones end the connection.
struct WsError {
    code: &'static str,
    message: String,
    /// The engine already counted it in `sovits_errors_total` (failed opens, slow clients).
    counted: bool,
}

impl WsError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        WsError { code, message: message.into(), counted: false }
    }
}

fn bad(message: impl Into<String>) -> WsError {
    WsError::new("bad_request", message)
}

/// What the server sends as a text frame (docs/PROTOCOL.md, "Server → client"), one type per
/// event so every event has exactly its documented fields.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerEvent<'a> {
    Ready { session: String, voice: &'a str, format: &'a str, sample_rate: u32, channels: u32, frame_ms: u32 },
    Segment { index: usize, text: &'a str },
    Mouth { frame: usize, levels: Vec<f64> },
    Error { code: &'a str, message: &'a str },
    Done { ttfa_ms: Option<f64>, rtf: Option<f64>, tokens: usize, audio_ms: f64, segments: usize, cancelled: bool },
}

async fn send_event(tx: &mut Tx, event: ServerEvent<'_>) -> Result<(), WsError> {
    match serde_json::to_value(event) {
        Ok(value) => send_json(tx, value).await,
        Err(e) => Err(WsError::new("internal", e.to_string())),
    }
}

async fn send_json(tx: &mut Tx, value: Value) -> Result<(), WsError> {
    send(tx, Message::Text(value.to_string().into())).await
}

async fn send(tx: &mut Tx, msg: Message) -> Result<(), WsError> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WsError::new("disconnected", e.to_string())),
        Err(_) => Err(WsError::new("slow_client", "the client did not read audio for 5 s")),
    }
}

/// The WebSocket close code that ends a connection after error `code` (docs/PROTOCOL.md):
/// 1001 going away (shutdown), 1007 a text frame not in UTF-8, 1008 policy (a client too slow),
/// 1009 too big, 1011 a server-side
/// failure, 4xxx the client's request (4000 bad request, 4004 unknown voice, 4029 busy: try again).
fn close_code(code: &str) -> u16 {
    match code {
        "bad_request" | "bad_input" => 4000,
        "bad_encoding" => 1007,
        "unknown_voice" => 4004,
        "busy" => 4029,
        "too_large" => 1009,
        "slow_client" => 1008,
        "shutting_down" => 1001,
        _ => 1011,
    }
}

/// How a session ended without an error.
enum Ending {
    /// `done` was sent: close normally.
    Done,
    /// The client went away: nothing to send.
    ClientGone,
}

/// Ends the connection the WebSocket way: a close frame with `code`, then the client's messages are
/// read (and dropped) until its own close frame or the end of the stream, for at most
/// [`CLOSE_TIMEOUT`]. Dropping a TCP connection with unread data resets it, and a reset can discard
/// what the client had not read yet — the error event and the close frame that say why it ended.
async fn close(tx: &mut Tx, rx: &mut SplitStream<WebSocket>, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: reason.to_string().into() };
    if tokio::time::timeout(CLOSE_TIMEOUT, tx.send(Message::Close(Some(frame)))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(msg)) = rx.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Reads the next control message: `Ok(None)` when the client is gone.
async fn next_control(rx: &mut SplitStream<WebSocket>) -> Result<Option<Map<String, Value>>, WsError> {
    loop {
        let Some(msg) = rx.next().await else { return Ok(None) };
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(_)) => {
                return Err(bad("binary frames are not accepted from clients; send JSON text frames"))
            }
            // The WebSocket layer rejects a text frame that is not UTF-8 (RFC 6455: close 1007).
            Err(e) if e.to_string().contains("UTF-8") => {
                return Err(WsError::new("bad_encoding", "a text frame was not valid UTF-8".to_string()))
            }
            Ok(Message::Close(_)) | Err(_) => return Ok(None),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
        };
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(WsError::new("too_large", format!("messages are limited to {MAX_MESSAGE_BYTES} bytes")));
        }
        return match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(bad("a message must be a JSON object with a \"type\"")),
            Err(e) => Err(bad(format!("malformed JSON: {e}"))),
        };
    }
}

fn kind(m: &Map<String, Value>) -> Result<&str, WsError> {
    m.get("type").and_then(Value::as_str).ok_or_else(|| bad("the message has no string \"type\""))
}

fn string_field<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, WsError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("\"{key}\" must be a string"))),
    }
}

/// A `start` message → the session request, its output format and optional first text.
fn parse_start(m: &Map<String, Value>) -> Result<(SessionRequest, OutputFormat, Option<String>), WsError> {
    let voice = string_field(m, "voice")?.ok_or_else(|| bad("start needs a \"voice\""))?;
    let format = match string_field(m, "format")?.unwrap_or("opus") {
        "opus" => OutputFormat::Opus,
        "pcm" => OutputFormat::Pcm,
        other => return Err(bad(format!("format {other:?} is not available here: use \"opus\" or \"pcm\""))),
    };
    let params =
        m.iter().filter(|(k, _)| !START_FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let request = SessionRequest {
        voice: voice.to_string(),
        reference: None,
        lang: string_field(m, "lang")?.map(str::to_string),
        params,
    };
    Ok((request, format, string_field(m, "text")?.map(str::to_string)))
}

async fn run(socket: WebSocket, state: AppState) {
    let _open = state.shutdown.open();
    let (mut tx, mut rx) = socket.split();
    let ended = tokio::select! {
        ended = session(&mut tx, &mut rx, &state) => ended,
        // Dropping the session cancels it; the client is told why.
        () = state.shutdown.stopping() => Err(WsError::new("shutting_down", "the server is shutting down; reconnect later")),
    };
    let (code, reason) = match ended {
        Ok(Ending::Done) => (1000, "done"),
        Ok(Ending::ClientGone) => return,
        Err(e) if e.code == "disconnected" => return,
        Err(e) => {
            if !e.counted {
                state.engine.metrics().error(e.code);
            }
            let _ = send_event(&mut tx, ServerEvent::Error { code: e.code, message: &e.message }).await;
            (close_code(e.code), e.code)
        }
    };
    close(&mut tx, &mut rx, code, reason).await;
}

async fn session(tx: &mut Tx, rx: &mut SplitStream<WebSocket>, state: &AppState) -> Result<Ending, WsError> {
    let start = match tokio::time::timeout(START_TIMEOUT, next_control(rx)).await {
        Err(_) => return Err(bad("no start message within 30 s")),
        Ok(m) => match m? {
            Some(m) => m,
            None => return Ok(Ending::ClientGone),
        },
    };
    match kind(&start)? {
        "start" => {}
        "text" | "flush" | "cancel" | "close" => return Err(bad("send start first")),
        other => return Err(bad(format!("unknown message type {other:?}"))),
    }
    let (request, format, text) = parse_start(&start)?;
    let voice = request.voice.clone();
    let session = stream_out::open(&state.engine, request)
        .await
        // Engine::open counts its own failures.
        .map_err(|e| WsError { code: e.code(), message: e.to_string(), counted: true })?;
    let mut out = SessionOutput::new(session, format, OutputRate::Hz48000, state.engine.metrics().clone())
        .map_err(|e| WsError::new("internal", e.to_string()))?;
    let id = out.session.id;
    let ready = ServerEvent::Ready {
        session: format!("s-{id}"),
        voice: &voice,
        format: format.name(),
        sample_rate: 48_000,
        channels: 1,
        frame_ms: 20,
    };
    send_event(tx, ready).await?;
    if let Some(t) = text {
        out.session.push_text(&t);
    }
    loop {
        tokio::select! {
            control = next_control(rx) => {
                let Some(m) = control? else {
                    // The client is gone: free the session at once.
                    out.session.cancel();
                    return Ok(Ending::ClientGone);
                };
                match kind(&m)? {
                    "text" => out.session.push_text(string_field(&m, "text")?.ok_or_else(|| bad("text needs a \"text\" string"))?),
                    "flush" => out.session.flush(),
                    "close" => out.session.close(),
                    "cancel" => out.session.cancel(),
                    "start" => return Err(bad("this connection already has a session; open another connection")),
                    other => return Err(bad(format!("unknown message type {other:?}"))),
                }
            }
            event = out.next() => {
                let Some(event) = event else { return Ok(Ending::Done) };
                match event {
                    OutEvent::Segment { index, text } => send_event(tx, ServerEvent::Segment { index, text: &text }).await?,
                    OutEvent::Audio { first_frame, chunk } => {
                        for frame in chunk.frames {
                            send(tx, Message::Binary(frame.into())).await?;
                        }
                        let levels: Vec<f64> = chunk.mouth.iter().map(|&l| (l as f64 * 1000.0).round() / 1000.0).collect();
                        if !levels.is_empty() {
                            send_event(tx, ServerEvent::Mouth { frame: first_frame, levels }).await?;
                        }
                    }
                    OutEvent::Warning { code, message } => {
                        state.engine.metrics().error(code);
                        send_event(tx, ServerEvent::Error { code, message: &message }).await?;
                    }
                    OutEvent::Done(stats) => {
                        let SessionStats { ttfa_ms, rtf, tokens, audio_ms, segments, cancelled } = stats;
                        send_event(tx, ServerEvent::Done { ttfa_ms, rtf, tokens, audio_ms, segments, cancelled }).await?;
                        return Ok(Ending::Done);
                    }
                    // The engine counted a client too slow for its event buffer when it dropped it.
                    OutEvent::Failed { code, message } => return Err(WsError { code, message, counted: code == "slow_client" }),
                }
            }
        }
    }
}
