//! Counters the engine keeps for `/metrics` (Prometheus text format): what an autoscaler and an
//! operator need, observed when it happens rather than when a session ends — active sessions,
//! sentences by phase, time to first audio (when the first audio leaves), how far each session's
//! audio runs ahead of its playback and how many fell behind, the time of every stage per step
//! with its batch size, audio produced, errors, and the GPU's memory in use.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::error::ErrorCode;

/// Upper bounds of the time-to-first-audio histogram, in seconds.
const TTFA_BUCKETS: [f64; 10] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0];
/// Upper bounds of the real-time-factor histogram.
const RTF_BUCKETS: [f64; 8] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0];
/// Upper bounds of the per-stage time histograms, in seconds.
const STAGE_BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
/// Upper bounds of the batch-size histograms.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Upper bounds of the audio-ahead-of-playback histogram, in seconds (≤ 0: the client ran dry).
const AHEAD_BUCKETS: [f64; 8] = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0];

/// A timed part of the engine's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// A sentence waiting for the GPT: from when it could start (queued, and its session's previous
    /// sentence decoded) to its prefill.
    QueueWait,
    /// One sentence's GPT prefill.
    GptPrefill,
    /// One batched GPT decode step.
    GptStep,
    /// One batched acoustic step (SoVITS + HiFi-GAN over the chunks due).
    AcousticStep,
    /// Encoding one piece of a session's audio for the wire (Opus, FLAC, …).
    Encode,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::QueueWait => "queue_wait",
            Stage::GptPrefill => "gpt_prefill",
            Stage::GptStep => "gpt_step",
            Stage::AcousticStep => "acoustic_step",
            Stage::Encode => "encode",
        }
    }
}

/// Where a sentence stands (queued sentences are counted by the GPT scheduler's queue).
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Prefilling,
    Decoding,
    Vocoding,
}

/// Reads the GPU memory in use, in bytes.
pub type MemoryProbe = Box<dyn Fn() -> Option<u64> + Send + Sync>;

#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        for (c, &b) in self.counts.iter_mut().zip(self.bounds) {
            if v <= b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.render_series(out, name, "");
    }

    /// The series' lines; `labels` (`stage="x",`) go before `le`.
    fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        for (c, b) in self.counts.iter().zip(self.bounds) {
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {c}");
        }
        let plain = labels.trim_end_matches(',');
        let braces = if plain.is_empty() { String::new() } else { format!("{{{plain}}}") };
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}le=\"+Inf\"}} {}\n{name}_sum{braces} {}\n{name}_count{braces} {}",
            self.count, self.sum, self.count
        );
    }
}

/// Process-wide engine metrics.
pub struct Metrics {
    pub active_sessions: AtomicUsize,
    pub queued_segments: AtomicUsize,
    /// Sentences prefilling, decoding, vocoding.
    phases: [AtomicUsize; 3],
    sessions_total: AtomicU64,
    tokens_total: AtomicU64,
    audio_us_total: AtomicU64,
    fell_behind_total: AtomicU64,
    ttfa: Mutex<Histogram>,
    rtf: Mutex<Histogram>,
    ahead: Mutex<Histogram>,
    stages: Mutex<BTreeMap<Stage, Histogram>>,
    batches: Mutex<BTreeMap<Stage, Histogram>>,
    errors: Mutex<BTreeMap<ErrorCode, u64>>,
    device_memory: Mutex<Option<MemoryProbe>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("active_sessions", &self.active()).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            active_sessions: AtomicUsize::new(0),
            queued_segments: AtomicUsize::new(0),
            phases: Default::default(),
            sessions_total: AtomicU64::new(0),
            tokens_total: AtomicU64::new(0),
            audio_us_total: AtomicU64::new(0),
            fell_behind_total: AtomicU64::new(0),
            ttfa: Mutex::new(Histogram::new(&TTFA_BUCKETS)),
            rtf: Mutex::new(Histogram::new(&RTF_BUCKETS)),
            ahead: Mutex::new(Histogram::new(&AHEAD_BUCKETS)),
            stages: Mutex::default(),
            batches: Mutex::default(),
            errors: Mutex::new(BTreeMap::new()),
            device_memory: Mutex::new(None),
        }
    }
}

