//! The acoustic scheduler of one model pair: a thread that turns token chunks into audio through
//! the acoustic stage ([`SemanticToAudio`]) and delivers it to each session in order. Like the
//! GPT scheduler it batches across sessions: each round decodes the next chunk of many sessions
//! in one [`SemanticToAudio::step`]. First chunks go first — when any session is still waiting
//! for its first audio, the round decodes only such sessions, so a new listener is never stuck
//! behind a batch of long chunks — and otherwise every session with a chunk due, oldest first,
//! up to the model's batch size. A session's chunks are decoded in order, one per round.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::messages::{SegmentInfo, ToAcoustic};
use crate::engine::pipe::{SessionEvent, SessionPipe};
use crate::model::acoustic::{AcousticStream, StreamChunk};
use crate::model::chunk::{Chunk, ChunkPlan};
use crate::model::{ModelError, SemanticToAudio};
use crate::pipeline::FRAGMENT_INTERVAL_S;

/// Where a session's current sentence stands.
enum Sentence<V> {
    /// Between sentences.
    None,
    /// Sentence `index` is streaming.
    Streaming(usize, AcousticStream<V>),
    /// Sentence `index` failed (its client was told once); its remaining chunks are skipped.
    Failed(usize),
}

/// One session's queue.
struct SessionQueue<V> {
    items: VecDeque<(Instant, ToAcoustic<V>)>,
    sentence: Sentence<V>,
    /// No audio delivered yet.
    first: bool,
}

/// A chunk taken off a session's queue for this round.
struct Due<V> {
    id: u64,
    pipe: Arc<SessionPipe>,
    info: Arc<SegmentInfo<V>>,
    tokens: Vec<u32>,
    chunk: Chunk,
}

pub(crate) struct AcousticScheduler<M: SemanticToAudio> {
    model: Arc<M>,
    plan: ChunkPlan,
    sessions: HashMap<u64, SessionQueue<M::Voice>>,
}

impl<M: SemanticToAudio> AcousticScheduler<M> {
    pub fn new(model: Arc<M>, plan: ChunkPlan) -> Self {
        AcousticScheduler { model, plan, sessions: HashMap::new() }
    }

    /// Runs until every sender of `inbox` is gone and the queues are empty.
    pub fn run(mut self, inbox: Receiver<ToAcoustic<M::Voice>>) {
        loop {
            let first = if self.sessions.is_empty() {
                match inbox.recv_timeout(Duration::from_millis(100)) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                None
            };
            for msg in first.into_iter().chain(inbox.try_iter()) {
                self.enqueue(msg);
            }
            self.tick();
        }
    }

    /// Takes a message in; it is acted on by the next [`Self::tick`].
    fn enqueue(&mut self, msg: ToAcoustic<M::Voice>) {
        let q = self.sessions.entry(msg.pipe().control.id).or_insert_with(|| SessionQueue {
            items: VecDeque::new(),
            sentence: Sentence::None,
            first: true,
        });
        q.items.push_back((Instant::now(), msg));
    }

    /// One round: everything that needs no decoding (cancellations, tails, `done`s), then one
    /// batched decode of the chunks due.
    fn tick(&mut self) {
        self.settle();
        let due = self.take_due();
        if !due.is_empty() {
            self.decode(due);
            self.settle();
        }
    }

    /// Handles every queue's front items that need no decoding: drops a cancelled session's work
    /// (its `End` still sends `done`), flushes sentence tails and ends sessions.
    fn settle(&mut self) {
        let rate = self.model.sample_rate();
        self.sessions.retain(|_, q| loop {
            let Some((_, msg)) = q.items.front() else { return true };
            let pipe = msg.pipe().clone();
            if pipe.control.is_cancelled() && !matches!(msg, ToAcoustic::End { .. }) {
                // Skip to the session's End: its `done` (cancelled) is all that is left to send.
                q.items.retain(|(_, m)| matches!(m, ToAcoustic::End { .. }));
                q.sentence = Sentence::None;
                continue;
            }
            match msg {
                ToAcoustic::Chunk { .. } => return true,
                ToAcoustic::Finish { .. } => {
                    q.items.pop_front();
                    if let Sentence::Streaming(_, stream) = &mut q.sentence {
                        pipe.audio(stream.finish());
                    }
                    end_sentence(q, &pipe, rate);
                }
                ToAcoustic::End { .. } => {
                    pipe.done();
                    return false;
                }
            }
        });
    }

    /// Takes this round's chunks off their queues: sessions waiting for their first audio if
    /// there are any, else every session with a chunk due; oldest first, up to the batch size.
    fn take_due(&mut self) -> Vec<Due<M::Voice>> {
        let mut ready: Vec<(bool, Instant, u64)> = self
            .sessions
            .iter()
            .filter_map(|(&id, q)| match q.items.front() {
                Some((t, ToAcoustic::Chunk { .. })) => Some((!q.first, *t, id)),
                _ => None,
            })
            .collect();
        ready.sort();
        let firsts_only = ready.first().is_some_and(|&(later, _, _)| !later);
        ready
            .into_iter()
            .take_while(|&(later, _, _)| !(firsts_only && later))
            .take(self.model.max_batch().max(1))
            .filter_map(|(_, _, id)| match self.sessions.get_mut(&id)?.items.pop_front()? {
                (_, ToAcoustic::Chunk { pipe, info, tokens, chunk }) => Some(Due { id, pipe, info, tokens, chunk }),
                _ => None,
            })
            .collect()
    }

