//! Stage 2 (`hubert.safetensors`, `TTS._set_prompt_semantic` + `extract_latent`): HuBERT on the
//! fixture's 16 kHz input, then `ssl_proj` and the VQ codebook of the SoVITS decoder, and our
//! 16 kHz resampling of ref.wav (libsoxr, as librosa) against upstream's, through to the prompt tokens.
mod common;

use sovits_rt::audio::{hubert_zero_padding, read_wav, resample, resample_soxr_hq, HUBERT_RATE};
use sovits_rt::checkpoint::{open_hf_folder, open_sovits};
use sovits_rt::cpu::{CpuHubert, CpuSovits};
use sovits_rt::model::hubert::{HubertConfig, HubertWeights};
use sovits_rt::model::Weights;
use sovits_rt::tensor::Tensor;

#[test]
fn parity_hubert() {
    let Some(dir) = common::model_fixtures("parity_hubert") else { return };
    let case = common::case(&dir, "hubert.safetensors");
    let folder = open_hf_folder(&dir.join("chinese-hubert-base")).unwrap();
    let config = HubertConfig::from_folder(&folder).unwrap();
    let w = Weights::new(&folder.weights);
    let model = CpuHubert::new(HubertWeights::from_weights(config, &w).unwrap());
    assert_eq!(w.unused(), vec!["masked_spec_embed".to_string()], "every other tensor is read");

    let (_, wav16k) = common::f32s(&case, "wav16k");
    let zeros = common::i64s(&case, "n_appended_zeros")[0] as usize;
    assert_eq!(zeros, hubert_zero_padding(), "n_appended_zeros = int(32000 * 0.3)");
    assert!(wav16k[wav16k.len() - zeros..].iter().all(|&v| v == 0.0));

    let trace = model.forward_traced(&wav16k).unwrap();
    let (cnn_shape, cnn) = common::f32s(&case, "cnn_features");
    assert_eq!(&cnn_shape[1..], trace.cnn_features.shape());
    common::assert_close_rel("cnn_features", trace.cnn_features.data(), &cnn, 1e-4);
    let (fp_shape, fp) = common::f32s(&case, "feature_projection");
    assert_eq!(&fp_shape[1..], trace.feature_projection.shape());
    common::assert_close_rel("feature_projection", trace.feature_projection.data(), &fp, 1e-4);
    let (lh_shape, lh) = common::f32s(&case, "last_hidden_state");
    assert_eq!(&lh_shape[1..], trace.last_hidden_state.shape());
    common::assert_close_rel("last_hidden_state", trace.last_hidden_state.data(), &lh, 1e-4);

    // ssl_proj + VQ (the SoVITS decoder's extract_latent) on the fixture's own inputs.
    let sovits = CpuSovits::load(&open_sovits(&dir.join("sovits.pth")).unwrap()).unwrap();
    let ssl = Tensor::new([lh_shape[1], lh_shape[2]], lh).t();
    let (proj_shape, proj) = common::f32s(&case, "ssl_proj");
    let ours_proj = sovits.analyzer().ssl_projection(&ssl).unwrap();
    assert_eq!(&proj_shape[1..], ours_proj.shape());
    common::assert_close_rel("ssl_proj", ours_proj.data(), &proj, 1e-4);
    let ids = sovits.analyzer().nearest_codes(&Tensor::new([proj_shape[1], proj_shape[2]], proj));
    let (_, quantized) = common::f32s(&case, "quantized");
    common::assert_close_rel("quantized", sovits.analyzer().codebook_lookup(&ids).unwrap().data(), &quantized, 1e-4);
    let expected_ids = common::u32s(&case, "prompt_semantic");
    assert_eq!(ids, expected_ids, "prompt_semantic");

    // Our 16 kHz resampling (libsoxr HQ, as librosa) against upstream's: sample-exact with
    // Debian's libsoxr 0.1.3 (measured max|diff| 0); 1e-6 leaves room for another libsoxr build's
    // SIMD path. torchaudio's filter, for comparison, is ~35 dB away.
    let (samples, rate) = read_wav(&dir.join("ref.wav")).unwrap();
    let theirs = &wav16k[..wav16k.len() - zeros];
    let ours16k = resample_soxr_hq(&samples, rate, HUBERT_RATE).unwrap();
    common::assert_close_abs("wav16k (libsoxr HQ)", &ours16k, theirs, 1e-6);
    compare_resampled(
        "16 kHz (torchaudio default filter) vs soxr_hq",
        &resample(&samples, rate, HUBERT_RATE).unwrap(),
        theirs,
    );

    // End to end from ref.wav: the same prompt tokens as upstream.
    let mut ours_in = ours16k;
    ours_in.resize(ours_in.len() + zeros, 0.0);
    let ours_ssl = model.forward_traced(&ours_in).unwrap().last_hidden_state.t();
    let ours_ids = sovits.analyzer().extract_latent(&ours_ssl).unwrap();
    assert_eq!(ours_ids, expected_ids, "prompt tokens from our own 16 kHz audio");
}

/// Prints and returns (SNR in dB, max|diff| / max|expected|) of a resampled signal.
fn compare_resampled(what: &str, ours: &[f32], theirs: &[f32]) -> (f64, f32) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length (ceil(n * 16000 / rate) in both)");
    let max_diff = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let signal: f64 = theirs.iter().map(|&v| (v as f64).powi(2)).sum();
    let noise: f64 = ours.iter().zip(theirs).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    let snr_db = 10.0 * (signal / noise).log10();
    let max_rel = max_diff / common::max_abs(theirs);
    eprintln!("{what}: max|diff| = {max_diff:.3e} ({max_rel:.3e} x max|expected|), SNR = {snr_db:.1} dB");
    (snr_db, max_rel)
}
