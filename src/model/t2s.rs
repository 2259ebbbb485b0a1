//! The GPT prior of GPT-SoVITS (upstream `GS/AR/models/t2s_model.py::Text2SemanticDecoder`,
//! research/upstream-v2.md §4): its architecture ([`T2sConfig`], read from the checkpoint),
//! its weights ([`T2sWeights`], fields named as in the state dict with the Lightning `model.`
//! prefix removed), the sine positional encoding, and the decoding loop as a backend-neutral
//! function over [`TextToSemantic`]: [`generate`] for one utterance and [`generate_batch`] for
//! several decoded together, reproducing `infer_panel_batch_infer` (the TTS_infer_pack default,
//! §4.5–4.6, 4.9).
//!
//! Shapes: `d` = model width, `N` phones, `P` prompt tokens, `V` audio vocabulary (EOS last).

use std::time::Instant;

use half::f16;

use super::rng::{uniform, Purpose};
use super::sampling::{apply_repetition_penalty, argmax, probs_from_penalised, sample, SamplingParams};
use super::{ModelError, T2sLogits, T2sPrompt, TextToSemantic, Weights};
use crate::checkpoint::GptFile;
use crate::tensor::Tensor;

/// Attention heads when the checkpoint carries no `config.model.head`: upstream's value for
/// every released GPT (`s1longer*.yaml`, research/upstream-v2.md §1.2). The head count shapes
/// no tensor, so this is the only architecture number not read from the file.
pub const DEFAULT_HEADS: usize = 16;

/// Upstream's hard cap on decoder steps (`for idx in range(1500)`, §4.5).
pub const MAX_STEPS: usize = 1500;

/// Steps during which the EOS column is removed from the logits (`if idx < 11`, §4.5).
pub const EOS_BLOCKED_STEPS: usize = 11;

/// Epsilon of both LayerNorms of every block (PyTorch default, §4.4).
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// Architecture of the GPT prior, inferred from tensor shapes (and `config.model.head`).
#[derive(Debug, Clone, PartialEq)]
pub struct T2sConfig {
    /// Transformer blocks (`n_layer`; counted from `h.layers.N`).
    pub n_layer: usize,
    /// Model width (`embedding_dim` = `hidden_dim`).
    pub d_model: usize,
    /// Attention heads (`head`; from the pickled config, see [`DEFAULT_HEADS`]).
    pub n_head: usize,
    /// FFN width (rows of `linear1`; upstream hard-codes 4·`hidden_dim`).
    pub ffn_dim: usize,
    /// Phone embedding rows (`phoneme_vocab_size`: v1 512, v2 732).
    pub phoneme_vocab: usize,
    /// Audio vocabulary including EOS (`vocab_size`, 1025).
    pub vocab: usize,
    /// Width of the BERT features (`bert_proj` input, 1024).
    pub bert_dim: usize,
}

impl T2sConfig {
    /// The released v2 GPT (`s1bert25hz-5kh-longer`, §1.2): 24 layers × 512, 16 heads.
    pub fn v2() -> Self {
        T2sConfig {
            n_layer: 24,
            d_model: 512,
            n_head: 16,
            ffn_dim: 2048,
            phoneme_vocab: 732,
            vocab: 1025,
            bert_dim: 1024,
        }
    }

    /// EOS token id: the last audio token (upstream asserts `EOS == vocab_size − 1`).
    pub fn eos(&self) -> u32 {
        (self.vocab - 1) as u32
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_head
    }

