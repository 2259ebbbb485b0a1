//! chinese-hubert-base on the GPU in FP16: the same function as [`crate::cpu::CpuHubert`]
//! (research/upstream-v2.md §3.1), so adding a voice from a clip needs no CPU pass. Activations
//! stay time-major `[T, C]` as on the CPU, which makes every convolution after the first a strided
//! product of the linear kernels (tap-major weights, overlapping input rows: an implicit GEMM on
//! the tensor cores): conv 0 over the raw waveform → GroupNorm + GELU → convs 1–6 (+GELU fused)
//! → LayerNorm → projection → grouped positional conv (one product per group, GELU fused) →
//! residual LayerNorm → the 12 encoder layers shared with BERT.

use std::sync::Arc;

use half::f16;

use super::encoder::{DeviceEncoderLayer, EncoderScratch};
use super::launch::{Arg, KernelLaunch};
use super::ops::{Activation, DeviceLinear, DeviceNorm, NormWeights, Rows};
use super::runtime::{CudaError, Dev, DeviceBuffer, GpuRuntime, Queue};
use crate::model::hubert::{tap_major, HubertConfig, HubertWeights, GROUP_NORM_EPS};
use crate::model::{Hubert, ModelError};
use crate::tensor::Tensor;

/// Largest taps and stride of conv 0 the waveform kernel stages (kernels/hubert.cu).
const WAVE_MAX_TAPS: usize = 16;
const WAVE_MAX_STRIDE: usize = 16;

/// A convolution after the first: a linear layer over `taps` overlapping input frames.
struct StridedConv {
    linear: DeviceLinear,
    taps: usize,
    stride: usize,
}

/// HuBERT on one GPU.
pub struct CudaHubert {
    config: HubertConfig,
    q: Queue,
    /// Conv 0: `[C, taps]` (one input channel), optional bias.
    wave_weight: DeviceBuffer<f16>,
    wave_bias: Option<DeviceBuffer<f16>>,
    group_norm_gamma: DeviceBuffer<f16>,
    group_norm_beta: DeviceBuffer<f16>,
    convs: Vec<StridedConv>,
    projection_norm: Option<DeviceNorm>,
    projection: DeviceLinear,
    /// The positional conv, one tap-major product per group.
    pos_groups: Vec<DeviceLinear>,
    encoder_norm: DeviceNorm,
    layers: Vec<DeviceEncoderLayer>,
}

