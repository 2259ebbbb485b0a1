//! SoVITS v1/v2 `SynthesizerTrn` for inference (upstream `GPT_SoVITS/module/models.py`,
//! `attentions.py`, `mrte_model.py`, `modules.py`, `quantize.py`): the architecture inferred from
//! tensor shapes ([`SovitsConfig`]) and the weights by checkpoint name ([`SovitsWeights`]), with
//! weight norm folded at load. Specification: research/upstream-v2.md §5.1 (module tree and keys),
//! §5.3 (math), §5.5 (weight norm), §3.1 step 6 (`ssl_proj` + VQ), Appendix B (key list).
//!
//! Shapes: convolution weights `[C_out, C_in, K]`, transposed-convolution weights
//! `[C_in, C_out, K]`, linear weights `[out, in]`.

use crate::checkpoint::pickle::Value;
use crate::tensor::Tensor;

use super::{ModelError, Weights};

/// `attentions.LayerNorm` epsilon (§5.3.2).
pub const LAYER_NORM_EPS: f32 = 1e-5;
/// Value upstream writes into masked attention scores (`masked_fill(mask == 0, -1e4)`, §5.3.2).
pub const ATTENTION_MASK_FILL: f32 = -1e4;
/// `MRTE(n_heads=4)`: hard-coded in `mrte_model.py`, not visible in any shape (§5.3.3).
pub const MRTE_HEADS: usize = 4;
/// `MelStyleEncoder(style_head=2)`: upstream default, not visible in any shape (§5.3.5).
pub const REF_ENC_HEADS: usize = 2;
/// `modules.LRELU_SLOPE`, used everywhere in the generator except before `conv_post` (§5.3.6).
pub const LRELU_SLOPE: f32 = 0.1;
/// `F.leaky_relu` default slope, used once before the generator's `conv_post` (§5.3.6, §9 item 5).
pub const FINAL_LRELU_SLOPE: f32 = 0.01;
/// `configs/s2.json` `upsample_rates` of every v1/v2 model (§1.3.3); used when the checkpoint's
/// pickled config does not carry them.
pub const V2_UPSAMPLE_RATES: [usize; 5] = [10, 8, 2, 2, 2];
/// `configs/s2.json` `resblock_dilation_sizes` entry (the same for every resblock kernel).
pub const V2_RESBLOCK_DILATIONS: [usize; 3] = [1, 3, 5];
/// WaveNet dilation rate of the flow couplings (`ResidualCouplingBlock(..., 5, 1, 4, ...)`): 1, so
/// every WN layer has dilation 1.
pub const FLOW_DILATION_RATE: usize = 1;

