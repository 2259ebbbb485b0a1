//! The weights SoVITS inference reads, by checkpoint name ([`SovitsWeights`]), with weight norm
//! folded at load (research/upstream-v2.md §5.1, §5.5, Appendix B).
//!
//! Shapes: convolution weights `[C_out, C_in, K]`, transposed-convolution weights
//! `[C_in, C_out, K]`, linear weights `[out, in]`.

use crate::checkpoint::pickle::Value;
use crate::tensor::Tensor;

use super::config::{SovitsConfig, SpeakerConditioningConfig};
use crate::model::{ModelError, Weights};

/// `nn.Conv1d` (or `ConvTranspose1d`) parameters; weight norm already folded.
#[derive(Debug, Clone)]
pub struct Conv1d {
    pub weight: Tensor,       // [C_out, C_in, K]; [C_in, C_out, K] for a transposed convolution
    pub bias: Option<Tensor>, // [C_out]
}

/// `nn.Linear` parameters.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor, // [out, in]
    pub bias: Tensor,   // [out]
}

/// `attentions.LayerNorm` (over channels).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub gamma: Tensor, // [C]
    pub beta: Tensor,  // [C]
}

/// `attentions.MultiHeadAttention`: 1×1 convolutions, plus the shared relative-position tables
/// when a window is set (the encoders; MRTE has none).
#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    pub conv_q: Conv1d, // [C, C, 1]
    pub conv_k: Conv1d, // [C, C, 1]
    pub conv_v: Conv1d, // [C, C, 1]
    pub conv_o: Conv1d, // [C, C, 1]
    /// `emb_rel_k[0]`, `emb_rel_v[0]`: row `r` is offset `r − window`.
    pub emb_rel_k: Option<Tensor>, // [2·window+1, C/heads]
    pub emb_rel_v: Option<Tensor>, // [2·window+1, C/heads]
}

/// `attentions.FFN`: conv (same padding) → ReLU → conv.
#[derive(Debug, Clone)]
pub struct Ffn {
    pub conv_1: Conv1d, // [filter, C, K]
    pub conv_2: Conv1d, // [C, filter, K]
}

/// One post-norm layer of `attentions.Encoder` (`attn_layers.i`, `norm_layers_1.i`, ...).
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    pub attn: MultiHeadAttention,
    pub norm_1: LayerNorm,
    pub ffn: Ffn,
    pub norm_2: LayerNorm,
}

/// `attentions.Encoder`.
#[derive(Debug, Clone)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
}

/// `mrte_model.MRTE`.
#[derive(Debug, Clone)]
pub struct Mrte {
    pub cross_attention: MultiHeadAttention,
    pub c_pre: Conv1d,    // [M, H, 1]
    pub text_pre: Conv1d, // [M, H, 1]
    pub c_post: Conv1d,   // [H, M, 1]
}

/// `models.TextEncoder` (`enc_p`).
#[derive(Debug, Clone)]
pub struct TextEncoder {
    pub ssl_proj: Conv1d, // [H, ssl_dim, 1]
    pub encoder_ssl: Encoder,
    pub encoder_text: Encoder,
    pub text_embedding: Tensor, // [vocab, H]
    pub mrte: Mrte,
    pub encoder2: Encoder,
    pub proj: Conv1d, // [2·inter, H, 1]
}

/// `modules.WN` of a coupling layer.
#[derive(Debug, Clone)]
pub struct WaveNet {
    pub in_layers: Vec<Conv1d>,       // [2·Hf, Hf, K] each
    pub res_skip_layers: Vec<Conv1d>, // [2·Hf, Hf, 1], the last [Hf, Hf, 1]
    pub cond_layer: Conv1d,           // [2·Hf·layers, gin, 1]
}

/// `modules.ResidualCouplingLayer` (mean only), checkpoint `flow.flows.{2i}`.
#[derive(Debug, Clone)]
pub struct CouplingLayer {
    pub pre: Conv1d, // [Hf, inter/2, 1]
    pub enc: WaveNet,
    pub post: Conv1d, // [inter/2, Hf, 1]
}

/// `modules.ResBlock1`.
#[derive(Debug, Clone)]
pub struct ResBlock1 {
    pub convs1: Vec<Conv1d>, // [C, C, K], dilations per config
    pub convs2: Vec<Conv1d>, // [C, C, K], dilation 1
}

