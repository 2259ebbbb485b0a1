//! kernels/attention.cu: the masked prefill attention (hd 32 and 64) against
//! `cpu::t2s::prefill_attention`; the KV cache (filled by the prefill attention, appended by the
//! decode attention), split decode attention and slot counters, launched in `CudaT2s`'s order,
//! against `CpuT2sSession` (`store_prefill_kv`, `append_kv`, `advance`) and
//! `cpu::t2s::decode_attention`, with the cache contents and counters exact.

use half::f16;
use sovits_rt::cpu::t2s::{decode_attention, prefill_attention, CpuT2sSession};
use sovits_rt::cuda::ops::prefill_attention_launch;
use sovits_rt::cuda::t2s_kernels::{
    advance_slots_launch, decode_attention_launch, AttentionGrid, AttentionScratch, LayerCache, StepRows,
    DECODE_HEAD_DIM,
};
use sovits_rt::model::t2s::T2sConfig;
use sovits_rt::tensor::Tensor;

use crate::case::Case;
use crate::inputs::{nan16, ulp16, widen, Rng};

const ATTENTION_TOLERANCE: &str = "1 ulp16 + 2e-5*max|v|";

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for hd in [32, 64] {
        cases.extend(PREFILL_CASES.iter().map(|c| prefill_case(hd, c)));
    }
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        cases.extend(decode_cases(i + 1, scenario));
    }
    cases.extend(ADVANCE_CASES.iter().map(advance_case));
    cases
}

// ---- Prefill: grid (ceil(S/64), heads), block 64.

struct PrefillCase {
    s: usize,
    n_text: usize,
    /// Keys grow with their index: the running max changes at almost every key.
    rising: bool,
}

const fn prefill(s: usize, n_text: usize, rising: bool) -> PrefillCase {
    PrefillCase { s, n_text, rising }
}

const PREFILL_CASES: [PrefillCase; 10] = [
    prefill(1, 1, false),
    prefill(63, 63, false),
    prefill(63, 20, false),
    prefill(64, 64, false),
    prefill(64, 1, false),
    prefill(65, 64, false),
    prefill(65, 65, false),
    prefill(65, 3, false),
    prefill(130, 129, true),
    prefill(130, 5, true),
];
const PREFILL_HEADS: usize = 2;

fn prefill_case(hd: usize, c: &PrefillCase) -> Case {
    let (s, d) = (c.s, PREFILL_HEADS * hd);
    let rising = if c.rising { " rising keys" } else { "" };
    let config = format!("hd={hd} heads={PREFILL_HEADS} S={s} n_text={}{rising}", c.n_text);
    let mut rng = Rng::new(&config);
    let mut qkv = Vec::with_capacity(s * 3 * d);
    for row in 0..s {
        for col in 0..3 * d {
            let mut v = rng.uniform(-1.0, 1.0);
            if col < 2 * d {
                v *= 2.0; // Q and K: scores of a few units
            }
            if c.rising && (d..2 * d).contains(&col) {
                v += 0.05 * row as f32 * if col % 2 == 1 { 1.0 } else { 0.5 };
            }
            qkv.push(f16::from_f32(v));
        }
    }
    let kernel = format!("prefill_attention_hd{hd}_f16");
    let mut case = Case::new(kernel, config, ATTENTION_TOLERANCE);
    let (qkv_dev, out) = (case.buffer("qkv", &qkv), case.buffer("out", &nan16(s * d)));
    let launch = prefill_attention_launch(qkv_dev, out, s, d, PREFILL_HEADS, c.n_text, None);
    case.launch(launch.expect("a supported head width"));

    // The twin works channel-first: [3d, S] in, [d, S] out.
    let columns = Tensor::new([s, 3 * d], widen(&qkv)).t();
    let want = Tensor::new([d, s], prefill_attention(columns.data(), d, c.n_text, PREFILL_HEADS)).t();
    let want: Vec<f64> = want.data().iter().map(|&v| f64::from(v)).collect();
    let tol: Vec<f64> = want.iter().map(|&w| ulp16(w) + 2e-5).collect(); // |v| <= 1
    case.expect_near("out", &want, &tol);
    case
}

// ---- Decode: a KV cache of `n_slots` slots (+ the padding slot) × max_ctx positions, filled by
// the prefill attention of each prompt, then decode steps of some slots plus padding rows (the
// graphs' unused rows). A step is the two launches of `CudaT2s`'s step around the attention:
// decode_attention_hd32_f16 (which appends the newest K and V) and advance_slots.

