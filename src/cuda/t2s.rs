//! The GPT prior on the GPU in FP16 (research/upstream-v2.md §4): the same function as
//! [`crate::cpu::CpuT2s`], behind the same [`TextToSemantic`] trait, plus a decode path that
//! samples on the device so only token ids cross to the host.
//!
//! Memory is allocated once: a KV cache of `slots` sessions × `max_context` positions per layer
//! (48 KiB per position for the released 24 × 512 model), one workspace sized for the longest
//! prompt or the largest batch, and per-slot state on the device (cache length, audio position,
//! sampler settings and token history). A session owns a slot until it is dropped. Sessions
//! join and leave the batch between steps (continuous batching); a step pads its rows to a
//! power-of-two bucket whose spare rows use a padding slot, so every bucket's whole step —
//! embedding, 24 layers, LM head, position update and optionally the sampler — is captured once
//! as a CUDA graph and replayed with new tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use half::f16;
use parking_lot::{Mutex, MutexGuard};

use super::launch::KernelLaunch;
use super::ops::{FfnScratch, FUSED_NORM_MAX_ROWS};
use super::runtime::{CudaError, Dev, DeviceBuffer, GpuRuntime, Queue, Recording};
use super::t2s_kernels::{
    decode_partial_len, sample_tokens_launch, AttentionScratch, SamplerOutput, SamplerState, StepRows, DECODE_HEAD_DIM,
    MAX_SAMPLER_VOCAB,
};
use super::t2s_plan::{decode_step_launches, prefill_launches, GptBuffers, GptWeights, WeightStore};
use crate::model::sampling::SamplingParams;
use crate::model::t2s::{check_tokens, validate_prompt, Decoder, GenerateOptions, T2sConfig, T2sModel, MAX_STEPS};
use crate::model::{check_decoders, ModelError, T2sLogits, T2sPrompt, TextToSemantic};

/// How much the GPU backend reserves up front.
#[derive(Debug, Clone, PartialEq)]
pub struct CudaT2sOptions {
    /// Sessions that can hold a KV cache at once.
    pub slots: usize,
    /// Positions per session: text + prompt tokens + generated tokens.
    pub max_context: usize,
    /// Most sessions decoded in one step (larger batches run as several steps).
    pub max_batch: usize,
    /// Replay each batch bucket's decode step as a CUDA graph (else launch kernel by kernel).
    pub graphs: bool,
}

impl CudaT2sOptions {
    /// Device memory one decode slot holds for `config`: its keys and values at every layer and
    /// position (f16), its penalty history and its sampler settings.
    pub fn bytes_per_slot(&self, config: &T2sConfig) -> usize {
        let kv = 2 * config.n_layer * self.max_context * config.d_model * std::mem::size_of::<f16>();
        kv + self.max_context * std::mem::size_of::<i32>() + std::mem::size_of::<SamplerSlot>()
    }

    /// What the slots reserve in all (the sessions' slots and the padding slot).
    pub fn reserved_bytes(&self, config: &T2sConfig) -> usize {
        (self.slots + 1) * self.bytes_per_slot(config)
    }
}

impl Default for CudaT2sOptions {
    /// 64 sessions of 3,072 positions (1,572 for phones + reference tokens, 1,500 for upstream's
    /// longest generation): 9 GiB of KV cache for the released model.
    fn default() -> Self {
        CudaT2sOptions { slots: 64, max_context: crate::backend::DEFAULT_GPT_CONTEXT, max_batch: 64, graphs: true }
    }
}

/// The device buffers of the weights, which [`CudaT2s`]'s [`GptWeights`] handles point into.
struct WeightUploads<'q> {
    q: &'q Queue,
    buffers: Vec<DeviceBuffer<f16>>,
}

impl WeightStore for WeightUploads<'_> {
    fn f16(&mut self, _name: &str, values: &[f32]) -> Result<Dev<f16>, CudaError> {
        let buffer = self.q.upload_f16(values)?;
        let handle = buffer.dev();
        self.buffers.push(buffer);
        Ok(handle)
    }
}

