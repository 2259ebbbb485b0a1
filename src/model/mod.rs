//! Model definitions independent of where they run: weight structs loaded by name (with
//! architecture numbers inferred from tensor shapes), and one backend trait per inference
//! stage. The CPU reference (`crate::cpu`) implements every trait; the CUDA backend (`crate::cuda`)
//! plugs in behind the same traits without touching callers.
//!
//! Stages (research/upstream-v2.md §0):
//! * [`TextToSemantic`]: the GPT prior: prefill, batched KV-cache decode step, sampler;
//! * [`SemanticToAudio`]: the acoustic stage (SoVITS decoder + HiFi-GAN) — per-voice conditioning,
//!   streams that keep the chunk plan's state, and batched steps over many sessions' chunks;
//! * [`Hubert`]: chinese-hubert-base, 16 kHz audio → SSL features;
//! * [`Bert`]: chinese-roberta-wwm-ext-large, token ids → `hidden_states[-3]`;
//! * [`speaker`]: ERes2NetV2, the v2Pro speaker-verification net (fbank → 20480-wide embedding).

pub mod acoustic;
pub mod acoustic_graph;
pub mod bert;
pub mod bert_tokenizer;
pub mod chunk;
pub mod hf_config;
pub mod hubert;
pub mod layers;
pub mod rng;
pub mod sampling;
pub mod sovits;
pub mod speaker;
pub mod t2s;
pub mod weights;

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::tensor::Tensor;

pub use acoustic::SemanticToAudio;
pub use weights::Weights;

/// Errors from building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{file}: tensor {name} is missing")]
    MissingTensor { file: PathBuf, name: String },
    #[error("{file}: tensor {name} has shape {got:?}, expected {expected:?}")]
    ShapeMismatch { file: PathBuf, name: String, expected: Vec<usize>, got: Vec<usize> },
    #[error("{file}: tensor {name} holds a NaN or infinite value at element {index}; the checkpoint is damaged")]
    NonFinite { file: PathBuf, name: String, index: usize },
    #[error("{file}: cannot infer the architecture: {reason}")]
    Architecture { file: PathBuf, reason: String },
    #[error("models do not fit together: {0}")]
    Incompatible(String),
    #[error("invalid input: {0}")]
    Input(String),
    /// The GPU failed or is out of a resource (memory, KV slots); the request may succeed on
    /// the CPU backend or later.
    #[error("GPU: {0}")]
    Device(String),
}

impl ModelError {
    /// The error's code on the wire (docs/PROTOCOL.md); the one mapping every layer uses.
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            ModelError::Checkpoint(e) => ErrorCode::of_checkpoint(e),
            ModelError::Incompatible(_) => ErrorCode::IncompatibleModels,
            ModelError::Input(_) => ErrorCode::BadInput,
            ModelError::Device(_) => ErrorCode::DeviceError,
            ModelError::MissingTensor { .. }
            | ModelError::ShapeMismatch { .. }
            | ModelError::NonFinite { .. }
            | ModelError::Architecture { .. } => ErrorCode::BadCheckpoint,
        }
    }
}

/// Everything the GPT prior needs for one utterance (research/upstream-v2.md §4.3).
#[derive(Debug, Clone)]
pub struct T2sPrompt {
    /// Phone ids of the prompt (reference) text followed by the target text.
    pub phone_ids: Vec<u32>,
    /// BERT features aligned with `phone_ids`, `[1024, N]` (zeros for non-Chinese phones).
    pub bert: Tensor,
    /// Semantic tokens of the reference clip (empty in reference-free mode).
    pub prompt_tokens: Vec<u32>,
}

/// The GPT prior as the engine drives it: a prefill, then batched steps, each choosing the next
/// token of every session with its [`t2s::Decoder`] (upstream's sampler and stop rules). Where
/// the sampler runs (the host for the CPU, the device for the GPU, where only token ids leave
/// it) is the backend's business. `Session` holds one utterance's KV cache and positions.
pub trait TextToSemantic: Send + Sync {
    type Session: Send;

    fn config(&self) -> &t2s::T2sConfig;

    /// Runs `[text | prompt tokens]` through every layer with upstream's mask, keeps the KV cache,
    /// and returns the session with the first token `decoder` chose (`None`: decoding stopped).
    fn prefill(
        &self,
        prompt: &T2sPrompt,
        decoder: &mut t2s::Decoder,
    ) -> Result<(Self::Session, Option<u32>), ModelError>;

