//! The streaming engine: voices, sessions, and per model pair two schedulers that batch across
//! sessions — the GPT's decode steps and the acoustic stage's chunks — with the chunk plan
//! (`model::chunk`) turning token streams into continuous audio. Front-ends (the server, `say`)
//! open a [`Session`] per request and only see its events; everything a session owns — voice,
//! parameters, seed, cancellation — is its own, so nothing leaks between concurrent sessions.
//!
//! ```text
//! Session handle ─text─► driver thread (split sentences, G2P + BERT)
//!                          └─► model pair's GPT scheduler (prefill first, batched decode steps)
//!                                └─► acoustic scheduler (first chunks first, batched SoVITS +
//!                                    HiFi-GAN steps, stitching)
//!                                      └─► session events: Segment, Audio (32 kHz), Done
//! ```
//!
//! Module dependencies run one way: `session` → `models` → the schedulers → `messages` → `pipe`.

mod acoustic_scheduler;
mod gpt_scheduler;
mod messages;
pub mod metrics;
pub mod models;
pub mod params;
mod pipe;
pub mod reference_roots;
pub mod session;
pub mod voices;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

pub use crate::model::chunk::ChunkPlan;
pub use metrics::Metrics;
pub use models::ModelPair;
pub use params::RequestParams;
pub use pipe::{SessionEvent, SessionStats};
pub use reference_roots::ReferenceRoots;
pub use session::Session;
pub use voices::{NewVoice, VoiceError, VoiceManifest, VoiceStore};

use crate::backend::{Backend, Device};
use crate::error::ErrorCode;
use crate::model::{SemanticToAudio, TextToSemantic};
use crate::pipeline::{AcousticVoice, PromptText, SharedModels, Voice};
use crate::text::LangMode;
use models::ModelPairs;
use session::DriverSetup;

/// Why a session could not be opened or a voice managed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the server is at capacity ({max} sessions); try again shortly")]
    Busy { max: usize },
    #[error(transparent)]
    Voice(#[from] VoiceError),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Model(#[from] crate::error::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::model::ModelError> for EngineError {
    fn from(e: crate::model::ModelError) -> Self {
        EngineError::Model(e.into())
    }
}

impl EngineError {
    /// Stable error code for the wire (docs/PROTOCOL.md).
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Busy { .. } => ErrorCode::Busy,
            EngineError::Voice(VoiceError::Unknown(_)) => ErrorCode::UnknownVoice,
            EngineError::Voice(VoiceError::Io { .. }) | EngineError::Internal(_) => ErrorCode::Internal,
            EngineError::Voice(_) | EngineError::BadRequest(_) => ErrorCode::BadRequest,
            EngineError::Model(e) => e.code(),
        }
    }
}

/// Where the models and voices are, and how much the engine may take on.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The base GPT / SoVITS pair, used by voices that do not name their own.
    pub gpt: PathBuf,
    pub sovits: PathBuf,
    pub hubert: PathBuf,
    pub bert: PathBuf,
    /// The speaker-verification checkpoint or its folder (`--sv`), for v2Pro/v2ProPlus models;
    /// `None` = upstream's place beside HuBERT.
    pub sv: Option<PathBuf>,
    pub voices_dir: PathBuf,
    /// The folders a request may take reference clips from (api_v2's `ref_audio_path`);
    /// [`reference_roots`] says what is refused. Default: the voices directory only.
    pub reference_roots: Vec<PathBuf>,
    /// Where the models run.
    pub device: Device,
    /// Sessions served at once; one more gets `busy`.
    pub max_sessions: usize,
    /// GPT positions reserved per session on the GPU (`--max-context`); ignored on the CPU.
    pub gpt_context: usize,
    pub plan: ChunkPlan,
    /// Most unspoken text one session may hold, in characters.
    pub max_pending_chars: usize,
    /// Events buffered per session before its client counts as too slow.
    pub event_capacity: usize,
}

impl EngineConfig {
    /// Defaults for everything but the model files.
    pub fn new(gpt: PathBuf, sovits: PathBuf, hubert: PathBuf, bert: PathBuf, voices_dir: PathBuf) -> Self {
        EngineConfig {
            gpt,
            sovits,
            hubert,
            bert,
            sv: None,
            reference_roots: vec![voices_dir.clone()],
            voices_dir,
            device: Device::Cpu,
            max_sessions: 16,
            gpt_context: crate::backend::DEFAULT_GPT_CONTEXT,
            plan: ChunkPlan::default(),
            max_pending_chars: 64 * 1024,
            event_capacity: 256,
        }
    }
}

