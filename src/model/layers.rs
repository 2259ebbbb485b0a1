//! Weights of the standard `torch.nn` layers the Hugging Face models are built from.

use crate::tensor::Tensor;

use super::{ModelError, Weights};

/// Affine parameters of a `nn.LayerNorm` / `nn.GroupNorm` (`weight`, `bias`).
#[derive(Debug, Clone)]
pub struct Norm {
    pub weight: Tensor, // [C]
    pub bias: Tensor,   // [C]
}

impl Norm {
    pub fn load(w: &Weights, c: usize) -> Result<Self, ModelError> {
        Ok(Norm { weight: w.get(&[c], "weight")?, bias: w.get(&[c], "bias")? })
    }
}

/// A `nn.Linear` with bias.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor, // [out, in]
    pub bias: Tensor,   // [out]
}

impl Linear {
    pub fn load(w: &Weights, out: usize, inp: usize) -> Result<Self, ModelError> {
        Ok(Linear { weight: w.get(&[out, inp], "weight")?, bias: w.get(&[out], "bias")? })
    }
}

/// One post-LN transformer encoder layer as HuBERT (`HubertEncoderLayer`) and BERT
/// (`BertLayer`) both build it: `x = LN₁(x + MHA(x))`, `x = LN₂(x + W₂·gelu(W₁·x))`.
/// Field comments give the HuBERT / BERT checkpoint names under the layer prefix.
#[derive(Debug, Clone)]
pub struct PostLnLayer {
    pub query: Linear,   // attention.q_proj | attention.self.query   [H, H]
    pub key: Linear,     // attention.k_proj | attention.self.key     [H, H]
    pub value: Linear,   // attention.v_proj | attention.self.value   [H, H]
    pub out: Linear,     // attention.out_proj | attention.output.dense [H, H]
    pub attn_norm: Norm, // layer_norm | attention.output.LayerNorm   [H]
    pub ffn_in: Linear,  // feed_forward.intermediate_dense | intermediate.dense [F, H]
    pub ffn_out: Linear, // feed_forward.output_dense | output.dense  [H, F]
    pub ffn_norm: Norm,  // final_layer_norm | output.LayerNorm       [H]
}
