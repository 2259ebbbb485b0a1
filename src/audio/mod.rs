//! Audio in and out: WAV files, resampling, the reference spectrogram.
