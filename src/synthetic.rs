//! Full-size GPT-SoVITS v2 models and the v2Pro speaker-verification net with seeded random
//! weights and the real tensor names and shapes, for benchmarks and load tests
//! (research/upstream-v2.md §1.2, §1.4, Appendix B). Built in memory, they go through the same
//! loaders and shape inference as real files;
//! [`write_model_dir`] puts a whole set on disk in the formats a GPT-SoVITS install has (with a
//! reference clip and its transcript), so a server can be started on full-size models with no
//! file to carry. [`ModelSizes::tiny`] shrinks what the loaders let shrink, for tests.
//!
//! The weights are untrained: the audio is noise, and the GPT never predicts end-of-sentence
//! (see [`gpt`]), so every sentence runs to the step cap unless a request sets `max_tokens`.

use std::path::{Path, PathBuf};

use half::f16;

use crate::audio::write_wav_i16;
use crate::checkpoint::pickle::Value;
use crate::checkpoint::{
    write_gpt, write_hf_folder, write_sovits, CheckpointError, GptFile, HfFolder, SovitsFile, SovitsKind,
    SpeakerVerifierFile, TensorStore,
};
use crate::error::Error;
use crate::model::t2s::T2sConfig;
use crate::model::T2sPrompt;
use crate::pipeline::{ModelPaths, SAMPLE_RATE};
use crate::tensor::Tensor;

/// What the reference clip of [`write_model_dir`] "says" (the fixture voice's transcript).
pub const REFERENCE_TEXT: &str = "今天天气很好，我们一起去公园散步吧。";

/// Length of the reference clip: inside upstream's 3–10 s.
const REFERENCE_SECONDS: usize = 4;

/// The sizes of the four models. Widths the loaders or upstream hard-wire (GPT 512 wide with 16
/// heads, SoVITS hidden 192 and style 512, HuBERT 768, BERT 1024) are the same in every set.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSizes {
    pub gpt: GptSizes,
    pub sovits: SovitsSizes,
    pub hubert: HubertSizes,
    pub bert: BertSizes,
}

/// The v2 GPT: 512 wide, 16 heads, FFN 2048, 732 phones, 1025 audio tokens, BERT features 1024.
#[derive(Debug, Clone, PartialEq)]
pub struct GptSizes {
    pub layers: usize,
}

/// The v2 SoVITS `SynthesizerTrn` without `enc_q`: hidden 192, style 512, 2 attention heads.
#[derive(Debug, Clone, PartialEq)]
pub struct SovitsSizes {
    /// Layers of `enc_p.encoder_ssl`, `encoder_text` and `encoder2`.
    pub encoder_layers: [usize; 3],
    /// FFN width of those encoders.
    pub filter_channels: usize,
    /// Width of HiFi-GAN's first stage (halved by each of its 5 upsampling stages).
    pub upsample_initial_channel: usize,
}

/// chinese-hubert-base: 7 feature convs, post-LN transformer 768 wide with 12 heads.
#[derive(Debug, Clone, PartialEq)]
pub struct HubertSizes {
    pub conv_channels: usize,
    pub layers: usize,
    pub ffn: usize,
    /// Kernel of the positional convolution (16 groups).
    pub pos_conv_kernel: usize,
}

/// chinese-roberta-wwm-ext-large without its MLM head: 1024 wide, 16 heads, 512 positions.
#[derive(Debug, Clone, PartialEq)]
pub struct BertSizes {
    /// At least 3, so that `hidden_states[-3]` passes through a real layer.
    pub layers: usize,
    pub ffn: usize,
    /// Vocabulary entries; see [`bert_vocab`].
    pub vocab: usize,
}

impl ModelSizes {
    /// The released models' sizes.
    pub fn full() -> Self {
        ModelSizes {
            gpt: GptSizes { layers: 24 },
            sovits: SovitsSizes { encoder_layers: [3, 6, 3], filter_channels: 768, upsample_initial_channel: 512 },
            hubert: HubertSizes { conv_channels: 512, layers: 12, ffn: 3072, pos_conv_kernel: 128 },
            bert: BertSizes { layers: 24, ffn: 4096, vocab: 21128 },
        }
    }