impl Metrics {
    pub fn session_started(&self) {
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A session's first audio left for its client `ttfa_ms` after its first text.
    pub fn first_audio(&self, ttfa_ms: f64) {
        self.ttfa.lock().observe(ttfa_ms / 1e3);
    }

    /// A session sent `seconds` of audio; its audio now runs `ahead` seconds ahead of real-time
    /// playback from its first audio. `fell_behind` once per session that ran dry.
    pub fn audio_sent(&self, seconds: f64, ahead: f64, fell_behind: bool) {
        self.audio_us_total.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.ahead.lock().observe(ahead);
        if fell_behind {
            self.fell_behind_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count_tokens(&self, n: usize) {
        self.tokens_total.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A session ended with real-time factor `rtf` (generation time / audio time).
    pub fn session_finished(&self, rtf: Option<f64>) {
        if let Some(r) = rtf {
            self.rtf.lock().observe(r);
        }
    }

    /// One `stage` took `seconds`.
    pub fn observe_stage(&self, stage: Stage, seconds: f64) {
        self.stages.lock().entry(stage).or_insert_with(|| Histogram::new(&STAGE_BUCKETS)).observe(seconds);
    }

    /// One batched `stage` step served `size` items.
    pub fn observe_batch(&self, stage: Stage, size: usize) {
        self.batches.lock().entry(stage).or_insert_with(|| Histogram::new(&BATCH_BUCKETS)).observe(size as f64);
    }

    /// `n` sentences are in `phase` now (for the scheduler that owns the phase).
    pub fn set_phase(&self, phase: Phase, n: usize) {
        self.phases[phase as usize].store(n, Ordering::Relaxed);
    }

    /// Reads the GPU's memory in use at every scrape.
    pub fn set_device_memory_probe(&self, probe: MemoryProbe) {
        *self.device_memory.lock() = Some(probe);
    }

    pub fn error(&self, code: ErrorCode) {
        *self.errors.lock().entry(code).or_insert(0) += 1;
    }

    pub fn active(&self) -> usize {
        self.active_sessions.load(Ordering::SeqCst)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        gauge("sovits_active_sessions", "gauge", "Sessions being served now.", self.active() as u64);
        let queued = self.queued_segments.load(Ordering::Relaxed) as u64;
        gauge("sovits_queued_segments", "gauge", "Sentences waiting for the GPT.", queued);
        let total = self.sessions_total.load(Ordering::Relaxed);
        gauge("sovits_sessions_total", "counter", "Sessions opened.", total);
        gauge(
            "sovits_tokens_total",
            "counter",
            "Semantic tokens generated.",
            self.tokens_total.load(Ordering::Relaxed),
        );
        let audio = self.audio_us_total.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP sovits_audio_seconds_total Audio sent to clients.\n# TYPE sovits_audio_seconds_total counter\nsovits_audio_seconds_total {audio}"
        );
        let _ = writeln!(out, "# HELP sovits_sentences Sentences by phase.\n# TYPE sovits_sentences gauge");
        let _ = writeln!(out, "sovits_sentences{{phase=\"queued\"}} {queued}");
        for (phase, n) in ["prefilling", "decoding", "vocoding"].iter().zip(&self.phases) {
            let _ = writeln!(out, "sovits_sentences{{phase=\"{phase}\"}} {}", n.load(Ordering::Relaxed));
        }
        self.ttfa.lock().render(&mut out, "sovits_ttfa_seconds", "Time from first text to first audio sent.");
        self.rtf.lock().render(&mut out, "sovits_rtf", "Generation time divided by audio duration, per session.");
        self.ahead.lock().render(
            &mut out,
            "sovits_audio_ahead_seconds",
            "At each send, how far a session's audio runs ahead of real-time playback (<= 0: it ran dry).",
        );
        let behind = self.fell_behind_total.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP sovits_sessions_fell_behind_total Sessions whose audio ran dry at least once.\n\
             # TYPE sovits_sessions_fell_behind_total counter\nsovits_sessions_fell_behind_total {behind}"
        );
        for (name, help, map) in [
            ("sovits_stage_seconds", "Time of one step of each stage.", &self.stages),
            ("sovits_batch_size", "Items in one batched step.", &self.batches),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (stage, h) in map.lock().iter() {
                h.render_series(&mut out, name, &format!("stage=\"{}\",", stage.label()));
            }
        }
        if let Some(bytes) = self.device_memory.lock().as_ref().and_then(|probe| probe()) {
            let _ = writeln!(
                out,
                "# HELP sovits_device_memory_bytes GPU memory in use.\n# TYPE sovits_device_memory_bytes gauge\nsovits_device_memory_bytes {bytes}"
            );
        }
        let _ = writeln!(out, "# HELP sovits_errors_total Errors by code.\n# TYPE sovits_errors_total counter");
        for (code, n) in self.errors.lock().iter() {
            let _ = writeln!(out, "sovits_errors_total{{code=\"{code}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.session_started();
        m.first_audio(120.0);
        m.audio_sent(0.5, 0.5, false);
        m.audio_sent(0.5, -0.1, true);
        m.session_finished(Some(0.3));
        m.observe_stage(Stage::GptStep, 0.004);
        m.observe_batch(Stage::GptStep, 3);
        m.set_phase(Phase::Decoding, 2);
        m.error(ErrorCode::Busy);
        let text = m.render();
        for line in [
            "sovits_audio_seconds_total 1",
            "sovits_sessions_fell_behind_total 1",
            "sovits_audio_ahead_seconds_bucket{le=\"0\"} 1",
            "sovits_sentences{phase=\"decoding\"} 2",
            "sovits_stage_seconds_bucket{stage=\"gpt_step\",le=\"0.005\"} 1",
            "sovits_stage_seconds_count{stage=\"gpt_step\"} 1",
            "sovits_batch_size_bucket{stage=\"gpt_step\",le=\"2\"} 0",
            "sovits_batch_size_bucket{stage=\"gpt_step\",le=\"4\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("sovits_device_memory_bytes"), "no probe, no gauge");
        m.set_device_memory_probe(Box::new(|| Some(1 << 30)));
        assert!(m.render().contains("sovits_device_memory_bytes 1073741824"));
        assert!(text.contains("sovits_active_sessions 0"));
        assert!(text.contains("sovits_ttfa_seconds_bucket{le=\"0.2\"} 1"));
        assert!(text.contains("sovits_ttfa_seconds_bucket{le=\"0.1\"} 0"));
        assert!(text.contains("sovits_rtf_count 1"));
        assert!(text.contains("sovits_errors_total{code=\"busy\"} 1"));
    }
}
