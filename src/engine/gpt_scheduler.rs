//! The GPT scheduler of one model pair: a thread that runs every active session's sentence
//! through the GPT prior together. Each loop prefills newly arrived sentences first (first audio
//! is the product), then runs one batched decode step over all sentences still decoding
//! (continuous batching: sentences join and leave between steps), and hands token chunks to the
//! acoustic scheduler as the chunk plan fills them. A session's sentences are decoded in order,
//! one at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::messages::{SegmentJob, ToAcoustic, ToScheduler};
use crate::engine::metrics::{Metrics, Phase, Stage};
use crate::engine::pipe::{SessionEvent, SessionPipe};
use crate::error::ErrorCode;
use crate::model::chunk::{ChunkPlan, ChunkPlanner};
use crate::model::t2s::Decoder;
use crate::model::{ModelError, TextToSemantic};

/// A sentence being decoded.
struct Decoding<S, V> {
    job: Box<SegmentJob<V>>,
    session: S,
    decoder: Decoder,
    next: Option<u32>,
    tokens: Vec<u32>,
    planner: ChunkPlanner,
}

pub(crate) struct Scheduler<M: TextToSemantic, V> {
    model: Arc<M>,
    plan: ChunkPlan,
    acoustic: Sender<ToAcoustic<V>>,
    metrics: Arc<Metrics>,
    /// Per session: what arrived and waits for the session's current sentence to finish.
    waiting: HashMap<u64, VecDeque<ToScheduler<V>>>,
    decoding: Vec<Decoding<M::Session, V>>,
    /// Per session: when its last sentence finished decoding. A queued sentence waits for the
    /// scheduler only from then on (before, it waits for its own session's previous sentence).
    free_since: HashMap<u64, Instant>,
}

impl<M: TextToSemantic, V> Scheduler<M, V> {
    pub fn new(model: Arc<M>, plan: ChunkPlan, acoustic: Sender<ToAcoustic<V>>, metrics: Arc<Metrics>) -> Self {
        Scheduler {
            model,
            plan,
            acoustic,
            metrics,
            waiting: HashMap::new(),
            decoding: Vec::new(),
            free_since: HashMap::new(),
        }
    }

