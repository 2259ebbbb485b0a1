//! The speaker-verification net of v2Pro/v2ProPlus voices: 3D-Speaker's ERes2NetV2 as GPT-SoVITS
//! vendors it (`GPT_SoVITS/eres2net/ERes2NetV2.py`, `fusion.py`; loaded by `sv.SV`) and as
//! `forward3` runs it: stem, four layers of Res2Net blocks (`BasicBlockERes2NetV2` in layer1/2,
//! `BasicBlockERes2NetV2AFF` in layer3/4), `layer3_ds` and the `fuse34` AFF. `pool` and `seg_1`
//! are never used by `forward3` and are not read.
//!
//! Upstream hard-codes the numbers of its pretrained file (`baseWidth` 24, `scale` 4, `expansion`
//! 4, `num_blocks` [3, 4, 6, 3], `m_channels` 64); [`SpeakerConfig::from_weights`] reads them
//! from the state dict instead. Every BatchNorm (eval mode, eps 1e-5) is folded into the conv
//! before it: `W' = W·γ/√(σ²+ε)`, `b' = β + (b − μ)·γ/√(σ²+ε)`.
//!
//! Checkpoint names: `conv1.weight` + `bn1.*` (stem); `layer{L}.{j}.{conv1, bn1, convs.{k}, bns.{k},
//! conv3, bn3}.*`, `layer{L}.{j}.shortcut.{0,1}.*` (first block of a layer),
//! `layer{3,4}.{j}.fuse_models.{k}.local_att.{0,1,3,4}.*` (AFF: conv, BN, SiLU, conv, BN);
//! `layer3_ds.weight`; `fuse34.local_att.*`.

use crate::tensor::Tensor;

use super::{ModelError, Weights};

/// `nn.BatchNorm2d`'s default eps, which ERes2NetV2 never changes.
pub const BN_EPS: f64 = 1e-5;

/// The four stages of ERes2NetV2; layers 3 and 4 (indices 2, 3) use AFF blocks.
pub const LAYERS: usize = 4;
const FIRST_AFF_LAYER: usize = 2;
/// Stride of layer2..4's first block and of `layer3_ds` (in both frequency and time).
pub const DOWNSAMPLE: usize = 2;

/// Architecture numbers of an ERes2NetV2 (upstream constructor names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// `m_channels`: stem output channels; layer `i` has `planes = m_channels · 2^i`.
    pub m_channels: usize,
    /// `num_blocks`: blocks in layer1..layer4.
    pub num_blocks: [usize; LAYERS],
    /// Res2Net group width of each layer, `⌊planes · baseWidth / 64⌋`.
    pub widths: [usize; LAYERS],
    /// `scale`: groups per block.
    pub scale: usize,
    /// `expansion`: block output channels per plane.
    pub expansion: usize,
    /// `feat_dim`: fbank bins, the height of the input image.
    pub feat_dim: usize,
}

impl SpeakerConfig {
    /// `planes` of layer `i` (0-based).
    pub fn planes(&self, layer: usize) -> usize {
        self.m_channels << layer
    }

    /// Output channels of layer `i`.
    pub fn out_channels(&self, layer: usize) -> usize {
        self.planes(layer) * self.expansion
    }

    /// Stride of the first block of layer `i`: 1, 2, 2, 2.
    pub fn stride(layer: usize) -> usize {
        if layer == 0 {
            1
        } else {
            DOWNSAMPLE
        }
    }

    /// Frequency rows after the three stride-2 layers (`⌈n/2⌉` each: 80 → 40 → 20 → 10).
    pub fn freq_rows(&self) -> usize {
        (0..LAYERS).fold(self.feat_dim, |n, i| n.div_ceil(Self::stride(i)))
    }

    /// Width of `forward3`'s output: layer4 channels × frequency rows (20480 for upstream's net).
    pub fn embedding_dim(&self) -> usize {
        self.out_channels(LAYERS - 1) * self.freq_rows()
    }