/// Architecture of a SoVITS v1/v2 model, inferred from tensor shapes. Upstream config names are
/// given in brackets where they exist.
///
/// Two numbers are in no tensor shape: the generator's upsample rates (the stride of each
/// `ConvTranspose1d`; its padding `(k−u)/2` is not stored either) and the resblock dilations.
/// They are read from the checkpoint's pickled config (`model.upsample_rates`,
/// `model.resblock_dilation_sizes`, which every training-script checkpoint carries); without a
/// config they default to the `configs/s2.json` constants [`V2_UPSAMPLE_RATES`] and
/// [`V2_RESBLOCK_DILATIONS`], which every released v1/v2 model uses (total hop 640 = `hop_length`,
/// so 1280 samples per 25 Hz token). Either way each rate `u` must satisfy `u ≤ k` and `k − u`
/// even for its kernel `k`, so that each stage upsamples by exactly `u`.
#[derive(Debug, Clone, PartialEq)]
pub struct SovitsConfig {
    /// [hidden_channels] width of the text encoder (192).
    pub hidden_channels: usize,
    /// [inter_channels] width of the prior / flow / generator input (192).
    pub inter_channels: usize,
    /// [filter_channels] FFN width of the relative-attention encoders.
    pub filter_channels: usize,
    /// [n_heads] heads of the relative-attention encoders (hidden / head dim of `emb_rel_k`).
    pub n_heads: usize,
    /// Relative-position window (`emb_rel_k` has `2·window + 1` rows; upstream 4).
    pub window_size: usize,
    /// [kernel_size] FFN kernel of the encoders (3, "same" padding).
    pub ffn_kernel_size: usize,
    /// Layers of `encoder_ssl`, `encoder_text`, `encoder2` ([n_layers]/2, [n_layers], [n_layers]/2).
    pub n_layers_ssl: usize,
    pub n_layers_text: usize,
    pub n_layers_post: usize,
    /// Phone vocabulary (322 = v1 symbols, 732 = v2 symbols).
    pub text_vocab: usize,
    /// HuBERT feature width (768).
    pub ssl_dim: usize,
    /// MRTE attention width (512); heads are [`MRTE_HEADS`].
    pub mrte_channels: usize,
    /// [gin_channels] width of the style vector `ge` (512).
    pub gin_channels: usize,
    /// Spectrogram rows the reference encoder reads (v2: the first 704 of 1025; v1: 1025).
    pub ref_enc_bins: usize,
    /// MelStyleEncoder hidden width (128); heads are [`REF_ENC_HEADS`].
    pub ref_enc_hidden: usize,
    /// MelStyleEncoder Conv1dGLU kernel (5) and count (2).
    pub ref_enc_kernel: usize,
    pub ref_enc_glu_layers: usize,
    /// Coupling layers of the flow (4; each is paired with a Flip).
    pub n_flows: usize,
    /// Hidden width of the flows' WaveNets (192), their layer count (4) and kernel (5).
    pub flow_hidden: usize,
    pub flow_wn_layers: usize,
    pub flow_kernel_size: usize,
    /// [upsample_initial_channel] generator width after `conv_pre` (512).
    pub upsample_initial_channel: usize,
    /// `conv_pre` / `conv_post` kernels (7, padding 3).
    pub conv_pre_kernel: usize,
    pub conv_post_kernel: usize,
    /// [upsample_rates] stride of each upsampling stage (see the type docs).
    pub upsample_rates: Vec<usize>,
    /// [upsample_kernel_sizes] kernel of each upsampling stage.
    pub upsample_kernel_sizes: Vec<usize>,
    /// [resblock_kernel_sizes] (3, 7, 11): one ResBlock1 per kernel at every stage.
    pub resblock_kernel_sizes: Vec<usize>,
    /// [resblock_dilation_sizes] dilations of ResBlock1 `convs1`, per resblock kernel.
    pub resblock_dilations: Vec<Vec<usize>>,
    /// `ssl_proj` kernel = stride (2: 50 Hz HuBERT frames → 25 Hz tokens).
    pub ssl_proj_kernel: usize,
    /// VQ codebook entries (1024) = number of semantic tokens.
    pub codebook_size: usize,
}

impl SovitsConfig {
    /// Output samples per latent frame: the product of the upsample rates (640).
    pub fn hop_length(&self) -> usize {
        self.upsample_rates.iter().product()
    }

    /// Channels after upsampling stage `i`.
    pub fn stage_channels(&self, i: usize) -> usize {
        self.upsample_initial_channel >> (i + 1)
    }

    /// Latent frames for `tokens` semantic tokens at `speed` (§5.4): `2T`, or `int(2T/speed)+1`
    /// when `speed != 1` (upstream compares the Python float with 1).
    pub fn latent_frames(&self, tokens: usize, speed: f32) -> usize {
        let frames = 2 * tokens;
        if speed == 1.0 {
            frames
        } else {
            (frames as f64 / speed as f64) as usize + 1
        }
    }
}

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

/// Every tensor SoVITS inference reads.
#[derive(Debug, Clone)]
pub struct SovitsWeights {
    pub enc_p: TextEncoder,
    pub dec: Generator,
    pub flow: Vec<CouplingLayer>,
    pub ref_enc: MelStyleEncoder,
    /// `ssl_proj` (Conv1d k=2, stride 2) used by `extract_latent`.
    pub ssl_proj: Conv1d, // [ssl_dim, ssl_dim, 2]
    /// `quantizer.vq.layers.0._codebook.embed`.
    pub codebook: Tensor, // [codebook_size, ssl_dim]
}

/// Counts `0, 1, 2, ...` while `name(i)` exists.
fn count(w: &Weights, name: impl Fn(usize) -> String) -> usize {
    (0..).take_while(|&i| w.contains(&name(i))).count()
}

/// Stored shape of a possibly weight-normed parameter `<prefix>.weight`.
fn param_shape(w: &Weights, prefix: &str) -> Result<Vec<usize>, ModelError> {
    for name in ["weight", "weight_v", "parametrizations.weight.original1"] {
        if let Some(s) = w.shape(&format!("{prefix}.{name}")) {
            return Ok(s);
        }
    }
    w.require_shape(&format!("{prefix}.weight"))
}

/// Reads a list of integers (pickled list or tuple) from the model config.
fn config_ints(v: &Value) -> Option<Vec<usize>> {
    match v {
        Value::List(items) | Value::Tuple(items) => {
            items.iter().map(|x| x.as_i64().and_then(|i| usize::try_from(i).ok())).collect()
        }
        _ => None,
    }
}

