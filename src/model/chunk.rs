//! Streaming vocoding: the one chunk plan every backend uses. A sentence's semantic tokens arrive
//! one decode step at a time; [`ChunkPlanner`] cuts them into chunks — a small first chunk so
//! audio starts early, growing chunks after — and [`ChunkStitcher`] says which tokens each chunk is
//! decoded from and stitches the decoded chunks into one continuous waveform. The acoustic stage
//! (`model::acoustic`) does the decoding in between.
//!
//! Each chunk `[start, end)` is decoded (SoVITS `enc_p` + flow + HiFi-GAN) together with
//! `left_context` tokens before it, so the convolutions and attention see the audio that was already
//! emitted; only the samples of the new tokens are kept. The last `overlap` tokens of every chunk
//! lack right context (the next tokens do not exist yet), so they are held back and crossfaded with
//! the next chunk's decode of the same positions. Prior noise is drawn per absolute latent frame
//! ([`PriorNoise::Seeded`](crate::model::PriorNoise::Seeded)), so every chunk sees the noise of the whole-utterance decode.
//! Upstream (research/upstream-v2.md §6.2) re-encodes the whole token history per chunk and aligns
//! chunks by cross-correlation; positions here align exactly, so no search is needed.

use crate::model::ModelError;

/// How a sentence's tokens are cut into vocoder chunks. Counted in tokens only, never in time,
/// so the audio of a session does not depend on how busy the server was.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPlan {
    /// Tokens in the first chunk (first audio after this many decode steps).
    pub first_tokens: usize,
    /// Each later chunk is this many times the previous one…
    pub growth: f32,
    /// …up to this many tokens.
    pub max_tokens: usize,
    /// Already-emitted tokens decoded again before each chunk.
    pub left_context: usize,
    /// Tokens at the end of each chunk held back and crossfaded into the next chunk.
    pub overlap: usize,
}

impl Default for ChunkPlan {
    fn default() -> Self {
        ChunkPlan { first_tokens: 8, growth: 2.0, max_tokens: 64, left_context: 24, overlap: 4 }
    }
}

impl ChunkPlan {
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::Input(format!("chunk plan: {why}")));
        if self.first_tokens == 0 || self.max_tokens < self.first_tokens {
            return bad(format!("need 1 <= first_tokens ({}) <= max_tokens ({})", self.first_tokens, self.max_tokens));
        }
        if !(self.growth.is_finite() && self.growth >= 1.0) {
            return bad(format!("growth must be >= 1, got {}", self.growth));
        }
        if self.overlap > self.left_context || self.overlap >= self.first_tokens {
            return bad(format!(
                "overlap ({}) must be at most left_context ({}) and below first_tokens ({})",
                self.overlap, self.left_context, self.first_tokens
            ));
        }
        Ok(())
    }

    /// Size of chunk number `index` (0 = first).
    pub fn chunk_tokens(&self, index: usize) -> usize {
        let grown = self.first_tokens as f64 * (self.growth as f64).powi(index.min(64) as i32);
        (grown.round() as usize).min(self.max_tokens)
    }
}

/// The next piece of work of a [`ChunkPlanner`]: new tokens `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    /// No tokens follow: emit everything, hold nothing back.
    pub last: bool,
    pub index: usize,
}

/// Decides the chunks of one sentence from its token count (the scheduler's half of the plan).
#[derive(Debug, Clone)]
pub struct ChunkPlanner {
    plan: ChunkPlan,
    next_start: usize,
    chunks: usize,
    /// `Some(true)` once a chunk marked `last` was handed out, `Some(false)` once the sentence
    /// ended right after a non-last chunk (the stitcher must then [`ChunkStitcher::finish`]).
    done: Option<bool>,
}

impl ChunkPlanner {
    pub fn new(plan: ChunkPlan) -> Result<Self, ModelError> {
        plan.validate()?;
        Ok(ChunkPlanner { plan, next_start: 0, chunks: 0, done: None })
    }

