//! `BertModel` up to `hidden_states[-3]` on the CPU (transformers `modeling_bert.py`;
//! research/upstream-v2.md §2.6): embeddings `word + token_type(0) + position` → LayerNorm →
//! the first `L − 2` post-LN encoder layers. Batch 1, attention mask all ones (no padding).

use crate::checkpoint::HfFolder;
use crate::model::bert::{BertConfig, BertWeights};
use crate::model::layers::Norm;
use crate::model::{Bert, ModelError};
use crate::tensor::Tensor;

use super::encoder::PostLnEncoderLayer;
use super::ops::layer_norm_slice;

/// chinese-roberta-wwm-ext-large ready to run.
pub struct CpuBert {
    config: BertConfig,
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    /// Row 0 of `token_type_embeddings` (upstream's `token_type_ids` are all zeros).
    token_type_0: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<PostLnEncoderLayer>,
}

/// The hidden states the fixture checks.
#[derive(Debug, Clone)]
pub struct BertTrace {
    /// `hidden_states[0]`, the embedding output `[n_tok, H]`.
    pub hidden_state_0: Tensor,
    /// `hidden_states[-3]` `[n_tok, H]`.
    pub hidden_state_sel: Tensor,
}

impl CpuBert {
    /// Loads a `chinese-roberta-wwm-ext-large` folder (only the layers upstream's output uses).
    pub fn load(folder: &HfFolder) -> Result<Self, ModelError> {
        Ok(Self::new(BertWeights::load(folder)?))
    }

    pub fn new(w: BertWeights) -> Self {
        let (heads, eps) = (w.config.num_attention_heads, w.config.layer_norm_eps);
        CpuBert {
            token_type_0: w.token_type_embeddings.row(0).to_vec(),
            layers: w.layers.into_iter().map(|l| PostLnEncoderLayer::new(l, heads, eps)).collect(),
            config: w.config,
            word_embeddings: w.word_embeddings,
            position_embeddings: w.position_embeddings,
            embeddings_norm: w.embeddings_norm,
        }
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Embeddings and `hidden_states[-3]` of `input_ids` (with `[CLS]`/`[SEP]`).
    pub fn forward_traced(&self, input_ids: &[u32]) -> Result<BertTrace, ModelError> {
        let cfg = &self.config;
        cfg.check_input_ids(input_ids)?;
        let h = cfg.hidden_size;
        let mut x = vec![0.0f32; input_ids.len() * h];
        for (pos, (row, &id)) in x.chunks_exact_mut(h).zip(input_ids).enumerate() {
            embedding_sum(
                row,
                self.word_embeddings.row(id as usize),
                &self.token_type_0,
                self.position_embeddings.row(pos),
            );
            layer_norm_slice(
                row,
                self.embeddings_norm.weight.data(),
                self.embeddings_norm.bias.data(),
                cfg.layer_norm_eps,
            );
        }
        let hidden_state_0 = Tensor::new([input_ids.len(), h], x);
        let mut hidden = hidden_state_0.clone();
        for layer in &self.layers {
            hidden = layer.forward(&hidden);
        }
        Ok(BertTrace { hidden_state_0, hidden_state_sel: hidden })
    }
}

/// BERT's embedding of one token before its LayerNorm, `(word + token_type) + position` in f32 in
/// that order (transformers' order). The twin of kernels/embed.cu's `bert_embed_f16`.
pub fn embedding_sum(out: &mut [f32], word: &[f32], token_type: &[f32], position: &[f32]) {
    for (((o, &w), &t), &p) in out.iter_mut().zip(word).zip(token_type).zip(position) {
        *o = (w + t) + p;
    }
}

impl Bert for CpuBert {
    fn hidden_states_sel(&self, input_ids: &[u32]) -> Result<Tensor, ModelError> {
        Ok(self.forward_traced(input_ids)?.hidden_state_sel)
    }
}