    /// Reads the architecture of a GPT checkpoint.
    pub fn from_gpt(file: &GptFile) -> Result<Self, ModelError> {
        let arch = |reason: String| ModelError::Architecture { file: file.path.clone(), reason };
        let n_head = match file.config.get("model").and_then(|m| m.get("head")) {
            None => DEFAULT_HEADS,
            Some(v) => v
                .as_i64()
                .and_then(|h| usize::try_from(h).ok())
                .filter(|&h| h > 0)
                .ok_or_else(|| arch(format!("config.model.head is {v:?}, expected a positive integer")))?,
        };
        let w = Weights::new(&file.weights);
        let shape2 = |name: &str| -> Result<[usize; 2], ModelError> {
            match w.require_shape(name)?.as_slice() {
                &[a, b] => Ok([a, b]),
                s => Err(arch(format!("{name} has shape {s:?}, expected 2 dimensions"))),
            }
        };
        let [phoneme_vocab, d_model] = shape2("ar_text_embedding.word_embeddings.weight")?;
        let [vocab, _] = shape2("ar_audio_embedding.word_embeddings.weight")?;
        let [_, bert_dim] = shape2("bert_proj.weight")?;
        let [ffn_dim, _] = shape2("h.layers.0.linear1.weight")?;
        let n_layer = (0..).take_while(|i| w.contains(&format!("h.layers.{i}.self_attn.in_proj_weight"))).count();
        let config = T2sConfig { n_layer, d_model, n_head, ffn_dim, phoneme_vocab, vocab, bert_dim };
        config.check().map_err(arch)?;
        Ok(config)
    }

    /// Internal consistency of the numbers (each must be usable by every backend).
    fn check(&self) -> Result<(), String> {
        if self.n_layer == 0 || self.d_model == 0 || self.ffn_dim == 0 || self.phoneme_vocab == 0 || self.bert_dim == 0
        {
            return Err(format!("a zero dimension in {self:?}"));
        }
        if !self.d_model.is_multiple_of(2) {
            return Err(format!("model width {} is odd; the sine positions come in sin/cos pairs", self.d_model));
        }
        if self.n_head == 0 || !self.d_model.is_multiple_of(self.n_head) {
            return Err(format!("model width {} is not divisible by {} heads", self.d_model, self.n_head));
        }
        if self.vocab < 2 || u32::try_from(self.vocab).is_err() {
            return Err(format!("audio vocabulary of {} tokens (needs tokens + EOS)", self.vocab));
        }
        Ok(())
    }
}

/// One post-norm `TransformerEncoderLayer` (`h.layers.N`, §4.4).
#[derive(Debug, Clone)]
pub struct T2sLayer {
    /// `self_attn.in_proj_weight` `[3·d, d]`, rows Q | K | V.
    pub in_proj_weight: Tensor,
    /// `self_attn.in_proj_bias` `[3·d]`.
    pub in_proj_bias: Tensor,
    /// `self_attn.out_proj.weight` `[d, d]`.
    pub out_proj_weight: Tensor,
    /// `self_attn.out_proj.bias` `[d]`.
    pub out_proj_bias: Tensor,
    /// `linear1.weight` `[ffn, d]` (FFN up, ReLU after).
    pub linear1_weight: Tensor,
    /// `linear1.bias` `[ffn]`.
    pub linear1_bias: Tensor,
    /// `linear2.weight` `[d, ffn]`.
    pub linear2_weight: Tensor,
    /// `linear2.bias` `[d]`.
    pub linear2_bias: Tensor,
    /// `norm1.weight` `[d]` (after attention).
    pub norm1_weight: Tensor,
    /// `norm1.bias` `[d]`.
    pub norm1_bias: Tensor,
    /// `norm2.weight` `[d]` (after the FFN).
    pub norm2_weight: Tensor,
    /// `norm2.bias` `[d]`.
    pub norm2_bias: Tensor,
}

/// Every parameter of `Text2SemanticDecoder` (§1.2 key list).
#[derive(Debug, Clone)]
pub struct T2sWeights {
    /// `bert_proj.weight` `[d, bert]`.
    pub bert_proj_weight: Tensor,
    /// `bert_proj.bias` `[d]`.
    pub bert_proj_bias: Tensor,
    /// `ar_text_embedding.word_embeddings.weight` `[phoneme_vocab, d]`.
    pub ar_text_embedding: Tensor,
    /// `ar_text_position.alpha` `[1]`: scale of the text sine positions.
    pub ar_text_position_alpha: f32,
    /// `ar_audio_embedding.word_embeddings.weight` `[V, d]`.
    pub ar_audio_embedding: Tensor,
    /// `ar_audio_position.alpha` `[1]`.
    pub ar_audio_position_alpha: f32,
    /// `h.layers.N`.
    pub layers: Vec<T2sLayer>,
    /// `ar_predict_layer.weight` `[V, d]` (no bias).
    pub ar_predict_layer: Tensor,
}

