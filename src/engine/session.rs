//! One session: a voice, its parameters and seed, a stream of text in and events out. The
//! [`Session`] handle is what a front-end (WebSocket, HTTP, `say`) holds; the session's driver
//! thread cuts incoming text into sentences (incrementally, so the first sentence is spoken
//! while later text is still arriving), prepares each sentence's phones and BERT features, and
//! hands them to the model pair's scheduler. Dropping the handle cancels the session.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use crate::engine::metrics::Metrics;
use crate::engine::models::ModelPair;
use crate::engine::scheduler::{SegmentInfo, SegmentJob, ToScheduler};
use crate::engine::EngineError;
use crate::model::t2s::GenerateOptions;
use crate::model::{DecodeParams, PriorNoise};
use crate::pipeline::{t2s_prompt, SynthParams, Voice, SAMPLE_RATE};
use crate::text::segment::{preprocess, IncrementalSplitter, SplitMethod, SplitterConfig};
use crate::text::LangMode;

/// Sentences prepared ahead of the one being vocoded: enough that sentence n+1 is ready the
/// moment n ends, few enough that a long text does not hold megabytes of BERT features.
const SEGMENTS_AHEAD: usize = 2;

/// What a session sends its client, in order.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Sentence `index` is about to be spoken.
    Segment { index: usize, text: String },
    /// The next 32 kHz samples.
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

/// What a client can do to a running session.
#[derive(Debug)]
pub(crate) enum SessionInput {
    Text(String),
    Flush,
    Close,
    Cancel,
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

/// The sending side of a session, held by the driver, the scheduler and the vocoder while they
/// work for it. When the last holder lets go the event channel closes and the session stops
/// counting as active.
pub(crate) struct SessionPipe {
    pub control: Arc<SessionControl>,
    events: tokio::sync::mpsc::Sender<SessionEvent>,
    metrics: Arc<Metrics>,
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

    fn mark_first_text(&self) {
        self.progress.lock().first_text.get_or_insert_with(Instant::now);
    }

