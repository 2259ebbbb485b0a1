//! CPU implementation of the GPT prior (upstream `Text2SemanticDecoder` with its TorchScript
//! `T2STransformer.process_prompt` / `decode_next_token` KV-cache path, research/upstream-v2.md
//! §4.2–4.4): [`CpuT2s`] implements [`TextToSemantic`].
//!
//! * Prefill runs `[text | prompt tokens]` (`S = N + P` positions) through every block with
//!   upstream's mask: text rows see only text, audio rows see text + earlier audio. It works
//!   channel-first (`[d, S]`); products go through `ops::matmul_into` (gemm) with the weights
//!   widened to f32 one matrix at a time.
//! * A decode step feeds one token to each session of a batch. Every weight is read once per
//!   step for the whole batch ([`linear_few`], f16 weights widened in registers); attention runs
//!   per session over its own cache. Results do not depend on the batch a session is in.
//!
//! Decode activations are `[B, d]` row-major. The KV cache of a layer is a list of blocks of
//! [`KV_CHUNK`] positions, each `[head, KV_CHUNK, hd]`: a head's keys are contiguous for the
//! decode step, and a growing cache never moves.

use rayon::prelude::*;

use super::gemv::{linear_few, matvec, matvec_t_acc, WeightMat};
use super::ops::{self, layer_norm_channels, layer_norm_rows, matmul_into, relu_slice, MatRef};
use super::vecmath::{exp_in_place, softmax};
use crate::checkpoint::GptFile;
use crate::model::t2s::{add_embedding, check_tokens, validate_prompt, T2sConfig, T2sModel, LAYER_NORM_EPS};
use crate::model::{ModelError, SamplesOnHost, T2sLogits, T2sPrompt};
use crate::tensor::Tensor;

/// KV-cache growth step, in positions (about 2 s of audio).
pub const KV_CHUNK: usize = 64;

/// The product a block uses, `(x, W, b) ↦ linear(x)` in the block's [`Layout`].
type LinearFn<'a> = dyn FnMut(&[f32], &WeightMat, &[f32]) -> Vec<f32> + 'a;

/// One block's weights in compute form.
struct Layer {
    in_proj: WeightMat,     // [3d, d]
    in_proj_bias: Vec<f32>, // [3d]
    out_proj: WeightMat,    // [d, d]
    out_proj_bias: Vec<f32>,
    linear1: WeightMat, // [ffn, d]
    linear1_bias: Vec<f32>,
    linear2: WeightMat, // [d, ffn]
    linear2_bias: Vec<f32>,
    norm1_weight: Tensor, // [d]
    norm1_bias: Tensor,
    norm2_weight: Tensor,
    norm2_bias: Tensor,
}

/// The GPT prior on the CPU.
pub struct CpuT2s {
    config: T2sConfig,
    bert_proj_weight: Tensor, // [d, bert]
    bert_proj_bias: Tensor,   // [d]
    text_embedding: Tensor,   // [phoneme_vocab, d]
    text_alpha: f32,
    audio_embedding: Tensor, // [V, d]
    audio_alpha: f32,
    layers: Vec<Layer>,
    head: WeightMat, // ar_predict_layer [V, d]
}

/// One utterance's decoding state: the KV cache of every layer and the position counters.
pub struct CpuT2sSession {
    d_model: usize,
    n_head: usize,
    /// Positions cached in every layer (text + prompt + fed tokens).
    len: usize,
    /// Per layer, per block of [`KV_CHUNK`] positions: keys `[head, KV_CHUNK, hd]`, so that one
    /// head's keys are contiguous and the cache grows without copying.
    keys: Vec<Vec<Vec<f32>>>,
    /// Values, laid out like `keys`.
    values: Vec<Vec<Vec<f32>>>,
    /// Audio position of the next token fed (`P` after the prefill, then +1 per step).
    audio_pos: usize,
}

/// Shows the cache length, not its contents.
impl std::fmt::Debug for CpuT2sSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuT2sSession").field("positions", &self.len).field("audio_pos", &self.audio_pos).finish()
    }
}