/// Calls `f(name, shape)` for every tensor of the model, in state-dict order; the single list
/// that loading and random initialisation both follow.
fn visit_tensors<E>(c: &T2sConfig, mut f: impl FnMut(&str, &[usize]) -> Result<Tensor, E>) -> Result<T2sWeights, E> {
    let (d, ff) = (c.d_model, c.ffn_dim);
    let scalar = |t: Tensor| t.data()[0];
    let mut layers = Vec::with_capacity(c.n_layer);
    let bert_proj_weight = f("bert_proj.weight", &[d, c.bert_dim])?;
    let bert_proj_bias = f("bert_proj.bias", &[d])?;
    let ar_text_embedding = f("ar_text_embedding.word_embeddings.weight", &[c.phoneme_vocab, d])?;
    let ar_text_position_alpha = scalar(f("ar_text_position.alpha", &[1])?);
    let ar_audio_embedding = f("ar_audio_embedding.word_embeddings.weight", &[c.vocab, d])?;
    let ar_audio_position_alpha = scalar(f("ar_audio_position.alpha", &[1])?);
    for i in 0..c.n_layer {
        let mut g = |name: &str, shape: &[usize]| f(&format!("h.layers.{i}.{name}"), shape);
        layers.push(T2sLayer {
            in_proj_weight: g("self_attn.in_proj_weight", &[3 * d, d])?,
            in_proj_bias: g("self_attn.in_proj_bias", &[3 * d])?,
            out_proj_weight: g("self_attn.out_proj.weight", &[d, d])?,
            out_proj_bias: g("self_attn.out_proj.bias", &[d])?,
            linear1_weight: g("linear1.weight", &[ff, d])?,
            linear1_bias: g("linear1.bias", &[ff])?,
            linear2_weight: g("linear2.weight", &[d, ff])?,
            linear2_bias: g("linear2.bias", &[d])?,
            norm1_weight: g("norm1.weight", &[d])?,
            norm1_bias: g("norm1.bias", &[d])?,
            norm2_weight: g("norm2.weight", &[d])?,
            norm2_bias: g("norm2.bias", &[d])?,
        });
    }
    let ar_predict_layer = f("ar_predict_layer.weight", &[c.vocab, d])?;
    Ok(T2sWeights {
        bert_proj_weight,
        bert_proj_bias,
        ar_text_embedding,
        ar_text_position_alpha,
        ar_audio_embedding,
        ar_audio_position_alpha,
        layers,
        ar_predict_layer,
    })
}

impl T2sWeights {
    /// Reads every tensor with its expected shape.
    pub fn load(config: &T2sConfig, w: &Weights) -> Result<Self, ModelError> {
        visit_tensors(config, |name, shape| w.get(shape, name))
    }

    /// Seeded random weights of `config`'s sizes, for property tests and benchmarks. Every value
    /// is an f16 (as in real checkpoints); scales keep activations O(1): matrices uniform with
    /// std 1/√fan_in, embeddings std 1, biases ±0.1, LayerNorm gains 1 ± 0.1, alphas 0.5–1.5.
    pub fn random(config: &T2sConfig, seed: u64) -> Self {
        let mut counter = 0u32;
        let result: Result<T2sWeights, std::convert::Infallible> = visit_tensors(config, |name, shape| {
            counter += 1;
            let (center, half_width) = if name.ends_with("alpha") {
                (1.0, 0.5)
            } else if name.contains("norm") && name.ends_with("weight") {
                (1.0, 0.1)
            } else if name.ends_with("bias") {
                (0.0, 0.1)
            } else if name.contains("embedding") {
                (0.0, 3f32.sqrt())
            } else {
                (0.0, (3.0 / shape[1] as f32).sqrt())
            };
            let n: usize = shape.iter().product();
            let data = (0..n as u32)
                .map(|i| {
                    let u = 2.0 * uniform(seed, Purpose::RandomWeights, counter, i) - 1.0;
                    f16::from_f32(center + half_width * u).to_f32()
                })
                .collect();
            Ok(Tensor::new(shape, data))
        });
        match result {
            Ok(w) => w,
            Err(never) => match never {},
        }
    }
}

/// A loaded GPT prior: architecture + weights, backend-neutral.
#[derive(Debug, Clone)]
pub struct T2sModel {
    pub config: T2sConfig,
    pub weights: T2sWeights,
}

