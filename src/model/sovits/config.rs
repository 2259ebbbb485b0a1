//! The architecture of a SoVITS v1/v2/v2Pro/v2ProPlus model, inferred from tensor shapes, one
//! sub-module at a time: the text encoder `enc_p`, the flow, the generator `dec`, the reference
//! encoder `ref_enc`, the Pro models' speaker conditioning and the semantic front (`ssl_proj` +
//! VQ codebook). Upstream config names are given
//! in brackets where they exist (research/upstream-v2.md §1.3.3, §5.1).

use crate::checkpoint::pickle::Value;
use crate::model::{ModelError, Weights};

use super::{MRTE_HEADS, REF_ENC_HEADS, V2_RESBLOCK_DILATIONS, V2_UPSAMPLE_RATES};

/// Architecture of a SoVITS v1/v2/v2Pro/v2ProPlus model.
#[derive(Debug, Clone, PartialEq)]
pub struct SovitsConfig {
    /// [inter_channels] width of the prior / flow / generator input (192).
    pub inter_channels: usize,
    /// [gin_channels] width of the style vector `ge` (512; 1024 in v2Pro/v2ProPlus).
    pub gin_channels: usize,
    /// v2Pro/v2ProPlus: the speaker-verification conditioning; `None` for v1/v2.
    pub speaker: Option<SpeakerConditioningConfig>,
    pub text: TextEncoderConfig,
    pub flow: FlowConfig,
    pub generator: GeneratorConfig,
    pub ref_enc: RefEncConfig,
    pub quantizer: QuantizerConfig,
}

/// `enc_p`: the relative-attention encoders, MRTE and the phone embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEncoderConfig {
    /// [hidden_channels] width of the text encoder (192).
    pub hidden_channels: usize,
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
    /// MRTE attention width (512); heads are [`MRTE_HEADS`].
    pub mrte_channels: usize,
}

/// The flow: mean-only coupling layers with WaveNet bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowConfig {
    /// Coupling layers (4; each is paired with a Flip).
    pub n_flows: usize,
    /// Hidden width of the WaveNets (192), their layer count (4) and kernel (5).
    pub hidden: usize,
    pub wn_layers: usize,
    pub kernel_size: usize,
}

/// The HiFi-GAN generator `dec`.
///
/// Two numbers are in no tensor shape: the upsample rates (the stride of each
/// `ConvTranspose1d`; its padding `(k−u)/2` is not stored either) and the resblock dilations.
/// They are read from the checkpoint's pickled config (`model.upsample_rates`,
/// `model.resblock_dilation_sizes`, which every training-script checkpoint carries); without a
/// config they default to the `configs/s2.json` constants [`V2_UPSAMPLE_RATES`] and
/// [`V2_RESBLOCK_DILATIONS`], which every released v1/v2 model uses (total hop 640 = `hop_length`,
/// so 1280 samples per 25 Hz token). Either way each rate `u` must satisfy `u ≤ k` and `k − u`
/// even for its kernel `k`, so that each stage upsamples by exactly `u`.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// [upsample_initial_channel] width after `conv_pre` (512).
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
}

/// The reference (style) encoder `ref_enc` (MelStyleEncoder).
#[derive(Debug, Clone, PartialEq)]
pub struct RefEncConfig {
    /// Spectrogram rows it reads (v2: the first 704 of 1025; v1: 1025).
    pub bins: usize,
    /// Hidden width (128); heads are [`REF_ENC_HEADS`].
    pub hidden: usize,
    /// Conv1dGLU kernel (5) and count (2).
    pub kernel: usize,
    pub glu_layers: usize,
}

/// v2Pro/v2ProPlus: `ge = PReLU(ref_enc(spec) + sv_emb(e))` per reference, and MRTE reads
/// `ge_to512(ge)` instead of `ge` (fixtures/v2pro-small/README.md).
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerConditioningConfig {
    /// Width of the speaker-verification embedding `sv_emb` reads (20480).
    pub embedding_dim: usize,
}

