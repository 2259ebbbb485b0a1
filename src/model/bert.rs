//! chinese-roberta-wwm-ext-large: the encoder of transformers `BertForMaskedLM`, of which
//! upstream keeps `hidden_states[-3]` (research/upstream-v2.md §2.6). `hidden_states[0]` is the
//! embedding output and `hidden_states[i]` the output of encoder layer `i − 1`, so
//! `hidden_states[-3]` = `hidden_states[L − 2]` is the output of layer `L − 3` (0-based): only the
//! first `L − 2` layers are loaded and run; the last two layers and the MLM head (`cls.*`) never
//! influence the result and are not read.
//!
//! Checkpoint names (under `bert.`, which a plain `BertModel` file lacks):
//! `embeddings.{word,position,token_type}_embeddings.weight`, `embeddings.LayerNorm.*`,
//! `encoder.layer.{l}.{attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
//! intermediate.dense, output.{dense,LayerNorm}}.*`.

use crate::checkpoint::HfFolder;
use crate::tensor::Tensor;

use super::hf_config::HfConfig;
use super::layers::{Linear, Norm, PostLnLayer};
use super::{ModelError, Weights};

/// Architecture numbers of a `BertModel` (transformers `BertConfig` defaults for absent keys).
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
}

impl BertConfig {
    pub fn from_folder(folder: &HfFolder) -> Result<Self, ModelError> {
        let c = HfConfig::new(&folder.dir, &folder.config);
        c.expect_str("hidden_act", "gelu", &["gelu"])?;
        c.expect_str("position_embedding_type", "absolute", &["absolute"])?;
        let cfg = BertConfig {
            vocab_size: c.usize("vocab_size", Some(30522))?,
            hidden_size: c.usize("hidden_size", Some(768))?,
            num_hidden_layers: c.usize("num_hidden_layers", Some(12))?,
            num_attention_heads: c.usize("num_attention_heads", Some(12))?,
            intermediate_size: c.usize("intermediate_size", Some(3072))?,
            max_position_embeddings: c.usize("max_position_embeddings", Some(512))?,
            type_vocab_size: c.usize("type_vocab_size", Some(2))?,
            layer_norm_eps: c.f64("layer_norm_eps", 1e-12)? as f32,
        };
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || h % heads != 0 {
            return Err(c.error(format!("hidden_size {h} is not divisible by num_attention_heads {heads}")));
        }
        if cfg.num_hidden_layers < 2 {
            return Err(c.error(format!(
                "num_hidden_layers = {}: upstream reads hidden_states[-3], which needs at least 2 layers",
                cfg.num_hidden_layers
            )));
        }
        if cfg.type_vocab_size == 0 {
            return Err(c.error("type_vocab_size must be at least 1"));
        }
        Ok(cfg)
    }

    /// Encoder layers that feed `hidden_states[-3]`.
    /// Rejects token ids this model cannot embed (every backend checks before running).
    pub fn check_input_ids(&self, input_ids: &[u32]) -> Result<(), ModelError> {
        if input_ids.is_empty() {
            return Err(ModelError::Input("BERT got no tokens".into()));
        }
        if input_ids.len() > self.max_position_embeddings {
            return Err(ModelError::Input(format!(
                "BERT takes at most {} tokens, got {}; split the text into shorter sentences",
                self.max_position_embeddings,
                input_ids.len()
            )));
        }
        if let Some(&bad) = input_ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the BERT vocabulary of {} entries (tokenizer and model do not match)",
                self.vocab_size
            )));
        }
        Ok(())
    }

    pub fn layers_needed(&self) -> usize {
        self.num_hidden_layers - 2
    }
}

/// The weights `hidden_states[-3]` depends on.
#[derive(Debug, Clone)]
pub struct BertWeights {
    pub config: BertConfig,
    pub word_embeddings: Tensor,       // embeddings.word_embeddings.weight [V, H]
    pub position_embeddings: Tensor,   // embeddings.position_embeddings.weight [P, H]
    pub token_type_embeddings: Tensor, // embeddings.token_type_embeddings.weight [types, H]
    pub embeddings_norm: Norm,         // embeddings.LayerNorm [H]
    /// `encoder.layer.{l}` for `l < L − 2`.
    pub layers: Vec<PostLnLayer>,
}

impl BertWeights {
    pub fn load(folder: &HfFolder) -> Result<Self, ModelError> {
        let config = BertConfig::from_folder(folder)?;
        Self::from_weights(config, &Weights::new(&folder.weights))
    }

