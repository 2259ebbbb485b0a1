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
use crate::engine::metrics::{Metrics, Phase, Stage};
use crate::engine::pipe::{SessionEvent, SessionPipe};
use crate::error::ErrorCode;
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
    metrics: Arc<Metrics>,
    sessions: HashMap<u64, SessionQueue<M::Voice>>,
}

impl<M: SemanticToAudio> AcousticScheduler<M> {
    pub fn new(model: Arc<M>, plan: ChunkPlan, metrics: Arc<Metrics>) -> Self {
        AcousticScheduler { model, plan, metrics, sessions: HashMap::new() }
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
        let vocoding = self.sessions.values().filter(|q| matches!(q.sentence, Sentence::Streaming(..))).count();
        self.metrics.set_phase(Phase::Vocoding, vocoding);
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
                    d.pipe.control.fail(ErrorCode::Internal, "the acoustic stage failed on this session".into());
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
            let started = Instant::now();
            let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.model.step(&mut work)));
            self.metrics.observe_stage(Stage::AcousticStep, started.elapsed().as_secs_f64());
            self.metrics.observe_batch(Stage::AcousticStep, work.len());
            stepped
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
    pipe.emit(SessionEvent::Warning { code: e.code(), message: format!("vocoding failed: {e}") });
}

/// After a sentence's last audio: upstream's `fragment_interval` of silence, and room for the
/// next sentence.
fn end_sentence<V>(q: &mut SessionQueue<V>, pipe: &SessionPipe, sample_rate: u32) {
    q.sentence = Sentence::None;
    pipe.audio(vec![0.0; (FRAGMENT_INTERVAL_S * sample_rate as f32) as usize]);
    pipe.control.segments_in_flight.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use parking_lot::Mutex;

    use super::*;
    use crate::engine::pipe::testing;
    use crate::model::acoustic::{BatchResult, Window};
    use crate::model::chunk::ChunkPlanner;
    use crate::model::sovits::{
        FlowConfig, GeneratorConfig, QuantizerConfig, RefEncConfig, SovitsConfig, TextEncoderConfig,
    };
    use crate::model::{DecodeParams, PriorNoise};
    use crate::tensor::Tensor;

    /// Output rate of the fake model: 0.3 s of silence between sentences is 30 samples.
    const RATE: u32 = 100;
    /// Samples per token of the fake model (two latent frames × a hop of 4).
    const PER_TOKEN: usize = 8;
    /// A token whose window the fake model refuses to decode.
    const POISON: u32 = 999;

    /// An acoustic model whose audio says what it decoded: every token `t` of a window becomes
    /// [`PER_TOKEN`] samples of `voice + t / 1000`, so stitched streams are exactly predictable.
    /// Records each `decode` call as the `(voice, tokens)` of its windows.
    struct FakeAcoustic {
        config: SovitsConfig,
        max_batch: usize,
        calls: Mutex<Vec<Vec<(f32, usize)>>>,
        fail_steps: AtomicBool,
    }

    impl FakeAcoustic {
        fn new(max_batch: usize) -> Self {
            let config = SovitsConfig {
                inter_channels: 2,
                gin_channels: 1,
                speaker: None,
                text: TextEncoderConfig {
                    hidden_channels: 2,
                    filter_channels: 2,
                    n_heads: 1,
                    window_size: 1,
                    ffn_kernel_size: 1,
                    n_layers_ssl: 0,
                    n_layers_text: 0,
                    n_layers_post: 0,
                    text_vocab: 10,
                    mrte_channels: 1,
                },
                flow: FlowConfig { n_flows: 0, hidden: 2, wn_layers: 0, kernel_size: 1 },
                generator: GeneratorConfig {
                    upsample_initial_channel: 4,
                    conv_pre_kernel: 1,
                    conv_post_kernel: 1,
                    upsample_rates: vec![2, 2],
                    upsample_kernel_sizes: vec![2, 2],
                    resblock_kernel_sizes: vec![],
                    resblock_dilations: vec![],
                },
                ref_enc: RefEncConfig { bins: 1, hidden: 2, kernel: 1, glu_layers: 0 },
                quantizer: QuantizerConfig { ssl_dim: 1, ssl_proj_kernel: 1, codebook_size: 1000 },
            };
            assert_eq!(config.samples_per_token(), PER_TOKEN);
            FakeAcoustic { config, max_batch, calls: Mutex::new(Vec::new()), fail_steps: AtomicBool::new(false) }
        }

        fn calls(&self) -> Vec<Vec<(f32, usize)>> {
            std::mem::take(&mut self.calls.lock())
        }
    }

    impl SemanticToAudio for FakeAcoustic {
        type Voice = f32;

        fn config(&self) -> &SovitsConfig {
            &self.config
        }

        fn sample_rate(&self) -> u32 {
            RATE
        }

        fn max_batch(&self) -> usize {
            self.max_batch
        }

        fn reference_style(&self, _: &Tensor, _: Option<&Tensor>) -> Result<Tensor, ModelError> {
            Err(ModelError::Input("not in this test".into()))
        }

        fn extract_latent(&self, _: &Tensor) -> Result<Vec<u32>, ModelError> {
            Err(ModelError::Input("not in this test".into()))
        }

        fn prepare_voice(&self, ge: &Tensor) -> Result<f32, ModelError> {
            Ok(ge.data()[0])
        }

        fn decode(&self, windows: &[Window<'_, f32>]) -> BatchResult<Vec<f32>> {
            self.calls.lock().push(windows.iter().map(|w| (*w.voice, w.tokens.len())).collect());
            if self.fail_steps.load(Ordering::SeqCst) {
                return Err(ModelError::Device("the fake device is down".into()));
            }
            Ok(windows
                .iter()
                .map(|w| {
                    if w.tokens.contains(&POISON) {
                        return Err(ModelError::Input("poisoned window".into()));
                    }
                    Ok(w.tokens.iter().flat_map(|&t| [*w.voice + t as f32 / 1000.0; PER_TOKEN]).collect())
                })
                .collect())
        }
    }

    fn plan() -> ChunkPlan {
        ChunkPlan { first_tokens: 2, growth: 2.0, max_tokens: 8, left_context: 2, overlap: 1 }
    }

    /// A session with one sentence in flight, in `voice`.
    struct TestSession {
        pipe: Arc<SessionPipe>,
        events: tokio::sync::mpsc::Receiver<SessionEvent>,
        info: Arc<SegmentInfo<f32>>,
    }

    fn session(id: u64, voice: f32) -> TestSession {
        let (pipe, events) = testing::session(id, RATE);
        pipe.control.segments_in_flight.fetch_add(1, Ordering::SeqCst);
        let info = Arc::new(SegmentInfo {
            index: 0,
            text: format!("sentence of session {id}"),
            phones: vec![1, 2, 3],
            voice: Arc::new(voice),
            decode: DecodeParams {
                speed: 1.0,
                noise_scale: 0.5,
                noise: PriorNoise::Seeded { seed: 1, first_frame: 0 },
            },
        });
        TestSession { pipe, events, info }
    }

    /// The messages the GPT scheduler sends for a sentence of `tokens`, fed one by one.
    fn sentence(s: &TestSession, tokens: &[u32]) -> Vec<ToAcoustic<f32>> {
        let mut planner = ChunkPlanner::new(plan()).unwrap();
        let mut msgs = Vec::new();
        for n in 1..=tokens.len() {
            let complete = n == tokens.len();
            while let Some(chunk) = planner.next_chunk(n, complete) {
                let (pipe, info, tokens) = (s.pipe.clone(), s.info.clone(), tokens[..chunk.end].to_vec());
                msgs.push(ToAcoustic::Chunk { pipe, info, tokens, chunk });
            }
            if complete && planner.needs_finish(n) {
                msgs.push(ToAcoustic::Finish { pipe: s.pipe.clone() });
            }
        }
        msgs.push(ToAcoustic::End { pipe: s.pipe.clone() });
        msgs
    }

    fn audio(events: &[SessionEvent]) -> Vec<f32> {
        events.iter().flat_map(|e| if let SessionEvent::Audio(a) = e { a.clone() } else { Vec::new() }).collect()
    }

    fn warnings(events: &[SessionEvent]) -> Vec<&'static str> {
        events
            .iter()
            .filter_map(|e| if let SessionEvent::Warning { code, .. } = e { Some(code.as_str()) } else { None })
            .collect()
    }

    fn scheduler(max_batch: usize) -> AcousticScheduler<FakeAcoustic> {
        AcousticScheduler::new(Arc::new(FakeAcoustic::new(max_batch)), plan(), Arc::new(Metrics::default()))
    }

    #[test]
    fn a_sentence_streams_as_the_chunk_plan_stitches_it() {
        let mut sched = scheduler(4);
        let mut s = session(1, 0.5);
        let tokens: Vec<u32> = (10..31).collect();
        for msg in sentence(&s, &tokens) {
            sched.enqueue(msg);
        }
        while !sched.sessions.is_empty() {
            sched.tick();
        }
        let events = testing::events(&mut s.events);
        assert!(matches!(&events[0], SessionEvent::Segment { index: 0, .. }), "{:?}", events[0]);
        assert!(matches!(events.last(), Some(SessionEvent::Done(stats)) if !stats.cancelled));
        // Every token's samples exactly once, in order, then the pause between sentences.
        let mut expected: Vec<f32> = tokens.iter().flat_map(|&t| [0.5 + t as f32 / 1000.0; PER_TOKEN]).collect();
        expected.resize(expected.len() + (FRAGMENT_INTERVAL_S * RATE as f32) as usize, 0.0);
        let got = audio(&events);
        assert_eq!(got.len(), expected.len());
        assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?}");
        // One chunk of the session per round, each decoded with its left context.
        let calls = sched.model.calls();
        assert!(calls.iter().all(|c| c.len() == 1), "{calls:?}");
        assert_eq!(calls.iter().map(|c| c[0].1).collect::<Vec<_>>(), [2, 6, 10, 9]);
        assert_eq!(s.pipe.control.segments_in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn first_chunks_go_before_later_ones() {
        let mut sched = scheduler(8);
        let a = session(1, 1.0);
        let mut a_msgs = sentence(&a, &(10..30).collect::<Vec<_>>()).into_iter();
        sched.enqueue(a_msgs.next().unwrap());
        sched.tick();
        assert_eq!(sched.model.calls(), [vec![(1.0, 2)]]);
        // A's second chunk is queued first, then B arrives: B's first chunk goes alone, first.
        sched.enqueue(a_msgs.next().unwrap());
        std::thread::sleep(Duration::from_millis(2));
        let b = session(2, 2.0);
        sched.enqueue(sentence(&b, &[5, 6, 7]).remove(0));
        sched.tick();
        sched.tick();
        assert_eq!(sched.model.calls(), [vec![(2.0, 2)], vec![(1.0, 6)]]);
    }

    #[test]
    fn chunks_of_many_sessions_share_a_step_oldest_first() {
        let mut sched = scheduler(2);
        let sessions: Vec<TestSession> = (1..=3).map(|i| session(i, i as f32)).collect();
        let mut queued: Vec<std::vec::IntoIter<ToAcoustic<f32>>> =
            sessions.iter().map(|s| sentence(s, &(10..40).collect::<Vec<_>>()).into_iter()).collect();
        // Everyone's first chunk (at most two per step), then the second chunks: 3 first, then 1, 2.
        for q in queued.iter_mut() {
            sched.enqueue(q.next().unwrap());
        }
        sched.tick();
        sched.tick();
        assert_eq!(sched.model.calls(), [vec![(1.0, 2), (2.0, 2)], vec![(3.0, 2)]]);
        for i in [2, 0, 1] {
            sched.enqueue(queued[i].next().unwrap());
            std::thread::sleep(Duration::from_millis(2));
        }
        sched.tick();
        sched.tick();
        assert_eq!(sched.model.calls(), [vec![(3.0, 6), (1.0, 6)], vec![(2.0, 6)]]);
    }

    #[test]
    fn a_failed_window_costs_only_its_sentence() {
        let mut sched = scheduler(4);
        let (mut good, mut bad) = (session(1, 1.0), session(2, 2.0));
        let mut poisoned: Vec<u32> = (10..30).collect();
        poisoned[4] = POISON;
        for msg in sentence(&good, &(10..30).collect::<Vec<_>>()).into_iter().chain(sentence(&bad, &poisoned)) {
            sched.enqueue(msg);
        }
        while !sched.sessions.is_empty() {
            sched.tick();
        }
        let (good_events, bad_events) = (testing::events(&mut good.events), testing::events(&mut bad.events));
        assert!(warnings(&good_events).is_empty());
        assert_eq!(audio(&good_events).len(), 20 * PER_TOKEN + 30);
        // The bad session hears its first chunk, one warning, then only the pause; it still ends.
        assert_eq!(warnings(&bad_events), ["bad_input"], "a window with bad input is the input's fault");
        assert_eq!(audio(&bad_events).len(), (2 - plan().overlap) * PER_TOKEN + 30);
        assert!(matches!(bad_events.last(), Some(SessionEvent::Done(_))));
        assert_eq!(bad.pipe.control.segments_in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_failed_step_warns_every_session_in_it() {
        let mut sched = scheduler(4);
        let (mut a, mut b) = (session(1, 1.0), session(2, 2.0));
        for msg in sentence(&a, &(10..30).collect::<Vec<_>>()).into_iter().chain(sentence(&b, &[4, 5, 6])) {
            sched.enqueue(msg);
        }
        sched.model.fail_steps.store(true, Ordering::SeqCst);
        while !sched.sessions.is_empty() {
            sched.tick();
        }
        // One step held both first chunks; the sentences' later chunks are skipped, not retried.
        assert_eq!(sched.model.calls(), [vec![(1.0, 2), (2.0, 2)]]);
        for events in [testing::events(&mut a.events), testing::events(&mut b.events)] {
            assert_eq!(warnings(&events), ["device_error"]);
            // The sentence still ends with its pause, so the session goes on with the next one.
            assert_eq!(audio(&events).len(), 30);
            assert!(matches!(events.last(), Some(SessionEvent::Done(_))));
        }
    }

    #[test]
    fn a_cancelled_session_gets_done_and_nothing_else() {
        let mut sched = scheduler(4);
        let mut s = session(1, 1.0);
        for msg in sentence(&s, &(10..30).collect::<Vec<_>>()) {
            sched.enqueue(msg);
        }
        s.pipe.control.cancel();
        sched.tick();
        assert!(sched.sessions.is_empty());
        assert!(sched.model.calls().is_empty());
        let events = testing::events(&mut s.events);
        assert!(matches!(&events[..], [SessionEvent::Done(stats)] if stats.cancelled), "{events:?}");
    }
}
