//! 48 kHz mono f32 in any chunk sizes → 20 ms Opus packets.
//!
//! 20 ms is Opus' sweet spot (best quality per bit, the frame size browsers and WebRTC expect) and matches the
//! lip-sync frame of [`crate::audio::mouth`]. `finish` zero-pads the last partial frame *and* encodes enough extra frames to
//! push the encoder's lookahead (`pre_skip` samples) out, so a decoder that drops `pre_skip` samples gets every input
//! sample back.

use opus::{Application, Bitrate, Channels, Encoder};

/// Opus always runs at 48 kHz here (32 kHz is refused by libopus; see `StreamResampler`).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples per packet: 20 ms at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
pub const FRAME_MS: u32 = 20;
/// Encoder lookahead of libopus at 48 kHz with `Application::Audio` (2.5 ms + 4 ms delay compensation); this is the
/// Ogg `pre_skip`. `OpusPacketizer::new` checks it against `get_lookahead` and fails loudly if libopus changes.
pub const PRE_SKIP: u16 = 312;
/// 32 kbit/s: our source is 32 kHz speech (16 kHz audio bandwidth). Opus reaches fullband speech of good quality at
/// about 24–32 kbit/s; 32 gives margin for breathy/expressive TTS voices at 4 kB/s, far below any link's limit.
pub const DEFAULT_BITRATE: i32 = 32_000;
/// RFC 6716 maximum size of one Opus frame's packet (plus slack).
const MAX_PACKET: usize = 1500;

/// Why Opus encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum OpusStreamError {
    #[error("libopus {what} failed: {source}")]
    Opus {
        what: &'static str,
        #[source]
        source: opus::Error,
    },
    #[error("libopus reports a lookahead of {got} samples, expected {PRE_SKIP}; update PRE_SKIP")]
    Lookahead { got: i32 },
    #[error("bitrate {0} bit/s is outside Opus' 6000..=510000 range")]
    Bitrate(i32),
}

fn op(what: &'static str) -> impl FnOnce(opus::Error) -> OpusStreamError {
    move |source| OpusStreamError::Opus { what, source }
}

/// Cuts a 48 kHz stream into 960-sample frames and encodes each into one Opus packet.
pub struct OpusPacketizer {
    enc: Encoder,
    /// Samples of the current, incomplete frame (capacity `FRAME_SAMPLES`).
    frame: Vec<f32>,
    scratch: Box<[u8; MAX_PACKET]>,
    samples_in: u64,
    packets_out: u64,
}

impl std::fmt::Debug for OpusPacketizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusPacketizer")
            .field("samples_in", &self.samples_in)
            .field("packets_out", &self.packets_out)
            .finish()
    }
}