    /// Reads the numbers from the state dict as `sv.ckpt` stores them: `m_channels` =
    /// `conv1.weight` rows, blocks = the `layerL.j` present, width = `layerL.0.convs.0.weight`
    /// rows, scale = the `convs.k` of `layer1.0`, expansion = `layer1.0.conv3.weight` rows /
    /// `m_channels`. `feat_dim` is the fbank width the net is fed.
    pub fn from_weights(w: &Weights, feat_dim: usize) -> Result<Self, ModelError> {
        let arch = |reason: String| ModelError::Architecture { file: w.file().to_path_buf(), reason };
        let stem = w
            .shape("conv1.weight")
            .ok_or_else(|| arch("no conv1.weight: this is not an ERes2NetV2 speaker-verification state dict".into()))?;
        let m_channels = match stem.as_slice() {
            [m, 1, 3, 3] if *m > 0 => *m,
            other => return Err(arch(format!("conv1.weight has shape {other:?}, expected [m_channels, 1, 3, 3]"))),
        };
        let mut num_blocks = [0; LAYERS];
        let mut widths = [0; LAYERS];
        for (i, (n, width)) in num_blocks.iter_mut().zip(&mut widths).enumerate() {
            let layer = w.pp(format!("layer{}", i + 1));
            *n = (0..).take_while(|j| layer.contains(&format!("{j}.conv1.weight"))).count();
            if *n == 0 {
                return Err(arch(format!("no layer{}.0.conv1.weight: not an ERes2NetV2 state dict", i + 1)));
            }
            *width = layer.require_shape("0.convs.0.weight")?.first().copied().unwrap_or(0);
            if *width == 0 {
                return Err(arch(format!("layer{}.0.convs.0.weight has no rows", i + 1)));
            }
        }
        let first = w.pp("layer1").pp(0);
        let scale = (0..).take_while(|k| first.contains(&format!("convs.{k}.weight"))).count();
        let rows = first.require_shape("conv3.weight")?.first().copied().unwrap_or(0);
        if rows == 0 || rows % m_channels != 0 {
            return Err(arch(format!(
                "layer1.0.conv3.weight has {rows} rows, not a multiple of m_channels {m_channels}"
            )));
        }
        Ok(SpeakerConfig { m_channels, num_blocks, widths, scale, expansion: rows / m_channels, feat_dim })
    }
}

/// A conv with the BatchNorm after it folded in (or a plain conv, `bias` then zero).
#[derive(Debug, Clone)]
pub struct FoldedConv {
    /// `[C_out, C_in, K, K]`.
    pub weight: Tensor,
    /// `[C_out]`.
    pub bias: Tensor,
}

impl FoldedConv {
    /// `conv` (with a bias when `conv_bias`) followed by BatchNorm `bn`, `shape` checked.
    fn load(w: &Weights, conv: &str, bn: &str, shape: [usize; 4], conv_bias: bool) -> Result<Self, ModelError> {
        let (cw, bw) = (w.pp(conv), w.pp(bn));
        let c = shape[0];
        let weight = cw.get(&shape, "weight")?;
        let bias = if conv_bias { Some(cw.get(&[c], "bias")?) } else { None };
        let gamma = bw.get(&[c], "weight")?;
        let beta = bw.get(&[c], "bias")?;
        let mean = bw.get(&[c], "running_mean")?;
        let var = bw.get(&[c], "running_var")?;
        let mut scale = Vec::with_capacity(c);
        for (o, (&g, &v)) in gamma.data().iter().zip(var.data()).enumerate() {
            let inv = 1.0 / (v as f64 + BN_EPS).sqrt();
            if !inv.is_finite() {
                return Err(ModelError::NonFinite {
                    file: w.file().to_path_buf(),
                    name: format!("{bn}.running_var (negative variance)"),
                    index: o,
                });
            }
            scale.push(g as f64 * inv);
        }
        let per_out = weight.len() / c;
        let mut folded = weight.into_data();
        for (row, &s) in folded.chunks_exact_mut(per_out).zip(&scale) {
            row.iter_mut().for_each(|x| *x = (*x as f64 * s) as f32);
        }
        let b: Vec<f32> = (0..c)
            .map(|o| {
                let b0 = bias.as_ref().map_or(0.0, |b| b.data()[o] as f64);
                (beta.data()[o] as f64 + (b0 - mean.data()[o] as f64) * scale[o]) as f32
            })
            .collect();
        Ok(FoldedConv { weight: Tensor::new(shape, folded), bias: Tensor::new([c], b) })
    }

    /// A conv without BatchNorm or bias (`layer3_ds`).
    fn plain(w: &Weights, conv: &str, shape: [usize; 4]) -> Result<Self, ModelError> {
        Ok(FoldedConv { weight: w.pp(conv).get(&shape, "weight")?, bias: Tensor::zeros([shape[0]]) })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dim(0)
    }
}

/// `AFF(channels=C)`: `local_att` = 1×1 conv (2C → C/4, bias) + BN, SiLU, 1×1 conv (→ C, bias) + BN.
#[derive(Debug, Clone)]
pub struct Aff {
    /// `local_att.0` + `.1`: `[inter, 2C, 1, 1]`.
    pub squeeze: FoldedConv,
    /// `local_att.3` + `.4`: `[C, inter, 1, 1]`.
    pub expand: FoldedConv,
}

impl Aff {
    fn load(w: &Weights, channels: usize) -> Result<Self, ModelError> {
        let att = w.pp("local_att");
        let inter = att.require_shape("0.weight")?.first().copied().unwrap_or(0);
        if inter == 0 {
            return Err(ModelError::Architecture {
                file: w.file().to_path_buf(),
                reason: "an AFF local_att.0.weight has no rows".into(),
            });
        }
        Ok(Aff {
            squeeze: FoldedConv::load(&att, "0", "1", [inter, 2 * channels, 1, 1], true)?,
            expand: FoldedConv::load(&att, "3", "4", [channels, inter, 1, 1], true)?,
        })
    }
}

