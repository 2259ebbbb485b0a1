//! The GPT prior and BERT on the GPU against the CPU reference: full-size (24 × 512) seeded random
//! weights and the `v2-small` fixture. Needs an NVIDIA GPU; prints SKIP without one (fails instead
//! with `SOVITS_RT_REQUIRE_GPU=1`).
//!
//! Tolerances (fixture README, "Tolerances"): FP16 storage against the f32 reference, logits
//! within 0.05 absolute under teacher forcing; greedy tokens equal up to the first step whose
//! top-1 − top-2 margin is below that; BERT within 2e-2 × max|expected|. The sampler kernel alone
//! is checked against the CPU sampler in tests/gpu_kernels.rs.
use crate::common;

use std::sync::OnceLock;

use common::{assert_close_rel, max_abs};
use sovits_rt::checkpoint::open_gpt;
use sovits_rt::cpu::{CpuBert, CpuT2s};
use sovits_rt::cuda::{CudaBert, CudaT2s, CudaT2sOptions};
use sovits_rt::model::bert::BertWeights;
use sovits_rt::model::rng::{exp1, uniform, Purpose};
use sovits_rt::model::sampling::{probs_from_penalised, SamplingParams};
use sovits_rt::model::t2s::{
    generate, generate_batch, generate_traced, BatchRequest, Decoder, GenerateOptions, StepTrace, T2sConfig, T2sModel,
};
use sovits_rt::model::{Bert, T2sLogits, T2sPrompt, TextToSemantic};
use sovits_rt::tensor::Tensor;

const LOGITS_ABS: f32 = 0.05;
const TEACHER_STEPS: usize = 100;

/// Full-size random model, built once per test binary (uploading 24 layers twice is slow).
fn full_size() -> &'static T2sModel {
    static MODEL: OnceLock<T2sModel> = OnceLock::new();
    MODEL.get_or_init(|| T2sModel::random(T2sConfig::v2(), 11))
}

fn options() -> CudaT2sOptions {
    CudaT2sOptions { slots: 20, max_context: 2048, max_batch: 16, graphs: true }
}

/// A prompt of `n_text` phones and `n_prompt` prompt tokens, drawn from `seed`.
fn random_prompt(c: &T2sConfig, seed: u64, n_text: usize, n_prompt: usize) -> T2sPrompt {
    let u = |step: u32, i: usize| uniform(seed, Purpose::RandomWeights, step, i as u32);
    let phone_ids = (0..n_text).map(|i| (u(1, i) * c.phoneme_vocab as f32) as u32 % c.phoneme_vocab as u32).collect();
    let bert = (0..c.bert_dim * n_text).map(|i| u(2, i) - 0.5).collect();
    let prompt_tokens = (0..n_prompt).map(|i| (u(3, i) * (c.vocab - 1) as f32) as u32 % (c.vocab - 1) as u32).collect();
    T2sPrompt { phone_ids, bert: Tensor::new([c.bert_dim, n_text], bert), prompt_tokens }
}

fn greedy(seed: u64) -> GenerateOptions {
    let sampling = SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.35 };
    GenerateOptions { sampling, seed, early_stop: Some(200) }
}

fn sampled(seed: u64) -> GenerateOptions {
    GenerateOptions { sampling: SamplingParams::default(), seed, early_stop: Some(120) }
}

/// Largest |a − b| over two logit rows.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Prefill and teacher-forced steps of `gpu` against `cpu` on the same prompt; returns the worst
/// logit difference.
fn teacher_forced<C: T2sLogits, G: T2sLogits>(cpu: &C, gpu: &G, prompt: &T2sPrompt, steps: usize) -> f32 {
    let (mut cs, cl) = cpu.prefill_logits(prompt).unwrap();
    let (mut gs, gl) = gpu.prefill_logits(prompt).unwrap();
    let mut worst = max_diff(&cl, &gl);
    println!(
        "prefill ({} positions): max |Δlogit| {worst:.4} (max |logit| {:.2})",
        prompt.phone_ids.len() + prompt.prompt_tokens.len(),
        max_abs(&cl)
    );
    let mut token = sovits_rt::model::sampling::argmax(&cl[..cl.len() - 1]) as u32;
    for _ in 0..steps {
        let c = cpu.step_logits(&mut [&mut cs], &[token]).unwrap().remove(0);
        let g = gpu.step_logits(&mut [&mut gs], &[token]).unwrap().remove(0);
        worst = worst.max(max_diff(&c, &g));
        token = sovits_rt::model::sampling::argmax(&c[..c.len() - 1]) as u32;
    }
    worst
}