    /// About the fixture models' sizes (`v2-small`): a whole set loads and speaks in seconds.
    pub fn tiny() -> Self {
        ModelSizes {
            gpt: GptSizes { layers: 2 },
            sovits: SovitsSizes { encoder_layers: [1, 2, 1], filter_channels: 256, upsample_initial_channel: 128 },
            hubert: HubertSizes { conv_channels: 128, layers: 1, ffn: 256, pos_conv_kernel: 16 },
            bert: BertSizes { layers: 3, ffn: 64, vocab: 1024 },
        }
    }
}

/// The full-size v2 GPT (24 layers).
pub fn gpt(seed: u64) -> GptFile {
    ModelSizes::full().gpt.build(seed)
}

/// The full-size v2 SoVITS (s2.json sizes).
pub fn sovits(seed: u64) -> SovitsFile {
    ModelSizes::full().sovits.build(seed)
}

/// The full-size chinese-hubert-base (12 layers, FFN 3072).
pub fn hubert(seed: u64) -> HfFolder {
    ModelSizes::full().hubert.build(seed)
}

/// The full-size chinese-roberta-wwm-ext-large (24 layers, FFN 4096, vocabulary 21128).
pub fn bert(seed: u64) -> HfFolder {
    ModelSizes::full().bert.build(seed)
}

/// Deterministic uniform(-1, 1) generator (xorshift; synthetic data only).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Collects tensors with a fan-in-scaled random init (LayerNorm gains near 1).
struct Builder {
    store: TensorStore,
    noise: Noise,
}

impl Builder {
    fn new(label: &str, seed: u64) -> Self {
        Builder { store: TensorStore::new(Path::new(label)), noise: Noise(seed.max(1)) }
    }

    fn add(&mut self, name: &str, shape: &[usize]) {
        let data = self.random(name, shape);
        self.put(name, shape, &data);
    }

    fn random(&mut self, name: &str, shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
        let is_gain =
            ["gamma", "norm.weight", "Norm.weight", "norm1.weight", "norm2.weight"].iter().any(|s| name.ends_with(s));
        let scale = if shape.len() == 1 { 0.05 } else { (3.0 / fan_in as f32).sqrt() };
        (0..n).map(|_| if is_gain { 1.0 + 0.05 * self.noise.next() } else { scale * self.noise.next() }).collect()
    }

    #[allow(clippy::expect_used, reason = "every caller passes data of its shape's length")]
    fn put(&mut self, name: &str, shape: &[usize], data: &[f32]) {
        let data: Vec<f16> = data.iter().map(|&v| f16::from_f32(v)).collect();
        self.store.insert_f16(name, shape.to_vec(), &data).expect("data fits its shape");
    }

    fn conv(&mut self, prefix: &str, cout: usize, cin: usize, k: usize) {
        self.add(&format!("{prefix}.weight"), &[cout, cin, k]);
        self.add(&format!("{prefix}.bias"), &[cout]);
    }

    fn linear(&mut self, prefix: &str, out: usize, inp: usize) {
        self.add(&format!("{prefix}.weight"), &[out, inp]);
        self.add(&format!("{prefix}.bias"), &[out]);
    }

    /// A weight-normed conv as stored by `torch.nn.utils.weight_norm` (`g` over dim 0).
    fn wn_conv(&mut self, prefix: &str, v_shape: [usize; 3], bias: usize) {
        self.add(&format!("{prefix}.weight_v"), &v_shape);
        self.add(&format!("{prefix}.weight_g"), &[v_shape[0], 1, 1]);
        self.add(&format!("{prefix}.bias"), &[bias]);
    }

    fn norm(&mut self, prefix: &str, w: &str, b: &str, c: usize) {
        self.add(&format!("{prefix}.{w}"), &[c]);
        self.add(&format!("{prefix}.{b}"), &[c]);
    }