const DECODE_HEADS: usize = 2;
const D: usize = DECODE_HEADS * DECODE_HEAD_DIM;
/// Q, K, V entries are in [-MAX_V, MAX_V).
const MAX_V: f32 = 2.0;

struct Step {
    /// The batch's real rows, in row order.
    slots: &'static [usize],
    /// Rows of the padding slot after them.
    padding: usize,
    /// Pieces per head (`AttentionGrid::splits`; the GPU picks them from the batch size).
    splits: usize,
}

struct Scenario {
    max_ctx: usize,
    n_slots: usize,
    /// `(slot, prompt length)`; other slots start empty.
    prefill: &'static [(usize, usize)],
    steps: &'static [Step],
}

/// Lengths straddle the 4 warps' 128-position rounds and the 32-position piece rounding, batches of 1 to 8
/// rows give 32 down to 4 pieces per head: after its step a slot attends to n = len + 1
/// positions; the first scenario ends with one slot at n = max_ctx.
const SCENARIOS: [Scenario; 2] = [
    Scenario {
        max_ctx: 1024,
        n_slots: 7,
        prefill: &[(3, 1), (0, 255), (5, 256), (1, 257), (6, 600), (2, 1022)],
        steps: &[
            Step { slots: &[5, 3, 6, 0, 1, 2], padding: 2, splits: 4 },
            Step { slots: &[2, 1], padding: 2, splits: 32 },
            Step { slots: &[3], padding: 0, splits: 3 },
        ],
    },
    Scenario {
        max_ctx: 1024,
        n_slots: 5,
        prefill: &[(0, 254), (2, 511), (3, 767)],
        // One piece per head: up to 770 positions, 6 or 7 runs of 32 per warp.
        steps: &[
            Step { slots: &[4, 0, 2, 3], padding: 4, splits: 1 },
            Step { slots: &[3, 2, 4, 0], padding: 0, splits: 2 },
            Step { slots: &[2, 3, 0], padding: 1, splits: 1 },
        ],
    },
];

/// A scenario's state between its cases: the device's cache and slot counters as the cases
/// leave them, and each slot's CPU session (the twin).
struct DecodeState {
    max_ctx: usize,
    n_slots: usize,
    keys: Vec<f16>,
    values: Vec<f16>,
    sessions: Vec<CpuT2sSession>,
}

/// The twin's model shape: one layer of the decode kernels' head width.
fn decode_config() -> T2sConfig {
    T2sConfig { n_layer: 1, d_model: D, n_head: DECODE_HEADS, ..T2sConfig::v2() }
}

/// The padding slot's audio position: never advanced.
const PADDING_POS: i32 = 100;

impl DecodeState {
    fn new(max_ctx: usize, n_slots: usize) -> Self {
        let cache = (n_slots + 1) * max_ctx * D;
        // Audio positions: only their increments matter.
        let sessions = (0..n_slots).map(|s| CpuT2sSession::new(&decode_config(), 200 + s)).collect();
        DecodeState { max_ctx, n_slots, keys: nan16(cache), values: nan16(cache), sessions }
    }

    /// The device's slot counters, the padding slot (never advanced) last.
    fn slot_len(&self) -> Vec<i32> {
        self.sessions.iter().map(|s| s.len() as i32).chain([0]).collect()
    }

    fn slot_pos(&self) -> Vec<i32> {
        self.sessions.iter().map(|s| s.audio_pos() as i32).chain([PADDING_POS]).collect()
    }

    /// The caches as buffers of `case`.
    fn cache(&self, case: &mut Case) -> LayerCache {
        LayerCache {
            keys: case.buffer("k_cache", &self.keys),
            values: case.buffer("v_cache", &self.values),
            max_ctx: self.max_ctx,
            d: D,
        }
    }

    /// Copies the K and V parts of a qkv row to `(slot, pos)` of the caches, as the kernel must.
    fn store(&mut self, slot: usize, pos: usize, qkv_row: &[f16]) {
        let at = (slot * self.max_ctx + pos) * D;
        self.keys[at..at + D].copy_from_slice(&qkv_row[D..2 * D]);
        self.values[at..at + D].copy_from_slice(&qkv_row[2 * D..]);
    }

