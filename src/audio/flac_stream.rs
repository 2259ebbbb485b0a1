//! Streamed FLAC (mono, 16-bit) via the pure-Rust `flacenc` encoder.
//!
//! A FLAC stream is `fLaC` + STREAMINFO + frames, and each frame is self-contained, so it streams naturally: the
//! header goes out first with "unknown" total length, MD5 and frame sizes (all 0, which the format allows exactly for
//! this case), then every 4096-sample block is encoded as soon as it is full. The last block may be shorter.
//! Samples are quantized exactly as the WAV/PCM path does ([`crate::audio::wav_stream::f32_to_s16`]).

use crate::audio::wav_stream::f32_to_s16;
use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, StreamInfo};
use flacenc::error::{Verified, Verify};
use flacenc::source::{Fill, FrameBuf};

/// Samples per FLAC frame: the reference encoder's default, a good size/latency trade (85–170 ms at 48–24 kHz).
pub const BLOCK_SIZE: usize = 4096;
const BITS: usize = 16;

/// Why FLAC encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum FlacError {
    #[error("FLAC encoder configuration rejected: {0}")]
    Config(String),
    #[error("FLAC frame {frame} could not be encoded: {reason}")]
    Encode { frame: usize, reason: String },
    #[error("sample rate {0} Hz cannot be stored in FLAC (must be 1..=655350)")]
    Rate(u32),
    #[error("FLAC header() must be called once, before any audio")]
    Order,
}

/// Incremental FLAC encoder: `header()`, then `push()` any number of times, then `finish()`.
pub struct FlacStreamEncoder {
    rate: u32,
    config: Verified<flacenc::config::Encoder>,
    info: StreamInfo,
    fb: FrameBuf,
    block: Vec<i32>,
    sink: ByteSink,
    frame_no: usize,
    header_done: bool,
}

impl std::fmt::Debug for FlacStreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacStreamEncoder").field("rate", &self.rate).field("frame_no", &self.frame_no).finish()
    }
}

impl FlacStreamEncoder {
    pub fn new(sample_rate: u32) -> Result<Self, FlacError> {
        if sample_rate == 0 || sample_rate > 655_350 {
            return Err(FlacError::Rate(sample_rate));
        }
        let mut cfg = flacenc::config::Encoder::default();
        cfg.block_size = BLOCK_SIZE;
        cfg.multithread = false;
        let config = cfg.into_verified().map_err(|(_, e)| FlacError::Config(e.to_string()))?;
        let info = StreamInfo::new(sample_rate as usize, 1, BITS).map_err(|e| FlacError::Config(e.to_string()))?;
        let fb = FrameBuf::with_size(1, BLOCK_SIZE).map_err(|e| FlacError::Config(e.to_string()))?;
        Ok(Self {
            rate: sample_rate,
            config,
            info,
            fb,
            block: Vec::with_capacity(BLOCK_SIZE),
            sink: ByteSink::with_capacity(BLOCK_SIZE * BITS + 1024),
            frame_no: 0,
            header_done: false,
        })
    }

    /// `fLaC` + a last-metadata STREAMINFO block with unknown length, MD5 and frame sizes.
    pub fn header(&mut self) -> Result<Vec<u8>, FlacError> {
        if self.header_done {
            return Err(FlacError::Order);
        }
        self.header_done = true;
        let mut h = Vec::with_capacity(42);
        h.extend_from_slice(b"fLaC");
        h.push(0x80); // last metadata block, type 0 = STREAMINFO
        h.extend_from_slice(&[0, 0, 34]);
        let bs = BLOCK_SIZE as u16;
        h.extend_from_slice(&bs.to_be_bytes()); // min block size
        h.extend_from_slice(&bs.to_be_bytes()); // max block size
        h.extend_from_slice(&[0; 6]); // min/max frame size: unknown
                                      // 20 bits rate | 3 bits channels-1 | 5 bits bps-1 | 36 bits total samples (0 = unknown)
        let packed: u64 = ((self.rate as u64) << 44) | (((BITS as u64) - 1) << 36);
        h.extend_from_slice(&packed.to_be_bytes());
        h.extend_from_slice(&[0; 16]); // MD5 unknown
        Ok(h)
    }

    /// Encodes every block `samples` completes; returns their bytes (possibly empty).
    pub fn push(&mut self, mut samples: &[f32]) -> Result<Vec<u8>, FlacError> {
        if !self.header_done {
            return Err(FlacError::Order);
        }
        let mut out = Vec::new();
        while !samples.is_empty() {
            let take = (BLOCK_SIZE - self.block.len()).min(samples.len());
            self.block.extend(samples[..take].iter().map(|&x| f32_to_s16(x) as i32));
            samples = &samples[take..];
            if self.block.len() == BLOCK_SIZE {
                self.encode_block(&mut out)?;
            }
        }
        Ok(out)
    }

    /// Encodes the final, possibly short, block. The encoder can then start a new stream with `header()`.
    pub fn finish(&mut self) -> Result<Vec<u8>, FlacError> {
        if !self.header_done {
            return Err(FlacError::Order);
        }
        let mut out = Vec::new();
        if !self.block.is_empty() {
            self.encode_block(&mut out)?;
        }
        self.frame_no = 0;
        self.header_done = false;
        Ok(out)
    }

    fn encode_block(&mut self, out: &mut Vec<u8>) -> Result<(), FlacError> {
        let frame = self.frame_no;
        let err = |reason: String| FlacError::Encode { frame, reason };
        if self.fb.size() != self.block.len() {
            self.fb.resize(self.block.len());
        }
        self.fb.fill_interleaved(&self.block).map_err(|e| err(e.to_string()))?;
        let f = flacenc::encode_fixed_size_frame(&self.config, &self.fb, frame, &self.info)
            .map_err(|e| err(e.to_string()))?;
        self.sink.clear();
        f.write(&mut self.sink).map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(self.sink.as_slice());
        self.block.clear();
        if self.fb.size() != BLOCK_SIZE {
            self.fb.resize(BLOCK_SIZE);
        }
        self.frame_no += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, Vec<i32>) {
        let mut r = claxon::FlacReader::new(std::io::Cursor::new(bytes)).unwrap();
        let rate = r.streaminfo().sample_rate;
        let s: Vec<i32> = r.samples().map(|s| s.unwrap()).collect();
        (rate, s)
    }

    #[test]
    fn round_trip_streamed() {
        let x: Vec<f32> =
            (0..10_000).map(|i| 0.3 * (i as f32 * 0.01).sin() + 0.01 * ((i * 7919) % 13) as f32).collect();
        let mut e = FlacStreamEncoder::new(24_000).unwrap();
        assert!(e.push(&x).is_err());
        let mut bytes = e.header().unwrap();
        for c in x.chunks(777) {
            bytes.extend(e.push(c).unwrap());
        }
        bytes.extend(e.finish().unwrap());
        let (rate, y) = decode(&bytes);
        assert_eq!(rate, 24_000);
        let want: Vec<i32> = x.iter().map(|&v| f32_to_s16(v) as i32).collect();
        assert_eq!(y, want);
        assert!(bytes.len() < x.len() * 2, "compressed {} bytes", bytes.len());
    }

    #[test]
    fn empty_stream_is_valid() {
        let mut e = FlacStreamEncoder::new(32_000).unwrap();
        let mut bytes = e.header().unwrap();
        bytes.extend(e.finish().unwrap());
        assert!(decode(&bytes).1.is_empty());
    }
}
