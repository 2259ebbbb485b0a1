//! Band-limited resampling, an exact port of `torchaudio.transforms.Resample` with its defaults
//! (`sinc_interp_hann`, `lowpass_filter_width` 6, `rolloff` 0.99), which upstream uses to bring
//! the reference clip to 32 kHz (research/upstream-v2.md §3.2 step 1). (The 16 kHz HuBERT input
//! goes through libsoxr instead, as upstream's librosa does: `soxr_hq.rs`.)
//!
//! torchaudio (`functional/functional.py`, `_get_sinc_resample_kernel` and
//! `_apply_sinc_resample_kernel`) reduces both rates by their gcd to `orig`/`new`, builds `new`
//! windowed-sinc filters of `2·width + orig` taps (in f64, then cast to f32: the transform passes
//! `dtype=None`), pads the signal with `width` zeros on the left and `width + orig` on the right,
//! convolves with stride `orig` (output frame `f`, filter `j` gives sample `f·new + j`), and keeps
//! `ceil(new · length / orig)` samples.

use crate::cpu::ops::{conv1d, Conv1dSpec};
use crate::tensor::Tensor;

use super::AudioError;

/// torchaudio's defaults, which upstream uses: `lowpass_filter_width` 6, `rolloff` 0.99, Hann window.
const LOWPASS_FILTER_WIDTH: f64 = 6.0;
const ROLLOFF: f64 = 0.99;

/// Largest filter bank (`new × (2·width + orig)` coefficients) we build: 64 MiB of f32. Every
/// common rate pair needs a few hundred thousand at most; only near-coprime rates exceed this.
const MAX_KERNEL_TAPS: usize = 1 << 24;

/// A resampler between two fixed rates with its filter bank precomputed.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    /// Rates divided by their gcd.
    orig: usize,
    new: usize,
    width: usize,
    /// `[new, 1, 2·width + orig]`, the conv1d weight of torchaudio's kernel.
    kernel: Tensor,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Resampler {
    /// torchaudio's default `sinc_interp_hann` filter between two rates.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        for rate in [from, to] {
            if rate == 0 {
                return Err(AudioError::InvalidRate { rate });
            }
        }
        let g = gcd(from, to);
        let (orig, new) = ((from / g) as usize, (to / g) as usize);
        let base_freq = orig.min(new) as f64 * ROLLOFF;
        let width = (LOWPASS_FILTER_WIDTH * orig as f64 / base_freq).ceil() as usize;
        let taps = 2 * width + orig;
        if from != to && new.saturating_mul(taps) > MAX_KERNEL_TAPS {
            return Err(AudioError::UnsupportedRatio { from, to, taps: new.saturating_mul(taps) });
        }
        let kernel = if from == to { Tensor::zeros([0, 1, 0]) } else { sinc_kernel(orig, new, width, base_freq) };
        Ok(Resampler { from, to, orig, new, width, kernel })
    }

    pub fn from_rate(&self) -> u32 {
        self.from
    }

    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Number of output samples for `len` input samples: `ceil(new · len / orig)`.
    pub fn output_len(&self, len: usize) -> usize {
        if self.from == self.to {
            len
        } else {
            (self.new * len).div_ceil(self.orig)
        }
    }

    /// Resamples `x` (identity when the rates are equal, like torchaudio).
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        if self.from == self.to {
            return x.to_vec();
        }
        let (w, orig, new) = (self.width, self.orig, self.new);
        let mut padded = vec![0.0f32; x.len() + 2 * w + orig];
        padded[w..w + x.len()].copy_from_slice(x);
        let frames_in = Tensor::new([1, padded.len()], padded);
        let spec = Conv1dSpec { stride: orig, padding: 0, dilation: 1, groups: 1 };
        // [new, frames]: filter j applied at input offset f·orig gives output sample f·new + j.
        let phases = conv1d(&frames_in, &self.kernel, None, spec);
        let frames = phases.dim(1);
        let out_len = self.output_len(x.len());
        debug_assert!(out_len <= frames * new);
        let mut out = Vec::with_capacity(out_len);
        'frames: for f in 0..frames {
            for j in 0..new {
                if out.len() == out_len {
                    break 'frames;
                }
                out.push(phases.data()[j * frames + f]);
            }
        }
        out
    }
}

/// torchaudio's `_get_sinc_resample_kernel`, step for step in f64, cast to f32.
fn sinc_kernel(orig: usize, new: usize, width: usize, base_freq: f64) -> Tensor {
    use std::f64::consts::PI;
    let lpw = LOWPASS_FILTER_WIDTH;
    let taps = 2 * width + orig;
    let scale = base_freq / orig as f64;
    let mut kernel = Vec::with_capacity(new * taps);
    for j in 0..new {
        // `torch.arange(0, -new, -1) / new` is an integer tensor divided in the default dtype
        // (float32) before it meets the float64 `idx`; keep that rounding.
        let shift = (-(j as f32) / new as f32) as f64;
        for k in 0..taps {
            let idx = (k as f64 - width as f64) / orig as f64;
            let t = ((shift + idx) * base_freq).clamp(-lpw, lpw);
            let window = (t * PI / lpw / 2.0).cos().powi(2);
            let t = t * PI;
            let sinc = if t == 0.0 { 1.0 } else { t.sin() / t };
            kernel.push((sinc * (window * scale)) as f32);
        }
    }
    Tensor::new([new, 1, taps], kernel)
}

/// One-shot [`Resampler`]: `x` at `from` Hz → `to` Hz.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    Ok(Resampler::new(from, to)?.apply(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_length_rule() {
        let r = Resampler::new(44_100, 32_000).unwrap();
        assert_eq!((r.orig, r.new, r.width), (441, 320, 9));
        for len in [0usize, 1, 440, 441, 442, 299_732] {
            assert_eq!(r.output_len(len), ((320 * len) as f64 / 441.0).ceil() as usize);
            assert_eq!(r.apply(&vec![0.1; len]).len(), r.output_len(len));
        }
        assert_eq!(Resampler::new(16_000, 16_000).unwrap().apply(&[1.0, 2.0]), vec![1.0, 2.0]);
        assert!(matches!(Resampler::new(0, 16_000), Err(AudioError::InvalidRate { rate: 0 })));
        assert!(matches!(Resampler::new(44_101, 32_000), Err(AudioError::UnsupportedRatio { .. })));
    }

    /// A low tone passes through a 2:1 downsampling with unit gain away from the edges.
    #[test]
    fn tone_survives_downsampling() {
        let x: Vec<f32> = (0..4800).map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin()).collect();
        let y = resample(&x, 48_000, 24_000).unwrap();
        assert_eq!(y.len(), 2400);
        for (i, v) in y.iter().enumerate().skip(100).take(2200) {
            let expect = (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 24_000.0).sin();
            assert!((v - expect).abs() < 2e-3, "{i}: {v} vs {expect}");
        }
    }
}