impl T2sModel {
    /// Loads a GPT `.ckpt` (opened with [`crate::checkpoint::open_gpt`]).
    pub fn load(file: &GptFile) -> Result<Self, ModelError> {
        let config = T2sConfig::from_gpt(file)?;
        let weights = T2sWeights::load(&config, &Weights::new(&file.weights))?;
        Ok(T2sModel { config, weights })
    }

    /// [`T2sWeights::random`] with its config.
    pub fn random(config: T2sConfig, seed: u64) -> Self {
        let weights = T2sWeights::random(&config, seed);
        T2sModel { config, weights }
    }
}

/// Adds `alpha · PE[pos]` to `row` (`SinePositionalEmbedding`, scale=False, §4.2):
/// `PE[p, 2i] = sin(p·ω_i)`, `PE[p, 2i+1] = cos(p·ω_i)`, `ω_i = exp(−2i·ln(10000)/d)`.
/// Upstream computes `ω` and `p·ω` in f32; we round the same way and take sin/cos in f64.
pub fn add_sine_position(row: &mut [f32], pos: usize, alpha: f32) {
    let d = row.len();
    let rate = -(10000f64.ln() / d as f64) as f32;
    for (i, pair) in row.chunks_exact_mut(2).enumerate() {
        let omega = (((2 * i) as f32 * rate) as f64).exp() as f32;
        let angle = (pos as f32 * omega) as f64;
        pair[0] += alpha * angle.sin() as f32;
        pair[1] += alpha * angle.cos() as f32;
    }
}

/// One transformer input row: `row += embedding + alpha · PE[pos]` (text rows accumulate onto
/// their BERT projection, audio rows start from zeros). The twin of kernels/embed.cu's
/// `embed_positions_f16`.
pub fn add_embedding(row: &mut [f32], embedding: &[f32], pos: usize, alpha: f32) {
    row.iter_mut().zip(embedding).for_each(|(x, e)| *x += e);
    add_sine_position(row, pos, alpha);
}

/// Checks a [`T2sPrompt`] against a config; every backend's `prefill` calls this first.
pub fn validate_prompt(config: &T2sConfig, prompt: &T2sPrompt) -> Result<(), ModelError> {
    let n = prompt.phone_ids.len();
    if n == 0 {
        return Err(ModelError::Input("the GPT needs at least one phone (prompt text + target text)".into()));
    }
    if let Some(&p) = prompt.phone_ids.iter().find(|&&p| p as usize >= config.phoneme_vocab) {
        return Err(ModelError::Input(format!(
            "phone id {p} is outside this GPT's {} phone symbols (a v2 phone given to a v1 model?)",
            config.phoneme_vocab
        )));
    }
    if prompt.bert.shape() != [config.bert_dim, n] {
        return Err(ModelError::Input(format!(
            "BERT features have shape {:?}, expected [{}, {n}] (one column per phone)",
            prompt.bert.shape(),
            config.bert_dim
        )));
    }
    if prompt.bert.data().iter().any(|x| !x.is_finite()) {
        return Err(ModelError::Input("BERT features contain NaN or infinite values".into()));
    }
    check_tokens(config, &prompt.prompt_tokens, "prompt token")
}

/// Rejects audio tokens outside the vocabulary.
pub fn check_tokens(config: &T2sConfig, tokens: &[u32], what: &str) -> Result<(), ModelError> {
    match tokens.iter().find(|&&t| t as usize >= config.vocab) {
        Some(t) => Err(ModelError::Input(format!("{what} {t} is outside the {} audio tokens", config.vocab))),
        None => Ok(()),
    }
}

/// How a request is decoded.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub sampling: SamplingParams,
    /// Seed of the sampler's random stream ([`sample`]).
    pub seed: u64,
    /// Upstream `early_stop_num`: stop once more than this many tokens were sampled (the last
    /// sample is dropped, so at most this many are returned). `None` = only the step cap.
    pub early_stop: Option<usize>,
}

