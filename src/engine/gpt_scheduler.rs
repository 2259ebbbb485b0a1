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
use std::time::Duration;

use crate::engine::messages::{SegmentJob, ToAcoustic, ToScheduler};
use crate::engine::metrics::Metrics;
use crate::engine::pipe::{SessionEvent, SessionPipe};
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
}

impl<M: TextToSemantic, V> Scheduler<M, V> {
    pub fn new(model: Arc<M>, plan: ChunkPlan, acoustic: Sender<ToAcoustic<V>>, metrics: Arc<Metrics>) -> Self {
        Scheduler { model, plan, acoustic, metrics, waiting: HashMap::new(), decoding: Vec::new() }
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
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("internal error in the GPT step".to_string()),
        };
        if let Some(why) = failure {
            // A failed batched step cannot be blamed on one session: end them all.
            for d in self.decoding.drain(..) {
                fail(&d.job.pipe, "internal", &why);
            }
        }
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
                    match self.prefill(job) {
                        Ok(Some(d)) => self.decoding.push(d),
                        Ok(None) => {}
                        Err((pipe, e)) => fail(&pipe, code_of(&e), &e.to_string()),
                    }
                }
                Some(ToScheduler::End { pipe }) => {
                    self.waiting.remove(&id);
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
            let (session, next) = self.model.prefill_sampled(&job.prompt, &mut decoder)?;
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
        let chosen = self.model.decode_sampled(&mut sessions, &tokens, &mut decoders)?;
        let mut still = Vec::with_capacity(self.decoding.len());
        for (mut d, next) in std::mem::take(&mut self.decoding).into_iter().zip(chosen) {
            match next {
                Ok(next) => {
                    d.next = next;
                    if self.advance(&mut d) {
                        still.push(d);
                    }
                }
                Err(e) => fail(&d.job.pipe, code_of(&e), &e.to_string()),
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

fn code_of(e: &ModelError) -> &'static str {
    match e {
        ModelError::Input(_) => "bad_input",
        ModelError::Device(_) => "device_error",
        _ => "internal",
    }
}

/// Tells the session its sentence failed and lets it go on with the next one.
fn fail(pipe: &SessionPipe, code: &'static str, why: &str) {
    pipe.emit(SessionEvent::Warning { code, message: format!("a sentence could not be generated: {why}") });
    pipe.control.segments_in_flight.fetch_sub(1, Ordering::SeqCst);
}