impl CudaHubert {
    pub fn new(rt: Arc<GpuRuntime>, w: &HubertWeights) -> Result<Self, ModelError> {
        let q = rt.queue()?;
        let c = w.config.clone();
        let (k0, s0) = (c.conv_kernel[0], c.conv_stride[0]);
        if w.conv_weights[0].dim(1) != 1 || k0 > WAVE_MAX_TAPS || s0 > WAVE_MAX_STRIDE {
            return Err(CudaError::Unsupported(format!(
                "HuBERT's first conv ({} input channels, {k0} taps, stride {s0}); the kernel takes one channel and \
                 at most {WAVE_MAX_TAPS} taps and stride {WAVE_MAX_STRIDE}",
                w.conv_weights[0].dim(1)
            ))
            .into());
        }
        let bias = |i: usize| w.conv_biases.as_ref().map(|b| &b[i]);
        let convs = (1..w.conv_weights.len())
            .map(|i| {
                let weight = tap_major(&w.conv_weights[i]);
                Ok(StridedConv {
                    linear: DeviceLinear::from_tensors(&q, &weight, bias(i))?,
                    taps: c.conv_kernel[i],
                    stride: c.conv_stride[i],
                })
            })
            .collect::<Result<Vec<_>, CudaError>>()?;
        let groups = c.num_conv_pos_embedding_groups;
        let (h, cg, k) = (c.hidden_size, w.pos_conv_weight.dim(1), w.pos_conv_weight.dim(2));
        if cg * groups != h || w.pos_conv_weight.dim(0) != h {
            return Err(ModelError::Input(format!("positional conv of {groups} groups × {cg} channels for {h}")));
        }
        let pos_groups = (0..groups)
            .map(|g| {
                let weight =
                    Tensor::new([cg, cg, k], w.pos_conv_weight.data()[g * cg * cg * k..][..cg * cg * k].to_vec());
                let bias = Tensor::new([cg], w.pos_conv_bias.data()[g * cg..][..cg].to_vec());
                DeviceLinear::from_tensors(&q, &tap_major(&weight), Some(&bias))
            })
            .collect::<Result<Vec<_>, CudaError>>()?;
        let eps = c.layer_norm_eps;
        let norm = |n: &crate::model::layers::Norm| DeviceNorm::new(&q, n.weight.data(), n.bias.data(), eps);
        let layers = w
            .layers
            .iter()
            .map(|l| DeviceEncoderLayer::new(&q, l, c.num_attention_heads, eps))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CudaHubert {
            wave_weight: q.upload_f16(w.conv_weights[0].data())?,
            wave_bias: bias(0).map(|b| q.upload_f16(b.data())).transpose()?,
            group_norm_gamma: q.upload_f16(w.group_norm.weight.data())?,
            group_norm_beta: q.upload_f16(w.group_norm.bias.data())?,
            convs,
            projection_norm: w.projection_norm.as_ref().map(norm).transpose()?,
            projection: DeviceLinear::from_tensors(&q, &w.projection.weight, Some(&w.projection.bias))?,
            pos_groups,
            encoder_norm: norm(&w.encoder_norm)?,
            layers,
            config: c,
            q,
        })
    }

    pub fn config(&self) -> &HubertConfig {
        &self.config
    }

    /// Conv 0 and its GroupNorm + GELU: waveform → `[T, C]`.
    fn wave_conv(&self, wav: &DeviceBuffer<f32>, samples: usize) -> Result<(DeviceBuffer<f16>, usize), CudaError> {
        let q = &self.q;
        let c = &self.config;
        let (taps, stride, channels) = (c.conv_kernel[0], c.conv_stride[0], c.conv_dim[0]);
        let frames = (samples - taps) / stride + 1;
        let out = q.zeros::<f16>(frames * channels)?;
        let conv = WaveConv {
            weight: self.wave_weight.dev(),
            bias: self.wave_bias.as_ref().map(|b| b.dev()),
            channels,
            taps,
            stride,
        };
        let norm =
            NormWeights { gamma: self.group_norm_gamma.dev(), beta: self.group_norm_beta.dev(), eps: GROUP_NORM_EPS };
        for launch in
            [conv_wave_launch(conv, wav.dev(), frames, out.dev()), group_norm_gelu_launch(norm, out.dev(), frames)]
        {
            // SAFETY: built by conv_wave_launch and group_norm_gelu_launch (see there); frames is
            // computed from the waveform's length.
            unsafe { q.run(&launch) }?;
        }
        Ok((out, frames))
    }

    /// `x + gelu(pos_conv(x))` then the encoder's LayerNorm, into `x` (`[T, H]`).
    fn positional(&self, x: Dev<f16>, frames: usize) -> Result<(), CudaError> {
        let q = &self.q;
        let (h, groups) = (self.config.hidden_size, self.pos_groups.len());
        let (cg, pad) = (h / groups, self.config.num_conv_pos_embeddings / 2);
        let padded = frames + 2 * pad;
        let gathered = q.zeros::<f16>(groups * padded * cg)?;
        let launch = gather_groups_launch(x, frames, h, groups, pad, gathered.dev());
        // SAFETY: built by gather_groups_launch (see there).
        unsafe { q.run(&launch) }?;
        let pos = q.zeros::<f16>(frames * h)?;
        // An even kernel yields frames + 1 outputs and HubertSamePadLayer drops the last: only the
        // first `frames` are computed.
        for (g, conv) in self.pos_groups.iter().enumerate() {
            let input = Rows { data: gathered.dev().range(g * padded * cg, padded * cg), count: frames, stride: cg };
            let out = pos.dev().range(g * cg, (frames - 1) * h + cg);
            conv.forward_strided(q, input, out, h, Activation::Gelu)?;
        }
        self.encoder_norm.forward(q, x, pos.dev(), Some(x), frames)
    }

    fn run(&self, wav16k: &[f32]) -> Result<Tensor, CudaError> {
        let q = &self.q;
        let wav = q.upload(wav16k)?;
        let (mut x, mut frames) = self.wave_conv(&wav, wav16k.len())?;
        let mut channels = self.config.conv_dim[0];
        for conv in &self.convs {
            let out_frames = (frames - conv.taps) / conv.stride + 1;
            let out = q.zeros::<f16>(out_frames * conv.linear.out_features)?;
            let input = Rows { data: x.dev(), count: out_frames, stride: conv.stride * channels };
            conv.linear.forward_strided(q, input, out.dev(), conv.linear.out_features, Activation::Gelu)?;
            (x, frames, channels) = (out, out_frames, conv.linear.out_features);
        }
        if let Some(norm) = &self.projection_norm {
            let normed = q.zeros::<f16>(frames * channels)?;
            norm.forward(q, normed.dev(), x.dev(), None, frames)?;
            x = normed;
        }
        let h = self.config.hidden_size;
        let hidden = q.zeros::<f16>(frames * h)?;
        self.projection.forward(q, x.dev(), frames, hidden.dev(), Activation::None)?;
        self.positional(hidden.dev(), frames)?;
        let scratch = EncoderScratch::new(q, frames, h, self.config.intermediate_size)?;
        for layer in &self.layers {
            layer.forward(q, hidden.dev(), frames, &scratch)?;
        }
        let out = q.read(&hidden, frames * h)?;
        Ok(Tensor::new([frames, h], out.iter().map(|v| v.to_f32()).collect()))
    }
}

