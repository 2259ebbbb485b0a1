//! [`BatchedSovits`]: the acoustic stage ([`SemanticToAudio`]) over any executor of the graph's
//! operations — the GPU's kernels (`cuda::CudaSovits`) or their CPU twins (the tests). Per voice
//! it runs the small reference encoder and the quantizer on the CPU ([`VoiceAnalyzer`]) and
//! derives the voice's per-item biases once ([`Conditioner`]); per call it packs the windows into
//! as few steps as the batch size and the workspace allow and runs each as one graph.

use parking_lot::Mutex;

use super::ops::AcousticOps;
use super::step::{self, Shape, StepItem, StepLens, Trace, Workspace};
use super::weights::{Conditioner, GraphWeights, PreparedVoice};
use crate::cpu::VoiceAnalyzer;
use crate::model::acoustic::{check_window, BatchResult, Window};
use crate::model::sovits::{SovitsConfig, SovitsWeights};
use crate::model::{ModelError, PriorNoise, SemanticToAudio};
use crate::tensor::Tensor;

/// How much a [`BatchedSovits`] takes on per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Most windows in one step.
    pub max_batch: usize,
    /// The workspace holds any step no larger, in total, than one of these (fewer, longer windows
    /// than a shape's fit too).
    pub room_for: Vec<Shape>,
}

/// The acoustic stage on an executor `O`.
pub struct BatchedSovits<O: AcousticOps> {
    cfg: SovitsConfig,
    analyzer: VoiceAnalyzer,
    conditioner: Conditioner,
    ops: O,
    weights: GraphWeights<O>,
    /// One step at a time: the workspace is shared.
    workspace: Mutex<Workspace<O>>,
    max_batch: usize,
}

impl<O: AcousticOps> BatchedSovits<O> {
    /// Lays the weights out on `ops` and reserves the workspace.
    pub fn new(ops: O, cfg: SovitsConfig, w: SovitsWeights, options: BatchOptions) -> Result<Self, ModelError> {
        let (weights, conditioner) = GraphWeights::load(&ops, &cfg, &w)?;
        let workspace = Workspace::new(&ops, &cfg, &options.room_for)?;
        let analyzer = VoiceAnalyzer::new(cfg.clone(), w.ref_enc, w.speaker, w.ssl_proj, w.codebook);
        Ok(BatchedSovits {
            cfg,
            analyzer,
            conditioner,
            ops,
            weights,
            workspace: Mutex::new(workspace),
            max_batch: options.max_batch.max(1),
        })
    }

    pub fn ops(&self) -> &O {
        &self.ops
    }

    /// Decodes `windows` (already checked) in steps, with the intermediates of every window when
    /// `trace` is given (tests: each window then goes in its own eager step).
    fn run_steps(
        &self,
        windows: &[Window<'_, PreparedVoice>],
        mut trace: Option<&mut Vec<Trace>>,
    ) -> BatchResult<Vec<f32>> {
        let ws = self.workspace.lock();
        let items: Vec<StepItem<'_>> = windows
            .iter()
            .map(|w| StepItem { tokens: w.tokens, phones: w.phones, voice: w.voice, params: w.params })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            // The largest group from `start` that fits a step.
            let limit = if trace.is_some() { 1 } else { self.max_batch };
            let mut end = start + 1;
            while end < items.len() && end - start < limit && ws.fits(Shape::of(&self.cfg, &items[start..=end])) {
                end += 1;
            }
            let group = &items[start..end];
            let shape = Shape::of(&self.cfg, group);
            start = end;
            if !ws.fits(shape) {
                out.push(Err(ModelError::Input(format!(
                    "a window of {} tokens and {} phones is larger than the GPU workspace",
                    group[0].tokens.len(),
                    group[0].phones.len()
                ))));
                continue;
            }
            let views = ws.views(shape);
            views.write_inputs(&self.ops, &self.cfg, group)?;
            let frames: Vec<usize> =
                group.iter().map(|i| self.cfg.latent_frames(i.tokens.len(), i.params.speed)).collect();
            match trace.as_deref_mut() {
                Some(traces) => {
                    let lens: Vec<StepLens> = group
                        .iter()
                        .zip(&frames)
                        .map(|(i, &f)| StepLens { tokens: i.tokens.len(), phones: i.phones.len(), out_frames: f })
                        .collect();
                    let mut t = Trace::default();
                    step::run(&self.ops, &self.weights, &views, Some((&mut t, &lens)))?;
                    traces.push(t);
                }
                None => self.ops.replay(shape, &|| step::run(&self.ops, &self.weights, &views, None))?,
            }
            out.extend(views.read_waves(&self.ops, &self.cfg, &frames)?.into_iter().map(Ok));
        }
        Ok(out)
    }

    /// [`SemanticToAudio::decode`] with every intermediate of each window, channel-first like
    /// `CpuSovits::decode_traced` (tests).
    pub fn decode_traced(
        &self,
        windows: &[Window<'_, PreparedVoice>],
    ) -> Result<(Vec<Vec<f32>>, Vec<Trace>), ModelError> {
        for w in windows {
            self.check(w)?;
        }
        let mut traces = Vec::new();
        let waves = self.run_steps(windows, Some(&mut traces))?.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok((waves, traces))
    }

    fn check(&self, w: &Window<'_, PreparedVoice>) -> Result<(), ModelError> {
        check_window(&self.cfg, w.tokens, w.phones, w.params)?;
        match w.params.noise {
            PriorNoise::Seeded { .. } => Ok(()),
            PriorNoise::Given(_) => {
                Err(ModelError::Input("the batched decode draws its own prior noise (seeded)".into()))
            }
        }
    }
}

impl<O: AcousticOps + Send + Sync> SemanticToAudio for BatchedSovits<O> {
    type Voice = PreparedVoice;

    fn config(&self) -> &SovitsConfig {
        &self.cfg
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn reference_style(&self, spec: &Tensor, speaker: Option<&Tensor>) -> Result<Tensor, ModelError> {
        self.analyzer.reference_style(spec, speaker)
    }

    fn extract_latent(&self, ssl: &Tensor) -> Result<Vec<u32>, ModelError> {
        self.analyzer.extract_latent(ssl)
    }

    fn prepare_voice(&self, ge: &Tensor) -> Result<PreparedVoice, ModelError> {
        Ok(self.conditioner.prepare(self.analyzer.conditioning(ge)?))
    }

    fn decode(&self, windows: &[Window<'_, PreparedVoice>]) -> BatchResult<Vec<f32>> {
        let checked: Vec<Result<(), ModelError>> = windows.iter().map(|w| self.check(w)).collect();
        let good: Vec<Window<'_, PreparedVoice>> = windows
            .iter()
            .zip(&checked)
            .filter(|(_, c)| c.is_ok())
            .map(|(w, _)| Window { voice: w.voice, tokens: w.tokens, phones: w.phones, params: w.params })
            .collect();
        let mut decoded = self.run_steps(&good, None)?.into_iter();
        Ok(checked
            .into_iter()
            .map(|c| {
                c.and_then(|()| {
                    decoded.next().unwrap_or_else(|| Err(ModelError::Device("a window was not decoded".into())))
                })
            })
            .collect())
    }
}