    /// Feeds `tokens[i]` to `sessions[i]` (all in one batched pass) and returns each session's
    /// next token chosen by `decoders[i]`. The outer error fails the whole step; an inner one
    /// only its session.
    #[allow(clippy::type_complexity)]
    fn step(
        &self,
        sessions: &mut [&mut Self::Session],
        tokens: &[u32],
        decoders: &mut [&mut t2s::Decoder],
    ) -> Result<Vec<Result<Option<u32>, ModelError>>, ModelError>;
}

/// A GPT prior's raw logits, for parity tests and traces ([`t2s::generate_traced`]); the engine
/// never needs them.
pub trait T2sLogits {
    type Session;

    fn config(&self) -> &t2s::T2sConfig;

    /// The prefill of [`TextToSemantic::prefill`], returning the logits `[vocab]` of the last
    /// position instead of a token.
    fn prefill_logits(&self, prompt: &T2sPrompt) -> Result<(Self::Session, Vec<f32>), ModelError>;

    /// The step of [`TextToSemantic::step`], returning each session's logits.
    fn step_logits(&self, sessions: &mut [&mut Self::Session], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError>;
}

/// A backend that samples on the host: it gets [`TextToSemantic`] from its [`T2sLogits`] — the
/// logits of a prefill or step, then each decoder's sampler (the CPU GPT, the schedulers' test
/// fakes). The GPU samples on the device and implements [`TextToSemantic`] itself.
pub trait SamplesOnHost: T2sLogits + Send + Sync {}

impl<M> TextToSemantic for M
where
    M: SamplesOnHost,
    M::Session: Send,
{
    type Session = <M as T2sLogits>::Session;

    fn config(&self) -> &t2s::T2sConfig {
        T2sLogits::config(self)
    }

    fn prefill(
        &self,
        prompt: &T2sPrompt,
        decoder: &mut t2s::Decoder,
    ) -> Result<(Self::Session, Option<u32>), ModelError> {
        let (session, logits) = self.prefill_logits(prompt)?;
        Ok((session, decoder.step(&logits)?.next))
    }

    fn step(
        &self,
        sessions: &mut [&mut Self::Session],
        tokens: &[u32],
        decoders: &mut [&mut t2s::Decoder],
    ) -> Result<Vec<Result<Option<u32>, ModelError>>, ModelError> {
        check_decoders(sessions.len(), decoders.len())?;
        let logits = self.step_logits(sessions, tokens)?;
        Ok(logits.iter().zip(decoders).map(|(l, d)| d.step(l).map(|s| s.next)).collect())
    }
}

/// A batched step needs one decoder per session.
pub fn check_decoders(sessions: usize, decoders: usize) -> Result<(), ModelError> {
    if sessions == decoders {
        return Ok(());
    }
    Err(ModelError::Input(format!("{sessions} sessions but {decoders} decoders")))
}

/// Prior noise for the SoVITS decoder (research/upstream-v2.md §5.2 step 4).
#[derive(Debug, Clone)]
pub enum PriorNoise {
    /// Draw N(0,1) from the counter-based generator with this seed. ε of channel `c` at latent
    /// frame `f` depends only on `(seed, c, first_frame + f)`, so a streamed chunk that starts at
    /// frame `first_frame` of its utterance draws the same noise as the whole-utterance decode.
    Seeded { seed: u64, first_frame: usize },
    /// Use exactly this `[192, frames]` tensor (tests inject upstream's draw).
    Given(Tensor),
}

/// Per-request decode settings.
#[derive(Debug, Clone)]
pub struct DecodeParams {
    /// Latent-space speed factor (>0; 1 = unchanged).
    pub speed: f32,
    /// Multiplier of the prior std (upstream 0.5).
    pub noise_scale: f32,
    pub noise: PriorNoise,
}

/// chinese-hubert-base: 16 kHz waveform → `last_hidden_state` `[T, hidden]`.
pub trait Hubert: Send + Sync {
    fn forward(&self, wav16k: &[f32]) -> Result<Tensor, ModelError>;
}

/// chinese-roberta-wwm-ext-large: token ids (with `[CLS]`/`[SEP]`) → `hidden_states[-3]` `[n_tok, hidden]`.
pub trait Bert: Send + Sync {
    fn hidden_states_sel(&self, input_ids: &[u32]) -> Result<Tensor, ModelError>;
}
