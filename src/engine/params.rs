//! Per-request settings as clients send them (WebSocket `start`, `/tts`, `/v1/audio/speech`,
//! `say`), checked once here so every front-end accepts and rejects the same values.

use serde::{Deserialize, Serialize};

use crate::model::sampling::SamplingParams;
use crate::pipeline::SynthParams;

/// Sampling and decoding settings of one request; defaults are upstream api_v2's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestParams {
    /// 1–1024; 0 keeps every token (no top-k).
    pub top_k: usize,
    pub top_p: f32,
    pub temperature: f32,
    pub repetition_penalty: f32,
    pub speed: f32,
    /// `None`: a fresh seed per request.
    pub seed: Option<u64>,
    pub noise_scale: f32,
    /// Most semantic tokens per sentence (25 per second of audio; upstream's `early_stop_num`).
    /// `None`: upstream's cap of 1500 decode steps.
    pub max_tokens: Option<usize>,
}

impl Default for RequestParams {
    fn default() -> Self {
        let s = SamplingParams::default();
        RequestParams {
            top_k: s.top_k,
            top_p: s.top_p,
            temperature: s.temperature,
            repetition_penalty: s.repetition_penalty,
            speed: 1.0,
            seed: None,
            noise_scale: 0.5,
            max_tokens: None,
        }
    }
}

/// Every parameter a request may set, with what it accepts: the one list the routes, the CLI and
/// docs/PROTOCOL.md's table follow (a test keeps the table in step).
pub const PARAMETERS: [(&str, &str); 8] = [
    ("top_k", "an integer from 0 (every token) to 1024"),
    ("top_p", "a number in (0, 1]"),
    ("temperature", "a number in (0, 2]"),
    ("repetition_penalty", "a number in [1, 2]"),
    ("speed", "a number in [0.25, 4]"),
    ("seed", "an integer from 0 to 9223372036854775807, or null for a fresh seed"),
    ("noise_scale", "a number in [0, 1]"),
    ("max_tokens", "an integer from 1 to 1500 (25 per second of audio), or null for upstream's cap"),
];

/// What `name` accepts, for error messages.
pub fn expected(name: &str) -> Option<&'static str> {
    PARAMETERS.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

/// Largest seed accepted (JSON clients and upstream use signed 64-bit integers).
pub const MAX_SEED: u64 = i64::MAX as u64;

impl RequestParams {
    /// Checks every value against its documented range (docs/PROTOCOL.md).
    pub fn validate(&self) -> Result<(), String> {
        fn check(name: &str, value: f32, ok: bool, range: &str) -> Result<(), String> {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(format!("{name} = {value} is out of range: use {range}"))
            }
        }
        if self.top_k > 1024 {
            return Err(format!("top_k = {} is out of range: use 0 (all tokens) to 1024", self.top_k));
        }
        check("top_p", self.top_p, self.top_p > 0.0 && self.top_p <= 1.0, "a value in (0, 1]")?;
        check("temperature", self.temperature, self.temperature > 0.0 && self.temperature <= 2.0, "a value in (0, 2]")?;
        let p = self.repetition_penalty;
        check("repetition_penalty", p, (1.0..=2.0).contains(&p), "a value in [1, 2]")?;
        check("speed", self.speed, (0.25..=4.0).contains(&self.speed), "a value in [0.25, 4]")?;
        check("noise_scale", self.noise_scale, (0.0..=1.0).contains(&self.noise_scale), "a value in [0, 1]")?;
        if let Some(n) = self.max_tokens {
            if !(1..=1500).contains(&n) {
                return Err(format!("max_tokens = {n} is out of range: use 1 to 1500"));
            }
        }
        if let Some(seed) = self.seed {
            if seed > MAX_SEED {
                return Err(format!("seed = {seed} is out of range: use 0 to {MAX_SEED}"));
            }
        }
        Ok(())
    }

    /// The engine's settings, with `vocab` (the GPT's audio vocabulary) standing in for top_k 0.
    pub fn synth_params(&self, vocab: usize) -> SynthParams {
        let top_k = if self.top_k == 0 { vocab } else { self.top_k };
        SynthParams {
            sampling: SamplingParams {
                top_k,
                top_p: self.top_p,
                temperature: self.temperature,
                repetition_penalty: self.repetition_penalty,
            },
            speed: self.speed,
            noise_scale: self.noise_scale,
            seed: self.seed.unwrap_or_else(random_seed),
            max_tokens: self.max_tokens,
        }
    }
}

/// A seed for requests that did not give one (time-based; not for cryptography).
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish() & MAX_SEED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_ranges_are_enforced() {
        assert!(RequestParams::default().validate().is_ok());
        let bad = [
            RequestParams { top_k: 5000, ..Default::default() },
            RequestParams { top_p: 0.0, ..Default::default() },
            RequestParams { temperature: f32::NAN, ..Default::default() },
            RequestParams { repetition_penalty: 0.5, ..Default::default() },
            RequestParams { speed: 10.0, ..Default::default() },
            RequestParams { seed: Some(u64::MAX), ..Default::default() },
            RequestParams { max_tokens: Some(0), ..Default::default() },
        ];
        for p in bad {
            let e = p.validate().unwrap_err();
            assert!(e.contains("out of range"), "{e}");
        }
    }

    /// docs/PROTOCOL.md's parameter table lists exactly these parameters with these ranges.
    #[test]
    fn the_protocol_document_lists_every_parameter() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
        let table = doc.split("| parameter | accepts |").nth(1).expect("no parameter table in docs/PROTOCOL.md");
        let rows: Vec<(String, String)> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_string(), cells[2].to_string())
            })
            .collect();
        let ours: Vec<(String, String)> = PARAMETERS.iter().map(|(n, e)| (n.to_string(), e.to_string())).collect();
        assert_eq!(rows, ours);
        // And every parameter is a field of the request (the table is not a wish list).
        let fields = serde_json::to_value(RequestParams::default()).unwrap();
        assert_eq!(fields.as_object().unwrap().len(), PARAMETERS.len());
        assert!(PARAMETERS.iter().all(|(n, _)| fields.get(n).is_some()));
    }

    #[test]
    fn top_k_zero_means_every_token() {
        let p = RequestParams { top_k: 0, seed: Some(3), ..Default::default() }.synth_params(1025);
        assert_eq!((p.sampling.top_k, p.seed), (1025, 3));
        assert!(random_seed() <= MAX_SEED);
    }
}