/// A slot's sampler settings and progress (`SamplerSlot` in kernels/sampling.cu, byte for byte).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SamplerSlot {
    pub seed: u64,
    pub top_k: i32,
    pub top_p: f32,
    pub temperature: f32,
    pub repetition_penalty: f32,
    /// Steps sampled so far; the kernel increments it.
    pub step: i32,
    /// Tokens in the slot's history row; the kernel appends.
    pub history_len: i32,
}

impl SamplerSlot {
    /// A session's settings before its first step.
    fn new(setup: &SamplerSetup, history_len: usize) -> Self {
        let p = &setup.sampling;
        SamplerSlot {
            seed: setup.seed,
            top_k: p.top_k.min(i32::MAX as usize) as i32,
            top_p: p.top_p,
            temperature: p.temperature,
            repetition_penalty: p.repetition_penalty,
            step: 0,
            history_len: history_len as i32,
        }
    }
}

/// Writes slot `slot`'s sampler settings.
fn write_sampler_slot(q: &Queue, st: &mut DeviceState, slot: usize, settings: &SamplerSlot) -> Result<(), CudaError> {
    q.write(&mut st.sampler, slot * std::mem::size_of::<SamplerSlot>(), bytemuck::bytes_of(settings))
}

/// Everything on the device that steps write: guarded by one lock, as the stream is one queue.
struct DeviceState {
    /// `[layers, slots + 1, max_context, d]`; slot `slots` is the padding slot.
    keys: DeviceBuffer<f16>,
    values: DeviceBuffer<f16>,
    /// Per slot: positions in the cache, next audio position.
    slot_len: DeviceBuffer<i32>,
    slot_pos: DeviceBuffer<i32>,
    /// Per slot: [`SamplerSlot`] bytes and `[max_context]` tokens of penalty history.
    sampler: DeviceBuffer<u8>,
    history: DeviceBuffer<i32>,
    // Workspace, rows = max(max_context, max_batch).
    x: DeviceBuffer<f16>,
    qkv: DeviceBuffer<f16>,
    attn: DeviceBuffer<f16>,
    proj: DeviceBuffer<f16>,
    ffn: DeviceBuffer<f16>,
    bert: DeviceBuffer<f16>,
    ids: DeviceBuffer<i32>,
    row_slot: DeviceBuffer<i32>,
    logits: DeviceBuffer<f32>,
    partial: DeviceBuffer<f32>,
    /// One per 8-row group: how many blocks of a fused product + LayerNorm have finished (zero
    /// between launches).
    norm_counters: DeviceBuffer<i32>,
    /// The fused FFN's scratch (zero between launches): its down product's fixed-point sums for
    /// up to `FUSED_NORM_MAX_ROWS` rows, and how many of its blocks have finished.
    ffn_accum: DeviceBuffer<u64>,
    ffn_counter: DeviceBuffer<i32>,
    /// One per (row, head): how many pieces of the decode attention have finished (zero between
    /// launches).
    attention_counters: DeviceBuffer<i32>,
    /// The sampler's output: tokens in `[0, max_batch)`, EOS flags in `[max_batch, 2·max_batch)`,
    /// so one copy brings both back.
    sampled: DeviceBuffer<i32>,
    graphs: HashMap<(usize, bool), Recording>,
}

/// The GPT prior on one GPU.
pub struct CudaT2s {
    config: T2sConfig,
    options: CudaT2sOptions,
    q: Queue,
    /// The weights as the launch lists take them, uploaded once.
    weights: GptWeights,
    /// Owns the buffers `weights` points into.
    _weight_buffers: Vec<DeviceBuffer<f16>>,
    state: Mutex<DeviceState>,
    free_slots: Arc<Mutex<Vec<usize>>>,
    /// Tells sessions of this model from those of another.
    id: usize,
}

