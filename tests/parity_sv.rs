//! The v2Pro speaker-verification branch (`ref_sv.safetensors`, `TTS._get_ref_spec` for Pro +
//! `sv.SV.compute_embedding3`): reference → 32 kHz → 16 kHz → Kaldi fbank → ERes2NetV2
//! `forward3`, each stage from the fixture's own input and end to end from `wav_raw`, for both
//! references. Tolerances are the fixture README's; every size comes from the files.
mod common;

use std::path::Path;

use sovits_rt::audio::{
    kaldi_fbank, prepare_reference, read_wav, reference_wav_32k, speaker_features, spectrogram, AudioError, Resampler,
    SpectrogramParams, FBANK_RATE,
};
use sovits_rt::checkpoint::{open_hf_folder, open_speaker_verifier, CheckpointError, TensorStore, TorchFile};
use sovits_rt::cpu::speaker::SpeakerTrace;
use sovits_rt::cpu::{CpuHubert, CpuSpeakerNet};
use sovits_rt::model::hubert::HubertWeights;
use sovits_rt::model::speaker::SpeakerWeights;
use sovits_rt::model::{Hubert, ModelError, Weights};
use sovits_rt::synthetic::SpeakerSizes;
use sovits_rt::tensor::Tensor;

/// Stage tolerances (README "Tolerances"): resampled audio absolute, fbank absolute, the
/// embedding and stage means relative to max|expected| from the fixture fbank and end to end.
const WAV_ATOL: f32 = 1e-5;
const FBANK_ATOL: f32 = 2e-3;
const NET_REL: f32 = 1e-4;
const CHAIN_REL: f32 = 1e-3;
/// The v2 spectrogram: 2e-5 × max|expected| (README).
const SPEC_REL: f32 = 2e-5;

fn load_net(dir: &Path) -> CpuSpeakerNet {
    let file = open_speaker_verifier(&dir.join("sv.ckpt")).unwrap_or_else(|e| panic!("{e}"));
    let w = Weights::new(&file.weights);
    let (cfg, weights) = SpeakerWeights::load(&w).unwrap_or_else(|e| panic!("{e}"));
    // forward3 reads everything but the embedding head.
    let unused: Vec<String> = w.unused().into_iter().filter(|n| !n.starts_with("seg_1.")).collect();
    assert!(unused.is_empty(), "tensors forward3 should read but did not: {unused:?}");
    println!("sv.ckpt: {cfg:?}, embedding {}", cfg.embedding_dim());
    CpuSpeakerNet::new(cfg, weights)
}

/// `wav_raw` `[channels, n]` (first `n` samples) as `TTS._get_ref_spec` makes it mono.
fn mono(case: &TensorStore, n: Option<usize>) -> Vec<f32> {
    let (shape, raw) = common::f32s(case, "wav_raw");
    let (channels, len) = (shape[0], shape[1]);
    let n = n.unwrap_or(len);
    match channels {
        1 => raw[..n].to_vec(),
        2 => (0..n).map(|i| (raw[i] + raw[len + i]) / 2.0).collect(),
        c => panic!("wav_raw has {c} channels; upstream only averages exactly two"),
    }
}

fn raw_rate(case: &TensorStore) -> u32 {
    common::i64s(case, "raw_sr")[0] as u32
}

fn check_trace(label: &str, case: &TensorStore, got: &SpeakerTrace, rel: f32, prefix: &str) {
    let mut stages = vec![("sv_stem_tmean".to_string(), &got.stem)];
    for (i, l) in got.layers.iter().enumerate() {
        stages.push((format!("sv_layer{}_tmean", i + 1), l));
    }
    stages.push(("sv_layer3_ds_tmean".to_string(), &got.layer3_ds));
    for (name, t) in stages {
        let (shape, want) = common::f32s(case, &name);
        assert_eq!(&shape[1..], t.shape(), "{name} shape");
        common::assert_close_rel(&format!("{name} ({label})"), t.data(), &want, rel);
    }
    let (_, want) = common::f32s(case, &format!("{prefix}sv_emb"));
    common::assert_close_rel(&format!("{prefix}sv_emb ({label})"), got.embedding.data(), &want, rel);
}

