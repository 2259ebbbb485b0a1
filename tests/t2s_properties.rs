//! Properties of the CPU GPT prior that need no fixtures, on small seeded random models: the KV
//! cache gives the same logits as recomputing the longer sequence, batching does not change a
//! session's numbers, seeded sampling is reproducible, stop rules hold, bad input is rejected.
mod common;

use common::assert_close_rel;
use sovits_rt::cpu::t2s::CpuT2sSession;
use sovits_rt::cpu::CpuT2s;
use sovits_rt::model::sampling::SamplingParams;
use sovits_rt::model::t2s::{generate, generate_batch, BatchRequest, GenerateOptions, T2sConfig, T2sModel};
use sovits_rt::model::{ModelError, T2sLogits, T2sPrompt};
use sovits_rt::tensor::Tensor;

/// Widths that are not multiples of the kernels' 8 lanes, so every tail path runs.
fn small_config() -> T2sConfig {
    T2sConfig { n_layer: 2, d_model: 36, n_head: 3, ffn_dim: 70, phoneme_vocab: 20, vocab: 50, bert_dim: 12 }
}

fn small_model(seed: u64) -> CpuT2s {
    CpuT2s::new(T2sModel::random(small_config(), seed))
}

fn prompt(c: &T2sConfig, phones: usize, prompt_tokens: usize, salt: u32) -> T2sPrompt {
    let bert = (0..c.bert_dim * phones).map(|i| ((i as u32 * 31 + salt) % 17) as f32 / 17.0 - 0.5).collect();
    T2sPrompt {
        phone_ids: (0..phones as u32).map(|i| (i * 7 + salt) % c.phoneme_vocab as u32).collect(),
        bert: Tensor::new([c.bert_dim, phones], bert),
        prompt_tokens: (0..prompt_tokens as u32).map(|i| (i * 13 + salt) % (c.vocab as u32 - 1)).collect(),
    }
}

fn options(top_k: usize, seed: u64, early_stop: Option<usize>) -> GenerateOptions {
    let sampling = SamplingParams { top_k, top_p: 0.95, temperature: 0.9, repetition_penalty: 1.35 };
    GenerateOptions { sampling, seed, early_stop }
}

fn input_error<T: std::fmt::Debug>(r: Result<T, ModelError>, what: &str) {
    match r {
        Err(ModelError::Input(msg)) => eprintln!("{what}: {msg}"),
        other => panic!("{what}: expected ModelError::Input, got {other:?}"),
    }
}

/// Decoding k tokens through the cache gives the logits of a prefill over the prompt extended
/// by those k tokens, with and without prompt tokens (reference-free mode), down to one phone.
#[test]
fn kv_cache_decode_equals_full_recompute() {
    let model = small_model(1);
    let c = model.config().clone();
    // 60 + 2 and 40 + 30 positions cross the 64-position blocks of the cache.
    for (phones, prompt_tokens) in [(7, 5), (7, 0), (1, 0), (60, 2), (40, 30)] {
        let p = prompt(&c, phones, prompt_tokens, 3);
        let fed = [4u32, 17, 4, 48, 0, 33];
        let (mut session, _) = model.prefill_logits(&p).unwrap();
        for k in 1..=fed.len() {
            let step = model.step_logits(&mut [&mut session], &fed[k - 1..k]).unwrap().remove(0);
            let mut longer = p.clone();
            longer.prompt_tokens.extend_from_slice(&fed[..k]);
            let (full_session, full) = model.prefill_logits(&longer).unwrap();
            assert_eq!(full_session.len(), session.len());
            assert_close_rel(&format!("N={phones}, P={prompt_tokens}, k={k}"), &step, &full, 1e-4);
        }
    }
}

