//! The GPT prior's token sampler, reproducing upstream `AR/models/utils.py::logits_to_probs`
//! and `multinomial_sample_one_no_sync` (research/upstream-v2.md §4.8):
//!
//! 1. repetition penalty on every distinct previous token (prompt tokens included), in place:
//!    `l < 0 ? l·p : l/p`;
//! 2. top-p, only when `top_p < 1`, on the *un-tempered* logits: sort descending, cumulative
//!    softmax, drop every entry whose cumulative probability exceeds `top_p` (the one that
//!    crosses it too), always keep the best;
//! 3. division by `max(temperature, 1e-5)`;
//! 4. top-k: keep the logits ≥ the k-th largest (ties survive), `k = min(top_k, V)`;
//! 5. softmax; the token is `argmax(p / q)` with `q ~ Exp(1)` per entry (an exponential race,
//!    equivalent to multinomial sampling).
//!
//! Upstream draws `q` from torch's global RNG; we draw it from the counter-based generator
//! ([`crate::model::rng`]) keyed by `(seed, step, vocabulary index)`, so a session's tokens are a
//! function of its seed alone, whatever the batch, the thread count or the backend.

use crate::cpu::ops::softmax_in_place;
use crate::model::rng::{exp1, Purpose};
use crate::model::ModelError;

/// Smallest temperature upstream divides by (`max(temperature, 1e-5)`).
const MIN_TEMPERATURE: f32 = 1e-5;

/// Sampler settings of one request (upstream `top_k`, `top_p`, `temperature`,
/// `repetition_penalty`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Keep the `top_k` largest logits (≥ 1; 1 = greedy).
    pub top_k: usize,
    /// Nucleus mass in (0, 1]; 1 disables top-p.
    pub top_p: f32,
    /// Softmax temperature, > 0.
    pub temperature: f32,
    /// Penalty for tokens already present in the prompt or output, > 0; 1 disables it.
    pub repetition_penalty: f32,
}

impl Default for SamplingParams {
    /// Upstream `TTS.run` / `api_v2` defaults (research/upstream-v2.md §7.4).
    fn default() -> Self {
        SamplingParams { top_k: 15, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.35 }
    }
}

impl SamplingParams {
    /// Rejects settings upstream would misbehave on (NaN, zero or negative values).
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |what: &str, v: String, rule: &str| Err(ModelError::Input(format!("{what} = {v}: must be {rule}")));
        if self.top_k == 0 {
            return bad("top_k", "0".into(), "at least 1 (1 = greedy)");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", self.top_p.to_string(), "in (0, 1] (1 = off)");
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad("temperature", self.temperature.to_string(), "a finite number > 0");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("repetition_penalty", self.repetition_penalty.to_string(), "a finite number > 0 (1 = off)");
        }
        Ok(())
    }
}

/// Upstream's repetition penalty, in place: each distinct id of `previous_tokens` is penalised
/// once (`l < 0 ? l·p : l/p`). Ids must index `logits`.
pub fn apply_repetition_penalty(logits: &mut [f32], previous_tokens: &[u32], penalty: f32) -> Result<(), ModelError> {
    let v = logits.len();
    if let Some(&t) = previous_tokens.iter().find(|&&t| t as usize >= v) {
        return Err(ModelError::Input(format!("previous token {t} is outside the {v} logits")));
    }
    if penalty == 1.0 {
        return Ok(());
    }
    let mut seen = vec![false; v];
    for &t in previous_tokens {
        let t = t as usize;
        if !std::mem::replace(&mut seen[t], true) {
            let l = &mut logits[t];
            *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
        }
    }
    Ok(())
}

/// Steps 2–5 of upstream's sampler on logits that are already penalised: top-p, temperature,
/// top-k, softmax.
pub fn probs_from_penalised(logits: &[f32], params: &SamplingParams) -> Vec<f32> {
    let mut l = logits.to_vec();
    let v = l.len();
    if v == 0 {
        return l;
    }
    if params.top_p < 1.0 {
        // Stable descending order (torch.sort leaves the order of equal logits unspecified).
        let mut order: Vec<usize> = (0..v).collect();
        order.sort_by(|&a, &b| l[b].total_cmp(&l[a]).then(a.cmp(&b)));
        let mut sorted: Vec<f32> = order.iter().map(|&i| l[i]).collect();
        softmax_in_place(&mut sorted);
        // torch's CPU cumsum accumulates f32 in double and rounds each partial sum to f32.
        let mut cum = 0f64;
        for (rank, (&i, &p)) in order.iter().zip(&sorted).enumerate() {
            cum += p as f64;
            if rank > 0 && (cum as f32) > params.top_p {
                l[i] = f32::NEG_INFINITY;
            }
        }
    }
    let t = params.temperature.max(MIN_TEMPERATURE);
    l.iter_mut().for_each(|x| *x /= t);
    let k = params.top_k.clamp(1, v);
    let mut scratch = l.clone();
    let (_, pivot, _) = scratch.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let pivot = *pivot;
    l.iter_mut().filter(|x| **x < pivot).for_each(|x| *x = f32::NEG_INFINITY);
    softmax_in_place(&mut l);
    l
}

