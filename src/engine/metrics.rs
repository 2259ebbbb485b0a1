//! Counters the engine keeps for `/metrics` (Prometheus text format): what an autoscaler and an
//! operator need — active sessions, queue depth, time to first audio, real-time factor, errors.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Upper bounds of the time-to-first-audio histogram, in seconds.
const TTFA_BUCKETS: [f64; 10] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0];
/// Upper bounds of the real-time-factor histogram.
const RTF_BUCKETS: [f64; 8] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0];

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
        for (c, b) in self.counts.iter().zip(self.bounds) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            self.count, self.sum, self.count
        );
    }
}

/// Process-wide engine metrics.
#[derive(Debug)]
pub struct Metrics {
    pub active_sessions: AtomicUsize,
    pub queued_segments: AtomicUsize,
    sessions_total: AtomicU64,
    tokens_total: AtomicU64,
    audio_ms_total: AtomicU64,
    ttfa: Mutex<Histogram>,
    rtf: Mutex<Histogram>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            active_sessions: AtomicUsize::new(0),
            queued_segments: AtomicUsize::new(0),
            sessions_total: AtomicU64::new(0),
            tokens_total: AtomicU64::new(0),
            audio_ms_total: AtomicU64::new(0),
            ttfa: Mutex::new(Histogram::new(&TTFA_BUCKETS)),
            rtf: Mutex::new(Histogram::new(&RTF_BUCKETS)),
            errors: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    pub fn session_started(&self) {
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_finished(&self, ttfa_ms: Option<f64>, rtf: Option<f64>, tokens: usize, audio_ms: f64) {
        if let Some(t) = ttfa_ms {
            self.ttfa.lock().observe(t / 1e3);
        }
        if let Some(r) = rtf {
            self.rtf.lock().observe(r);
        }
        self.tokens_total.fetch_add(tokens as u64, Ordering::Relaxed);
        self.audio_ms_total.fetch_add(audio_ms as u64, Ordering::Relaxed);
    }

    pub fn error(&self, code: &'static str) {
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
        let audio = self.audio_ms_total.load(Ordering::Relaxed) as f64 / 1e3;
        let _ = writeln!(
            out,
            "# HELP sovits_audio_seconds_total Audio produced.\n# TYPE sovits_audio_seconds_total counter\nsovits_audio_seconds_total {audio}"
        );
        self.ttfa.lock().render(&mut out, "sovits_ttfa_seconds", "Time from first text to first audio.");
        self.rtf.lock().render(&mut out, "sovits_rtf", "Generation time divided by audio duration, per session.");
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
        m.session_finished(Some(120.0), Some(0.3), 50, 2000.0);
        m.error("busy");
        let text = m.render();
        assert!(text.contains("sovits_active_sessions 0"));
        assert!(text.contains("sovits_ttfa_seconds_bucket{le=\"0.2\"} 1"));
        assert!(text.contains("sovits_ttfa_seconds_bucket{le=\"0.1\"} 0"));
        assert!(text.contains("sovits_rtf_count 1"));
        assert!(text.contains("sovits_errors_total{code=\"busy\"} 1"));
    }
}
