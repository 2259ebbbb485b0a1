//! The speaker-verification front end of v2Pro/v2ProPlus voices: upstream `sv.SV.compute_embedding3`
//! calls `torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=80, sample_frequency=16000, dither=0)`
//! on a 16 kHz signal that is the peak-guarded 32 kHz reference resampled again (not HuBERT's
//! soxr signal). With those arguments Kaldi's defaults apply: 25 ms frames every 10 ms with
//! `snip_edges`, per-frame DC removal, pre-emphasis 0.97 (the first sample uses itself), a Povey
//! window (symmetric Hann to the power 0.85), zero padding to 512, the power spectrum, 80
//! triangular filters linear in mel between 20 Hz and Nyquist, and `log(max(E, f32::EPSILON))`.
//! No energy column, no normalisation. Output `[frames, 80]`, time-major as upstream stacks it.
//!
//! torchaudio (`compliance/kaldi.py`, `fbank`, `_get_window`, `get_mel_banks`) builds the filter
//! bank in float32 from float64 scalars; [`mel_banks`] repeats its operations in that order so
//! the triangle weights round the same way.

use std::sync::Arc;

use rayon::prelude::*;
use realfft::{RealFftPlanner, RealToComplex};

use crate::tensor::Tensor;

use super::{AudioError, Resampler, MODEL_RATE};

/// The SV network's input rate (`sample_frequency=16000`).
pub const FBANK_RATE: u32 = 16_000;
/// `num_mel_bins=80`, the width of every fbank frame and ERes2NetV2's `feat_dim`.
pub const FBANK_BINS: usize = 80;

/// Kaldi `frame_length` 25 ms and `frame_shift` 10 ms, in samples at [`FBANK_RATE`].
const FRAME_LENGTH: usize = FBANK_RATE as usize * 25 / 1000;
const FRAME_SHIFT: usize = FBANK_RATE as usize * 10 / 1000;
/// `round_to_power_of_two`: the FFT size.
const PADDED_LENGTH: usize = FRAME_LENGTH.next_power_of_two();
const PREEMPHASIS: f32 = 0.97;
/// Kaldi's Povey window exponent.
const POVEY_POWER: f64 = 0.85;
/// `low_freq` 20 Hz; `high_freq` 0 means Nyquist.
const LOW_FREQ: f64 = 20.0;

/// One triangular mel filter: its weights over FFT bins `first..first + weights.len()`.
struct MelFilter {
    first: usize,
    weights: Vec<f32>,
}

/// Kaldi's mel scale, `1127 ln(1 + f / 700)`, on a float64 scalar (`mel_scale_scalar`).
fn mel_f64(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// `get_mel_banks(80, 512, 16000, 20, 0, …)` with torchaudio's float32 arithmetic: edges
/// `mel_low + i·Δ` (a float32 tensor op), bin mels `1127·log(1 + 31.25 k / 700)` in float32,
/// weight `max(0, min(up, down))` over bins 0..255; bin 256 (Nyquist) gets weight 0.
fn mel_banks() -> Vec<MelFilter> {
    let nyquist = 0.5 * FBANK_RATE as f64;
    let (mel_low, mel_high) = (mel_f64(LOW_FREQ), mel_f64(nyquist));
    let delta = ((mel_high - mel_low) / (FBANK_BINS + 1) as f64) as f32;
    let mel_low = mel_low as f32;
    let bin_width = (FBANK_RATE as f64 / PADDED_LENGTH as f64) as f32;
    let bin_mels: Vec<f32> =
        (0..PADDED_LENGTH / 2).map(|k| 1127.0f32 * (1.0f32 + bin_width * k as f32 / 700.0f32).ln()).collect();
    (0..FBANK_BINS)
        .map(|i| {
            let i = i as f32;
            let left = mel_low + i * delta;
            let center = mel_low + (i + 1.0) * delta;
            let right = mel_low + (i + 2.0) * delta;
            let full: Vec<f32> = bin_mels
                .iter()
                .map(|&m| ((m - left) / (center - left)).min((right - m) / (right - center)).max(0.0))
                .collect();
            let first = full.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last = full.iter().rposition(|&w| w > 0.0).map_or(first, |l| l + 1);
            MelFilter { first, weights: full[first..last].to_vec() }
        })
        .collect()
}

/// `torch.hann_window(400, periodic=False) ** 0.85`.
fn povey_window() -> Vec<f32> {
    let n = (FRAME_LENGTH - 1) as f64;
    (0..FRAME_LENGTH)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos()).powf(POVEY_POWER) as f32)
        .collect()
}