impl SovitsConfig {
    /// Infers the architecture from the tensor shapes in `w` (and, for the two numbers no shape
    /// holds, from the pickled `hparams`; see the type docs).
    pub fn infer(w: &Weights, hparams: &Value) -> Result<Self, ModelError> {
        let arch = |reason: String| ModelError::Architecture { file: w.path().to_path_buf(), reason };
        let ssl = w.require_shape("enc_p.ssl_proj.weight")?;
        let (hidden_channels, ssl_dim) = (ssl[0], ssl[1]);
        let inter_channels = w.require_shape("enc_p.proj.weight")?[0] / 2;

        let layers = |enc: &str| count(w, |i| format!("enc_p.{enc}.attn_layers.{i}.conv_q.weight"));
        let (n_layers_ssl, n_layers_text, n_layers_post) =
            (layers("encoder_ssl"), layers("encoder_text"), layers("encoder2"));
        let rel = w.require_shape("enc_p.encoder_text.attn_layers.0.emb_rel_k")?;
        if rel.len() != 3 || rel[0] != 1 || rel[1] % 2 == 0 || rel[2] == 0 || hidden_channels % rel[2] != 0 {
            return Err(arch(format!(
                "emb_rel_k has shape {rel:?}; expected [1, 2·window+1, head_dim] with head_dim dividing {hidden_channels}"
            )));
        }
        let ffn = w.require_shape("enc_p.encoder_text.ffn_layers.0.conv_1.weight")?;
        if ffn[2] % 2 == 0 {
            return Err(arch(format!("even FFN kernel {} (upstream uses odd 'same' kernels)", ffn[2])));
        }
        let text_vocab = w.require_shape("enc_p.text_embedding.weight")?[0];

        let mrte_channels = w.require_shape("enc_p.mrte.c_pre.weight")?[0];
        let gin_channels = w.require_shape("dec.cond.weight")?[1];
        if mrte_channels % MRTE_HEADS != 0 || gin_channels != mrte_channels {
            return Err(arch(format!(
                "MRTE width {mrte_channels} with style width {gin_channels}: v1/v2 models add ge inside MRTE, \
                 so both must be equal and divisible by {MRTE_HEADS} heads (v2Pro models are not supported)"
            )));
        }

        let spectral = w.require_shape("ref_enc.spectral.0.fc.weight")?;
        let (ref_enc_hidden, ref_enc_bins) = (spectral[0], spectral[1]);
        let glu = w.require_shape("ref_enc.temporal.0.conv1.conv.weight")?;
        let ref_enc_glu_layers = count(w, |i| format!("ref_enc.temporal.{i}.conv1.conv.weight"));
        if ref_enc_hidden % REF_ENC_HEADS != 0 || glu[2] % 2 == 0 {
            return Err(arch(format!("reference encoder width {ref_enc_hidden} / kernel {} unsupported", glu[2])));
        }

        let n_flows = count(w, |i| format!("flow.flows.{}.pre.weight", 2 * i));
        let flow_hidden = w.require_shape("flow.flows.0.pre.weight")?[0];
        let flow_wn_layers = count(w, |i| format!("flow.flows.0.enc.in_layers.{i}.bias"));
        let flow_kernel_size = param_shape(w, "flow.flows.0.enc.in_layers.0")?[2];
        if n_flows == 0 || flow_wn_layers == 0 || flow_kernel_size % 2 == 0 || inter_channels % 2 != 0 {
            return Err(arch(format!(
                "flow with {n_flows} couplings, {flow_wn_layers} WN layers, kernel {flow_kernel_size}"
            )));
        }

        let conv_pre = w.require_shape("dec.conv_pre.weight")?;
        let n_ups = count(w, |i| format!("dec.ups.{i}.bias"));
        let upsample_kernel_sizes =
            (0..n_ups).map(|i| param_shape(w, &format!("dec.ups.{i}")).map(|s| s[2])).collect::<Result<Vec<_>, _>>()?;
        let n_resblocks = count(w, |j| format!("dec.resblocks.{j}.convs1.0.bias"));
        if n_ups == 0 || n_resblocks == 0 || n_resblocks % n_ups != 0 {
            return Err(arch(format!("{n_resblocks} resblocks for {n_ups} upsampling stages")));
        }
        let n_kernels = n_resblocks / n_ups;
        let resblock_kernel_sizes = (0..n_kernels)
            .map(|j| param_shape(w, &format!("dec.resblocks.{j}.convs1.0")).map(|s| s[2]))
            .collect::<Result<Vec<_>, _>>()?;
        let n_dilations = count(w, |d| format!("dec.resblocks.0.convs1.{d}.bias"));
        let model = hparams.get("model");
        let upsample_rates = match model.and_then(|m| m.get("upsample_rates")).and_then(config_ints) {
            Some(r) => r,
            None if n_ups == V2_UPSAMPLE_RATES.len() => V2_UPSAMPLE_RATES.to_vec(),
            None => {
                return Err(arch(format!("{n_ups} upsampling stages and no upsample_rates in the checkpoint config")))
            }
        };
        if upsample_rates.len() != n_ups
            || upsample_rates.iter().zip(&upsample_kernel_sizes).any(|(&u, &k)| u == 0 || u > k || (k - u) % 2 != 0)
        {
            return Err(arch(format!(
                "upsample rates {upsample_rates:?} do not fit the kernels {upsample_kernel_sizes:?}"
            )));
        }
        let dilations = model.and_then(|m| m.get("resblock_dilation_sizes")).and_then(|v| match v {
            Value::List(items) | Value::Tuple(items) => items.iter().map(config_ints).collect::<Option<Vec<_>>>(),
            _ => None,
        });
        let resblock_dilations = dilations.unwrap_or_else(|| vec![V2_RESBLOCK_DILATIONS.to_vec(); n_kernels]);
        if resblock_dilations.len() != n_kernels || resblock_dilations.iter().any(|d| d.len() != n_dilations) {
            return Err(arch(format!(
                "resblock dilations {resblock_dilations:?} do not fit {n_kernels} kernels × {n_dilations} convolutions"
            )));
        }
        if resblock_kernel_sizes.iter().any(|k| k % 2 == 0) || conv_pre[2] % 2 == 0 {
            return Err(arch(format!("even generator kernels {resblock_kernel_sizes:?} / {}", conv_pre[2])));
        }
        if conv_pre[0] >> n_ups == 0 {
            return Err(arch(format!("{} channels cannot be halved {n_ups} times", conv_pre[0])));
        }
        let conv_post_kernel = w.require_shape("dec.conv_post.weight")?[2];

        let ssl_proj_kernel = w.require_shape("ssl_proj.weight")?[2];
        let codebook = w.require_shape("quantizer.vq.layers.0._codebook.embed")?;
        if codebook[1] != ssl_dim || ssl_proj_kernel == 0 {
            return Err(arch(format!("codebook {codebook:?} does not match the {ssl_dim}-wide SSL features")));
        }

        Ok(SovitsConfig {
            hidden_channels,
            inter_channels,
            filter_channels: ffn[0],
            n_heads: hidden_channels / rel[2],
            window_size: rel[1] / 2,
            ffn_kernel_size: ffn[2],
            n_layers_ssl,
            n_layers_text,
            n_layers_post,
            text_vocab,
            ssl_dim,
            mrte_channels,
            gin_channels,
            ref_enc_bins,
            ref_enc_hidden,
            ref_enc_kernel: glu[2],
            ref_enc_glu_layers,
            n_flows,
            flow_hidden,
            flow_wn_layers,
            flow_kernel_size,
            upsample_initial_channel: conv_pre[0],
            conv_pre_kernel: conv_pre[2],
            conv_post_kernel,
            upsample_rates,
            upsample_kernel_sizes,
            resblock_kernel_sizes,
            resblock_dilations,
            ssl_proj_kernel,
            codebook_size: codebook[0],
        })
    }
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
        let (h, f, k) = (cfg.hidden_channels, cfg.filter_channels, cfg.ffn_kernel_size);
        let rel = (2 * cfg.window_size + 1, h / cfg.n_heads);
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
        let (h, m) = (cfg.hidden_channels, cfg.mrte_channels);
        let mw = w.pp("mrte");
        Ok(TextEncoder {
            ssl_proj: Conv1d::load(&w.pp("ssl_proj"), [h, cfg.ssl_dim, 1], true)?,
            encoder_ssl: Encoder::load(cfg, &w.pp("encoder_ssl"), cfg.n_layers_ssl)?,
            encoder_text: Encoder::load(cfg, &w.pp("encoder_text"), cfg.n_layers_text)?,
            text_embedding: w.get(&[cfg.text_vocab, h], "text_embedding.weight")?,
            mrte: Mrte {
                cross_attention: MultiHeadAttention::load(&mw.pp("cross_attention"), m, None)?,
                c_pre: Conv1d::load(&mw.pp("c_pre"), [m, h, 1], true)?,
                text_pre: Conv1d::load(&mw.pp("text_pre"), [m, h, 1], true)?,
                c_post: Conv1d::load(&mw.pp("c_post"), [h, m, 1], true)?,
            },
            encoder2: Encoder::load(cfg, &w.pp("encoder2"), cfg.n_layers_post)?,
            proj: Conv1d::load(&w.pp("proj"), [2 * cfg.inter_channels, h, 1], true)?,
        })
    }
}

