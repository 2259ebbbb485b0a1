//! Stage 1 (`ref_spec.safetensors`, `TTS._get_ref_spec`): WAV reading, torchaudio's sinc-Hann
//! resampling to 32 kHz and `spectrogram_torch`, each against upstream's tensors.
mod common;

use sovits_rt::audio::{peak_guard, read_wav, resample, spectrogram, SpectrogramParams};

fn meta_usize(store: &sovits_rt::checkpoint::TensorStore, key: &str) -> usize {
    store.metadata().get(key).unwrap_or_else(|| panic!("metadata {key}")).parse().unwrap()
}

#[test]
fn parity_ref_spec() {
    let Some(dir) = common::model_fixtures("parity_ref_spec") else { return };
    let case = common::case(&dir, "ref_spec.safetensors");
    let params = SpectrogramParams {
        sample_rate: meta_usize(&case, "sampling_rate") as u32,
        n_fft: meta_usize(&case, "filter_length"),
        hop: meta_usize(&case, "hop_length"),
        win: meta_usize(&case, "win_length"),
    };

    // wav_raw: torchaudio.load of ref.wav (mono fixture; [channels, n]).
    let (samples, rate) = read_wav(&dir.join("ref.wav")).unwrap();
    let (raw_shape, raw) = common::f32s(&case, "wav_raw");
    assert_eq!(raw_shape[0], 1, "the fixture clip is mono");
    common::assert_close_abs("wav_raw", &samples, &raw, 1e-7);
    assert_eq!(common::i64s(&case, "raw_sr"), vec![rate as i64], "raw_sr");

    // wav_32k: exact torchaudio port, atol 1e-5 (README).
    let (_, wav_32k) = common::f32s(&case, "wav_32k");
    let mut ours_32k = resample(&raw, rate, params.sample_rate).unwrap();
    peak_guard(&mut ours_32k);
    common::assert_close_abs("wav_32k", &ours_32k, &wav_32k, 1e-5);

    // spec from the fixture's wav_32k (the stage test) and, reported, from our own wav_32k.
    let (spec_shape, spec) = common::f32s(&case, "spec");
    let got = spectrogram(&wav_32k, &params).unwrap();
    assert_eq!(&spec_shape[1..], got.shape(), "spec shape");
    common::assert_close_rel("spec (fixture wav_32k)", got.data(), &spec, 2e-5);
    let chained = spectrogram(&ours_32k, &params).unwrap();
    common::assert_close_rel("spec (our wav_32k)", chained.data(), &spec, 2e-5);
}