/// `models.Generator` (`dec`), HiFi-GAN v1 style.
#[derive(Debug, Clone)]
pub struct Generator {
    pub conv_pre: Conv1d, // [C0, inter, 7]
    pub cond: Conv1d,     // [C0, gin, 1]
    /// Transposed convolutions, weight norm folded per input channel.
    pub ups: Vec<Conv1d>, // [C_i, C_i/2, k_i]
    /// `3·i + j` is stage `i`, kernel `j`.
    pub resblocks: Vec<ResBlock1>,
    pub conv_post: Conv1d, // [1, C_last, 7], no bias
}

/// `modules.MelStyleEncoder` (`ref_enc`) self-attention (`modules.MultiHeadAttention`).
#[derive(Debug, Clone)]
pub struct StyleAttention {
    pub w_qs: Linear, // [D, D]
    pub w_ks: Linear, // [D, D]
    pub w_vs: Linear, // [D, D]
    pub fc: Linear,   // [D, D]
}

/// `modules.MelStyleEncoder` (`ref_enc`).
#[derive(Debug, Clone)]
pub struct MelStyleEncoder {
    /// `spectral.0.fc` and `spectral.3.fc` (Linear, Mish, Dropout, Linear, Mish, Dropout).
    pub spectral_0: Linear, // [D, bins]
    pub spectral_3: Linear, // [D, D]
    /// `temporal.i.conv1.conv` of the Conv1dGLU blocks.
    pub temporal: Vec<Conv1d>, // [2·D, D, K]
    pub slf_attn: StyleAttention,
    pub fc: Linear, // [gin, D]
}

/// v2Pro/v2ProPlus speaker conditioning: `sv_emb`, `prelu`, `ge_to512`.
#[derive(Debug, Clone)]
pub struct SpeakerConditioning {
    /// `Linear(embedding_dim, gin)` on the SV embedding.
    pub sv_emb: Linear, // [gin, embedding_dim]
    /// `nn.PReLU(gin)`: one slope per channel.
    pub prelu: Tensor, // [gin]
    /// `Linear(gin, 512)`: the style MRTE reads.
    pub ge_to_mrte: Linear, // [mrte_channels, gin]
}

/// Every tensor SoVITS inference reads.
#[derive(Debug, Clone)]
pub struct SovitsWeights {
    pub enc_p: TextEncoder,
    pub dec: Generator,
    pub flow: Vec<CouplingLayer>,
    pub ref_enc: MelStyleEncoder,
    /// v2Pro/v2ProPlus only.
    pub speaker: Option<SpeakerConditioning>,
    /// `ssl_proj` (Conv1d k=2, stride 2) used by `extract_latent`.
    pub ssl_proj: Conv1d, // [ssl_dim, ssl_dim, 2]
    /// `quantizer.vq.layers.0._codebook.embed`.
    pub codebook: Tensor, // [codebook_size, ssl_dim]
}

impl Conv1d {
    fn load(w: &Weights, shape: [usize; 3], bias: bool) -> Result<Self, ModelError> {
        let out = shape[0];
        Ok(Conv1d { weight: w.get(&shape, "weight")?, bias: if bias { Some(w.get(&[out], "bias")?) } else { None } })
    }

    /// A weight-normed convolution (norm over every dim but 0: per output channel for
    /// `Conv1d`, per input channel for `ConvTranspose1d`, §5.5).
    fn load_weight_norm(w: &Weights, shape: [usize; 3], bias_len: usize) -> Result<Self, ModelError> {
        Ok(Conv1d { weight: w.get_weight_norm(&shape, "weight")?, bias: Some(w.get(&[bias_len], "bias")?) })
    }
}

impl Linear {
    fn load(w: &Weights, out: usize, inp: usize) -> Result<Self, ModelError> {
        Ok(Linear { weight: w.get(&[out, inp], "weight")?, bias: w.get(&[out], "bias")? })
    }
}

impl LayerNorm {
    fn load(w: &Weights, c: usize) -> Result<Self, ModelError> {
        Ok(LayerNorm { gamma: w.get(&[c], "gamma")?, beta: w.get(&[c], "beta")? })
    }
}

impl MultiHeadAttention {
    fn load(w: &Weights, c: usize, relative: Option<(usize, usize)>) -> Result<Self, ModelError> {
        let conv = |n: &str| Conv1d::load(&w.pp(n), [c, c, 1], true);
        let table = |n: &str| match relative {
            Some((rows, d)) => w.get(&[1, rows, d], n).map(|t| Some(t.reshape([rows, d]))),
            None => Ok(None),
        };
        Ok(MultiHeadAttention {
            conv_q: conv("conv_q")?,
            conv_k: conv("conv_k")?,
            conv_v: conv("conv_v")?,
            conv_o: conv("conv_o")?,
            emb_rel_k: table("emb_rel_k")?,
            emb_rel_v: table("emb_rel_v")?,
        })
    }
}

