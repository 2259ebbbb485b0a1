//! One Ogg Opus stream (RFC 7845), written incrementally into byte pieces for a streaming HTTP body.
//!
//! Granule positions follow RFC 7845 §4: the granule of a page is the number of 48 kHz samples decoded from all
//! packets completed on it, counting the `pre_skip` samples (so after packet k it is 960·k, and playback time is
//! `granule − pre_skip`). The last packet is held back until the next call so that `finish` can put it on the EOS
//! page, whose granule `pre_skip + real_samples` trims the zero padding (end trimming, §4.5). This costs one packet
//! (20 ms) of extra latency; every call of [`OggOpusWriter::packets`] ends a page so clients get audio promptly.

use crate::audio::opus_stream::FRAME_SAMPLES;
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Vendor string written into OpusTags.
pub const VENDOR: &str = "sovits-rt";

/// Why an Ogg Opus page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OggOpusError {
    #[error("writing an Ogg page failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("Ogg Opus {0} called out of order: header() must come first and finish() last")]
    Order(&'static str),
    #[error("an Ogg Opus stream needs at least one audio packet before finish()")]
    NoPackets,
}

/// The `OpusHead` identification header (RFC 7845 §5.1), mono, channel mapping family 0.
pub fn opus_head(pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(b"OpusHead");
    h.push(1); // version
    h.push(1); // channels
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&input_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // mapping family
    h
}

/// The `OpusTags` comment header (RFC 7845 §5.2) with our vendor string and no user comments.
pub fn opus_tags() -> Vec<u8> {
    let mut t = Vec::with_capacity(8 + 4 + VENDOR.len() + 4);
    t.extend_from_slice(b"OpusTags");
    t.extend_from_slice(&(VENDOR.len() as u32).to_le_bytes());
    t.extend_from_slice(VENDOR.as_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    Streaming,
    Done,
}

/// Incremental Ogg Opus muxer: `header()`, then `packets()` any number of times, then `finish()`.
pub struct OggOpusWriter {
    w: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    pre_skip: u16,
    input_rate: u32,
    /// The newest packet, kept for the EOS page.
    held: Option<Vec<u8>>,
    /// Packets handed to the page writer (not counting `held`).
    written: u64,
    state: State,
}

impl std::fmt::Debug for OggOpusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("pre_skip", &self.pre_skip)
            .field("written", &self.written)
            .field("state", &self.state)
            .finish()
    }
}

impl OggOpusWriter {
    /// `serial` identifies the logical stream (any value; make it differ between concurrent streams if they are
    /// ever chained). `input_rate` is informational (we note 32000, the model rate).
    pub fn new(serial: u32, pre_skip: u16, input_rate: u32) -> Self {
        Self {
            w: PacketWriter::new(Vec::with_capacity(4096)),
            serial,
            pre_skip,
            input_rate,
            held: None,
            written: 0,
            state: State::New,
        }
    }

    /// The two header pages (OpusHead, OpusTags), each on its own page as RFC 7845 requires.
    pub fn header(&mut self) -> Result<Vec<u8>, OggOpusError> {
        if self.state != State::New {
            return Err(OggOpusError::Order("header()"));
        }
        self.w.write_packet(opus_head(self.pre_skip, self.input_rate), self.serial, PacketWriteEndInfo::EndPage, 0)?;
        self.w.write_packet(opus_tags(), self.serial, PacketWriteEndInfo::EndPage, 0)?;
        self.state = State::Streaming;
        Ok(self.drain())
    }

    /// Appends 20 ms packets; returns the pages completed (all but the newest packet, which is held back).
    pub fn packets(&mut self, packets: &[Vec<u8>]) -> Result<Vec<u8>, OggOpusError> {
        if self.state != State::Streaming {
            return Err(OggOpusError::Order("packets()"));
        }
        let Some((last, rest)) = packets.split_last() else {
            return Ok(Vec::new());
        };
        let mut to_write = self.held.take().into_iter().chain(rest.iter().cloned()).peekable();
        while let Some(p) = to_write.next() {
            let end =
                if to_write.peek().is_none() { PacketWriteEndInfo::EndPage } else { PacketWriteEndInfo::NormalPacket };
            self.written += 1;
            let granule = self.written * FRAME_SAMPLES as u64;
            self.w.write_packet(p, self.serial, end, granule)?;
        }
        self.held = Some(last.clone());
        Ok(self.drain())
    }

    /// Writes the held packet on the EOS page. `real_samples` is the number of 48 kHz samples of actual audio
    /// (before zero padding); the EOS granule `pre_skip + real_samples` makes decoders drop the padding.
    pub fn finish(&mut self, real_samples: u64) -> Result<Vec<u8>, OggOpusError> {
        if self.state != State::Streaming {
            return Err(OggOpusError::Order("finish()"));
        }
        let p = self.held.take().ok_or(OggOpusError::NoPackets)?;
        let prev = self.written * FRAME_SAMPLES as u64;
        let full = prev + FRAME_SAMPLES as u64;
        // The EOS granule may only trim within the last page: keep it in (prev, full].
        let granule = (self.pre_skip as u64 + real_samples).clamp(prev + 1, full);
        self.written += 1;
        self.w.write_packet(p, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        self.state = State::Done;
        Ok(self.drain())
    }

    fn drain(&mut self) -> Vec<u8> {
        std::mem::take(self.w.inner_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ogg::PacketReader;
    use std::io::Cursor;

    #[test]
    fn heads_are_well_formed() {
        let h = opus_head(312, 32_000);
        assert_eq!(h.len(), 19);
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(u16::from_le_bytes([h[10], h[11]]), 312);
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 32_000);
        let t = opus_tags();
        assert_eq!(&t[12..12 + VENDOR.len()], VENDOR.as_bytes());
    }

    #[test]
    fn pages_granules_and_eos() {
        let mut w = OggOpusWriter::new(7, 312, 32_000);
        let mut bytes = w.header().unwrap();
        assert!(w.header().is_err());
        let fake: Vec<Vec<u8>> = (0..5u8).map(|i| vec![0xF8, i]).collect();
        bytes.extend(w.packets(&fake[..2]).unwrap());
        bytes.extend(w.packets(&[]).unwrap());
        bytes.extend(w.packets(&fake[2..]).unwrap());
        bytes.extend(w.finish(4 * 960 + 10).unwrap());
        assert!(w.packets(&fake).is_err());

        let mut r = PacketReader::new(Cursor::new(bytes));
        let head = r.read_packet_expected().unwrap();
        assert!(head.first_in_stream() && head.last_in_page());
        let tags = r.read_packet_expected().unwrap();
        assert!(tags.last_in_page());
        let mut got = Vec::new();
        while let Some(p) = r.read_packet().unwrap() {
            got.push((p.data.clone(), p.absgp_page(), p.last_in_page(), p.last_in_stream()));
        }
        assert_eq!(got.len(), 5);
        for (i, (d, ..)) in got.iter().enumerate() {
            assert_eq!(d, &fake[i]);
        }
        // Page ends: after packet 0 (first call held 1), after packets 1..3, and EOS.
        assert!(got[0].2 && got[0].1 == 960);
        assert!(got[3].2 && got[3].1 == 4 * 960);
        assert!(got[4].3 && got[4].1 == 312 + 4 * 960 + 10);
    }

    #[test]
    fn finish_without_audio_is_an_error() {
        let mut w = OggOpusWriter::new(1, 312, 32_000);
        w.header().unwrap();
        assert!(matches!(w.finish(0), Err(OggOpusError::NoPackets)));
    }
}
