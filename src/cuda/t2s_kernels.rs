//! The GPT prior's own kernels as launches ([`KernelLaunch`]): embeddings with sine positions
//! (kernels/embed.cu), the KV cache, split decode attention and slot counters
//! (kernels/attention.cu) and the sampler (kernels/sampling.cu). Each builder checks its
//! operands and says which kernel signature its argument list matches; [`super::t2s`] runs
//! them, and the emulation test runs the same launches without a GPU.

use half::f16;

use super::launch::{Arg, KernelLaunch};
use super::ops::PromptCache;
use super::runtime::Dev;
use super::t2s::SamplerSlot;
use crate::model::t2s::EOS_BLOCKED_STEPS;

/// Blocks the split decode attention aims for in one step: a few per SM of a large GPU (132 on
/// an H100/H200), so a single session's attention fills the GPU.
const DECODE_TARGET_BLOCKS: usize = 512;

/// Head width the decode attention kernels are built for (512 channels / 16 heads).
pub const DECODE_HEAD_DIM: usize = 32;

/// Threads per block of the decode attention (`DECODE_THREADS` in kernels/attention.cu).
const DECODE_THREADS: u32 = 128;

/// Largest vocabulary the sampler's shared-memory arrays hold (kernels/sampling.cu).
pub const MAX_SAMPLER_VOCAB: usize = 2048;

/// An embedding table `[vocab, d]` on the device and the scale of the sine positions added to
/// its rows.
#[derive(Debug, Clone, Copy)]
pub struct PositionalEmbedding {
    pub table: Dev<f16>,
    pub alpha: f32,
    pub d: usize,
}

/// The rows of a decode step: row `b` belongs to slot `row_slot[b]`.
#[derive(Debug, Clone, Copy)]
pub struct StepRows {
    pub row_slot: Dev<i32>,
    pub rows: usize,
}

/// One layer's KV cache: keys and values `[slots, max_ctx, d]` (the last slot pads a graph's
/// unused rows).
#[derive(Debug, Clone, Copy)]
pub struct LayerCache {
    pub keys: Dev<f16>,
    pub values: Dev<f16>,
    pub max_ctx: usize,
    pub d: usize,
}

impl LayerCache {
    /// Slots in the cache (the padding slot included).
    fn slots(&self) -> usize {
        self.keys.len() / (self.max_ctx * self.d)
    }

    /// Slot `slot`'s rows, where a prompt's keys and values go.
    pub fn slot(&self, slot: usize) -> PromptCache {
        assert!(slot < self.slots(), "slot {slot} of a cache of {} slots", self.slots());
        let rows = self.max_ctx * self.d;
        PromptCache { keys: self.keys.range(slot * rows, rows), values: self.values.range(slot * rows, rows) }
    }
}

/// The device sampler's per-slot state: [`SamplerSlot`] bytes and `history_cap` tokens of
/// penalty history per slot.
#[derive(Debug, Clone, Copy)]
pub struct SamplerState {
    pub slots: Dev<u8>,
    pub history: Dev<i32>,
    pub history_cap: usize,
}

/// Where the sampler writes: a token and an EOS flag per row, and the final probabilities
/// `[rows, vocab]` when asked (tests).
#[derive(Debug, Clone, Copy)]
pub struct SamplerOutput {
    pub tokens: Dev<i32>,
    pub eos: Dev<i32>,
    pub probs: Option<Dev<f32>>,
}

/// `out[r] = (accumulate ? out[r] : 0) + table[ids[r]] + α·PE[pos]` for `rows` rows, `pos = r` for
/// a prompt, else `slot_pos[row_slot[r]]` (`positions`: a decode step's `(row_slot, slot_pos)`):
/// matches `embed_positions_f16(out, accumulate, table, ids, row_slot, slot_pos,
/// alpha, rows, d)`, one block of 128 threads per row.
pub fn embed_positions_launch(
    embedding: PositionalEmbedding,
    ids: Dev<i32>,
    positions: Option<(Dev<i32>, Dev<i32>)>,
    rows: usize,
    out: Dev<f16>,
    accumulate: bool,
) -> KernelLaunch {
    let d = embedding.d;
    assert!(d > 0 && d.is_multiple_of(2) && embedding.table.len().is_multiple_of(d), "embedding table width {d}");
    assert!(ids.len() >= rows && out.len() >= rows * d, "embedding operands too small for {rows} rows");
    assert!(positions.is_none_or(|(row_slot, _)| row_slot.len() >= rows), "embedding row slots");
    let (row_slot, slot_pos) = match positions {
        Some((row_slot, slot_pos)) => (Arg::ptr(row_slot), Arg::ptr(slot_pos)),
        None => (Arg::NULL, Arg::NULL),
    };
    let args = vec![
        Arg::ptr(out),
        Arg::I32(accumulate as i32),
        Arg::ptr(embedding.table),
        Arg::ptr(ids),
        row_slot,
        slot_pos,
        Arg::F32(embedding.alpha),
        Arg::int(rows),
        Arg::int(d),
    ];
    KernelLaunch { kernel: "embed_positions_f16", grid: (rows as u32, 1, 1), block: 128, args }
}