/// `torchaudio.compliance.kaldi.fbank` of a 16 kHz mono signal with upstream's SV settings
/// → `[frames, 80]`, `frames = 1 + (len − 400) / 160`. NaN samples propagate (as in torch).
pub fn kaldi_fbank(wav16k: &[f32]) -> Result<Tensor, AudioError> {
    if wav16k.len() < FRAME_LENGTH {
        return Err(AudioError::TooShort { what: "Kaldi fbank", samples: wav16k.len(), needed: FRAME_LENGTH });
    }
    let frames = 1 + (wav16k.len() - FRAME_LENGTH) / FRAME_SHIFT;
    let window = povey_window();
    let banks = mel_banks();
    let fft: Arc<dyn RealToComplex<f32>> = RealFftPlanner::<f32>::new().plan_fft_forward(PADDED_LENGTH);

    let mut out = vec![0.0f32; frames * FBANK_BINS];
    out.par_chunks_mut(FBANK_BINS).enumerate().for_each_init(
        || (fft.make_input_vec(), fft.make_output_vec(), fft.make_scratch_vec(), vec![0.0f32; PADDED_LENGTH / 2 + 1]),
        |(input, spectrum, scratch, power), (f, row)| {
            let frame = &wav16k[f * FRAME_SHIFT..f * FRAME_SHIFT + FRAME_LENGTH];
            let mean = (frame.iter().map(|&v| v as f64).sum::<f64>() / FRAME_LENGTH as f64) as f32;
            let mut prev = frame[0] - mean;
            for ((d, &s), &w) in input.iter_mut().zip(frame).zip(&window) {
                let x = s - mean;
                *d = (x - PREEMPHASIS * prev) * w;
                prev = x;
            }
            input[FRAME_LENGTH..].fill(0.0);
            // Lengths come from the plan itself, so this cannot fail.
            if fft.process_with_scratch(input, spectrum, scratch).is_ok() {
                for (p, c) in power.iter_mut().zip(spectrum.iter()) {
                    // torch: `rfft(x).abs().pow(2)`.
                    let m = c.re.hypot(c.im);
                    *p = m * m;
                }
            }
            for (o, bank) in row.iter_mut().zip(&banks) {
                let e: f32 = bank.weights.iter().zip(&power[bank.first..]).map(|(w, p)| w * p).sum();
                // `torch.max(e, eps).log()`: written so that a NaN stays NaN.
                *o = if e < f32::EPSILON { f32::EPSILON.ln() } else { e.ln() };
            }
        },
    );
    Ok(Tensor::new([frames, FBANK_BINS], out))
}

/// The SV features of a reference: the 32 kHz reference signal as the spectrogram uses it
/// ([`super::reference_wav_32k`]: resampled, peak-guarded) → torchaudio resampler to 16 kHz →
/// [`kaldi_fbank`]. Upstream resamples twice (file rate → 32 kHz → 16 kHz) on purpose.
pub fn speaker_features(wav32k: &[f32]) -> Result<Tensor, AudioError> {
    let wav16k = Resampler::new(MODEL_RATE, FBANK_RATE)?.apply(wav32k);
    kaldi_fbank(&wav16k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_and_short_input() {
        let x: Vec<f32> = (0..FRAME_LENGTH + 3 * FRAME_SHIFT + 7).map(|i| (i as f32 * 0.37).sin()).collect();
        assert_eq!(kaldi_fbank(&x).unwrap().shape(), &[4, FBANK_BINS]);
        assert_eq!(kaldi_fbank(&x[..FRAME_LENGTH]).unwrap().shape(), &[1, FBANK_BINS]);
        assert!(matches!(kaldi_fbank(&x[..FRAME_LENGTH - 1]), Err(AudioError::TooShort { .. })));
        assert!(matches!(kaldi_fbank(&[]), Err(AudioError::TooShort { .. })));
    }

    /// Silence hits the floor `ln(f32::EPSILON)` = −15.9424 (upstream's value for silent frames).
    #[test]
    fn silence_is_the_floor() {
        let f = kaldi_fbank(&[0.0; 1000]).unwrap();
        assert!(f.data().iter().all(|&v| (v - -15.942385).abs() < 1e-5));
    }

    /// Every filter is a triangle that starts above 20 Hz and never reaches the Nyquist bin.
    #[test]
    fn filters_are_triangles() {
        let banks = mel_banks();
        assert_eq!(banks.len(), FBANK_BINS);
        for b in &banks {
            assert!(b.first >= 1 && b.first + b.weights.len() <= PADDED_LENGTH / 2);
            assert!(b.weights.iter().all(|&w| w > 0.0 && w <= 1.0));
        }
        assert!(banks.windows(2).all(|p| p[0].first <= p[1].first));
    }

    /// A pure tone puts its energy in the filter whose centre is nearest its frequency.
    #[test]
    fn tone_peaks_in_its_band() {
        let hz = 1000.0f32;
        let x: Vec<f32> = (0..4000).map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 16000.0).sin()).collect();
        let f = kaldi_fbank(&x).unwrap();
        let row = f.row(5);
        let best = (0..FBANK_BINS).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        let d = (mel_f64(8000.0) - mel_f64(20.0)) / 81.0;
        let centre = |i: usize| mel_f64(20.0) + (i + 1) as f64 * d;
        let expect = (0..FBANK_BINS)
            .min_by(|&a, &b| (centre(a) - mel_f64(hz as f64)).abs().total_cmp(&(centre(b) - mel_f64(hz as f64)).abs()))
            .unwrap();
        assert!(best.abs_diff(expect) <= 1, "peak in band {best}, expected {expect}");
    }
}