    /// The next chunk to vocode, given `available` tokens so far and whether the sentence's
    /// tokens are complete; `None` while the next chunk is still filling up (or when done).
    pub fn next_chunk(&mut self, available: usize, complete: bool) -> Option<Chunk> {
        if self.done.is_some() || available <= self.next_start {
            return None;
        }
        let want = self.plan.chunk_tokens(self.chunks);
        let end = if complete { available.min(self.next_start + want) } else { self.next_start + want };
        if end > available {
            return None;
        }
        // A short remainder after a full chunk is folded into it rather than decoded alone.
        let end = if complete && available - end < self.plan.first_tokens { available } else { end };
        let chunk = Chunk { start: self.next_start, end, last: complete && end == available, index: self.chunks };
        self.next_start = end;
        self.chunks += 1;
        if chunk.last {
            self.done = Some(true);
        }
        Some(chunk)
    }

    /// Call once the sentence's tokens are complete and [`Self::next_chunk`] returns `None`: true
    /// (once) when the last chunk went out before completion was known, so the stitcher's held-back
    /// tail must be flushed with [`ChunkStitcher::finish`].
    pub fn needs_finish(&mut self, available: usize) -> bool {
        if self.done.is_none() && available == self.next_start {
            self.done = Some(false);
            return self.chunks > 0;
        }
        false
    }
}

/// Per-sentence stitching state (the acoustic stage's half of the plan): where the next chunk must
/// start and the held-back tail.
#[derive(Debug, Clone)]
pub struct ChunkStitcher {
    plan: ChunkPlan,
    /// Output samples per token at this request's speed.
    samples_per_token: f64,
    speed: f32,
    next_start: usize,
    /// Samples of the positions just before `next_start`, not emitted yet.
    tail: Vec<f32>,
    finished: bool,
}

/// The tokens one chunk is decoded from: `[first, chunk.end)` of the sentence, i.e. the chunk with
/// its left context, and the latent frame of `first` in the whole-utterance decode (where its
/// prior noise starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkWindow {
    pub first: usize,
    pub first_frame: usize,
}

impl ChunkStitcher {
    /// `samples_per_token` is the model's output per token at speed 1 (1280 at 32 kHz).
    pub fn new(plan: ChunkPlan, samples_per_token: usize, speed: f32) -> Result<Self, ModelError> {
        plan.validate()?;
        if !(speed.is_finite() && speed > 0.0) {
            return Err(ModelError::Input(format!("speed must be a positive number, got {speed}")));
        }
        Ok(ChunkStitcher {
            plan,
            samples_per_token: samples_per_token as f64 / speed as f64,
            speed,
            next_start: 0,
            tail: Vec::new(),
            finished: false,
        })
    }

    fn position(&self, tokens: usize) -> usize {
        (tokens as f64 * self.samples_per_token).round() as usize
    }

    /// Where `chunk` must be decoded from, given `available` tokens of the sentence so far; an
    /// error when the chunk does not continue this sentence.
    pub fn window(&self, chunk: Chunk, available: usize) -> Result<ChunkWindow, ModelError> {
        if chunk.start != self.next_start || chunk.end > available || chunk.end <= chunk.start || self.finished {
            return Err(ModelError::Input(format!(
                "chunk {}..{} does not continue this sentence (next token {}, {available} tokens{})",
                chunk.start,
                chunk.end,
                self.next_start,
                if self.finished { ", finished" } else { "" }
            )));
        }
        let first = chunk.start.saturating_sub(self.plan.left_context);
        let first_frame = (2.0 * first as f64 / self.speed as f64).round() as usize;
        Ok(ChunkWindow { first, first_frame })
    }

