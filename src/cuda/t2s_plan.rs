//! The GPT prior's prefill and decode step as lists of launches ([`KernelLaunch`]) over device
//! handles: which kernels run, in which order, on which buffers. [`super::t2s::CudaT2s`] queues
//! them (and captures a step as a CUDA graph); the emulation test runs the very same lists
//! without a GPU against the CPU GPT, so the wiring of the step is checked in CI, not only each
//! kernel on its own.

use half::f16;

use super::launch::KernelLaunch;
use super::ops::{
    ffn_add_norm_launch, layer_norm_launch, linear_add_norm_launch, linear_launch, prefill_attention_launch,
    Activation, FfnScratch, LinearOutput, LinearWeights, NormWeights, Rows, FUSED_NORM_MAX_ROWS,
};
use super::runtime::{CudaError, Dev};
use super::t2s_kernels::{
    advance_slots_launch, decode_attention_launch, embed_positions_launch, AttentionGrid, AttentionScratch, LayerCache,
    PositionalEmbedding, StepRows,
};
use crate::model::t2s::{T2sModel, LAYER_NORM_EPS};
use crate::tensor::Tensor;

/// One transformer block's weights on the device.
#[derive(Debug, Clone, Copy)]
pub struct LayerWeights {
    pub in_proj: LinearWeights,
    pub out_proj: LinearWeights,
    pub linear1: LinearWeights,
    pub linear2: LinearWeights,
    pub norm1: NormWeights,
    pub norm2: NormWeights,
}

/// The GPT's weights on the device.
#[derive(Debug, Clone)]
pub struct GptWeights {
    pub bert_proj: LinearWeights,
    pub text: PositionalEmbedding,
    pub audio: PositionalEmbedding,
    pub layers: Vec<LayerWeights>,
    /// The LM head (no bias), `[vocab, d]`.
    pub head: LinearWeights,
    pub n_head: usize,
}

/// Where [`GptWeights::place`] puts a GPT's tensors as f16: device buffers for `CudaT2s`, an
/// emulation case's buffers for the test. `name` says which tensor it is (`l3.linear1.weight`).
pub trait WeightStore {
    fn f16(&mut self, name: &str, values: &[f32]) -> Result<Dev<f16>, CudaError>;
}

impl GptWeights {
    /// `model`'s weights placed in `store` as f16 (their checkpoint precision).
    pub fn place(model: &T2sModel, store: &mut impl WeightStore) -> Result<Self, CudaError> {
        let (c, w) = (&model.config, &model.weights);
        let mut layers = Vec::with_capacity(w.layers.len());
        for (i, l) in w.layers.iter().enumerate() {
            let name = |part: &str| format!("l{i}.{part}");
            layers.push(LayerWeights {
                in_proj: place_linear(store, &name("in_proj"), &l.in_proj_weight, Some(&l.in_proj_bias))?,
                out_proj: place_linear(store, &name("out_proj"), &l.out_proj_weight, Some(&l.out_proj_bias))?,
                linear1: place_linear(store, &name("linear1"), &l.linear1_weight, Some(&l.linear1_bias))?,
                linear2: place_linear(store, &name("linear2"), &l.linear2_weight, Some(&l.linear2_bias))?,
                norm1: place_norm(store, &name("norm1"), &l.norm1_weight, &l.norm1_bias)?,
                norm2: place_norm(store, &name("norm2"), &l.norm2_weight, &l.norm2_bias)?,
            });
        }
        let text = place_embedding(store, "text_embedding", &w.ar_text_embedding, w.ar_text_position_alpha)?;
        let audio = place_embedding(store, "audio_embedding", &w.ar_audio_embedding, w.ar_audio_position_alpha)?;
        Ok(GptWeights {
            bert_proj: place_linear(store, "bert_proj", &w.bert_proj_weight, Some(&w.bert_proj_bias))?,
            text,
            audio,
            layers,
            head: place_linear(store, "head", &w.ar_predict_layer, None)?,
            n_head: c.n_head,
        })
    }

    fn d(&self) -> usize {
        self.audio.d
    }
}