/// Upstream `logits_to_probs(logits, previous_tokens, ...)`: the penalty (on a copy), then
/// [`probs_from_penalised`].
pub fn logits_to_probs(
    logits: &[f32],
    previous_tokens: &[u32],
    params: &SamplingParams,
) -> Result<Vec<f32>, ModelError> {
    params.validate()?;
    if logits.is_empty() || logits.iter().any(|x| x.is_nan()) {
        return Err(ModelError::Input(format!("{} logits, some NaN: nothing to sample from", logits.len())));
    }
    let mut l = logits.to_vec();
    apply_repetition_penalty(&mut l, previous_tokens, params.repetition_penalty)?;
    Ok(probs_from_penalised(&l, params))
}

/// Exponential race: `argmax_v p[v] / q[v]` with `q[v] = Exp(1)` drawn from
/// `(seed, Purpose::Sampling, step, v)`. Entries with `p = 0` can never win and draw nothing.
pub fn sample(probs: &[f32], seed: u64, step: u32) -> u32 {
    let mut best = (0u32, f32::NEG_INFINITY);
    for (v, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            let r = p / exp1(seed, Purpose::Sampling, step, v as u32);
            if r > best.1 {
                best = (v as u32, r);
            }
        }
    }
    best.0
}

/// `torch.argmax` of a row: the first index of the largest value.
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(top_k: usize, top_p: f32, temperature: f32, repetition_penalty: f32) -> SamplingParams {
        SamplingParams { top_k, top_p, temperature, repetition_penalty }
    }

    #[test]
    fn penalty_applies_once_per_distinct_token() {
        let mut l = vec![2.0, -2.0, 1.0, 0.0];
        apply_repetition_penalty(&mut l, &[0, 1, 0, 1, 3], 2.0).unwrap();
        assert_eq!(l, vec![1.0, -4.0, 1.0, 0.0]);
        assert!(apply_repetition_penalty(&mut l, &[4], 2.0).is_err());
    }

    #[test]
    fn top_k_keeps_ties_and_top_p_drops_the_crossing_token() {
        let p = probs_from_penalised(&[1.0, 3.0, 3.0, 0.0], &params(1, 1.0, 1.0, 1.0));
        assert_eq!(p, vec![0.0, 0.5, 0.5, 0.0]);
        // softmax(ln 6, ln 3, ln 1) = (0.6, 0.3, 0.1): cumulative 0.6, 0.9, 1.0; with top_p 0.8 the
        // second token crosses 0.8 and is dropped too.
        let l = [6f32.ln(), 3f32.ln(), 0.0];
        let p = probs_from_penalised(&l, &params(3, 0.8, 1.0, 1.0));
        assert_eq!(p, vec![1.0, 0.0, 0.0]);
        let p = probs_from_penalised(&l, &params(3, 0.95, 1.0, 1.0));
        assert!((p[0] - 2.0 / 3.0).abs() < 1e-6 && p[2] == 0.0);
    }

    #[test]
    fn invalid_params_are_input_errors() {
        for bad in [
            params(0, 1.0, 1.0, 1.0),
            params(1, 0.0, 1.0, 1.0),
            params(1, 1.5, 1.0, 1.0),
            params(1, f32::NAN, 1.0, 1.0),
            params(1, 1.0, 0.0, 1.0),
            params(1, 1.0, f32::NAN, 1.0),
            params(1, 1.0, 1.0, -1.0),
            params(1, 1.0, 1.0, f32::INFINITY),
        ] {
            assert!(matches!(bad.validate(), Err(ModelError::Input(_))), "{bad:?}");
        }
        SamplingParams::default().validate().unwrap();
    }

    #[test]
    fn race_follows_the_probabilities() {
        let probs = [0.7, 0.0, 0.3];
        let n = 4000;
        let hits = (0..n).filter(|&s| sample(&probs, s, 0) == 0).count();
        assert!((hits as f32 / n as f32 - 0.7).abs() < 0.03, "{hits}");
        assert!((0..n).all(|s| sample(&probs, s, 1) != 1));
    }
}