/// One utterance's KV slot. Dropping it frees the slot.
pub struct CudaT2sSession {
    slot: usize,
    model: usize,
    /// Host copies of the device's slot_len / slot_pos.
    len: usize,
    audio_pos: usize,
    /// The slot's device sampler state is this session's (started by `prefill_and_sample` and
    /// advanced by every sampled step since). A session read through `T2sLogits` is not: the
    /// device refuses to sample for it rather than sample from a stale history.
    device_sampler: bool,
    free_slots: Arc<Mutex<Vec<usize>>>,
}

impl std::fmt::Debug for CudaT2sSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaT2sSession").field("slot", &self.slot).field("positions", &self.len).finish()
    }
}

impl Drop for CudaT2sSession {
    fn drop(&mut self) {
        self.free_slots.lock().push(self.slot);
    }
}

impl CudaT2sSession {
    /// Positions in the cache (text + prompt + fed tokens).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A token chosen by the GPU sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledToken {
    pub token: u32,
    /// The sampler's EOS verdict (a sampled EOS, or EOS as the arg-max of the penalised logits).
    pub eos: bool,
}

fn next_model_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl CudaT2s {
    /// Uploads `model` (weights become f16, their checkpoint precision) and reserves `options`'
    /// memory.
    pub fn new(rt: Arc<GpuRuntime>, model: &T2sModel, options: CudaT2sOptions) -> Result<Self, ModelError> {
        let q = rt.queue()?;
        let c = model.config.clone();
        if c.head_dim() != DECODE_HEAD_DIM {
            return Err(ModelError::Device(format!(
                "the GPU decode kernels are built for {DECODE_HEAD_DIM}-channel heads; this GPT has {} (use the CPU backend)",
                c.head_dim()
            )));
        }
        if !c.ffn_dim.is_multiple_of(8) {
            return Err(ModelError::Device(format!(
                "the GPU products read 8 channels at a time; this GPT's FFN has {} (use the CPU backend)",
                c.ffn_dim
            )));
        }
        if c.vocab > MAX_SAMPLER_VOCAB {
            return Err(ModelError::Device(format!(
                "the GPU sampler handles at most {MAX_SAMPLER_VOCAB} audio tokens; this GPT has {}",
                c.vocab
            )));
        }
        if options.slots == 0 || options.max_batch == 0 || options.max_context <= MAX_STEPS {
            return Err(ModelError::Input(format!(
                "GPU options {options:?}: slots and batch must be positive and the context longer than the \
                 {MAX_STEPS} positions kept for generated tokens"
            )));
        }
        let mut uploads = WeightUploads { q: &q, buffers: Vec::new() };
        let weights = GptWeights::place(model, &mut uploads)?;
        let weight_buffers = uploads.buffers;
        let gib = |bytes: usize| bytes as f64 / f64::from(1 << 30);
        let (slot_mib, kv_gib) =
            (options.bytes_per_slot(&c) as f64 / f64::from(1 << 20), gib(options.reserved_bytes(&c)));
        let mut state = Self::allocate(&q, &c, &options).map_err(|e| {
            ModelError::Device(format!(
                "reserving the KV cache ({kv_gib:.1} GiB: {} sessions × {} positions, {slot_mib:.0} MiB each) and \
                 workspace: {e}; serve fewer sessions at once (--max-sessions) or shorter ones (--max-context)",
                options.slots, options.max_context
            ))
        })?;
        tracing::info!(
            "GPT KV cache on the GPU: {} sessions × {} positions = {kv_gib:.2} GiB ({slot_mib:.0} MiB per session)",
            options.slots,
            options.max_context
        );
        // The padding slot samples too (its rows are discarded): give it valid settings.
        let greedy = SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.0 };
        write_sampler_slot(
            &q,
            &mut state,
            options.slots,
            &SamplerSlot::new(&SamplerSetup { sampling: greedy, seed: 0 }, 0),
        )?;
        Ok(CudaT2s {
            weights,
            _weight_buffers: weight_buffers,
            state: Mutex::new(state),
            free_slots: Arc::new(Mutex::new((0..options.slots).rev().collect())),
            id: next_model_id(),
            config: c,
            options,
            q,
        })
    }

    fn allocate(q: &Queue, c: &T2sConfig, o: &CudaT2sOptions) -> Result<DeviceState, CudaError> {
        let (d, slots) = (c.d_model, o.slots + 1);
        let rows = o.max_context.max(o.max_batch);
        let kv = c.n_layer * slots * o.max_context * d;
        Ok(DeviceState {
            keys: q.zeros(kv)?,
            values: q.zeros(kv)?,
            slot_len: q.zeros(slots)?,
            slot_pos: q.zeros(slots)?,
            sampler: q.zeros(slots * std::mem::size_of::<SamplerSlot>())?,
            history: q.zeros(slots * o.max_context)?,
            x: q.zeros(rows * d)?,
            qkv: q.zeros(rows * 3 * d)?,
            attn: q.zeros(rows * d)?,
            proj: q.zeros(rows * d)?,
            ffn: q.zeros(rows * c.ffn_dim)?,
            bert: q.zeros(o.max_context * c.bert_dim)?,
            ids: q.zeros(rows)?,
            row_slot: q.zeros(o.max_batch)?,
            logits: q.zeros(o.max_batch * c.vocab)?,
            partial: q.zeros(decode_partial_len(o.max_batch, c.n_head, o.max_context))?,
            norm_counters: q.zeros(FUSED_NORM_MAX_ROWS.div_ceil(8))?,
            ffn_accum: q.zeros(FUSED_NORM_MAX_ROWS * d)?,
            ffn_counter: q.zeros(1)?,
            attention_counters: q.zeros(o.max_batch * c.n_head)?,
            sampled: q.zeros(2 * o.max_batch)?,
            graphs: HashMap::new(),
        })
    }

    fn take_slot(&self) -> Result<CudaT2sSession, ModelError> {
        let slot = self.free_slots.lock().pop().ok_or_else(|| {
            ModelError::Device(format!(
                "all {} GPU decode slots are in use; wait for a session to end or start with more slots",
                self.options.slots
            ))
        })?;
        Ok(CudaT2sSession {
            slot,
            model: self.id,
            len: 0,
            audio_pos: 0,
            device_sampler: false,
            free_slots: self.free_slots.clone(),
        })
    }

    /// The device state as the launch lists see it.
    fn plan_buffers(&self, st: &DeviceState) -> GptBuffers {
        GptBuffers {
            keys: st.keys.dev(),
            values: st.values.dev(),
            max_context: self.options.max_context,
            slots: self.options.slots,
            slot_len: st.slot_len.dev(),
            slot_pos: st.slot_pos.dev(),
            x: st.x.dev(),
            qkv: st.qkv.dev(),
            attn: st.attn.dev(),
            proj: st.proj.dev(),
            ffn: st.ffn.dev(),
            bert: st.bert.dev(),
            ids: st.ids.dev(),
            row_slot: st.row_slot.dev(),
            logits: st.logits.dev(),
            attention: AttentionScratch { partial: st.partial.dev(), counters: st.attention_counters.dev() },
            norm_counters: st.norm_counters.dev(),
            ffn_scratch: FfnScratch { accum: st.ffn_accum.dev(), counter: st.ffn_counter.dev() },
        }
    }

    /// Queues `launch`, built by one of the `*_launch` builders (see [`Queue::run`]).
    fn run(&self, launch: &KernelLaunch) -> Result<(), CudaError> {
        // SAFETY: every launch passed here comes from a builder of super::t2s_kernels or
        // super::ops, which matches its kernel's signature and checked the operand sizes.
        unsafe { self.q.run(launch) }
    }

    /// The decode step's rows.
    fn step_rows(st: &DeviceState, rows: usize) -> StepRows {
        StepRows { row_slot: st.row_slot.dev(), rows }
    }

    /// Runs the prompt through every layer into `session`'s slot; leaves the last row's
    /// logits in `st.logits[0..V]`.
    fn prefill_into(
        &self,
        st: &mut DeviceState,
        session: &mut CudaT2sSession,
        prompt: &T2sPrompt,
    ) -> Result<(), ModelError> {
        let (n_text, n_prompt) = (prompt.phone_ids.len(), prompt.prompt_tokens.len());
        let rows = n_text + n_prompt;
        let q = &self.q;
        // BERT features arrive channel-first [1024, N]; the projection wants rows.
        let bert_rows = prompt.bert.t();
        let bert: Vec<f16> = bert_rows.data().iter().map(|&v| f16::from_f32(v)).collect();
        q.write(&mut st.bert, 0, &bert)?;
        let ids: Vec<i32> = prompt.phone_ids.iter().chain(&prompt.prompt_tokens).map(|&t| t as i32).collect();
        q.write(&mut st.ids, 0, &ids)?;
        for launch in prefill_launches(&self.weights, &self.plan_buffers(st), n_text, n_prompt, session.slot)? {
            self.run(&launch)?;
        }
        q.write(&mut st.slot_len, session.slot, &[rows as i32])?;
        q.write(&mut st.slot_pos, session.slot, &[n_prompt as i32])?;
        session.len = rows;
        session.audio_pos = n_prompt;
        Ok(())
    }

    /// Checks the prompt, takes a slot and prefills it; returns the session with the device state
    /// still locked (the last row's logits are in `logits[0..V]`).
    fn prefill_locked(&self, prompt: &T2sPrompt) -> Result<(CudaT2sSession, MutexGuard<'_, DeviceState>), ModelError> {
        self.check_prompt(prompt)?;
        let mut session = self.take_slot()?;
        let mut st = self.state.lock();
        self.prefill_into(&mut st, &mut session, prompt)?;
        Ok((session, st))
    }

    /// Validates a prompt and makes sure its session can run upstream's full 1,500 steps in
    /// its slot, so a decode step never meets a full cache (which would fail the whole batch).
    fn check_prompt(&self, prompt: &T2sPrompt) -> Result<(), ModelError> {
        validate_prompt(&self.config, prompt)?;
        let rows = prompt.phone_ids.len() + prompt.prompt_tokens.len();
        if rows + MAX_STEPS > self.options.max_context {
            return Err(ModelError::Input(format!(
                "{rows} phones + prompt tokens leave too little of the GPU context ({} positions, of which {MAX_STEPS} \
                 are kept for generated tokens); split the text into shorter sentences or use a shorter reference clip",
                self.options.max_context
            )));
        }
        Ok(())
    }

    /// Queues one decode step for `rows` rows whose tokens and slots are already in
    /// `st.ids` / `st.row_slot`: everything a CUDA graph captures.
    fn step_launches(&self, st: &DeviceState, rows: usize, sample: bool) -> Result<(), CudaError> {
        for launch in decode_step_launches(&self.weights, &self.plan_buffers(st), rows)? {
            self.run(&launch)?;
        }
        if sample {
            self.sample_launch(st, rows)?;
        }
        Ok(())
    }

    /// Samples one token for each of `rows` rows of `st.logits` (slots in `st.row_slot`).
    fn sample_launch(&self, st: &DeviceState, rows: usize) -> Result<(), CudaError> {
        let batch = self.options.max_batch;
        let state =
            SamplerState { slots: st.sampler.dev(), history: st.history.dev(), history_cap: self.options.max_context };
        let out = SamplerOutput {
            tokens: st.sampled.dev().range(0, batch),
            eos: st.sampled.dev().range(batch, batch),
            probs: None,
        };
        self.run(&sample_tokens_launch(st.logits.dev(), self.config.vocab, Self::step_rows(st, rows), state, out))
    }

    /// Runs one step for up to `max_batch` sessions: writes tokens and slots (padded to the
    /// bucket), replays or captures the bucket's graph, and advances the host mirrors.
    fn run_step(
        &self,
        st: &mut DeviceState,
        sessions: &mut [&mut CudaT2sSession],
        tokens: &[u32],
        sample: bool,
    ) -> Result<(), ModelError> {
        let rows = sessions.len();
        let bucket = if self.options.graphs { rows.next_power_of_two().min(self.options.max_batch) } else { rows };
        let mut slots: Vec<i32> = sessions.iter().map(|s| s.slot as i32).collect();
        slots.resize(bucket, self.options.slots as i32);
        let mut ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        ids.resize(bucket, 0);
        self.q.write(&mut st.row_slot, 0, &slots)?;
        self.q.write(&mut st.ids, 0, &ids)?;
        if self.options.graphs {
            if !st.graphs.contains_key(&(bucket, sample)) {
                let graph = self.q.record(|| self.step_launches(st, bucket, sample))?;
                st.graphs.insert((bucket, sample), graph);
            }
            st.graphs[&(bucket, sample)].replay()?;
        } else {
            self.step_launches(st, bucket, sample)?;
        }
        for s in sessions.iter_mut() {
            s.len += 1;
            s.audio_pos += 1;
        }
        Ok(())
    }

    /// Steps any number of sessions, `max_batch` at a time, collecting `read(state, rows)` of each
    /// group.
    fn run_steps<T>(
        &self,
        sessions: &mut [&mut CudaT2sSession],
        tokens: &[u32],
        sample: bool,
        read: impl Fn(&DeviceState, usize) -> Result<Vec<T>, ModelError>,
    ) -> Result<Vec<T>, ModelError> {
        let mut out = Vec::with_capacity(sessions.len());
        let mut st = self.state.lock();
        let batch = self.options.max_batch;
        for (group, toks) in sessions.chunks_mut(batch).zip(tokens.chunks(batch)) {
            self.run_step(&mut st, group, toks, sample)?;
            out.extend(read(&st, group.len())?);
        }
        Ok(out)
    }

    /// Checks a batch before any device work.
    fn check_batch(&self, sessions: &[&mut CudaT2sSession], tokens: &[u32]) -> Result<(), ModelError> {
        if sessions.len() != tokens.len() {
            return Err(ModelError::Input(format!("{} sessions but {} tokens", sessions.len(), tokens.len())));
        }
        check_tokens(&self.config, tokens, "token")?;
        for s in sessions {
            if s.model != self.id {
                return Err(ModelError::Input("this session was started by a different GPT model".into()));
            }
            if s.len + 1 > self.options.max_context {
                return Err(ModelError::Input(format!(
                    "the session reached the GPU context of {} positions",
                    self.options.max_context
                )));
            }
        }
        Ok(())
    }

    /// Writes a slot's sampler settings and penalty history (prompt tokens).
    fn start_sampler(
        &self,
        st: &mut DeviceState,
        session: &CudaT2sSession,
        prompt: &T2sPrompt,
        setup: &SamplerSetup,
    ) -> Result<(), ModelError> {
        // check_prompt bounded the prompt tokens to the context, the history row's length.
        let history: Vec<i32> = prompt.prompt_tokens.iter().map(|&t| t as i32).collect();
        write_sampler_slot(&self.q, st, session.slot, &SamplerSlot::new(setup, history.len()))?;
        if !history.is_empty() {
            self.q.write(&mut st.history, session.slot * self.options.max_context, &history)?;
        }
        Ok(())
    }

    fn read_sampled(&self, st: &DeviceState, rows: usize) -> Result<Vec<SampledToken>, ModelError> {
        let out = self.q.read(&st.sampled, 2 * self.options.max_batch)?;
        let (tokens, eos) = out.split_at(self.options.max_batch);
        Ok(tokens[..rows].iter().zip(eos).map(|(&t, &e)| SampledToken { token: t as u32, eos: e != 0 }).collect())
    }

    /// Prefill, then the first token sampled on the device with `setup`'s settings.
    pub fn prefill_and_sample(
        &self,
        prompt: &T2sPrompt,
        setup: &SamplerSetup,
    ) -> Result<(CudaT2sSession, SampledToken), ModelError> {
        setup.sampling.validate()?;
        let (mut session, mut st) = self.prefill_locked(prompt)?;
        self.start_sampler(&mut st, &session, prompt, setup)?;
        session.device_sampler = true;
        self.q.write(&mut st.row_slot, 0, &[session.slot as i32])?;
        self.sample_launch(&st, 1)?;
        let first = self.read_sampled(&st, 1)?[0];
        Ok((session, first))
    }

    /// Feeds `tokens[i]` to `sessions[i]` and samples each session's next token on the device.
    pub fn step_and_sample(
        &self,
        sessions: &mut [&mut CudaT2sSession],
        tokens: &[u32],
    ) -> Result<Vec<SampledToken>, ModelError> {
        self.check_batch(sessions, tokens)?;
        if sessions.iter().any(|s| !s.device_sampler) {
            return Err(ModelError::Input(
                "a session started by `prefill_logits`, or stepped by `step_logits`, cannot be sampled on the device"
                    .into(),
            ));
        }
        self.run_steps(sessions, tokens, true, |st, rows| self.read_sampled(st, rows))
    }
}

