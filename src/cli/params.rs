//! The request parameters as command-line flags, shared by `synth`, `say` and `voice add`: the
//! same names, ranges and checks as every server route (`engine::params`, docs/PROTOCOL.md).

use serde_json::{Map, Value};
use sovits_rt::engine::RequestParams;

/// `--top-k` … `--max-tokens`; a flag left out keeps the value underneath (upstream's default,
/// or the voice's own default for `say`).
#[derive(clap::Args, serde::Serialize, Debug, Clone, Default)]
pub struct RequestParamArgs {
    /// Top-k sampling: 1–1024, 0 = every token (default 15).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    /// Nucleus sampling: (0, 1] (default 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    /// Sampling temperature: (0, 2] (default 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    /// Repetition penalty: [1, 2] (default 1.35).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    repetition_penalty: Option<f32>,
    /// Speaking rate, like upstream's speed_factor: [0.25, 4] (default 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    speed: Option<f32>,
    /// Random seed; the same seed gives the same audio (default: a fresh one, printed).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    /// Prior noise scale of the SoVITS decoder: [0, 1] (default 0.5).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    noise_scale: Option<f32>,
    /// Stop a sentence after this many semantic tokens (25 per second of audio): 1–1500.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<usize>,
}

impl RequestParamArgs {
    /// The flags given, by parameter name (what a session request carries): the fields are
    /// named as the parameters, and flags left out are skipped.
    pub fn overrides(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// `base` with the flags given on top, checked with the server's rules.
    pub fn apply(&self, base: &RequestParams) -> anyhow::Result<RequestParams> {
        sovits_rt::engine::merge_params(base, &self.overrides()).map_err(|e| anyhow::anyhow!("invalid option: {e}"))
    }
}