/// A voice ready to speak: its manifest, prepared prompt, its conditioning in the acoustic
/// stage's form (prepared once per voice) and model pair.
pub struct ReadyVoice {
    pub manifest: VoiceManifest,
    pub voice: Arc<Voice>,
    pub acoustic_voice: Arc<AcousticVoice>,
    pub pair: Arc<ModelPair>,
    fingerprint: u64,
}

/// A reference clip on the server's disk with its transcript, used as a voice without adding it
/// to the voices directory (upstream api_v2's `ref_audio_path` + `prompt_text` + `prompt_lang`,
/// and `aux_ref_audio_paths`: more clips whose styles are averaged in).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceVoice {
    pub path: PathBuf,
    pub transcript: String,
    pub lang: String,
    pub aux: Vec<PathBuf>,
}

/// Most auxiliary reference clips one request may name (each is read and analysed).
pub const MAX_AUX_REFERENCES: usize = 8;

/// Reference voices kept prepared in memory (api_v2 clients send the same few references).
const MAX_REFERENCE_VOICES: usize = 32;
/// Key prefix of reference voices among the ready ones (`:` cannot occur in a voice name).
const REFERENCE_KEY: &str = "ref:";

/// What a front-end asks for when it opens a session.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    /// A voice of the voices directory…
    pub voice: String,
    /// …or, when set, this reference clip (with the base models).
    pub reference: Option<ReferenceVoice>,
    /// Language mode of the text (`auto` when absent).
    pub lang: Option<String>,
    /// Parameters set by the request (`top_k`, `top_p`, `temperature`, `repetition_penalty`,
    /// `speed`, `seed`, `noise_scale`); the rest come from the voice's defaults.
    pub params: Map<String, Value>,
}

/// The engine: one per process.
pub struct Engine {
    config: EngineConfig,
    store: VoiceStore,
    pairs: ModelPairs,
    reference_roots: ReferenceRoots,
    ready: Mutex<HashMap<String, Arc<ReadyVoice>>>,
    /// Serializes voice preparation (HuBERT is heavy; two requests must not prepare twice).
    preparing: Mutex<()>,
    metrics: Arc<Metrics>,
    next_id: AtomicU64,
}

