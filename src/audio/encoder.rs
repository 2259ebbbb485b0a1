//! The front door the server uses: one [`AudioStreamEncoder`] per utterance turns 32 kHz model chunks into the
//! bytes of the requested format plus lip-sync levels.
//!
//! [`EncodedChunk::frames`] is designed for both transports: a WebSocket sender sends each frame as one binary
//! message, an HTTP body writer concatenates them. For `Opus` a frame is one 20 ms packet (decode each message on its
//! own); for `Pcm` it is 20 ms of s16le (the last one may be shorter); for byte-stream formats (`OggOpus`, `Wav`,
//! `Flac`) frames are pieces of one file, and the first push (or `finish` if nothing was pushed) starts with the
//! header. Opus formats always run at 48 kHz (libopus refuses 32 kHz); `Pcm`, `Wav` and `Flac` use [`OutputRate`].

use crate::audio::flac_stream::{FlacError, FlacStreamEncoder};
use crate::audio::mouth::MouthMeter;
use crate::audio::mp3_stream::{Mp3Error, Mp3StreamEncoder};
use crate::audio::ogg_opus::{OggOpusError, OggOpusWriter};
use crate::audio::opus_stream::{self, OpusPacketizer, OpusStreamError};
use crate::audio::stream_resample::{ResampleError, StreamResampler};
use crate::audio::wav_stream::{pcm_s16le_into, wav_header};
use crate::audio::MODEL_RATE;
use std::fmt;
use std::str::FromStr;

/// Names accepted by [`OutputFormat::parse`], for error messages and help texts.
pub const FORMAT_NAMES: &str = "opus, ogg, wav, pcm (alias raw), flac, mp3";

/// A format or rate the caller asked for that we do not produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown audio format {given:?}; valid formats: {FORMAT_NAMES}")]
    UnknownFormat { given: String },
    #[error("unsupported output sample rate {given} Hz; valid rates: 24000, 32000, 48000")]
    UnsupportedRate { given: u32 },
}

/// Why encoding a chunk failed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Resample(#[from] ResampleError),
    #[error(transparent)]
    Opus(#[from] OpusStreamError),
    #[error(transparent)]
    Ogg(#[from] OggOpusError),
    #[error(transparent)]
    Flac(#[from] FlacError),
    #[error(transparent)]
    Mp3(#[from] Mp3Error),
    #[error("this audio stream is already finished; create a new AudioStreamEncoder for the next utterance")]
    Finished,
}

/// Output container/codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Raw 20 ms Opus packets at 48 kHz, one per WebSocket message (no container).
    Opus,
    /// Ogg Opus file (RFC 7845), streamable over HTTP. OpenAI-style `response_format=opus` means this.
    OggOpus,
    /// WAV with a streaming header (unknown length), mono s16le.
    Wav,
    /// Headerless mono s16le, in 20 ms pieces.
    Pcm,
    /// FLAC, mono 16-bit, streamed frame by frame.
    Flac,
    /// MP3, mono 64 kbit/s CBR, streamed frame by frame.
    Mp3,
}

impl OutputFormat {
    pub const ALL: [Self; 6] = [Self::Opus, Self::OggOpus, Self::Wav, Self::Pcm, Self::Flac, Self::Mp3];

    /// Case-insensitive: "opus", "ogg", "wav", "pcm", "raw", "flac".
    pub fn parse(s: &str) -> Result<Self, FormatError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opus" => Ok(Self::Opus),
            "ogg" => Ok(Self::OggOpus),
            "wav" => Ok(Self::Wav),
            "pcm" | "raw" => Ok(Self::Pcm),
            "flac" => Ok(Self::Flac),
            "mp3" => Ok(Self::Mp3),
            _ => Err(FormatError::UnknownFormat { given: s.to_owned() }),
        }
    }

    /// The canonical name (parses back to `self`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::OggOpus => "ogg",
            Self::Wav => "wav",
            Self::Pcm => "pcm",
            Self::Flac => "flac",
            Self::Mp3 => "mp3",
        }
    }

    /// Content-Type for an HTTP response carrying this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            // RFC 7587's media type for bare Opus packets.
            Self::Opus => "audio/opus",
            Self::OggOpus => "audio/ogg; codecs=opus",
            Self::Wav => "audio/wav",
            Self::Pcm => "audio/pcm",
            Self::Flac => "audio/flac",
            Self::Mp3 => "audio/mpeg",
        }
    }

    /// True when each frame is a self-contained unit (Opus packet, PCM piece) rather than a piece of a file.
    pub fn is_framed(self) -> bool {
        matches!(self, Self::Opus | Self::Pcm)
    }

    /// The sample rate the output will actually have for a requested `rate`.
    pub fn sample_rate(self, rate: OutputRate) -> u32 {
        match self {
            Self::Opus | Self::OggOpus => opus_stream::SAMPLE_RATE,
            Self::Wav | Self::Pcm | Self::Flac | Self::Mp3 => rate.hz(),
        }
    }
}