impl CouplingLayer {
    fn load(cfg: &SovitsConfig, w: &Weights) -> Result<Self, ModelError> {
        let (hf, half, n) = (cfg.flow_hidden, cfg.inter_channels / 2, cfg.flow_wn_layers);
        let enc = w.pp("enc");
        let in_layers = (0..n)
            .map(|i| Conv1d::load_weight_norm(&enc.pp("in_layers").pp(i), [2 * hf, hf, cfg.flow_kernel_size], 2 * hf))
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
        let c0 = cfg.upsample_initial_channel;
        let ups = cfg
            .upsample_kernel_sizes
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let (cin, cout) = (c0 >> i, cfg.stage_channels(i));
                Conv1d::load_weight_norm(&w.pp("ups").pp(i), [cin, cout, k], cout)
            })
            .collect::<Result<_, _>>()?;
        let mut resblocks = Vec::new();
        for i in 0..cfg.upsample_rates.len() {
            let c = cfg.stage_channels(i);
            for (j, (&k, dil)) in cfg.resblock_kernel_sizes.iter().zip(&cfg.resblock_dilations).enumerate() {
                let rw = w.pp("resblocks").pp(i * cfg.resblock_kernel_sizes.len() + j);
                let convs = |name: &str| {
                    (0..dil.len())
                        .map(|d| Conv1d::load_weight_norm(&rw.pp(name).pp(d), [c, c, k], c))
                        .collect::<Result<Vec<_>, _>>()
                };
                resblocks.push(ResBlock1 { convs1: convs("convs1")?, convs2: convs("convs2")? });
            }
        }
        let last = cfg.stage_channels(cfg.upsample_rates.len() - 1);
        Ok(Generator {
            conv_pre: Conv1d::load(&w.pp("conv_pre"), [c0, cfg.inter_channels, cfg.conv_pre_kernel], true)?,
            cond: Conv1d::load(&w.pp("cond"), [c0, cfg.gin_channels, 1], true)?,
            ups,
            resblocks,
            conv_post: Conv1d::load(&w.pp("conv_post"), [1, last, cfg.conv_post_kernel], false)?,
        })
    }
}