impl Engine {
    /// Loads the shared models and the base pair, and opens the voices directory.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        if config.max_sessions == 0 || config.event_capacity == 0 {
            return Err(EngineError::BadRequest("max_sessions and event_capacity must be at least 1".into()));
        }
        config.plan.validate()?;
        let store = VoiceStore::open(&config.voices_dir)?;
        let metrics = Arc::new(Metrics::default());
        let backend = Backend::select(config.device, config.max_sessions)?.with_gpt_context(config.gpt_context);
        if let Some(probe) = backend.device_memory_probe() {
            metrics.set_device_memory_probe(probe);
        }
        let shared = Arc::new(SharedModels::load(&config.hubert, &config.bert, config.sv.as_deref(), backend)?);
        let pairs = ModelPairs::new(shared, config.plan.clone(), metrics.clone());
        let base = pairs.get(&config.gpt, &config.sovits)?;
        warm_up_text_frontend(&base);
        Ok(Engine {
            reference_roots: ReferenceRoots::new(&config.reference_roots),
            config,
            store,
            pairs,
            ready: Mutex::new(HashMap::new()),
            preparing: Mutex::new(()),
            metrics,
            next_id: AtomicU64::new(1),
        })
    }

    /// Where the models run, e.g. `cpu` or `cuda (NVIDIA H100 …, sm_90)`.
    pub fn backend(&self) -> String {
        self.pairs.shared().backend().describe()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn voices(&self) -> &VoiceStore {
        &self.store
    }

    /// Adds a voice and prepares it at once, so a bad clip or transcript is reported now.
    pub fn add_voice(&self, new: &NewVoice) -> Result<Arc<ReadyVoice>, EngineError> {
        self.store.add(new)?;
        self.voice(&new.manifest.name).inspect_err(|_| {
            let _ = self.store.remove(&new.manifest.name);
        })
    }

    pub fn remove_voice(&self, name: &str) -> Result<(), EngineError> {
        self.store.remove(name)?;
        self.ready.lock().remove(name);
        Ok(())
    }

    /// A voice ready to speak, prepared (or read from its cache) if any input changed.
    pub fn voice(&self, name: &str) -> Result<Arc<ReadyVoice>, EngineError> {
        let manifest = self.store.get(name)?;
        let gpt = manifest.gpt.clone().unwrap_or_else(|| self.config.gpt.clone());
        let sovits = manifest.sovits.clone().unwrap_or_else(|| self.config.sovits.clone());
        let c = &self.config;
        let pair = self.pairs.get(&gpt, &sovits)?;
        let mut models = vec![gpt.as_path(), sovits.as_path(), &c.hubert, &c.bert];
        models.extend(pair.synth.speaker_file());
        let fingerprint = self.store.fingerprint(name, &models)?;
        self.ready_or_prepare(name, fingerprint, || {
            let voice = match self.store.load_cached(name, fingerprint) {
                Some(v) => v,
                None => {
                    let mode = LangMode::parse(&manifest.lang)
                        .map_err(|e| VoiceError::Invalid { name: name.into(), reason: e.to_string() })?;
                    let transcript = PromptText::Text { text: manifest.transcript.clone(), mode };
                    let v = pair.synth.prepare_voice(&self.store.reference_path(name)?, &[], &transcript)?;
                    // A cache that cannot be written only costs time on the next start.
                    if let Err(e) = self.store.save_cached(name, fingerprint, &v) {
                        tracing::warn!(voice = name, "the prepared voice could not be cached: {e}");
                    }
                    v
                }
            };
            Ok((manifest, voice, pair))
        })
    }

    /// A reference clip prepared with the base models, kept in memory (not in the voices
    /// directory) and re-prepared when the file changes.
    pub fn reference_voice(&self, r: &ReferenceVoice) -> Result<Arc<ReadyVoice>, EngineError> {
        let mode = LangMode::parse(&r.lang).map_err(|e| EngineError::BadRequest(format!("prompt language: {e}")))?;
        if r.transcript.trim().is_empty() {
            return Err(EngineError::BadRequest("the reference transcript (prompt_text) is empty".into()));
        }
        if r.aux.len() > MAX_AUX_REFERENCES {
            return Err(EngineError::BadRequest(format!(
                "{} auxiliary reference clips; at most {MAX_AUX_REFERENCES} are allowed",
                r.aux.len()
            )));
        }
        let path = self.reference_roots.resolve(&r.path)?;
        let aux = r.aux.iter().map(|p| self.reference_roots.resolve(p)).collect::<Result<Vec<_>, _>>()?;
        let aux_names: Vec<String> = aux.iter().map(|p| p.display().to_string()).collect();
        let key = format!("{REFERENCE_KEY}{}|{}|{}|{}", path.display(), aux_names.join("|"), r.lang, r.transcript);
        let c = &self.config;
        let pair = self.pairs.get(&c.gpt, &c.sovits)?;
        let mut files: Vec<&Path> = vec![&path, &c.gpt, &c.sovits, &c.hubert, &c.bert];
        files.extend(aux.iter().map(PathBuf::as_path).chain(pair.synth.speaker_file()));
        let fingerprint = voices::fingerprint(key.as_bytes(), &files)?;
        self.ready_or_prepare(&key, fingerprint, || {
            let transcript = PromptText::Text { text: r.transcript.clone(), mode };
            let voice = pair.synth.prepare_voice(&path, &aux, &transcript)?;
            let manifest = VoiceManifest {
                name: key.clone(),
                transcript: r.transcript.clone(),
                lang: r.lang.clone(),
                gpt: None,
                sovits: None,
                defaults: RequestParams::default(),
            };
            Ok((manifest, voice, pair))
        })
    }

    /// The voice ready under `key` if its fingerprint still matches, else `prepare`d now. One
    /// preparation at a time (HuBERT is heavy): concurrent requests for the same new voice wait,
    /// then find it ready. Reference voices beyond [`MAX_REFERENCE_VOICES`] are forgotten.
    fn ready_or_prepare(
        &self,
        key: &str,
        fingerprint: u64,
        prepare: impl FnOnce() -> Result<(VoiceManifest, Voice, Arc<ModelPair>), EngineError>,
    ) -> Result<Arc<ReadyVoice>, EngineError> {
        let cached = || self.ready.lock().get(key).filter(|r| r.fingerprint == fingerprint).cloned();
        if let Some(r) = cached() {
            return Ok(r);
        }
        let _one_at_a_time = self.preparing.lock();
        if let Some(r) = cached() {
            return Ok(r);
        }
        let (manifest, voice, pair) = prepare()?;
        let acoustic_voice = Arc::new(pair.synth.acoustic().prepare_voice(&voice.ge)?);
        let ready = Arc::new(ReadyVoice { manifest, voice: Arc::new(voice), acoustic_voice, pair, fingerprint });
        let mut map = self.ready.lock();
        let is_reference = |k: &String| k.starts_with(REFERENCE_KEY);
        if key.starts_with(REFERENCE_KEY) && map.keys().filter(|k| is_reference(k)).count() >= MAX_REFERENCE_VOICES {
            map.retain(|k, _| !is_reference(k));
        }
        map.insert(key.to_string(), ready.clone());
        Ok(ready)
    }

    /// Opens a session, or says why not (`busy` past capacity, unknown voice, bad parameters).
    pub fn open(&self, request: &SessionRequest) -> Result<Session, EngineError> {
        let admitted = self
            .metrics
            .active_sessions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.config.max_sessions).then_some(n + 1));
        if admitted.is_err() {
            self.metrics.error(ErrorCode::Busy);
            return Err(EngineError::Busy { max: self.config.max_sessions });
        }
        let opened = self.open_admitted(request);
        match &opened {
            Ok(_) => self.metrics.session_started(),
            Err(e) => {
                // The session never started: give its slot back.
                self.metrics.active_sessions.fetch_sub(1, Ordering::SeqCst);
                self.metrics.error(e.code());
            }
        }
        opened
    }

    fn open_admitted(&self, request: &SessionRequest) -> Result<Session, EngineError> {
        let mode = LangMode::parse(request.lang.as_deref().unwrap_or("auto"))
            .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let ready = match &request.reference {
            Some(r) => self.reference_voice(r)?,
            None => self.voice(&request.voice)?,
        };
        let params = merge_params(&ready.manifest.defaults, &request.params)?;
        let setup = DriverSetup {
            pair: ready.pair.clone(),
            voice: ready.voice.clone(),
            acoustic_voice: ready.acoustic_voice.clone(),
            mode,
            params: params.synth_params(ready.pair.synth.t2s().config().vocab),
            max_pending_chars: self.config.max_pending_chars,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::info!(session = id, voice = %ready.manifest.name, seed = setup.params.seed, "session opened");
        session::spawn(setup, self.metrics.clone(), id, self.config.event_capacity)
    }
}