#[test]
fn full_size_prefill_and_100_teacher_forced_steps_match_the_cpu() {
    let Some(rt) = common::gpu("full_size_prefill_and_100_teacher_forced_steps_match_the_cpu") else { return };
    let model = full_size();
    let cpu = CpuT2s::new(model.clone());
    let gpu = CudaT2s::new(rt, model, options()).unwrap();
    // 400 positions like the benchmark's prefill; a short reference-free prompt too.
    for (n_text, n_prompt) in [(150, 250), (12, 0)] {
        let prompt = random_prompt(&model.config, 5, n_text, n_prompt);
        let worst = teacher_forced(&cpu, &gpu, &prompt, TEACHER_STEPS);
        println!("{n_text} phones + {n_prompt} prompt tokens, {TEACHER_STEPS} steps: max |Δlogit| {worst:.4}");
        assert!(worst <= LOGITS_ABS, "max |Δlogit| {worst} > {LOGITS_ABS}");
    }
}

#[test]
fn graphs_and_eager_launches_give_the_same_logits() {
    let Some(rt) = common::gpu("graphs_and_eager_launches_give_the_same_logits") else { return };
    let model = full_size();
    let with = CudaT2s::new(rt.clone(), model, options()).unwrap();
    let without = CudaT2s::new(rt, model, CudaT2sOptions { graphs: false, ..options() }).unwrap();
    let prompt = random_prompt(&model.config, 9, 40, 30);
    let worst = teacher_forced(&with, &without, &prompt, 20);
    assert_eq!(worst, 0.0, "a CUDA graph must replay exactly the eager launches");
    // Three sessions sampled on the device: bucket 4, one padding row.
    let prompts: Vec<T2sPrompt> =
        (0..3).map(|i| random_prompt(&model.config, 60 + i, 25 + 9 * i as usize, 15)).collect();
    let requests: Vec<BatchRequest> =
        prompts.iter().enumerate().map(|(i, p)| BatchRequest { prompt: p, options: sampled(i as u64) }).collect();
    let (a, b) = (generate_batch(&with, &requests).unwrap(), generate_batch(&without, &requests).unwrap());
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert_eq!(a.tokens, b.tokens, "session {i}: graph and eager tokens differ");
    }
}

#[test]
fn sessions_join_between_steps_and_batches_beyond_the_limit_are_split() {
    let Some(rt) = common::gpu("sessions_join_between_steps_and_batches_beyond_the_limit_are_split") else { return };
    let model = full_size();
    // max_batch 4 with up to 6 sessions: every step runs as two device steps.
    let gpu = CudaT2s::new(rt, model, CudaT2sOptions { max_batch: 4, ..options() }).unwrap();
    let prompts: Vec<T2sPrompt> =
        (0..6).map(|i| random_prompt(&model.config, 80 + i, 20 + 5 * i as usize, 12)).collect();
    let alone: Vec<Vec<u32>> =
        prompts.iter().enumerate().map(|(i, p)| generate(&gpu, p, &sampled(i as u64)).unwrap().tokens).collect();
    // Five start together; the sixth joins after 7 steps, as the engine's scheduler does.
    let mut decoders: Vec<Decoder> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| Decoder::new(&model.config, &p.prompt_tokens, &sampled(i as u64)).unwrap())
        .collect();
    let mut sessions = Vec::new();
    let mut next = Vec::new();
    for (i, p) in prompts.iter().enumerate().take(5) {
        let (s, first) = gpu.prefill(p, &mut decoders[i]).unwrap();
        sessions.push(Some(s));
        next.push(first);
    }
    for step in 0.. {
        if step == 7 {
            let (s, first) = gpu.prefill(&prompts[5], &mut decoders[5]).unwrap();
            sessions.push(Some(s));
            next.push(first);
        }
        let active: Vec<usize> = (0..next.len()).filter(|&i| next[i].is_some()).collect();
        if active.is_empty() && step > 7 {
            break;
        }
        let feed: Vec<u32> = active.iter().filter_map(|&i| next[i]).collect();
        let mut batch: Vec<&mut _> = sessions
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| active.contains(i))
            .filter_map(|(_, s)| s.as_mut())
            .collect();
        let mut decs: Vec<&mut Decoder> =
            decoders.iter_mut().enumerate().filter(|(i, _)| active.contains(i)).map(|(_, d)| d).collect();
        let chosen = gpu.step(&mut batch, &feed, &mut decs).unwrap();
        for (&i, t) in active.iter().zip(chosen) {
            next[i] = t.unwrap();
        }
    }
    for i in 0..6 {
        assert_eq!(decoders[i].finish().0, alone[i], "session {i}: tokens differ from its run alone");
    }
}

