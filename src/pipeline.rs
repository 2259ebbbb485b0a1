//! One utterance end to end on the CPU backend, in upstream's order (research/upstream-v2.md §0):
//! a [`Voice`] is prepared once from a reference clip (prompt tokens via HuBERT + VQ, style `ge`
//! via the reference spectrogram, prompt phones), then [`Synthesizer::synthesize`] runs the GPT
//! prior and the SoVITS decoder + HiFi-GAN for target phones. The streaming engine will schedule
//! the same stage calls across sessions; this module is the offline path (`sovits-rt synth`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::audio;
use crate::checkpoint::{open_gpt, open_hf_folder, open_sovits, SovitsKind};
use crate::cpu::{CpuHubert, CpuSovits, CpuT2s};
use crate::error::Error;
use crate::model::sampling::SamplingParams;
use crate::model::t2s::{generate, GenerateOptions};
use crate::model::{DecodeParams, Hubert, ModelError, PriorNoise, SovitsDecoder, T2sPrompt, TextToSemantic, Vocoder};
use crate::tensor::Tensor;
use crate::text::SymbolSet;

/// Output sample rate of v1/v2 models.
pub const SAMPLE_RATE: u32 = 32_000;

/// Where a GPT-SoVITS install keeps the four model files.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub gpt: PathBuf,
    pub sovits: PathBuf,
    pub hubert: PathBuf,
    pub bert: PathBuf,
}

/// Loaded models of one voice family (a GPT and a SoVITS of the same symbol table).
pub struct Synthesizer {
    t2s: CpuT2s,
    sovits: CpuSovits,
    hubert: CpuHubert,
    symbols: SymbolSet,
}

/// What a voice contributes to every request, computed once from its reference clip.
#[derive(Debug, Clone)]
pub struct Voice {
    pub prompt_tokens: Vec<u32>,
    /// Global style vector `[gin]`.
    pub ge: Tensor,
    pub prompt_phones: Vec<u32>,
}

/// Per-request settings.
#[derive(Debug, Clone)]
pub struct SynthParams {
    pub sampling: SamplingParams,
    pub speed: f32,
    pub noise_scale: f32,
    pub seed: u64,
    /// Stop after this many tokens (upstream `early_stop_num`); `None` = the 1500-step cap only.
    pub max_tokens: Option<usize>,
}

/// Wall-clock split of one synthesis, for the CLI and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub tokens: usize,
    pub sovits_ms: f64,
    pub vocoder_ms: f64,
}

/// A synthesized utterance.
#[derive(Debug, Clone)]
pub struct Synthesis {
    /// 32 kHz mono samples in [-1, 1].
    pub samples: Vec<f32>,
    pub tokens: Vec<u32>,
    /// True when the GPT ended with EOS (false: step cap).
    pub eos: bool,
    pub timings: Timings,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The symbol table a GPT (by its phone-embedding rows) and a SoVITS model share. A GPT's
/// embedding covers its table with room to spare (v1 GPTs have 512 rows for 322 symbols).
fn shared_symbols(gpt_phone_rows: usize, sovits: SovitsKind) -> Result<SymbolSet, String> {
    let gpt = if gpt_phone_rows >= SymbolSet::V2.len() { SymbolSet::V2 } else { SymbolSet::V1 };
    let sovits = match sovits {
        SovitsKind::V1 => SymbolSet::V1,
        SovitsKind::V2 => SymbolSet::V2,
    };
    if gpt != sovits {
        return Err(format!(
            "the GPT uses the {gpt:?} symbol table ({gpt_phone_rows} phone rows) but the SoVITS model uses {sovits:?}"
        ));
    }
    Ok(gpt)
}

impl Synthesizer {
    /// Loads and cross-checks the models. The BERT folder is validated (it is only run for
    /// Chinese text, which needs the text frontend).
    pub fn load(paths: &ModelPaths) -> Result<Self, Error> {
        let gpt = open_gpt(&paths.gpt)?;
        let sovits = open_sovits(&paths.sovits)?;
        open_hf_folder(&paths.bert)?;
        let t2s = CpuT2s::load(&gpt)?;
        let symbols = shared_symbols(t2s.config().phoneme_vocab, sovits.kind).map_err(|why| {
            ModelError::Incompatible(format!(
                "{} and {}: {why}; use a GPT and a SoVITS model trained for the same GPT-SoVITS version",
                paths.gpt.display(),
                paths.sovits.display()
            ))
        })?;
        let sovits = CpuSovits::load(&sovits)?;
        let hubert = CpuHubert::load(&open_hf_folder(&paths.hubert)?)?;
        Ok(Synthesizer { t2s, sovits, hubert, symbols })
    }

    pub fn symbols(&self) -> SymbolSet {
        self.symbols
    }

    /// Prepares a voice from a reference WAV and the phones of its transcript.
    pub fn prepare_voice(&self, wav: &Path, prompt_phones: Vec<u32>) -> Result<Voice, Error> {
        let (samples, rate) = audio::read_wav(wav)?;
        let reference = audio::prepare_reference(&samples, rate)?;
        let ssl = self.hubert.forward(&reference.wav16k)?;
        let prompt_tokens = self.sovits.extract_latent(&ssl.t())?;
        let ge = self.sovits.reference_style(&reference.spec)?;
        self.check_phones(&prompt_phones)?;
        Ok(Voice { prompt_tokens, ge, prompt_phones })
    }

    fn check_phones(&self, phones: &[u32]) -> Result<(), Error> {
        if phones.is_empty() {
            return Err(ModelError::Input("no phones to speak".into()).into());
        }
        Ok(())
    }

    /// Speaks `phones` in `voice`.
    pub fn synthesize(&self, voice: &Voice, phones: &[u32], params: &SynthParams) -> Result<Synthesis, Error> {
        self.check_phones(phones)?;
        let mut all = voice.prompt_phones.clone();
        all.extend_from_slice(phones);
        // Phones-only input carries no BERT features; upstream uses zeros for every non-Chinese segment.
        let bert = Tensor::zeros([self.t2s.config().bert_dim, all.len()]);
        let prompt = T2sPrompt { phone_ids: all, bert, prompt_tokens: voice.prompt_tokens.clone() };
        let mut timings = Timings::default();
        let options =
            GenerateOptions { sampling: params.sampling.clone(), seed: params.seed, early_stop: params.max_tokens };
        let generated = generate(&self.t2s, &prompt, &options)?;
        timings.prefill_ms = generated.prefill_ms;
        timings.decode_ms = generated.decode_ms;
        timings.tokens = generated.tokens.len();

        let t = Instant::now();
        let decode = DecodeParams {
            speed: params.speed,
            noise_scale: params.noise_scale,
            noise: PriorNoise::Seeded(params.seed),
        };
        let z = self.sovits.decode_latent(&generated.tokens, phones, &voice.ge, &decode)?;
        timings.sovits_ms = ms(t);
        let t = Instant::now();
        let samples = self.sovits.vocode(&z, &voice.ge)?;
        timings.vocoder_ms = ms(t);
        Ok(Synthesis { samples, tokens: generated.tokens, eos: generated.eos, timings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_and_sovits_must_share_a_symbol_table() {
        assert_eq!(shared_symbols(732, SovitsKind::V2), Ok(SymbolSet::V2));
        assert_eq!(shared_symbols(512, SovitsKind::V1), Ok(SymbolSet::V1));
        let e = shared_symbols(512, SovitsKind::V2).unwrap_err();
        assert!(e.contains("V1") && e.contains("V2"), "{e}");
        assert!(shared_symbols(732, SovitsKind::V1).is_err());
    }
}
