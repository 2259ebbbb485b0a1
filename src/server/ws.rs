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

use crate::audio::encoder::{OutputFormat, OutputRate};
use crate::engine::{SessionRequest, SessionStats};
use crate::error::ErrorCode;
use crate::server::client_message::{ClientMessage, Start, StreamFormat};
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

pub(crate) async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Messages up to 4× our limit are read so an oversized one gets a `too_large` answer
    // instead of a dropped connection; beyond that the WebSocket layer refuses them.
    ws.max_message_size(4 * MAX_MESSAGE_BYTES).max_frame_size(4 * MAX_MESSAGE_BYTES).on_upgrade(move |s| run(s, state))
}

type Tx = SplitSink<WebSocket, Message>;

/// A fatal error event: it is sent, then the connection closes with the code's close code.
struct WsError {
    code: ErrorCode,
    message: String,
    /// The engine already counted it in `sovits_errors_total` (failed opens, slow clients).
    counted: bool,
}

impl WsError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WsError { code, message: message.into(), counted: false }
    }
}

fn bad(message: impl Into<String>) -> WsError {
    WsError::new(ErrorCode::BadRequest, message)
}

/// Why a session ended before `done`.
enum Stop {
    /// The client went away: nothing to tell it.
    ClientGone,
    Failed(WsError),
}

impl From<WsError> for Stop {
    fn from(e: WsError) -> Self {
        Stop::Failed(e)
    }
}

/// What the server sends as a text frame (docs/PROTOCOL.md, "Server → client"), one type per
/// event so every event has exactly its documented fields.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerEvent<'a> {
    Ready { session: String, voice: &'a str, format: &'a str, sample_rate: u32, channels: u32, frame_ms: u32 },
    Segment { index: usize, text: &'a str },
    Mouth { frame: usize, levels: Vec<f64> },
    Error { code: ErrorCode, message: &'a str },
    Done { ttfa_ms: Option<f64>, rtf: Option<f64>, tokens: usize, audio_ms: f64, segments: usize, cancelled: bool },
}

async fn send_event(tx: &mut Tx, event: ServerEvent<'_>) -> Result<(), Stop> {
    match serde_json::to_string(&event) {
        Ok(text) => send(tx, Message::Text(text.into())).await,
        Err(e) => Err(WsError::new(ErrorCode::Internal, e.to_string()).into()),
    }
}

async fn send(tx: &mut Tx, msg: Message) -> Result<(), Stop> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Stop::ClientGone),
        Err(_) => Err(WsError::new(ErrorCode::SlowClient, "the client did not read audio for 5 s").into()),
    }
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
async fn next_control(rx: &mut SplitStream<WebSocket>) -> Result<Option<ClientMessage>, WsError> {
    loop {
        let Some(msg) = rx.next().await else { return Ok(None) };
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(_)) => {
                return Err(bad("binary frames are not accepted from clients; send JSON text frames"))
            }
            // The WebSocket layer rejects a text frame that is not UTF-8 (RFC 6455: close 1007).
            Err(e) if e.to_string().contains("UTF-8") => {
                return Err(WsError::new(ErrorCode::BadEncoding, "a text frame was not valid UTF-8"))
            }
            Ok(Message::Close(_)) | Err(_) => return Ok(None),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
        };
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(WsError::new(
                ErrorCode::TooLarge,
                format!("messages are limited to {MAX_MESSAGE_BYTES} bytes"),
            ));
        }
        return ClientMessage::parse(&text).map(Some).map_err(|e| bad(e.0));
    }
}

/// A `start` message → the session request, its output format and optional first text.
fn session_request(start: Start) -> (SessionRequest, OutputFormat, Option<String>) {
    let format = match start.format {
        StreamFormat::Opus => OutputFormat::Opus,
        StreamFormat::Pcm => OutputFormat::Pcm,
    };
    let request = SessionRequest { voice: start.voice, reference: None, lang: start.lang, params: start.params };
    (request, format, start.text)
}

async fn run(socket: WebSocket, state: AppState) {
    let _open = state.shutdown.open();
    let (mut tx, mut rx) = socket.split();
    let ended = tokio::select! {
        ended = session(&mut tx, &mut rx, &state) => ended,
        // Dropping the session cancels it; the client is told why.
        () = state.shutdown.stopping() => {
            Err(WsError::new(ErrorCode::ShuttingDown, "the server is shutting down; reconnect later").into())
        }
    };
    let (code, reason) = match ended {
        Ok(()) => (1000, "done"),
        Err(Stop::ClientGone) => return,
        Err(Stop::Failed(e)) => {
            if !e.counted {
                state.engine.metrics().error(e.code);
            }
            let _ = send_event(&mut tx, ServerEvent::Error { code: e.code, message: &e.message }).await;
            (e.code.close_code(), e.code.as_str())
        }
    };
    close(&mut tx, &mut rx, code, reason).await;
}

/// Serves one session until `done` (`Ok`) or until it stops early.
async fn session(tx: &mut Tx, rx: &mut SplitStream<WebSocket>, state: &AppState) -> Result<(), Stop> {
    let start = match tokio::time::timeout(START_TIMEOUT, next_control(rx)).await {
        Err(_) => return Err(bad("no start message within 30 s").into()),
        Ok(m) => match m? {
            Some(ClientMessage::Start(start)) => start,
            Some(_) => return Err(bad("send start first").into()),
            None => return Err(Stop::ClientGone),
        },
    };
    let (request, format, text) = session_request(start);
    let voice = request.voice.clone();
    let session = stream_out::open(&state.engine, request)
        .await
        // Engine::open counts its own failures.
        .map_err(|e| WsError { code: e.code(), message: e.to_string(), counted: true })?;
    let mut out = SessionOutput::new(session, format, OutputRate::Hz48000, state.engine.metrics().clone())
        .map_err(|e| WsError::new(ErrorCode::Internal, e.to_string()))?;
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
                match control? {
                    Some(ClientMessage::Text { text }) => out.session.push_text(&text),
                    Some(ClientMessage::Flush) => out.session.flush(),
                    Some(ClientMessage::Close) => out.session.close(),
                    Some(ClientMessage::Cancel) => out.session.cancel(),
                    Some(ClientMessage::Start(_)) => {
                        return Err(bad("this connection already has a session; open another connection").into())
                    }
                    None => {
                        // The client is gone: free the session at once.
                        out.session.cancel();
                        return Err(Stop::ClientGone);
                    }
                }
            }
            event = out.next() => {
                let Some(event) = event else { return Ok(()) };
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
                        return Ok(());
                    }
                    // The engine counted a client too slow for its event buffer when it dropped it.
                    OutEvent::Failed { code, message } => {
                        return Err(WsError { code, message, counted: code == ErrorCode::SlowClient }.into())
                    }
                }
            }
        }
    }
}
