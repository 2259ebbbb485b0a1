//! `HubertModel.forward` on the CPU (transformers `modeling_hubert.py`; research/upstream-v2.md
//! §3.1): conv feature encoder (GroupNorm after conv 0, GELU after each) → LayerNorm + Linear
//! projection → + grouped positional conv (weight-normed, last frame dropped for even kernels,
//! GELU) → LayerNorm → post-LN transformer layers. The waveform goes in unnormalised, as upstream
//! feeds it.

use rayon::prelude::*;

use crate::checkpoint::HfFolder;
use crate::model::hubert::{tap_major, HubertConfig, HubertWeights, GROUP_NORM_EPS};
use crate::model::layers::Norm;
use crate::model::{Hubert, ModelError};
use crate::tensor::Tensor;

use super::encoder::PostLnEncoderLayer;
use super::ops::{add_in_place, gelu_slice, layer_norm_rows, matmul_into, MatRef, PackedLinear};

/// chinese-hubert-base ready to run.
pub struct CpuHubert {
    config: HubertConfig,
    convs: Vec<TimeMajorConv>,
    group_norm: Norm,
    projection_norm: Option<Norm>,
    projection: PackedLinear,
    pos_conv: PosConv,
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
        let convs = w
            .conv_weights
            .iter()
            .enumerate()
            .map(|(i, weight)| {
                TimeMajorConv::new(weight, w.conv_biases.as_ref().map(|b| &b[i]), w.config.conv_stride[i])
            })
            .collect();
        CpuHubert {
            layers: w.layers.into_iter().map(|l| PostLnEncoderLayer::new(l, heads, eps)).collect(),
            convs,
            pos_conv: PosConv::new(&w.pos_conv_weight, &w.pos_conv_bias, w.config.num_conv_pos_embedding_groups),
            config: w.config,
            group_norm: w.group_norm,
            projection_norm: w.projection_norm,
            projection: PackedLinear::new(&w.projection.weight, Some(&w.projection.bias)),
            encoder_norm: w.encoder_norm,
        }
    }

    pub fn config(&self) -> &HubertConfig {
        &self.config
    }

    /// The full forward pass, keeping the intermediates.
    pub fn forward_traced(&self, wav16k: &[f32]) -> Result<HubertTrace, ModelError> {
        let cfg = &self.config;
        cfg.check_input(wav16k)?;
        let mut x = self.feature_encoder(wav16k);
        let cnn_features = x.t();
        if let Some(n) = &self.projection_norm {
            layer_norm_rows(&mut x, &n.weight, &n.bias, cfg.layer_norm_eps);
        }
        let feature_projection = self.projection.forward(&x);
        let mut h = feature_projection.clone();
        add_in_place(&mut h, &self.pos_conv.forward(&feature_projection));
        layer_norm_rows(&mut h, &self.encoder_norm.weight, &self.encoder_norm.bias, cfg.layer_norm_eps);
        for layer in &self.layers {
            h = layer.forward(&h);
        }
        Ok(HubertTrace { cnn_features, feature_projection, last_hidden_state: h })
    }

    /// Conv stack, time-major (so no im2col and no transposes between layers): waveform `[L]`
    /// → `[T, C_last]`.
    fn feature_encoder(&self, wav: &[f32]) -> Tensor {
        let mut x = Tensor::new([wav.len(), 1], wav.to_vec());
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(&x);
            if i == 0 {
                group_norm_over_time(&mut x, &self.group_norm, GROUP_NORM_EPS);
            }
            gelu_slice(x.data_mut());
        }
        x
    }
}

/// `HubertPositionalConvEmbedding` on time-major `[T, H]`: grouped conv (kernel K, padding
/// K/2), `HubertSamePadLayer` (an even K yields T + 1 frames; the last is dropped), GELU. Each
/// group's channels are copied into a zero-padded contiguous `[T + 2·(K/2), H/G]` block and
/// convolved as a [`TimeMajorConv`], so the im2col of the generic grouped conv (K× the input)
/// is never built; groups run in parallel.
struct PosConv {
    groups: Vec<TimeMajorConv>, // per group: [H/G, K·H/G]
    kernel: usize,
}

impl PosConv {
    /// `w [H, H/G, K]` (shape checked at load), `bias [H]`.
    fn new(w: &Tensor, bias: &Tensor, groups: usize) -> Self {
        let (cg, k) = (w.dim(1), w.dim(2));
        let groups = w
            .data()
            .chunks_exact(cg * cg * k)
            .zip(bias.data().chunks_exact(cg))
            .take(groups)
            .map(|(wg, bg)| {
                TimeMajorConv::new(&Tensor::new([cg, cg, k], wg.to_vec()), Some(&Tensor::new([cg], bg.to_vec())), 1)
            })
            .collect();
        PosConv { groups, kernel: k }
    }

    /// `[T, H]` → `gelu(conv(x))[:T]` `[T, H]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let (t, h) = (x.dim(0), x.dim(1));
        let groups = self.groups.len();
        let cg = h / groups;
        let pad = self.kernel / 2;
        let per_group: Vec<Tensor> =
            self.groups.par_iter().enumerate().map(|(g, conv)| conv.forward(&pad_group(x, g, groups, pad))).collect();
        let mut out = vec![0.0f32; t * h];
        for (g, pg) in per_group.iter().enumerate() {
            for (dst, src) in out.chunks_exact_mut(h).zip(pg.data().chunks_exact(cg)) {
                dst[g * cg..(g + 1) * cg].copy_from_slice(src);
            }
        }
        gelu_slice(&mut out);
        Tensor::new([t, h], out)
    }
}

