//! The fixture checkpoints open with the formats' real quirks (random zip prefixes, pickled
//! custom classes, tied storages) and every tensor is readable.
mod common;

use sovits_rt::checkpoint::{open_gpt, open_hf_folder, open_sovits, SovitsKind};

#[test]
fn fixture_checkpoints_open() {
    let Some(dir) = common::model_fixtures("fixture_checkpoints_open") else { return };
    let gpt = open_gpt(&dir.join("gpt.ckpt")).unwrap();
    assert!(gpt.weights.contains("ar_predict_layer.weight"));
    for name in gpt.weights.names() {
        gpt.weights.get(name).unwrap().to_f32().unwrap();
    }
    let sovits = open_sovits(&dir.join("sovits.pth")).unwrap();
    assert_eq!(sovits.kind, SovitsKind::V2);
    assert!(sovits.weights.len() > 100);
    for sub in ["chinese-hubert-base", "chinese-roberta-wwm-ext-large"] {
        let hf = open_hf_folder(&dir.join(sub)).unwrap();
        assert!(!hf.weights.is_empty());
        for name in hf.weights.names() {
            hf.weights.get(name).unwrap().to_f32().unwrap();
        }
    }
}