impl Encoder {
    fn load(cfg: &SovitsConfig, w: &Weights, n_layers: usize) -> Result<Self, ModelError> {
        let t = &cfg.text;
        let (h, f, k) = (t.hidden_channels, t.filter_channels, t.ffn_kernel_size);
        let rel = (2 * t.window_size + 1, t.head_dim());
        let layers = (0..n_layers)
            .map(|i| {
                Ok(EncoderLayer {
                    attn: MultiHeadAttention::load(&w.pp("attn_layers").pp(i), h, Some(rel))?,
                    norm_1: LayerNorm::load(&w.pp("norm_layers_1").pp(i), h)?,
                    ffn: Ffn {
                        conv_1: Conv1d::load(&w.pp(format!("ffn_layers.{i}.conv_1")), [f, h, k], true)?,
                        conv_2: Conv1d::load(&w.pp(format!("ffn_layers.{i}.conv_2")), [h, f, k], true)?,
                    },
                    norm_2: LayerNorm::load(&w.pp("norm_layers_2").pp(i), h)?,
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(Encoder { layers })
    }
}

impl TextEncoder {
    fn load(cfg: &SovitsConfig, w: &Weights) -> Result<Self, ModelError> {
        let (h, m) = (cfg.text.hidden_channels, cfg.text.mrte_channels);
        let mw = w.pp("mrte");
        Ok(TextEncoder {
            ssl_proj: Conv1d::load(&w.pp("ssl_proj"), [h, cfg.quantizer.ssl_dim, 1], true)?,
            encoder_ssl: Encoder::load(cfg, &w.pp("encoder_ssl"), cfg.text.n_layers_ssl)?,
            encoder_text: Encoder::load(cfg, &w.pp("encoder_text"), cfg.text.n_layers_text)?,
            text_embedding: w.get(&[cfg.text.text_vocab, h], "text_embedding.weight")?,
            mrte: Mrte {
                cross_attention: MultiHeadAttention::load(&mw.pp("cross_attention"), m, None)?,
                c_pre: Conv1d::load(&mw.pp("c_pre"), [m, h, 1], true)?,
                text_pre: Conv1d::load(&mw.pp("text_pre"), [m, h, 1], true)?,
                c_post: Conv1d::load(&mw.pp("c_post"), [h, m, 1], true)?,
            },
            encoder2: Encoder::load(cfg, &w.pp("encoder2"), cfg.text.n_layers_post)?,
            proj: Conv1d::load(&w.pp("proj"), [2 * cfg.inter_channels, h, 1], true)?,
        })
    }
}

impl CouplingLayer {
    fn load(cfg: &SovitsConfig, w: &Weights) -> Result<Self, ModelError> {
        let (hf, half, n) = (cfg.flow.hidden, cfg.inter_channels / 2, cfg.flow.wn_layers);
        let enc = w.pp("enc");
        let in_layers = (0..n)
            .map(|i| Conv1d::load_weight_norm(&enc.pp("in_layers").pp(i), [2 * hf, hf, cfg.flow.kernel_size], 2 * hf))
            .collect::<Result<_, _>>()?;
        let res_skip_layers = (0..n)
            .map(|i| {
                let out = if i + 1 < n { 2 * hf } else { hf };
                Conv1d::load_weight_norm(&enc.pp("res_skip_layers").pp(i), [out, hf, 1], out)
            })
            .collect::<Result<_, _>>()?;
        Ok(CouplingLayer {
            pre: Conv1d::load(&w.pp("pre"), [hf, half, 1], true)?,
            enc: WaveNet {
                in_layers,
                res_skip_layers,
                cond_layer: Conv1d::load_weight_norm(
                    &enc.pp("cond_layer"),
                    [2 * hf * n, cfg.gin_channels, 1],
                    2 * hf * n,
                )?,
            },
            post: Conv1d::load(&w.pp("post"), [half, hf, 1], true)?,
        })
    }
}

impl Generator {
    fn load(cfg: &SovitsConfig, w: &Weights) -> Result<Self, ModelError> {
        let g = &cfg.generator;
        let c0 = g.upsample_initial_channel;
        let ups = g
            .upsample_kernel_sizes
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let (cin, cout) = (c0 >> i, g.stage_channels(i));
                Conv1d::load_weight_norm(&w.pp("ups").pp(i), [cin, cout, k], cout)
            })
            .collect::<Result<_, _>>()?;
        let mut resblocks = Vec::new();
        for i in 0..g.upsample_rates.len() {
            let c = g.stage_channels(i);
            for (j, (&k, dil)) in g.resblock_kernel_sizes.iter().zip(&g.resblock_dilations).enumerate() {
                let rw = w.pp("resblocks").pp(i * g.resblock_kernel_sizes.len() + j);
                let convs = |name: &str| {
                    (0..dil.len())
                        .map(|d| Conv1d::load_weight_norm(&rw.pp(name).pp(d), [c, c, k], c))
                        .collect::<Result<Vec<_>, _>>()
                };
                resblocks.push(ResBlock1 { convs1: convs("convs1")?, convs2: convs("convs2")? });
            }
        }
        let last = g.stage_channels(g.upsample_rates.len() - 1);
        Ok(Generator {
            conv_pre: Conv1d::load(&w.pp("conv_pre"), [c0, cfg.inter_channels, g.conv_pre_kernel], true)?,
            cond: Conv1d::load(&w.pp("cond"), [c0, cfg.gin_channels, 1], true)?,
            ups,
            resblocks,
            conv_post: Conv1d::load(&w.pp("conv_post"), [1, last, g.conv_post_kernel], false)?,
        })
    }
}

impl MelStyleEncoder {
    fn load(cfg: &SovitsConfig, w: &Weights) -> Result<Self, ModelError> {
        let r = &cfg.ref_enc;
        let d = r.hidden;
        let a = w.pp("slf_attn");
        Ok(MelStyleEncoder {
            spectral_0: Linear::load(&w.pp("spectral.0.fc"), d, r.bins)?,
            spectral_3: Linear::load(&w.pp("spectral.3.fc"), d, d)?,
            temporal: (0..r.glu_layers)
                .map(|i| Conv1d::load(&w.pp(format!("temporal.{i}.conv1.conv")), [2 * d, d, r.kernel], true))
                .collect::<Result<_, _>>()?,
            slf_attn: StyleAttention {
                w_qs: Linear::load(&a.pp("w_qs"), d, d)?,
                w_ks: Linear::load(&a.pp("w_ks"), d, d)?,
                w_vs: Linear::load(&a.pp("w_vs"), d, d)?,
                fc: Linear::load(&a.pp("fc"), d, d)?,
            },
            fc: Linear::load(&w.pp("fc.fc"), cfg.gin_channels, d)?,
        })
    }
}

impl SpeakerConditioning {
    fn load(cfg: &SovitsConfig, s: &SpeakerConditioningConfig, w: &Weights) -> Result<Self, ModelError> {
        let gin = cfg.gin_channels;
        Ok(SpeakerConditioning {
            sv_emb: Linear::load(&w.pp("sv_emb"), gin, s.embedding_dim)?,
            prelu: w.get(&[gin], "prelu.weight")?,
            ge_to_mrte: Linear::load(&w.pp("ge_to512"), cfg.text.mrte_channels, gin)?,
        })
    }
}

impl SovitsWeights {
    /// Infers the configuration and reads every tensor inference needs. Left unread: the
    /// quantizer's EMA training buffers (`inited`, `cluster_size`, `embed_avg`) and, in base
    /// checkpoints, the posterior encoder `enc_q.*`.
    pub fn load(w: &Weights, hparams: &Value) -> Result<(SovitsConfig, SovitsWeights), ModelError> {
        let cfg = SovitsConfig::infer(w, hparams)?;
        let s = cfg.quantizer.ssl_dim;
        let weights = SovitsWeights {
            enc_p: TextEncoder::load(&cfg, &w.pp("enc_p"))?,
            dec: Generator::load(&cfg, &w.pp("dec"))?,
            flow: (0..cfg.flow.n_flows)
                .map(|i| CouplingLayer::load(&cfg, &w.pp("flow.flows").pp(2 * i)))
                .collect::<Result<_, _>>()?,
            ref_enc: MelStyleEncoder::load(&cfg, &w.pp("ref_enc"))?,
            speaker: cfg.speaker.as_ref().map(|s| SpeakerConditioning::load(&cfg, s, w)).transpose()?,
            ssl_proj: Conv1d::load(&w.pp("ssl_proj"), [s, s, cfg.quantizer.ssl_proj_kernel], true)?,
            codebook: w.get(&[cfg.quantizer.codebook_size, s], "quantizer.vq.layers.0._codebook.embed")?,
        };
        Ok((cfg, weights))
    }
}