    /// Runs until every sender of `inbox` is gone.
    pub fn run(mut self, inbox: Receiver<ToScheduler<V>>) {
        loop {
            let idle = self.decoding.is_empty();
            let first = if idle {
                match inbox.recv_timeout(Duration::from_millis(100)) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) if self.waiting.is_empty() => return,
                    Err(RecvTimeoutError::Disconnected) => None,
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
    fn enqueue(&mut self, msg: ToScheduler<V>) {
        if matches!(msg, ToScheduler::Segment(_)) {
            self.metrics.queued_segments.fetch_add(1, Ordering::Relaxed);
        }
        self.waiting.entry(msg.pipe().control.id).or_default().push_back(msg);
    }

    /// One round: drops cancelled work, prefills waiting sentences, then one batched step.
    fn tick(&mut self) {
        self.drop_cancelled();
        // A bug in model code must not kill the thread (and with it every later session).
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.start_waiting();
            self.step()
        }));
        let failure = match stepped {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((e.code(), e.to_string())),
            Err(_) => Some((ErrorCode::Internal, "internal error in the GPT step".to_string())),
        };
        if let Some((code, why)) = failure {
            // A failed batched step cannot be blamed on one session: end them all.
            for d in self.decoding.drain(..) {
                fail(&d.job.pipe, code, &why);
            }
        }
        self.metrics.set_phase(Phase::Decoding, self.decoding.len());
    }

    fn is_decoding(&self, id: u64) -> bool {
        self.decoding.iter().any(|d| d.job.pipe.control.id == id)
    }

    /// Removes cancelled sessions' work; their `End` still goes to the acoustic scheduler so it can finish.
    fn drop_cancelled(&mut self) {
        self.decoding.retain(|d| !d.job.pipe.control.is_cancelled());
        for queue in self.waiting.values_mut() {
            let cancelled = queue.front().is_some_and(|m| m.pipe().control.is_cancelled());
            if cancelled {
                let before = queue.len();
                queue.retain(|m| matches!(m, ToScheduler::End { .. }));
                let dropped = before - queue.len();
                self.metrics.queued_segments.fetch_sub(dropped, Ordering::Relaxed);
            }
        }
    }

    /// Prefills the next sentence of every session that has none decoding (ahead of any decode
    /// step, so new sessions get their first audio quickly), and forwards `End`s in order.
    fn start_waiting(&mut self) {
        let ids: Vec<u64> = self.waiting.keys().copied().filter(|&id| !self.is_decoding(id)).collect();
        for id in ids {
            let Some(queue) = self.waiting.get_mut(&id) else { continue };
            match queue.pop_front() {
                Some(ToScheduler::Segment(job)) => {
                    self.metrics.queued_segments.fetch_sub(1, Ordering::Relaxed);
                    let since = self.free_since.remove(&id).map_or(job.queued_at, |t| t.max(job.queued_at));
                    self.metrics.observe_stage(Stage::QueueWait, since.elapsed().as_secs_f64());
                    self.metrics.set_phase(Phase::Prefilling, 1);
                    let started = Instant::now();
                    let prefilled = self.prefill(job);
                    self.metrics.observe_stage(Stage::GptPrefill, started.elapsed().as_secs_f64());
                    self.metrics.set_phase(Phase::Prefilling, 0);
                    match prefilled {
                        Ok(Some(d)) => self.decoding.push(d),
                        Ok(None) => {
                            self.free_since.insert(id, Instant::now());
                        }
                        Err((pipe, e)) => fail(&pipe, e.code(), &e.to_string()),
                    }
                }
                Some(ToScheduler::End { pipe }) => {
                    self.waiting.remove(&id);
                    self.free_since.remove(&id);
                    let _ = self.acoustic.send(ToAcoustic::End { pipe });
                }
                None => {
                    self.waiting.remove(&id);
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn prefill(
        &mut self,
        job: Box<SegmentJob<V>>,
    ) -> Result<Option<Decoding<M::Session, V>>, (Arc<SessionPipe>, ModelError)> {
        let config = self.model.config();
        let started = (|| {
            let mut decoder = Decoder::new(config, &job.prompt.prompt_tokens, &job.options)?;
            let planner = ChunkPlanner::new(self.plan.clone())?;
            let (session, next) = self.model.prefill(&job.prompt, &mut decoder)?;
            Ok((session, decoder, planner, next))
        })();
        match started {
            Ok((session, decoder, planner, next)) => {
                let mut d = Decoding { job, session, decoder, next, tokens: Vec::new(), planner };
                Ok(self.advance(&mut d).then_some(d))
            }
            Err(e) => Err((job.pipe, e)),
        }
    }

    /// One batched decode step over every sentence still decoding.
    fn step(&mut self) -> Result<(), ModelError> {
        if self.decoding.is_empty() {
            return Ok(());
        }
        let tokens: Vec<u32> = self.decoding.iter().filter_map(|d| d.next).collect();
        let (mut sessions, mut decoders): (Vec<&mut M::Session>, Vec<&mut Decoder>) =
            self.decoding.iter_mut().map(|d| (&mut d.session, &mut d.decoder)).unzip();
        let started = Instant::now();
        let chosen = self.model.step(&mut sessions, &tokens, &mut decoders)?;
        self.metrics.observe_stage(Stage::GptStep, started.elapsed().as_secs_f64());
        self.metrics.observe_batch(Stage::GptStep, sessions.len());
        let mut still = Vec::with_capacity(self.decoding.len());
        for (mut d, next) in std::mem::take(&mut self.decoding).into_iter().zip(chosen) {
            match next {
                Ok(next) => {
                    d.next = next;
                    if self.advance(&mut d) {
                        still.push(d);
                    } else {
                        self.free_since.insert(d.job.pipe.control.id, Instant::now());
                    }
                }
                Err(e) => fail(&d.job.pipe, e.code(), &e.to_string()),
            }
        }
        self.decoding = still;
        Ok(())
    }

    /// Records the token just fed (if any), hands out full chunks; false once the sentence's
    /// tokens are complete.
    fn advance(&self, d: &mut Decoding<M::Session, V>) -> bool {
        let complete = d.decoder.is_done();
        if let Some(t) = d.next {
            d.tokens.push(t);
            d.job.pipe.count_tokens(1);
        }
        if complete && d.tokens.is_empty() {
            // Upstream's "bad zero prediction" rule: an empty result becomes token 0.
            d.tokens.push(0);
        }
        let n = d.tokens.len();
        while let Some(chunk) = d.planner.next_chunk(n, complete) {
            let msg = ToAcoustic::Chunk {
                pipe: d.job.pipe.clone(),
                info: d.job.info.clone(),
                tokens: d.tokens[..chunk.end].to_vec(),
                chunk,
            };
            let _ = self.acoustic.send(msg);
        }
        if complete && d.planner.needs_finish(n) {
            let _ = self.acoustic.send(ToAcoustic::Finish { pipe: d.job.pipe.clone() });
        }
        !complete
    }
}

/// Tells the session its sentence failed and lets it go on with the next one.
fn fail(pipe: &SessionPipe, code: ErrorCode, why: &str) {
    pipe.emit(SessionEvent::Warning { code, message: format!("a sentence could not be generated: {why}") });
    pipe.control.segments_in_flight.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc::Receiver;

    use parking_lot::Mutex;

    use super::*;
    use crate::engine::messages::SegmentInfo;
    use crate::engine::pipe::testing;
    use crate::model::sampling::SamplingParams;
    use crate::model::t2s::{GenerateOptions, T2sConfig};
    use crate::model::{DecodeParams, PriorNoise, SamplesOnHost, T2sLogits, T2sPrompt};
    use crate::tensor::Tensor;

    /// A GPT whose greedy choice is known: a session started from prompt token `b` emits
    /// `b, b + 1, b + 2, …`. Records the batch size of every decode step.
    struct FakeGpt {
        config: T2sConfig,
        steps: Mutex<Vec<usize>>,
        fail_steps: AtomicBool,
    }

    struct FakeSession {
        next: u32,
    }

    impl FakeGpt {
        fn new() -> Self {
            FakeGpt { config: T2sConfig::v2(), steps: Mutex::new(Vec::new()), fail_steps: AtomicBool::new(false) }
        }

        /// Logits whose arg-max is `token`.
        fn logits(&self, token: u32) -> Vec<f32> {
            let mut l = vec![0.0; self.config.vocab];
            l[token as usize] = 10.0;
            l
        }
    }

    impl SamplesOnHost for FakeGpt {}

    impl T2sLogits for FakeGpt {
        type Session = FakeSession;

        fn config(&self) -> &T2sConfig {
            &self.config
        }

        fn prefill_logits(&self, prompt: &T2sPrompt) -> Result<(FakeSession, Vec<f32>), ModelError> {
            let first = prompt.prompt_tokens[0];
            Ok((FakeSession { next: first + 1 }, self.logits(first)))
        }

        fn step_logits(&self, sessions: &mut [&mut FakeSession], _: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
            self.steps.lock().push(sessions.len());
            if self.fail_steps.load(Ordering::SeqCst) {
                return Err(ModelError::Device("the fake GPU is down".into()));
            }
            Ok(sessions
                .iter_mut()
                .map(|s| {
                    s.next += 1;
                    self.logits(s.next - 1)
                })
                .collect())
        }
    }

    fn plan() -> ChunkPlan {
        ChunkPlan { first_tokens: 2, growth: 2.0, max_tokens: 4, left_context: 2, overlap: 1 }
    }

    type Sched = (Scheduler<FakeGpt, ()>, Receiver<ToAcoustic<()>>);

    fn scheduler() -> Sched {
        let (tx, rx) = std::sync::mpsc::channel();
        (Scheduler::new(Arc::new(FakeGpt::new()), plan(), tx, Arc::new(Metrics::default())), rx)
    }

    /// Sentence `index` of a session: `tokens` tokens greedily from `first`.
    fn segment(pipe: &Arc<SessionPipe>, index: usize, first: u32, tokens: usize) -> ToScheduler<()> {
        pipe.control.segments_in_flight.fetch_add(1, Ordering::SeqCst);
        let info = Arc::new(SegmentInfo {
            index,
            text: String::new(),
            phones: vec![1],
            voice: Arc::new(()),
            decode: DecodeParams {
                speed: 1.0,
                noise_scale: 0.5,
                noise: PriorNoise::Seeded { seed: 0, first_frame: 0 },
            },
        });
        let sampling = SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.0 };
        let prompt = T2sPrompt { phone_ids: vec![1], bert: Tensor::zeros([1024, 1]), prompt_tokens: vec![first] };
        let options = GenerateOptions { sampling, seed: 0, early_stop: Some(tokens) };
        let queued_at = std::time::Instant::now();
        ToScheduler::Segment(Box::new(SegmentJob { pipe: pipe.clone(), info, prompt, options, queued_at }))
    }

    /// What the acoustic scheduler received, as (session, sentence, token range, tokens, last)
    /// per chunk, "finish" / "end" otherwise.
    fn received(rx: &Receiver<ToAcoustic<()>>) -> Vec<String> {
        rx.try_iter()
            .map(|m| match m {
                ToAcoustic::Chunk { pipe, info, tokens, chunk } => format!(
                    "{} s{} {}..{} {tokens:?}{}",
                    pipe.control.id,
                    info.index,
                    chunk.start,
                    chunk.end,
                    if chunk.last { " last" } else { "" }
                ),
                ToAcoustic::Finish { pipe } => format!("{} finish", pipe.control.id),
                ToAcoustic::End { pipe } => format!("{} end", pipe.control.id),
            })
            .collect()
    }

    fn run_until_idle(s: &mut Scheduler<FakeGpt, ()>) {
        for _ in 0..100 {
            s.tick();
            if s.decoding.is_empty() && s.waiting.is_empty() {
                return;
            }
        }
        panic!("the scheduler did not become idle");
    }

    #[test]
    fn a_sentence_becomes_chunks_in_order_then_the_session_ends() {
        let (mut sched, rx) = scheduler();
        let (pipe, _events) = testing::session(1, 100);
        sched.enqueue(segment(&pipe, 0, 100, 7));
        sched.enqueue(ToScheduler::End { pipe: pipe.clone() });
        run_until_idle(&mut sched);
        assert_eq!(
            received(&rx),
            [
                "1 s0 0..2 [100, 101]",
                "1 s0 2..6 [100, 101, 102, 103, 104, 105]",
                "1 s0 6..7 [100, 101, 102, 103, 104, 105, 106] last",
                "1 end"
            ]
        );
    }

    #[test]
    fn sessions_share_steps_and_join_between_them() {
        let (mut sched, rx) = scheduler();
        let (a, _ea) = testing::session(1, 100);
        let (b, _eb) = testing::session(2, 100);
        let (c, _ec) = testing::session(3, 100);
        sched.enqueue(segment(&a, 0, 10, 8));
        sched.enqueue(segment(&b, 0, 20, 8));
        sched.tick();
        sched.tick();
        // C joins mid-decode: prefilled before the next step, then stepped with the others.
        sched.enqueue(segment(&c, 0, 30, 3));
        run_until_idle(&mut sched);
        let steps = sched.model.steps.lock().clone();
        assert_eq!(&steps[..2], [2, 2]);
        assert_eq!(steps[2], 3, "{steps:?}");
        assert!(steps.iter().all(|&n| n <= 3));
        // Each session's chunks carry its own tokens.
        for line in received(&rx) {
            let (id, rest) = line.split_once(' ').unwrap();
            let first_token = rest.split('[').nth(1).map(|t| t.split([',', ']']).next().unwrap().to_string());
            let expected = match id {
                "1" => "10",
                "2" => "20",
                _ => "30",
            };
            assert_eq!(first_token.as_deref(), Some(expected), "{line}");
        }
    }

    #[test]
    fn a_sessions_sentences_are_decoded_one_after_another() {
        let (mut sched, rx) = scheduler();
        let (pipe, _events) = testing::session(1, 100);
        sched.enqueue(segment(&pipe, 0, 100, 3));
        sched.enqueue(segment(&pipe, 1, 200, 3));
        sched.enqueue(ToScheduler::End { pipe: pipe.clone() });
        run_until_idle(&mut sched);
        let got = received(&rx);
        assert_eq!(
            got,
            [
                "1 s0 0..2 [100, 101]",
                "1 s0 2..3 [100, 101, 102] last",
                "1 s1 0..2 [200, 201]",
                "1 s1 2..3 [200, 201, 202] last",
                "1 end"
            ]
        );
        // Never two sentences of one session in one step.
        assert!(sched.model.steps.lock().iter().all(|&n| n == 1));
    }

    #[test]
    fn a_cancelled_session_is_dropped_but_still_ends() {
        let (mut sched, rx) = scheduler();
        let (a, _ea) = testing::session(1, 100);
        let (b, _eb) = testing::session(2, 100);
        sched.enqueue(segment(&a, 0, 10, 50));
        sched.enqueue(segment(&b, 0, 20, 4));
        sched.tick();
        a.control.cancel();
        sched.enqueue(segment(&a, 1, 40, 4));
        sched.enqueue(ToScheduler::End { pipe: a.clone() });
        run_until_idle(&mut sched);
        let got = received(&rx);
        assert!(got.iter().all(|l| !l.starts_with("1 s1")), "{got:?}");
        assert!(got.contains(&"1 end".to_string()), "{got:?}");
        // After the cancel only B was stepped.
        assert!(sched.model.steps.lock()[1..].iter().all(|&n| n == 1));
    }

    #[test]
    fn a_failed_step_fails_every_sentence_in_it() {
        let (mut sched, _rx) = scheduler();
        let (mut ea, mut eb) = (testing::session(1, 100), testing::session(2, 100));
        sched.enqueue(segment(&ea.0, 0, 10, 8));
        sched.enqueue(segment(&eb.0, 0, 20, 8));
        sched.model.fail_steps.store(true, Ordering::SeqCst);
        run_until_idle(&mut sched);
        for (pipe, events) in [(&ea.0, &mut ea.1), (&eb.0, &mut eb.1)] {
            let warnings: Vec<_> = testing::events(events)
                .into_iter()
                .filter_map(|e| if let SessionEvent::Warning { code, .. } = e { Some(code) } else { None })
                .collect();
            assert_eq!(warnings, ["device_error"]);
            assert_eq!(pipe.control.segments_in_flight.load(Ordering::SeqCst), 0);
        }
    }
}
