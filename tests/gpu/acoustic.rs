//! The acoustic stage on the GPU (`cuda::CudaSovits`: the acoustic graph on the kernels of
//! `kernels/acoustic*.cu`) against upstream's tensors and the f32 CPU reference, with the checks
//! `tests/acoustic_graph.rs` runs on the kernels' CPU twins (`common/acoustic.rs`: FP16
//! tolerance 2e-2 × max per tensor, batched = alone bit for bit, streaming within 1 dB of the
//! CPU's figure), plus CUDA graphs against eager launches and full-size random weights (waveform
//! SNR ≥ 30 dB against the CPU for 1, 4 and 10 s). Needs an NVIDIA GPU; prints SKIP without one
//! (fails instead with `SOVITS_RT_REQUIRE_GPU=1`).
use crate::common;

use std::sync::Arc;

use common::acoustic::{
    check_batch_equals_alone, check_cpu_with_noise, check_full_size_snr, check_streaming, check_upstream_tensors,
    fixture_sovits, long_tokens, seeded, tensor,
};
use common::u32s;
use sovits_rt::cpu::CpuSovits;
use sovits_rt::cuda::{CudaSovits, CudaSovitsOptions, GpuRuntime};
use sovits_rt::model::acoustic::Window;
use sovits_rt::model::sovits::SovitsWeights;
use sovits_rt::model::{SemanticToAudio, Weights};

fn fixture_model(rt: &Arc<GpuRuntime>, dir: &std::path::Path, max_batch: usize, graphs: bool) -> CudaSovits {
    let (cfg, w) = fixture_sovits(dir);
    let options = CudaSovitsOptions { graphs, ..CudaSovitsOptions::for_batch(max_batch) };
    CudaSovits::on_gpu(rt.clone(), cfg, w, options).unwrap()
}

#[test]
fn gpu_acoustic_matches_upstream_tensor_by_tensor() {
    let test = "gpu_acoustic_matches_upstream_tensor_by_tensor";
    let (Some(rt), Some(dir)) = (common::gpu(test), common::model_fixtures(test)) else { return };
    check_upstream_tensors(&fixture_model(&rt, &dir, 1, true), &dir);
}

#[test]
fn gpu_acoustic_matches_the_cpu_with_noise() {
    let test = "gpu_acoustic_matches_the_cpu_with_noise";
    let (Some(rt), Some(dir)) = (common::gpu(test), common::model_fixtures(test)) else { return };
    check_cpu_with_noise(&fixture_model(&rt, &dir, 1, true), &dir);
}

#[test]
fn gpu_batch_of_16_decodes_each_window_as_alone() {
    let test = "gpu_batch_of_16_decodes_each_window_as_alone";
    let (Some(rt), Some(dir)) = (common::gpu(test), common::model_fixtures(test)) else { return };
    check_batch_equals_alone(&fixture_model(&rt, &dir, 16, true), &dir, 16);
}

#[test]
fn gpu_acoustic_streams_like_the_cpu() {
    let test = "gpu_acoustic_streams_like_the_cpu";
    let (Some(rt), Some(dir)) = (common::gpu(test), common::model_fixtures(test)) else { return };
    check_streaming(&fixture_model(&rt, &dir, 4, true), &dir);
}

/// A step replayed from its CUDA graph computes exactly what its launches do eagerly, for two
/// shapes in turn and a shape seen again.
#[test]
fn gpu_graphs_replay_the_eager_launches() {
    let test = "gpu_graphs_replay_the_eager_launches";
    let (Some(rt), Some(dir)) = (common::gpu(test), common::model_fixtures(test)) else { return };
    let (graphs, eager) = (fixture_model(&rt, &dir, 4, true), fixture_model(&rt, &dir, 4, false));
    let case = common::case(&dir, "sovits.safetensors");
    let (phones, ge) = (u32s(&case, "text"), tensor(&case, "ge"));
    let tokens = long_tokens(&case, graphs.config().quantizer.codebook_size, 100);
    let (v1, v2) = (graphs.prepare_voice(&ge).unwrap(), eager.prepare_voice(&ge).unwrap());
    let params = [seeded(1.0, 0.5, 1, 0), seeded(1.0, 0.5, 2, 40), seeded(0.9, 0.5, 3, 7)];
    for (i, span) in [(0, 32), (10, 98), (0, 32)].into_iter().enumerate() {
        let w = |v| Window { voice: v, tokens: &tokens[span.0..span.1], phones: &phones, params: &params[i] };
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

/// Full-size random v2 weights (the released model's sizes): FP16 keeps 30 dB of waveform SNR
/// against the f32 CPU for 1, 4 and 10 s of audio.
#[test]
fn gpu_acoustic_full_size_keeps_30_db() {
    let Some(rt) = common::gpu("gpu_acoustic_full_size_keeps_30_db") else { return };
    let file = sovits_rt::synthetic::sovits(2);
    let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
    let cpu = CpuSovits::new(cfg.clone(), w.clone());
    let gpu = CudaSovits::on_gpu(rt, cfg, w, CudaSovitsOptions::for_batch(1)).unwrap();
    check_full_size_snr(&gpu, &cpu, &[1.0, 4.0, 10.0], 30.0);
}