    /// An eval-mode `BatchNorm2d`: gains and variances near 1.
    fn batch_norm(&mut self, prefix: &str, c: usize) {
        for (name, centre) in [("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)] {
            let data: Vec<f32> = (0..c).map(|_| centre + 0.05 * self.noise.next()).collect();
            self.put(&format!("{prefix}.{name}"), &[c], &data);
        }
    }

    /// ERes2NetV2's `AFF(channels=c)`: `local_att` = conv (2c → c/4) + BN, SiLU, conv (→ c) + BN.
    fn aff(&mut self, prefix: &str, c: usize) {
        let inter = c / 4;
        self.add(&format!("{prefix}.local_att.0.weight"), &[inter, 2 * c, 1, 1]);
        self.add(&format!("{prefix}.local_att.0.bias"), &[inter]);
        self.batch_norm(&format!("{prefix}.local_att.1"), inter);
        self.add(&format!("{prefix}.local_att.3.weight"), &[c, inter, 1, 1]);
        self.add(&format!("{prefix}.local_att.3.bias"), &[c]);
        self.batch_norm(&format!("{prefix}.local_att.4"), c);
    }
}

fn dict(items: Vec<(&str, Value)>) -> Value {
    Value::Dict(items.into_iter().map(|(k, v)| (Value::Str(k.into()), v)).collect())
}

impl GptSizes {
    /// The GPT with the EOS row of its output layer zeroed, as in the upstream anchor: the EOS
    /// logit is 0 while the best of the other 1024 random logits is positive, so decoding always
    /// runs the requested number of steps.
    pub fn build(&self, seed: u64) -> GptFile {
        let (d, layers, ffn) = (512, self.layers, 2048);
        let mut b = Builder::new("synthetic-gpt.ckpt", seed);
        b.linear("bert_proj", d, 1024);
        b.add("ar_text_embedding.word_embeddings.weight", &[732, d]);
        b.add("ar_text_position.alpha", &[1]);
        b.add("ar_audio_embedding.word_embeddings.weight", &[1025, d]);
        b.add("ar_audio_position.alpha", &[1]);
        for l in 0..layers {
            let p = format!("h.layers.{l}");
            b.add(&format!("{p}.self_attn.in_proj_weight"), &[3 * d, d]);
            b.add(&format!("{p}.self_attn.in_proj_bias"), &[3 * d]);
            b.linear(&format!("{p}.self_attn.out_proj"), d, d);
            b.linear(&format!("{p}.linear1"), ffn, d);
            b.linear(&format!("{p}.linear2"), d, ffn);
            b.norm(&format!("{p}.norm1"), "weight", "bias", d);
            b.norm(&format!("{p}.norm2"), "weight", "bias", d);
        }
        let mut head = b.random("ar_predict_layer.weight", &[1025, d]);
        head[1024 * d..].fill(0.0);
        b.put("ar_predict_layer.weight", &[1025, d], &head);
        let config =
            dict(vec![("model", dict(vec![("head", Value::Int(16)), ("n_layer", Value::Int(layers as i64))]))]);
        GptFile { path: "synthetic-gpt.ckpt".into(), weights: b.store, config, info: None }
    }
}

impl SovitsSizes {
    pub fn build(&self, seed: u64) -> SovitsFile {
        let (h, f, g) = (192, self.filter_channels, 512);
        let mut b = Builder::new("synthetic-sovits.pth", seed);
        b.conv("enc_p.ssl_proj", h, 768, 1);
        for (enc, n) in ["encoder_ssl", "encoder_text", "encoder2"].into_iter().zip(self.encoder_layers) {
            for l in 0..n {
                let p = format!("enc_p.{enc}");
                b.add(&format!("{p}.attn_layers.{l}.emb_rel_k"), &[1, 9, 96]);
                b.add(&format!("{p}.attn_layers.{l}.emb_rel_v"), &[1, 9, 96]);
                for c in ["conv_q", "conv_k", "conv_v", "conv_o"] {
                    b.conv(&format!("{p}.attn_layers.{l}.{c}"), h, h, 1);
                }
                b.norm(&format!("{p}.norm_layers_1.{l}"), "gamma", "beta", h);
                b.conv(&format!("{p}.ffn_layers.{l}.conv_1"), f, h, 3);
                b.conv(&format!("{p}.ffn_layers.{l}.conv_2"), h, f, 3);
                b.norm(&format!("{p}.norm_layers_2.{l}"), "gamma", "beta", h);
            }
        }
        b.add("enc_p.text_embedding.weight", &[732, h]);
        for c in ["conv_q", "conv_k", "conv_v", "conv_o"] {
            b.conv(&format!("enc_p.mrte.cross_attention.{c}"), 512, 512, 1);
        }
        b.conv("enc_p.mrte.c_pre", 512, h, 1);
        b.conv("enc_p.mrte.text_pre", 512, h, 1);
        b.conv("enc_p.mrte.c_post", h, 512, 1);
        b.conv("enc_p.proj", 2 * h, h, 1);

        let mut c = self.upsample_initial_channel;
        b.conv("dec.conv_pre", c, h, 7);
        b.conv("dec.cond", c, g, 1);
        for (i, k) in [16, 16, 8, 2, 2].into_iter().enumerate() {
            b.wn_conv(&format!("dec.ups.{i}"), [c, c / 2, k], c / 2);
            c /= 2;
            for (j, rk) in [3, 7, 11].into_iter().enumerate() {
                for convs in ["convs1", "convs2"] {
                    for d in 0..3 {
                        b.wn_conv(&format!("dec.resblocks.{}.{convs}.{d}", 3 * i + j), [c, c, rk], c);
                    }
                }
            }
        }
        b.add("dec.conv_post.weight", &[1, c, 7]);

        for fl in [0, 2, 4, 6] {
            let p = format!("flow.flows.{fl}");
            b.conv(&format!("{p}.pre"), h, h / 2, 1);
            for i in 0..4 {
                b.wn_conv(&format!("{p}.enc.in_layers.{i}"), [2 * h, h, 5], 2 * h);
                let out = if i < 3 { 2 * h } else { h };
                b.wn_conv(&format!("{p}.enc.res_skip_layers.{i}"), [out, h, 1], out);
            }
            b.wn_conv(&format!("{p}.enc.cond_layer"), [2 * h * 4, g, 1], 2 * h * 4);
            b.conv(&format!("{p}.post"), h / 2, h, 1);
        }

        b.linear("ref_enc.spectral.0.fc", 128, 704);
        b.linear("ref_enc.spectral.3.fc", 128, 128);
        for t in 0..2 {
            b.conv(&format!("ref_enc.temporal.{t}.conv1.conv"), 256, 128, 5);
        }
        for l in ["w_qs", "w_ks", "w_vs", "fc"] {
            b.linear(&format!("ref_enc.slf_attn.{l}"), 128, 128);
        }
        b.linear("ref_enc.fc.fc", g, 128);
        b.conv("ssl_proj", 768, 768, 2);
        b.add("quantizer.vq.layers.0._codebook.embed", &[1024, 768]);

        let rates = Value::List([10, 8, 2, 2, 2].into_iter().map(Value::Int).collect());
        let config = dict(vec![("model", dict(vec![("upsample_rates", rates)]))]);
        SovitsFile {
            path: "synthetic-sovits.pth".into(),
            kind: SovitsKind::V2,
            header: *b"PK",
            weights: b.store,
            config,
            info: None,
        }
    }
}

impl HubertSizes {
    pub fn build(&self, seed: u64) -> HfFolder {
        let (c, d, ffn, layers) = (self.conv_channels, 768, self.ffn, self.layers);
        let kernels = [10, 3, 3, 3, 3, 2, 2];
        let mut b = Builder::new("synthetic-chinese-hubert-base", seed);
        for (i, k) in kernels.into_iter().enumerate() {
            b.add(&format!("feature_extractor.conv_layers.{i}.conv.weight"), &[c, if i == 0 { 1 } else { c }, k]);
        }
        b.norm("feature_extractor.conv_layers.0.layer_norm", "weight", "bias", c);
        b.norm("feature_projection.layer_norm", "weight", "bias", c);
        b.linear("feature_projection.projection", d, c);
        b.add("encoder.pos_conv_embed.conv.bias", &[d]);
        b.add("encoder.pos_conv_embed.conv.weight_g", &[1, 1, self.pos_conv_kernel]);
        b.add("encoder.pos_conv_embed.conv.weight_v", &[d, d / 16, self.pos_conv_kernel]);
        b.norm("encoder.layer_norm", "weight", "bias", d);
        for l in 0..layers {
            let p = format!("encoder.layers.{l}");
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                b.linear(&format!("{p}.attention.{proj}"), d, d);
            }
            b.norm(&format!("{p}.layer_norm"), "weight", "bias", d);
            b.linear(&format!("{p}.feed_forward.intermediate_dense"), ffn, d);
            b.linear(&format!("{p}.feed_forward.output_dense"), d, ffn);
            b.norm(&format!("{p}.final_layer_norm"), "weight", "bias", d);
        }
        let config = serde_json::json!({
            "conv_dim": vec![c; 7], "conv_kernel": kernels, "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_bias": false,
            "feat_extract_norm": "group", "feat_extract_activation": "gelu", "feat_proj_layer_norm": true,
            "do_stable_layer_norm": false, "hidden_act": "gelu", "hidden_size": d, "intermediate_size": ffn,
            "num_attention_heads": 12, "num_hidden_layers": layers, "layer_norm_eps": 1e-5,
            "num_conv_pos_embeddings": self.pos_conv_kernel, "num_conv_pos_embedding_groups": 16,
            "num_feat_extract_layers": 7, "model_type": "hubert"
        });
        HfFolder { dir: "synthetic-chinese-hubert-base".into(), config, weights: b.store }
    }
}

