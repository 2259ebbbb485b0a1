//! One session: a voice, its parameters and seed, a stream of text in and events out. The
//! [`Session`] handle is what a front-end (WebSocket, HTTP, `say`) holds; the session's driver
//! thread cuts incoming text into sentences (incrementally, so the first sentence is spoken
//! while later text is still arriving), prepares each sentence's phones and BERT features, and
//! hands them to the model pair's scheduler. Dropping the handle cancels the session.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::messages::{SegmentInfo, SegmentJob, ToScheduler};
use crate::engine::metrics::Metrics;
use crate::engine::models::ModelPair;
use crate::engine::pipe::{SessionControl, SessionEvent, SessionPipe};
use crate::engine::EngineError;
use crate::error::ErrorCode;
use crate::model::t2s::GenerateOptions;
use crate::model::{DecodeParams, PriorNoise, SemanticToAudio};
use crate::pipeline::{t2s_prompt, AcousticVoice, SynthParams, Voice};
use crate::text::segment::{preprocess, IncrementalSplitter, SegmentError, SplitMethod, SplitterConfig};
use crate::text::LangMode;

/// Sentences prepared ahead of the one being vocoded: enough that sentence n+1 is ready the
/// moment n ends, few enough that a long text does not hold megabytes of BERT features.
const SEGMENTS_AHEAD: usize = 2;

/// What a client can do to a running session.
#[derive(Debug)]
pub(crate) enum SessionInput {
    Text(String),
    Flush,
    Close,
    Cancel,
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
    pub fn failure(&self) -> Option<(ErrorCode, String)> {
        self.control.failure()
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
    /// The voice as the acoustic stage decodes with it.
    pub acoustic_voice: Arc<AcousticVoice>,
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
    let control = Arc::new(SessionControl::new(id));
    let (events_tx, events) = tokio::sync::mpsc::channel(event_capacity);
    let sample_rate = setup.pair.synth.acoustic().sample_rate();
    let pipe = Arc::new(SessionPipe::new(control.clone(), events_tx, metrics, sample_rate));
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
    /// Sentences taken up for speaking (spoken or skipped with a warning).
    attempted: usize,
}

impl Driver {
    fn new(setup: DriverSetup, pipe: Arc<SessionPipe>) -> Self {
        Driver {
            setup,
            pipe,
            splitter: IncrementalSplitter::new(SplitterConfig::default()),
            queued: VecDeque::new(),
            next_index: 0,
            attempted: 0,
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
                // Text came but none of it could be spoken (only punctuation, symbols or emoji):
                // say so rather than end in silence. (Stray marks between spoken sentences are
                // dropped quietly, as upstream drops them.)
                if self.attempted == 0 && self.pipe.received_text() {
                    let e = crate::text::TextError::from(SegmentError::NoValidText);
                    self.pipe.emit(SessionEvent::Warning { code: ErrorCode::BadInput, message: e.to_string() });
                }
                break;
            }
            // Poll: sentences may be waiting for room ahead of the audio, and the engine may
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
                            ErrorCode::TooLarge,
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

    /// Prepares and hands over queued sentences while there is room ahead of the audio.
    fn submit_ready(&mut self) {
        while self.pipe.control.segments_in_flight.load(Ordering::SeqCst) < SEGMENTS_AHEAD {
            let Some(sentence) = self.queued.pop_front() else { return };
            self.attempted += 1;
            if let Err(e) = self.submit(&sentence) {
                self.pipe.emit(SessionEvent::Warning { code: e.code(), message: format!("{sentence:?} skipped: {e}") });
            }
        }
    }

    fn submit(&mut self, sentence: &str) -> Result<(), EngineError> {
        let DriverSetup { pair, voice, acoustic_voice, mode, params, .. } = &self.setup;
        let text_error = |e: SegmentError| EngineError::Model(crate::text::TextError::from(e).into());
        let mut spoken = 0;
        for piece in preprocess(sentence, *mode, SplitMethod::Cut0).map_err(text_error)? {
            let Some(features) = pair.synth.sentence_features(&piece, *mode)? else { continue };
            spoken += 1;
            let prompt = t2s_prompt(voice, &features)?;
            let info = Arc::new(SegmentInfo {
                index: self.next_index,
                // The sentence as the client wrote it (`piece` may carry upstream's added marks).
                text: sentence.to_string(),
                phones: features.phone_ids,
                voice: acoustic_voice.clone(),
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
            let job =
                SegmentJob { pipe: self.pipe.clone(), info, prompt, options, queued_at: std::time::Instant::now() };
            if pair.scheduler.send(ToScheduler::Segment(Box::new(job))).is_err() {
                return Err(EngineError::Internal("the scheduler has stopped".into()));
            }
        }
        // A sentence of only punctuation, symbols or emoji: the client hears nothing, so it is told.
        if spoken == 0 {
            return Err(text_error(SegmentError::NoValidText));
        }
        Ok(())
    }
}
