//! The speaker-verification net v2Pro/v2ProPlus voices need (ERes2NetV2, upstream
//! `GPT_SoVITS/pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt`): where its checkpoint is
//! found, and the net itself, loaded once per process on the first Pro model and shared by every
//! model pair. It runs on the CPU on every backend: it runs once per reference clip (≈ 0.1–0.3 s
//! of a voice's preparation), so a GPU port would save little (docs/GPU.md).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::audio;
use crate::checkpoint::open_speaker_verifier;
use crate::cpu::speaker::CpuSpeakerNet;
use crate::error::Error;
use crate::model::speaker::SpeakerWeights;
use crate::model::{ModelError, Weights};
use crate::tensor::Tensor;

/// The file name upstream ships the SV checkpoint under.
pub const SV_FILE_NAME: &str = "pretrained_eres2netv2w24s4ep4.ckpt";

/// Where the SV checkpoint is looked for and, once a Pro model needs it, the loaded net.
pub struct SpeakerVerifier {
    /// `--sv` as given (a file or a folder), else upstream's layout next to HuBERT.
    given: Option<PathBuf>,
    default_file: PathBuf,
    /// The checkpoint found and the net read from it, once a Pro model needed them.
    loaded: OnceLock<(PathBuf, Arc<CpuSpeakerNet>)>,
}

impl SpeakerVerifier {
    /// `given` is `--sv` (a checkpoint, or a folder holding [`SV_FILE_NAME`] or a single `.ckpt`);
    /// without it the checkpoint is looked for where upstream keeps it, `sv/` beside the HuBERT
    /// folder (`pretrained_models/sv/` next to `pretrained_models/chinese-hubert-base`).
    pub fn locate(given: Option<&Path>, hubert: &Path) -> Self {
        let pretrained = hubert.parent().unwrap_or(Path::new("."));
        SpeakerVerifier {
            given: given.map(Path::to_path_buf),
            default_file: pretrained.join("sv").join(SV_FILE_NAME),
            loaded: OnceLock::new(),
        }
    }

    /// The checkpoint the net was loaded from (`None` before a Pro model needed it).
    pub fn loaded_file(&self) -> Option<&Path> {
        self.loaded.get().map(|(path, _)| path.as_path())
    }

    /// The checkpoint file these rules find, or why none was found.
    fn file(&self) -> Result<PathBuf, String> {
        let Some(given) = &self.given else {
            return if self.default_file.is_file() {
                Ok(self.default_file.clone())
            } else {
                Err(format!("none at {} (pass --sv FILE_OR_DIR)", self.default_file.display()))
            };
        };
        if given.is_file() {
            return Ok(given.clone());
        }
        if !given.is_dir() {
            return Err(format!("--sv {} does not exist", given.display()));
        }
        let named = given.join(SV_FILE_NAME);
        if named.is_file() {
            return Ok(named);
        }
        let ckpts: Vec<PathBuf> = std::fs::read_dir(given)
            .map_err(|e| format!("cannot list --sv {}: {e}", given.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "ckpt"))
            .collect();
        match ckpts.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("no {SV_FILE_NAME} and no .ckpt file in --sv {}", given.display())),
            _ => Err(format!("several .ckpt files and no {SV_FILE_NAME} in --sv {}: name the file", given.display())),
        }
    }

    /// The net, loaded on first use; `model` is the Pro SoVITS file that needs it (for the error).
    pub fn net(&self, model: &Path) -> Result<Arc<CpuSpeakerNet>, Error> {
        if let Some((_, net)) = self.loaded.get() {
            return Ok(net.clone());
        }
        let path = self.file().map_err(|why| {
            ModelError::Incompatible(format!(
                "{} is a v2Pro/v2ProPlus model: it needs the speaker-verification checkpoint {SV_FILE_NAME} \
                 (upstream's GPT_SoVITS/pretrained_models/sv/); {why}",
                model.display()
            ))
        })?;
        let file = open_speaker_verifier(&path)?;
        let (cfg, weights) = SpeakerWeights::load(&Weights::new(&file.weights))?;
        // Two pairs loading at once may both build the net; one of them is kept.
        Ok(self.loaded.get_or_init(|| (path, Arc::new(CpuSpeakerNet::new(cfg, weights)))).1.clone())
    }
}

/// A reference's SV embedding `[20480]` from its 32 kHz signal (`audio::reference_wav_32k`).
pub fn embed_reference(net: &CpuSpeakerNet, wav32k: &[f32]) -> Result<Tensor, Error> {
    Ok(net.embed(&audio::speaker_features(wav32k)?)?)
}