/// What the device sampler needs of a request besides its prompt: settings and seed. (The
/// repetition penalty's history starts from the prompt's tokens.)
#[derive(Debug, Clone)]
pub struct SamplerSetup {
    pub sampling: SamplingParams,
    pub seed: u64,
}

impl SamplerSetup {
    pub fn new(options: &GenerateOptions) -> Self {
        SamplerSetup { sampling: options.sampling.clone(), seed: options.seed }
    }
}

/// The GPU samples on the device: only token ids and EOS flags come back; `decoder` applies the
/// stop rules to them.
impl TextToSemantic for CudaT2s {
    type Session = CudaT2sSession;

    fn config(&self) -> &T2sConfig {
        &self.config
    }

    fn prefill(&self, prompt: &T2sPrompt, decoder: &mut Decoder) -> Result<(CudaT2sSession, Option<u32>), ModelError> {
        let (session, first) = self.prefill_and_sample(prompt, &SamplerSetup::new(decoder.options()))?;
        Ok((session, decoder.accept(first.token, first.eos)?))
    }

    fn step(
        &self,
        sessions: &mut [&mut CudaT2sSession],
        tokens: &[u32],
        decoders: &mut [&mut Decoder],
    ) -> Result<Vec<Result<Option<u32>, ModelError>>, ModelError> {
        check_decoders(sessions.len(), decoders.len())?;
        let sampled = self.step_and_sample(sessions, tokens)?;
        Ok(sampled.iter().zip(decoders).map(|(s, d)| d.accept(s.token, s.eos)).collect())
    }
}