    /// Takes the decode `y` of `chunk`'s [`window`](Self::window) (decoded from token `first`) and
    /// returns the samples that are final now.
    pub fn stitch(&mut self, chunk: Chunk, first: usize, y: &[f32]) -> Vec<f32> {
        // Local sample index ↔ global position: local 0 is global position(first).
        let origin = self.position(first);
        let local = |global: usize| global.saturating_sub(origin).min(y.len());
        let start = local(self.position(chunk.start));
        let keep_end =
            if chunk.last { y.len() } else { local(self.position(chunk.end - self.plan.overlap)) }.max(start);
        let fade_from = start.saturating_sub(self.tail.len());
        let mut out = std::mem::take(&mut self.tail);
        crossfade_into(&mut out, &y[fade_from..start]);
        out.extend_from_slice(&y[start..keep_end]);
        self.tail = y[keep_end..].to_vec();
        self.next_start = chunk.end;
        self.finished = chunk.last;
        out
    }

    /// Ends the sentence when its tokens turned out to be complete after the last chunk was
    /// vocoded: the held-back tail is emitted as it is.
    pub fn finish(&mut self) -> Vec<f32> {
        self.finished = true;
        std::mem::take(&mut self.tail)
    }
}

/// Crossfades `new` into the end of `old` in place (raised-cosine weights summing to one: both
/// are decodes of the same positions, so they are strongly correlated). A shorter `new` only fades
/// `old`'s last samples.
fn crossfade_into(old: &mut [f32], new: &[f32]) {
    let n = new.len().min(old.len());
    let offset = old.len() - n;
    for (k, (o, &x)) in old[offset..].iter_mut().zip(&new[new.len() - n..]).enumerate() {
        let w = 0.5 - 0.5 * (std::f32::consts::PI * (k as f32 + 0.5) / n as f32).cos();
        *o = *o * (1.0 - w) + x * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_grow_then_cap() {
        let plan = ChunkPlan { first_tokens: 4, growth: 2.0, max_tokens: 20, left_context: 8, overlap: 2 };
        let sizes: Vec<usize> = (0..5).map(|i| plan.chunk_tokens(i)).collect();
        assert_eq!(sizes, [4, 8, 16, 20, 20]);
    }

    #[test]
    fn plan_is_checked() {
        assert!(ChunkPlan::default().validate().is_ok());
        for bad in [
            ChunkPlan { first_tokens: 0, ..ChunkPlan::default() },
            ChunkPlan { growth: 0.5, ..ChunkPlan::default() },
            ChunkPlan { overlap: 30, ..ChunkPlan::default() },
            ChunkPlan { max_tokens: 2, ..ChunkPlan::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn next_chunk_waits_for_tokens_and_folds_short_remainders() {
        let fresh = || ChunkPlanner::new(ChunkPlan::default()).unwrap();
        assert_eq!(fresh().next_chunk(7, false), None);
        assert_eq!(fresh().next_chunk(8, false), Some(Chunk { start: 0, end: 8, last: false, index: 0 }));
        assert_eq!(fresh().next_chunk(3, true), Some(Chunk { start: 0, end: 3, last: true, index: 0 }));
        // 8 + 5 left: the 5 are folded into the first chunk.
        assert_eq!(fresh().next_chunk(13, true), Some(Chunk { start: 0, end: 13, last: true, index: 0 }));
        let mut p = fresh();
        assert_eq!(p.next_chunk(20, true), Some(Chunk { start: 0, end: 8, last: false, index: 0 }));
        assert_eq!(p.next_chunk(20, true), Some(Chunk { start: 8, end: 20, last: true, index: 1 }));
        assert_eq!(p.next_chunk(20, true), None);
        assert!(!p.needs_finish(20));
    }

    #[test]
    fn a_sentence_ending_on_a_chunk_boundary_needs_a_finish() {
        let mut p = ChunkPlanner::new(ChunkPlan::default()).unwrap();
        assert!(p.next_chunk(8, false).is_some());
        assert_eq!(p.next_chunk(8, true), None);
        assert!(p.needs_finish(8));
        assert!(!p.needs_finish(8), "only once");
    }

    #[test]
    fn crossfade_moves_from_old_to_new() {
        let mut old = vec![1.0; 8];
        crossfade_into(&mut old, &[0.0; 4]);
        assert_eq!(&old[..4], &[1.0; 4]);
        assert!(old[4] > 0.9 && old[7] < 0.1 && old.windows(2).all(|w| w[1] <= w[0]));
    }
}
