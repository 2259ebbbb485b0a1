//! Lip-sync levels: one value in [0, 1] per 20 ms of audio, for avatars driving a mouth from the stream.
//!
//! Mapping: RMS of the frame → dBFS; −50 dB (breath/noise floor) ↦ 0, −10 dB (loud speech) ↦ 1, linear in dB between
//! and clamped. dB rather than linear RMS because loudness (and how open a mouth looks) is roughly logarithmic.
//! Smoothing is a one-pole filter, fast when opening (α = 0.7) and slower when closing (α = 0.6), so the mouth
//! does not flutter between syllables yet closes fully within 4 frames (80 ms; levels under 0.03 snap to 0).
//! Frames are cut at multiples of `rate/50` samples from the stream start; at 48 kHz they are exactly
//! [`crate::audio::opus_stream::OpusPacketizer`]'s frames.

/// dBFS mapped to level 0.
pub const FLOOR_DB: f32 = -50.0;
/// dBFS mapped to level 1.
pub const CEIL_DB: f32 = -10.0;
const ATTACK: f32 = 0.7;
const RELEASE: f32 = 0.6;
const SNAP: f32 = 0.03;

/// Unsmoothed level of one frame of RMS `rms`.
pub fn rms_to_level(rms: f32) -> f32 {
    if rms <= 0.0 || rms.is_nan() {
        return 0.0;
    }
    let db = 20.0 * rms.log10();
    ((db - FLOOR_DB) / (CEIL_DB - FLOOR_DB)).clamp(0.0, 1.0)
}

/// Streams audio and emits one smoothed level per completed 20 ms frame.
#[derive(Debug, Clone)]
pub struct MouthMeter {
    frame_len: usize,
    filled: usize,
    sum_sq: f64,
    level: f32,
}

impl MouthMeter {
    /// `sample_rate` must be a multiple of 50 (all our rates are); other rates round the frame down.
    pub fn new(sample_rate: u32) -> Self {
        Self { frame_len: (sample_rate as usize / 50).max(1), filled: 0, sum_sq: 0.0, level: 0.0 }
    }

    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Levels for each frame `samples` completes.
    pub fn push(&mut self, samples: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity((self.filled + samples.len()) / self.frame_len);
        self.push_into(samples, &mut out);
        out
    }

    /// Like [`push`](Self::push) but appends to `out`; returns how many levels were appended.
    pub fn push_into(&mut self, mut samples: &[f32], out: &mut Vec<f32>) -> u64 {
        let before = out.len();
        while !samples.is_empty() {
            let take = (self.frame_len - self.filled).min(samples.len());
            self.sum_sq += samples[..take].iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
            self.filled += take;
            samples = &samples[take..];
            if self.filled == self.frame_len {
                out.push(self.close_frame(self.frame_len));
            }
        }
        (out.len() - before) as u64
    }

    /// Level of the trailing partial frame (RMS over the samples it has), if any. Smoothing state is kept, so
    /// [`silent_frame`](Self::silent_frame) can continue the stream; call [`reset`](Self::reset) to start anew.
    pub fn finish(&mut self) -> Option<f32> {
        (self.filled > 0).then(|| self.close_frame(self.filled))
    }

    pub fn reset(&mut self) {
        self.filled = 0;
        self.sum_sq = 0.0;
        self.level = 0.0;
    }

    /// Level of one frame of silence (used to pad levels to the Opus packet count after the lookahead flush).
    pub fn silent_frame(&mut self) -> f32 {
        self.smooth(0.0)
    }

    fn close_frame(&mut self, n: usize) -> f32 {
        let rms = (self.sum_sq / n as f64).sqrt() as f32;
        self.sum_sq = 0.0;
        self.filled = 0;
        self.smooth(rms_to_level(rms))
    }

    fn smooth(&mut self, target: f32) -> f32 {
        let a = if target > self.level { ATTACK } else { RELEASE };
        self.level += a * (target - self.level);
        // Let a closing mouth reach exactly 0 instead of decaying forever.
        if self.level < SNAP {
            self.level = 0.0;
        }
        self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_endpoints() {
        assert_eq!(rms_to_level(0.0), 0.0);
        assert_eq!(rms_to_level(10f32.powf(-60.0 / 20.0)), 0.0);
        assert!((rms_to_level(10f32.powf(-30.0 / 20.0)) - 0.5).abs() < 1e-5);
        assert_eq!(rms_to_level(0.5), 1.0);
    }

    #[test]
    fn frames_and_levels() {
        let mut m = MouthMeter::new(48_000);
        let mut levels = m.push(&vec![0.0; 960 * 3]);
        assert_eq!(levels, vec![0.0; 3]);
        let loud: Vec<f32> = (0..960 * 10).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect();
        for c in loud.chunks(100) {
            levels.extend(m.push(c));
        }
        assert_eq!(levels.len(), 13);
        assert!(levels[3] > 0.6 && levels[12] > 0.99, "{levels:?}");
        let closing: Vec<f32> = (0..6).map(|_| m.silent_frame()).collect();
        assert_eq!(closing[3], 0.0, "{closing:?}");
        m.push(&[0.5; 10]);
        assert!(m.finish().unwrap() > 0.5);
        assert_eq!(m.finish(), None);
    }
}
