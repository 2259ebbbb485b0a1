//! Stage 4 parity: the GPT prior against upstream `infer_panel_batch_infer` and
//! `logits_to_probs` (fixture `t2s.safetensors`, README stage 4). Every tensor of the case file
//! is checked; run settings (early stop, penalty, top-k, sampling cases) come from its metadata.
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{assert_close_abs, assert_close_rel, case, f32s, i64s, max_abs, u32s};
use sovits_rt::checkpoint::{open_gpt, TensorStore};
use sovits_rt::cpu::CpuT2s;
use sovits_rt::model::sampling::{logits_to_probs, SamplingParams};
use sovits_rt::model::t2s::{generate_traced, GenerateOptions, StepTrace, T2sConfig, T2sWeights};
use sovits_rt::model::{T2sPrompt, Weights};
use sovits_rt::tensor::Tensor;

/// README "Tolerances": T2S logits 1e-4 × max|expected|, sampling probabilities 1e-6 absolute.
const LOGITS_REL: f32 = 1e-4;
const PROBS_ABS: f32 = 1e-6;

fn meta<T: std::str::FromStr>(store: &TensorStore, key: &str) -> T {
    let s = store.metadata().get(key).unwrap_or_else(|| panic!("metadata {key} missing"));
    s.parse().unwrap_or_else(|_| panic!("metadata {key} = {s:?}"))
}

fn meta_bool(store: &TensorStore, key: &str) -> bool {
    meta::<String>(store, key).eq_ignore_ascii_case("true")
}

fn setup(dir: &Path) -> (CpuT2s, TensorStore, T2sPrompt) {
    let model = CpuT2s::load(&open_gpt(&dir.join("gpt.ckpt")).unwrap()).unwrap();
    let case = case(dir, "t2s.safetensors");
    let phone_ids = u32s(&case, "all_phone_ids");
    let mut halves = u32s(&case, "ref_phone_ids");
    halves.extend(u32s(&case, "target_phone_ids"));
    assert_eq!(halves, phone_ids, "all_phone_ids = ref_phone_ids ++ target_phone_ids");
    let (shape, bert) = f32s(&case, "all_bert_features");
    assert_eq!(shape[0], 1);
    let prompt =
        T2sPrompt { phone_ids, bert: Tensor::new(&shape[1..], bert), prompt_tokens: u32s(&case, "prompt_semantic") };
    (model, case, prompt)
}

/// Top-1 minus top-2 of each row.
fn margins(trace: &[StepTrace]) -> Vec<f32> {
    trace
        .iter()
        .map(|t| {
            let mut v = t.decision_logits.clone();
            v.sort_by(|a, b| b.total_cmp(a));
            v[0] - v[1]
        })
        .collect()
}

/// −∞ entries must match exactly; finite ones within `rel` × max finite |expected|.
fn assert_close_masked(what: &str, got: &[f32], expected: &[f32], rel: f32) -> f32 {
    assert_eq!(got.len(), expected.len(), "{what}: lengths");
    let (mut g, mut e) = (Vec::new(), Vec::new());
    for (i, (&a, &b)) in got.iter().zip(expected).enumerate() {
        if b.is_finite() {
            g.push(a);
            e.push(b);
        } else {
            assert_eq!(a, b, "{what}[{i}]: expected {b}, got {a}");
        }
    }
    let scale = max_abs(&e);
    assert_close_abs(what, &g, &e, rel * scale);
    scale
}

fn flat<T: Clone>(rows: impl Iterator<Item = Vec<T>>) -> Vec<T> {
    rows.flatten().collect()
}

#[test]
fn t2s_config_and_weights_from_checkpoint() {
    let Some(dir) = common::model_fixtures("t2s_config_and_weights_from_checkpoint") else { return };
    let file = open_gpt(&dir.join("gpt.ckpt")).unwrap();
    let config = T2sConfig::from_gpt(&file).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let m = &manifest["checkpoints"]["gpt.ckpt"]["config"]["model"];
    let num = |k: &str| m[k].as_u64().unwrap_or_else(|| panic!("manifest model.{k}")) as usize;
    assert_eq!(config.n_layer, num("n_layer"));
    assert_eq!(config.n_head, num("head"));
    assert_eq!(config.d_model, num("hidden_dim"));
    assert_eq!(config.vocab, num("vocab_size"));
    assert_eq!(config.phoneme_vocab, num("phoneme_vocab_size"));
    assert_eq!(config.eos() as usize, num("EOS"));
    let w = Weights::new(&file.weights);
    T2sWeights::load(&config, &w).unwrap();
    assert!(w.unused().is_empty(), "unread tensors: {:?}", w.unused());
}

