//! Local playback through cpal: the generator thread pushes 32 kHz mono audio, a lock-free ring buffer (ringbuf
//! SPSC) carries it to the audio callback, which duplicates mono into every device channel.
//!
//! Failure policy: a missing sound card, an unknown device name or a stalled device is a typed
//! [`PlaybackError`] listing the devices that do exist. Nothing here blocks without a bound: `push` gives up when the
//! callback has not consumed anything for [`PlayerConfig::stall_timeout`], `finish` when the ring does not drain in
//! its playing time plus that timeout. A server should treat any error as "no local playback" and keep serving.

use crate::audio::stream_resample::{ResampleError, StreamResampler};
use crate::audio::MODEL_RATE;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why local playback is unavailable or failed.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("cannot list audio output devices: {0}")]
    Enumerate(String),
    #[error("no default audio output device (no sound card?); available devices: {}", names(.available))]
    NoDefaultDevice { available: Vec<String> },
    #[error("no audio output device named {name:?}; available devices: {}", names(.available))]
    UnknownDevice { name: String, available: Vec<String> },
    #[error("audio device {device:?} is not usable ({reason}); available devices: {}", names(.available))]
    DeviceUnusable { device: String, reason: String, available: Vec<String> },
    #[error("audio device {device:?} wants sample format {format}, which we do not produce")]
    UnsupportedSampleFormat { device: String, format: String },
    #[error("cannot start playback on {device:?}: {reason}")]
    Start { device: String, reason: String },
    #[error("audio device stopped consuming audio for {secs:.1} s (stalled or disconnected)")]
    Stalled { secs: f32 },
    #[error("playback did not drain within {secs:.1} s")]
    DrainTimeout { secs: f32 },
    #[error("audio stream error: {0}")]
    Stream(String),
    #[error(transparent)]
    Resample(#[from] ResampleError),
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        v.join(", ")
    }
}

/// Device's preferred stream format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub sample_rate: u32,
    pub channels: u16,
    pub sample_format: String,
}

/// One output device as shown to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Backend identifier (ALSA: "default", "null", "hw:CARD=…"): what to pass to [`Player::open`].
    pub name: String,
    /// Human-readable description from the backend.
    pub description: String,
    pub is_default: bool,
    /// `None` when the device cannot be opened right now (e.g. ALSA "default" without a card).
    pub default_config: Option<DeviceConfig>,
}

/// All output devices of the default host.
pub fn list_output_devices() -> Result<Vec<DeviceInfo>, PlaybackError> {
    let host = cpal::default_host();
    let default_id = host.default_output_device().and_then(|d| d.id().ok());
    let devices = host.output_devices().map_err(|e| PlaybackError::Enumerate(e.to_string()))?;
    Ok(devices
        .map(|d| {
            let id = d.id().ok();
            DeviceInfo {
                name: id.as_ref().map(|i| i.id().to_owned()).unwrap_or_default(),
                description: d.description().map(|x| x.name().to_owned()).unwrap_or_default(),
                is_default: id.is_some() && id == default_id,
                default_config: d.default_output_config().ok().map(|c| DeviceConfig {
                    sample_rate: c.sample_rate(),
                    channels: c.channels(),
                    sample_format: c.sample_format().to_string(),
                }),
            }
        })
        .collect())
}

fn available_names() -> Vec<String> {
    list_output_devices().map(|v| v.into_iter().map(|d| d.name).collect()).unwrap_or_default()
}

/// Tuning for [`Player`].
#[derive(Debug, Clone)]
pub struct PlayerConfig {
    /// Audio the ring holds; `push` blocks beyond it. Large enough to absorb generation jitter.
    pub ring_secs: f32,
    /// How long the callback may consume nothing before `push`/`finish` fail.
    pub stall_timeout: Duration,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        Self { ring_secs: 2.0, stall_timeout: Duration::from_secs(2) }
    }
}

/// State shared with the audio callback (atomics only, so the callback never locks except to report an error).
#[derive(Default)]
struct Shared {
    /// Mono frames the callback has taken from the ring.
    consumed: AtomicU64,
    underruns: AtomicU64,
    /// Set by the callback once audio flowed; cleared when an utterance is fully drained.
    playing: AtomicBool,
    /// Set by `finish`: the ring running dry is expected, not an underrun.
    draining: AtomicBool,
    error: Mutex<Option<String>>,
}

/// An open output stream. `push` 32 kHz mono audio, `finish` after each utterance; reusable across utterances.
pub struct Player {
    _stream: cpal::Stream,
    prod: HeapProd<f32>,
    shared: Arc<Shared>,
    resampler: StreamResampler,
    buf: Vec<f32>,
    device: String,
    config: DeviceConfig,
    cfg: PlayerConfig,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").field("device", &self.device).field("config", &self.config).finish()
    }
}