    pub fn from_weights(config: BertConfig, w: &Weights) -> Result<Self, ModelError> {
        let w = if w.contains("bert.embeddings.word_embeddings.weight") { w.pp("bert") } else { w.clone() };
        let cfg = &config;
        let (h, f) = (cfg.hidden_size, cfg.intermediate_size);
        let emb = w.pp("embeddings");
        let enc = w.pp("encoder").pp("layer");
        if enc.contains(&format!("{}.output.LayerNorm.weight", cfg.num_hidden_layers)) {
            return Err(ModelError::Architecture {
                file: w.file().to_path_buf(),
                reason: format!(
                    "config.json says num_hidden_layers = {} but the weights hold more layers; \
                     hidden_states[-3] would pick the wrong one",
                    cfg.num_hidden_layers
                ),
            });
        }
        let layers = (0..cfg.layers_needed())
            .map(|l| {
                let lw = enc.pp(l);
                let att = lw.pp("attention");
                Ok(PostLnLayer {
                    query: Linear::load(&att.pp("self").pp("query"), h, h)?,
                    key: Linear::load(&att.pp("self").pp("key"), h, h)?,
                    value: Linear::load(&att.pp("self").pp("value"), h, h)?,
                    out: Linear::load(&att.pp("output").pp("dense"), h, h)?,
                    attn_norm: Norm::load(&att.pp("output").pp("LayerNorm"), h)?,
                    ffn_in: Linear::load(&lw.pp("intermediate").pp("dense"), f, h)?,
                    ffn_out: Linear::load(&lw.pp("output").pp("dense"), h, f)?,
                    ffn_norm: Norm::load(&lw.pp("output").pp("LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(BertWeights {
            word_embeddings: emb.get(&[cfg.vocab_size, h], "word_embeddings.weight")?,
            position_embeddings: emb.get(&[cfg.max_position_embeddings, h], "position_embeddings.weight")?,
            token_type_embeddings: emb.get(&[cfg.type_vocab_size, h], "token_type_embeddings.weight")?,
            embeddings_norm: Norm::load(&emb.pp("LayerNorm"), h)?,
            layers,
            config,
        })
    }
}

/// `hidden_states[-3][1:-1]`: the rows of the characters, without `[CLS]` and `[SEP]`.
pub fn char_features(hidden_sel: &Tensor) -> Result<Tensor, ModelError> {
    let (n, h) = (hidden_sel.dim(0), hidden_sel.dim(1));
    if n < 2 {
        return Err(ModelError::Input(format!("BERT output has {n} rows; [CLS] and [SEP] are missing")));
    }
    Ok(Tensor::new([n - 2, h], hidden_sel.data()[h..(n - 1) * h].to_vec()))
}

/// Per-phone features `[H, Σ word2ph]`: character row `i` repeated `word2ph[i]` times, transposed
/// (`get_bert_feature`'s `repeat` + `cat` + `.T`).
pub fn expand_features(char_features: &Tensor, word2ph: &[usize]) -> Result<Tensor, ModelError> {
    let (n, h) = (char_features.dim(0), char_features.dim(1));
    if n != word2ph.len() {
        return Err(ModelError::Input(format!(
            "BERT gave features for {n} characters but the text frontend produced {} (word2ph); \
             the normalised text and its tokens must align one to one",
            word2ph.len()
        )));
    }
    let phones: usize = word2ph.iter().sum();
    let mut out = vec![0.0f32; h * phones];
    let mut col = 0;
    for (i, &reps) in word2ph.iter().enumerate() {
        let row = char_features.row(i);
        for _ in 0..reps {
            for (c, &v) in row.iter().enumerate() {
                out[c * phones + col] = v;
            }
            col += 1;
        }
    }
    Ok(Tensor::new([h, phones], out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_repeats_rows() {
        let chars = Tensor::new([2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let e = expand_features(&chars, &[2, 1]).unwrap();
        assert_eq!(e.shape(), &[3, 3]);
        assert_eq!(e.data(), &[1.0, 1.0, 4.0, 2.0, 2.0, 5.0, 3.0, 3.0, 6.0]);
        assert!(expand_features(&chars, &[1]).is_err());
        let sel = Tensor::new([4, 1], vec![9.0, 1.0, 2.0, 9.0]);
        assert_eq!(char_features(&sel).unwrap().data(), &[1.0, 2.0]);
    }
}
