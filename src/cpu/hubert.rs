//! `HubertModel.forward` on the CPU (transformers `modeling_hubert.py`; research/upstream-v2.md
//! §3.1): conv feature encoder (GroupNorm after conv 0, GELU after each) → LayerNorm + Linear
//! projection → + grouped positional conv (weight-normed, last frame dropped for even kernels,
//! GELU) → LayerNorm → post-LN transformer layers. The waveform goes in unnormalised, as upstream
//! feeds it.

use rayon::prelude::*;

use crate::checkpoint::HfFolder;
use crate::model::hubert::{HubertConfig, HubertWeights, GROUP_NORM_EPS};
use crate::model::layers::{Linear, Norm};
use crate::model::{Hubert, ModelError};
use crate::tensor::Tensor;

use super::encoder::PostLnEncoderLayer;
use super::ops::{conv1d, gelu_slice, layer_norm_rows, linear, Conv1dSpec};

/// chinese-hubert-base ready to run.
pub struct CpuHubert {
    config: HubertConfig,
    conv_weights: Vec<Tensor>,
    conv_biases: Option<Vec<Tensor>>,
    group_norm: Norm,
    projection_norm: Option<Norm>,
    projection: Linear,
    pos_conv_weight: Tensor,
    pos_conv_bias: Tensor,
    encoder_norm: Norm,
    layers: Vec<PostLnEncoderLayer>,
}

/// Intermediate tensors of one forward pass (the fixture's debugging tensors).
#[derive(Debug, Clone)]
pub struct HubertTrace {
    /// Feature-encoder output `[C_last, T]` (`HubertModel.feature_extractor`).
    pub cnn_features: Tensor,
    /// `feature_projection` output `[T, H]`.
    pub feature_projection: Tensor,
    /// `last_hidden_state` `[T, H]`.
    pub last_hidden_state: Tensor,
}

impl CpuHubert {
    /// Loads a `chinese-hubert-base` folder.
    pub fn load(folder: &HfFolder) -> Result<Self, ModelError> {
        Ok(Self::new(HubertWeights::load(folder)?))
    }

    pub fn new(w: HubertWeights) -> Self {
        let (heads, eps) = (w.config.num_attention_heads, w.config.layer_norm_eps);
        CpuHubert {
            layers: w.layers.into_iter().map(|l| PostLnEncoderLayer::new(l, heads, eps)).collect(),
            config: w.config,
            conv_weights: w.conv_weights,
            conv_biases: w.conv_biases,
            group_norm: w.group_norm,
            projection_norm: w.projection_norm,
            projection: w.projection,
            pos_conv_weight: w.pos_conv_weight,
            pos_conv_bias: w.pos_conv_bias,
            encoder_norm: w.encoder_norm,
        }
    }

    pub fn config(&self) -> &HubertConfig {
        &self.config
    }

    /// The full forward pass, keeping the intermediates.
    pub fn forward_traced(&self, wav16k: &[f32]) -> Result<HubertTrace, ModelError> {
        let cfg = &self.config;
        if wav16k.len() < cfg.min_samples() {
            return Err(ModelError::Input(format!(
                "HuBERT needs at least {} samples of 16 kHz audio, got {}",
                cfg.min_samples(),
                wav16k.len()
            )));
        }
        if let Some(i) = wav16k.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input(format!("HuBERT input sample {i} is NaN or infinite")));
        }
        let cnn_features = self.feature_encoder(wav16k);
        let mut x = cnn_features.t();
        if let Some(n) = &self.projection_norm {
            layer_norm_rows(&mut x, &n.weight, &n.bias, cfg.layer_norm_eps);
        }
        let feature_projection = linear(&x, &self.projection.weight, Some(&self.projection.bias));
        let mut h = feature_projection.clone();
        self.add_positional(&mut h);
        layer_norm_rows(&mut h, &self.encoder_norm.weight, &self.encoder_norm.bias, cfg.layer_norm_eps);
        for layer in &self.layers {
            h = layer.forward(&h);
        }
        Ok(HubertTrace { cnn_features, feature_projection, last_hidden_state: h })
    }

    /// Conv stack `[1, L]` → `[C_last, T]`.
    fn feature_encoder(&self, wav: &[f32]) -> Tensor {
        let mut x = Tensor::new([1, wav.len()], wav.to_vec());
        for (i, w) in self.conv_weights.iter().enumerate() {
            let spec = Conv1dSpec { stride: self.config.conv_stride[i], padding: 0, dilation: 1, groups: 1 };
            let bias = self.conv_biases.as_ref().map(|b| &b[i]);
            x = conv1d(&x, w, bias, spec);
            if i == 0 {
                group_norm_per_channel(&mut x, &self.group_norm, GROUP_NORM_EPS);
            }
            gelu_slice(x.data_mut());
        }
        x
    }

    /// `hidden += gelu(pos_conv(hidden))` on `[T, H]` (`HubertPositionalConvEmbedding`).
    fn add_positional(&self, hidden: &mut Tensor) {
        let (t, h) = (hidden.dim(0), hidden.dim(1));
        let k = self.config.num_conv_pos_embeddings;
        let spec =
            Conv1dSpec { stride: 1, padding: k / 2, dilation: 1, groups: self.config.num_conv_pos_embedding_groups };
        let mut pos = conv1d(&hidden.t(), &self.pos_conv_weight, Some(&self.pos_conv_bias), spec);
        // `HubertSamePadLayer`: an even kernel yields T + 1 frames; the last one is dropped.
        let tp = pos.dim(1);
        gelu_slice(pos.data_mut());
        let out = hidden.data_mut();
        for c in 0..h {
            let row = &pos.data()[c * tp..c * tp + t];
            for (ti, &v) in row.iter().enumerate() {
                out[ti * h + c] += v;
            }
        }
    }
}

/// `nn.GroupNorm(C, C)` on `[C, T]`: each channel normalised over time (biased variance), then
/// the per-channel affine. Statistics accumulate in f64 (T is ~18k frames for a 6 s clip).
fn group_norm_per_channel(x: &mut Tensor, norm: &Norm, eps: f32) {
    let t = x.dim(1);
    x.data_mut().par_chunks_mut(t).zip(norm.weight.data().par_iter().zip(norm.bias.data())).for_each(
        |(row, (&g, &b))| {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / t as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / t as f64;
            let inv = (1.0 / (var + eps as f64).sqrt()) as f32;
            let mean = mean as f32;
            row.iter_mut().for_each(|v| *v = (*v - mean) * inv * g + b);
        },
    );
}

impl Hubert for CpuHubert {
    fn forward(&self, wav16k: &[f32]) -> Result<Tensor, ModelError> {
        Ok(self.forward_traced(wav16k)?.last_hidden_state)
    }
}