impl CpuT2sSession {
    /// An empty cache whose next token sits at `audio_pos`.
    pub fn new(config: &T2sConfig, audio_pos: usize) -> Self {
        CpuT2sSession {
            d_model: config.d_model,
            n_head: config.n_head,
            len: 0,
            keys: vec![Vec::new(); config.n_layer],
            values: vec![Vec::new(); config.n_layer],
            audio_pos,
        }
    }

    /// Positions in the cache (text + prompt + fed tokens).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Audio position of the next token fed.
    pub fn audio_pos(&self) -> usize {
        self.audio_pos
    }

    /// Stores the key and value rows `[d]` of the newest position (`len`, not yet counted) in one
    /// layer's cache; [`decode_attention`] then attends over it.
    pub fn append_kv(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        let (d, hd) = (self.d_model, self.d_model / self.n_head);
        let (chunk, row) = (self.len / KV_CHUNK, self.len % KV_CHUNK);
        for (cache, new) in [(&mut self.keys[layer], k), (&mut self.values[layer], v)] {
            if chunk == cache.len() {
                cache.push(vec![0.0; KV_CHUNK * d]);
            }
            for (h, src) in new.chunks_exact(hd).enumerate() {
                let at = (h * KV_CHUNK + row) * hd;
                cache[chunk][at..at + hd].copy_from_slice(src);
            }
        }
    }

    /// Counts the newest position in (after every layer appended it) and moves to the next
    /// token's audio position (the twin of kernels/attention.cu's `advance_slots`).
    pub fn advance(&mut self) {
        self.len += 1;
        self.audio_pos += 1;
    }

    /// Stores the keys and values of positions `0..S` of an empty layer cache, given as
    /// `[d, S]` (channel-first, as the prefill computes them); the session then holds `S`
    /// positions (every layer stores the same `S`).
    pub fn store_prefill_kv(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        let (d, hd) = (self.d_model, self.d_model / self.n_head);
        let s = k.len() / d;
        for (cache, src) in [(&mut self.keys[layer], k), (&mut self.values[layer], v)] {
            assert!(cache.is_empty(), "prefill into a used session");
            cache.resize(s.div_ceil(KV_CHUNK), vec![0.0; KV_CHUNK * d]);
            for (c, channel) in src.chunks_exact(s).enumerate() {
                let (h, j) = (c / hd, c % hd);
                for (pos, &val) in channel.iter().enumerate() {
                    cache[pos / KV_CHUNK][(h * KV_CHUNK + pos % KV_CHUNK) * hd + j] = val;
                }
            }
        }
        self.len = s;
    }

    /// Head `h`'s rows of the first `n` positions of `cache`, block by block: `(first position,
    /// [rows, hd])`.
    fn head_blocks<'a>(
        &self,
        cache: &'a [Vec<f32>],
        h: usize,
        n: usize,
    ) -> impl Iterator<Item = (usize, &'a [f32])> + 'a {
        let hd = self.d_model / self.n_head;
        cache.iter().enumerate().take(n.div_ceil(KV_CHUNK)).map(move |(c, block)| {
            let (start, rows) = (c * KV_CHUNK, (n - c * KV_CHUNK).min(KV_CHUNK));
            (start, &block[h * KV_CHUNK * hd..][..rows * hd])
        })
    }
}

impl CpuT2s {
    /// Loads a GPT `.ckpt` (opened with [`crate::checkpoint::open_gpt`]).
    pub fn load(file: &GptFile) -> Result<Self, ModelError> {
        Ok(Self::new(T2sModel::load(file)?))
    }