fn fixture_fbank(case: &TensorStore) -> Tensor {
    let (shape, data) = common::f32s(case, "fbank");
    Tensor::new(&shape[1..], data)
}

/// A clip (the first `n` samples of `wav_raw`, or all) through the reference front end against the
/// fixture's `{prefix}spec` and `{prefix}wav_16k`; returns our 32 kHz clip and the fixture's 16 kHz
/// one.
fn check_clip_front_end(case: &TensorStore, n: Option<usize>, prefix: &str) -> (Vec<f32>, Vec<f32>) {
    let ours_32k = reference_wav_32k(&mono(case, n), raw_rate(case)).unwrap();
    let (_, spec) = common::f32s(case, &format!("{prefix}spec"));
    let ours_spec = spectrogram(&ours_32k, &SpectrogramParams::V2).unwrap();
    common::assert_close_rel(&format!("{prefix}spec (wav_raw)"), ours_spec.data(), &spec, SPEC_REL);
    let ours_16k = Resampler::new(sovits_rt::audio::MODEL_RATE, FBANK_RATE).unwrap().apply(&ours_32k);
    let (_, wav_16k) = common::f32s(case, &format!("{prefix}wav_16k"));
    common::assert_close_abs(&format!("{prefix}wav_16k (wav_raw)"), &ours_16k, &wav_16k, WAV_ATOL);
    (ours_32k, wav_16k)
}

#[test]
fn sv_front_end() {
    let Some(dir) = common::pro_fixtures("sv_front_end") else { return };
    let case = common::case(&dir, "ref_sv.safetensors");

    let (ours_32k, wav_16k) = check_clip_front_end(&case, None, "");
    let (_, wav_32k) = common::f32s(&case, "wav_32k");
    common::assert_close_abs("wav_32k (wav_raw)", &ours_32k, &wav_32k, WAV_ATOL);

    let want = fixture_fbank(&case);
    let got = kaldi_fbank(&wav_16k).unwrap();
    assert_eq!(got.shape(), want.shape(), "fbank shape");
    common::assert_close_abs("fbank (fixture wav_16k)", got.data(), want.data(), FBANK_ATOL);
    let loud: (Vec<f32>, Vec<f32>) = got.data().iter().zip(want.data()).filter(|(_, &w)| w > -5.0).unzip();
    common::assert_close_abs("fbank above -5 (fixture wav_16k)", &loud.0, &loud.1, FBANK_ATOL);
    let chained = speaker_features(&ours_32k).unwrap();
    common::assert_close_abs("fbank (wav_raw)", chained.data(), want.data(), FBANK_ATOL);
}

#[test]
fn sv_embedding() {
    let Some(dir) = common::pro_fixtures("sv_embedding") else { return };
    let case = common::case(&dir, "ref_sv.safetensors");
    let net = load_net(&dir);
    assert_eq!(net.config().embedding_dim(), common::f32s(&case, "sv_emb").0[1], "embedding width");

    let fbank = fixture_fbank(&case);
    let start = std::time::Instant::now();
    let trace = net.embed_traced(&fbank).unwrap();
    println!("embed of {} frames: {:.2?}", fbank.dim(0), start.elapsed());
    check_trace("fixture fbank", &case, &trace, NET_REL, "");

    let features = speaker_features(&reference_wav_32k(&mono(&case, None), raw_rate(&case)).unwrap()).unwrap();
    check_trace("wav_raw", &case, &net.embed_traced(&features).unwrap(), CHAIN_REL, "");
}