    fn expect_cache(&self, case: &mut Case) {
        case.expect_exact("k_cache", &self.keys);
        case.expect_exact("v_cache", &self.values);
    }
}

fn decode_cases(index: usize, sc: &Scenario) -> Vec<Case> {
    let mut state = DecodeState::new(sc.max_ctx, sc.n_slots);
    let prompts: String = sc.prefill.iter().map(|(slot, len)| format!(" {slot}:{len}")).collect();
    let config = format!("#{index} max_ctx={} slot:len{prompts}", sc.max_ctx);
    let mut cases = vec![prefill_store_case(&mut state, sc.prefill, config)];
    for step in sc.steps {
        cases.push(decode_step_case(&mut state, index, step));
    }
    cases
}

/// The prefill attention of each prompt storing its K and V into the prompt's slot: one launch
/// per prompt (audio from row 1: the mask is the GPT's).
fn prefill_store_case(state: &mut DecodeState, prompts: &[(usize, usize)], config: String) -> Case {
    let mut rng = Rng::new(&config);
    let tolerance = format!("{ATTENTION_TOLERANCE}; cache exact");
    let mut case = Case::new("prefill_attention_hd32_f16 (+ KV cache)", config, tolerance);
    let cache = state.cache(&mut case);
    for &(slot, len) in prompts {
        let qkv = rng.halves(len * 3 * D, -MAX_V, MAX_V);
        let qkv_dev = case.buffer(&format!("qkv.{slot}"), &qkv);
        let out = case.buffer(&format!("out.{slot}"), &nan16(len * D));
        let launch = prefill_attention_launch(qkv_dev, out, len, D, DECODE_HEADS, 1, Some(cache.slot(slot)));
        case.launch(launch.expect("the decode head width"));
        let columns = Tensor::new([len, 3 * D], widen(&qkv)).t();
        let want = Tensor::new([D, len], prefill_attention(columns.data(), D, 1, DECODE_HEADS)).t();
        let want: Vec<f64> = want.data().iter().map(|&v| f64::from(v)).collect();
        let tol: Vec<f64> = want.iter().map(|&w| ulp16(w) + 2e-5 * f64::from(MAX_V)).collect();
        case.expect_near(&format!("out.{slot}"), &want, &tol);
        let (k, v) = (&columns.data()[D * len..2 * D * len], &columns.data()[2 * D * len..]);
        state.sessions[slot].store_prefill_kv(0, k, v);
        for (pos, row) in qkv.chunks_exact(3 * D).enumerate() {
            state.store(slot, pos, row);
        }
    }
    state.expect_cache(&mut case);
    case
}

