//! Subcommands that run the streaming engine: `serve`, `say`, `devices`, `voice add|list|rm`.

pub mod params;
pub mod say;
pub mod serve;
pub mod voice;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sovits_rt::backend::Device;
use sovits_rt::engine::voices::default_voices_dir;
use sovits_rt::engine::{Engine, EngineConfig};
use sovits_rt::pipeline::ModelPaths;

/// The four model files of a GPT-SoVITS install, and where they run.
#[derive(clap::Args)]
pub struct ModelFiles {
    /// GPT checkpoint (.ckpt) as trained by GPT-SoVITS (for the engine: the base model, used by
    /// voices that do not name their own).
    #[arg(long)]
    gpt: PathBuf,
    /// SoVITS checkpoint (.pth) as trained by GPT-SoVITS.
    #[arg(long)]
    sovits: PathBuf,
    /// The chinese-hubert-base folder.
    #[arg(long)]
    hubert: PathBuf,
    /// The chinese-roberta-wwm-ext-large folder.
    #[arg(long)]
    bert: PathBuf,
    /// The speaker-verification checkpoint v2Pro/v2ProPlus models need (upstream's
    /// pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt), or its folder. Default: sv/
    /// beside the --hubert folder, as upstream lays out pretrained_models.
    #[arg(long)]
    sv: Option<PathBuf>,
    /// Where the models run: `auto` (the GPU when one is usable, else the CPU, saying why),
    /// `cpu`, or `cuda` (an error without a usable GPU).
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    device: Device,
}

impl ModelFiles {
    pub fn device(&self) -> Device {
        self.device
    }

    pub fn paths(self) -> ModelPaths {
        ModelPaths { gpt: self.gpt, sovits: self.sovits, hubert: self.hubert, bert: self.bert, sv: self.sv }
    }
}

/// The models and voices an engine runs on.
#[derive(clap::Args)]
pub struct EngineArgs {
    #[command(flatten)]
    models: ModelFiles,
    #[command(flatten)]
    voices: VoicesArg,
    /// Sessions served at once; more get a `busy` error. Default: the number of CPU cores (what
    /// the CPU backend keeps near real time; measure yours with `examples/loadgen.rs`).
    #[arg(long)]
    max_sessions: Option<usize>,
    /// GPT positions reserved per session on the GPU (phones + reference tokens + up to 1,500
    /// generated tokens). The KV cache is --max-sessions × this (48 KiB per position for the
    /// released model); the startup log prints what it costs.
    #[arg(long, default_value_t = sovits_rt::backend::DEFAULT_GPT_CONTEXT as u32, value_parser = clap::value_parser!(u32).range(1_600..=65_536))]
    max_context: u32,
}

/// Where the voices live.
#[derive(clap::Args)]
pub struct VoicesArg {
    /// Voices directory (default: $SOVITS_RT_VOICES, else ~/.local/share/sovits-rt/voices).
    #[arg(long)]
    voices: Option<PathBuf>,
}

impl VoicesArg {
    pub fn dir(&self) -> PathBuf {
        self.voices.clone().unwrap_or_else(default_voices_dir)
    }
}

impl EngineArgs {
    /// Loads the models (progress on stderr).
    pub fn engine(&self) -> anyhow::Result<Arc<Engine>> {
        self.engine_with(|_| {})
    }

    /// [`engine`](Self::engine) with settings of the calling command applied to the config.
    pub fn engine_with(&self, tweak: impl FnOnce(&mut EngineConfig)) -> anyhow::Result<Arc<Engine>> {
        let t = Instant::now();
        let m = &self.models;
        let mut config =
            EngineConfig::new(m.gpt.clone(), m.sovits.clone(), m.hubert.clone(), m.bert.clone(), self.voices.dir());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        config.max_sessions = self.max_sessions.unwrap_or(cores);
        config.gpt_context = self.max_context as usize;
        config.device = m.device;
        config.sv = m.sv.clone();
        tweak(&mut config);
        let engine = Engine::new(config)?;
        eprintln!(
            "loaded models on {} in {:.0} ms; voices in {}",
            engine.backend(),
            t.elapsed().as_secs_f64() * 1e3,
            engine.voices().dir().display()
        );
        Ok(Arc::new(engine))
    }
}