/// The result of decoding one utterance (§4.9).
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Only the newly generated tokens: no prompt, no EOS, no dropped last sample.
    pub tokens: Vec<u32>,
    /// Decoder steps run (upstream `idx + 1`).
    pub steps: usize,
    /// True when EOS (sampled, or the arg-max of the penalised logits) ended decoding.
    pub eos: bool,
    /// Wall time of this request's prefill.
    pub prefill_ms: f64,
    /// Wall time from the end of the prefills to this request's last step.
    pub decode_ms: f64,
}

/// What one decoder step saw, for parity tests and debugging.
#[derive(Debug, Clone)]
pub struct StepTrace {
    /// Raw `ar_predict_layer` output `[V]`.
    pub logits: Vec<f32>,
    /// The logits after the repetition penalty, with EOS at −∞ while it is blocked: upstream's
    /// greedy decision and EOS test look at these.
    pub decision_logits: Vec<f32>,
}

/// Per-request decoding state: the body of upstream's decode loop without the model call.
/// Feed it each step's raw logits; it samples, applies the stop rules and says what to feed next.
#[derive(Debug, Clone)]
pub struct Decoder {
    options: GenerateOptions,
    eos: u32,
    /// Prompt tokens followed by every sampled token (upstream `y`, the penalty's history).
    history: Vec<u32>,
    n_prompt: usize,
    step: usize,
    /// `Some(eos)` once stopped.
    stopped: Option<bool>,
}

/// The outcome of one [`Decoder::step`].
#[derive(Debug, Clone)]
pub struct DecodeStep {
    /// See [`StepTrace::decision_logits`].
    pub decision_logits: Vec<f32>,
    /// The token to feed to the model next, or `None` when decoding has stopped.
    pub next: Option<u32>,
}

impl Decoder {
    pub fn new(config: &T2sConfig, prompt_tokens: &[u32], options: &GenerateOptions) -> Result<Self, ModelError> {
        options.sampling.validate()?;
        let eos = config.eos();
        if let Some(t) = prompt_tokens.iter().find(|&&t| t >= eos) {
            return Err(ModelError::Input(format!("prompt token {t} is EOS or beyond (EOS = {eos})")));
        }
        Ok(Decoder {
            options: options.clone(),
            eos,
            history: prompt_tokens.to_vec(),
            n_prompt: prompt_tokens.len(),
            step: 0,
            stopped: None,
        })
    }

    /// One step of §4.5 on the raw logits `[V]` of the newest position.
    pub fn step(&mut self, logits: &[f32]) -> Result<DecodeStep, ModelError> {
        let v = self.eos as usize + 1;
        if self.stopped.is_some() {
            return Err(ModelError::Input("this request has already finished decoding".into()));
        }
        if logits.len() != v {
            return Err(ModelError::Input(format!("{} logits, expected {v}", logits.len())));
        }
        let sampled = sample_step(logits, &self.history, self.step, &self.options)?;
        let next = self.accept(sampled.token, sampled.eos)?;
        let mut decision = sampled.decision_logits;
        decision.resize(v, f32::NEG_INFINITY);
        Ok(DecodeStep { decision_logits: decision, next })
    }

    /// Records one sampled token and whether EOS ends decoding (the sampler's verdict, from
    /// [`Decoder::step`] or the GPU sampler), then applies upstream's stop rules. Returns the
    /// token to feed next, or `None` once decoding has stopped.
    pub fn accept(&mut self, token: u32, eos: bool) -> Result<Option<u32>, ModelError> {
        if self.stopped.is_some() {
            return Err(ModelError::Input("this request has already finished decoding".into()));
        }
        self.history.push(token);
        self.step += 1;
        let generated = self.history.len() - self.n_prompt;
        let stop = eos || self.options.early_stop.is_some_and(|n| generated > n) || self.step == MAX_STEPS;
        if stop {
            // Every stop drops the last sample (`y[:, :-1]` in `infer_panel_batch_infer`).
            self.history.pop();
            self.stopped = Some(eos);
        }
        Ok((!stop).then_some(token))
    }

    pub fn options(&self) -> &GenerateOptions {
        &self.options
    }

    pub fn is_done(&self) -> bool {
        self.stopped.is_some()
    }

