//! Loaded model pairs (GPT + SoVITS), each with its own GPT and acoustic scheduler threads. Voices
//! name their pair (or use the base pair); pairs are loaded on first use and stay resident, so
//! several voices and several fine-tuned models serve at once with no global "current model".
//! The threads see the models only through the stage traits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::acoustic_scheduler::AcousticScheduler;
use crate::engine::gpt_scheduler::Scheduler;
use crate::engine::messages::ToScheduler;
use crate::engine::metrics::Metrics;
use crate::engine::EngineError;
use crate::model::chunk::ChunkPlan;
use crate::pipeline::{AcousticVoice, SharedModels, Synthesizer};

/// A GPT + SoVITS pair and the threads that run them.
pub struct ModelPair {
    pub synth: Arc<Synthesizer>,
    pub gpt: PathBuf,
    pub sovits: PathBuf,
    pub(crate) scheduler: Sender<ToScheduler<AcousticVoice>>,
}

/// Every pair loaded so far, keyed by their files.
pub(crate) struct ModelPairs {
    shared: Arc<SharedModels>,
    plan: ChunkPlan,
    metrics: Arc<Metrics>,
    loaded: Mutex<HashMap<(PathBuf, PathBuf), Arc<ModelPair>>>,
}

impl ModelPairs {
    pub fn new(shared: Arc<SharedModels>, plan: ChunkPlan, metrics: Arc<Metrics>) -> Self {
        ModelPairs { shared, plan, metrics, loaded: Mutex::new(HashMap::new()) }
    }

    pub fn shared(&self) -> &Arc<SharedModels> {
        &self.shared
    }

    /// The pair of these files, loading it (and starting its threads) on first use.
    pub fn get(&self, gpt: &Path, sovits: &Path) -> Result<Arc<ModelPair>, EngineError> {
        let key = (canonical(gpt), canonical(sovits));
        // Loading holds the lock: two requests for a new pair must not load it twice.
        let mut loaded = self.loaded.lock();
        if let Some(pair) = loaded.get(&key) {
            return Ok(pair.clone());
        }
        let synth = Arc::new(Synthesizer::load_pair(&key.0, &key.1, self.shared.clone())?);
        let (acoustic_tx, acoustic_rx) = std::sync::mpsc::channel();
        let (scheduler_tx, scheduler_rx) = std::sync::mpsc::channel();
        let acoustic = AcousticScheduler::new(synth.acoustic().clone(), self.plan.clone(), self.metrics.clone());
        let scheduler = Scheduler::new(synth.t2s().clone(), self.plan.clone(), acoustic_tx, self.metrics.clone());
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| EngineError::Internal(format!("cannot start the {name} thread: {e}")))
        };
        spawn("acoustic-scheduler", Box::new(move || acoustic.run(acoustic_rx)))?;
        spawn("gpt-scheduler", Box::new(move || scheduler.run(scheduler_rx)))?;
        let pair = Arc::new(ModelPair { synth, gpt: key.0.clone(), sovits: key.1.clone(), scheduler: scheduler_tx });
        loaded.insert(key, pair.clone());
        Ok(pair)
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}
