//! Where the models run, chosen once at start (`--device cpu|cuda|auto`), and the stage types
//! that dispatch to the chosen backend behind the stage traits, so the engine and the CLI never
//! name a backend. `auto` takes the GPU when one works and otherwise says why on stderr and
//! uses the CPU; `cuda` without a usable GPU is an error.
//!
//! On the GPU: the GPT prior (with the sampler), BERT, HuBERT and the acoustic stage (SoVITS
//! decoder + HiFi-GAN, batched across sessions). Per voice, the small reference encoder and the
//! prompt-token quantizer run on the CPU on either backend.

use std::sync::Arc;

use crate::cpu::t2s::CpuT2sSession;
use crate::cpu::{CpuBert, CpuHubert, CpuSovits, CpuT2s, StyleColumns};
use crate::cuda::{
    CudaBert, CudaHubert, CudaSovits, CudaSovitsOptions, CudaT2s, CudaT2sOptions, CudaT2sSession, GpuRuntime,
};
use crate::model::acoustic::{BatchResult, Window};
use crate::model::acoustic_graph::PreparedVoice;
use crate::model::bert::{BertConfig, BertWeights};
use crate::model::hubert::HubertWeights;
use crate::model::sovits::{SovitsConfig, SovitsWeights};
use crate::model::t2s::{Decoder, T2sConfig, T2sModel};
use crate::model::{Bert, Hubert, ModelError, SemanticToAudio, T2sPrompt, TextToSemantic};
use crate::tensor::Tensor;

/// Most chunks the GPU acoustic stage decodes in one step.
const MAX_ACOUSTIC_BATCH: usize = 64;

/// The `--device` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Device {
    /// The GPU when one is usable, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// GPT positions per session reserved on the GPU by default: 1,572 for phones and reference
/// tokens plus 1,500 for upstream's longest generation.
pub const DEFAULT_GPT_CONTEXT: usize = 3072;