/// The GPU's logits, read back to the host (parity tests).
impl T2sLogits for CudaT2s {
    type Session = CudaT2sSession;

    fn config(&self) -> &T2sConfig {
        &self.config
    }

    fn prefill_logits(&self, prompt: &T2sPrompt) -> Result<(CudaT2sSession, Vec<f32>), ModelError> {
        let (session, st) = self.prefill_locked(prompt)?;
        let logits = self.q.read(&st.logits, self.config.vocab)?;
        Ok((session, logits))
    }

    fn step_logits(&self, sessions: &mut [&mut CudaT2sSession], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.check_batch(sessions, tokens)?;
        // The device sampler did not see this step: its state no longer matches these sessions.
        sessions.iter_mut().for_each(|s| s.device_sampler = false);
        let v = self.config.vocab;
        self.run_steps(sessions, tokens, false, |st, rows| {
            Ok(self.q.read(&st.logits, rows * v)?.chunks_exact(v).map(<[f32]>::to_vec).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The released model's slot: 48 KiB of keys and values per position, plus the history.
    #[test]
    fn a_slot_costs_its_cache_and_history() {
        let options = CudaT2sOptions { slots: 64, max_context: 2048, ..CudaT2sOptions::default() };
        let per_slot = options.bytes_per_slot(&T2sConfig::v2());
        assert_eq!(per_slot, 2048 * 48 * 1024 + 2048 * 4 + std::mem::size_of::<SamplerSlot>());
        assert_eq!(options.reserved_bytes(&T2sConfig::v2()), 65 * per_slot);
    }
}
