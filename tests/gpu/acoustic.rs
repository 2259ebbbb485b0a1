//! The acoustic stage on the GPU (`cuda::CudaSovits`: the acoustic graph on the kernels of
//! `kernels/acoustic*.cu`) against the f32 CPU reference on a full-size v2 SoVITS with seeded
//! random weights built in memory (no fixture files to carry), with the checks
//! `tests/acoustic_graph.rs` runs on the kernels' CPU twins (`common/acoustic.rs`: FP16
//! tolerance 2e-2 × max per tensor, batched = alone bit for bit, streaming within 1 dB of the
//! CPU's figure), plus CUDA graphs against eager launches and waveform SNR ≥ 30 dB for sentences
//! of 1, 4 and 10 s.
use crate::common;

use std::sync::{Arc, OnceLock};

use common::acoustic::{
    check_batch_equals_alone, check_sentence_snr, check_streaming, check_tensors_against_cpu, seeded, Inputs,
};
use sovits_rt::cpu::CpuSovits;
use sovits_rt::cuda::{CudaSovits, CudaSovitsOptions, GpuRuntime};
use sovits_rt::model::acoustic::Window;
use sovits_rt::model::sovits::{SovitsConfig, SovitsWeights};
use sovits_rt::model::{SemanticToAudio, Weights};

/// The full-size v2 SoVITS with seeded random weights, and its f32 CPU reference: built once per
/// test binary.
fn full_size() -> &'static (SovitsConfig, SovitsWeights, CpuSovits, Inputs) {
    static MODELS: OnceLock<(SovitsConfig, SovitsWeights, CpuSovits, Inputs)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let file = sovits_rt::synthetic::sovits(2);
        let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
        let cpu = CpuSovits::new(cfg.clone(), w.clone());
        let inputs = Inputs::synthetic(&cpu);
        (cfg, w, cpu, inputs)
    })
}

fn gpu_model(rt: &Arc<GpuRuntime>, max_batch: usize, graphs: bool) -> CudaSovits {
    let (cfg, w, _, _) = full_size();
    let options = CudaSovitsOptions { graphs, ..CudaSovitsOptions::for_batch(max_batch) };
    CudaSovits::on_gpu(rt.clone(), cfg.clone(), w.clone(), options).unwrap()
}

/// Every intermediate (ssl_proj, the three encoders, MRTE, x, m_p, logs_p, z_p, each flow
/// coupling) and the waveform within 2e-2 × max of the CPU's, without and with noise and at
/// another speed. (Upstream's own tensors are compared on the kernels' CPU twins in CI.)
#[test]
fn gpu_acoustic_matches_the_cpu_tensor_by_tensor() {
    let Some(rt) = common::gpu("gpu_acoustic_matches_the_cpu_tensor_by_tensor") else { return };
    let (_, _, cpu, inputs) = full_size();
    check_tensors_against_cpu(&gpu_model(&rt, 1, true), cpu, inputs);
}

#[test]
fn gpu_batch_of_16_decodes_each_window_as_alone() {
    let Some(rt) = common::gpu("gpu_batch_of_16_decodes_each_window_as_alone") else { return };
    check_batch_equals_alone(&gpu_model(&rt, 16, true), &full_size().3, 16);
}

#[test]
fn gpu_acoustic_streams_like_the_cpu() {
    let Some(rt) = common::gpu("gpu_acoustic_streams_like_the_cpu") else { return };
    let (_, _, cpu, inputs) = full_size();
    check_streaming(&gpu_model(&rt, 4, true), cpu, inputs);
}

/// A step replayed from its CUDA graph computes exactly what its launches do eagerly, for two
/// shapes in turn and a shape seen again.
#[test]
fn gpu_graphs_replay_the_eager_launches() {
    let Some(rt) = common::gpu("gpu_graphs_replay_the_eager_launches") else { return };
    let (graphs, eager) = (gpu_model(&rt, 4, true), gpu_model(&rt, 4, false));
    let inputs = &full_size().3;
    let (v1, v2) = (graphs.prepare_voice(&inputs.ge).unwrap(), eager.prepare_voice(&inputs.ge).unwrap());
    let params = [seeded(1.0, 0.5, 1, 0), seeded(1.0, 0.5, 2, 40), seeded(0.9, 0.5, 3, 7)];
    for (i, span) in [(0, 32), (10, 98), (0, 32)].into_iter().enumerate() {
        let tokens = &inputs.tokens[span.0..span.1];
        let w = |v| Window { voice: v, tokens, phones: &inputs.phones, params: &params[i] };
        let a = graphs.decode(&[w(&v1), w(&v1)]).unwrap();
        let b = eager.decode(&[w(&v2), w(&v2)]).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!(
                x.as_ref().unwrap() == y.as_ref().unwrap(),
                "step {i}: the graph's samples differ from eager launches"
            );
        }
    }
}

/// FP16 keeps 30 dB of waveform SNR against the f32 CPU for sentences of 1, 4 and 10 s.
#[test]
fn gpu_acoustic_full_size_keeps_30_db() {
    let Some(rt) = common::gpu("gpu_acoustic_full_size_keeps_30_db") else { return };
    let (_, _, cpu, inputs) = full_size();
    check_sentence_snr(&gpu_model(&rt, 1, true), cpu, inputs, &[1.0, 4.0, 10.0], 30.0);
}
