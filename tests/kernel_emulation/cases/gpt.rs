//! The GPT prior's prefill and decode steps exactly as `CudaT2s` launches them
//! (`cuda::t2s_plan`): every kernel in order, on a small random GPT, against `CpuT2s`'s logits.
//! The per-kernel cases check each kernel; these check the wiring between them — operand order,
//! buffers reused across kernels, the in-place residual stream, the fused paths' scratch, the
//! KV cache filled by the prefill and appended by each step, the slots' bookkeeping and the
//! padding rows of a graph's bucket.

use half::f16;
use sovits_rt::cpu::CpuT2s;
use sovits_rt::cuda::ops::{FfnScratch, FUSED_NORM_MAX_ROWS};
use sovits_rt::cuda::runtime::{CudaError, Dev};
use sovits_rt::cuda::t2s_kernels::{decode_partial_len, AttentionScratch};
use sovits_rt::cuda::t2s_plan::{decode_step_launches, prefill_launches, GptBuffers, GptWeights, WeightStore};
use sovits_rt::model::t2s::{T2sConfig, T2sModel};
use sovits_rt::model::{T2sLogits, T2sPrompt};
use sovits_rt::tensor::Tensor;

use crate::case::Case;
use crate::inputs::{narrow, Rng};

/// Two layers of two 32-channel heads, an FFN width that is no multiple of the fused FFN's 32
/// units, a vocabulary that is no multiple of anything.
fn config() -> T2sConfig {
    T2sConfig { n_layer: 2, d_model: 64, n_head: 2, ffn_dim: 200, phoneme_vocab: 40, vocab: 70, bert_dim: 48 }
}

const MAX_CONTEXT: usize = 96;

/// A GPT run: sessions `(n_text, n_prompt)` prefilled one after another into slots `0..`, then
/// `steps` decode steps of all of them together in a bucket of `bucket` rows (the rest padding).
struct GptCase {
    sessions: &'static [(usize, usize)],
    bucket: usize,
    steps: usize,
}

const CASES: [GptCase; 2] = [
    // Fused paths (up to 16 rows): prompts of 12 and 9 rows and one of 65 (the GEMM and the
    // unfused block above 64 rows, two query tiles of the prefill attention); two steps of 3
    // sessions in a bucket of 4.
    GptCase { sessions: &[(5, 7), (9, 0), (30, 35)], bucket: 4, steps: 2 },
    // Above 16 rows: tensor-core products and separate LayerNorms in the step.
    GptCase {
        sessions: &[
            (3, 1),
            (4, 0),
            (5, 2),
            (2, 3),
            (6, 1),
            (3, 4),
            (7, 0),
            (2, 2),
            (4, 4),
            (5, 1),
            (3, 3),
            (6, 0),
            (2, 5),
            (4, 2),
            (3, 0),
            (5, 5),
            (2, 1),
            (4, 3),
        ],
        bucket: 20,
        steps: 1,
    },
];

/// Logits within `LOGITS_ABS + LOGITS_REL·|logit|` of the CPU's: the device keeps activations in
/// f16 between kernels (the CPU in f32), 2^-11 relative per store through two layers.
const LOGITS_ABS: f64 = 1e-2;
const LOGITS_REL: f64 = 5e-3;

pub fn cases() -> Vec<Case> {
    let model = T2sModel::random(config(), 29);
    CASES.iter().map(|c| gpt_case(&model, c)).collect()
}

/// A prompt drawn from `rng`.
fn prompt(c: &T2sConfig, rng: &mut Rng, n_text: usize, n_prompt: usize) -> T2sPrompt {
    T2sPrompt {
        phone_ids: (0..n_text).map(|_| rng.below(c.phoneme_vocab) as u32).collect(),
        bert: Tensor::new([c.bert_dim, n_text], (0..c.bert_dim * n_text).map(|_| rng.uniform(-0.5, 0.5)).collect()),
        prompt_tokens: (0..n_prompt).map(|_| rng.below(c.vocab - 1) as u32).collect(),
    }
}

/// An emulation case as the place of the GPT's weights: each tensor a buffer named after it
/// (f16, as `CudaT2s` uploads them; the random weights are f16 values already).
struct CaseWeights<'a>(&'a mut Case);