/// HuBERT's first conv on the device: weight `[channels, taps]` (one input channel), optional
/// bias `[channels]`.
#[derive(Debug, Clone, Copy)]
pub struct WaveConv {
    pub weight: Dev<f16>,
    pub bias: Option<Dev<f16>>,
    pub channels: usize,
    pub taps: usize,
    pub stride: usize,
}

/// `out[t, c] = bias[c] + Σ_k w[c, k] · wav[t·stride + k]` for `frames > 0` frames: matches
/// `conv_wave_f16(out, wav, w, bias, frames, channels, taps, stride)`, grid `⌈frames/16⌉` × 256
/// threads.
pub fn conv_wave_launch(conv: WaveConv, wav: Dev<f32>, frames: usize, out: Dev<f16>) -> KernelLaunch {
    let (channels, taps, stride) = (conv.channels, conv.taps, conv.stride);
    assert!(taps <= WAVE_MAX_TAPS && stride <= WAVE_MAX_STRIDE, "conv 0 of {taps} taps, stride {stride}");
    assert!(conv.weight.len() >= channels * taps && conv.bias.is_none_or(|b| b.len() >= channels), "conv 0 weights");
    assert!(
        frames > 0 && wav.len() >= (frames - 1) * stride + taps && out.len() >= frames * channels,
        "conv 0 operands too small for {frames} frames"
    );
    let args = vec![
        Arg::ptr(out),
        Arg::ptr(wav),
        Arg::ptr(conv.weight),
        Arg::opt(conv.bias),
        Arg::int(frames),
        Arg::int(channels),
        Arg::int(taps),
        Arg::int(stride),
    ];
    KernelLaunch { kernel: "conv_wave_f16", grid: (frames.div_ceil(16) as u32, 1, 1), block: 256, args }
}

/// `x = gelu(GroupNorm(C, C)(x))` in place on time-major `x [frames, C]` (each channel over time):
/// matches `group_norm_time_gelu_f16(x, gamma, beta, frames, channels, eps)`, grid `⌈C/32⌉` × 256
/// threads.
pub fn group_norm_gelu_launch(norm: NormWeights, x: Dev<f16>, frames: usize) -> KernelLaunch {
    let channels = norm.gamma.len();
    assert!(norm.beta.len() == channels && x.len() >= frames * channels, "GroupNorm operands");
    let args = vec![
        Arg::ptr(x),
        Arg::ptr(norm.gamma),
        Arg::ptr(norm.beta),
        Arg::int(frames),
        Arg::int(channels),
        Arg::F32(norm.eps),
    ];
    KernelLaunch { kernel: "group_norm_time_gelu_f16", grid: (channels.div_ceil(32) as u32, 1, 1), block: 256, args }
}

/// The positional conv's input: `out[g, r, j] = x[r − pad, g·cg + j]`, zero outside the frames
/// (`x [frames, channels]`, `cg = channels / groups`): matches `gather_groups_padded_f16(out, x,
/// frames, channels, groups, pad)`, grid `(frames + 2·pad, groups)` × 64 threads.
pub fn gather_groups_launch(
    x: Dev<f16>,
    frames: usize,
    channels: usize,
    groups: usize,
    pad: usize,
    out: Dev<f16>,
) -> KernelLaunch {
    let rows = frames + 2 * pad;
    assert!(groups > 0 && channels.is_multiple_of(groups), "{channels} channels in {groups} groups");
    assert!(x.len() >= frames * channels && out.len() >= rows * channels, "positional conv input too small");
    let args = vec![Arg::ptr(out), Arg::ptr(x), Arg::int(frames), Arg::int(channels), Arg::int(groups), Arg::int(pad)];
    KernelLaunch { kernel: "gather_groups_padded_f16", grid: (rows as u32, groups as u32, 1), block: 64, args }
}

impl Hubert for CudaHubert {
    fn forward(&self, wav16k: &[f32]) -> Result<Tensor, ModelError> {
        self.config.check_input(wav16k)?;
        Ok(self.run(wav16k)?)
    }
}
