//! End-to-end checks of the audio output layer: every format is decoded back by an independent reader.
//! Run with `--nocapture` to see the measured numbers (SNR, errors).

use sovits_rt::audio::encoder::{AudioStreamEncoder, EncodedChunk, OutputFormat, OutputRate};
use sovits_rt::audio::opus_stream::{OpusPacketizer, FRAME_SAMPLES, PRE_SKIP};
use sovits_rt::audio::stream_resample::StreamResampler;
use sovits_rt::audio::wav_stream::{f32_to_s16, parse_wav_header};
use sovits_rt::model::acoustic::snr_db;
use std::f64::consts::PI;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Speech-like test signal at `rate`: a 100 Hz → 4 kHz sine sweep with an amplitude envelope, interrupted by
/// 150 ms noise bursts every 600 ms (fricative-like) and 100 ms pauses.
fn test_signal(rate: u32, secs: f64) -> Vec<f32> {
    let n = (rate as f64 * secs) as usize;
    let mut seed = 0x1234_5678u64;
    let (f0, f1) = (100.0f64, 4000.0f64);
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let f = f0 * (f1 / f0).powf(t / secs);
            phase += 2.0 * PI * f / rate as f64;
            let cyc = t % 0.6;
            let noise = ((xorshift(&mut seed) % 20_001) as f64 / 10_000.0 - 1.0) * 0.15;
            let env = 0.5 + 0.4 * (2.0 * PI * 3.0 * t).sin();
            let v = if cyc < 0.1 {
                0.0
            } else if cyc < 0.25 {
                noise
            } else {
                0.4 * env * phase.sin()
            };
            v as f32
        })
        .collect()
}

fn resample_all(x: &[f32], from: u32, to: u32, piece: usize) -> Vec<f32> {
    let mut rs = StreamResampler::new(from, to).unwrap();
    let mut y = Vec::new();
    for c in x.chunks(piece) {
        y.extend(rs.push(c).unwrap());
    }
    y.extend(rs.finish().unwrap());
    y
}

fn encode_all(format: OutputFormat, rate: OutputRate, x: &[f32], piece: usize) -> Vec<EncodedChunk> {
    let mut e = AudioStreamEncoder::new(format, rate).unwrap();
    let mut out: Vec<EncodedChunk> = x.chunks(piece).map(|c| e.push(c).unwrap()).collect();
    out.push(e.finish().unwrap());
    out
}

fn concat(chunks: &[EncodedChunk]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.frames.iter().flatten().copied()).collect()
}

/// Samples of the tonal (sweep) parts of [`test_signal`]: 0.27..0.58 s of every 0.6 s cycle.
fn tonal(x: &[f32], rate: u32) -> Vec<f32> {
    x.iter()
        .enumerate()
        .filter(|(i, _)| (0.27..0.58).contains(&((*i as f64 / rate as f64) % 0.6)))
        .map(|(_, &v)| v)
        .collect()
}

