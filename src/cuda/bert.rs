//! chinese-roberta-wwm-ext-large on the GPU in FP16: the same function as
//! [`crate::cpu::CpuBert`] (embeddings → LayerNorm → the first `L − 2` post-LN layers, upstream's
//! `hidden_states[-3]`), built from the GPT prior's kernels through the encoder layer it shares
//! with HuBERT ([`super::encoder`]), so a Chinese request's text features never wait on the CPU.

use std::sync::Arc;

use half::f16;
use parking_lot::Mutex;

use super::encoder::{DeviceEncoderLayer, EncoderScratch};
use super::launch::{Arg, KernelLaunch};
use super::ops::{check_heads, DeviceNorm};
use super::runtime::{CudaError, Dev, DeviceBuffer, GpuRuntime, Queue};
use crate::model::bert::{BertConfig, BertWeights};
use crate::model::layers::Norm;
use crate::model::{Bert, ModelError};
use crate::tensor::Tensor;

/// Activations for the longest input (`max_position_embeddings` rows).
struct Workspace {
    ids: DeviceBuffer<i32>,
    x: DeviceBuffer<f16>,
    scratch: EncoderScratch,
}

/// BERT on one GPU.
pub struct CudaBert {
    config: BertConfig,
    q: Queue,
    word: DeviceBuffer<f16>,
    position: DeviceBuffer<f16>,
    token_type0: DeviceBuffer<f16>,
    embeddings_norm: DeviceNorm,
    layers: Vec<DeviceEncoderLayer>,
    workspace: Mutex<Workspace>,
}

impl CudaBert {
    pub fn new(rt: Arc<GpuRuntime>, w: &BertWeights) -> Result<Self, ModelError> {
        let q = rt.queue()?;
        let c = w.config.clone();
        check_heads(c.hidden_size, c.num_attention_heads)?;
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let norm = |n: &Norm| DeviceNorm::new(&q, n.weight.data(), n.bias.data(), eps);
        let layers = w
            .layers
            .iter()
            .map(|l| DeviceEncoderLayer::new(&q, l, c.num_attention_heads, eps))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = c.max_position_embeddings;
        let workspace = Workspace {
            ids: q.zeros(rows)?,
            x: q.zeros(rows * h)?,
            scratch: EncoderScratch::new(&q, rows, h, c.intermediate_size)?,
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
        let (x, embedded) = (ws.x.dev(), ws.scratch.proj());
        let tables = BertEmbeddings {
            word: self.word.dev(),
            token_type0: self.token_type0.dev(),
            position: self.position.dev(),
            d: h,
        };
        let launch = bert_embed_launch(tables, ws.ids.dev(), rows, embedded);
        // SAFETY: built by bert_embed_launch (see there); ids were checked against the vocabulary
        // and rows against the position table.
        unsafe { q.run(&launch) }?;
        self.embeddings_norm.forward(q, x, embedded, None, rows)?;
        for layer in &self.layers {
            layer.forward(q, x, rows, &ws.scratch)?;
        }
        q.read(&ws.x, rows * h)
    }
}

/// BERT's embedding tables on the device: word `[vocab, d]`, token type 0 `[d]`, position
/// `[positions, d]`.
#[derive(Debug, Clone, Copy)]
pub struct BertEmbeddings {
    pub word: Dev<f16>,
    pub token_type0: Dev<f16>,
    pub position: Dev<f16>,
    pub d: usize,
}

/// `out[r] = (word[ids[r]] + token_type0) + position[r]` for `rows` rows (the sum before the
/// embeddings' LayerNorm): matches `bert_embed_f16(out, word, token_type0, position, ids, rows,
/// d)`, one block of 128 threads per row.
pub fn bert_embed_launch(tables: BertEmbeddings, ids: Dev<i32>, rows: usize, out: Dev<f16>) -> KernelLaunch {
    let d = tables.d;
    assert!(tables.word.len().is_multiple_of(d) && tables.token_type0.len() >= d, "BERT embedding tables");
    assert!(tables.position.len() >= rows * d, "BERT position table shorter than {rows} rows");
    assert!(ids.len() >= rows && out.len() >= rows * d, "BERT embedding operands too small for {rows} rows");
    let args = vec![
        Arg::ptr(out),
        Arg::ptr(tables.word),
        Arg::ptr(tables.token_type0),
        Arg::ptr(tables.position),
        Arg::ptr(ids),
        Arg::int(rows),
        Arg::int(d),
    ];
    KernelLaunch { kernel: "bert_embed_f16", grid: (rows as u32, 1, 1), block: 128, args }
}

impl Bert for CudaBert {
    fn hidden_states_sel(&self, input_ids: &[u32]) -> Result<Tensor, ModelError> {
        self.config.check_input_ids(input_ids)?;
        let out = self.run(&mut self.workspace.lock(), input_ids)?;
        let h = self.config.hidden_size;
        Ok(Tensor::new([input_ids.len(), h], out.iter().map(|v| v.to_f32()).collect()))
    }
}
