//! chinese-roberta-wwm-ext-large on the GPU in FP16: the same function as
//! [`crate::cpu::CpuBert`] (embeddings → LayerNorm → the first `L − 2` post-LN layers, upstream's
//! `hidden_states[-3]`), built from the GPT prior's kernels — tensor-core linear layers with GELU
//! fused, the unmasked prefill attention (64-channel heads), fused residual LayerNorm — so a
//! Chinese request's text features never wait on the CPU.

use std::sync::Arc;

use half::f16;
use parking_lot::Mutex;

use super::ops::{check_heads, prefill_attention, Activation, DeviceLinear, DeviceNorm};
use super::runtime::{Arg, CudaError, DeviceBuffer, GpuRuntime, Queue};
use crate::model::bert::{BertConfig, BertWeights};
use crate::model::layers::{Linear, Norm};
use crate::model::{Bert, ModelError};
use crate::tensor::Tensor;

struct GpuBertLayer {
    /// query, key and value stacked into one `[3H, H]` product, as the CPU's encoder does.
    qkv: DeviceLinear,
    out: DeviceLinear,
    attn_norm: DeviceNorm,
    ffn_in: DeviceLinear,
    ffn_out: DeviceLinear,
    ffn_norm: DeviceNorm,
}

/// Activations for the longest input (`max_position_embeddings` rows).
struct Workspace {
    ids: DeviceBuffer<i32>,
    x: DeviceBuffer<f16>,
    qkv: DeviceBuffer<f16>,
    attn: DeviceBuffer<f16>,
    proj: DeviceBuffer<f16>,
    ffn: DeviceBuffer<f16>,
}

/// BERT on one GPU.
pub struct CudaBert {
    config: BertConfig,
    q: Queue,
    word: DeviceBuffer<f16>,
    position: DeviceBuffer<f16>,
    token_type0: DeviceBuffer<f16>,
    embeddings_norm: DeviceNorm,
    layers: Vec<GpuBertLayer>,
    workspace: Mutex<Workspace>,
}

impl CudaBert {
    pub fn new(rt: Arc<GpuRuntime>, w: &BertWeights) -> Result<Self, ModelError> {
        let q = rt.queue()?;
        let c = w.config.clone();
        check_heads(c.hidden_size, c.num_attention_heads)?;
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let lin = |l: &Linear| DeviceLinear::from_tensors(&q, &l.weight, Some(&l.bias));
        let norm = |n: &Norm| DeviceNorm::new(&q, n.weight.data(), n.bias.data(), eps);
        let mut layers = Vec::with_capacity(w.layers.len());
        for l in &w.layers {
            let mut qkv_w = Vec::with_capacity(3 * h * h);
            let mut qkv_b = Vec::with_capacity(3 * h);
            for part in [&l.query, &l.key, &l.value] {
                qkv_w.extend_from_slice(part.weight.data());
                qkv_b.extend_from_slice(part.bias.data());
            }
            layers.push(GpuBertLayer {
                qkv: DeviceLinear::new(&q, &qkv_w, Some(&qkv_b), 3 * h, h)?,
                out: lin(&l.out)?,
                attn_norm: norm(&l.attn_norm)?,
                ffn_in: lin(&l.ffn_in)?,
                ffn_out: lin(&l.ffn_out)?,
                ffn_norm: norm(&l.ffn_norm)?,
            });
        }
        let rows = c.max_position_embeddings;
        let workspace = Workspace {
            ids: q.zeros(rows)?,
            x: q.zeros(rows * h)?,
            qkv: q.zeros(rows * 3 * h)?,
            attn: q.zeros(rows * h)?,
            proj: q.zeros(rows * h)?,
            ffn: q.zeros(rows * c.intermediate_size)?,
        };
        Ok(CudaBert {
            word: q.upload_f16(w.word_embeddings.data())?,
            position: q.upload_f16(w.position_embeddings.data())?,
            token_type0: q.upload_f16(w.token_type_embeddings.row(0))?,
            embeddings_norm: norm(&w.embeddings_norm)?,
            layers,
            workspace: Mutex::new(workspace),
            config: c,
            q,
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    fn run(&self, ws: &mut Workspace, input_ids: &[u32]) -> Result<Vec<f16>, CudaError> {
        let q = &self.q;
        let (rows, h) = (input_ids.len(), self.config.hidden_size);
        let ids: Vec<i32> = input_ids.iter().map(|&t| t as i32).collect();
        q.write(&mut ws.ids, 0, &ids)?;
        let (x, proj, ffn) = (ws.x.dev(), ws.proj.dev(), ws.ffn.dev());
        let args = [
            Arg::ptr(proj),
            Arg::ptr(self.word.dev()),
            Arg::ptr(self.token_type0.dev()),
            Arg::ptr(self.position.dev()),
            Arg::ptr(ws.ids.dev()),
            Arg::int(rows),
            Arg::int(h),
        ];
        // SAFETY: matches bert_embed_f16(out, word, token_type0, position, ids, rows, d); ids were
        // checked against the vocabulary and rows against the position table.
        unsafe { q.launch("bert_embed_f16", (rows as u32, 1, 1), 128, &args) }?;
        self.embeddings_norm.forward(q, x, proj, None, rows)?;
        for l in &self.layers {
            l.qkv.forward(q, x, rows, ws.qkv.dev(), Activation::None)?;
            prefill_attention(q, ws.qkv.dev(), ws.attn.dev(), rows, h, self.config.num_attention_heads, rows)?;
            l.out.forward(q, ws.attn.dev(), rows, proj, Activation::None)?;
            l.attn_norm.forward(q, x, proj, Some(x), rows)?;
            l.ffn_in.forward(q, x, rows, ffn, Activation::Gelu)?;
            l.ffn_out.forward(q, ffn, rows, proj, Activation::None)?;
            l.ffn_norm.forward(q, x, proj, Some(x), rows)?;
        }
        q.read(&ws.x, rows * h)
    }
}

impl Bert for CudaBert {
    fn hidden_states_sel(&self, input_ids: &[u32]) -> Result<Tensor, ModelError> {
        self.config.check_input_ids(input_ids)?;
        let out = self.run(&mut self.workspace.lock(), input_ids)?;
        let h = self.config.hidden_size;
        Ok(Tensor::new([input_ids.len(), h], out.iter().map(|v| v.to_f32()).collect()))
    }
}