#[test]
fn t2s_embedding_matches() {
    let Some(dir) = common::model_fixtures("t2s_embedding_matches") else { return };
    let (model, case, prompt) = setup(&dir);
    let (shape, expected) = f32s(&case, "xy_pos_step0");
    let got = model.embed(&prompt).unwrap();
    assert_eq!(got.shape(), &shape[1..]);
    assert_close_rel("xy_pos_step0", got.data(), &expected, LOGITS_REL);
}

#[test]
fn t2s_greedy_matches() {
    let Some(dir) = common::model_fixtures("t2s_greedy_matches") else { return };
    let (model, case, prompt) = setup(&dir);
    let sampling = SamplingParams {
        top_k: meta(&case, "top_k"),
        top_p: meta(&case, "top_p"),
        temperature: meta(&case, "temperature"),
        repetition_penalty: meta(&case, "repetition_penalty"),
    };
    let early_stop: i64 = meta(&case, "early_stop_num");
    let options = GenerateOptions { sampling, seed: 0, early_stop: usize::try_from(early_stop).ok() };
    let (generated, trace) = generate_traced(&model, &prompt, &options).unwrap();

    let (shape, logits) = f32s(&case, "greedy_logits");
    assert_eq!(generated.steps, shape[0], "decoder steps");
    assert_eq!(trace.len(), shape[0]);
    assert_close_rel("greedy_logits", &flat(trace.iter().map(|t| t.logits.clone())), &logits, LOGITS_REL);
    let (_, decision) = f32s(&case, "greedy_decision_logits");
    let ours = flat(trace.iter().map(|t| t.decision_logits.clone()));
    let scale = assert_close_masked("greedy_decision_logits", &ours, &decision, LOGITS_REL);
    let (_, margin) = f32s(&case, "greedy_margin");
    assert_close_abs("greedy_margin", &margins(&trace), &margin, LOGITS_REL * scale);

    let tokens: Vec<u32> = i64s(&case, "greedy_tokens").into_iter().map(|t| t as u32).collect();
    assert_eq!(generated.tokens, tokens, "greedy_tokens");
    assert_eq!(generated.eos, meta_bool(&case, "eos_emitted"));
}

#[test]
fn t2s_greedy_nopenalty_matches() {
    let Some(dir) = common::model_fixtures("t2s_greedy_nopenalty_matches") else { return };
    let (model, case, prompt) = setup(&dir);
    // The "nopenalty" run is the greedy run with repetition_penalty = 1 (README stage 4).
    let sampling = SamplingParams {
        top_k: meta(&case, "top_k"),
        top_p: meta(&case, "top_p"),
        temperature: meta(&case, "temperature"),
        repetition_penalty: 1.0,
    };
    let early_stop: i64 = meta(&case, "early_stop_num");
    let options = GenerateOptions { sampling, seed: 0, early_stop: usize::try_from(early_stop).ok() };
    let (generated, trace) = generate_traced(&model, &prompt, &options).unwrap();

    let (shape, logits) = f32s(&case, "greedy_nopenalty_logits");
    assert_eq!(generated.steps, shape[0]);
    assert_eq!(generated.steps, meta::<usize>(&case, "nopenalty_steps_run"));
    let ours = flat(trace.iter().map(|t| t.logits.clone()));
    assert_close_rel("greedy_nopenalty_logits", &ours, &logits, LOGITS_REL);
    let (_, margin) = f32s(&case, "greedy_nopenalty_margin");
    assert_close_abs("greedy_nopenalty_margin", &margins(&trace), &margin, LOGITS_REL * max_abs(&logits));

    let tokens: Vec<u32> = i64s(&case, "greedy_nopenalty_tokens").into_iter().map(|t| t as u32).collect();
    assert_eq!(tokens.len(), meta::<usize>(&case, "nopenalty_tokens"));
    assert_eq!(generated.tokens, tokens, "greedy_nopenalty_tokens");
    assert_eq!(generated.eos, meta_bool(&case, "nopenalty_eos_emitted"));
}

#[test]
fn t2s_sampling_probs_match() {
    let Some(dir) = common::model_fixtures("t2s_sampling_probs_match") else { return };
    let case = case(&dir, "t2s.safetensors");
    let cases: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&meta::<String>(&case, "sampling_params")).unwrap();
    assert!(!cases.is_empty());
    for (name, p) in &cases {
        let num = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("sampling_params.{name}.{k}"));
        let params = SamplingParams {
            top_k: num("top_k") as usize,
            top_p: num("top_p") as f32,
            temperature: num("temperature") as f32,
            repetition_penalty: num("repetition_penalty") as f32,
        };
        let (_, logits) = f32s(&case, &format!("sampling_{name}_logits"));
        let prev = u32s(&case, &format!("sampling_{name}_prev_tokens"));
        let (_, expected) = f32s(&case, &format!("sampling_{name}_probs"));
        let got = logits_to_probs(&logits, &prev, &params).unwrap();
        assert_close_abs(&format!("sampling_{name}_probs"), &got, &expected, PROBS_ABS);
    }
}
