//! What every stage working for a session shares with it: the [`SessionPipe`] (events out to the
//! client, progress figures, the session's slot) and its [`SessionControl`] (id, cancellation,
//! the reason the engine ended it). A leaf of the engine: the driver, both schedulers and the
//! message types depend on it, it depends on none of them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

use crate::engine::metrics::Metrics;
use crate::error::ErrorCode;

/// What a session sends its client, in order.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Sentence `index` is about to be spoken.
    Segment { index: usize, text: String },
    /// The next samples at the model's rate (32 kHz for v1/v2).
    Audio(Vec<f32>),
    /// A non-fatal problem (a sentence the frontend cannot speak is skipped).
    Warning { code: ErrorCode, message: String },
    /// The last event of a session.
    Done(SessionStats),
}

/// The figures a `done` event reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SessionStats {
    /// First text → first audio, in ms (`None` when no audio was produced).
    pub ttfa_ms: Option<f64>,
    /// Wall time from the first text to the last audio, divided by the audio's duration.
    pub rtf: Option<f64>,
    pub tokens: usize,
    pub audio_ms: f64,
    pub segments: usize,
    pub cancelled: bool,
}

/// State shared by a session's handle and every stage working for it.
#[derive(Debug)]
pub(crate) struct SessionControl {
    pub id: u64,
    cancelled: AtomicBool,
    /// Why the engine ended the session (code, message), e.g. a client too slow to read.
    fatal: Mutex<Option<(ErrorCode, String)>>,
    /// Sentences handed to the scheduler and not yet fully vocoded.
    pub segments_in_flight: AtomicUsize,
}

impl SessionControl {
    pub fn new(id: u64) -> Self {
        SessionControl {
            id,
            cancelled: AtomicBool::new(false),
            fatal: Mutex::new(None),
            segments_in_flight: AtomicUsize::new(0),
        }
    }

    /// Why the engine ended the session, if it did.
    pub fn failure(&self) -> Option<(ErrorCode, String)> {
        self.fatal.lock().clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Ends the session with an error the client is told about; false when it had already failed
    /// (the first reason stands).
    pub fn fail(&self, code: ErrorCode, message: String) -> bool {
        let first = {
            let mut fatal = self.fatal.lock();
            let first = fatal.is_none();
            fatal.get_or_insert((code, message));
            first
        };
        self.cancel();
        first
    }
}

#[derive(Debug, Default)]
struct Progress {
    first_text: Option<Instant>,
    first_audio: Option<Instant>,
    last_audio: Option<Instant>,
    tokens: usize,
    samples: usize,
    segments: usize,
    /// The audio ran dry once: at some send, less had been sent than real-time playback from
    /// the first audio would have played.
    fell_behind: bool,
}

/// The sending side of a session, held by the driver and both schedulers while they
/// work for it. When the last holder lets go the event channel closes and the session stops
/// counting as active.
pub(crate) struct SessionPipe {
    pub control: Arc<SessionControl>,
    events: tokio::sync::mpsc::Sender<SessionEvent>,
    metrics: Arc<Metrics>,
    /// Samples per second of the audio this session sends.
    sample_rate: u32,
    progress: Mutex<Progress>,
    /// The session's slot was given back (at `done`, or when the last holder let go).
    released: AtomicBool,
}

impl Drop for SessionPipe {
    fn drop(&mut self) {
        self.release();
    }
}

impl SessionPipe {
    /// The pipe of session `control`, counted as active until `done` (or its last holder lets go).
    pub fn new(
        control: Arc<SessionControl>,
        events: tokio::sync::mpsc::Sender<SessionEvent>,
        metrics: Arc<Metrics>,
        sample_rate: u32,
    ) -> Self {
        SessionPipe {
            control,
            events,
            metrics,
            sample_rate,
            progress: Mutex::default(),
            released: AtomicBool::new(false),
        }
    }