/// The semantic front: `ssl_proj` and the VQ codebook (prompt tokens in, codebook rows out).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizerConfig {
    /// HuBERT feature width (768) = codebook row width.
    pub ssl_dim: usize,
    /// `ssl_proj` kernel = stride (2: 50 Hz HuBERT frames → 25 Hz tokens).
    pub ssl_proj_kernel: usize,
    /// VQ codebook entries (1024) = number of semantic tokens.
    pub codebook_size: usize,
}

impl SovitsConfig {
    /// Output samples per latent frame: the product of the upsample rates (640).
    pub fn hop_length(&self) -> usize {
        self.generator.hop_length()
    }

    /// Output samples per semantic token at speed 1: two latent frames per 25 Hz token (1280).
    pub fn samples_per_token(&self) -> usize {
        2 * self.hop_length()
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

    /// Infers the architecture from the tensor shapes in `w` (and, for the two numbers no shape
    /// holds, from the pickled `hparams`; see [`GeneratorConfig`]).
    pub fn infer(w: &Weights, hparams: &Value) -> Result<Self, ModelError> {
        let arch = |reason: String| ModelError::Architecture { file: w.path().to_path_buf(), reason };
        let inter_channels = w.require_shape("enc_p.proj.weight")?[0] / 2;
        let quantizer = QuantizerConfig::infer(w, &arch)?;
        let text = TextEncoderConfig::infer(w, quantizer.ssl_dim, &arch)?;
        let gin_channels = w.require_shape("dec.cond.weight")?[1];
        let speaker = SpeakerConditioningConfig::infer(w, gin_channels, text.mrte_channels, &arch)?;
        if speaker.is_none() && gin_channels != text.mrte_channels {
            return Err(arch(format!(
                "MRTE width {} with style width {gin_channels}: v1/v2 models add ge inside MRTE, so both must be \
                 equal (only v2Pro/v2ProPlus models project ge, with ge_to512)",
                text.mrte_channels
            )));
        }
        Ok(SovitsConfig {
            inter_channels,
            gin_channels,
            speaker,
            text,
            flow: FlowConfig::infer(w, inter_channels, &arch)?,
            generator: GeneratorConfig::infer(w, hparams, &arch)?,
            ref_enc: RefEncConfig::infer(w, &arch)?,
            quantizer,
        })
    }
}

/// Builds a [`ModelError::Architecture`] naming the checkpoint.
type ArchError<'a> = dyn Fn(String) -> ModelError + 'a;

impl TextEncoderConfig {
    fn infer(w: &Weights, ssl_dim: usize, arch: &ArchError<'_>) -> Result<Self, ModelError> {
        let ssl = w.require_shape("enc_p.ssl_proj.weight")?;
        let hidden_channels = ssl[0];
        if ssl[1] != ssl_dim {
            return Err(arch(format!("enc_p.ssl_proj reads {} channels, the codebook has {ssl_dim}", ssl[1])));
        }
        let layers = |enc: &str| count(w, |i| format!("enc_p.{enc}.attn_layers.{i}.conv_q.weight"));
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
        let mrte_channels = w.require_shape("enc_p.mrte.c_pre.weight")?[0];
        if mrte_channels % MRTE_HEADS != 0 {
            return Err(arch(format!("MRTE width {mrte_channels} is not divisible by {MRTE_HEADS} heads")));
        }
        Ok(TextEncoderConfig {
            hidden_channels,
            filter_channels: ffn[0],
            n_heads: hidden_channels / rel[2],
            window_size: rel[1] / 2,
            ffn_kernel_size: ffn[2],
            n_layers_ssl: layers("encoder_ssl"),
            n_layers_text: layers("encoder_text"),
            n_layers_post: layers("encoder2"),
            text_vocab: w.require_shape("enc_p.text_embedding.weight")?[0],
            mrte_channels,
        })
    }