impl OpusPacketizer {
    /// Mono, `Application::Audio`, VBR, complexity 10 (about 1 % of one core at 48 kHz mono).
    pub fn new(bitrate: i32) -> Result<Self, OpusStreamError> {
        if !(6_000..=510_000).contains(&bitrate) {
            return Err(OpusStreamError::Bitrate(bitrate));
        }
        let mut enc = Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Audio).map_err(op("encoder create"))?;
        enc.set_bitrate(Bitrate::Bits(bitrate)).map_err(op("set_bitrate"))?;
        let got = enc.get_lookahead().map_err(op("get_lookahead"))?;
        if got != PRE_SKIP as i32 {
            return Err(OpusStreamError::Lookahead { got });
        }
        Ok(Self {
            enc,
            frame: Vec::with_capacity(FRAME_SAMPLES),
            scratch: Box::new([0; MAX_PACKET]),
            samples_in: 0,
            packets_out: 0,
        })
    }

    /// The Ogg pre-skip for this encoder (equals [`PRE_SKIP`]).
    pub fn pre_skip(&self) -> u16 {
        PRE_SKIP
    }

    /// Real (unpadded) samples pushed so far; the Ogg writer uses it for end trimming.
    pub fn samples_in(&self) -> u64 {
        self.samples_in
    }

    pub fn packets_out(&self) -> u64 {
        self.packets_out
    }

    /// Encodes every frame completed by `pcm` (48 kHz mono, any length).
    pub fn push(&mut self, pcm: &[f32]) -> Result<Vec<Vec<u8>>, OpusStreamError> {
        let mut out = Vec::with_capacity((self.frame.len() + pcm.len()) / FRAME_SAMPLES);
        self.push_into(pcm, &mut out)?;
        Ok(out)
    }

    /// Like [`push`](Self::push) but appends packets to `out`.
    pub fn push_into(&mut self, mut pcm: &[f32], out: &mut Vec<Vec<u8>>) -> Result<(), OpusStreamError> {
        self.samples_in += pcm.len() as u64;
        while !pcm.is_empty() {
            if self.frame.is_empty() && pcm.len() >= FRAME_SAMPLES {
                let (f, rest) = pcm.split_at(FRAME_SAMPLES);
                out.push(self.encode(f)?);
                pcm = rest;
                continue;
            }
            let take = (FRAME_SAMPLES - self.frame.len()).min(pcm.len());
            self.frame.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.frame.len() == FRAME_SAMPLES {
                let frame = std::mem::take(&mut self.frame);
                let res = self.encode(&frame);
                self.frame = frame;
                self.frame.clear();
                out.push(res?);
            }
        }
        Ok(())
    }

    /// Zero-pads the partial frame and adds frames until `packets · 960 ≥ samples_in + PRE_SKIP`, so the lookahead
    /// is flushed too. Nothing is emitted for an empty stream. The encoder is then reset for a new stream.
    pub fn finish(&mut self) -> Result<Vec<Vec<u8>>, OpusStreamError> {
        let mut out = Vec::with_capacity(2);
        let need = if self.samples_in == 0 { 0 } else { self.samples_in + PRE_SKIP as u64 };
        let mut frame = std::mem::take(&mut self.frame);
        let mut res = Ok(());
        while self.packets_out * (FRAME_SAMPLES as u64) < need {
            frame.resize(FRAME_SAMPLES, 0.0);
            match self.encode(&frame) {
                Ok(p) => out.push(p),
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
            frame.fill(0.0);
        }
        frame.clear();
        self.frame = frame;
        res?;
        self.enc.reset_state().map_err(op("reset_state"))?;
        self.samples_in = 0;
        self.packets_out = 0;
        Ok(out)
    }

    fn encode(&mut self, frame: &[f32]) -> Result<Vec<u8>, OpusStreamError> {
        let n = self.enc.encode_float(frame, &mut self.scratch[..]).map_err(op("encode_float"))?;
        self.packets_out += 1;
        Ok(self.scratch[..n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookahead_matches_constant() {
        let p = OpusPacketizer::new(DEFAULT_BITRATE).unwrap();
        assert_eq!(p.pre_skip(), PRE_SKIP);
    }

    #[test]
    fn packet_counts() {
        let mut p = OpusPacketizer::new(DEFAULT_BITRATE).unwrap();
        let x = vec![0.1f32; 960 * 3 + 100];
        let mut n = 0;
        for c in x.chunks(333) {
            n += p.push(c).unwrap().len();
        }
        assert_eq!(n, 3);
        // 3·960+100 real + 312 lookahead = 3292 → 4 packets in total.
        assert_eq!(p.finish().unwrap().len(), 1);
        // After finish the packetizer is fresh; an empty stream gives no packets.
        assert!(p.finish().unwrap().is_empty());
        // Exactly 960 samples: 960+312 needs 2 packets.
        assert_eq!(p.push(&[0.0; 960]).unwrap().len(), 1);
        assert_eq!(p.finish().unwrap().len(), 1);
    }

    #[test]
    fn rejects_bad_bitrate() {
        assert!(matches!(OpusPacketizer::new(1000), Err(OpusStreamError::Bitrate(1000))));
    }
}