    /// Decodes `due` in one step and delivers each session's audio.
    fn decode(&mut self, due: Vec<Due<M::Voice>>) {
        let mut streams: Vec<Option<AcousticStream<M::Voice>>> = due.iter().map(|d| self.take_stream(d)).collect();
        let outcomes = self.step(&mut streams, &due);
        let rate = self.model.sample_rate();
        for ((stream, outcome), d) in streams.into_iter().zip(outcomes).zip(due) {
            // Sessions leave only at `End`, which comes after their chunks.
            let Some(q) = self.sessions.get_mut(&d.id) else { continue };
            match (stream, outcome) {
                (Some(stream), Outcome::Audio(samples)) => {
                    d.pipe.audio(samples);
                    q.sentence = Sentence::Streaming(d.info.index, stream);
                }
                (_, Outcome::Failed(e)) => {
                    warn_failed(&d.pipe, &e);
                    q.sentence = Sentence::Failed(d.info.index);
                }
                (_, Outcome::Crashed) => {
                    d.pipe.control.fail("internal", "the acoustic stage failed on this session".into());
                    q.sentence = Sentence::Failed(d.info.index);
                }
                // A sentence that failed earlier, or a result without its stream (never made).
                (_, Outcome::Skipped) | (None, Outcome::Audio(_)) => {}
            }
            q.first = false;
            if d.chunk.last {
                end_sentence(q, &d.pipe, rate);
            }
        }
    }

    /// The stream `d`'s chunk continues, taken out of its queue for the step: opened here for a
    /// sentence's first chunk; `None` when the sentence failed before (its client was told).
    fn take_stream(&mut self, d: &Due<M::Voice>) -> Option<AcousticStream<M::Voice>> {
        let q = self.sessions.get_mut(&d.id)?;
        if d.chunk.index == 0 {
            d.pipe.count_segment();
            d.pipe.emit(SessionEvent::Segment { index: d.info.index, text: d.info.text.clone() });
            let opened =
                self.model.open_stream(d.info.voice.clone(), d.info.phones.clone(), d.info.decode.clone(), &self.plan);
            q.sentence = match opened {
                Ok(stream) => Sentence::Streaming(d.info.index, stream),
                Err(e) => {
                    warn_failed(&d.pipe, &e);
                    Sentence::Failed(d.info.index)
                }
            };
        }
        match std::mem::replace(&mut q.sentence, Sentence::Failed(d.info.index)) {
            Sentence::Streaming(index, stream) if index == d.info.index => Some(stream),
            Sentence::Failed(index) if index == d.info.index => None,
            _ => {
                let e = ModelError::Input(format!("sentence {} lost its earlier chunks", d.info.index));
                warn_failed(&d.pipe, &e);
                None
            }
        }
    }

    /// One batched step over the streams that exist; an outcome per due chunk.
    fn step(&self, streams: &mut [Option<AcousticStream<M::Voice>>], due: &[Due<M::Voice>]) -> Vec<Outcome> {
        let mut work: Vec<StreamChunk<'_, M::Voice>> = streams
            .iter_mut()
            .zip(due)
            .filter_map(|(s, d)| Some(StreamChunk { stream: s.as_mut()?, tokens: &d.tokens, chunk: d.chunk }))
            .collect();
        // A bug in model code must not take every session of this pair down with the thread.
        let stepped = if work.is_empty() {
            Ok(Ok(Vec::new()))
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.model.step(&mut work)))
        };
        drop(work);
        let mut results: Box<dyn Iterator<Item = Outcome>> = match stepped {
            Ok(Ok(results)) => Box::new(results.into_iter().map(Outcome::from)),
            // The step failed as a whole (the device): every sentence in it is lost.
            Ok(Err(e)) => {
                let why = e.to_string();
                Box::new(std::iter::repeat_with(move || Outcome::Failed(ModelError::Device(why.clone()))))
            }
            Err(_) => Box::new(std::iter::repeat_with(|| Outcome::Crashed)),
        };
        streams
            .iter()
            .map(|s| match s {
                Some(_) => results.next().unwrap_or(Outcome::Crashed),
                None => Outcome::Skipped,
            })
            .collect()
    }
}

/// What a round did for one due chunk.
enum Outcome {
    Audio(Vec<f32>),
    /// Its sentence failed: the client gets a warning, the session goes on.
    Failed(ModelError),
    /// The model panicked: the session is ended.
    Crashed,
    /// Its sentence had failed before: nothing to do.
    Skipped,
}

impl From<Result<Vec<f32>, ModelError>> for Outcome {
    fn from(r: Result<Vec<f32>, ModelError>) -> Self {
        match r {
            Ok(samples) => Outcome::Audio(samples),
            Err(e) => Outcome::Failed(e),
        }
    }
}

fn warn_failed(pipe: &SessionPipe, e: &ModelError) {
    let code = match e {
        ModelError::Device(_) => "device_error",
        _ => "internal",
    };
    pipe.emit(SessionEvent::Warning { code, message: format!("vocoding failed: {e}") });
}

/// After a sentence's last audio: upstream's `fragment_interval` of silence, and room for the
/// next sentence.
fn end_sentence<V>(q: &mut SessionQueue<V>, pipe: &SessionPipe, sample_rate: u32) {
    q.sentence = Sentence::None;
    pipe.audio(vec![0.0; (FRAGMENT_INTERVAL_S * sample_rate as f32) as usize]);
    pipe.control.segments_in_flight.fetch_sub(1, Ordering::SeqCst);
}
