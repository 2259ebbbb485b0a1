//! Streamed MP3 (mono, constant bitrate) via LAME (`mp3lame-encoder`, LAME 3.100 built from source;
//! LGPL). MP3 is OpenAI's default `response_format`, and many clients ask for nothing else. An MP3
//! stream is a run of self-contained frames with no file header, so it streams naturally: every
//! push returns the frames LAME has completed, and `finish` flushes the rest.

use mp3lame_encoder::{Bitrate, Builder, Encoder, FlushNoGap, MonoPcm, Quality};

/// Speech at 64 kbit/s mono is transparent enough for a voice and a tenth of WAV's size.
const BITRATE: Bitrate = Bitrate::Kbps64;

/// Why MP3 encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum Mp3Error {
    #[error("LAME refused the configuration ({rate} Hz mono, 64 kbit/s): {reason}")]
    Config { rate: u32, reason: String },
    #[error("LAME failed to encode: {0}")]
    Encode(String),
}

/// Incremental MP3 encoder: `push()` any number of times, then `finish()` once.
pub struct Mp3StreamEncoder {
    lame: Encoder,
}

impl Mp3StreamEncoder {
    /// An encoder for mono audio at `rate` (the server uses 32 kHz, an MPEG-1 rate).
    pub fn new(rate: u32) -> Result<Self, Mp3Error> {
        let config = |reason: String| Mp3Error::Config { rate, reason };
        let mut b = Builder::new().ok_or_else(|| config("out of memory".into()))?;
        b.set_num_channels(1).map_err(|e| config(format!("{e:?}")))?;
        b.set_sample_rate(rate).map_err(|e| config(format!("{e:?}")))?;
        b.set_brate(BITRATE).map_err(|e| config(format!("{e:?}")))?;
        b.set_quality(Quality::Good).map_err(|e| config(format!("{e:?}")))?;
        Ok(Mp3StreamEncoder { lame: b.build().map_err(|e| config(format!("{e:?}")))? })
    }

    /// The MP3 frames completed by `samples` (in [-1, 1]); may be empty.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<u8>, Mp3Error> {
        let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(samples.len()));
        self.lame.encode_to_vec(MonoPcm(samples), &mut out).map_err(|e| Mp3Error::Encode(format!("{e:?}")))?;
        Ok(out)
    }

    /// The last frames (the encoder's delay, padded to a whole frame).
    pub fn finish(&mut self) -> Result<Vec<u8>, Mp3Error> {
        // LAME asks for at least 7,200 bytes to flush into.
        let mut out = Vec::with_capacity(7200);
        self.lame.flush_to_vec::<FlushNoGap>(&mut out).map_err(|e| Mp3Error::Encode(format!("{e:?}")))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame sync words, and about the bitrate's worth of bytes for the audio's length.
    #[test]
    fn a_tone_becomes_mp3_frames_of_the_right_size() {
        let rate = 32_000;
        let tone: Vec<f32> = (0..rate * 2).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let mut enc = Mp3StreamEncoder::new(rate).unwrap();
        let mut bytes = Vec::new();
        for piece in tone.chunks(1000) {
            bytes.extend(enc.push(piece).unwrap());
        }
        bytes.extend(enc.finish().unwrap());
        assert_eq!((bytes[0], bytes[1] & 0xE0), (0xFF, 0xE0), "MPEG frame sync at the start");
        let expected = 64_000 / 8 * 2; // 2 s at 64 kbit/s
        assert!((expected * 9 / 10..expected * 12 / 10).contains(&bytes.len()), "{} bytes", bytes.len());
    }
}