    /// Converts backend-neutral weights to compute form (f16 where exact, see [`WeightMat`]).
    pub fn new(model: T2sModel) -> Self {
        let T2sModel { config, weights: w } = model;
        let layers = w
            .layers
            .into_iter()
            .map(|l| Layer {
                in_proj: WeightMat::new(&l.in_proj_weight),
                in_proj_bias: l.in_proj_bias.into_data(),
                out_proj: WeightMat::new(&l.out_proj_weight),
                out_proj_bias: l.out_proj_bias.into_data(),
                linear1: WeightMat::new(&l.linear1_weight),
                linear1_bias: l.linear1_bias.into_data(),
                linear2: WeightMat::new(&l.linear2_weight),
                linear2_bias: l.linear2_bias.into_data(),
                norm1_weight: l.norm1_weight,
                norm1_bias: l.norm1_bias,
                norm2_weight: l.norm2_weight,
                norm2_bias: l.norm2_bias,
            })
            .collect();
        CpuT2s {
            config,
            bert_proj_weight: w.bert_proj_weight,
            bert_proj_bias: w.bert_proj_bias,
            text_embedding: w.ar_text_embedding,
            text_alpha: w.ar_text_position_alpha,
            audio_embedding: w.ar_audio_embedding,
            audio_alpha: w.ar_audio_position_alpha,
            layers,
            head: WeightMat::new(&w.ar_predict_layer),
        }
    }

    /// The first transformer input `xy_pos` `[N + P, d]` (§4.2–4.3): text rows
    /// `ar_text_embedding(phones) + bert_proj(bertᵀ) + α_t·PE[0..N]`, then audio rows
    /// `ar_audio_embedding(prompt) + α_a·PE[0..P]`.
    pub fn embed(&self, prompt: &T2sPrompt) -> Result<Tensor, ModelError> {
        validate_prompt(&self.config, prompt)?;
        let d = self.config.d_model;
        let text = ops::linear(&prompt.bert.t(), &self.bert_proj_weight, Some(&self.bert_proj_bias));
        let mut xy = text.into_data();
        for (i, (row, &p)) in xy.chunks_exact_mut(d).zip(&prompt.phone_ids).enumerate() {
            add_embedding(row, self.text_embedding.row(p as usize), i, self.text_alpha);
        }
        for (j, &t) in prompt.prompt_tokens.iter().enumerate() {
            let start = xy.len();
            xy.resize(start + d, 0.0);
            add_embedding(&mut xy[start..], self.audio_embedding.row(t as usize), j, self.audio_alpha);
        }
        let rows = xy.len() / d;
        Ok(Tensor::new([rows, d], xy))
    }

    /// One post-norm block (§4.4), in place on `x` (in `layout`). `linear(x, w, b)` is the
    /// product in that layout; `attend(qkv)` maps the projected `qkv` to the attention output
    /// and caches K and V.
    fn block(
        &self,
        layer: &Layer,
        x: &mut Tensor,
        layout: Layout,
        linear: &mut LinearFn<'_>,
        attend: impl FnOnce(&[f32]) -> Vec<f32>,
    ) {
        let qkv = linear(x.data(), &layer.in_proj, &layer.in_proj_bias);
        let a = attend(&qkv);
        let a = linear(&a, &layer.out_proj, &layer.out_proj_bias);
        add_and_norm(x, &a, &layer.norm1_weight, &layer.norm1_bias, layout);
        let mut h = linear(x.data(), &layer.linear1, &layer.linear1_bias);
        relu_slice(&mut h);
        let f = linear(&h, &layer.linear2, &layer.linear2_bias);
        add_and_norm(x, &f, &layer.norm2_weight, &layer.norm2_bias, layout);
    }

    fn check_session(&self, s: &CpuT2sSession) -> Result<(), ModelError> {
        if s.d_model != self.config.d_model || s.n_head != self.config.n_head || s.keys.len() != self.config.n_layer {
            return Err(ModelError::Input("this session was started by a different GPT model".into()));
        }
        Ok(())
    }
}

/// How activations are stored: decode steps work on `[B, d]` rows, the prefill on `[d, S]`
/// columns (then every product is `W · x` with unit-stride operands, gemm's fast case, and no
/// weight matrix needs transposing).
#[derive(Clone, Copy)]
enum Layout {
    Rows,
    Columns,
}

