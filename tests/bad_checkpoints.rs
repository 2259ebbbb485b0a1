//! Damaged, foreign and unsupported checkpoint files give typed errors that name the file —
//! never a panic. Each case starts from a fixture file and breaks one thing.
mod common;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sovits_rt::checkpoint::{open_gpt, open_hf_folder, open_sovits, pickle, CheckpointError};
use sovits_rt::model::{ModelError, Weights};

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sovits-rt-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copies `src` to a temp file after applying `edit` to its bytes.
fn edited(src: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    edit(&mut bytes);
    let p = tmp_dir("edit").join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn assert_names_file(e: &dyn std::fmt::Display, p: &Path) {
    let msg = e.to_string();
    assert!(msg.contains(&p.display().to_string()), "error does not name the file: {msg}");
}

#[test]
fn truncated_and_garbage_files() {
    let Some(dir) = common::model_fixtures("truncated_and_garbage_files") else { return };
    let gpt = dir.join("gpt.ckpt");
    let half = edited(&gpt, "half.ckpt", |b| b.truncate(b.len() / 2));
    let e = open_gpt(&half).err().unwrap();
    assert!(matches!(e, CheckpointError::NotATorchFile { .. }), "{e}");
    assert_names_file(&e, &half);

    let tail_cut = edited(&gpt, "tail.ckpt", |b| b.truncate(b.len() - 10));
    assert!(open_gpt(&tail_cut).is_err());

    let empty = edited(&gpt, "empty.ckpt", |b| b.clear());
    assert!(matches!(open_gpt(&empty), Err(CheckpointError::NotATorchFile { .. })));

    let garbage = edited(&gpt, "garbage.pth", |b| b.iter_mut().for_each(|x| *x = x.wrapping_mul(31).wrapping_add(7)));
    let e = open_sovits(&garbage).err().unwrap();
    assert!(matches!(e, CheckpointError::BadMagic { .. }), "{e}");

    let missing = dir.join("no-such-file.pth");
    let e = open_sovits(&missing).err().unwrap();
    assert!(matches!(e, CheckpointError::Io { .. }), "{e}");
    assert_names_file(&e, &missing);
}

#[test]
fn version_markers_follow_upstream() {
    let Some(dir) = common::model_fixtures("version_markers_follow_upstream") else { return };
    let sovits = dir.join("sovits.pth");
    // "00"/"01" mark v1/v2 files: upstream restores "PK" and loads them.
    for marker in [b"00", b"01"] {
        let p = edited(&sovits, "marked.pth", |b| b[..2].copy_from_slice(marker));
        let f = open_sovits(&p).unwrap();
        assert_eq!(&f.header, marker);
    }
    for (marker, version) in [(b"02", "v3"), (b"03", "v3"), (b"04", "v4")] {
        let p = edited(&sovits, "newer.pth", |b| b[..2].copy_from_slice(marker));
        let e = open_sovits(&p).err().unwrap();
        assert!(matches!(e, CheckpointError::UnsupportedVersion { .. }), "{e}");
        assert!(e.to_string().contains(version) && e.to_string().contains("not supported yet"), "{e}");
    }
    // "05"/"06" mark v2Pro/v2ProPlus: a v2 model's weights behind them are refused, naming the file.
    for (marker, version) in [(b"05", "v2Pro"), (b"06", "v2ProPlus")] {
        let p = edited(&sovits, "pro-header.pth", |b| b[..2].copy_from_slice(marker));
        let e = open_sovits(&p).err().unwrap();
        assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
        assert!(e.to_string().contains(version) && e.to_string().contains("Pro header"), "{e}");
        assert_names_file(&e, &p);
    }
    let p = edited(&sovits, "xy.pth", |b| b[..2].copy_from_slice(b"XY"));
    assert!(matches!(open_sovits(&p), Err(CheckpointError::BadMagic { .. })));
    // A GPT file never carries a marker.
    let p = edited(&dir.join("gpt.ckpt"), "marked.ckpt", |b| b[..2].copy_from_slice(b"05"));
    assert!(matches!(open_gpt(&p), Err(CheckpointError::BadMagic { .. })));
}

#[test]
fn swapped_files_are_recognised() {
    let Some(dir) = common::model_fixtures("swapped_files_are_recognised") else { return };
    let e = open_sovits(&dir.join("gpt.ckpt")).err().unwrap();
    assert!(e.to_string().contains("GPT"), "{e}");
    let e = open_gpt(&dir.join("sovits.pth")).err().unwrap();
    assert!(e.to_string().contains("SoVITS"), "{e}");
    let e = open_gpt(&dir.join("ref.wav")).err().unwrap();
    assert!(matches!(e, CheckpointError::BadMagic { .. }), "{e}");
}

/// Writes an f16 NaN into the first storage of the GPT file; reading that tensor must fail.
#[test]
fn nan_weights_are_rejected() {
    let Some(dir) = common::model_fixtures("nan_weights_are_rejected") else { return };
    let src = dir.join("gpt.ckpt");
    let offset = {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&src).unwrap()).unwrap();
        let idx = (0..zip.len()).find(|&i| zip.name_for_index(i).unwrap().unwrap().ends_with("/data/0")).unwrap();
        let start = zip.by_index_raw(idx).unwrap().data_start().unwrap() as usize;
        start
    };
    let p = edited(&src, "nan.ckpt", |b| b[offset..offset + 2].copy_from_slice(&0x7E00u16.to_le_bytes()));
    let gpt = open_gpt(&p).unwrap();
    let w = Weights::new(&gpt.weights);
    let errors: Vec<ModelError> = gpt.weights.names().filter_map(|n| w.get_any(n).err()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0], ModelError::NonFinite { index: 0, .. }), "{}", errors[0]);
    assert_names_file(&errors[0], &p);
}