/// One `BasicBlockERes2NetV2` (`fuse` empty) or `BasicBlockERes2NetV2AFF`.
#[derive(Debug, Clone)]
pub struct SpeakerBlock {
    pub stride: usize,
    /// `conv1` (1×1, stride) + `bn1`: `[width·scale, C_in, 1, 1]`.
    pub conv1: FoldedConv,
    /// `convs.k` (3×3, padding 1) + `bns.k`: `[width, width, 3, 3]`, one per group.
    pub convs: Vec<FoldedConv>,
    /// `fuse_models.k`: AFF of the previous group's output with group `k + 1` (layer3/4 only).
    pub fuse: Vec<Aff>,
    /// `conv3` (1×1) + `bn3`: `[planes·expansion, width·scale, 1, 1]`.
    pub conv3: FoldedConv,
    /// `shortcut.0` (1×1, stride) + `shortcut.1` when the stride or channel count changes.
    pub shortcut: Option<FoldedConv>,
}

impl SpeakerBlock {
    fn load(w: &Weights, cfg: &SpeakerConfig, layer: usize, cin: usize, stride: usize) -> Result<Self, ModelError> {
        let (width, scale, cout) = (cfg.widths[layer], cfg.scale, cfg.out_channels(layer));
        let conv1 = FoldedConv::load(w, "conv1", "bn1", [width * scale, cin, 1, 1], false)?;
        let convs = (0..scale)
            .map(|k| FoldedConv::load(w, &format!("convs.{k}"), &format!("bns.{k}"), [width, width, 3, 3], false))
            .collect::<Result<_, _>>()?;
        let fuse = if layer >= FIRST_AFF_LAYER {
            (1..scale).map(|k| Aff::load(&w.pp("fuse_models").pp(k - 1), width)).collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let conv3 = FoldedConv::load(w, "conv3", "bn3", [cout, width * scale, 1, 1], false)?;
        let needs_shortcut = stride != 1 || cin != cout;
        let shortcut = match (needs_shortcut, w.contains("shortcut.0.weight")) {
            (true, _) => Some(FoldedConv::load(w, "shortcut.0", "shortcut.1", [cout, cin, 1, 1], false)?),
            (false, false) => None,
            (false, true) => {
                return Err(ModelError::Architecture {
                    file: w.file().to_path_buf(),
                    reason: format!("a {cin}→{cout} stride-1 block has a shortcut conv; ERes2NetV2 has none there"),
                })
            }
        };
        Ok(SpeakerBlock { stride, conv1, convs, fuse, conv3, shortcut })
    }
}

/// Every weight `forward3` uses, BatchNorms folded.
#[derive(Debug, Clone)]
pub struct SpeakerWeights {
    /// `conv1` + `bn1`: `[m_channels, 1, 3, 3]` (followed by a plain ReLU).
    pub stem: FoldedConv,
    /// `layer1..layer4`.
    pub layers: Vec<Vec<SpeakerBlock>>,
    /// `layer3_ds`: 3×3, stride 2, no bias, layer3 channels → layer4 channels.
    pub layer3_ds: FoldedConv,
    /// `fuse34`: AFF of layer4's output with `layer3_ds`'s.
    pub fuse34: Aff,
}

impl SpeakerWeights {
    /// Infers the architecture from `w` (an SV state dict, e.g.
    /// [`crate::checkpoint::SpeakerVerifierFile::weights`]) and reads every tensor it implies.
    /// The input width is the Kaldi fbank's, [`crate::audio::FBANK_BINS`].
    pub fn load(w: &Weights) -> Result<(SpeakerConfig, SpeakerWeights), ModelError> {
        let cfg = SpeakerConfig::from_weights(w, crate::audio::FBANK_BINS)?;
        let m = cfg.m_channels;
        let stem = FoldedConv::load(w, "conv1", "bn1", [m, 1, 3, 3], false)?;
        let mut cin = m;
        let mut layers = Vec::with_capacity(LAYERS);
        for (i, &n) in cfg.num_blocks.iter().enumerate() {
            let lw = w.pp(format!("layer{}", i + 1));
            let mut blocks = Vec::with_capacity(n);
            for j in 0..n {
                let stride = if j == 0 { SpeakerConfig::stride(i) } else { 1 };
                blocks.push(SpeakerBlock::load(&lw.pp(j), &cfg, i, cin, stride)?);
                cin = cfg.out_channels(i);
            }
            layers.push(blocks);
        }
        let (c3, c4) = (cfg.out_channels(LAYERS - 2), cfg.out_channels(LAYERS - 1));
        let layer3_ds = FoldedConv::plain(w, "layer3_ds", [c4, c3, 3, 3])?;
        let fuse34 = Aff::load(&w.pp("fuse34"), c4)?;
        Ok((cfg, SpeakerWeights { stem, layers, layer3_ds, fuse34 }))
    }
}