    /// The generated tokens, steps run and whether EOS ended decoding. Upstream's "bad zero
    /// prediction" rule: an empty result becomes the single token 0.
    pub fn finish(&self) -> (Vec<u32>, usize, bool) {
        let mut tokens = self.history[self.n_prompt..].to_vec();
        if tokens.is_empty() {
            tokens.push(0);
        }
        (tokens, self.step, self.stopped.unwrap_or(false))
    }
}

/// What one step's sampler decided ([`sample_step`]).
#[derive(Debug, Clone)]
pub struct SampledStep {
    pub token: u32,
    /// Sampled EOS, or EOS is the arg-max of the penalised logits: upstream stops on both (then
    /// the non-EOS sample is dropped as well).
    pub eos: bool,
    /// The penalised logits the decision looked at, `[V - 1]` while EOS is blocked, else `[V]`.
    pub decision_logits: Vec<f32>,
    /// The final probabilities, as long as `decision_logits`.
    pub probs: Vec<f32>,
}

/// The sampling part of a decoder step, before the stop rules: the EOS column (the last logit)
/// removed for the first [`EOS_BLOCKED_STEPS`] steps, the repetition penalty over `history`
/// (prompt and sampled tokens), the filters and the race keyed by `(seed, step)`. The twin of
/// kernels/sampling.cu's `sample_tokens_f32`.
pub fn sample_step(
    logits: &[f32],
    history: &[u32],
    step: usize,
    options: &GenerateOptions,
) -> Result<SampledStep, ModelError> {
    let Some(eos) = logits.len().checked_sub(1) else {
        return Err(ModelError::Input("no logits to sample from".into()));
    };
    let width = if step < EOS_BLOCKED_STEPS { eos } else { logits.len() };
    let mut decision = logits[..width].to_vec();
    apply_repetition_penalty(&mut decision, history, options.sampling.repetition_penalty)?;
    let probs = probs_from_penalised(&decision, &options.sampling);
    let token = sample(&probs, options.seed, step as u32);
    let eos = token as usize == eos || argmax(&decision) == eos;
    Ok(SampledStep { token, eos, decision_logits: decision, probs })
}

/// One request of [`generate_batch`].
#[derive(Debug, Clone)]
pub struct BatchRequest<'a> {
    pub prompt: &'a T2sPrompt,
    pub options: GenerateOptions,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The decoding loop shared by every entry point: prefill each request, then one batched step
/// per step over the requests still running; finished ones leave the batch. Tokens are chosen
/// by each request's decoder, wherever the backend runs its sampler.
fn run<M: TextToSemantic>(model: &M, requests: &[BatchRequest<'_>]) -> Result<Vec<Generated>, ModelError> {
    let config = model.config();
    let mut decoders = Vec::with_capacity(requests.len());
    for r in requests {
        decoders.push(Decoder::new(config, &r.prompt.prompt_tokens, &r.options)?);
    }
    let mut sessions = Vec::with_capacity(requests.len());
    let mut next = Vec::with_capacity(requests.len());
    let mut prefill_ms = Vec::with_capacity(requests.len());
    for (r, dec) in requests.iter().zip(&mut decoders) {
        let t = Instant::now();
        let (session, first) = model.prefill(r.prompt, dec)?;
        prefill_ms.push(ms(t));
        sessions.push(session);
        next.push(first);
    }
    let start = Instant::now();
    let mut decode_ms = vec![0.0; requests.len()];
    loop {
        let active: Vec<usize> = (0..requests.len()).filter(|&i| next[i].is_some()).collect();
        if active.is_empty() {
            break;
        }
        let tokens: Vec<u32> = active.iter().filter_map(|&i| next[i]).collect();
        let running = |i: &usize| next[*i].is_some();
        let mut batch: Vec<&mut M::Session> =
            sessions.iter_mut().enumerate().filter(|(i, _)| running(i)).map(|(_, s)| s).collect();
        let mut decs: Vec<&mut Decoder> =
            decoders.iter_mut().enumerate().filter(|(i, _)| running(i)).map(|(_, d)| d).collect();
        let chosen = model.step(&mut batch, &tokens, &mut decs)?;
        for (&i, token) in active.iter().zip(chosen) {
            next[i] = token?;
            if next[i].is_none() {
                decode_ms[i] = ms(start);
            }
        }
    }
    Ok(decoders
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (tokens, steps, eos) = d.finish();
            Generated { tokens, steps, eos, prefill_ms: prefill_ms[i], decode_ms: decode_ms[i] }
        })
        .collect())
}