impl Player {
    /// Opens `device_name` (see [`DeviceInfo::name`]; the description also matches), or the default device.
    pub fn open(device_name: Option<&str>) -> Result<Self, PlaybackError> {
        Self::open_with(device_name, PlayerConfig::default())
    }

    pub fn open_with(device_name: Option<&str>, cfg: PlayerConfig) -> Result<Self, PlaybackError> {
        let host = cpal::default_host();
        let device = match device_name {
            None => host
                .default_output_device()
                .ok_or_else(|| PlaybackError::NoDefaultDevice { available: available_names() })?,
            Some(want) => find_device(&host, want)?,
        };
        let label = device
            .id()
            .map(|i| i.id().to_owned())
            .or_else(|_| device.description().map(|d| d.name().to_owned()))
            .unwrap_or_else(|_| device_name.unwrap_or("default").to_owned());
        let supported = device.default_output_config().map_err(|e| PlaybackError::DeviceUnusable {
            device: label.clone(),
            reason: e.to_string(),
            available: available_names(),
        })?;
        let stream_cfg = supported.config();
        let config = DeviceConfig {
            sample_rate: stream_cfg.sample_rate,
            channels: stream_cfg.channels,
            sample_format: supported.sample_format().to_string(),
        };
        let ring = ((config.sample_rate as f32 * cfg.ring_secs) as usize).max(4096);
        let (prod, cons) = HeapRb::<f32>::new(ring).split();
        let shared = Arc::new(Shared::default());
        let channels = (config.channels as usize).max(1);
        let start_err = |e: cpal::Error| PlaybackError::Start { device: label.clone(), reason: e.to_string() };
        let stream = match supported.sample_format() {
            SampleFormat::F32 => build::<f32>(&device, &stream_cfg, cons, shared.clone(), channels),
            SampleFormat::F64 => build::<f64>(&device, &stream_cfg, cons, shared.clone(), channels),
            SampleFormat::I16 => build::<i16>(&device, &stream_cfg, cons, shared.clone(), channels),
            SampleFormat::I32 => build::<i32>(&device, &stream_cfg, cons, shared.clone(), channels),
            SampleFormat::U16 => build::<u16>(&device, &stream_cfg, cons, shared.clone(), channels),
            SampleFormat::U8 => build::<u8>(&device, &stream_cfg, cons, shared.clone(), channels),
            other => {
                return Err(PlaybackError::UnsupportedSampleFormat { device: label, format: other.to_string() });
            }
        }
        .map_err(start_err)?;
        stream.play().map_err(start_err)?;
        Ok(Self {
            _stream: stream,
            prod,
            shared,
            resampler: StreamResampler::new(MODEL_RATE, config.sample_rate)?,
            buf: Vec::new(),
            device: label,
            config,
            cfg,
        })
    }

    pub fn device_name(&self) -> &str {
        &self.device
    }

    pub fn device_config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Times the callback ran out of audio while an utterance was playing (audible gaps).
    pub fn underruns(&self) -> u64 {
        self.shared.underruns.load(Ordering::Relaxed)
    }

    /// Mono frames (at the device rate) played so far.
    pub fn frames_played(&self) -> u64 {
        self.shared.consumed.load(Ordering::Relaxed)
    }

    /// Queues 32 kHz mono audio, blocking while the ring is full; fails if the device stalls.
    pub fn push(&mut self, pcm: &[f32]) -> Result<(), PlaybackError> {
        self.check_stream()?;
        self.shared.draining.store(false, Ordering::Relaxed);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let res = self.resampler.push_into(pcm, &mut buf).map_err(PlaybackError::from).and_then(|_| self.enqueue(&buf));
        self.buf = buf;
        res
    }

