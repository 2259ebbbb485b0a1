//! Full-size GPT-SoVITS v2 checkpoints with seeded random weights, built in memory with the
//! real tensor names and shapes (research/upstream-v2.md §1.2, §1.4, Appendix B), so the
//! benchmark goes through the same loaders and shape inference as real files.

// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::path::Path;

use half::f16;
use sovits_rt::checkpoint::pickle::Value;
use sovits_rt::checkpoint::{GptFile, HfFolder, SovitsFile, SovitsKind, TensorStore};
use sovits_rt::model::t2s::T2sConfig;
use sovits_rt::model::T2sPrompt;
use sovits_rt::tensor::Tensor;

/// Deterministic uniform(-1, 1) generator (xorshift; benchmark data only).
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

    fn put(&mut self, name: &str, shape: &[usize], data: &[f32]) {
        let data: Vec<f16> = data.iter().map(|&v| f16::from_f32(v)).collect();
        self.store.insert_f16(name, shape.to_vec(), &data).unwrap();
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
}

fn dict(items: Vec<(&str, Value)>) -> Value {
    Value::Dict(items.into_iter().map(|(k, v)| (Value::Str(k.into()), v)).collect())
}

/// The v2 GPT: 24 layers × 512, 16 heads, FFN 2048, 732 phones, 1025 audio tokens.
pub fn gpt(seed: u64) -> GptFile {
    let (d, layers, ffn) = (512, 24, 2048);
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
    // EOS row zeroed, as in the upstream anchor: its logit is 0 while the best of the other 1024
    // random logits is positive, so decoding always runs the requested number of steps.
    let mut head = b.random("ar_predict_layer.weight", &[1025, d]);
    head[1024 * d..].fill(0.0);
    b.put("ar_predict_layer.weight", &[1025, d], &head);
    let config = dict(vec![("model", dict(vec![("head", Value::Int(16)), ("n_layer", Value::Int(layers as i64))]))]);
    GptFile { path: "synthetic-gpt.ckpt".into(), weights: b.store, config, info: None }
}

/// The v2 SoVITS `SynthesizerTrn` (s2.json sizes), without `enc_q`.
pub fn sovits(seed: u64) -> SovitsFile {
    let (h, f, g) = (192, 768, 512);
    let mut b = Builder::new("synthetic-sovits.pth", seed);
    b.conv("enc_p.ssl_proj", h, 768, 1);
    for (enc, n) in [("encoder_ssl", 3), ("encoder_text", 6), ("encoder2", 3)] {
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

    b.conv("dec.conv_pre", 512, h, 7);
    b.conv("dec.cond", 512, g, 1);
    let mut c = 512;
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

/// chinese-hubert-base: 7 conv layers of 512, 12 × 768 post-LN transformer, FFN 3072.
pub fn hubert(seed: u64) -> HfFolder {
    let (c, d, ffn, layers) = (512, 768, 3072, 12);
    let kernels = [10, 3, 3, 3, 3, 2, 2];
    let mut b = Builder::new("synthetic-chinese-hubert-base", seed);
    for (i, k) in kernels.into_iter().enumerate() {
        b.add(&format!("feature_extractor.conv_layers.{i}.conv.weight"), &[c, if i == 0 { 1 } else { c }, k]);
    }
    b.norm("feature_extractor.conv_layers.0.layer_norm", "weight", "bias", c);
    b.norm("feature_projection.layer_norm", "weight", "bias", c);
    b.linear("feature_projection.projection", d, c);
    b.add("encoder.pos_conv_embed.conv.bias", &[d]);
    b.add("encoder.pos_conv_embed.conv.weight_g", &[1, 1, 128]);
    b.add("encoder.pos_conv_embed.conv.weight_v", &[d, d / 16, 128]);
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
        "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "num_feat_extract_layers": 7,
        "model_type": "hubert"
    });
    HfFolder { dir: "synthetic-chinese-hubert-base".into(), config, weights: b.store }
}

/// chinese-roberta-wwm-ext-large: 24 × 1024 BERT, FFN 4096, vocabulary 21128 (MLM head omitted).
pub fn bert(seed: u64) -> HfFolder {
    let (d, ffn, layers, vocab) = (1024, 4096, 24, 21128);
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
