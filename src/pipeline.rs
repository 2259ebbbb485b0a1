//! One utterance end to end on the CPU backend, in upstream's order (research/upstream-v2.md §0):
//! a [`Voice`] is prepared once from a reference clip (prompt tokens via HuBERT + VQ, style `ge`
//! via the reference spectrogram, prompt phones + BERT features), then
//! [`Synthesizer::synthesize`] runs the GPT prior and the SoVITS decoder + HiFi-GAN for one
//! sentence's [`TextFeatures`], and [`Synthesizer::synthesize_text`] does it sentence by sentence
//! for raw text like upstream's `TTS.run` (cut, G2P, synthesize, 0.3 s between fragments). The
//! streaming engine will schedule the same stage calls across sessions; this module is the
//! offline path (`sovits-rt synth`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::audio;
use crate::backend::{AnyAcoustic, AnyBert, AnyHubert, AnyT2s, Backend};
use crate::checkpoint::{open_gpt, open_hf_folder, open_sovits, SovitsKind};
use crate::cpu::speaker::CpuSpeakerNet;
use crate::error::Error;
use crate::model::acoustic::voice_style;
use crate::model::bert::{char_features, expand_features, BertWeights};
use crate::model::bert_tokenizer::BertTokenizer;
use crate::model::hubert::HubertWeights;
use crate::model::sampling::SamplingParams;
use crate::model::sovits::SovitsWeights;
use crate::model::t2s::{generate, GenerateOptions, T2sModel};
use crate::model::{
    Bert, DecodeParams, Hubert, ModelError, PriorNoise, SemanticToAudio, T2sPrompt, TextToSemantic, Weights,
};
use crate::speaker_verifier::{embed_reference, SpeakerVerifier};
use crate::tensor::Tensor;
use crate::text::segment::{ensure_sentence_end, preprocess, SegmentError, SplitMethod};
use crate::text::{phonemize, Lang, LangMode, Phonemized, SymbolSet, TextError};

/// Output sample rate of v1/v2 models.
pub const SAMPLE_RATE: u32 = crate::audio::MODEL_RATE;

/// The acoustic stage (SoVITS decoder + HiFi-GAN) of a model pair, on the process's backend.
pub type Acoustic = AnyAcoustic;

/// A voice's conditioning in the form the acoustic stage decodes with.
pub type AcousticVoice = <Acoustic as SemanticToAudio>::Voice;

/// Where a GPT-SoVITS install keeps the model files.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub gpt: PathBuf,
    pub sovits: PathBuf,
    pub hubert: PathBuf,
    pub bert: PathBuf,
    /// The speaker-verification checkpoint (or its folder) for v2Pro/v2ProPlus models; `None` =
    /// upstream's place beside HuBERT ([`SpeakerVerifier::locate`]).
    pub sv: Option<PathBuf>,
}

/// Silence appended after every sentence (upstream `fragment_interval`, 0.3 s).
pub const FRAGMENT_INTERVAL_S: f32 = 0.3;

/// Loaded models of one voice family (a GPT and a SoVITS of the same symbol table), with the
/// HuBERT and BERT that every family shares.
pub struct Synthesizer {
    t2s: Arc<AnyT2s>,
    acoustic: Arc<Acoustic>,
    shared: Arc<SharedModels>,
    symbols: SymbolSet,
    kind: SovitsKind,
    /// The speaker-verification net, for v2Pro/v2ProPlus models only.
    speaker: Option<Arc<CpuSpeakerNet>>,
}

/// The models every voice family uses: HuBERT for reference clips, BERT for Chinese text and,
/// for v2Pro/v2ProPlus families, the speaker-verification net (loaded on first need); and the
/// backend every model of the process runs on. Loaded once per process and shared by all model
/// pairs.
pub struct SharedModels {
    hubert: AnyHubert,
    featurizer: BertFeaturizer,
    speaker: SpeakerVerifier,
    backend: Backend,
}

impl SharedModels {
    /// `sv` is `--sv`: where the speaker-verification checkpoint is ([`SpeakerVerifier::locate`]).
    pub fn load(hubert: &Path, bert: &Path, sv: Option<&Path>, backend: Backend) -> Result<Self, Error> {
        let featurizer = BertFeaturizer::load(bert, &backend)?;
        let speaker = SpeakerVerifier::locate(sv, hubert);
        let hubert = backend.hubert(HubertWeights::load(&open_hf_folder(hubert)?)?)?;
        Ok(SharedModels { hubert, featurizer, speaker, backend })
    }