impl FromStr for OutputFormat {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Sample rate for PCM/WAV/FLAC. 32 kHz is the model rate (no resampling); 24 kHz is what OpenAI-compatible
/// clients assume for `pcm`; 48 kHz matches most sound cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputRate {
    Hz24000,
    #[default]
    Hz32000,
    Hz48000,
}

impl OutputRate {
    pub fn hz(self) -> u32 {
        match self {
            Self::Hz24000 => 24_000,
            Self::Hz32000 => 32_000,
            Self::Hz48000 => 48_000,
        }
    }

    pub fn from_hz(hz: u32) -> Result<Self, FormatError> {
        match hz {
            24_000 => Ok(Self::Hz24000),
            32_000 => Ok(Self::Hz32000),
            48_000 => Ok(Self::Hz48000),
            given => Err(FormatError::UnsupportedRate { given }),
        }
    }
}

/// Output of one `push`/`finish`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedChunk {
    /// WebSocket: one binary message each. HTTP: concatenate.
    pub frames: Vec<Vec<u8>>,
    /// Lip-sync levels (0..1) of the 20 ms frames completed by this call, in order.
    pub mouth: Vec<f32>,
}

impl EncodedChunk {
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.mouth.is_empty()
    }

    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(Vec::len).sum()
    }
}

enum Sink {
    Opus(OpusPacketizer),
    Ogg {
        pk: OpusPacketizer,
        ogg: OggOpusWriter,
        packets: Vec<Vec<u8>>,
    },
    Wav,
    /// `piece`: the 20 ms piece being filled (capacity `piece_bytes`).
    Pcm {
        piece: Vec<u8>,
        piece_bytes: usize,
    },
    Flac(FlacStreamEncoder),
    Mp3(Mp3StreamEncoder),
}

/// Streaming encoder for one utterance: `push` model chunks (32 kHz mono f32), then `finish` once.
pub struct AudioStreamEncoder {
    format: OutputFormat,
    rate: u32,
    /// `None` when the output rate is the model rate.
    resampler: Option<StreamResampler>,
    /// Resampled audio of the current call; reused so a push allocates only its output.
    buf: Vec<f32>,
    mouth: MouthMeter,
    mouth_frames: u64,
    sink: Sink,
    started: bool,
    finished: bool,
}

impl fmt::Debug for AudioStreamEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioStreamEncoder")
            .field("format", &self.format)
            .field("rate", &self.rate)
            .field("started", &self.started)
            .field("finished", &self.finished)
            .finish()
    }
}

impl AudioStreamEncoder {
    /// Opus formats use [`opus_stream::DEFAULT_BITRATE`]; `rate` applies to PCM, WAV and FLAC only.
    pub fn new(format: OutputFormat, rate: OutputRate) -> Result<Self, EncodeError> {
        Self::with_bitrate(format, rate, opus_stream::DEFAULT_BITRATE)
    }