#[test]
fn missing_and_misshaped_tensors() {
    let Some(dir) = common::model_fixtures("missing_and_misshaped_tensors") else { return };
    let gpt = open_gpt(&dir.join("gpt.ckpt")).unwrap();
    let w = Weights::new(&gpt.weights);
    let e = w.pp("h.layers.9999").get_any("linear1.weight").err().unwrap();
    assert!(matches!(e, ModelError::MissingTensor { .. }) && e.to_string().contains("h.layers.9999.linear1.weight"));
    let shape = w.require_shape("bert_proj.weight").unwrap();
    let e = w.get(&[shape[0] + 1, shape[1]], "bert_proj.weight").err().unwrap();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }), "{e}");
}

#[test]
fn broken_hf_folders() {
    let Some(dir) = common::model_fixtures("broken_hf_folders") else { return };
    let d = tmp_dir("hf");
    let e = open_hf_folder(&d).err().unwrap();
    assert!(matches!(e, CheckpointError::Io { .. }), "{e}");
    std::fs::write(d.join("config.json"), "{ not json").unwrap();
    assert!(matches!(open_hf_folder(&d), Err(CheckpointError::Config { .. })));
    std::fs::write(d.join("config.json"), "{}").unwrap();
    let e = open_hf_folder(&d).err().unwrap();
    assert!(e.to_string().contains("pytorch_model.bin"), "{e}");
    std::fs::copy(dir.join("ref.wav"), d.join("model.safetensors")).unwrap();
    assert!(open_hf_folder(&d).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Arbitrary bytes never panic the unpickler.
    #[test]
    fn pickle_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = pickle::parse(&data);
    }

    /// Corrupting a real pickle stream anywhere never panics it either.
    #[test]
    fn corrupted_real_pickle_never_panics(pos in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
        let data = real_pickle();
        if data.is_empty() { return Ok(()); }
        let mut d = data.to_vec();
        let i = pos % d.len();
        d[i] = byte;
        d.truncate(cut.max(1).min(d.len()));
        let _ = pickle::parse(&d);
    }
}

/// The `data.pkl` of the fixture GPT file (empty without fixtures).
fn real_pickle() -> &'static [u8] {
    static PKL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PKL.get_or_init(|| {
        let dir = common::fixtures_root().join("v2-small");
        let Ok(f) = std::fs::File::open(dir.join("gpt.ckpt")) else { return Vec::new() };
        let mut zip = zip::ZipArchive::new(f).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
        let name = names.into_iter().find(|n| n.ends_with("/data.pkl")).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(&name).unwrap(), &mut out).unwrap();
        out
    })
}
