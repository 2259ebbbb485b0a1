//! chinese-hubert-base: transformers `HubertModel` (`feat_extract_norm="group"`,
//! `do_stable_layer_norm=false`), the SSL feature extractor of the prompt path
//! (research/upstream-v2.md §1.4, §3.1). Configuration from `config.json` with transformers'
//! `HubertConfig` defaults for absent keys, checked against every tensor shape.
//!
//! Checkpoint names (`HubertModel` state dict; a `hubert.` prefix, as in `HubertForCTC` files,
//! is accepted): `feature_extractor.conv_layers.{i}.conv.weight` (+ `.bias` when `conv_bias`),
//! `feature_extractor.conv_layers.0.layer_norm.{weight,bias}` (GroupNorm),
//! `feature_projection.{layer_norm,projection}.*`, `encoder.pos_conv_embed.conv.{weight_g,weight_v,bias}`,
//! `encoder.layer_norm.*`, `encoder.layers.{l}.{attention.{q,k,v,out}_proj, layer_norm,
//! feed_forward.{intermediate,output}_dense, final_layer_norm}.*`. `masked_spec_embed` is only
//! used for training-time masking and is never read.

use crate::checkpoint::HfFolder;
use crate::tensor::Tensor;

use super::hf_config::HfConfig;
use super::layers::{Linear, Norm, PostLnLayer};
use super::{ModelError, Weights};

/// Architecture numbers of a `HubertModel`.
#[derive(Debug, Clone, PartialEq)]
pub struct HubertConfig {
    /// Output channels of each feature-extractor conv.
    pub conv_dim: Vec<usize>,
    pub conv_kernel: Vec<usize>,
    pub conv_stride: Vec<usize>,
    pub conv_bias: bool,
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f32,
    pub num_conv_pos_embeddings: usize,
    pub num_conv_pos_embedding_groups: usize,
    pub feat_proj_layer_norm: bool,
}

/// `nn.GroupNorm` after conv 0 always uses its default eps (transformers `HubertGroupNormConvLayer`).
pub const GROUP_NORM_EPS: f32 = 1e-5;

