//! Audio in and out: WAV files, resampling, the reference spectrogram, the Kaldi fbank of the
//! v2Pro speaker-verification branch, and the preparation of a reference clip for the SoVITS
//! style encoder and for HuBERT (research/upstream-v2.md §3.1–3.2);
//! and the output side — streaming resampling, Opus / Ogg Opus / WAV / PCM / FLAC encoding,
//! lip-sync levels and local playback. The models emit 32 kHz mono f32 in chunks of any length;
//! every output stage keeps its own framing state.

pub mod encoder;
pub mod flac_stream;
pub mod mouth;
pub mod mp3_stream;
pub mod ogg_opus;
pub mod opus_stream;
pub mod playback;
pub mod stream_resample;
pub mod wav_stream;

mod fbank;
mod reference;
mod resample;
mod soxr_hq;
mod spectrogram;
mod wav;

use std::path::PathBuf;

pub use fbank::{kaldi_fbank, speaker_features, FBANK_BINS, FBANK_RATE};
pub use reference::{
    hubert_zero_padding, prepare_reference, style_reference, PreparedReference, StyleReference, HUBERT_MAX_SAMPLES,
    HUBERT_MIN_SAMPLES, HUBERT_RATE, REFERENCE_MAX_SECONDS,
};
pub use resample::{resample, Resampler};
pub use soxr_hq::resample_soxr_hq;
pub use spectrogram::{peak_guard, reference_spectrogram, reference_wav_32k, spectrogram, SpectrogramParams};
pub use wav::{read_wav, read_wav_at_most, write_wav_i16};

/// Sample rate of everything the GPT-SoVITS v1/v2 models produce.
pub const MODEL_RATE: u32 = 32_000;

/// Everything that can be wrong with audio a user gives us. File errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot read this WAV file: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: unsupported WAV encoding ({format}); use PCM 8/16/24/32-bit integer or 32-bit float")]
    UnsupportedFormat { path: PathBuf, format: String },
    #[error("{path}: the file holds no audio samples")]
    Empty { path: PathBuf },
    #[error("{path}: sample {index} is NaN or infinite; the file is damaged")]
    NonFinite { path: PathBuf, index: usize },
    #[error("{path}: cannot write the WAV file: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("invalid sample rate {rate} Hz")]
    InvalidRate { rate: u32 },
    #[error(
        "cannot resample {from} Hz to {to} Hz: the exact resampling filter would need {taps} taps; \
         convert the clip to a common rate (16000, 22050, 24000, 32000, 44100 or 48000 Hz) first"
    )]
    UnsupportedRatio { from: u32, to: u32, taps: usize },
    #[error("resampling {from} Hz to {to} Hz failed in libsoxr: {reason}")]
    Resample { from: u32, to: u32, reason: String },
    #[error("{path}: the header gives {seconds:.1} s of audio; at most {max_seconds} s are accepted here")]
    TooLong { path: PathBuf, seconds: f64, max_seconds: f64 },
    #[error("{what}: the audio has {samples} samples but at least {needed} are needed")]
    TooShort { what: &'static str, samples: usize, needed: usize },
    #[error(
        "the reference clip is {:.2} s long ({samples} samples at {rate} Hz); it must be 3 to 10 s \
         ({min}..={max} samples at {rate} Hz)",
        *.samples as f64 / *.rate as f64
    )]
    ReferenceDuration { samples: usize, rate: u32, min: usize, max: usize },
}