/// Decodes one utterance: upstream `infer_panel_batch_infer` with batch 1 (§4.5–4.6).
pub fn generate<M: TextToSemantic>(
    model: &M,
    prompt: &T2sPrompt,
    options: &GenerateOptions,
) -> Result<Generated, ModelError> {
    let mut out = run(model, &[BatchRequest { prompt, options: options.clone() }])?;
    out.pop().ok_or_else(|| ModelError::Input("internal error: the decoder returned no result".into()))
}

/// [`generate`] for one utterance with the sampler on the host, from the model's logits, also
/// returning what every step saw (parity tests).
pub fn generate_traced<M: T2sLogits>(
    model: &M,
    prompt: &T2sPrompt,
    options: &GenerateOptions,
) -> Result<(Generated, Vec<StepTrace>), ModelError> {
    let mut decoder = Decoder::new(model.config(), &prompt.prompt_tokens, options)?;
    let mut trace = Vec::new();
    let t = Instant::now();
    let (mut session, logits) = model.prefill_logits(prompt)?;
    let prefill_ms = ms(t);
    let step = decoder.step(&logits)?;
    let mut next = step.next;
    trace.push(StepTrace { logits, decision_logits: step.decision_logits });
    let start = Instant::now();
    while let Some(token) = next {
        let logits = model.step_logits(&mut [&mut session], &[token])?.pop();
        let logits = logits.ok_or_else(|| ModelError::Input("the model returned no logits".into()))?;
        let step = decoder.step(&logits)?;
        next = step.next;
        trace.push(StepTrace { logits, decision_logits: step.decision_logits });
    }
    let (tokens, steps, eos) = decoder.finish();
    Ok((Generated { tokens, steps, eos, prefill_ms, decode_ms: ms(start) }, trace))
}

/// Decodes several utterances together: one batched step per step for all running requests
/// (each with its own prompt, options and seed); a request that stops leaves the batch. Each
/// result equals what [`generate`] gives for that request alone.
pub fn generate_batch<M: TextToSemantic>(
    model: &M,
    requests: &[BatchRequest<'_>],
) -> Result<Vec<Generated>, ModelError> {
    run(model, requests)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::checkpoint::pickle::Value;
    use crate::checkpoint::{CheckpointError, TensorStore};

    /// A GPT file in memory with `config`'s shapes and an optional `config.model.head`.
    fn gpt_file(config: &T2sConfig, head: Option<i64>) -> GptFile {
        let mut store = TensorStore::new(Path::new("memory.ckpt"));
        visit_tensors(config, |name, shape| -> Result<Tensor, CheckpointError> {
            let data: Vec<f16> =
                (0..shape.iter().product()).map(|i: usize| f16::from_f32((i % 7) as f32 * 0.1)).collect();
            store.insert_f16(name, shape.to_vec(), &data)?;
            Ok(Tensor::zeros(shape))
        })
        .unwrap();
        let s = |k: &str| Value::Str(k.into());
        let config = match head {
            Some(h) => Value::Dict(vec![(s("model"), Value::Dict(vec![(s("head"), Value::Int(h))]))]),
            None => Value::None,
        };
        GptFile { path: "memory.ckpt".into(), weights: store, config, info: None }
    }

    #[test]
    fn heads_come_from_the_config_or_the_default() {
        let c =
            T2sConfig { n_layer: 3, d_model: 32, n_head: 4, ffn_dim: 48, phoneme_vocab: 10, vocab: 20, bert_dim: 8 };
        assert_eq!(T2sConfig::from_gpt(&gpt_file(&c, Some(4))).unwrap(), c);
        assert_eq!(T2sConfig::from_gpt(&gpt_file(&c, None)).unwrap().n_head, DEFAULT_HEADS);
        for bad in [5, 0, -2] {
            let r = T2sConfig::from_gpt(&gpt_file(&c, Some(bad)));
            assert!(matches!(r, Err(ModelError::Architecture { .. })), "head {bad}: {r:?}");
        }
        let model = T2sModel::load(&gpt_file(&c, Some(4))).unwrap();
        assert_eq!(model.weights.layers.len(), 3);
    }
}