impl BertSizes {
    pub fn build(&self, seed: u64) -> HfFolder {
        let (d, ffn, layers, vocab) = (1024, self.ffn, self.layers, self.vocab);
        let mut b = Builder::new("synthetic-chinese-roberta-wwm-ext-large", seed);
        b.add("bert.embeddings.word_embeddings.weight", &[vocab, d]);
        b.add("bert.embeddings.position_embeddings.weight", &[512, d]);
        b.add("bert.embeddings.token_type_embeddings.weight", &[2, d]);
        b.norm("bert.embeddings.LayerNorm", "weight", "bias", d);
        for l in 0..layers {
            let p = format!("bert.encoder.layer.{l}");
            for n in ["query", "key", "value"] {
                b.linear(&format!("{p}.attention.self.{n}"), d, d);
            }
            b.linear(&format!("{p}.attention.output.dense"), d, d);
            b.norm(&format!("{p}.attention.output.LayerNorm"), "weight", "bias", d);
            b.linear(&format!("{p}.intermediate.dense"), ffn, d);
            b.linear(&format!("{p}.output.dense"), d, ffn);
            b.norm(&format!("{p}.output.LayerNorm"), "weight", "bias", d);
        }
        let config = serde_json::json!({
            "hidden_size": d, "intermediate_size": ffn, "num_attention_heads": 16, "num_hidden_layers": layers,
            "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": vocab,
            "hidden_act": "gelu", "model_type": "bert"
        });
        HfFolder { dir: "synthetic-chinese-roberta-wwm-ext-large".into(), config, weights: b.store }
    }
}