fn place_linear(
    store: &mut impl WeightStore,
    name: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<LinearWeights, CudaError> {
    Ok(LinearWeights {
        weight: store.f16(&format!("{name}.weight"), weight.data())?,
        bias: bias.map(|b| store.f16(&format!("{name}.bias"), b.data())).transpose()?,
        n: weight.shape()[0],
        k: weight.shape()[1],
    })
}

fn place_embedding(
    store: &mut impl WeightStore,
    name: &str,
    table: &Tensor,
    alpha: f32,
) -> Result<PositionalEmbedding, CudaError> {
    Ok(PositionalEmbedding { table: store.f16(name, table.data())?, alpha, d: table.shape()[1] })
}

fn place_norm(
    store: &mut impl WeightStore,
    name: &str,
    gamma: &Tensor,
    beta: &Tensor,
) -> Result<NormWeights, CudaError> {
    Ok(NormWeights {
        gamma: store.f16(&format!("{name}.weight"), gamma.data())?,
        beta: store.f16(&format!("{name}.bias"), beta.data())?,
        eps: LAYER_NORM_EPS,
    })
}

/// The device memory a prefill or a step reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct GptBuffers {
    /// `[layers, slots + 1, max_context, d]`; slot `slots` pads a graph's unused rows.
    pub keys: Dev<f16>,
    pub values: Dev<f16>,
    pub max_context: usize,
    /// Real slots (the padding slot excluded).
    pub slots: usize,
    /// Per slot: positions in the cache, next audio position.
    pub slot_len: Dev<i32>,
    pub slot_pos: Dev<i32>,
    /// Activations `[rows, d]` (the residual stream), `[rows, 3d]`, `[rows, d]` ×2, `[rows, ffn]`.
    pub x: Dev<f16>,
    pub qkv: Dev<f16>,
    pub attn: Dev<f16>,
    pub proj: Dev<f16>,
    pub ffn: Dev<f16>,
    /// A prompt's BERT features as rows `[n_text, bert_dim]`.
    pub bert: Dev<f16>,
    /// A prompt's phone ids then prompt tokens, or a step's tokens.
    pub ids: Dev<i32>,
    /// A step's row → slot map.
    pub row_slot: Dev<i32>,
    /// `[rows, vocab]` f32.
    pub logits: Dev<f32>,
    pub attention: AttentionScratch,
    /// One per 8-row group of the fused out-projection LayerNorm.
    pub norm_counters: Dev<i32>,
    pub ffn_scratch: FfnScratch,
}

impl GptBuffers {
    /// Layer `layer`'s slice of the key and value caches.
    pub fn layer_cache(&self, layer: usize, d: usize) -> LayerCache {
        let per_layer = (self.slots + 1) * self.max_context * d;
        LayerCache {
            keys: self.keys.range(layer * per_layer, per_layer),
            values: self.values.range(layer * per_layer, per_layer),
            max_ctx: self.max_context,
            d,
        }
    }
}

/// `count` rows of `data`, `stride` halves apart.
fn rows_of(data: Dev<f16>, count: usize, stride: usize) -> Rows {
    Rows { data, count, stride }
}

/// A prompt of `n_text` phones and `n_prompt` prompt tokens into `slot`: embeddings, every layer
/// (its K and V stored in the slot by the attention), and the last row's logits in `logits[0..vocab]`. The caller
/// has written `bert` and `ids`, and sets the slot's length and audio position afterwards.
pub fn prefill_launches(
    w: &GptWeights,
    b: &GptBuffers,
    n_text: usize,
    n_prompt: usize,
    slot: usize,
) -> Result<Vec<KernelLaunch>, CudaError> {
    let (d, rows) = (w.d(), n_text + n_prompt);
    let mut launches = vec![
        linear_launch(
            w.bert_proj,
            rows_of(b.bert, n_text, w.bert_proj.k),
            LinearOutput::F16(b.x),
            d,
            Activation::None,
        )?,
        embed_positions_launch(w.text, b.ids, None, n_text, b.x, true),
    ];
    if n_prompt > 0 {
        let (audio_ids, audio_rows) = (b.ids.range(n_text, n_prompt), b.x.range(n_text * d, n_prompt * d));
        launches.push(embed_positions_launch(w.audio, audio_ids, None, n_prompt, audio_rows, false));
    }
    for (li, layer) in w.layers.iter().enumerate() {
        launches.push(qkv_launch(layer, b, rows, d)?);
        let cache = Some(b.layer_cache(li, d).slot(slot));
        launches.push(prefill_attention_launch(b.qkv, b.attn, rows, d, w.n_head, n_text, cache)?);
        launches.extend(block_tail_launches(layer, b, rows, d)?);
    }
    let last = rows_of(b.x.range((rows - 1) * d, d), 1, d);
    launches.push(linear_launch(w.head, last, LinearOutput::F32(b.logits), w.head.n, Activation::None)?);
    Ok(launches)
}