/// `ref2_*`: the first `ref2_n_samples` of the clip through the same front end. The fixture has
/// no fbank or stage means for it; the embedding is checked from its `ref2_wav_16k` and from
/// `wav_raw`.
#[test]
fn sv_second_reference() {
    let Some(dir) = common::pro_fixtures("sv_second_reference") else { return };
    let case = common::case(&dir, "ref_sv.safetensors");
    let net = load_net(&dir);
    let n = common::i64s(&case, "ref2_n_samples")[0] as usize;

    let (ours_32k, wav_16k) = check_clip_front_end(&case, Some(n), "ref2_");

    let (_, want) = common::f32s(&case, "ref2_sv_emb");
    let from_16k = net.embed(&kaldi_fbank(&wav_16k).unwrap()).unwrap();
    common::assert_close_rel("ref2_sv_emb (fixture ref2_wav_16k)", from_16k.data(), &want, CHAIN_REL);
    let chained = net.embed(&speaker_features(&ours_32k).unwrap()).unwrap();
    common::assert_close_rel("ref2_sv_emb (wav_raw)", chained.data(), &want, CHAIN_REL);
}

/// `hubert_last_hidden_state`: the Pro set's clip through the v2 set's HuBERT, from the WAV file
/// (libsoxr to 16 kHz, upstream's zero tail) — the prompt path a Pro voice shares with v2.
#[test]
fn sv_reference_hubert_features() {
    let Some(dir) = common::pro_fixtures("sv_reference_hubert_features") else { return };
    let Some(v2) = common::model_fixtures("sv_reference_hubert_features") else { return };
    let case = common::case(&dir, "ref_sv.safetensors");
    let hubert =
        CpuHubert::new(HubertWeights::load(&open_hf_folder(&v2.join("chinese-hubert-base")).unwrap()).unwrap());
    let (samples, rate) = read_wav(&dir.join("ref.wav")).unwrap();
    let reference = prepare_reference(&samples, rate).unwrap();
    let got = hubert.forward(&reference.wav16k).unwrap();
    let (shape, want) = common::f32s(&case, "hubert_last_hidden_state");
    assert_eq!(&shape[1..], got.shape());
    common::assert_close_rel("hubert_last_hidden_state (ref.wav)", got.data(), &want, CHAIN_REL);
}

fn assert_names_file(e: &dyn std::fmt::Display, p: &Path) {
    let msg = e.to_string();
    assert!(msg.contains(&p.display().to_string()), "error does not name {}: {msg}", p.display());
    println!("ok: {msg}");
}

/// The SV weights of `sv.ckpt` copied into a store, with `edit` applied to (name, shape).
fn edited_store(dir: &Path, edit: impl Fn(&str, &[usize]) -> Option<Vec<usize>>) -> TensorStore {
    let path = dir.join("sv.ckpt");
    let file = open_speaker_verifier(&path).unwrap();
    let mut store = TensorStore::new(&path);
    for name in file.weights.names() {
        let v = file.weights.require(name).unwrap();
        let Some(shape) = edit(name, v.shape) else { continue };
        let mut data = v.to_f16().unwrap();
        data.resize(shape.iter().product(), half::f16::ZERO);
        store.insert_f16(name, shape, &data).unwrap();
    }
    store
}

