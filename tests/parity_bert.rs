//! Stage 3 (`bert.safetensors`, `get_bert_feature`): tokenizer ids of the normalised texts,
//! the embedding output, `hidden_states[-3]`, the character rows and the per-phone expansion;
//! then the same from the raw sentences through the text frontend.
mod common;

use sovits_rt::backend::Backend;
use sovits_rt::checkpoint::open_hf_folder;
use sovits_rt::cpu::CpuBert;
use sovits_rt::model::bert::{char_features, expand_features, BertConfig, BertWeights};
use sovits_rt::model::bert_tokenizer::BertTokenizer;
use sovits_rt::model::{Bert, Weights};
use sovits_rt::pipeline::BertFeaturizer;
use sovits_rt::text::{phonemize, LangMode, SymbolSet};

#[test]
fn parity_bert() {
    let Some(dir) = common::model_fixtures("parity_bert") else { return };
    let case = common::case(&dir, "bert.safetensors");
    let folder_path = dir.join("chinese-roberta-wwm-ext-large");
    let folder = open_hf_folder(&folder_path).unwrap();
    let config = BertConfig::from_folder(&folder).unwrap();
    let w = Weights::new(&folder.weights);
    let model = CpuBert::new(BertWeights::from_weights(config.clone(), &w).unwrap());
    // Only the MLM head and the last two layers stay unread.
    let last_two = [config.num_hidden_layers - 2, config.num_hidden_layers - 1];
    for name in w.unused() {
        let in_last_two = last_two.iter().any(|l| name.starts_with(&format!("bert.encoder.layer.{l}.")));
        assert!(name.starts_with("cls.") || in_last_two, "unexpected unused tensor {name}");
    }
    let tokenizer = BertTokenizer::from_folder(&folder_path).unwrap();
    // The real GPT-SoVITS folder ships tokenizer.json without vocab.txt: same ids from it.
    let json_only = std::env::temp_dir().join(format!("sovits-rt-tokenizer-{}", std::process::id()));
    std::fs::create_dir_all(&json_only).unwrap();
    std::fs::copy(folder_path.join("tokenizer.json"), json_only.join("tokenizer.json")).unwrap();
    let from_json = BertTokenizer::from_folder(&json_only).unwrap();
    std::fs::remove_dir_all(&json_only).unwrap();

    let n: usize = case.metadata()["n_sentences"].parse().unwrap();
    assert!(n > 0);
    for i in 0..n {
        let s = |name: &str| format!("s{i}_{name}");
        let text = &case.metadata()[&s("norm_text")];
        let ids = tokenizer.encode(text);
        assert_eq!(from_json.encode(text), ids, "tokenizer.json vocabulary");
        assert_eq!(ids, common::u32s(&case, &s("input_ids")), "{}: input_ids of {text:?}", s("input_ids"));
        assert!(common::i64s(&case, &s("token_type_ids")).iter().all(|&v| v == 0));
        assert!(common::i64s(&case, &s("attention_mask")).iter().all(|&v| v == 1));
        assert_eq!(common::i64s(&case, &s("attention_mask")).len(), ids.len());

        let trace = model.forward_traced(&ids).unwrap();
        let (_, h0) = common::f32s(&case, &s("hidden_state_0"));
        common::assert_close_rel(&s("hidden_state_0"), trace.hidden_state_0.data(), &h0, 1e-4);
        let (sel_shape, sel) = common::f32s(&case, &s("hidden_state_sel"));
        assert_eq!(sel_shape, trace.hidden_state_sel.shape());
        common::assert_close_rel(&s("hidden_state_sel"), trace.hidden_state_sel.data(), &sel, 1e-4);
        assert_eq!(model.hidden_states_sel(&ids).unwrap(), trace.hidden_state_sel);

        let chars = char_features(&trace.hidden_state_sel).unwrap();
        let (_, expected_chars) = common::f32s(&case, &s("char_features"));
        common::assert_close_rel(&s("char_features"), chars.data(), &expected_chars, 1e-4);

        // word2ph / phone_ids come from the text frontend; here they are inputs.
        let word2ph: Vec<usize> = common::i64s(&case, &s("word2ph")).into_iter().map(|v| v as usize).collect();
        assert_eq!(word2ph.iter().sum::<usize>(), common::i64s(&case, &s("phone_ids")).len());
        let (pf_shape, pf) = common::f32s(&case, &s("phone_features"));
        let phones = expand_features(&chars, &word2ph).unwrap();
        assert_eq!(pf_shape, phones.shape());
        common::assert_close_rel(&s("phone_features"), phones.data(), &pf, 1e-4);
    }
}

/// The whole text side of stage 3 from the raw sentences: our frontend's normalised text, phone
/// ids and `word2ph`, then the per-phone BERT features, against upstream's.
#[test]
fn text_to_phone_features() {
    let Some(dir) = common::model_fixtures("text_to_phone_features") else { return };
    let case = common::case(&dir, "bert.safetensors");
    let featurizer = BertFeaturizer::load(&dir.join("chinese-roberta-wwm-ext-large"), &Backend::cpu()).unwrap();
    let n: usize = case.metadata()["n_sentences"].parse().unwrap();
    for i in 0..n {
        let s = |name: &str| format!("s{i}_{name}");
        let sentence = phonemize(&case.metadata()[&s("text")], LangMode::Zh, SymbolSet::V2).unwrap();
        assert_eq!(sentence.norm_text(), case.metadata()[&s("norm_text")], "{}", s("norm_text"));
        assert_eq!(sentence.phones().join(" "), case.metadata()[&s("phones")], "{}", s("phones"));
        assert_eq!(sentence.phone_ids(), common::u32s(&case, &s("phone_ids")), "{}", s("phone_ids"));
        let word2ph: Vec<usize> = common::i64s(&case, &s("word2ph")).into_iter().map(|v| v as usize).collect();
        assert_eq!(sentence.segments[0].cleaned.word2ph.as_ref(), Some(&word2ph), "{}", s("word2ph"));
        let features = featurizer.features(&sentence).unwrap();
        let (shape, expected) = common::f32s(&case, &s("phone_features"));
        assert_eq!(features.bert.shape(), shape);
        common::assert_close_rel(&s("phone_features (from text)"), features.bert.data(), &expected, 1e-4);
    }
}
