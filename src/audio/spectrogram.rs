//! The linear magnitude spectrogram SoVITS takes as its style reference: upstream
//! `module/mel_processing.py::spectrogram_torch(y, n_fft, sr, hop, win, center=False)` and the
//! steps of `TTS._get_ref_spec` around it (research/upstream-v2.md §3.2): resample to the model
//! rate, divide by `min(2, peak)` when the peak exceeds 1, reflect-pad `(n_fft − hop) / 2` on
//! both sides, `torch.stft` with a periodic Hann window (not centred, one-sided, not normalised),
//! magnitude `sqrt(re² + im² + 1e-8)`. No mel, no log.

use std::sync::Arc;

use rayon::prelude::*;
use realfft::{RealFftPlanner, RealToComplex};

use crate::tensor::Tensor;

use super::{resample, AudioError};

/// `spectrogram_torch`'s parameters (the SoVITS config's `data` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectrogramParams {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub win: usize,
}

impl SpectrogramParams {
    /// v1/v2 `configs/s2.json`: 32 kHz, `filter_length` 2048, `hop_length` 640, `win_length` 2048.
    pub const V2: SpectrogramParams = SpectrogramParams { sample_rate: 32_000, n_fft: 2048, hop: 640, win: 2048 };

    /// Reflect padding on each side, `int((n_fft − hop) / 2)`.
    pub fn pad(&self) -> usize {
        self.n_fft.saturating_sub(self.hop) / 2
    }
}

/// `spectrogram_torch`'s `1e-8` inside the square root.
const MAGNITUDE_EPS: f32 = 1e-8;

/// Upstream's peak guard: `if max|x| > 1: x /= min(2, max|x|)` (quieter clips are left alone).
pub fn peak_guard(x: &mut [f32]) {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak > 1.0 {
        let d = peak.min(2.0);
        x.iter_mut().for_each(|v| *v /= d);
    }
}

/// Periodic Hann window of `n` points, `torch.hann_window(n)`: `0.5 − 0.5·cos(2πi/n)`.
fn hann_periodic(n: usize) -> Vec<f32> {
    (0..n).map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32).collect()
}

/// `spectrogram_torch(y, n_fft, sr, hop, win, center=False)` → `[n_fft/2 + 1, frames]`,
/// `frames = (len + 2·pad − n_fft) / hop + 1`.
pub fn spectrogram(y: &[f32], p: &SpectrogramParams) -> Result<Tensor, AudioError> {
    assert!(p.hop > 0 && p.win > 0 && p.win <= p.n_fft, "spectrogram parameters {p:?}");
    let pad = p.pad();
    // `F.pad(mode="reflect")` needs pad < len; the stft needs at least one full frame.
    let needed = (pad + 1).max(p.n_fft.saturating_sub(2 * pad));
    if y.len() < needed {
        return Err(AudioError::TooShort { what: "reference spectrogram", samples: y.len(), needed });
    }
    let padded = reflect_pad(y, pad);
    let frames = (padded.len() - p.n_fft) / p.hop + 1;
    let bins = p.n_fft / 2 + 1;
    // torch.stft centres a shorter window inside the n_fft frame.
    let mut window = vec![0.0f32; p.n_fft];
    let left = (p.n_fft - p.win) / 2;
    window[left..left + p.win].copy_from_slice(&hann_periodic(p.win));
    let fft: Arc<dyn RealToComplex<f32>> = RealFftPlanner::<f32>::new().plan_fft_forward(p.n_fft);

    // Frames in parallel, one scratch set per rayon job; output is written frame-major then transposed.
    let mut by_frame = vec![0.0f32; frames * bins];
    by_frame.par_chunks_mut(bins).enumerate().for_each_init(
        || (fft.make_input_vec(), fft.make_output_vec(), fft.make_scratch_vec()),
        |(input, output, scratch), (f, out)| {
            let start = f * p.hop;
            for ((d, &s), &w) in input.iter_mut().zip(&padded[start..start + p.n_fft]).zip(&window) {
                *d = s * w;
            }
            // Lengths come from the plan itself, so this cannot fail.
            if fft.process_with_scratch(input, output, scratch).is_ok() {
                for (o, c) in out.iter_mut().zip(output.iter()) {
                    *o = (c.re * c.re + c.im * c.im + MAGNITUDE_EPS).sqrt();
                }
            }
        },
    );
    Ok(Tensor::new([frames, bins], by_frame).t())
}

/// `F.pad(x, (pad, pad), mode="reflect")` (the edge sample is not repeated). Needs `pad < len`.
fn reflect_pad(y: &[f32], pad: usize) -> Vec<f32> {
    let n = y.len();
    let mut out = Vec::with_capacity(n + 2 * pad);
    out.extend((1..=pad).rev().map(|i| y[i]));
    out.extend_from_slice(y);
    out.extend((1..=pad).map(|i| y[n - 1 - i]));
    out
}

/// The 32 kHz reference signal of `TTS._get_ref_spec`: mono `samples` at `rate` → torchaudio
/// resampler to 32 kHz → peak guard. Both the spectrogram and (v2Pro) the SV features start here.
pub fn reference_wav_32k(samples: &[f32], rate: u32) -> Result<Vec<f32>, AudioError> {
    let mut y = resample(samples, rate, SpectrogramParams::V2.sample_rate)?;
    peak_guard(&mut y);
    Ok(y)
}

/// The reference spectrogram of `TTS._get_ref_spec` for v1/v2 models: [`reference_wav_32k`]
/// → [`spectrogram`] with [`SpectrogramParams::V2`].
pub fn reference_spectrogram(samples: &[f32], rate: u32) -> Result<Tensor, AudioError> {
    spectrogram(&reference_wav_32k(samples, rate)?, &SpectrogramParams::V2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_pad_matches_torch() {
        assert_eq!(reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2), vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]);
    }

    #[test]
    fn peak_guard_rule() {
        let mut a = vec![0.5, -0.9];
        peak_guard(&mut a);
        assert_eq!(a, vec![0.5, -0.9]);
        let mut b = vec![1.5, -0.75];
        peak_guard(&mut b);
        assert_eq!(b, vec![1.0, -0.5]);
        let mut c = vec![4.0, -1.0];
        peak_guard(&mut c);
        assert_eq!(c, vec![2.0, -0.5]);
    }

    /// A bin-centred cosine gives |X| = A·N/4 in its bin with a periodic Hann window.
    #[test]
    fn cosine_peak_and_shape() {
        let p = SpectrogramParams { sample_rate: 16, n_fft: 64, hop: 16, win: 64 };
        let y: Vec<f32> = (0..320).map(|i| (2.0 * std::f32::consts::PI * 8.0 * i as f32 / 64.0).cos()).collect();
        let s = spectrogram(&y, &p).unwrap();
        assert_eq!(s.shape(), &[33, (320 + 2 * 24 - 64) / 16 + 1]);
        let frames = s.dim(1);
        let mid = frames / 2;
        assert!((s.data()[8 * frames + mid] - 16.0).abs() < 1e-3);
        assert!(s.data()[20 * frames + mid] < 1e-2);
        assert!(matches!(spectrogram(&y[..24], &p), Err(AudioError::TooShort { .. })));
    }
}