impl HubertConfig {
    /// Reads `config.json`; rejects the variants we do not implement (layer-norm feature
    /// extractor, pre-LN "stable" layers, activations other than exact GELU).
    pub fn from_folder(folder: &HfFolder) -> Result<Self, ModelError> {
        let c = HfConfig::new(&folder.dir, &folder.config);
        c.expect_str("feat_extract_norm", "group", &["group"])?;
        c.expect_str("feat_extract_activation", "gelu", &["gelu"])?;
        c.expect_str("hidden_act", "gelu", &["gelu"])?;
        if c.bool("do_stable_layer_norm", false)? {
            return Err(c.error("do_stable_layer_norm = true (pre-LN HuBERT) is not supported"));
        }
        let cfg = HubertConfig {
            conv_dim: c.usize_list("conv_dim", &[512; 7])?,
            conv_kernel: c.usize_list("conv_kernel", &[10, 3, 3, 3, 3, 2, 2])?,
            conv_stride: c.usize_list("conv_stride", &[5, 2, 2, 2, 2, 2, 2])?,
            conv_bias: c.bool("conv_bias", false)?,
            hidden_size: c.usize("hidden_size", Some(768))?,
            num_attention_heads: c.usize("num_attention_heads", Some(12))?,
            num_hidden_layers: c.usize("num_hidden_layers", Some(12))?,
            intermediate_size: c.usize("intermediate_size", Some(3072))?,
            layer_norm_eps: c.f64("layer_norm_eps", 1e-5)? as f32,
            num_conv_pos_embeddings: c.usize("num_conv_pos_embeddings", Some(128))?,
            num_conv_pos_embedding_groups: c.usize("num_conv_pos_embedding_groups", Some(16))?,
            feat_proj_layer_norm: c.bool("feat_proj_layer_norm", true)?,
        };
        let n = cfg.conv_dim.len();
        if n == 0 || cfg.conv_kernel.len() != n || cfg.conv_stride.len() != n {
            return Err(c.error(format!(
                "conv_dim, conv_kernel and conv_stride must have the same non-zero length (got {}, {}, {})",
                n,
                cfg.conv_kernel.len(),
                cfg.conv_stride.len()
            )));
        }
        if cfg.conv_kernel.contains(&0) || cfg.conv_stride.contains(&0) || cfg.conv_dim.contains(&0) {
            return Err(c.error("conv sizes, kernels and strides must be positive"));
        }
        let (h, heads, groups) = (cfg.hidden_size, cfg.num_attention_heads, cfg.num_conv_pos_embedding_groups);
        if heads == 0 || h % heads != 0 {
            return Err(c.error(format!("hidden_size {h} is not divisible by num_attention_heads {heads}")));
        }
        if groups == 0 || h % groups != 0 || cfg.num_conv_pos_embeddings == 0 {
            return Err(c.error(format!("hidden_size {h} is not divisible by num_conv_pos_embedding_groups {groups}")));
        }
        Ok(cfg)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The shortest input that yields one feature frame.
    pub fn min_samples(&self) -> usize {
        self.conv_kernel.iter().zip(&self.conv_stride).rev().fold(1, |need, (&k, &s)| (need - 1) * s + k)
    }

    /// Rejects audio this model cannot encode (every backend checks before running).
    pub fn check_input(&self, wav16k: &[f32]) -> Result<(), ModelError> {
        if wav16k.len() < self.min_samples() {
            return Err(ModelError::Input(format!(
                "HuBERT needs at least {} samples of 16 kHz audio, got {}",
                self.min_samples(),
                wav16k.len()
            )));
        }
        if let Some(i) = wav16k.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input(format!("HuBERT input sample {i} is NaN or infinite")));
        }
        Ok(())
    }

    /// Feature frames for `samples` input samples (each conv: `⌊(L − k) / s⌋ + 1`); 0 when too short.
    pub fn frames(&self, samples: usize) -> usize {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .fold(samples, |l, (&k, &s)| if l < k { 0 } else { (l - k) / s + 1 })
    }
}

/// A conv weight `[C_out, C_in, K]` reordered tap-major, `[C_out, K·C_in]` with element
/// `(o, k·C_in + i) = w[o, i, k]`: on time-major activations `[T, C_in]` the receptive field of an
/// output frame is then one contiguous run of the input, so the convolution is a plain matrix
/// product over overlapping rows (both backends run it that way).
pub fn tap_major(w: &Tensor) -> Tensor {
    let (cout, cin, k) = (w.dim(0), w.dim(1), w.dim(2));
    let mut out = vec![0.0f32; cout * k * cin];
    for (dst, src) in out.chunks_exact_mut(k * cin).zip(w.data().chunks_exact(cin * k)) {
        for (i, taps) in src.chunks_exact(k).enumerate() {
            for (kk, &v) in taps.iter().enumerate() {
                dst[kk * cin + i] = v;
            }
        }
    }
    Tensor::new([cout, k * cin], out)
}

/// All weights of a `HubertModel`.
#[derive(Debug, Clone)]
pub struct HubertWeights {
    pub config: HubertConfig,
    /// `feature_extractor.conv_layers.{i}.conv.weight` `[C_i, C_{i−1} (1 for i = 0), K_i]`.
    pub conv_weights: Vec<Tensor>,
    /// `feature_extractor.conv_layers.{i}.conv.bias` `[C_i]` when `conv_bias`.
    pub conv_biases: Option<Vec<Tensor>>,
    /// `feature_extractor.conv_layers.0.layer_norm`: GroupNorm(C_0, C_0) affine `[C_0]`.
    pub group_norm: Norm,
    /// `feature_projection.layer_norm` `[C_last]` when `feat_proj_layer_norm`.
    pub projection_norm: Option<Norm>,
    /// `feature_projection.projection` `[H, C_last]`.
    pub projection: Linear,
    /// `encoder.pos_conv_embed.conv.weight` folded from `weight_g` `[1, 1, K]` / `weight_v`
    /// `[H, H/G, K]` (weight norm over dim 2).
    pub pos_conv_weight: Tensor,
    /// `encoder.pos_conv_embed.conv.bias` `[H]`.
    pub pos_conv_bias: Tensor,
    /// `encoder.layer_norm` `[H]`.
    pub encoder_norm: Norm,
    /// `encoder.layers.{l}`.
    pub layers: Vec<PostLnLayer>,
}