fn decode_step_case(state: &mut DecodeState, scenario: usize, step: &Step) -> Case {
    let (real, n_slots) = (step.slots.len(), state.n_slots);
    let rows = real + step.padding;
    let lengths: Vec<String> = step.slots.iter().map(|&s| (state.sessions[s].len() + 1).to_string()).collect();
    let config = format!("#{scenario} n=[{}] +{} padding, {} pieces", lengths.join(" "), step.padding, step.splits);
    let mut rng = Rng::new(&config);
    // Padding rows are all alike (same token, same position).
    let pad_row = rng.halves(3 * D, -MAX_V, MAX_V);
    let mut qkv = rng.halves(real * 3 * D, -MAX_V, MAX_V);
    for _ in 0..step.padding {
        qkv.extend_from_slice(&pad_row);
    }
    let row_slot: Vec<i32> =
        step.slots.iter().map(|&s| s as i32).chain((0..step.padding).map(|_| n_slots as i32)).collect();
    let grid = AttentionGrid { heads: DECODE_HEADS, splits: step.splits };

    let tolerance = format!("{ATTENTION_TOLERANCE}; cache exact");
    let mut case = Case::new("decode_attention(+append)+advance", config, tolerance);
    let cache = state.cache(&mut case);
    let qkv_dev = case.buffer("qkv", &qkv);
    let step_rows = StepRows { row_slot: case.buffer("row_slot", &row_slot), rows };
    let (slot_len, slot_pos) = (case.buffer("slot_len", &state.slot_len()), case.buffer("slot_pos", &state.slot_pos()));
    let partial = case.buffer("partial", &vec![f32::NAN; rows * DECODE_HEADS * step.splits * (DECODE_HEAD_DIM + 2)]);
    let counters = case.buffer("counters", &vec![0i32; rows * DECODE_HEADS]);
    let out = case.buffer("out", &nan16(rows * D));
    let scratch = AttentionScratch { partial, counters };
    case.launch(decode_attention_launch(cache, qkv_dev, step_rows, slot_len, grid, scratch, out));
    case.launch(advance_slots_launch(step_rows, slot_len, slot_pos, n_slots));

    // The twin: each real row's K/V appended to its slot's session, attention over it, then the
    // session advanced; padding rows attend over the padding slot's one position (its row 0,
    // rewritten every step).
    let mut want = Vec::with_capacity(rows * D);
    for (r, row) in qkv.chunks_exact(3 * D).enumerate() {
        let (row_f32, slot) = (widen(row), row_slot[r] as usize);
        state.store(slot, if r < real { state.sessions[slot].len() } else { 0 }, row);
        let mut padding = CpuT2sSession::new(&decode_config(), 0);
        let session = if r < real { &mut state.sessions[slot] } else { &mut padding };
        session.append_kv(0, &row_f32[D..2 * D], &row_f32[2 * D..]);
        want.extend(decode_attention(&[session], 0, &row_f32, D, DECODE_HEADS));
    }
    for &s in step.slots {
        state.sessions[s].advance();
    }
    let want: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
    let tol: Vec<f64> = want.iter().map(|&w| ulp16(w) + 2e-5 * f64::from(MAX_V)).collect();
    case.expect_near("out", &want, &tol);
    case.expect_exact("counters", &vec![0i32; rows * DECODE_HEADS]);
    case.expect_exact("slot_len", &state.slot_len());
    case.expect_exact("slot_pos", &state.slot_pos());
    state.expect_cache(&mut case);
    case
}

// ---- advance_slots alone: grid ceil(rows/128), block 128, over many slots.

struct AdvanceCase {
    rows: usize,
    n_slots: usize,
    /// Rows past `real` are padding.
    real: usize,
}

const ADVANCE_CASES: [AdvanceCase; 3] = [
    AdvanceCase { rows: 200, n_slots: 300, real: 150 },
    AdvanceCase { rows: 64, n_slots: 64, real: 64 },
    AdvanceCase { rows: 1, n_slots: 1, real: 0 },
];

fn advance_case(c: &AdvanceCase) -> Case {
    let config = format!("rows={} real={} n_slots={}", c.rows, c.real, c.n_slots);
    let mut rng = Rng::new(&config);
    let mut slots: Vec<usize> = (0..c.n_slots).collect();
    rng.shuffle(&mut slots);
    let row_slot: Vec<i32> = (0..c.rows).map(|r| if r < c.real { slots[r] } else { c.n_slots } as i32).collect();
    // Every slot's twin: a session of random length and audio position (a one-channel cache).
    let tiny = T2sConfig { n_layer: 1, d_model: 1, n_head: 1, ..T2sConfig::v2() };
    let mut sessions: Vec<CpuT2sSession> = (0..c.n_slots)
        .map(|_| {
            let (len, pos) = (rng.below(1000), rng.below(1000));
            let mut session = CpuT2sSession::new(&tiny, pos);
            if len > 0 {
                session.store_prefill_kv(0, &vec![0.0; len], &vec![0.0; len]);
            }
            session
        })
        .collect();
    let padding = [rng.below(1000) as i32];
    let counters = |sessions: &[CpuT2sSession], of: fn(&CpuT2sSession) -> usize| -> Vec<i32> {
        sessions.iter().map(|s| of(s) as i32).chain(padding).collect()
    };

    let mut case = Case::new("advance_slots", config, "exact");
    let step = StepRows { row_slot: case.buffer("row_slot", &row_slot), rows: c.rows };
    let slot_len = case.buffer("slot_len", &counters(&sessions, CpuT2sSession::len));
    let slot_pos = case.buffer("slot_pos", &counters(&sessions, CpuT2sSession::audio_pos));
    case.launch(advance_slots_launch(step, slot_len, slot_pos, c.n_slots));
    for &s in &slots[..c.real] {
        sessions[s].advance();
    }
    case.expect_exact("slot_len", &counters(&sessions, CpuT2sSession::len));
    case.expect_exact("slot_pos", &counters(&sessions, CpuT2sSession::audio_pos));
    case
}