    /// Gives the session's slot back, once. Done before `done` is sent, so a client that opens
    /// its next session right after never finds its own finished one still counted.
    fn release(&self) {
        if !self.released.swap(true, Ordering::SeqCst) {
            self.metrics.active_sessions.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Sends an event without ever blocking an engine thread: a full channel means the client is
    /// not reading, and it is dropped rather than allowed to grow memory.
    pub fn emit(&self, event: SessionEvent) {
        if self.control.is_cancelled() && !matches!(event, SessionEvent::Done(_)) {
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                // Two stages may find the channel full at once: count the session once.
                if self.control.fail(ErrorCode::SlowClient, "the client did not read the audio fast enough".into()) {
                    self.metrics.error(ErrorCode::SlowClient);
                }
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => self.control.cancel(),
        }
    }

    pub fn audio(&self, samples: Vec<f32>) {
        if samples.is_empty() {
            return;
        }
        let rate = self.sample_rate as f64;
        {
            let mut p = self.progress.lock();
            let now = Instant::now();
            if p.first_audio.is_none() {
                p.first_audio = Some(now);
                if let Some(text) = p.first_text {
                    self.metrics.first_audio(now.duration_since(text).as_secs_f64() * 1e3);
                }
            }
            p.last_audio = Some(now);
            p.samples += samples.len();
            let played = p.first_audio.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            let ahead = p.samples as f64 / rate - played;
            let newly_behind = ahead <= 0.0 && !p.fell_behind;
            p.fell_behind |= newly_behind;
            self.metrics.audio_sent(samples.len() as f64 / rate, ahead, newly_behind);
        }
        self.emit(SessionEvent::Audio(samples));
    }

    pub fn count_tokens(&self, n: usize) {
        self.progress.lock().tokens += n;
        self.metrics.count_tokens(n);
    }

    pub fn count_segment(&self) {
        self.progress.lock().segments += 1;
    }

    pub fn mark_first_text(&self) {
        self.progress.lock().first_text.get_or_insert_with(Instant::now);
    }

    /// Whether any text has arrived.
    pub fn received_text(&self) -> bool {
        self.progress.lock().first_text.is_some()
    }

    /// Emits `done` and records the session's figures.
    pub fn done(&self) {
        let p = self.progress.lock();
        let audio_ms = p.samples as f64 * 1e3 / self.sample_rate as f64;
        let since_text = |t: Option<Instant>| Some(t?.duration_since(p.first_text?).as_secs_f64() * 1e3);
        let ttfa_ms = since_text(p.first_audio);
        let rtf = since_text(p.last_audio).filter(|_| audio_ms > 0.0).map(|ms| ms / audio_ms);
        let cancelled = self.control.is_cancelled();
        let stats = SessionStats { ttfa_ms, rtf, tokens: p.tokens, audio_ms, segments: p.segments, cancelled };
        drop(p);
        if !cancelled {
            self.metrics.session_finished(stats.rtf);
        }
        match self.control.failure() {
            Some((code, why)) => {
                tracing::warn!(session = self.control.id, %code, "session ended: {why}")
            }
            None => tracing::info!(
                session = self.control.id,
                ttfa_ms = stats.ttfa_ms.map(|t| t.round()),
                rtf = stats.rtf.map(|r| (r * 1000.0).round() / 1000.0),
                audio_ms = stats.audio_ms,
                tokens = stats.tokens,
                cancelled,
                "session done"
            ),
        }
        self.release();
        self.emit(SessionEvent::Done(stats));
    }
}

/// Sessions without a driver, for the schedulers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A session's pipe as the engine opens it (counted as active), and its events' receiver.
    pub fn session(id: u64, sample_rate: u32) -> (Arc<SessionPipe>, tokio::sync::mpsc::Receiver<SessionEvent>) {
        let metrics = Arc::new(Metrics::default());
        metrics.active_sessions.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        (Arc::new(SessionPipe::new(Arc::new(SessionControl::new(id)), tx, metrics, sample_rate)), rx)
    }

    /// The events sent so far.
    pub fn events(rx: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> Vec<SessionEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }
}
