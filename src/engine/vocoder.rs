//! The vocoder worker of one model pair: a thread that turns token chunks into audio (SoVITS
//! decode + HiFi-GAN through the [`ChunkStitcher`]) and delivers it to each session in order.
//! Sessions are served by priority: a session waiting for its first chunk goes first, then the
//! one that has waited longest, so a new listener is not stuck behind long sentences.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::chunk::{Chunk, ChunkPlan, ChunkStitcher};
use crate::engine::scheduler::SegmentInfo;
use crate::engine::session::{SessionEvent, SessionPipe};
use crate::model::{ModelError, SovitsDecoder, Vocoder};
use crate::pipeline::{FRAGMENT_INTERVAL_S, SAMPLE_RATE};

pub(crate) enum ToVocoder {
    /// Vocode `chunk`; `tokens` holds the sentence's tokens up to `chunk.end`.
    Chunk { pipe: Arc<SessionPipe>, info: Arc<SegmentInfo>, tokens: Vec<u32>, chunk: Chunk },
    /// The sentence ended right after its last chunk: flush the held-back tail.
    Finish { pipe: Arc<SessionPipe> },
    /// The session is over: send `done`.
    End { pipe: Arc<SessionPipe> },
}

impl ToVocoder {
    fn pipe(&self) -> &Arc<SessionPipe> {
        match self {
            ToVocoder::Chunk { pipe, .. } | ToVocoder::Finish { pipe } | ToVocoder::End { pipe } => pipe,
        }
    }
}

/// One session's queue.
struct Queue {
    items: VecDeque<(Instant, ToVocoder)>,
    /// Stitching state of the sentence being vocoded.
    stitcher: Option<(usize, ChunkStitcher)>,
    /// No audio delivered yet.
    first: bool,
}

pub(crate) struct VocoderWorker<M: SovitsDecoder + Vocoder> {
    model: Arc<M>,
    plan: ChunkPlan,
    queues: HashMap<u64, Queue>,
}

impl<M: SovitsDecoder + Vocoder> VocoderWorker<M> {
    pub fn new(model: Arc<M>, plan: ChunkPlan) -> Self {
        VocoderWorker { model, plan, queues: HashMap::new() }
    }

    /// Runs until every sender of `inbox` is gone and the queues are empty.
    pub fn run(mut self, inbox: Receiver<ToVocoder>) {
        loop {
            let first = if self.queues.is_empty() {
                match inbox.recv_timeout(Duration::from_millis(100)) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                None
            };
            for msg in first.into_iter().chain(inbox.try_iter()) {
                let id = msg.pipe().control.id;
                let q = self.queues.entry(id).or_insert_with(|| Queue {
                    items: VecDeque::new(),
                    stitcher: None,
                    first: true,
                });
                q.items.push_back((Instant::now(), msg));
            }
            if let Some(id) = self.pick() {
                // A bug in model code must not take every session of this pair down with the
                // thread: the session being served is ended, the others go on.
                let pipe = self.queues.get(&id).and_then(|q| q.items.front()).map(|(_, m)| m.pipe().clone());
                let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.serve(id)));
                if let (Err(_), Some(pipe)) = (served, pipe) {
                    self.queues.remove(&id);
                    pipe.control.fail("internal", "the vocoder failed on this session".into());
                    pipe.done();
                }
            }
        }
    }

    /// The session to serve next: first chunks first, then the oldest waiting item.
    fn pick(&self) -> Option<u64> {
        self.queues
            .iter()
            .filter_map(|(&id, q)| q.items.front().map(|(t, _)| (!q.first, *t, id)))
            .min()
            .map(|(_, _, id)| id)
    }

    fn serve(&mut self, id: u64) {
        let Some(q) = self.queues.get_mut(&id) else { return };
        let Some((_, msg)) = q.items.pop_front() else { return };
        let pipe = msg.pipe().clone();
        if pipe.control.is_cancelled() {
            // Skip to the session's End: its `done` (cancelled) is all that is left to send.
            q.items.retain(|(_, m)| matches!(m, ToVocoder::End { .. }));
            q.stitcher = None;
            if !matches!(msg, ToVocoder::End { .. }) {
                return;
            }
        }
        match msg {
            ToVocoder::Chunk { info, tokens, chunk, .. } => {
                let result = vocode(self.model.as_ref(), &self.plan, q, &pipe, &info, &tokens, chunk);
                q.first = false;
                match result {
                    Ok(samples) => pipe.audio(samples),
                    Err(e) => {
                        pipe.emit(SessionEvent::Warning { code: "internal", message: format!("vocoding failed: {e}") });
                        q.stitcher = None;
                    }
                }
                if chunk.last {
                    end_segment(q, &pipe);
                }
            }
            ToVocoder::Finish { .. } => {
                let tail = q.stitcher.as_mut().map(|(_, s)| s.finish()).unwrap_or_default();
                pipe.audio(tail);
                end_segment(q, &pipe);
            }
            ToVocoder::End { .. } => {
                pipe.done();
                self.queues.remove(&id);
            }
        }
    }
}

fn vocode<M: SovitsDecoder + Vocoder>(
    model: &M,
    plan: &ChunkPlan,
    q: &mut Queue,
    pipe: &SessionPipe,
    info: &SegmentInfo,
    tokens: &[u32],
    chunk: Chunk,
) -> Result<Vec<f32>, ModelError> {
    if chunk.index == 0 {
        pipe.count_segment();
        pipe.emit(SessionEvent::Segment { index: info.index, text: info.text.clone() });
        q.stitcher = Some((info.index, ChunkStitcher::new(plan.clone(), info.decode.speed)?));
    }
    match &mut q.stitcher {
        Some((index, stitcher)) if *index == info.index => {
            stitcher.vocode(model, tokens, chunk, &info.phones, &info.voice.ge, &info.decode)
        }
        _ => Err(ModelError::Input(format!("sentence {} lost its earlier chunks", info.index))),
    }
}

/// After a sentence's last audio: upstream's `fragment_interval` of silence, and room for the
/// next sentence.
fn end_segment(q: &mut Queue, pipe: &SessionPipe) {
    q.stitcher = None;
    pipe.audio(vec![0.0; (FRAGMENT_INTERVAL_S * SAMPLE_RATE as f32) as usize]);
    pipe.control.segments_in_flight.fetch_sub(1, Ordering::SeqCst);
}