    /// Emits `done` and records the session's figures.
    pub fn done(&self) {
        let p = self.progress.lock();
        let audio_ms = p.samples as f64 * 1e3 / SAMPLE_RATE as f64;
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

/// A running session, as a front-end holds it.
pub struct Session {
    pub id: u64,
    input: Sender<SessionInput>,
    events: tokio::sync::mpsc::Receiver<SessionEvent>,
    control: Arc<SessionControl>,
}

impl Session {
    /// Adds text (any piece: a word, a token, a paragraph).
    pub fn push_text(&self, text: &str) {
        let _ = self.input.send(SessionInput::Text(text.to_string()));
    }

    /// Speaks what was received so far even if it does not end a sentence.
    pub fn flush(&self) {
        let _ = self.input.send(SessionInput::Flush);
    }

    /// No more text: the session ends after speaking the rest.
    pub fn close(&self) {
        let _ = self.input.send(SessionInput::Close);
    }

    /// Stops now; a `Done` with `cancelled` follows.
    pub fn cancel(&self) {
        self.control.cancel();
        let _ = self.input.send(SessionInput::Cancel);
    }

    /// The next event; `None` once the session is over.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// [`Self::next_event`] for threads outside an async runtime.
    pub fn blocking_next_event(&mut self) -> Option<SessionEvent> {
        self.events.blocking_recv()
    }

    /// Why the engine ended the session, if it did (e.g. `slow_client`).
    pub fn failure(&self) -> Option<(&'static str, String)> {
        self.control.fatal.lock().clone()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Everything a session's driver needs.
pub(crate) struct DriverSetup {
    pub pair: Arc<ModelPair>,
    pub voice: Arc<Voice>,
    pub mode: LangMode,
    pub params: SynthParams,
    /// Most unspoken text a session may hold, in characters.
    pub max_pending_chars: usize,
}

/// Opens a session: returns its handle and starts its driver thread.
pub(crate) fn spawn(
    setup: DriverSetup,
    metrics: Arc<Metrics>,
    id: u64,
    event_capacity: usize,
) -> Result<Session, EngineError> {
    let control = Arc::new(SessionControl {
        id,
        cancelled: AtomicBool::new(false),
        fatal: Mutex::new(None),
        segments_in_flight: AtomicUsize::new(0),
    });
    let (events_tx, events) = tokio::sync::mpsc::channel(event_capacity);
    let pipe = Arc::new(SessionPipe {
        control: control.clone(),
        events: events_tx,
        metrics,
        progress: Mutex::default(),
        released: AtomicBool::new(false),
    });
    let (input, input_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("session-{id}"))
        .spawn(move || Driver::new(setup, pipe).run(input_rx))
        .map_err(|e| EngineError::Internal(format!("cannot start a session thread: {e}")))?;
    Ok(Session { id, input, events, control })
}

struct Driver {
    setup: DriverSetup,
    pipe: Arc<SessionPipe>,
    splitter: IncrementalSplitter,
    /// Sentences cut from the text, waiting to be prepared.
    queued: VecDeque<String>,
    next_index: usize,
}

impl Driver {
    fn new(setup: DriverSetup, pipe: Arc<SessionPipe>) -> Self {
        Driver {
            setup,
            pipe,
            splitter: IncrementalSplitter::new(SplitterConfig::default()),
            queued: VecDeque::new(),
            next_index: 0,
        }
    }

    fn run(mut self, input: Receiver<SessionInput>) {
        let mut closing = false;
        loop {
            if self.pipe.control.is_cancelled() {
                break;
            }
            self.submit_ready();
            if closing && self.queued.is_empty() {
                break;
            }
            // Poll: sentences may be waiting for room ahead of the vocoder, and the engine may
            // have ended the session (a slow client) while no input arrives.
            let wait = if self.queued.is_empty() { 100 } else { 10 };
            let msg = input.recv_timeout(Duration::from_millis(wait));
            match msg {
                Ok(SessionInput::Text(t)) if !closing => {
                    self.pipe.mark_first_text();
                    let sentences = self.splitter.push(&t);
                    self.queued.extend(sentences);
                    let pending =
                        self.splitter.pending_chars() + self.queued.iter().map(|s| s.chars().count()).sum::<usize>();
                    if pending > self.setup.max_pending_chars {
                        self.pipe.control.fail(
                            "too_large",
                            format!(
                                "more than {} characters of text are waiting to be spoken; send text no faster than it is spoken",
                                self.setup.max_pending_chars
                            ),
                        );
                    }
                }
                Ok(SessionInput::Flush) if !closing => self.queued.extend(self.splitter.flush()),
                Ok(SessionInput::Close) => {
                    self.queued.extend(self.splitter.flush());
                    closing = true;
                }
                Ok(SessionInput::Text(_) | SessionInput::Flush) => {}
                Ok(SessionInput::Cancel) | Err(RecvTimeoutError::Disconnected) => self.pipe.control.cancel(),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        let _ = self.setup.pair.scheduler.send(ToScheduler::End { pipe: self.pipe.clone() });
    }

    /// Prepares and hands over queued sentences while there is room ahead of the vocoder.
    fn submit_ready(&mut self) {
        while self.pipe.control.segments_in_flight.load(Ordering::SeqCst) < SEGMENTS_AHEAD {
            let Some(sentence) = self.queued.pop_front() else { return };
            if let Err(e) = self.submit(&sentence) {
                self.pipe.emit(SessionEvent::Warning { code: e.code(), message: format!("{sentence:?} skipped: {e}") });
            }
        }
    }

    fn submit(&mut self, sentence: &str) -> Result<(), EngineError> {
        let DriverSetup { pair, voice, mode, params, .. } = &self.setup;
        for piece in preprocess(sentence, *mode, SplitMethod::Cut0)
            .map_err(|e| EngineError::Model(crate::text::TextError::from(e).into()))?
        {
            let Some(features) = pair.synth.sentence_features(&piece, *mode)? else { continue };
            let prompt = t2s_prompt(voice, &features)?;
            let info = Arc::new(SegmentInfo {
                index: self.next_index,
                // The sentence as the client wrote it (`piece` may carry upstream's added marks).
                text: sentence.to_string(),
                phones: features.phone_ids,
                voice: voice.clone(),
                decode: DecodeParams {
                    speed: params.speed,
                    noise_scale: params.noise_scale,
                    noise: PriorNoise::Seeded { seed: params.seed, first_frame: 0 },
                },
            });
            self.next_index += 1;
            let options =
                GenerateOptions { sampling: params.sampling.clone(), seed: params.seed, early_stop: params.max_tokens };
            self.pipe.control.segments_in_flight.fetch_add(1, Ordering::SeqCst);
            let job = SegmentJob { pipe: self.pipe.clone(), info, prompt, options };
            if pair.scheduler.send(ToScheduler::Segment(Box::new(job))).is_err() {
                return Err(EngineError::Internal("the scheduler has stopped".into()));
            }
        }
        Ok(())
    }
}