    pub fn speaker_verifier(&self) -> &SpeakerVerifier {
        &self.speaker
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn featurizer(&self) -> &BertFeaturizer {
        &self.featurizer
    }
}

/// chinese-roberta-wwm-ext-large and its tokenizer: per-phone features of phonemized text.
pub struct BertFeaturizer {
    bert: AnyBert,
    tokenizer: BertTokenizer,
}

/// Phone ids and their BERT features `[bert_dim, n_phones]` (zeros for non-Chinese phones).
#[derive(Debug, Clone)]
pub struct TextFeatures {
    pub phone_ids: Vec<u32>,
    pub bert: Tensor,
}

/// What a voice contributes to every request, computed once from its reference clip.
#[derive(Debug, Clone)]
pub struct Voice {
    pub prompt_tokens: Vec<u32>,
    /// Global style vector `[gin]`.
    pub ge: Tensor,
    /// The reference transcript's phones and features.
    pub prompt: TextFeatures,
}

/// What the reference transcript is given as.
#[derive(Debug, Clone)]
pub enum PromptText {
    /// Raw text in a language mode, run through the text frontend like upstream's `prompt_text`.
    Text { text: String, mode: LangMode },
    /// Phone ids given directly (BERT features are zeros).
    Phones(Vec<u32>),
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
    /// SoVITS decoder + HiFi-GAN.
    pub acoustic_ms: f64,
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
        SovitsKind::V2 | SovitsKind::V2Pro | SovitsKind::V2ProPlus => SymbolSet::V2,
    };
    if gpt != sovits {
        return Err(format!(
            "the GPT uses the {gpt:?} symbol table ({gpt_phone_rows} phone rows) but the SoVITS model uses {sovits:?}"
        ));
    }
    Ok(gpt)
}

impl Synthesizer {
    /// Loads and cross-checks the models.
    pub fn load(paths: &ModelPaths, backend: Backend) -> Result<Self, Error> {
        let shared = Arc::new(SharedModels::load(&paths.hubert, &paths.bert, paths.sv.as_deref(), backend)?);
        Self::load_pair(&paths.gpt, &paths.sovits, shared)
    }

    /// Loads a GPT + SoVITS pair next to already loaded shared models.
    pub fn load_pair(gpt_path: &Path, sovits_path: &Path, shared: Arc<SharedModels>) -> Result<Self, Error> {
        let gpt = open_gpt(gpt_path)?;
        let sovits = open_sovits(sovits_path)?;
        let t2s = shared.backend.t2s(T2sModel::load(&gpt)?)?;
        let symbols = shared_symbols(t2s.config().phoneme_vocab, sovits.kind).map_err(|why| {
            ModelError::Incompatible(format!(
                "{} and {}: {why}; use a GPT and a SoVITS model trained for the same GPT-SoVITS version",
                gpt_path.display(),
                sovits_path.display()
            ))
        })?;
        let (gpt_dim, bert_dim) = (t2s.config().bert_dim, shared.featurizer.dim());
        if gpt_dim != bert_dim {
            return Err(ModelError::Incompatible(format!(
                "{} expects {gpt_dim}-dim BERT features but the BERT model gives {bert_dim}",
                gpt_path.display(),
            ))
            .into());
        }
        let (cfg, weights) = SovitsWeights::load(&Weights::new(&sovits.weights), &sovits.config)?;
        let speaker = if sovits.kind.is_pro() { Some(shared.speaker.net(sovits_path)?) } else { None };
        let acoustic = Arc::new(shared.backend.acoustic(cfg, weights)?);
        Ok(Synthesizer { t2s: Arc::new(t2s), acoustic, shared, symbols, kind: sovits.kind, speaker })
    }

    /// The speaker-verification checkpoint a voice of this pair depends on (Pro models only), so
    /// that a prepared voice is redone when it changes.
    pub fn speaker_file(&self) -> Option<&Path> {
        self.speaker.as_ref().and(self.shared.speaker.loaded_file())
    }

    /// The GPT, shared with the engine's scheduler thread.
    pub fn t2s(&self) -> &Arc<AnyT2s> {
        &self.t2s
    }

    /// The acoustic stage, shared with the engine's acoustic scheduler thread.
    pub fn acoustic(&self) -> &Arc<Acoustic> {
        &self.acoustic
    }

    pub fn featurizer(&self) -> &BertFeaturizer {
        &self.shared.featurizer
    }

    pub fn backend(&self) -> &Backend {
        &self.shared.backend
    }

    pub fn symbols(&self) -> SymbolSet {
        self.symbols
    }

    /// The SoVITS model's version (from its header, as upstream decides it).
    pub fn sovits_kind(&self) -> SovitsKind {
        self.kind
    }