    /// Width of one attention head of the relative-attention encoders.
    pub fn head_dim(&self) -> usize {
        self.hidden_channels / self.n_heads
    }
}

impl FlowConfig {
    fn infer(w: &Weights, inter_channels: usize, arch: &ArchError<'_>) -> Result<Self, ModelError> {
        let n_flows = count(w, |i| format!("flow.flows.{}.pre.weight", 2 * i));
        let hidden = w.require_shape("flow.flows.0.pre.weight")?[0];
        let wn_layers = count(w, |i| format!("flow.flows.0.enc.in_layers.{i}.bias"));
        let kernel_size = param_shape(w, "flow.flows.0.enc.in_layers.0")?[2];
        if n_flows == 0 || wn_layers == 0 || kernel_size % 2 == 0 || !inter_channels.is_multiple_of(2) {
            return Err(arch(format!("flow with {n_flows} couplings, {wn_layers} WN layers, kernel {kernel_size}")));
        }
        Ok(FlowConfig { n_flows, hidden, wn_layers, kernel_size })
    }
}

impl GeneratorConfig {
    fn infer(w: &Weights, hparams: &Value, arch: &ArchError<'_>) -> Result<Self, ModelError> {
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
        Ok(GeneratorConfig {
            upsample_initial_channel: conv_pre[0],
            conv_pre_kernel: conv_pre[2],
            conv_post_kernel: w.require_shape("dec.conv_post.weight")?[2],
            upsample_rates,
            upsample_kernel_sizes,
            resblock_kernel_sizes,
            resblock_dilations,
        })
    }

    /// Output samples per latent frame: the product of the upsample rates (640).
    pub fn hop_length(&self) -> usize {
        self.upsample_rates.iter().product()
    }

    /// Channels after upsampling stage `i`.
    pub fn stage_channels(&self, i: usize) -> usize {
        self.upsample_initial_channel >> (i + 1)
    }
}

impl RefEncConfig {
    fn infer(w: &Weights, arch: &ArchError<'_>) -> Result<Self, ModelError> {
        let spectral = w.require_shape("ref_enc.spectral.0.fc.weight")?;
        let (hidden, bins) = (spectral[0], spectral[1]);
        let glu = w.require_shape("ref_enc.temporal.0.conv1.conv.weight")?;
        if hidden % REF_ENC_HEADS != 0 || glu[2] % 2 == 0 {
            return Err(arch(format!("reference encoder width {hidden} / kernel {} unsupported", glu[2])));
        }
        let glu_layers = count(w, |i| format!("ref_enc.temporal.{i}.conv1.conv.weight"));
        Ok(RefEncConfig { bins, hidden, kernel: glu[2], glu_layers })
    }
}

impl SpeakerConditioningConfig {
    /// `Some` when the checkpoint has `sv_emb` (v2Pro/v2ProPlus), checking the five Pro tensors
    /// against `gin` and the MRTE width.
    fn infer(w: &Weights, gin: usize, mrte: usize, arch: &ArchError<'_>) -> Result<Option<Self>, ModelError> {
        let Some(sv) = w.shape("sv_emb.weight") else { return Ok(None) };
        if sv.len() != 2 || sv[0] != gin || sv[1] == 0 {
            return Err(arch(format!("sv_emb.weight has shape {sv:?}; expected [gin = {gin}, embedding width]")));
        }
        let to_mrte = w.require_shape("ge_to512.weight")?;
        if to_mrte != [mrte, gin] {
            return Err(arch(format!(
                "ge_to512.weight has shape {to_mrte:?}; expected [MRTE width {mrte}, gin {gin}]"
            )));
        }
        Ok(Some(SpeakerConditioningConfig { embedding_dim: sv[1] }))
    }
}

impl QuantizerConfig {
    fn infer(w: &Weights, arch: &ArchError<'_>) -> Result<Self, ModelError> {
        let ssl_proj_kernel = w.require_shape("ssl_proj.weight")?[2];
        let codebook = w.require_shape("quantizer.vq.layers.0._codebook.embed")?;
        let ssl_dim = w.require_shape("enc_p.ssl_proj.weight")?[1];
        if codebook[1] != ssl_dim || ssl_proj_kernel == 0 {
            return Err(arch(format!("codebook {codebook:?} does not match the {ssl_dim}-wide SSL features")));
        }
        Ok(QuantizerConfig { ssl_dim, ssl_proj_kernel, codebook_size: codebook[0] })
    }
}

/// Counts `0, 1, 2, ...` while `name(i)` exists.
pub(super) fn count(w: &Weights, name: impl Fn(usize) -> String) -> usize {
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
