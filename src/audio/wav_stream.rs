//! Streaming WAV: a 44-byte header written before the length is known, then raw s16le PCM.
//!
//! The RIFF and data sizes are 0xFFFFFFFF ("as long as the stream lasts"), the convention Kokoro-FastAPI and ffmpeg
//! use for piped WAV; players read until EOF. [`wav_header`] also takes a known length for files written whole.

/// Bytes in a canonical PCM WAV header.
pub const WAV_HEADER_LEN: usize = 44;
/// Size field value meaning "unknown / until end of stream".
pub const UNKNOWN_SIZE: u32 = 0xFFFF_FFFF;

/// Header for mono s16le at `sample_rate`. `num_samples = None` writes the streaming sizes (0xFFFFFFFF).
pub fn wav_header(sample_rate: u32, num_samples: Option<u32>) -> [u8; WAV_HEADER_LEN] {
    const CHANNELS: u16 = 1;
    const BITS: u16 = 16;
    let block_align = CHANNELS * BITS / 8;
    let byte_rate = sample_rate * block_align as u32;
    let (riff_size, data_size) = match num_samples {
        Some(n) => {
            let data = n.saturating_mul(block_align as u32);
            (data.saturating_add(36), data)
        }
        None => (UNKNOWN_SIZE, UNKNOWN_SIZE),
    };
    let mut h = [0u8; WAV_HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff_size.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&CHANNELS.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&BITS.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_size.to_le_bytes());
    h
}

/// One f32 sample → s16: clamp to [-1, 1], scale by 32767, round. NaN becomes 0.
#[inline]
pub fn f32_to_s16(x: f32) -> i16 {
    (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// f32 samples → s16le bytes.
pub fn pcm_s16le(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    pcm_s16le_into(samples, &mut out);
    out
}

/// Like [`pcm_s16le`] but appends to `out`.
pub fn pcm_s16le_into(samples: &[f32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for &x in samples {
        out.extend_from_slice(&f32_to_s16(x).to_le_bytes());
    }
}

/// What a reader learns from a canonical 44-byte header (used by tests and debugging tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    /// `None` for a streaming header.
    pub data_len: Option<u32>,
}

/// Parses the header [`wav_header`] writes; `None` if it is not one.
pub fn parse_wav_header(h: &[u8]) -> Option<WavInfo> {
    let h = h.get(..WAV_HEADER_LEN)?;
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    if &h[0..4] != b"RIFF" || &h[8..12] != b"WAVE" || &h[12..16] != b"fmt " || &h[36..40] != b"data" {
        return None;
    }
    if u32_at(16) != 16 || u16_at(20) != 1 {
        return None;
    }
    let (channels, rate, bits) = (u16_at(22), u32_at(24), u16_at(34));
    if u32_at(28) != rate * channels as u32 * bits as u32 / 8 || u16_at(32) != channels * bits / 8 {
        return None;
    }
    let data = u32_at(40);
    Some(WavInfo {
        sample_rate: rate,
        channels,
        bits_per_sample: bits,
        data_len: (data != UNKNOWN_SIZE).then_some(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = wav_header(24_000, None);
        let info = parse_wav_header(&h).unwrap();
        assert_eq!(info, WavInfo { sample_rate: 24_000, channels: 1, bits_per_sample: 16, data_len: None });
        assert_eq!(&h[4..8], &[0xFF; 4]);
        let h = wav_header(32_000, Some(100));
        assert_eq!(parse_wav_header(&h).unwrap().data_len, Some(200));
        assert_eq!(u32::from_le_bytes([h[4], h[5], h[6], h[7]]), 236);
    }

    #[test]
    fn quantization() {
        let b = pcm_s16le(&[0.0, 1.0, -1.0, 2.0, -2.0, 0.5, f32::NAN, 1.0 / 65534.0]);
        let s: Vec<i16> = b.chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(s, vec![0, 32767, -32767, 32767, -32767, 16384, 0, 1]);
    }
}