/// Three sessions with different prompts stepped together (then two, after one leaves) give the
/// logits of each stepped alone; seeded generation gives the same tokens batched or alone.
#[test]
fn batch_equals_single() {
    let model = small_model(2);
    let c = model.config().clone();
    let prompts = [prompt(&c, 5, 3, 1), prompt(&c, 9, 8, 2), prompt(&c, 4, 0, 3)];
    let mut batch: Vec<CpuT2sSession> = prompts.iter().map(|p| model.prefill_logits(p).unwrap().0).collect();
    let mut alone: Vec<CpuT2sSession> = prompts.iter().map(|p| model.prefill_logits(p).unwrap().0).collect();
    for step in 0..6u32 {
        let active = if step < 3 { 3 } else { 2 };
        let tokens: Vec<u32> = (0..active as u32).map(|i| (step * 11 + i * 5) % 49).collect();
        let mut refs: Vec<&mut CpuT2sSession> = batch.iter_mut().take(active).collect();
        let together = model.step_logits(&mut refs, &tokens).unwrap();
        for i in 0..active {
            let single = model.step_logits(&mut [&mut alone[i]], &tokens[i..i + 1]).unwrap().remove(0);
            assert_close_rel(&format!("step {step} session {i}"), &together[i], &single, 1e-5);
        }
    }

    let opts = [options(8, 11, Some(7)), options(5, 12, Some(15)), options(50, 13, Some(3))];
    let requests: Vec<BatchRequest> =
        prompts.iter().zip(&opts).map(|(prompt, o)| BatchRequest { prompt, options: o.clone() }).collect();
    let batched = generate_batch(&model, &requests).unwrap();
    let lengths: Vec<usize> = batched.iter().map(|g| g.steps).collect();
    assert!(lengths[0] != lengths[1] && lengths[1] != lengths[2], "sessions should finish apart: {lengths:?}");
    for ((p, o), b) in prompts.iter().zip(&opts).zip(&batched) {
        let single = generate(&model, p, o).unwrap();
        assert_eq!(single.tokens, b.tokens);
        assert_eq!((single.steps, single.eos), (b.steps, b.eos));
    }
}

#[test]
fn seeded_sampling_is_reproducible() {
    let model = small_model(3);
    let p = prompt(model.config(), 6, 4, 5);
    let run = |seed| generate(&model, &p, &options(50, seed, Some(20))).unwrap().tokens;
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// upstream `early_stop_num = n` returns n tokens from n + 1 steps; `0` returns the single
/// token 0 ("bad zero prediction"); without EOS the 1500-step cap returns 1499 tokens.
#[test]
fn stop_rules() {
    let model = small_model(4);
    let p = prompt(model.config(), 6, 4, 7);
    let g = generate(&model, &p, &options(5, 1, Some(9))).unwrap();
    assert_eq!((g.tokens.len(), g.steps, g.eos), (9, 10, false));
    let g = generate(&model, &p, &options(5, 1, Some(0))).unwrap();
    assert_eq!((g.tokens, g.steps, g.eos), (vec![0], 1, false));

    // EOS row zeroed: its logit is 0 while the best other logit is positive, so greedy decoding
    // never ends by EOS.
    let c = small_config();
    let mut m = T2sModel::random(c.clone(), 4);
    let d = c.d_model;
    m.weights.ar_predict_layer.data_mut()[(c.vocab - 1) * d..].fill(0.0);
    let model = CpuT2s::new(m);
    let greedy = SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.0 };
    let g = generate(&model, &p, &GenerateOptions { sampling: greedy, seed: 0, early_stop: None }).unwrap();
    assert!(!g.eos);
    assert_eq!((g.tokens.len(), g.steps), (1499, 1500));
}

#[test]
fn invalid_inputs_are_input_errors() {
    let model = small_model(5);
    let c = model.config().clone();
    let good = prompt(&c, 5, 3, 1);
    let with = |f: &dyn Fn(&mut T2sPrompt)| {
        let mut p = good.clone();
        f(&mut p);
        p
    };
    input_error(model.prefill_logits(&with(&|p| p.phone_ids.clear())), "no phones");
    input_error(model.prefill_logits(&with(&|p| p.phone_ids[2] = c.phoneme_vocab as u32)), "phone id out of range");
    input_error(model.prefill_logits(&with(&|p| p.prompt_tokens[0] = c.vocab as u32)), "prompt token out of range");
    input_error(model.prefill_logits(&with(&|p| p.bert = Tensor::zeros([c.bert_dim + 1, 5]))), "bert width");
    input_error(model.prefill_logits(&with(&|p| p.bert = Tensor::zeros([c.bert_dim, 4]))), "bert length");
    input_error(model.prefill_logits(&with(&|p| p.bert.data_mut()[3] = f32::NAN)), "NaN bert");

    let (mut s, _) = model.prefill_logits(&good).unwrap();
    input_error(model.step_logits(&mut [&mut s], &[c.vocab as u32]), "token out of range");
    input_error(model.step_logits(&mut [&mut s], &[1, 2]), "tokens vs sessions");
    let other = CpuT2s::new(T2sModel::random(T2sConfig { n_layer: 3, ..c.clone() }, 5));
    input_error(other.step_logits(&mut [&mut s], &[1]), "session of another model");

    for sampling in [
        SamplingParams { top_p: f32::NAN, ..SamplingParams::default() },
        SamplingParams { temperature: f32::NAN, ..SamplingParams::default() },
        SamplingParams { repetition_penalty: f32::NAN, ..SamplingParams::default() },
        SamplingParams { top_k: 0, ..SamplingParams::default() },
    ] {
        let o = GenerateOptions { sampling: sampling.clone(), seed: 0, early_stop: None };
        input_error(generate(&model, &good, &o), &format!("{sampling:?}"));
    }
}
