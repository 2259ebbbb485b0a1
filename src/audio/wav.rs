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
    read_wav_at_most(path, f64::INFINITY)
}

/// [`read_wav`] for a file that must not be longer than `max_seconds`: the length is checked from
/// the header, before any sample is read, so a long file costs neither time nor memory.
pub fn read_wav_at_most(path: &Path, max_seconds: f64) -> Result<(Vec<f32>, u32), AudioError> {
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
    let seconds = reader.duration() as f64 / spec.sample_rate as f64;
    if seconds > max_seconds {
        return Err(AudioError::TooLong { path: path.to_path_buf(), seconds, max_seconds });
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

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("sovits-rt-wav-{}-{name}", std::process::id()))
    }

    fn write<S: hound::Sample + Copy>(path: &Path, spec: WavSpec, samples: &[S]) {
        let mut w = WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }

    /// Every PCM depth is scaled by 2^(bits−1); stereo becomes the channel mean.
    #[test]
    fn reads_all_pcm_formats() {
        let int = |bits| WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: bits,
            sample_format: SampleFormat::Int,
        };
        for bits in [8u16, 16, 24, 32] {
            let path = temp(&format!("i{bits}.wav"));
            let full = 1i64 << (bits - 1);
            let frames = [(full / 2) as i32, (-full / 4) as i32, (full - 1) as i32, (-full) as i32];
            write(&path, int(bits), &frames);
            let (x, rate) = read_wav(&path).unwrap();
            assert_eq!(rate, 22_050);
            assert_eq!(x.len(), 2);
            assert!((x[0] - 0.125).abs() < 1e-6, "{bits}: {x:?}");
            assert!((x[1] - (-0.5 / full as f32)).abs() < 1e-6, "{bits}: {x:?}");
            std::fs::remove_file(&path).unwrap();
        }
        let path = temp("f32.wav");
        let spec =
            WavSpec { channels: 1, sample_rate: 48_000, bits_per_sample: 32, sample_format: SampleFormat::Float };
        write(&path, spec, &[0.25f32, -1.5]);
        assert_eq!(read_wav(&path).unwrap(), (vec![0.25, -1.5], 48_000));
        write(&path, spec, &[0.25f32, f32::NAN]);
        assert!(matches!(read_wav(&path), Err(AudioError::NonFinite { index: 1, .. })));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let missing = temp("missing.wav");
        let err = read_wav(&missing).unwrap_err();
        assert!(matches!(err, AudioError::Read { .. }) && err.to_string().contains("missing.wav"), "{err}");
        let garbage = temp("garbage.wav");
        std::fs::write(&garbage, b"RIFF\x10\0\0\0WAVEfmt nonsense").unwrap();
        assert!(read_wav(&garbage).is_err());
        let empty = temp("empty.wav");
        let spec = WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: SampleFormat::Int };
        write::<i16>(&empty, spec, &[]);
        assert!(matches!(read_wav(&empty), Err(AudioError::Empty { .. })));
        for p in [garbage, empty] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn write_then_read_roundtrip() {
        let path = temp("out.wav");
        write_wav_i16(&path, &[0.5, -0.25, 1.0], 32_000).unwrap();
        assert_eq!(read_wav(&path).unwrap(), (vec![0.5, -0.25, 32767.0 / 32768.0], 32_000));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(write_wav_i16(&temp("no/such/dir.wav"), &[0.0], 16_000), Err(AudioError::Write { .. })));
    }

    #[test]
    fn downmix_is_channel_mean() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.25, 3.0], 2), vec![0.5, 0.375]);
        assert_eq!(downmix(&[0.3, 0.6, 0.9], 3), vec![(0.3f32 + 0.6 + 0.9) / 3.0]);
    }
}