    /// Like [`new`](Self::new) with an explicit Opus bitrate in bit/s (ignored by non-Opus formats).
    pub fn with_bitrate(format: OutputFormat, rate: OutputRate, opus_bitrate: i32) -> Result<Self, EncodeError> {
        let out_rate = format.sample_rate(rate);
        let resampler = (out_rate != MODEL_RATE).then(|| StreamResampler::new(MODEL_RATE, out_rate)).transpose()?;
        let sink = match format {
            OutputFormat::Opus => Sink::Opus(OpusPacketizer::new(opus_bitrate)?),
            OutputFormat::OggOpus => {
                let pk = OpusPacketizer::new(opus_bitrate)?;
                let ogg = OggOpusWriter::new(stream_serial(), pk.pre_skip(), MODEL_RATE);
                Sink::Ogg { pk, ogg, packets: Vec::new() }
            }
            OutputFormat::Wav => Sink::Wav,
            OutputFormat::Pcm => {
                let piece_bytes = out_rate as usize / 50 * 2;
                Sink::Pcm { piece: Vec::with_capacity(piece_bytes), piece_bytes }
            }
            OutputFormat::Flac => Sink::Flac(FlacStreamEncoder::new(out_rate)?),
            OutputFormat::Mp3 => Sink::Mp3(Mp3StreamEncoder::new(out_rate)?),
        };
        Ok(Self {
            format,
            rate: out_rate,
            resampler,
            buf: Vec::new(),
            mouth: MouthMeter::new(out_rate),
            mouth_frames: 0,
            sink,
            started: false,
            finished: false,
        })
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Sample rate of the encoded audio.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Encodes a chunk of 32 kHz mono model output (any length, including 0).
    pub fn push(&mut self, pcm: &[f32]) -> Result<EncodedChunk, EncodeError> {
        if self.finished {
            return Err(EncodeError::Finished);
        }
        let mut chunk = EncodedChunk::default();
        self.start(&mut chunk)?;
        let Self { resampler, buf, .. } = self;
        let samples: &[f32] = match resampler {
            Some(rs) => {
                buf.clear();
                rs.push_into(pcm, buf)?;
                buf
            }
            None => pcm,
        };
        let n = self.mouth.push_into(samples, &mut chunk.mouth);
        self.mouth_frames += n;
        encode(&mut self.sink, samples, &mut chunk.frames)?;
        self.buf.clear();
        Ok(chunk)
    }

    /// Flushes everything (resampler tail, partial frames, Opus lookahead, trailers). Call exactly once.
    pub fn finish(&mut self) -> Result<EncodedChunk, EncodeError> {
        if self.finished {
            return Err(EncodeError::Finished);
        }
        self.finished = true;
        let mut chunk = EncodedChunk::default();
        self.start(&mut chunk)?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if let Some(rs) = self.resampler.as_mut() {
            rs.finish_into(&mut buf)?;
        }
        self.mouth_frames += self.mouth.push_into(&buf, &mut chunk.mouth);
        encode(&mut self.sink, &buf, &mut chunk.frames)?;
        if let Some(level) = self.mouth.finish() {
            chunk.mouth.push(level);
            self.mouth_frames += 1;
        }
        match &mut self.sink {
            Sink::Opus(pk) => {
                let before = pk.packets_out();
                let tail = pk.finish()?;
                // The lookahead flush adds packets of silence; give them levels so that levels == packets.
                let total = before + tail.len() as u64;
                while self.mouth_frames < total {
                    chunk.mouth.push(self.mouth.silent_frame());
                    self.mouth_frames += 1;
                }
                chunk.frames.extend(tail);
            }
            Sink::Ogg { pk, ogg, packets } => {
                if pk.samples_in() == 0 {
                    // An Ogg Opus stream needs one packet; one zero sample keeps the file valid and silent.
                    pk.push_into(&[0.0], packets)?;
                }
                let real = pk.samples_in();
                packets.extend(pk.finish()?);
                chunk.frames.push(ogg.packets(packets)?);
                packets.clear();
                chunk.frames.push(ogg.finish(real)?);
            }
            Sink::Wav | Sink::Flac(_) | Sink::Mp3(_) => {}
            Sink::Pcm { piece, .. } => {
                if !piece.is_empty() {
                    chunk.frames.push(std::mem::take(piece));
                }
            }
        }
        match &mut self.sink {
            Sink::Flac(f) => push_nonempty(&mut chunk.frames, f.finish()?),
            Sink::Mp3(m) => push_nonempty(&mut chunk.frames, m.finish()?),
            _ => {}
        }
        self.buf = buf;
        Ok(chunk)
    }

    /// Writes the format's header into the first chunk.
    fn start(&mut self, chunk: &mut EncodedChunk) -> Result<(), EncodeError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        match &mut self.sink {
            Sink::Ogg { ogg, .. } => chunk.frames.push(ogg.header()?),
            Sink::Wav => chunk.frames.push(wav_header(self.rate, None).to_vec()),
            Sink::Flac(f) => chunk.frames.push(f.header()?),
            Sink::Opus(_) | Sink::Pcm { .. } | Sink::Mp3(_) => {}
        }
        Ok(())
    }
}

fn encode(sink: &mut Sink, samples: &[f32], frames: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
    match sink {
        Sink::Opus(pk) => pk.push_into(samples, frames)?,
        Sink::Ogg { pk, ogg, packets } => {
            pk.push_into(samples, packets)?;
            if !packets.is_empty() {
                push_nonempty(frames, ogg.packets(packets)?);
                packets.clear();
            }
        }
        Sink::Wav => {
            if !samples.is_empty() {
                let mut bytes = Vec::with_capacity(samples.len() * 2);
                pcm_s16le_into(samples, &mut bytes);
                frames.push(bytes);
            }
        }
        Sink::Pcm { piece, piece_bytes } => {
            let per_piece = *piece_bytes / 2;
            let mut rest = samples;
            while !rest.is_empty() {
                let take = (per_piece - piece.len() / 2).min(rest.len());
                pcm_s16le_into(&rest[..take], piece);
                rest = &rest[take..];
                if piece.len() == *piece_bytes {
                    frames.push(std::mem::replace(piece, Vec::with_capacity(*piece_bytes)));
                }
            }
        }
        Sink::Flac(f) => push_nonempty(frames, f.push(samples)?),
        Sink::Mp3(m) => push_nonempty(frames, m.push(samples)?),
    }
    Ok(())
}