#[test]
fn sv_bad_checkpoints_and_inputs() {
    let Some(dir) = common::pro_fixtures("sv_bad_checkpoints_and_inputs") else { return };

    // A SoVITS .pth (header "06") and a GPT .ckpt are wrapped checkpoints, not state dicts.
    let sovits = dir.join("sovits_v2proplus.pth");
    let e = open_speaker_verifier(&sovits).err().unwrap();
    assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
    assert_names_file(&e, &sovits);
    let gpt = dir.join("../v2-small/gpt.ckpt");
    if gpt.is_file() {
        let e = open_speaker_verifier(&gpt).err().unwrap();
        assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
        assert_names_file(&e, &gpt);
    }
    let missing = dir.join("no-such-sv.ckpt");
    assert_names_file(&open_speaker_verifier(&missing).err().unwrap(), &missing);

    // Their weights (and HuBERT's) are not an ERes2NetV2.
    let torch = TorchFile::open(&sovits).unwrap();
    let store = torch.tensors(torch.root.get("weight").unwrap()).unwrap();
    let e = SpeakerWeights::load(&Weights::new(&store)).err().unwrap();
    assert!(matches!(e, ModelError::Architecture { .. }), "{e}");
    assert_names_file(&e, &sovits);
    let hubert = dir.join("../v2-small/chinese-hubert-base");
    if hubert.is_dir() {
        let folder = open_hf_folder(&hubert).unwrap();
        let e = SpeakerWeights::load(&Weights::new(&folder.weights)).err().unwrap();
        assert!(matches!(e, ModelError::Architecture { .. }), "{e}");
        assert_names_file(&e, folder.weights.path());
    }

    // An inconsistent state dict: a missing BatchNorm statistic, a group conv of the wrong width.
    let sv = dir.join("sv.ckpt");
    let store = edited_store(&dir, |n, s| (n != "layer2.0.bns.0.running_var").then(|| s.to_vec()));
    let e = SpeakerWeights::load(&Weights::new(&store)).err().unwrap();
    assert!(matches!(e, ModelError::MissingTensor { .. }), "{e}");
    assert_names_file(&e, &sv);
    let store = edited_store(&dir, |n, s| {
        let mut s = s.to_vec();
        if n == "layer3.0.convs.0.weight" {
            s[1] += 1;
        }
        Some(s)
    });
    let e = SpeakerWeights::load(&Weights::new(&store)).err().unwrap();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }), "{e}");
    assert_names_file(&e, &sv);

    // Audio shorter than one 25 ms frame, and fbanks the net cannot take.
    for short in [&[][..], &[0.1f32; 399][..]] {
        assert!(matches!(kaldi_fbank(short), Err(AudioError::TooShort { .. })));
    }
    assert!(matches!(speaker_features(&[0.1; 700]), Err(AudioError::TooShort { .. })));
    let net = load_net(&dir);
    let width = net.config().feat_dim;
    for bad in [Tensor::zeros([0, width]), Tensor::zeros([5, width + 1]), Tensor::zeros([5 * width])] {
        assert!(matches!(net.embed(&bad), Err(ModelError::Input(_))), "{:?}", bad.shape());
    }
    let mut nan = Tensor::zeros([5, width]);
    nan.data_mut()[7] = f32::NAN;
    assert!(matches!(net.embed(&nan), Err(ModelError::Input(_))));
}

/// Upstream's real layout (`synthetic::SpeakerSizes::full`, random weights): the architecture is
/// inferred from the shapes alone and a clip runs through it. Prints the time per second of audio.
#[test]
fn sv_full_size_synthetic() {
    let sizes = SpeakerSizes::full();
    let file = sizes.build(11);
    let w = Weights::new(&file.weights);
    let (cfg, weights) = SpeakerWeights::load(&w).unwrap();
    assert_eq!((cfg.num_blocks, cfg.widths, cfg.scale), (sizes.num_blocks, sizes.widths, sizes.scale));
    let unused: Vec<String> = w.unused().into_iter().filter(|n| !n.starts_with("seg_1.")).collect();
    assert!(unused.is_empty(), "{unused:?}");
    let net = CpuSpeakerNet::new(cfg, weights);

    let rate = sovits_rt::audio::MODEL_RATE as usize;
    let clip: Vec<f32> = (0..rate).map(|i| 0.3 * (i as f32 * 0.031).sin() * (i as f32 * 0.0007).cos()).collect();
    let features = speaker_features(&clip).unwrap();
    let start = std::time::Instant::now();
    let emb = net.embed(&features).unwrap();
    println!("full-size SV net, {} frames (1 s): {:.2?}", features.dim(0), start.elapsed());
    assert_eq!(emb.len(), net.config().embedding_dim());
    assert!(emb.data().iter().all(|v| v.is_finite()));
}