/// The backend in use: the CPU, or a GPU with its kernels loaded.
#[derive(Clone)]
pub struct Backend {
    gpu: Option<Arc<GpuRuntime>>,
    /// GPT decode slots (sessions decoding at once) to reserve on the GPU.
    gpu_sessions: usize,
    /// Positions each GPT slot reserves (text + reference tokens + generated tokens).
    gpt_context: usize,
    /// `--device auto`: a model that cannot be set up on the GPU runs on the CPU instead.
    fall_back: bool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Backend {
    pub fn cpu() -> Self {
        Backend { gpu: None, gpu_sessions: 0, gpt_context: DEFAULT_GPT_CONTEXT, fall_back: false }
    }

    /// Resolves `device`; `sessions` is how many sessions may decode at once (KV slots).
    pub fn select(device: Device, sessions: usize) -> Result<Self, ModelError> {
        if device == Device::Cpu {
            return Ok(Self::cpu());
        }
        match GpuRuntime::open(0) {
            Ok(rt) => Ok(Backend {
                gpu: Some(rt),
                gpu_sessions: sessions.max(1),
                gpt_context: DEFAULT_GPT_CONTEXT,
                fall_back: device == Device::Auto,
            }),
            Err(e) if device == Device::Auto => {
                tracing::warn!("no usable GPU ({e}); running on the CPU");
                Ok(Self::cpu())
            }
            Err(e) => Err(ModelError::Device(format!("--device cuda: {e}"))),
        }
    }

    /// Reserves `positions` per GPT session on the GPU (`--max-context`): the KV cache is
    /// sessions × positions, so fewer positions serve more sessions in the same memory. Longer
    /// prompts (with room for upstream's 1,500 generated tokens) are refused as `bad_input`.
    pub fn with_gpt_context(mut self, positions: usize) -> Self {
        self.gpt_context = positions;
        self
    }

    /// E.g. `cpu` or `cuda (NVIDIA H100 80GB HBM3, sm_90)`.
    pub fn describe(&self) -> String {
        match &self.gpu {
            None => "cpu".into(),
            Some(rt) => format!("cuda ({}, sm_{}{})", rt.gpu.name, rt.gpu.capability.0, rt.gpu.capability.1),
        }
    }

    /// Reads the GPU's memory in use (total − free, bytes); `None` on the CPU.
    pub fn device_memory_probe(&self) -> Option<Box<dyn Fn() -> Option<u64> + Send + Sync>> {
        let rt = self.gpu.clone()?;
        Some(Box::new(move || rt.memory().ok().map(|(free, total)| total.saturating_sub(free) as u64)))
    }

    /// Builds a model on the GPU, or on the CPU without one; under `--device auto` a model the
    /// GPU cannot take (memory, unsupported shapes) runs on the CPU, saying why.
    fn place<W, T>(
        &self,
        what: &str,
        weights: W,
        gpu: impl FnOnce(Arc<GpuRuntime>, &W) -> Result<T, ModelError>,
        cpu: impl FnOnce(W) -> T,
    ) -> Result<T, ModelError> {
        let Some(rt) = &self.gpu else { return Ok(cpu(weights)) };
        match gpu(rt.clone(), &weights) {
            Ok(model) => Ok(model),
            Err(e) if self.fall_back => {
                tracing::warn!("{what} cannot run on the GPU ({e}); running it on the CPU");
                Ok(cpu(weights))
            }
            Err(e) => Err(e),
        }
    }

    /// The GPT prior on this backend.
    pub fn t2s(&self, model: T2sModel) -> Result<AnyT2s, ModelError> {
        let options =
            CudaT2sOptions { slots: self.gpu_sessions, max_context: self.gpt_context, ..CudaT2sOptions::default() };
        self.place(
            "the GPT",
            model,
            |rt, m| Ok(AnyT2s::Cuda(CudaT2s::new(rt, m, options)?)),
            |m| AnyT2s::Cpu(CpuT2s::new(m)),
        )
    }

    /// HuBERT on this backend.
    pub fn hubert(&self, weights: HubertWeights) -> Result<AnyHubert, ModelError> {
        self.place(
            "HuBERT",
            weights,
            |rt, w| Ok(AnyHubert::Cuda(CudaHubert::new(rt, w)?)),
            |w| AnyHubert::Cpu(CpuHubert::new(w)),
        )
    }

    /// BERT on this backend.
    pub fn bert(&self, weights: BertWeights) -> Result<AnyBert, ModelError> {
        self.place("BERT", weights, |rt, w| Ok(AnyBert::Cuda(CudaBert::new(rt, w)?)), |w| AnyBert::Cpu(CpuBert::new(w)))
    }

    /// The acoustic stage on this backend: on the GPU it decodes up to one chunk per session
    /// (`--max-sessions`, at most 64) in a step.
    pub fn acoustic(&self, cfg: SovitsConfig, weights: SovitsWeights) -> Result<AnyAcoustic, ModelError> {
        let options = CudaSovitsOptions::for_batch(self.gpu_sessions.clamp(1, MAX_ACOUSTIC_BATCH));
        let gpu_cfg = cfg.clone();
        self.place(
            "the SoVITS decoder",
            weights,
            |rt, w| Ok(AnyAcoustic::Cuda(CudaSovits::on_gpu(rt, gpu_cfg, w.clone(), options)?)),
            |w| AnyAcoustic::Cpu(CpuSovits::new(cfg, w)),
        )
    }
}

/// The GPT prior on either backend (one per loaded model: variant sizes do not matter).
#[allow(clippy::large_enum_variant)]
pub enum AnyT2s {
    Cpu(CpuT2s),
    Cuda(CudaT2s),
}

/// A session of [`AnyT2s`]; it only works with the backend that started it.
#[derive(Debug)]
pub enum AnyT2sSession {
    Cpu(CpuT2sSession),
    Cuda(CudaT2sSession),
}

/// The sessions of one backend out of a batch, or an error naming the mix-up.
fn sessions_of<'a, S>(
    sessions: &'a mut [&mut AnyT2sSession],
    pick: impl Fn(&'a mut AnyT2sSession) -> Option<&'a mut S>,
) -> Result<Vec<&'a mut S>, ModelError> {
    sessions
        .iter_mut()
        .map(|s| {
            pick(s).ok_or_else(|| ModelError::Input("a session of the other backend was passed to this GPT".into()))
        })
        .collect()
}

fn cpu_session(s: &mut AnyT2sSession) -> Option<&mut CpuT2sSession> {
    match s {
        AnyT2sSession::Cpu(c) => Some(c),
        AnyT2sSession::Cuda(_) => None,
    }
}

fn cuda_session(s: &mut AnyT2sSession) -> Option<&mut CudaT2sSession> {
    match s {
        AnyT2sSession::Cuda(c) => Some(c),
        AnyT2sSession::Cpu(_) => None,
    }
}

impl TextToSemantic for AnyT2s {
    type Session = AnyT2sSession;

    fn config(&self) -> &T2sConfig {
        match self {
            AnyT2s::Cpu(m) => m.config(),
            AnyT2s::Cuda(m) => m.config(),
        }
    }

    fn prefill(&self, prompt: &T2sPrompt, decoder: &mut Decoder) -> Result<(AnyT2sSession, Option<u32>), ModelError> {
        match self {
            AnyT2s::Cpu(m) => m.prefill(prompt, decoder).map(|(s, t)| (AnyT2sSession::Cpu(s), t)),
            AnyT2s::Cuda(m) => m.prefill(prompt, decoder).map(|(s, t)| (AnyT2sSession::Cuda(s), t)),
        }
    }

    fn step(
        &self,
        sessions: &mut [&mut AnyT2sSession],
        tokens: &[u32],
        decoders: &mut [&mut Decoder],
    ) -> Result<Vec<Result<Option<u32>, ModelError>>, ModelError> {
        match self {
            AnyT2s::Cpu(m) => m.step(&mut sessions_of(sessions, cpu_session)?, tokens, decoders),
            AnyT2s::Cuda(m) => m.step(&mut sessions_of(sessions, cuda_session)?, tokens, decoders),
        }
    }
}

/// BERT on either backend (one per process: variant sizes do not matter).
#[allow(clippy::large_enum_variant)]
pub enum AnyBert {
    Cpu(CpuBert),
    Cuda(CudaBert),
}