    /// Queues the resampler tail and waits (bounded) until everything was handed to the device.
    pub fn finish(&mut self) -> Result<(), PlaybackError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let res = self.resampler.finish_into(&mut buf).map_err(PlaybackError::from).and_then(|_| self.enqueue(&buf));
        self.buf = buf;
        res?;
        self.shared.draining.store(true, Ordering::Relaxed);
        let queued = self.prod.occupied_len() as f32 / self.config.sample_rate as f32;
        let deadline = Instant::now() + Duration::from_secs_f32(queued) + self.cfg.stall_timeout;
        let mut watch = StallWatch::new(&self.shared, self.cfg.stall_timeout);
        while self.prod.occupied_len() > 0 {
            self.check_stream()?;
            watch.check(&self.shared)?;
            if Instant::now() > deadline {
                return Err(PlaybackError::DrainTimeout { secs: queued + self.cfg.stall_timeout.as_secs_f32() });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.shared.playing.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn enqueue(&mut self, mut samples: &[f32]) -> Result<(), PlaybackError> {
        let mut watch = StallWatch::new(&self.shared, self.cfg.stall_timeout);
        loop {
            let n = self.prod.push_slice(samples);
            samples = &samples[n..];
            if samples.is_empty() {
                return Ok(());
            }
            self.check_stream()?;
            watch.check(&self.shared)?;
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn check_stream(&self) -> Result<(), PlaybackError> {
        match self.shared.error.lock() {
            Ok(e) => e.as_ref().map_or(Ok(()), |m| Err(PlaybackError::Stream(m.clone()))),
            Err(_) => Err(PlaybackError::Stream("audio error state poisoned".into())),
        }
    }
}

/// Detects a callback that stopped consuming.
struct StallWatch {
    last: u64,
    since: Instant,
    timeout: Duration,
}

impl StallWatch {
    fn new(shared: &Shared, timeout: Duration) -> Self {
        Self { last: shared.consumed.load(Ordering::Relaxed), since: Instant::now(), timeout }
    }

    fn check(&mut self, shared: &Shared) -> Result<(), PlaybackError> {
        let now = shared.consumed.load(Ordering::Relaxed);
        if now != self.last {
            self.last = now;
            self.since = Instant::now();
        } else if self.since.elapsed() > self.timeout {
            return Err(PlaybackError::Stalled { secs: self.since.elapsed().as_secs_f32() });
        }
        Ok(())
    }
}

fn find_device(host: &cpal::Host, want: &str) -> Result<cpal::Device, PlaybackError> {
    let devices = host.output_devices().map_err(|e| PlaybackError::Enumerate(e.to_string()))?;
    for d in devices {
        let id = d.id().ok();
        let short = id.as_ref().map(|i| i.id() == want).unwrap_or(false);
        let full = id.as_ref().map(|i| i.to_string() == want).unwrap_or(false);
        let desc = d.description().map(|x| x.name().eq_ignore_ascii_case(want)).unwrap_or(false);
        if short || full || desc {
            return Ok(d);
        }
    }
    Err(PlaybackError::UnknownDevice { name: want.to_owned(), available: available_names() })
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut cons: HeapCons<f32>,
    shared: Arc<Shared>,
    channels: usize,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let err_shared = shared.clone();
    let mut tmp = [0f32; 512];
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], _| {
            let frames = data.len() / channels;
            let mut done = 0;
            while done < frames {
                let want = (frames - done).min(tmp.len());
                let got = cons.pop_slice(&mut tmp[..want]);
                for (k, &v) in tmp[..got].iter().enumerate() {
                    let s = T::from_sample(v);
                    let base = (done + k) * channels;
                    data[base..base + channels].fill(s);
                }
                done += got;
                if got < want {
                    break;
                }
            }
            data[done * channels..].fill(T::EQUILIBRIUM);
            if done > 0 {
                shared.consumed.fetch_add(done as u64, Ordering::Relaxed);
                shared.playing.store(true, Ordering::Relaxed);
            }
            if done < frames && shared.playing.load(Ordering::Relaxed) && !shared.draining.load(Ordering::Relaxed) {
                shared.underruns.fetch_add(1, Ordering::Relaxed);
            }
        },
        move |e| {
            if let Ok(mut slot) = err_shared.error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        },
        Some(Duration::from_secs(2)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_devices_without_panicking() {
        let devs = list_output_devices().unwrap();
        for d in &devs {
            println!("{} | {} | default={} | {:?}", d.name, d.description, d.is_default, d.default_config);
        }
    }

    #[test]
    fn unknown_device_lists_names() {
        let err = Player::open(Some("no-such-device-xyz")).unwrap_err();
        let msg = err.to_string();
        println!("{msg}");
        match err {
            PlaybackError::UnknownDevice { name, available } => {
                assert_eq!(name, "no-such-device-xyz");
                let listed = list_output_devices().unwrap();
                assert_eq!(available.len(), listed.len());
                for d in listed {
                    assert!(msg.contains(&d.name));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn default_device_fails_cleanly_or_works() {
        // On a machine without a sound card this is an error naming the devices; with one it opens.
        match Player::open(None) {
            Ok(p) => println!("default device opened: {p:?}"),
            Err(e) => {
                println!("{e}");
                assert!(e.to_string().contains("available devices"));
            }
        }
    }

    #[test]
    fn null_device_opens_and_runs() {
        if !list_output_devices().unwrap().iter().any(|d| d.name == "null") {
            println!("skipped: no ALSA null device");
            return;
        }
        let mut p = Player::open(Some("null")).unwrap();
        let tone: Vec<f32> = (0..32_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        for c in tone.chunks(3_333) {
            p.push(c).unwrap();
        }
        p.finish().unwrap();
        let rate = p.device_config().sample_rate as u64;
        // The null device is not clocked: it may consume padding beyond our audio, but at least all of it.
        assert!(p.frames_played() >= rate, "played {} of {rate}", p.frames_played());
        println!("null device: {:?}, underruns {}", p.device_config(), p.underruns());
        // Reusable for a second utterance.
        p.push(&tone[..8000]).unwrap();
        p.finish().unwrap();
    }
}
