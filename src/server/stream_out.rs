//! A session's events turned into encoded audio for one transport: the WebSocket sends each
//! frame as a message, HTTP appends them to a body. Also the blocking parts of opening a session,
//! kept off the async runtime.

use std::sync::Arc;

use crate::audio::encoder::{AudioStreamEncoder, EncodeError, EncodedChunk, OutputFormat, OutputRate};
use crate::engine::metrics::{Metrics, Stage};
use crate::engine::{Engine, EngineError, Session, SessionEvent, SessionRequest, SessionStats};
use crate::error::ErrorCode;

/// What the transport has to send next.
pub(crate) enum OutEvent {
    Segment {
        index: usize,
        text: String,
    },
    /// Encoded audio; `first_frame` numbers its first 20 ms frame (for `mouth` events).
    Audio {
        first_frame: usize,
        chunk: EncodedChunk,
    },
    Warning {
        code: ErrorCode,
        message: String,
    },
    Done(SessionStats),
    /// The engine ended the session (e.g. the client read too slowly).
    Failed {
        code: ErrorCode,
        message: String,
    },
}

pub(crate) struct SessionOutput {
    pub session: Session,
    encoder: AudioStreamEncoder,
    /// Where the encoding time goes.
    metrics: Arc<Metrics>,
    frames: usize,
    pending_done: Option<SessionStats>,
    over: bool,
}

/// Opens a session on a blocking thread (preparing a voice runs HuBERT).
pub(crate) async fn open(engine: &Arc<Engine>, request: SessionRequest) -> Result<Session, EngineError> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || engine.open(&request))
        .await
        .map_err(|e| EngineError::Internal(format!("session start failed: {e}")))?
}

impl SessionOutput {
    pub fn new(
        session: Session,
        format: OutputFormat,
        rate: OutputRate,
        metrics: Arc<Metrics>,
    ) -> Result<Self, EncodeError> {
        Ok(SessionOutput {
            session,
            encoder: AudioStreamEncoder::new(format, rate)?,
            metrics,
            frames: 0,
            pending_done: None,
            over: false,
        })
    }

    /// Encodes the next samples, timing it.
    fn encode(&mut self, samples: &[f32]) -> Result<EncodedChunk, EncodeError> {
        let started = std::time::Instant::now();
        let chunk = self.encoder.push(samples);
        self.metrics.observe_stage(Stage::Encode, started.elapsed().as_secs_f64());
        chunk
    }

    fn audio(&mut self, chunk: EncodedChunk) -> OutEvent {
        let first_frame = self.frames;
        self.frames += chunk.mouth.len();
        OutEvent::Audio { first_frame, chunk }
    }

    /// The next thing to send; `None` after `Done` or `Failed`. Cancel-safe.
    pub async fn next(&mut self) -> Option<OutEvent> {
        if let Some(stats) = self.pending_done.take() {
            self.over = true;
            return Some(OutEvent::Done(stats));
        }
        if self.over {
            return None;
        }
        let failed = |e: EncodeError| OutEvent::Failed {
            code: ErrorCode::Internal,
            message: format!("audio encoding failed: {e}"),
        };
        loop {
            let event = match self.session.next_event().await {
                Some(e) => e,
                None => {
                    self.over = true;
                    let (code, message) = self
                        .session
                        .failure()
                        .unwrap_or((ErrorCode::Internal, "the session ended unexpectedly".to_string()));
                    return Some(OutEvent::Failed { code, message });
                }
            };
            return Some(match event {
                SessionEvent::Segment { index, text } => OutEvent::Segment { index, text },
                SessionEvent::Warning { code, message } => OutEvent::Warning { code, message },
                SessionEvent::Audio(samples) => match self.encode(&samples) {
                    Ok(chunk) if chunk.is_empty() => continue,
                    Ok(chunk) => self.audio(chunk),
                    Err(e) => failed(e),
                },
                SessionEvent::Done(stats) => {
                    if let Some((code, message)) = self.session.failure() {
                        self.over = true;
                        return Some(OutEvent::Failed { code, message });
                    }
                    match self.encoder.finish() {
                        Ok(chunk) if chunk.is_empty() => {
                            self.over = true;
                            OutEvent::Done(stats)
                        }
                        Ok(chunk) => {
                            self.pending_done = Some(stats);
                            self.audio(chunk)
                        }
                        Err(e) => failed(e),
                    }
                }
            });
        }
    }
}