/// The decode attention's working memory: each piece's (weighted values, max, sum), and one
/// counter per (row, head) of the pieces finished, zero between launches.
#[derive(Debug, Clone, Copy)]
pub struct AttentionScratch {
    pub partial: Dev<f32>,
    pub counters: Dev<i32>,
}

/// Each row's query (in `qkv [rows, 3d]`) against its slot's cache, positions `0..=slot_len`,
/// the newest (`slot_len`) read from `qkv` and appended to the cache on the way: matches
/// `decode_attention_hd32_f16(qkv, k_cache, v_cache, row_slot, slot_len, partial, counters, out,
/// d, max_ctx, n_splits, scale)` on grid `(heads, rows, n_splits)` × 128 threads with `n_splits`
/// = `grid.splits` (the kernel cuts each session's *live* positions into that many pieces;
/// [`AttentionGrid::for_step`] picks it); the last piece of each (row, head) merges them into
/// `out`. `scratch.partial` holds `rows · heads · n_splits · (hd + 2)` floats, `scratch.counters`
/// `rows · heads` zeros.
pub fn decode_attention_launch(
    cache: LayerCache,
    qkv: Dev<f16>,
    step: StepRows,
    slot_len: Dev<i32>,
    grid: AttentionGrid,
    scratch: AttentionScratch,
    out: Dev<f16>,
) -> KernelLaunch {
    let (d, max_ctx, rows) = (cache.d, cache.max_ctx, step.rows);
    let AttentionGrid { heads, splits } = grid;
    assert!(splits >= 1, "the decode attention needs at least one piece per head");
    assert!(heads * DECODE_HEAD_DIM == d, "decode attention is built for {DECODE_HEAD_DIM}-channel heads");
    assert!(cache.keys.len() == cache.slots() * max_ctx * d && cache.values.len() == cache.keys.len(), "KV cache");
    assert!(step.row_slot.len() >= rows && slot_len.len() >= cache.slots(), "decode step slots");
    assert!(
        qkv.len() >= rows * 3 * d
            && out.len() >= rows * d
            && scratch.partial.len() >= rows * heads * splits * (DECODE_HEAD_DIM + 2)
            && scratch.counters.len() >= rows * heads,
        "decode attention operands too small for {rows} rows"
    );
    KernelLaunch {
        kernel: "decode_attention_hd32_f16",
        grid: (heads as u32, rows as u32, splits as u32),
        block: DECODE_THREADS,
        args: vec![
            Arg::ptr(qkv),
            Arg::ptr(cache.keys),
            Arg::ptr(cache.values),
            Arg::ptr(step.row_slot),
            Arg::ptr(slot_len),
            Arg::ptr(scratch.partial),
            Arg::ptr(scratch.counters),
            Arg::ptr(out),
            Arg::int(d),
            Arg::int(max_ctx),
            Arg::int(splits),
            Arg::F32(1.0 / (DECODE_HEAD_DIM as f32).sqrt()),
        ],
    }
}

/// How the split decode attention divides a step: heads per row, pieces per head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionGrid {
    pub heads: usize,
    pub splits: usize,
}

impl AttentionGrid {
    /// The grid for a step of `rows` rows: enough blocks to fill the GPU at small batches
    /// ([`DECODE_TARGET_BLOCKS`]), one piece per head once the batch alone fills it, never more
    /// pieces than 32-position runs of the context. A function of the batch bucket only, so each
    /// bucket's CUDA graph keeps its grid.
    pub fn for_step(rows: usize, heads: usize, max_ctx: usize) -> Self {
        let splits = DECODE_TARGET_BLOCKS.div_ceil((rows * heads).max(1)).clamp(1, max_ctx.div_ceil(32).max(1));
        AttentionGrid { heads, splits }
    }
}

