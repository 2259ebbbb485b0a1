//! The acoustic stage on the GPU: [`CudaOps`] runs the acoustic graph's operations
//! (`model::acoustic_graph`) with the kernels of `kernels/acoustic*.cu` on a queue of its own,
//! so decoding overlaps the GPT's steps and voice preparation on the other queues, and records
//! each step shape's launches once as a CUDA graph. [`CudaSovits`] is the whole stage.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{DeviceRepr, ValidAsZeroBits};
use half::f16;
use parking_lot::Mutex;

use super::acoustic_kernels::{
    attention_launch, conv_launch, gather_launch, interpolate_launch, overlap_add_launch, prior_sample_launch,
    MAX_ATTENTION_HEAD_DIM,
};
use super::launch::KernelLaunch;
use super::ops::{layer_norm_launch, NormWeights};
use super::runtime::{CudaError, Dev, DeviceBuffer, GpuRuntime, Queue, Recording};
use crate::model::acoustic_graph::ops::{
    AcousticOps, Attention, Conv, Gather, Interpolate, LayerNorm, OverlapAdd, PriorSample, View,
};
use crate::model::acoustic_graph::step::bucket;
use crate::model::acoustic_graph::{BatchOptions, BatchedSovits, Shape};
use crate::model::sovits::{SovitsConfig, SovitsWeights, MRTE_HEADS};
use crate::model::t2s::MAX_STEPS;
use crate::model::ModelError;

/// The acoustic stage on one GPU.
pub type CudaSovits = BatchedSovits<CudaOps>;

/// What the GPU acoustic stage reserves and how it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaSovitsOptions {
    pub batch: BatchOptions,
    /// Replay each step shape as a CUDA graph (else launch kernel by kernel).
    pub graphs: bool,
}

impl CudaSovitsOptions {
    /// Room for `max_batch` streaming chunks of the default chunk plan (64 new tokens and 24 of
    /// context, over up to 256 phones) per step, and for the longest sentence alone (upstream's
    /// 1,500 tokens at the slowest speed, 0.25: offline synthesis).
    pub fn for_batch(max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let chunks = Shape { items: max_batch, tokens: 96, phones: 256, out_frames: 256 };
        let longest =
            Shape { items: 1, tokens: bucket(MAX_STEPS), phones: 1024, out_frames: bucket(4 * 2 * MAX_STEPS + 1) };
        CudaSovitsOptions { batch: BatchOptions { max_batch, room_for: vec![chunks, longest] }, graphs: true }
    }
}

impl CudaSovits {
    /// Uploads a SoVITS model to the GPU.
    pub fn on_gpu(
        rt: Arc<GpuRuntime>,
        cfg: SovitsConfig,
        w: SovitsWeights,
        options: CudaSovitsOptions,
    ) -> Result<Self, ModelError> {
        check_supported(&cfg)?;
        let ops =
            CudaOps { q: rt.queue()?, allocations: Mutex::default(), recordings: options.graphs.then(Mutex::default) };
        BatchedSovits::new(ops, cfg, w, options.batch)
    }
}

/// Refuses, before anything is uploaded, a model whose shapes the kernels do not take (so
/// `--device auto` runs it on the CPU instead): the encoders' and the flow's channel counts must
/// be multiples of 8 (16-byte vector loads; the generator's are padded to that at load) and
/// attention heads multiples of 32 channels up to 128.
fn check_supported(cfg: &SovitsConfig) -> Result<(), CudaError> {
    let t = &cfg.text;
    let channels = [
        ("hidden", t.hidden_channels),
        ("filter", t.filter_channels),
        ("MRTE", t.mrte_channels),
        ("latent", cfg.inter_channels / 2),
        ("flow", cfg.flow.hidden),
    ];
    if let Some((what, c)) = channels.iter().find(|(_, c)| !c.is_multiple_of(8)) {
        return Err(CudaError::Unsupported(format!("{what} width {c} (the kernels read 8 channels at a time)")));
    }
    for (what, hd) in [("encoder", t.head_dim()), ("MRTE", t.mrte_channels / MRTE_HEADS)] {
        if !hd.is_multiple_of(32) || hd > MAX_ATTENTION_HEAD_DIM {
            return Err(CudaError::Unsupported(format!(
                "{what} attention heads of {hd} channels (multiples of 32 up to {MAX_ATTENTION_HEAD_DIM})"
            )));
        }
    }
    Ok(())
}

/// The acoustic graph's executor on the GPU.
pub struct CudaOps {
    q: Queue,
    /// Every allocation the views point into, held only to be freed with the executor.
    allocations: Mutex<Vec<Box<dyn std::any::Any + Send>>>,
    /// Per step shape, its recorded launches (`None`: launch eagerly every time).
    recordings: Option<Mutex<HashMap<Shape, Recording>>>,
}

impl<T: Send + Sync + 'static> View for Dev<T> {
    fn len(&self) -> usize {
        Dev::len(self)
    }

    fn range(self, start: usize, len: usize) -> Self {
        Dev::range(self, start, len)
    }
}

impl CudaOps {
    fn run(&self, launch: Result<KernelLaunch, CudaError>) -> Result<(), ModelError> {
        let launch = launch?;
        // SAFETY: every launch comes from a builder of `acoustic_kernels` or `ops`, which match the
        // kernel signatures and check the operands' sizes (`Queue::run`'s contract).
        unsafe { self.q.run(&launch) }?;
        Ok(())
    }

    /// A zeroed allocation of `len` elements, owned by the executor.
    fn alloc<T: DeviceRepr + ValidAsZeroBits + Send + 'static>(&self, len: usize) -> Result<Dev<T>, ModelError> {
        let buffer: DeviceBuffer<T> = self.q.zeros(len)?;
        let dev = buffer.dev().range(0, len);
        self.allocations.lock().push(Box::new(buffer));
        Ok(dev)
    }
}