#[test]
fn resampler_round_trip() {
    let x = test_signal(32_000, 2.0);
    let up = resample_all(&x, 32_000, 48_000, 777);
    let back = resample_all(&up, 48_000, 32_000, 1234);
    assert_eq!(up.len(), 96_000);
    assert_eq!(back.len(), x.len());
    let snr_all = snr_db(&x, &back);
    // White noise bursts reach 16 kHz, above the anti-aliasing cutoff; judge the round trip on the sweep parts.
    let snr = snr_db(&tonal(&x, 32_000), &tonal(&back, 32_000));
    let max = tonal(&x, 32_000).iter().zip(&tonal(&back, 32_000)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let back24 = resample_all(&resample_all(&x, 32_000, 24_000, 500), 24_000, 32_000, 500);
    let snr24 = snr_db(&tonal(&x, 32_000), &tonal(&back24, 32_000));
    println!(
        "resampler 32k→48k→32k: sweep SNR {snr:.1} dB (max |err| {max:.1e}), whole signal incl. 16 kHz noise \
         {snr_all:.1} dB; 32k→24k→32k sweep SNR {snr24:.1} dB"
    );
    assert!(snr > 60.0, "round-trip SNR {snr:.1} dB");
    assert!(snr24 > 60.0, "24 kHz round-trip SNR {snr24:.1} dB");
}

/// Fraction of a sine's amplitude that survives 32k→48k (measures where the anti-aliasing filter cuts).
#[test]
fn resampler_passband() {
    let mut report = String::new();
    for f in [4000.0, 8000.0, 12_000.0, 14_000.0, 15_000.0, 15_500.0] {
        let x: Vec<f32> = (0..32_000).map(|i| (2.0 * PI * f * i as f64 / 32_000.0).sin() as f32).collect();
        let y = resample_all(&x, 32_000, 48_000, 640);
        let rms = |v: &[f32]| (v.iter().map(|&a| (a as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let gain = rms(&y[4800..43_200]) / rms(&x[3200..28_800]);
        report += &format!(" {:.1}k:{:.3}", f / 1000.0, gain);
        if f <= 12_000.0 {
            assert!((gain - 1.0).abs() < 0.01, "{f} Hz gain {gain}");
        }
    }
    println!("resampler 32k→48k amplitude gain by frequency:{report}");
}

#[test]
fn opus_decodes_back_with_good_snr() {
    let x32 = test_signal(32_000, 3.0);
    let x48 = resample_all(&x32, 32_000, 48_000, 1000);
    let mut pk = OpusPacketizer::new(sovits_rt::audio::opus_stream::DEFAULT_BITRATE).unwrap();
    let mut seed = 42u64;
    let mut packets = Vec::new();
    let mut i = 0;
    while i < x48.len() {
        let end = (i + (xorshift(&mut seed) % 3000) as usize).min(x48.len());
        packets.extend(pk.push(&x48[i..end]).unwrap());
        i = end;
    }
    packets.extend(pk.finish().unwrap());
    assert_eq!(packets.len(), (x48.len() + PRE_SKIP as usize).div_ceil(FRAME_SAMPLES));

    let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let mut y = Vec::new();
    let mut buf = [0f32; 5760];
    for p in &packets {
        let n = dec.decode_float(p, &mut buf, false).unwrap();
        assert_eq!(n, FRAME_SAMPLES);
        y.extend_from_slice(&buf[..n]);
    }
    let y = &y[PRE_SKIP as usize..];
    assert!(y.len() >= x48.len());
    let y = &y[..x48.len()];
    let bytes: usize = packets.iter().map(Vec::len).sum();
    let kbps = bytes as f64 * 8.0 / (x48.len() as f64 / 48_000.0) / 1000.0;
    let total = snr_db(&x48, y);
    let tonal = snr_db(&tonal(&x48, 48_000), &tonal(y, 48_000));
    println!("opus @32 kbit/s: {kbps:.1} kbit/s actual, SNR total {total:.1} dB, tonal parts {tonal:.1} dB");
    // Measured 10.2 / 28.9 dB. Opus codes noise by band energy, not waveform, so the noise bursts pull the
    // total SNR down; the tonal parts show waveform fidelity.
    assert!(total > 7.0, "total SNR {total:.1} dB");
    assert!(tonal > 22.0, "tonal SNR {tonal:.1} dB");
}

#[test]
fn ogg_opus_stream_is_valid() {
    use ogg::PacketReader;
    let x = test_signal(32_000, 1.5);
    let chunks = encode_all(OutputFormat::OggOpus, OutputRate::default(), &x, 5000);
    let bytes = concat(&chunks);
    if let Ok(dir) = std::env::var("AUDIODEV_DUMP") {
        std::fs::write(format!("{dir}/test.opus"), &bytes).unwrap();
    }
    let mut r = PacketReader::new(std::io::Cursor::new(bytes));
    let head = r.read_packet_expected().unwrap();
    assert_eq!(&head.data[..8], b"OpusHead");
    assert_eq!(head.data[9], 1, "mono");
    assert_eq!(u16::from_le_bytes([head.data[10], head.data[11]]), PRE_SKIP);
    assert_eq!(u32::from_le_bytes([head.data[12], head.data[13], head.data[14], head.data[15]]), 32_000);
    assert!(head.first_in_stream() && head.last_in_page() && head.absgp_page() == 0);
    let tags = r.read_packet_expected().unwrap();
    assert_eq!(&tags.data[..8], b"OpusTags");
    assert_eq!(&tags.data[12..21], b"sovits-rt");
    assert!(tags.last_in_page() && tags.absgp_page() == 0);
    let serial = head.stream_serial();
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let (mut n_packets, mut last_gp, mut decoded) = (0u64, 0u64, 0u64);
    let mut eos = false;
    let mut buf = [0f32; 5760];
    while let Some(p) = r.read_packet().unwrap() {
        assert!(!eos, "packet after EOS");
        assert_eq!(p.stream_serial(), serial);
        n_packets += 1;
        decoded += dec.decode_float(&p.data, &mut buf, false).unwrap() as u64;
        if p.last_in_page() {
            let gp = p.absgp_page();
            assert!(gp > last_gp, "granules must increase");
            if !p.last_in_stream() {
                assert_eq!(gp, decoded, "granule = samples decoded so far");
            }
            last_gp = gp;
        }
        eos = p.last_in_stream();
    }
    assert!(eos, "stream must end with an EOS page");
    let real = (x.len() as u64 * 3).div_ceil(2);
    assert_eq!(last_gp, PRE_SKIP as u64 + real, "EOS granule trims padding");
    assert_eq!(n_packets, (real + PRE_SKIP as u64).div_ceil(960));
}

#[test]
fn wav_round_trip() {
    let x = test_signal(32_000, 1.0);
    for rate in [OutputRate::Hz24000, OutputRate::Hz32000, OutputRate::Hz48000] {
        let chunks = encode_all(OutputFormat::Wav, rate, &x, 2222);
        let bytes = concat(&chunks);
        let info = parse_wav_header(&bytes).unwrap();
        assert_eq!((info.sample_rate, info.channels, info.bits_per_sample, info.data_len), (rate.hz(), 1, 16, None));
        let pcm: Vec<i16> = bytes[44..].chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        let want: Vec<i16> = resample_all(&x, 32_000, rate.hz(), 999).iter().map(|&v| f32_to_s16(v)).collect();
        assert_eq!(pcm, want, "{rate:?}");
        // The PCM format is the same samples without the header.
        let raw = concat(&encode_all(OutputFormat::Pcm, rate, &x, 3333));
        assert_eq!(raw, bytes[44..]);
    }
}

#[test]
fn flac_round_trip() {
    let x = test_signal(32_000, 1.0);
    for rate in [OutputRate::Hz24000, OutputRate::Hz32000] {
        let bytes = concat(&encode_all(OutputFormat::Flac, rate, &x, 3000));
        if let Ok(dir) = std::env::var("AUDIODEV_DUMP") {
            std::fs::write(format!("{dir}/test_{}.flac", rate.hz()), &bytes).unwrap();
        }
        let mut r = claxon::FlacReader::new(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(r.streaminfo().sample_rate, rate.hz());
        assert_eq!(r.streaminfo().channels, 1);
        let got: Vec<i32> = r.samples().map(|s| s.unwrap()).collect();
        let raw = concat(&encode_all(OutputFormat::Pcm, rate, &x, 3000));
        let want: Vec<i32> = raw.chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i32).collect();
        assert_eq!(got, want, "{rate:?}");
        println!(
            "flac {} Hz: {} bytes for {} samples ({:.2} of s16)",
            rate.hz(),
            bytes.len(),
            got.len(),
            bytes.len() as f64 / (got.len() * 2) as f64
        );
    }
}

#[test]
fn mouth_levels_follow_loudness() {
    // 0.5 s silence, 0.5 s loud tone, 0.5 s silence.
    let mut x = vec![0.0f32; 16_000];
    x.extend((0..16_000).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 32_000.0).sin()));
    x.extend(vec![0.0f32; 16_000]);
    let chunks = encode_all(OutputFormat::Opus, OutputRate::default(), &x, 1700);
    let levels: Vec<f32> = chunks.iter().flat_map(|c| c.mouth.iter().copied()).collect();
    let packets: usize = chunks.iter().map(|c| c.frames.len()).sum();
    assert_eq!(levels.len(), packets);
    assert!(levels[..20].iter().all(|&l| l == 0.0), "{:?}", &levels[..25]);
    assert!(levels[28..48].iter().all(|&l| l > 0.95), "{:?}", &levels[25..50]);
    assert!(levels[55..].iter().all(|&l| l == 0.0), "{:?}", &levels[50..]);
}
