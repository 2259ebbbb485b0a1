//! The messages between a session's driver, its model pair's GPT scheduler and its acoustic
//! scheduler. A leaf: it names the session pipe and model types, never the stages that send or
//! receive these messages, so the stages do not depend on each other.
//!
//! ```text
//! driver ──ToScheduler──► GPT scheduler ──ToAcoustic──► acoustic scheduler ──► session events
//! ```
//!
//! `V` is the acoustic model's prepared voice ([`crate::model::SemanticToAudio::Voice`]).

use std::sync::Arc;

use crate::engine::pipe::SessionPipe;
use crate::model::chunk::Chunk;
use crate::model::t2s::GenerateOptions;
use crate::model::{DecodeParams, T2sPrompt};

/// What a sentence's chunks need from its session, shared by all of them.
#[derive(Debug)]
pub(crate) struct SegmentInfo<V> {
    pub index: usize,
    pub text: String,
    /// The sentence's phone ids (SoVITS conditions on them).
    pub phones: Vec<u32>,
    pub voice: Arc<V>,
    pub decode: DecodeParams,
}

/// A sentence ready for the GPT: its prompt and sampling settings.
pub(crate) struct SegmentJob<V> {
    pub pipe: Arc<SessionPipe>,
    pub info: Arc<SegmentInfo<V>>,
    pub prompt: T2sPrompt,
    pub options: GenerateOptions,
    /// When the sentence was handed to the GPT scheduler (its queue wait starts).
    pub queued_at: std::time::Instant,
}

/// To the GPT scheduler.
pub(crate) enum ToScheduler<V> {
    Segment(Box<SegmentJob<V>>),
    /// The session will send nothing more (closed or cancelled).
    End {
        pipe: Arc<SessionPipe>,
    },
}

impl<V> ToScheduler<V> {
    pub fn pipe(&self) -> &Arc<SessionPipe> {
        match self {
            ToScheduler::Segment(job) => &job.pipe,
            ToScheduler::End { pipe } => pipe,
        }
    }
}

/// To the acoustic scheduler, in each session's order.
pub(crate) enum ToAcoustic<V> {
    /// Decode `chunk`; `tokens` holds the sentence's tokens up to `chunk.end`.
    Chunk { pipe: Arc<SessionPipe>, info: Arc<SegmentInfo<V>>, tokens: Vec<u32>, chunk: Chunk },
    /// The sentence ended right after its last chunk: flush the held-back tail.
    Finish { pipe: Arc<SessionPipe> },
    /// The session is over: send `done`.
    End { pipe: Arc<SessionPipe> },
}

impl<V> ToAcoustic<V> {
    pub fn pipe(&self) -> &Arc<SessionPipe> {
        match self {
            ToAcoustic::Chunk { pipe, .. } | ToAcoustic::Finish { pipe } | ToAcoustic::End { pipe } => pipe,
        }
    }
}