#[test]
fn free_running_greedy_tokens_match_until_a_low_margin_step() {
    let Some(rt) = common::gpu("free_running_greedy_tokens_match_until_a_low_margin_step") else { return };
    let model = full_size();
    let cpu = CpuT2s::new(model.clone());
    let gpu = CudaT2s::new(rt, model, options()).unwrap();
    let prompt = random_prompt(&model.config, 21, 60, 80);
    let (want, trace) = generate_traced(&cpu, &prompt, &greedy(0)).unwrap();
    let got = generate_batch(&gpu, &[BatchRequest { prompt: &prompt, options: greedy(0) }]).unwrap().remove(0);
    let first_low = trace
        .iter()
        .position(|t| {
            let mut v = t.decision_logits.clone();
            v.sort_by(|a, b| b.total_cmp(a));
            // Each of the two logits may move by LOGITS_ABS.
            v[0] - v[1] < 2.0 * LOGITS_ABS
        })
        .unwrap_or(trace.len());
    let agree = want.tokens.iter().zip(&got.tokens).take_while(|(a, b)| a == b).count();
    println!(
        "greedy: {} CPU tokens, {} GPU tokens, first low-margin step {first_low}, agree on {agree}",
        want.tokens.len(),
        got.tokens.len()
    );
    assert!(
        agree >= first_low.min(want.tokens.len()),
        "tokens differ at step {agree}, before the first low-margin step {first_low}"
    );
}

#[test]
fn a_batch_of_16_sessions_equals_each_run_alone() {
    let Some(rt) = common::gpu("a_batch_of_16_sessions_equals_each_run_alone") else { return };
    let model = full_size();
    let gpu = CudaT2s::new(rt, model, options()).unwrap();
    let prompts: Vec<T2sPrompt> =
        (0..16).map(|i| random_prompt(&model.config, 100 + i, 20 + 7 * i as usize, 10 + 13 * i as usize)).collect();
    let requests: Vec<BatchRequest> =
        prompts.iter().enumerate().map(|(i, p)| BatchRequest { prompt: p, options: sampled(i as u64) }).collect();
    let together = generate_batch(&gpu, &requests).unwrap();
    for (i, r) in requests.iter().enumerate() {
        let alone = generate_batch(&gpu, std::slice::from_ref(r)).unwrap().remove(0);
        assert_eq!(together[i].tokens, alone.tokens, "session {i}: batched tokens differ from its run alone");
    }
    println!("16 sessions: {} tokens in all", together.iter().map(|g| g.tokens.len()).sum::<usize>());
}

#[test]
fn slots_run_out_with_a_typed_error_and_come_back() {
    let Some(rt) = common::gpu("slots_run_out_with_a_typed_error_and_come_back") else { return };
    let model = full_size();
    let gpu = CudaT2s::new(rt, model, CudaT2sOptions { slots: 2, ..options() }).unwrap();
    let prompt = random_prompt(&model.config, 3, 10, 5);
    let a = gpu.prefill_logits(&prompt).unwrap();
    let _b = gpu.prefill_logits(&prompt).unwrap();
    let e = gpu.prefill_logits(&prompt).unwrap_err();
    assert!(e.to_string().contains("slots"), "{e}");
    drop(a);
    gpu.prefill_logits(&prompt).unwrap();
    let long = random_prompt(&model.config, 3, 1000, 100);
    assert!(gpu.prefill_logits(&long).unwrap_err().to_string().contains("context"));
}