impl HubertWeights {
    /// Config and weights of a `chinese-hubert-base` folder.
    pub fn load(folder: &HfFolder) -> Result<Self, ModelError> {
        let config = HubertConfig::from_folder(folder)?;
        Self::from_weights(config, &Weights::new(&folder.weights))
    }

    /// Reads every tensor `config` implies (with or without a `hubert.` prefix).
    pub fn from_weights(config: HubertConfig, w: &Weights) -> Result<Self, ModelError> {
        let w =
            if w.contains("hubert.feature_extractor.conv_layers.0.conv.weight") { w.pp("hubert") } else { w.clone() };
        let cfg = &config;
        let fe = w.pp("feature_extractor").pp("conv_layers");
        let mut conv_weights = Vec::with_capacity(cfg.conv_dim.len());
        let mut biases = Vec::new();
        let mut cin = 1;
        for (i, (&cout, &k)) in cfg.conv_dim.iter().zip(&cfg.conv_kernel).enumerate() {
            let conv = fe.pp(i).pp("conv");
            conv_weights.push(conv.get(&[cout, cin, k], "weight")?);
            if cfg.conv_bias {
                biases.push(conv.get(&[cout], "bias")?);
            }
            cin = cout;
        }
        let (c0, clast, h, f) = (cfg.conv_dim[0], cin, cfg.hidden_size, cfg.intermediate_size);
        let group_norm = Norm::load(&fe.pp(0).pp("layer_norm"), c0)?;
        let fp = w.pp("feature_projection");
        let projection_norm =
            if cfg.feat_proj_layer_norm { Some(Norm::load(&fp.pp("layer_norm"), clast)?) } else { None };
        let projection = Linear::load(&fp.pp("projection"), h, clast)?;
        let enc = w.pp("encoder");
        let pos = enc.pp("pos_conv_embed").pp("conv");
        let pos_shape = [h, h / cfg.num_conv_pos_embedding_groups, cfg.num_conv_pos_embeddings];
        let pos_conv_weight = pos.get_weight_norm(&pos_shape, "weight")?;
        let pos_conv_bias = pos.get(&[h], "bias")?;
        let encoder_norm = Norm::load(&enc.pp("layer_norm"), h)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let lw = enc.pp("layers").pp(l);
                let a = lw.pp("attention");
                let ff = lw.pp("feed_forward");
                Ok(PostLnLayer {
                    query: Linear::load(&a.pp("q_proj"), h, h)?,
                    key: Linear::load(&a.pp("k_proj"), h, h)?,
                    value: Linear::load(&a.pp("v_proj"), h, h)?,
                    out: Linear::load(&a.pp("out_proj"), h, h)?,
                    attn_norm: Norm::load(&lw.pp("layer_norm"), h)?,
                    ffn_in: Linear::load(&ff.pp("intermediate_dense"), f, h)?,
                    ffn_out: Linear::load(&ff.pp("output_dense"), h, f)?,
                    ffn_norm: Norm::load(&lw.pp("final_layer_norm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let more_convs = fe.contains(&format!("{}.conv.weight", cfg.conv_dim.len()));
        if more_convs || enc.contains(&format!("layers.{}.layer_norm.weight", cfg.num_hidden_layers)) {
            return Err(ModelError::Architecture {
                file: w.file().to_path_buf(),
                reason: format!(
                    "the weights hold more layers than config.json says ({} conv layers, {} encoder layers)",
                    cfg.conv_dim.len(),
                    cfg.num_hidden_layers
                ),
            });
        }
        Ok(HubertWeights {
            conv_biases: if config.conv_bias { Some(biases) } else { None },
            config,
            conv_weights,
            group_norm,
            projection_norm,
            projection,
            pos_conv_weight,
            pos_conv_bias,
            encoder_norm,
            layers,
        })
    }
}