impl MelStyleEncoder {
    fn load(cfg: &SovitsConfig, w: &Weights) -> Result<Self, ModelError> {
        let d = cfg.ref_enc_hidden;
        let a = w.pp("slf_attn");
        Ok(MelStyleEncoder {
            spectral_0: Linear::load(&w.pp("spectral.0.fc"), d, cfg.ref_enc_bins)?,
            spectral_3: Linear::load(&w.pp("spectral.3.fc"), d, d)?,
            temporal: (0..cfg.ref_enc_glu_layers)
                .map(|i| Conv1d::load(&w.pp(format!("temporal.{i}.conv1.conv")), [2 * d, d, cfg.ref_enc_kernel], true))
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

impl SovitsWeights {
    /// Infers the configuration and reads every tensor inference needs. Left unread: the
    /// quantizer's EMA training buffers (`inited`, `cluster_size`, `embed_avg`) and, in base
    /// checkpoints, the posterior encoder `enc_q.*`.
    pub fn load(w: &Weights, hparams: &Value) -> Result<(SovitsConfig, SovitsWeights), ModelError> {
        let cfg = SovitsConfig::infer(w, hparams)?;
        let s = cfg.ssl_dim;
        let weights = SovitsWeights {
            enc_p: TextEncoder::load(&cfg, &w.pp("enc_p"))?,
            dec: Generator::load(&cfg, &w.pp("dec"))?,
            flow: (0..cfg.n_flows)
                .map(|i| CouplingLayer::load(&cfg, &w.pp("flow.flows").pp(2 * i)))
                .collect::<Result<_, _>>()?,
            ref_enc: MelStyleEncoder::load(&cfg, &w.pp("ref_enc"))?,
            ssl_proj: Conv1d::load(&w.pp("ssl_proj"), [s, s, cfg.ssl_proj_kernel], true)?,
            codebook: w.get(&[cfg.codebook_size, s], "quantizer.vq.layers.0._codebook.embed")?,
        };
        Ok((cfg, weights))
    }
}