#[test]
fn v2_small_fixture_gpt_matches_the_cpu_on_the_gpu() {
    let Some(dir) = common::model_fixtures("v2_small_fixture_gpt_matches_the_cpu_on_the_gpu") else { return };
    let Some(rt) = common::gpu("v2_small_fixture_gpt_matches_the_cpu_on_the_gpu") else { return };
    let file = open_gpt(&dir.join("gpt.ckpt")).unwrap();
    let model = T2sModel::load(&file).unwrap();
    let cpu = CpuT2s::new(model.clone());
    let gpu = CudaT2s::new(rt, &model, options()).unwrap();
    let case = common::case(&dir, "t2s.safetensors");
    let mut phone_ids = common::u32s(&case, "ref_phone_ids");
    phone_ids.extend(common::u32s(&case, "target_phone_ids"));
    let (shape, bert) = common::f32s(&case, "all_bert_features");
    let prompt = T2sPrompt {
        phone_ids,
        bert: Tensor::new(&shape[1..], bert),
        prompt_tokens: common::u32s(&case, "prompt_semantic"),
    };
    let worst = teacher_forced(&cpu, &gpu, &prompt, 50);
    println!("v2-small fixture: max |Δlogit| {worst:.4}");
    assert!(worst <= LOGITS_ABS);
}

/// The full-size BERT (24 × 1024, 16 heads, FFN 4096) with seeded random weights, built once.
fn full_size_bert() -> &'static BertWeights {
    static WEIGHTS: OnceLock<BertWeights> = OnceLock::new();
    WEIGHTS.get_or_init(|| BertWeights::load(&sovits_rt::synthetic::bert(3)).unwrap())
}

#[test]
fn bert_features_match_the_cpu() {
    let Some(rt) = common::gpu("bert_features_match_the_cpu") else { return };
    let weights = full_size_bert();
    let cpu = CpuBert::new(weights.clone());
    let gpu = CudaBert::new(rt, weights).unwrap();
    // 42 tokens ([CLS] + 40 characters + [SEP]: the small-M linear path, one attention tile) and
    // 100 (tensor-core GEMMs with the GELU epilogue, two attention tiles).
    let vocab = weights.config.vocab_size as u32;
    for n in [42u32, 100] {
        let ids: Vec<u32> = (0..n).map(|i| (i * 37 + 5) % vocab).collect();
        let want = cpu.hidden_states_sel(&ids).unwrap();
        let got = gpu.hidden_states_sel(&ids).unwrap();
        assert_eq!(got.shape(), want.shape());
        assert_close_rel(&format!("BERT hidden_states[-3], {n} tokens"), got.data(), want.data(), 2e-2);
    }
    assert!(gpu.hidden_states_sel(&[]).is_err() && gpu.hidden_states_sel(&[vocab]).is_err());
}

#[test]
fn device_sampler_picks_the_host_samplers_tokens() {
    let Some(rt) = common::gpu("device_sampler_picks_the_host_samplers_tokens") else { return };
    let model = full_size();
    let gpu = CudaT2s::new(rt, model, options()).unwrap();
    // Same GPU logits, sampled on the device (generate) and on the host (generate_traced): the
    // tokens agree unless an exponential race is decided within float rounding.
    for (i, sampling) in [
        SamplingParams::default(),
        SamplingParams { top_k: 50, top_p: 0.8, temperature: 0.7, repetition_penalty: 1.0 },
        SamplingParams { top_k: 1025, top_p: 0.95, temperature: 1.3, repetition_penalty: 1.2 },
    ]
    .into_iter()
    .enumerate()
    {
        let prompt = random_prompt(&model.config, 40 + i as u64, 30, 20);
        let options = GenerateOptions { sampling, seed: 7 + i as u64, early_stop: Some(80) };
        let device = generate(&gpu, &prompt, &options).unwrap();
        let (host, trace) = generate_traced(&gpu, &prompt, &options).unwrap();
        let first_tie =
            trace.iter().enumerate().position(|(step, t)| race_is_close(t, &options, step)).unwrap_or(trace.len());
        let agree = device.tokens.iter().zip(&host.tokens).take_while(|(a, b)| a == b).count();
        println!(
            "case {i}: {} device tokens, {} host tokens, first {agree} equal, first near-tie at step {first_tie}",
            device.tokens.len(),
            host.tokens.len()
        );
        assert!(
            agree >= first_tie.min(host.tokens.len()),
            "case {i}: tokens differ at step {agree} before any near-tie"
        );
    }
}