/// The v2Pro speaker-verification net (ERes2NetV2 as `sv.ckpt` stores it): stem 64 wide,
/// expansion 4 (so that `forward3` returns 20480 values), an unused `seg_1` head.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerSizes {
    /// Blocks in layer1..layer4.
    pub num_blocks: [usize; 4],
    /// Res2Net group width of each layer.
    pub widths: [usize; 4],
    /// Groups per block.
    pub scale: usize,
}

impl SpeakerSizes {
    /// Upstream's `pretrained_eres2netv2w24s4ep4.ckpt`: `ERes2NetV2(baseWidth=24, scale=4,
    /// expansion=4)`, 45.6 M parameters used by `forward3`.
    pub fn full() -> Self {
        SpeakerSizes { num_blocks: [3, 4, 6, 3], widths: [24, 48, 96, 192], scale: 4 }
    }

    pub fn build(&self, seed: u64) -> SpeakerVerifierFile {
        let (m, expansion, feat_dim, embedding) = (64, 4, crate::audio::FBANK_BINS, 192);
        let mut b = Builder::new("synthetic-sv.ckpt", seed);
        b.add("conv1.weight", &[m, 1, 3, 3]);
        b.batch_norm("bn1", m);
        let mut cin = m;
        for (l, (&blocks, &width)) in self.num_blocks.iter().zip(&self.widths).enumerate() {
            let cout = (m << l) * expansion;
            for j in 0..blocks {
                let p = format!("layer{}.{j}", l + 1);
                b.add(&format!("{p}.conv1.weight"), &[width * self.scale, cin, 1, 1]);
                b.batch_norm(&format!("{p}.bn1"), width * self.scale);
                for k in 0..self.scale {
                    b.add(&format!("{p}.convs.{k}.weight"), &[width, width, 3, 3]);
                    b.batch_norm(&format!("{p}.bns.{k}"), width);
                }
                for k in 0..if l >= 2 { self.scale - 1 } else { 0 } {
                    b.aff(&format!("{p}.fuse_models.{k}"), width);
                }
                b.add(&format!("{p}.conv3.weight"), &[cout, width * self.scale, 1, 1]);
                b.batch_norm(&format!("{p}.bn3"), cout);
                if j == 0 {
                    b.add(&format!("{p}.shortcut.0.weight"), &[cout, cin, 1, 1]);
                    b.batch_norm(&format!("{p}.shortcut.1"), cout);
                }
                cin = cout;
            }
        }
        b.add("layer3_ds.weight", &[cin, cin / 2, 3, 3]);
        b.aff("fuse34", cin);
        // `TSTP` pooling (mean and std over time) of the [C, F/8, T] map feeds this unused head.
        b.linear("seg_1", embedding, 2 * cin * feat_dim.div_ceil(8));
        SpeakerVerifierFile { path: "synthetic-sv.ckpt".into(), weights: b.store }
    }
}

