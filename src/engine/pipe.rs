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

/// What a session sends its client, in order.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Sentence `index` is about to be spoken.
    Segment { index: usize, text: String },
    /// The next samples at the model's rate (32 kHz for v1/v2).
    Audio(Vec<f32>),
    /// A non-fatal problem (a sentence the frontend cannot speak is skipped).
    Warning { code: &'static str, message: String },
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
    fatal: Mutex<Option<(&'static str, String)>>,
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
    pub fn failure(&self) -> Option<(&'static str, String)> {
        self.fatal.lock().clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Ends the session with an error the client is told about.
    pub fn fail(&self, code: &'static str, message: String) {
        self.fatal.lock().get_or_insert((code, message));
        self.cancel();
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
                self.metrics.error("slow_client");
                self.control.fail("slow_client", "the client did not read the audio fast enough".into());
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => self.control.cancel(),
        }
    }

    pub fn audio(&self, samples: Vec<f32>) {
        if samples.is_empty() {
            return;
        }
        {
            let mut p = self.progress.lock();
            let now = Instant::now();
            p.first_audio.get_or_insert(now);
            p.last_audio = Some(now);
            p.samples += samples.len();
        }
        self.emit(SessionEvent::Audio(samples));
    }

    pub fn count_tokens(&self, n: usize) {
        self.progress.lock().tokens += n;
    }

    pub fn count_segment(&self) {
        self.progress.lock().segments += 1;
    }

    pub fn mark_first_text(&self) {
        self.progress.lock().first_text.get_or_insert_with(Instant::now);
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
            self.metrics.session_finished(stats.ttfa_ms, stats.rtf, stats.tokens, stats.audio_ms);
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