impl AnyBert {
    pub fn config(&self) -> &BertConfig {
        match self {
            AnyBert::Cpu(m) => m.config(),
            AnyBert::Cuda(m) => m.config(),
        }
    }
}

impl Bert for AnyBert {
    fn hidden_states_sel(&self, input_ids: &[u32]) -> Result<Tensor, ModelError> {
        match self {
            AnyBert::Cpu(m) => m.hidden_states_sel(input_ids),
            AnyBert::Cuda(m) => m.hidden_states_sel(input_ids),
        }
    }
}

/// HuBERT on either backend (one per process: variant sizes do not matter).
#[allow(clippy::large_enum_variant)]
pub enum AnyHubert {
    Cpu(CpuHubert),
    Cuda(CudaHubert),
}

impl Hubert for AnyHubert {
    fn forward(&self, wav16k: &[f32]) -> Result<Tensor, ModelError> {
        match self {
            AnyHubert::Cpu(m) => m.forward(wav16k),
            AnyHubert::Cuda(m) => m.forward(wav16k),
        }
    }
}

/// The acoustic stage on either backend (one per loaded model: variant sizes do not matter).
#[allow(clippy::large_enum_variant)]
pub enum AnyAcoustic {
    Cpu(CpuSovits),
    Cuda(CudaSovits),
}

/// A voice prepared by [`AnyAcoustic`]; it only works with the backend that prepared it.
#[derive(Debug)]
pub enum AnyAcousticVoice {
    Cpu(StyleColumns),
    Cuda(PreparedVoice),
}

/// Decodes the windows whose voice `pick` accepts with `decode`; the others get an error naming
/// the mix-up.
fn decode_picked<'a, V: 'a>(
    windows: &[Window<'a, AnyAcousticVoice>],
    pick: impl Fn(&'a AnyAcousticVoice) -> Option<&'a V>,
    decode: impl FnOnce(&[Window<'a, V>]) -> BatchResult<Vec<f32>>,
) -> BatchResult<Vec<f32>> {
    let picked: Vec<Option<Window<'a, V>>> = windows
        .iter()
        .map(|w| pick(w.voice).map(|voice| Window { voice, tokens: w.tokens, phones: w.phones, params: w.params }))
        .collect();
    let ok: Vec<Window<'a, V>> = picked.iter().flatten().map(|w| Window { ..*w }).collect();
    let mut decoded = decode(&ok)?.into_iter();
    Ok(picked
        .iter()
        .map(|p| match p {
            Some(_) => decoded.next().unwrap_or_else(|| Err(ModelError::Device("a window was not decoded".into()))),
            None => Err(ModelError::Input("a voice prepared for the other backend was passed to this model".into())),
        })
        .collect())
}

impl SemanticToAudio for AnyAcoustic {
    type Voice = AnyAcousticVoice;

    fn config(&self) -> &SovitsConfig {
        match self {
            AnyAcoustic::Cpu(m) => m.config(),
            AnyAcoustic::Cuda(m) => m.config(),
        }
    }

    fn sample_rate(&self) -> u32 {
        match self {
            AnyAcoustic::Cpu(m) => m.sample_rate(),
            AnyAcoustic::Cuda(m) => m.sample_rate(),
        }
    }

    fn max_batch(&self) -> usize {
        match self {
            AnyAcoustic::Cpu(m) => m.max_batch(),
            AnyAcoustic::Cuda(m) => m.max_batch(),
        }
    }

    fn reference_style(&self, spec: &Tensor, speaker: Option<&Tensor>) -> Result<Tensor, ModelError> {
        match self {
            AnyAcoustic::Cpu(m) => m.reference_style(spec, speaker),
            AnyAcoustic::Cuda(m) => m.reference_style(spec, speaker),
        }
    }

    fn extract_latent(&self, ssl: &Tensor) -> Result<Vec<u32>, ModelError> {
        match self {
            AnyAcoustic::Cpu(m) => m.extract_latent(ssl),
            AnyAcoustic::Cuda(m) => m.extract_latent(ssl),
        }
    }

    fn prepare_voice(&self, ge: &Tensor) -> Result<AnyAcousticVoice, ModelError> {
        match self {
            AnyAcoustic::Cpu(m) => m.prepare_voice(ge).map(AnyAcousticVoice::Cpu),
            AnyAcoustic::Cuda(m) => m.prepare_voice(ge).map(AnyAcousticVoice::Cuda),
        }
    }

    fn decode(&self, windows: &[Window<'_, AnyAcousticVoice>]) -> BatchResult<Vec<f32>> {
        match self {
            AnyAcoustic::Cpu(m) => decode_picked(
                windows,
                |v| if let AnyAcousticVoice::Cpu(t) = v { Some(t) } else { None },
                |w| m.decode(w),
            ),
            AnyAcoustic::Cuda(m) => decode_picked(
                windows,
                |v| if let AnyAcousticVoice::Cuda(p) = v { Some(p) } else { None },
                |w| m.decode(w),
            ),
        }
    }
}