/// The full-size speaker-verification net (upstream's pretrained sizes).
pub fn speaker_verifier(seed: u64) -> SpeakerVerifierFile {
    SpeakerSizes::full().build(seed)
}

/// The first `size` tokens of the synthetic BERT vocabulary: `[PAD]`, `[unused1]`…`[unused99]`,
/// then `[UNK]` = 100, `[CLS]` = 101, `[SEP]` = 102, `[MASK]` = 103 as in the real one, the 32
/// ASCII punctuation characters, and the CJK ideographs from U+4E00 on. At the real size (21128)
/// that is every ideograph up to U+9FFF, so normalised Chinese text tokenizes without `[UNK]`.
pub fn bert_vocab(size: usize) -> Vec<String> {
    let unused = (1..100).map(|i| format!("[unused{i}]"));
    let special = ["[UNK]", "[CLS]", "[SEP]", "[MASK]"].map(String::from);
    let punctuation = (b'!'..=b'~').filter(u8::is_ascii_punctuation).map(|b| char::from(b).to_string());
    let ideographs = (0x4E00..=0x9FFF).filter_map(char::from_u32).map(String::from);
    std::iter::once("[PAD]".to_string())
        .chain(unused)
        .chain(special)
        .chain(punctuation)
        .chain(ideographs)
        .take(size)
        .collect()
}

/// A voice-like reference clip at the model rate: a pitch gliding between 110 and 220 Hz with
/// eight harmonics, four syllables a second, and a little noise. Deterministic.
pub fn reference_clip() -> Vec<f32> {
    let rate = SAMPLE_RATE as f32;
    let mut noise = Noise(0x5eed);
    let mut phase = 0.0f32;
    (0..REFERENCE_SECONDS * SAMPLE_RATE as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let f0 = 165.0 + 55.0 * (std::f32::consts::TAU * 0.3 * t).sin();
            phase = (phase + std::f32::consts::TAU * f0 / rate) % std::f32::consts::TAU;
            let voiced: f32 = (1..=8).map(|h| (h as f32 * phase).sin() / h as f32).sum();
            let syllables = (std::f32::consts::PI * 4.0 * t).sin().abs();
            0.25 * syllables * voiced + 0.01 * noise.next()
        })
        .collect()
}

/// Where [`write_model_dir`] put the models and the voice.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub models: ModelPaths,
    /// The reference clip (`ref.wav`) and its transcript (also in `ref.txt`): [`REFERENCE_TEXT`], Chinese.
    pub reference_wav: PathBuf,
    pub reference_text: String,
}