/// Floats of the decode attention's `partial` buffer for steps of up to `max_rows` rows.
pub fn decode_partial_len(max_rows: usize, heads: usize, max_ctx: usize) -> usize {
    let pieces = |rows: usize| rows * AttentionGrid::for_step(rows, heads, max_ctx).splits;
    (1..=max_rows).map(pieces).max().unwrap_or(0) * heads * (DECODE_HEAD_DIM + 2)
}

/// After a decode step every real slot (`< n_slots`; the padding slot is skipped) gained a cached
/// position and an audio position: matches `advance_slots(row_slot, slot_len, slot_pos, rows,
/// n_slots)`, one thread per row in blocks of 128.
pub fn advance_slots_launch(step: StepRows, slot_len: Dev<i32>, slot_pos: Dev<i32>, n_slots: usize) -> KernelLaunch {
    assert!(step.row_slot.len() >= step.rows, "row slots");
    assert!(slot_len.len() >= n_slots && slot_pos.len() >= n_slots, "slot counters smaller than {n_slots} slots");
    let args =
        vec![Arg::ptr(step.row_slot), Arg::ptr(slot_len), Arg::ptr(slot_pos), Arg::int(step.rows), Arg::int(n_slots)];
    KernelLaunch { kernel: "advance_slots", grid: (step.rows.div_ceil(128) as u32, 1, 1), block: 128, args }
}

/// Samples one token per row from `logits [rows, vocab]` with its slot's settings, appends it to
/// the slot's history and advances the slot's step (EOS blocked for [`EOS_BLOCKED_STEPS`]
/// steps): matches `sample_tokens_f32(logits, vocab, row_slot, slots, history, history_cap,
/// eos_blocked_steps, tokens_out, eos_out, probs_out)`, one block of 1,024 threads per row.
pub fn sample_tokens_launch(
    logits: Dev<f32>,
    vocab: usize,
    step: StepRows,
    state: SamplerState,
    out: SamplerOutput,
) -> KernelLaunch {
    let rows = step.rows;
    let slot_bytes = std::mem::size_of::<SamplerSlot>();
    let slots = state.slots.len() / slot_bytes;
    assert!((1..=MAX_SAMPLER_VOCAB).contains(&vocab), "the sampler takes 1 to {MAX_SAMPLER_VOCAB} tokens");
    assert!(logits.len() >= rows * vocab && step.row_slot.len() >= rows, "sampler rows");
    assert!(
        state.slots.len() == slots * slot_bytes && state.history.len() >= slots * state.history_cap,
        "sampler state is not {slots} slots of settings and {} history tokens",
        state.history_cap
    );
    assert!(
        out.tokens.len() >= rows && out.eos.len() >= rows && out.probs.is_none_or(|p| p.len() >= rows * vocab),
        "sampler outputs too small for {rows} rows"
    );
    let args = vec![
        Arg::ptr(logits),
        Arg::int(vocab),
        Arg::ptr(step.row_slot),
        Arg::ptr(state.slots),
        Arg::ptr(state.history),
        Arg::int(state.history_cap),
        Arg::int(EOS_BLOCKED_STEPS),
        Arg::ptr(out.tokens),
        Arg::ptr(out.eos),
        Arg::opt(out.probs),
    ];
    KernelLaunch { kernel: "sample_tokens_f32", grid: (rows as u32, 1, 1), block: 1024, args }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One session fills the GPU with pieces, a full batch takes one piece per head, and the
    /// partial buffer holds every bucket's pieces.
    #[test]
    fn the_attention_grid_follows_the_batch() {
        let (heads, ctx) = (16, 3072);
        assert_eq!(AttentionGrid::for_step(1, heads, ctx).splits, 32);
        assert_eq!(AttentionGrid::for_step(64, heads, ctx).splits, 1);
        assert_eq!(AttentionGrid::for_step(1, heads, 100).splits, 4, "no more pieces than 32-position runs");
        let len = decode_partial_len(64, heads, ctx);
        for rows in 1..=64 {
            let grid = AttentionGrid::for_step(rows, heads, ctx);
            assert!(rows * heads * grid.splits >= DECODE_TARGET_BLOCKS.min(rows * heads * ctx.div_ceil(32)));
            assert!(rows * heads * grid.splits * (DECODE_HEAD_DIM + 2) <= len, "{rows} rows");
        }
    }
}