fn push_nonempty(frames: &mut Vec<Vec<u8>>, bytes: Vec<u8>) {
    if !bytes.is_empty() {
        frames.push(bytes);
    }
}

/// A serial number that differs between streams (RFC 3533 wants distinct serials for multiplexed streams).
fn stream_serial() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    nanos ^ COUNTER.fetch_add(0x9E37_79B9, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechish(n: usize) -> Vec<f32> {
        (0..n).map(|i| 0.4 * (i as f32 * 0.03).sin() * ((i as f32 * 0.0005).sin()).abs()).collect()
    }

    fn run(format: OutputFormat, rate: OutputRate, x: &[f32], piece: usize) -> (Vec<EncodedChunk>, EncodedChunk) {
        let mut e = AudioStreamEncoder::new(format, rate).unwrap();
        let chunks: Vec<EncodedChunk> = x.chunks(piece).map(|c| e.push(c).unwrap()).collect();
        let last = e.finish().unwrap();
        assert!(matches!(e.push(x), Err(EncodeError::Finished)));
        assert!(matches!(e.finish(), Err(EncodeError::Finished)));
        (chunks, last)
    }

    #[test]
    fn parse_names() {
        for f in OutputFormat::ALL {
            assert_eq!(OutputFormat::parse(f.name()), Ok(f));
            assert!(!f.mime_type().is_empty());
        }
        assert_eq!("RAW".parse::<OutputFormat>(), Ok(OutputFormat::Pcm));
        assert_eq!(OutputFormat::parse(" Ogg "), Ok(OutputFormat::OggOpus));
        let err = OutputFormat::parse("aac").unwrap_err().to_string();
        assert!(err.contains("aac") && err.contains(FORMAT_NAMES), "{err}");
        assert_eq!(OutputRate::from_hz(24_000), Ok(OutputRate::Hz24000));
        assert!(OutputRate::from_hz(44_100).unwrap_err().to_string().contains("24000, 32000, 48000"));
    }

    #[test]
    fn pcm_pieces_are_20ms_and_match_mouth() {
        let x = speechish(32_000 + 123);
        for rate in [OutputRate::Hz24000, OutputRate::Hz32000, OutputRate::Hz48000] {
            let (chunks, last) = run(OutputFormat::Pcm, rate, &x, 1111);
            let hz = rate.hz() as usize;
            let mut frames = 0;
            let mut mouth = 0;
            let mut bytes = 0;
            for c in chunks.iter().chain([&last]) {
                frames += c.frames.len();
                mouth += c.mouth.len();
                bytes += c.byte_len();
            }
            for c in &chunks {
                assert!(c.frames.iter().all(|f| f.len() == hz / 50 * 2));
                assert_eq!(c.frames.len(), c.mouth.len());
            }
            let n_out = (x.len() * hz + 16_000) / 32_000;
            assert_eq!(bytes, n_out * 2, "{rate:?}");
            assert_eq!(frames, n_out.div_ceil(hz / 50));
            assert_eq!(mouth, frames);
        }
    }

    #[test]
    fn opus_packets_match_mouth() {
        let x = speechish(32_000);
        let (chunks, last) = run(OutputFormat::Opus, OutputRate::default(), &x, 4321);
        for c in chunks.iter().chain([&last]) {
            assert_eq!(c.frames.len(), c.mouth.len());
        }
        let total: usize = chunks.iter().chain([&last]).map(|c| c.frames.len()).sum();
        // 48000 samples + 312 lookahead → 51 packets.
        assert_eq!(total, 51);
    }

    #[test]
    fn byte_streams_start_with_header() {
        let x = speechish(10_000);
        let (chunks, _) = run(OutputFormat::Wav, OutputRate::Hz24000, &x, 3000);
        assert_eq!(&chunks[0].frames[0][..4], b"RIFF");
        let (chunks, _) = run(OutputFormat::OggOpus, OutputRate::Hz24000, &x, 3000);
        assert_eq!(&chunks[0].frames[0][..4], b"OggS");
        let (chunks, _) = run(OutputFormat::Flac, OutputRate::Hz48000, &x, 3000);
        assert_eq!(&chunks[0].frames[0][..4], b"fLaC");
        // Nothing pushed: finish alone still yields a complete (empty or silent) file.
        for f in [OutputFormat::Wav, OutputFormat::OggOpus, OutputFormat::Flac] {
            let mut e = AudioStreamEncoder::new(f, OutputRate::default()).unwrap();
            let c = e.finish().unwrap();
            assert!(!c.frames.is_empty(), "{f}");
        }
    }
}