/// `x = LayerNorm(x + f)` over the model width, in either layout.
fn add_and_norm(x: &mut Tensor, f: &[f32], gamma: &Tensor, beta: &Tensor, layout: Layout) {
    x.data_mut().iter_mut().zip(f).for_each(|(a, b)| *a += b);
    match layout {
        Layout::Rows => layer_norm_rows(x, gamma, beta, LAYER_NORM_EPS),
        Layout::Columns => layer_norm_channels(x, gamma.data(), beta.data(), LAYER_NORM_EPS),
    }
}

/// `W · x + b` for `x [cols, S]` → `[rows, S]`, through gemm (`W` widened into `scratch` when
/// stored as f16).
fn linear_columns(x: &[f32], w: &WeightMat, bias: &[f32], scratch: &mut Vec<f32>) -> Vec<f32> {
    let (n, k) = (w.rows(), w.cols());
    let s = x.len() / k;
    let mut out = Vec::with_capacity(n * s);
    for &b in bias {
        out.extend(std::iter::repeat_n(b, s));
    }
    matmul_into(n, s, k, MatRef::rows(w.as_f32(scratch), k), MatRef::rows(x, s), &mut out, true);
    out
}

/// `linear_few` returning a new buffer.
fn linear_step(x: &[f32], w: &WeightMat, bias: &[f32]) -> Vec<f32> {
    let m = x.len() / w.cols();
    let mut out = vec![0.0; m * w.rows()];
    linear_few(x, m, w, Some(bias), &mut out);
    out
}

/// Masked multi-head attention of the prefill on `qkv [3d, S]` (§4.3 mask): text queries see
/// the text keys only, audio queries see the text and every audio key up to themselves.
/// Returns `[d, S]`. Scores are computed transposed (`[key, query]`) so that both products
/// have unit-stride operands.
pub fn prefill_attention(qkv: &[f32], d: usize, n_text: usize, n_head: usize) -> Vec<f32> {
    let s = qkv.len() / (3 * d);
    let hd = d / n_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0.0; d * s];
    out.par_chunks_mut(hd * s).enumerate().for_each(|(h, o)| {
        let q = MatRef::rows(&qkv[h * hd * s..], s);
        let kt = MatRef { data: &qkv[(d + h * hd) * s..], rs: 1, cs: s };
        let v = MatRef::rows(&qkv[(2 * d + h * hd) * s..], s);
        let mut p = vec![0.0; s * s];
        matmul_into(s, s, hd, kt, q, &mut p, false);
        masked_softmax_columns(&mut p, s, n_text, scale);
        matmul_into(hd, s, s, v, MatRef::rows(&p, s), o, false);
    });
    out
}

/// Softmax over keys of `scale · p` for `p [key, query]`, per query column, with the prefill
/// mask: key `i` is visible to every query when it is text (`i < n_text`), else to queries
/// `≥ i`. Masked entries become 0. Same arithmetic as `vecmath::softmax` on each column.
fn masked_softmax_columns(p: &mut [f32], s: usize, n_text: usize, scale: f32) {
    let first_query = |i: usize| if i < n_text { 0 } else { i };
    let mut max = vec![f32::NEG_INFINITY; s];
    for (i, row) in p.chunks_exact_mut(s).enumerate() {
        let lo = first_query(i);
        row[..lo].fill(0.0);
        for (v, m) in row[lo..].iter_mut().zip(&mut max[lo..]) {
            *v *= scale;
            *m = m.max(*v);
        }
    }
    let mut sum = vec![0.0f32; s];
    for (i, row) in p.chunks_exact_mut(s).enumerate() {
        let lo = first_query(i);
        row[lo..].iter_mut().zip(&max[lo..]).for_each(|(v, m)| *v -= m);
        exp_in_place(&mut row[lo..]);
        sum[lo..].iter_mut().zip(&row[lo..]).for_each(|(t, v)| *t += v);
    }
    // Key 0 is text and visible to every query, so no sum is 0.
    let inv: Vec<f32> = sum.iter().map(|t| 1.0 / t).collect();
    for (i, row) in p.chunks_exact_mut(s).enumerate() {
        let lo = first_query(i);
        row[lo..].iter_mut().zip(&inv[lo..]).for_each(|(v, r)| *v *= r);
    }
}