/// Writes a whole model set of `sizes` into `dir` (created if needed) in the layout of the
/// fixture folders: `gpt.ckpt`, `sovits.pth`, `chinese-hubert-base/`,
/// `chinese-roberta-wwm-ext-large/` (with `vocab.txt`), `ref.wav`, `ref.txt`. The models use
/// seeds `seed` to `seed + 3` and are built and written in parallel, one at a time in memory each.
pub fn write_model_dir(dir: &Path, sizes: &ModelSizes, seed: u64) -> Result<ModelDir, Error> {
    std::fs::create_dir_all(dir).map_err(|e| CheckpointError::io(dir, e))?;
    let models = ModelPaths {
        gpt: dir.join("gpt.ckpt"),
        sovits: dir.join("sovits.pth"),
        hubert: dir.join("chinese-hubert-base"),
        bert: dir.join("chinese-roberta-wwm-ext-large"),
        sv: None,
    };
    let write_bert = || -> Result<(), CheckpointError> {
        write_hf_folder(&sizes.bert.build(seed + 3), &models.bert)?;
        let vocab = models.bert.join("vocab.txt");
        let lines: String = bert_vocab(sizes.bert.vocab).into_iter().map(|t| t + "\n").collect();
        std::fs::write(&vocab, lines).map_err(|e| CheckpointError::io(&vocab, e))
    };
    let ((gpt, sovits), (hubert, bert)) = rayon::join(
        || {
            rayon::join(
                || write_gpt(&sizes.gpt.build(seed), &models.gpt),
                || write_sovits(&sizes.sovits.build(seed + 1), &models.sovits),
            )
        },
        || rayon::join(|| write_hf_folder(&sizes.hubert.build(seed + 2), &models.hubert), write_bert),
    );
    gpt.and(sovits).and(hubert).and(bert)?;
    let reference_wav = dir.join("ref.wav");
    write_wav_i16(&reference_wav, &reference_clip(), SAMPLE_RATE)?;
    let text_path = dir.join("ref.txt");
    std::fs::write(&text_path, REFERENCE_TEXT).map_err(|e| CheckpointError::io(&text_path, e))?;
    Ok(ModelDir { models, reference_wav, reference_text: REFERENCE_TEXT.into() })
}

/// A GPT prompt of `phones` phones (with BERT features) and `prompt_tokens` reference tokens;
/// `salt` varies the ids between sessions.
pub fn t2s_prompt(c: &T2sConfig, phones: usize, prompt_tokens: usize, salt: u32) -> T2sPrompt {
    let bert = (0..c.bert_dim * phones).map(|i| ((i as u32 * 31 + salt) % 97) as f32 / 97.0 * 0.2 - 0.1).collect();
    T2sPrompt {
        phone_ids: (0..phones as u32).map(|i| (i * 7919 + salt) % c.phoneme_vocab as u32).collect(),
        bert: Tensor::new([c.bert_dim, phones], bert),
        prompt_tokens: (0..prompt_tokens as u32).map(|i| (i * 7919 + salt) % (c.vocab as u32 - 1)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::bert_tokenizer::BertTokenizer;

    #[test]
    fn full_vocabulary_has_the_real_special_ids_and_every_ideograph() {
        let vocab = bert_vocab(ModelSizes::full().bert.vocab);
        assert_eq!(vocab.len(), 21128);
        let id = |t: &str| vocab.iter().position(|v| v == t);
        let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map(id);
        assert_eq!(specials, [Some(0), Some(100), Some(101), Some(102), Some(103)]);
        assert_eq!(vocab.last().map(String::as_str), Some("\u{9FFF}"));

        let dir = std::env::temp_dir().join(format!("sovits-rt-unit-{}-vocab", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vocab.txt"), vocab.join("\n")).unwrap();
        let tokenizer = BertTokenizer::from_folder(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Normalised Chinese text: ideographs and ASCII punctuation, one token each.
        let text = "今天天气很好,我们一起去公园散步吧.路上的风有点凉!";
        let ids = tokenizer.encode(text);
        assert_eq!(ids.len(), text.chars().count() + 2);
        assert!(ids[1..ids.len() - 1].iter().all(|&i| i > 103 && (i as usize) < vocab.len()), "{ids:?}");
    }

    #[test]
    fn reference_clip_is_a_usable_reference() {
        let clip = reference_clip();
        let prepared = crate::audio::prepare_reference(&clip, SAMPLE_RATE).unwrap();
        assert_eq!(prepared.style.spec.shape()[1], clip.len() / 640);
        let peak = clip.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.1 && peak < 1.0, "{peak}");
    }
}