/// One decode step for `rows` rows whose tokens and slots are in `ids` / `row_slot`: embedding,
/// every layer (attention over each slot's live positions, appending the new K and V), the
/// logits `[rows, vocab]`, and each real slot's length and audio position advanced. Everything a
/// CUDA graph captures, but the sampler.
pub fn decode_step_launches(w: &GptWeights, b: &GptBuffers, rows: usize) -> Result<Vec<KernelLaunch>, CudaError> {
    let d = w.d();
    let step = StepRows { row_slot: b.row_slot, rows };
    let grid = AttentionGrid::for_step(rows, w.n_head, b.max_context);
    let mut launches = vec![embed_positions_launch(w.audio, b.ids, Some((b.row_slot, b.slot_pos)), rows, b.x, false)];
    for (li, layer) in w.layers.iter().enumerate() {
        launches.push(qkv_launch(layer, b, rows, d)?);
        launches.push(decode_attention_launch(
            b.layer_cache(li, d),
            b.qkv,
            step,
            b.slot_len,
            grid,
            b.attention,
            b.attn,
        ));
        launches.extend(block_tail_launches(layer, b, rows, d)?);
    }
    launches.push(linear_launch(
        w.head,
        rows_of(b.x, rows, d),
        LinearOutput::F32(b.logits),
        w.head.n,
        Activation::None,
    )?);
    launches.push(advance_slots_launch(step, b.slot_len, b.slot_pos, b.slots));
    Ok(launches)
}

/// A block's fused Q, K, V projection of `rows` rows of `x` into `qkv`.
fn qkv_launch(layer: &LayerWeights, b: &GptBuffers, rows: usize, d: usize) -> Result<KernelLaunch, CudaError> {
    linear_launch(layer.in_proj, rows_of(b.x, rows, d), LinearOutput::F16(b.qkv), 3 * d, Activation::None)
}

/// A block after its attention, on `rows` rows of `x`: out-projection, residual LayerNorm, FFN,
/// residual LayerNorm. Up to [`FUSED_NORM_MAX_ROWS`] rows two launches (the out-projection
/// normalises in its last block; the whole FFN is one kernel), above five.
fn block_tail_launches(
    layer: &LayerWeights,
    b: &GptBuffers,
    rows: usize,
    d: usize,
) -> Result<Vec<KernelLaunch>, CudaError> {
    let ffn_width = layer.linear1.n;
    let attn = rows_of(b.attn, rows, d);
    if rows <= FUSED_NORM_MAX_ROWS {
        return Ok(vec![
            linear_add_norm_launch(layer.out_proj, attn, b.proj, b.x, layer.norm1, b.norm_counters)?,
            ffn_add_norm_launch(layer.linear1, layer.linear2, b.x, rows, layer.norm2, b.ffn_scratch)?,
        ]);
    }
    Ok(vec![
        linear_launch(layer.out_proj, attn, LinearOutput::F16(b.proj), d, Activation::None)?,
        layer_norm_launch(layer.norm1, b.x, b.proj, Some(b.x), rows),
        linear_launch(layer.linear1, rows_of(b.x, rows, d), LinearOutput::F16(b.ffn), ffn_width, Activation::Relu)?,
        linear_launch(layer.linear2, rows_of(b.ffn, rows, ffn_width), LinearOutput::F16(b.proj), d, Activation::None)?,
        layer_norm_launch(layer.norm2, b.x, b.proj, Some(b.x), rows),
    ])
}