#[test]
fn a_session_read_as_logits_is_not_sampled_on_the_device() {
    let Some(rt) = common::gpu("a_session_read_as_logits_is_not_sampled_on_the_device") else { return };
    let model = full_size();
    let gpu = CudaT2s::new(rt, model, options()).unwrap();
    let prompt = random_prompt(&model.config, 5, 30, 20);
    let options = sampled(5);
    let mut decoder = Decoder::new(&model.config, &prompt.prompt_tokens, &options).unwrap();
    let (mut session, _) = gpu.prefill_logits(&prompt).unwrap();
    let e = gpu.step(&mut [&mut session], &[3], &mut [&mut decoder]).unwrap_err();
    assert!(e.to_string().contains("cannot be sampled on the device"), "{e}");
    // A sampled session stepped through its logits loses its device sampler too.
    let (mut session, _) = gpu.prefill(&prompt, &mut decoder).unwrap();
    gpu.step_logits(&mut [&mut session], &[3]).unwrap();
    let mut fresh = Decoder::new(&model.config, &prompt.prompt_tokens, &options).unwrap();
    assert!(gpu.step(&mut [&mut session], &[4], &mut [&mut fresh]).is_err());
}

/// True when the two best exponential-race entries of a step are within 1e-4 (relative) of each
/// other: then float rounding between the samplers may pick either.
fn race_is_close(t: &StepTrace, options: &GenerateOptions, step: usize) -> bool {
    let probs = probs_from_penalised(&t.decision_logits, &options.sampling);
    let mut r: Vec<f32> = probs
        .iter()
        .enumerate()
        .filter(|(_, &p)| p > 0.0)
        .map(|(v, &p)| p / exp1(options.seed, Purpose::Sampling, step as u32, v as u32))
        .collect();
    r.sort_by(|a, b| b.total_cmp(a));
    r.len() > 1 && r[0] - r[1] < 1e-4 * r[0]
}

#[test]
fn bert_on_another_thread_does_not_disturb_graph_captures() {
    let Some(rt) = common::gpu("bert_on_another_thread_does_not_disturb_graph_captures") else { return };
    let weights = full_size_bert();
    let bert = CudaBert::new(rt.clone(), weights).unwrap();
    let ids: Vec<u32> = (0..60u32).map(|i| (i * 37 + 5) % weights.config.vocab_size as u32).collect();
    let alone = bert.hidden_states_sel(&ids).unwrap();
    let model = full_size();
    let gpu = CudaT2s::new(rt, model, options()).unwrap();
    let prompts: Vec<T2sPrompt> = (0..9).map(|i| random_prompt(&model.config, 200 + i, 30, 20)).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // BERT runs on its own stream while the GPT captures a new graph for each batch size.
        let worker = s.spawn(|| {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(bert.hidden_states_sel(&ids).unwrap().data(), alone.data(), "BERT disturbed");
                runs += 1;
            }
            runs
        });
        for n in [1, 2, 3, 5, 9] {
            let requests: Vec<BatchRequest> = prompts[..n]
                .iter()
                .enumerate()
                .map(|(i, p)| BatchRequest { prompt: p, options: sampled(i as u64) })
                .collect();
            let batched = generate_batch(&gpu, &requests).unwrap();
            assert_eq!(batched[0].tokens, generate_batch(&gpu, &requests[..1]).unwrap()[0].tokens, "batch of {n}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        println!("BERT ran {} times during the captures", worker.join().unwrap());
    });
}
