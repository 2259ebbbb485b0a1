//! WAV files in and out (hound). Reading matches what upstream's loaders return
//! (research/upstream-v2.md §3.1 step 1, §3.2 step 1): `torchaudio.load` / `librosa.load` give
//! float32 samples, integer PCM scaled by `1 / 2^(bits−1)` (int16 → `x / 32768`), and several
//! channels are mixed to mono by their mean (librosa's `to_mono`; upstream's torchaudio path does
//! the same for stereo). Writing follows `TTS.audio_postprocess` (§5.6): `int16(x · 32768)`,
//! truncated toward zero, clamped to the i16 range instead of wrapping.

use std::path::Path;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use super::AudioError;

/// Reads a WAV file as mono f32 samples and its sample rate.
///
/// Accepts PCM integer (8, 16, 24, 32 bit) and 32-bit float, any rate and channel count.
pub fn read_wav(path: &Path) -> Result<(Vec<f32>, u32), AudioError> {
    let read_err = |e: hound::Error| AudioError::Read { path: path.to_path_buf(), reason: e.to_string() };
    let mut reader = WavReader::open(path).map_err(|e| match e {
        hound::Error::Unsupported => unsupported(path, "an encoding hound cannot decode (compressed or unusual)"),
        e => read_err(e),
    })?;
    let spec = reader.spec();
    if spec.sample_rate == 0 {
        return Err(AudioError::Read {
            path: path.to_path_buf(),
            reason: "the header gives a sample rate of 0".into(),
        });
    }
    if spec.channels == 0 {
        return Err(AudioError::Read { path: path.to_path_buf(), reason: "the header gives 0 channels".into() });
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Float, 32) => reader.samples::<f32>().collect::<Result<_, _>>().map_err(read_err)?,
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            // Integer full scale is 2^(bits−1): int16 → x / 32768, exactly as torchaudio.load.
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>().map_err(read_err)?
        }
        (format, bits) => return Err(unsupported(path, &format!("{format:?} with {bits} bits per sample"))),
    };
    if let Some(index) = interleaved.iter().position(|x| !x.is_finite()) {
        return Err(AudioError::NonFinite { path: path.to_path_buf(), index });
    }
    let samples = downmix(&interleaved, spec.channels as usize);
    if samples.is_empty() {
        return Err(AudioError::Empty { path: path.to_path_buf() });
    }
    Ok((samples, spec.sample_rate))
}

fn unsupported(path: &Path, format: &str) -> AudioError {
    AudioError::UnsupportedFormat { path: path.to_path_buf(), format: format.to_string() }
}

/// Mean over channels of interleaved frames (a trailing partial frame is dropped).
fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    let n = channels as f32;
    // Sum then divide, as `Tensor.mean(0)` / `np.mean(axis=0)` do over a few channels.
    interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / n).collect()
}

/// Writes mono samples in [-1, 1] as 16-bit PCM: `x · 32768` truncated toward zero and clamped.
pub fn write_wav_i16(path: &Path, samples: &[f32], rate: u32) -> Result<(), AudioError> {
    if rate == 0 {
        return Err(AudioError::InvalidRate { rate });
    }
    let write_err = |e: hound::Error| AudioError::Write { path: path.to_path_buf(), reason: e.to_string() };
    let spec = WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: SampleFormat::Int };
    let mut writer = WavWriter::create(path, spec).map_err(write_err)?;
    {
        let mut w = writer.get_i16_writer(samples.len() as u32);
        for &x in samples {
            w.write_sample(to_i16(x));
        }
        w.flush().map_err(write_err)?;
    }
    writer.finalize().map_err(write_err)
}

/// `int16(x · 32768)`: Rust's float → int cast truncates toward zero and saturates (NaN → 0).
fn to_i16(x: f32) -> i16 {
    (x * 32768.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i16_conversion_truncates_and_clamps() {
        assert_eq!(to_i16(1.0), i16::MAX);
        assert_eq!(to_i16(-1.0), i16::MIN);
        assert_eq!(to_i16(2.5), i16::MAX);
        assert_eq!(to_i16(0.5), 16384);
        assert_eq!(to_i16(-0.99999), -32767);
        assert_eq!(to_i16(f32::NAN), 0);
    }

    #[test]
    fn downmix_is_channel_mean() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.25, 3.0], 2), vec![0.5, 0.375]);
        assert_eq!(downmix(&[0.3, 0.6, 0.9], 3), vec![(0.3f32 + 0.6 + 0.9) / 3.0]);
    }
}