    /// Prepares a voice from a reference WAV and its transcript, with optional extra reference
    /// clips (upstream's `aux_ref_audio_paths`): every clip's style is averaged into `ge`; the
    /// prompt tokens and phones come from the main clip only.
    pub fn prepare_voice(&self, wav: &Path, aux: &[PathBuf], transcript: &PromptText) -> Result<Voice, Error> {
        let prompt = match transcript {
            PromptText::Phones(ids) => self.phone_features(ids.clone()),
            PromptText::Text { text, mode } => {
                let sentence = ensure_sentence_end(text.trim_matches('\n'), *mode);
                self.shared.featurizer.features(&phonemize(&sentence, *mode, self.symbols)?)?
            }
        };
        check_phones(&prompt.phone_ids)?;
        let (samples, rate) = audio::read_wav_at_most(wav, audio::REFERENCE_MAX_SECONDS)?;
        let reference = audio::prepare_reference(&samples, rate)?;
        let ssl = self.shared.hubert.forward(&reference.wav16k)?;
        let prompt_tokens = self.acoustic.extract_latent(&ssl.t())?;
        let mut styles = vec![self.reference_style(&reference.style)?];
        for path in aux {
            let (samples, rate) = audio::read_wav_at_most(path, audio::REFERENCE_MAX_SECONDS)?;
            styles.push(self.reference_style(&audio::style_reference(&samples, rate)?)?);
        }
        Ok(Voice { prompt_tokens, ge: voice_style(&styles)?, prompt })
    }

    /// One clip's style: its spectrogram through the reference encoder, with its SV embedding for
    /// Pro models.
    fn reference_style(&self, reference: &audio::StyleReference) -> Result<Tensor, Error> {
        let embedding = match &self.speaker {
            Some(net) => Some(embed_reference(net, &reference.wav32k)?),
            None => None,
        };
        Ok(self.acoustic.reference_style(&reference.spec, embedding.as_ref())?)
    }

    /// Phone ids given directly: BERT features are zeros, as upstream gives every non-Chinese segment.
    pub fn phone_features(&self, phone_ids: Vec<u32>) -> TextFeatures {
        let bert = Tensor::zeros([self.t2s.config().bert_dim, phone_ids.len()]);
        TextFeatures { phone_ids, bert }
    }

    /// Speaks raw text sentence by sentence like upstream `TTS.run` (non-streaming): cut with
    /// `method`, G2P + BERT per sentence, synthesize each, join with 0.3 s of silence. The same
    /// seed is used for every sentence, so output is reproducible.
    pub fn synthesize_text(
        &self,
        voice: &Voice,
        text: &str,
        mode: LangMode,
        method: SplitMethod,
        params: &SynthParams,
    ) -> Result<Synthesis, Error> {
        let gap = (FRAGMENT_INTERVAL_S * SAMPLE_RATE as f32) as usize;
        let mut total = Synthesis { samples: Vec::new(), tokens: Vec::new(), eos: true, timings: Timings::default() };
        for sentence in preprocess(text, mode, method).map_err(TextError::from)? {
            let Some(features) = self.sentence_features(&sentence, mode)? else { continue };
            let part = self.synthesize(voice, &features, params)?;
            let peak = part.samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = if peak > 1.0 { 1.0 / peak } else { 1.0 };
            total.samples.extend(part.samples.iter().map(|x| x * scale));
            total.samples.resize(total.samples.len() + gap, 0.0);
            total.tokens.extend(part.tokens);
            total.eos &= part.eos;
            total.timings.add(&part.timings);
        }
        if total.samples.is_empty() {
            return Err(TextError::from(SegmentError::NoValidText).into());
        }
        Ok(total)
    }

    /// Phones and BERT features of one sentence, or `None` when it has nothing to speak.
    pub fn sentence_features(&self, sentence: &str, mode: LangMode) -> Result<Option<TextFeatures>, Error> {
        let phonemized = phonemize(sentence, mode, self.symbols)?;
        if phonemized.norm_text().is_empty() {
            return Ok(None);
        }
        Ok(Some(self.shared.featurizer.features(&phonemized)?))
    }

    /// Speaks one sentence's phones in `voice`.
    pub fn synthesize(&self, voice: &Voice, target: &TextFeatures, params: &SynthParams) -> Result<Synthesis, Error> {
        let prompt = t2s_prompt(voice, target)?;
        let phones = &target.phone_ids;
        let mut timings = Timings::default();
        let options =
            GenerateOptions { sampling: params.sampling.clone(), seed: params.seed, early_stop: params.max_tokens };
        let generated = generate(self.t2s.as_ref(), &prompt, &options)?;
        timings.prefill_ms = generated.prefill_ms;
        timings.decode_ms = generated.decode_ms;
        timings.tokens = generated.tokens.len();

        let t = Instant::now();
        let decode = DecodeParams {
            speed: params.speed,
            noise_scale: params.noise_scale,
            noise: PriorNoise::Seeded { seed: params.seed, first_frame: 0 },
        };
        let acoustic_voice = self.acoustic.prepare_voice(&voice.ge)?;
        let samples = self.acoustic.synthesize(&acoustic_voice, &generated.tokens, phones, &decode)?;
        timings.acoustic_ms = ms(t);
        Ok(Synthesis { samples, tokens: generated.tokens, eos: generated.eos, timings })
    }
}