/// Loads every language's dictionaries now (0.1–0.4 s each on first use) so that the first
/// request in each language does not pay for it. Languages whose data is missing (Japanese
/// without its dictionary) simply stay cold; their requests report the problem.
fn warm_up_text_frontend(pair: &ModelPair) {
    let samples =
        [("zh", "你好。"), ("en", "Hello there."), ("ja", "こんにちは。"), ("ko", "안녕하세요."), ("yue", "你好。")];
    std::thread::scope(|scope| {
        for (lang, text) in samples {
            scope.spawn(move || {
                if let Ok(mode) = LangMode::parse(lang) {
                    let _ = crate::text::phonemize(text, mode, pair.synth.symbols());
                }
            });
        }
    });
}

/// The voice's defaults with the request's settings on top, validated.
pub fn merge_params(defaults: &RequestParams, overrides: &Map<String, Value>) -> Result<RequestParams, EngineError> {
    let mut merged = serde_json::to_value(defaults).map_err(|e| EngineError::Internal(e.to_string()))?;
    if let Value::Object(m) = &mut merged {
        for (k, v) in overrides {
            let Some(expected) = params::expected(k) else {
                let known: Vec<&str> = params::PARAMETERS.iter().map(|(n, _)| *n).collect();
                return Err(EngineError::BadRequest(format!("unknown parameter {k:?}; known: {}", known.join(", "))));
            };
            // Each field alone, so that a wrong type names its field.
            let alone = Value::Object(Map::from_iter([(k.clone(), v.clone())]));
            if serde_json::from_value::<RequestParams>(alone).is_err() {
                return Err(EngineError::BadRequest(format!("{k} must be {expected}, got {v}")));
            }
            m.insert(k.clone(), v.clone());
        }
    }
    let params: RequestParams =
        serde_json::from_value(merged).map_err(|e| EngineError::Internal(format!("parameters: {e}")))?;
    params.validate().map_err(EngineError::BadRequest)?;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_settings_override_voice_defaults() {
        let defaults = RequestParams { top_k: 5, ..Default::default() };
        let mut o = Map::new();
        o.insert("temperature".into(), Value::from(0.5));
        o.insert("seed".into(), Value::from(9));
        let p = merge_params(&defaults, &o).unwrap();
        assert_eq!((p.top_k, p.temperature, p.seed), (5, 0.5, Some(9)));
        o.insert("speed".into(), Value::from("fast"));
        let e = merge_params(&defaults, &o).unwrap_err();
        assert!(matches!(e, EngineError::BadRequest(_)) && e.to_string().contains("speed must be a number"), "{e}");
        let mut bad = Map::new();
        bad.insert("topk".into(), Value::from(3));
        assert!(merge_params(&defaults, &bad).unwrap_err().to_string().contains("unknown parameter"));
        bad.clear();
        bad.insert("top_p".into(), Value::from(3.0));
        assert!(merge_params(&defaults, &bad).unwrap_err().to_string().contains("out of range"));
    }
}