/// Attention of each session's newest position over its whole cache (the newest K/V
/// included): no mask, as upstream's single-position decode. `qkv` is `[B, 3d]`; returns `[B, d]`.
pub fn decode_attention(
    sessions: &[&mut CpuT2sSession],
    layer: usize,
    qkv: &[f32],
    d: usize,
    n_head: usize,
) -> Vec<f32> {
    let hd = d / n_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0.0; sessions.len() * d];
    out.par_chunks_mut(hd).enumerate().for_each(|(item, o)| {
        let (i, h) = (item / n_head, item % n_head);
        let s = &sessions[i];
        let n = s.len + 1;
        let q = &qkv[i * 3 * d + h * hd..][..hd];
        let mut w = vec![0.0; n];
        for (start, keys) in s.head_blocks(&s.keys[layer], h, n) {
            matvec(keys, q, &mut w[start..start + keys.len() / hd]);
        }
        w.iter_mut().for_each(|x| *x *= scale);
        softmax(&mut w);
        for (start, values) in s.head_blocks(&s.values[layer], h, n) {
            matvec_t_acc(values, &w[start..start + values.len() / hd], o);
        }
    });
    out
}

/// The CPU samples on the host, from its logits.
impl SamplesOnHost for CpuT2s {}

impl T2sLogits for CpuT2s {
    type Session = CpuT2sSession;

    fn config(&self) -> &T2sConfig {
        &self.config
    }

    fn prefill_logits(&self, prompt: &T2sPrompt) -> Result<(CpuT2sSession, Vec<f32>), ModelError> {
        let mut x = self.embed(prompt)?.t();
        let (d, n_text, rows) = (self.config.d_model, prompt.phone_ids.len(), x.dim(1));
        let mut session = CpuT2sSession::new(&self.config, prompt.prompt_tokens.len());
        let mut scratch = Vec::new();
        let mut linear = |a: &[f32], w: &WeightMat, b: &[f32]| linear_columns(a, w, b, &mut scratch);
        for (li, layer) in self.layers.iter().enumerate() {
            self.block(layer, &mut x, Layout::Columns, &mut linear, |qkv| {
                session.store_prefill_kv(li, &qkv[d * rows..2 * d * rows], &qkv[2 * d * rows..]);
                prefill_attention(qkv, d, n_text, self.config.n_head)
            });
        }
        let last: Vec<f32> = x.data().chunks_exact(rows).map(|channel| channel[rows - 1]).collect();
        let mut logits = vec![0.0; self.config.vocab];
        linear_few(&last, 1, &self.head, None, &mut logits);
        Ok((session, logits))
    }

    fn step_logits(&self, sessions: &mut [&mut CpuT2sSession], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        if sessions.len() != tokens.len() {
            return Err(ModelError::Input(format!("{} sessions but {} tokens", sessions.len(), tokens.len())));
        }
        check_tokens(&self.config, tokens, "token")?;
        for s in sessions.iter() {
            self.check_session(s)?;
        }
        let (d, v) = (self.config.d_model, self.config.vocab);
        let mut x = vec![0.0; sessions.len() * d];
        for ((row, s), &t) in x.chunks_exact_mut(d).zip(sessions.iter()).zip(tokens) {
            add_embedding(row, self.audio_embedding.row(t as usize), s.audio_pos, self.audio_alpha);
        }
        let mut x = Tensor::new([sessions.len(), d], x);
        for (li, layer) in self.layers.iter().enumerate() {
            self.block(layer, &mut x, Layout::Rows, &mut linear_step, |qkv| {
                for (s, row) in sessions.iter_mut().zip(qkv.chunks_exact(3 * d)) {
                    s.append_kv(li, &row[d..2 * d], &row[2 * d..]);
                }
                decode_attention(sessions, li, qkv, d, self.config.n_head)
            });
        }
        sessions.iter_mut().for_each(|s| s.advance());
        let mut logits = vec![0.0; sessions.len() * v];
        linear_few(x.data(), sessions.len(), &self.head, None, &mut logits);
        Ok(logits.chunks_exact(v).map(<[f32]>::to_vec).collect())
    }
}