impl WeightStore for CaseWeights<'_> {
    fn f16(&mut self, name: &str, values: &[f32]) -> Result<Dev<f16>, CudaError> {
        Ok(self.0.buffer(name, &narrow(values)))
    }
}

fn gpt_case(model: &T2sModel, gc: &GptCase) -> Case {
    let c = &model.config;
    let (d, slots, bucket) = (c.d_model, gc.sessions.len(), gc.bucket);
    let config = format!(
        "{} layers × {d}, {} prompts of {:?} rows, {} steps in a bucket of {bucket}",
        c.n_layer,
        slots,
        gc.sessions.iter().map(|(t, p)| t + p).collect::<Vec<_>>(),
        gc.steps
    );
    let tolerance = format!("logits {LOGITS_ABS} + {LOGITS_REL}·|logit|; slot counters and scratch exact");
    let mut case = Case::new("GPT prefill + decode steps (t2s_plan)", config.clone(), tolerance);
    let mut rng = Rng::new(&config);
    let weights = GptWeights::place(model, &mut CaseWeights(&mut case)).expect("weights as buffers");

    // The prompts, and what the CPU makes of them.
    let prompts: Vec<T2sPrompt> = gc.sessions.iter().map(|&(t, p)| prompt(c, &mut rng, t, p)).collect();
    let cpu = CpuT2s::new(model.clone());
    let mut cpu_sessions = Vec::new();
    let mut prefill_logits = Vec::new();
    for p in &prompts {
        let (session, logits) = cpu.prefill_logits(p).expect("a valid prompt");
        cpu_sessions.push(session);
        prefill_logits.push(logits);
    }

    // Device memory as CudaT2s allocates it: slots + the padding slot, a workspace for the
    // longest prompt or the bucket.
    let rows = gc.sessions.iter().map(|(t, p)| t + p).max().unwrap_or(0).max(bucket);
    let cache = c.n_layer * (slots + 1) * MAX_CONTEXT * d;
    let lengths: Vec<i32> = gc.sessions.iter().map(|&(t, p)| (t + p) as i32).chain([0]).collect();
    let audio_positions: Vec<i32> = gc.sessions.iter().map(|&(_, p)| p as i32).chain([0]).collect();
    let zeros16 = |n: usize| vec![f16::ZERO; n];
    let base = GptBuffers {
        keys: case.buffer("keys", &zeros16(cache)),
        values: case.buffer("values", &zeros16(cache)),
        max_context: MAX_CONTEXT,
        slots,
        // The prefills do not read them; CudaT2s writes them after each prefill.
        slot_len: case.buffer("slot_len", &lengths),
        slot_pos: case.buffer("slot_pos", &audio_positions),
        x: case.buffer("x", &zeros16(rows * d)),
        qkv: case.buffer("qkv", &zeros16(rows * 3 * d)),
        attn: case.buffer("attn", &zeros16(rows * d)),
        proj: case.buffer("proj", &zeros16(rows * d)),
        ffn: case.buffer("ffn", &zeros16(rows * c.ffn_dim)),
        bert: Dev::from_raw(0, 0),
        ids: Dev::from_raw(0, 0),
        row_slot: Dev::from_raw(0, 0),
        logits: Dev::from_raw(0, 0),
        attention: AttentionScratch {
            partial: case.buffer("partial", &vec![0.0f32; decode_partial_len(bucket, c.n_head, MAX_CONTEXT)]),
            counters: case.buffer("attention_counters", &vec![0i32; bucket * c.n_head]),
        },
        norm_counters: case.buffer("norm_counters", &vec![0i32; FUSED_NORM_MAX_ROWS.div_ceil(8)]),
        ffn_scratch: FfnScratch {
            accum: case.buffer("ffn_accum", &vec![0u64; FUSED_NORM_MAX_ROWS * d]),
            counter: case.buffer("ffn_counter", &[0i32]),
        },
    };

    // Each prefill reads its own features and ids and leaves its own logits (CudaT2s rewrites
    // one buffer between prefills; a case's buffers are written once, before the launches).
    for (slot, (p, want)) in prompts.iter().zip(&prefill_logits).enumerate() {
        let bert_rows = p.bert.t();
        let ids: Vec<i32> = p.phone_ids.iter().chain(&p.prompt_tokens).map(|&t| t as i32).collect();
        let buffers = GptBuffers {
            bert: case.buffer(&format!("bert{slot}"), &narrow(bert_rows.data())),
            ids: case.buffer(&format!("ids{slot}"), &ids),
            logits: case.buffer(&format!("prefill_logits{slot}"), &vec![f32::NAN; c.vocab]),
            ..base
        };
        let launches = prefill_launches(&weights, &buffers, p.phone_ids.len(), p.prompt_tokens.len(), slot);
        launches.expect("a supported prompt").into_iter().for_each(|l| case.launch(l));
        expect_logits(&mut case, &format!("prefill_logits{slot}"), std::slice::from_ref(want), 1, c.vocab);
    }

    // The steps: every session with a token of its own, rows in a shuffled slot order, the
    // bucket's spare rows on the padding slot.
    let mut order: Vec<usize> = (0..slots).collect();
    rng.shuffle(&mut order);
    let mut row_slot: Vec<i32> = order.iter().map(|&s| s as i32).collect();
    row_slot.resize(bucket, slots as i32);
    for step in 0..gc.steps {
        let tokens: Vec<u32> = (0..slots).map(|_| rng.below(c.vocab - 1) as u32).collect();
        let mut ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        ids.resize(bucket, 0);
        let buffers = GptBuffers {
            ids: case.buffer(&format!("step{step}_ids"), &ids),
            row_slot: case.buffer(&format!("step{step}_row_slot"), &row_slot),
            logits: case.buffer(&format!("step{step}_logits"), &vec![f32::NAN; bucket * c.vocab]),
            ..base
        };
        let launches = decode_step_launches(&weights, &buffers, bucket).expect("a supported step");
        // The step's shape, as docs/GPU.md describes it: embedding, per layer QKV + attention +
        // 2 kernels up to 16 rows (fused LayerNorm and FFN) or 5 above, LM head, slot advance.
        let per_layer = if bucket <= FUSED_NORM_MAX_ROWS { 4 } else { 7 };
        assert_eq!(launches.len(), 1 + per_layer * c.n_layer + 2, "kernels in a step of {bucket} rows");
        launches.into_iter().for_each(|l| case.launch(l));
        // The CPU steps the same sessions in the same row order.
        let mut by_slot: Vec<Option<&mut _>> = cpu_sessions.iter_mut().map(Some).collect();
        let mut rows_in_order: Vec<&mut _> =
            order.iter().map(|&s| by_slot[s].take().expect("distinct slots")).collect();
        let want = cpu.step_logits(&mut rows_in_order, &tokens).expect("a valid step");
        expect_logits(&mut case, &format!("step{step}_logits"), &want, bucket, c.vocab);
    }
    let advanced = |v: &[i32]| -> Vec<i32> {
        v.iter().enumerate().map(|(s, &n)| if s < slots { n + gc.steps as i32 } else { n }).collect()
    };
    case.expect_exact("slot_len", &advanced(&lengths));
    case.expect_exact("slot_pos", &advanced(&audio_positions));
    case.expect_exact("attention_counters", &vec![0i32; bucket * c.n_head]);
    case.expect_exact("norm_counters", &vec![0i32; FUSED_NORM_MAX_ROWS.div_ceil(8)]);
    case.expect_exact("ffn_accum", &vec![0u64; FUSED_NORM_MAX_ROWS * d]);
    case.expect_exact("ffn_counter", &[0i32]);
    case
}

/// Expects `name` (`[rows, vocab]` f32) to hold `want`'s rows within the logits tolerance, then
/// padding rows (a graph bucket's spare rows, discarded by CudaT2s) that need only be finite.
fn expect_logits(case: &mut Case, name: &str, want: &[Vec<f32>], rows: usize, vocab: usize) {
    let (mut values, mut tolerance) = (Vec::with_capacity(rows * vocab), Vec::with_capacity(rows * vocab));
    for r in 0..rows {
        for i in 0..vocab {
            let (v, tol) = match want.get(r) {
                Some(row) => (f64::from(row[i]), LOGITS_ABS + LOGITS_REL * f64::from(row[i]).abs()),
                None => (0.0, f64::from(f32::MAX)),
            };
            values.push(v);
            tolerance.push(tol);
        }
    }
    case.expect_near(name, &values, &tolerance);
}