/// Group `g` of `groups` of time-major `x [T, H]`, zero-padded by `pad` frames on both sides:
/// `[T + 2·pad, H/groups]`, the positional conv's input for that group (the twin of
/// kernels/hubert.cu's `gather_groups_padded_f16`).
pub fn pad_group(x: &Tensor, g: usize, groups: usize, pad: usize) -> Tensor {
    let (t, h) = (x.dim(0), x.dim(1));
    let cg = h / groups;
    let mut xg = vec![0.0f32; (t + 2 * pad) * cg];
    for (dst, src) in xg[pad * cg..(pad + t) * cg].chunks_exact_mut(cg).zip(x.data().chunks_exact(h)) {
        dst.copy_from_slice(&src[g * cg..(g + 1) * cg]);
    }
    Tensor::new([t + 2 * pad, cg], xg)
}

/// A `Conv1d` without padding on time-major activations `[T, C_in]`, its weight stored tap-major
/// ([`tap_major`]); see [`conv_time_major`].
struct TimeMajorConv {
    weight: Tensor, // [C_out, K·C_in], element (o, k·C_in + i) = conv.weight[o, i, k]
    bias: Option<Tensor>,
    stride: usize,
}

impl TimeMajorConv {
    fn new(w: &Tensor, bias: Option<&Tensor>, stride: usize) -> Self {
        TimeMajorConv { weight: tap_major(w), bias: bias.cloned(), stride }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        conv_time_major(x, &self.weight, self.bias.as_ref(), self.stride)
    }
}

/// A `Conv1d` without padding on time-major `x [T, C_in]` with a tap-major `weight
/// [C_out, K·C_in]` and stride `s` → `[(T − K) / s + 1, C_out]` (empty when `T < K`). The receptive
/// field of output frame `t` is the contiguous run `x[t·s .. t·s + K]` of `K·C_in` values, so the
/// convolution is one matrix product over an overlapping strided view of the input, with no
/// im2col copy (the twin of kernels/linear.cu's strided products and of `conv_wave_f16`).
pub fn conv_time_major(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, stride: usize) -> Tensor {
    let (t, cin) = (x.dim(0), x.dim(1));
    let (cout, kc) = (weight.dim(0), weight.dim(1));
    let kernel = kc / cin;
    let tout = if t < kernel { 0 } else { (t - kernel) / stride + 1 };
    let mut out = vec![0.0f32; tout * cout];
    if let Some(b) = bias {
        out.chunks_exact_mut(cout).for_each(|row| row.copy_from_slice(b.data()));
    }
    let windows = MatRef { data: x.data(), rs: stride * cin, cs: 1 };
    matmul_into(tout, cout, kc, windows, MatRef::transposed(weight.data(), kc), &mut out, bias.is_some());
    Tensor::new([tout, cout], out)
}

/// Rows per parallel job of the GroupNorm passes.
const STAT_ROWS: usize = 1024;

/// `nn.GroupNorm(C, C)` on time-major `[T, C]`: each channel normalised over time (biased
/// variance), then the per-channel affine. Statistics accumulate in f64 (T is ~18k frames for a
/// 6 s clip), over row blocks in parallel. With the GELU after it, the twin of kernels/hubert.cu's
/// `group_norm_time_gelu_f16`.
pub fn group_norm_over_time(x: &mut Tensor, norm: &Norm, eps: f32) {
    let (t, c) = (x.dim(0), x.dim(1));
    let mean: Vec<f64> = column_sums(x.data(), c, None).into_iter().map(|s| s / t as f64).collect();
    let var = column_sums(x.data(), c, Some(&mean));
    let scale: Vec<f32> = var
        .iter()
        .zip(norm.weight.data())
        .map(|(&v, &g)| ((1.0 / (v / t as f64 + eps as f64).sqrt()) as f32) * g)
        .collect();
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let bias = norm.bias.data();
    x.data_mut().par_chunks_mut(STAT_ROWS * c).for_each(|block| {
        for row in block.chunks_exact_mut(c) {
            for (((v, &m), &s), &b) in row.iter_mut().zip(&mean).zip(&scale).zip(bias) {
                *v = (*v - m) * s + b;
            }
        }
    });
}

/// Per-column sums of `[T, C]` in f64 (of `(v − center)²` when `center` is given), over row
/// blocks in parallel.
fn column_sums(x: &[f32], c: usize, center: Option<&[f64]>) -> Vec<f64> {
    x.par_chunks(STAT_ROWS * c)
        .map(|block| {
            let mut acc = vec![0.0f64; c];
            for row in block.chunks_exact(c) {
                match center {
                    None => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64),
                    Some(m) => acc.iter_mut().zip(row).zip(m).for_each(|((a, &v), &m)| *a += (v as f64 - m).powi(2)),
                }
            }
            acc
        })
        .reduce(|| vec![0.0f64; c], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect())
}

impl Hubert for CpuHubert {
    fn forward(&self, wav16k: &[f32]) -> Result<Tensor, ModelError> {
        Ok(self.forward_traced(wav16k)?.last_hidden_state)
    }
}