impl BertFeaturizer {
    /// Loads a `chinese-roberta-wwm-ext-large` folder (weights and tokenizer).
    pub fn load(folder: &Path, backend: &Backend) -> Result<Self, Error> {
        let bert = backend.bert(BertWeights::load(&open_hf_folder(folder)?)?)?;
        let tokenizer = BertTokenizer::from_folder(folder)?;
        Ok(BertFeaturizer { bert, tokenizer })
    }

    /// Feature size (the BERT hidden size).
    pub fn dim(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// Phone ids and BERT features of one phonemized sentence (upstream `get_bert_inf` per
    /// segment: `hidden_states[-3]` of the normalized text expanded by `word2ph` for Chinese,
    /// zeros otherwise).
    pub fn features(&self, sentence: &Phonemized) -> Result<TextFeatures, Error> {
        let dim = self.dim();
        let mut rows: Vec<f32> = Vec::new();
        for segment in &sentence.segments {
            let n = segment.phone_ids.len();
            match (&segment.cleaned.word2ph, segment.lang) {
                (Some(word2ph), Lang::Zh) => {
                    let hidden = self.bert.hidden_states_sel(&self.tokenizer.encode(&segment.cleaned.norm_text))?;
                    let per_phone = expand_features(&char_features(&hidden)?, word2ph)?;
                    if per_phone.dim(0) != dim || per_phone.dim(1) != n {
                        return Err(ModelError::Incompatible(format!(
                            "BERT gives {}-dim features for {} phones; expected {dim}-dim features for {n}",
                            per_phone.dim(0),
                            per_phone.dim(1)
                        ))
                        .into());
                    }
                    rows.extend_from_slice(per_phone.t().data());
                }
                _ => rows.resize(rows.len() + n * dim, 0.0),
            }
        }
        let phone_ids = sentence.phone_ids();
        let bert = Tensor::new([phone_ids.len(), dim], rows).t();
        Ok(TextFeatures { phone_ids, bert })
    }
}

/// The GPT's input for one sentence: the voice's prompt phones and tokens, then the sentence.
pub fn t2s_prompt(voice: &Voice, target: &TextFeatures) -> Result<T2sPrompt, Error> {
    check_phones(&target.phone_ids)?;
    let mut phone_ids = voice.prompt.phone_ids.clone();
    phone_ids.extend_from_slice(&target.phone_ids);
    let bert = concat_phone_columns(&voice.prompt.bert, &target.bert)?;
    Ok(T2sPrompt { phone_ids, bert, prompt_tokens: voice.prompt_tokens.clone() })
}

fn check_phones(phones: &[u32]) -> Result<(), Error> {
    if phones.is_empty() {
        return Err(ModelError::Input("no phones to speak".into()).into());
    }
    Ok(())
}

/// `cat([prompt_bert, target_bert], dim=phones)` for `[dim, n]` tensors.
fn concat_phone_columns(a: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
    let dim = a.dim(0);
    if b.dim(0) != dim {
        return Err(ModelError::Input(format!("BERT feature sizes differ: {dim} vs {}", b.dim(0))).into());
    }
    let (na, nb) = (a.dim(1), b.dim(1));
    let mut out = Vec::with_capacity(dim * (na + nb));
    for r in 0..dim {
        out.extend_from_slice(&a.data()[r * na..(r + 1) * na]);
        out.extend_from_slice(&b.data()[r * nb..(r + 1) * nb]);
    }
    Ok(Tensor::new([dim, na + nb], out))
}

impl Timings {
    fn add(&mut self, other: &Timings) {
        self.prefill_ms += other.prefill_ms;
        self.decode_ms += other.decode_ms;
        self.tokens += other.tokens;
        self.acoustic_ms += other.acoustic_ms;
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

    #[test]
    fn phone_columns_concatenate_per_feature_row() {
        let a = Tensor::new([2, 2], vec![1.0, 2.0, 5.0, 6.0]);
        let b = Tensor::new([2, 1], vec![3.0, 7.0]);
        let c = concat_phone_columns(&a, &b).unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(c.data(), &[1.0, 2.0, 3.0, 5.0, 6.0, 7.0]);
    }
}
