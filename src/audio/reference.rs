//! A reference clip turned into the two inputs a voice needs (research/upstream-v2.md §3.1–3.2):
//! the 32 kHz magnitude spectrogram for SoVITS's style encoder, and the 16 kHz waveform HuBERT
//! reads for the prompt semantic tokens.
//!
//! Both paths resample as upstream does: torchaudio's windowed sinc (ported) to 32 kHz for the
//! spectrogram, librosa's `soxr_hq` (libsoxr) to 16 kHz for HuBERT.

use crate::tensor::Tensor;

use super::{reference_wav_32k, resample_soxr_hq, spectrogram, AudioError, SpectrogramParams};

/// HuBERT's input rate.
pub const HUBERT_RATE: u32 = 16_000;
/// Upstream rejects references shorter than 3 s (`wav16k.shape[0] < 48000`)…
pub const HUBERT_MIN_SAMPLES: usize = 3 * HUBERT_RATE as usize;
/// …or longer than 10 s (`> 160000`), checked before the zero padding.
pub const HUBERT_MAX_SAMPLES: usize = 10 * HUBERT_RATE as usize;

/// What a clip gives a voice's style (every reference clip, auxiliary ones included).
#[derive(Debug, Clone)]
pub struct StyleReference {
    /// `[n_fft/2 + 1, frames]` linear magnitude spectrogram at 32 kHz.
    pub spec: Tensor,
    /// The 32 kHz signal the spectrogram is made from (v2Pro/v2ProPlus: the speaker-verification
    /// features start from it too).
    pub wav32k: Vec<f32>,
}

/// The per-voice audio inputs of the prompt path (the main reference clip).
#[derive(Debug, Clone)]
pub struct PreparedReference {
    pub style: StyleReference,
    /// 16 kHz waveform followed by upstream's `int(32000 · 0.3)` = 9600 zeros (0.6 s at 16 kHz,
    /// sized with the SoVITS rate by upstream's code), ready for [`crate::model::Hubert::forward`].
    pub wav16k: Vec<f32>,
}

/// The longest reference file worth reading, from its header: upstream's 10 s limit (checked
/// exactly on the 16 kHz signal by [`prepare_reference`]) with room for the resampler's rounding.
pub const REFERENCE_MAX_SECONDS: f64 = 10.01;

/// Upstream's zero tail after the 16 kHz clip: `int(sampling_rate · 0.3)` with the SoVITS rate.
pub fn hubert_zero_padding() -> usize {
    SpectrogramParams::V2.sample_rate as usize * 3 / 10
}

/// Builds both inputs from mono `samples` at `rate`, applying upstream's 3–10 s rule to the
/// 16 kHz signal.
pub fn prepare_reference(samples: &[f32], rate: u32) -> Result<PreparedReference, AudioError> {
    let mut wav16k = resample_soxr_hq(samples, rate, HUBERT_RATE)?;
    if !(HUBERT_MIN_SAMPLES..=HUBERT_MAX_SAMPLES).contains(&wav16k.len()) {
        return Err(AudioError::ReferenceDuration {
            samples: wav16k.len(),
            rate: HUBERT_RATE,
            min: HUBERT_MIN_SAMPLES,
            max: HUBERT_MAX_SAMPLES,
        });
    }
    wav16k.resize(wav16k.len() + hubert_zero_padding(), 0.0);
    Ok(PreparedReference { style: style_reference(samples, rate)?, wav16k })
}

/// A clip's style inputs alone (an auxiliary reference: HuBERT never reads it).
pub fn style_reference(samples: &[f32], rate: u32) -> Result<StyleReference, AudioError> {
    let wav32k = reference_wav_32k(samples, rate)?;
    let spec = spectrogram(&wav32k, &SpectrogramParams::V2)?;
    Ok(StyleReference { spec, wav32k })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_rule_and_padding() {
        let tone = |n: usize| (0..n).map(|i| (i as f32 * 0.05).sin() * 0.5).collect::<Vec<f32>>();
        let r = prepare_reference(&tone(96_000), 32_000).unwrap();
        assert_eq!(r.wav16k.len(), 48_000 + 9_600);
        assert_eq!(r.style.spec.shape(), &[1025, 96_000 / 640]);
        assert!(r.wav16k[48_000..].iter().all(|&v| v == 0.0));
        let err = prepare_reference(&tone(95_998), 32_000).unwrap_err();
        assert!(err.to_string().contains("47999 samples"), "{err}");
        assert!(matches!(prepare_reference(&tone(160_001), 16_000), Err(AudioError::ReferenceDuration { .. })));
        assert!(prepare_reference(&tone(160_000), 16_000).is_ok());
    }
}