impl AcousticOps for CudaOps {
    type F16 = Dev<f16>;
    type F32 = Dev<f32>;
    type I32 = Dev<i32>;

    fn alloc_f16(&self, len: usize) -> Result<Dev<f16>, ModelError> {
        self.alloc(len)
    }

    fn alloc_f32(&self, len: usize) -> Result<Dev<f32>, ModelError> {
        self.alloc(len)
    }

    fn alloc_i32(&self, len: usize) -> Result<Dev<i32>, ModelError> {
        self.alloc(len)
    }

    fn write_f16(&self, dst: Dev<f16>, src: &[f32]) -> Result<(), ModelError> {
        let halves: Vec<f16> = src.iter().map(|&v| f16::from_f32(v)).collect();
        Ok(self.q.write_to(dst, &halves)?)
    }

    fn write_f32(&self, dst: Dev<f32>, src: &[f32]) -> Result<(), ModelError> {
        Ok(self.q.write_to(dst, src)?)
    }

    fn write_i32(&self, dst: Dev<i32>, src: &[i32]) -> Result<(), ModelError> {
        Ok(self.q.write_to(dst, src)?)
    }

    fn read_f16(&self, src: Dev<f16>) -> Result<Vec<f32>, ModelError> {
        Ok(self.q.read_from(src)?.into_iter().map(f16::to_f32).collect())
    }

    fn read_f32(&self, src: Dev<f32>) -> Result<Vec<f32>, ModelError> {
        Ok(self.q.read_from(src)?)
    }

    fn gather(&self, op: &Gather<Self>) -> Result<(), ModelError> {
        self.run(gather_launch(op))
    }

    fn conv(&self, op: &Conv<Self>) -> Result<(), ModelError> {
        self.run(conv_launch(op))
    }

    fn overlap_add(&self, op: &OverlapAdd<Self>) -> Result<(), ModelError> {
        self.run(overlap_add_launch(op))
    }

    fn attention(&self, op: &Attention<Self>) -> Result<(), ModelError> {
        self.run(attention_launch(op))
    }

    fn layer_norm(&self, op: &LayerNorm<Self>) -> Result<(), ModelError> {
        assert_eq!(op.gamma.len(), op.cols, "LayerNorm width");
        let norm = NormWeights { gamma: op.gamma, beta: op.beta, eps: op.eps };
        self.run(Ok(layer_norm_launch(norm, op.out, op.x, Some(op.residual), op.rows)))
    }

    fn interpolate(&self, op: &Interpolate<Self>) -> Result<(), ModelError> {
        self.run(interpolate_launch(op))
    }

    fn prior_sample(&self, op: &PriorSample<Self>) -> Result<(), ModelError> {
        self.run(prior_sample_launch(op))
    }

    fn replay(&self, shape: Shape, step: &dyn Fn() -> Result<(), ModelError>) -> Result<(), ModelError> {
        let Some(recordings) = &self.recordings else { return step() };
        let mut recordings = recordings.lock();
        let recording = match recordings.entry(shape) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(self.q.record(step)?),
        };
        Ok(recording.replay()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Weights;
    use crate::synthetic::ModelSizes;

    #[test]
    fn shapes_the_kernels_cannot_take_are_refused_before_upload() {
        let file = ModelSizes::tiny().sovits.build(1);
        let (cfg, _) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
        assert!(check_supported(&cfg).is_ok());
        let mut odd = cfg.clone();
        odd.text.filter_channels = 100;
        assert!(check_supported(&odd).unwrap_err().to_string().contains("filter width 100"));
        let mut heads = cfg.clone();
        heads.text.n_heads = 4; // 192 / 4 = 48 channels per head
        assert!(check_supported(&heads).unwrap_err().to_string().contains("heads of 48"));
    }

    /// The workspace holds a full batch of the default plan's chunks, and the longest sentence
    /// the GPT can give (1,500 tokens) at the slowest speed alone: offline synthesis never finds a
    /// sentence too long for the GPU.
    #[test]
    fn the_workspace_holds_a_batch_of_chunks_and_the_longest_sentence() {
        use crate::model::acoustic::Window;
        use crate::model::acoustic_graph::{PreparedVoice, StepItem};
        use crate::model::{DecodeParams, PriorNoise};
        let file = ModelSizes::tiny().sovits.build(1);
        let (cfg, _) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
        let voice = PreparedVoice { mrte: vec![], flow: vec![], generator: vec![] };
        let fits = |max_batch: usize, windows: usize, tokens: usize, phones: usize, speed: f32| {
            let ids = vec![0u32; tokens.max(phones)];
            let params =
                DecodeParams { speed, noise_scale: 0.5, noise: PriorNoise::Seeded { seed: 0, first_frame: 0 } };
            let w = Window { voice: &voice, tokens: &ids[..tokens], phones: &ids[..phones], params: &params };
            let items: Vec<StepItem<'_>> = (0..windows)
                .map(|_| StepItem { tokens: w.tokens, phones: w.phones, voice: w.voice, params: w.params })
                .collect();
            let room = CudaSovitsOptions::for_batch(max_batch).batch.room_for;
            crate::model::acoustic_graph::Workspace::<CudaOps>::would_fit(&cfg, &room, Shape::of(&cfg, &items))
        };
        for max_batch in [1, 16, 64] {
            assert!(fits(max_batch, max_batch, 88, 200, 1.0), "{max_batch} chunks");
            assert!(fits(max_batch, 1, MAX_STEPS, 600, 0.25), "the longest sentence, batch {max_batch}");
            assert!(!fits(max_batch, 1, 4 * MAX_STEPS, 600, 0.25), "four times the longest sentence");
        }
    }
}
