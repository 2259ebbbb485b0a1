//! The GPU's acoustic graph (`model::acoustic_graph`: batched, padded, FP16 storage, fused
//! epilogues, folded flips) run on the CPU twins of its kernels (`cpu::acoustic_twins`): the GPU
//! path's whole algorithm checked without a GPU, against upstream's tensors and the f32 CPU
//! reference, on the fixture model (checks and tolerances: `common/acoustic.rs`). The kernels are
//! checked against the same twins in `tests/kernel_emulation.rs`, and on a GPU with the same checks
//! in `tests/gpu/acoustic.rs`.
mod common;

use common::acoustic::{
    check_batch_equals_alone, check_sentence_snr, check_streaming, check_tensors_against_cpu, check_upstream_tensors,
    fixture_sovits, Inputs,
};
use sovits_rt::checkpoint::open_sovits;
use sovits_rt::cpu::acoustic_twins::TwinOps;
use sovits_rt::cpu::CpuSovits;
use sovits_rt::model::acoustic_graph::{BatchOptions, BatchedSovits, Shape};
use sovits_rt::model::sovits::SovitsWeights;
use sovits_rt::model::Weights;

/// The fixture model on the twins, the CPU reference, and the fixture's inputs.
fn models(dir: &std::path::Path, max_batch: usize) -> (BatchedSovits<TwinOps>, CpuSovits, Inputs) {
    let (cfg, w) = fixture_sovits(dir);
    let room_for = vec![Shape { items: max_batch, tokens: 96, phones: 64, out_frames: 256 }];
    let inputs = Inputs::fixture(dir, &cfg);
    let cpu = CpuSovits::new(cfg.clone(), w.clone());
    (BatchedSovits::new(TwinOps::new(), cfg, w, BatchOptions { max_batch, room_for }).unwrap(), cpu, inputs)
}

/// Every model of the fixture sets (v2, and each v2Pro/v2ProPlus: the Pro conditioning enters
/// through the prepared voice, the wider generator through the shapes).
#[test]
fn graph_on_twins_matches_upstream_tensor_by_tensor() {
    for c in common::sovits_cases("graph_on_twins_matches_upstream_tensor_by_tensor") {
        eprintln!("{}", c.model.display());
        let file = open_sovits(&c.model).unwrap();
        let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
        let room_for = vec![Shape { items: 1, tokens: 96, phones: 64, out_frames: 256 }];
        let model = BatchedSovits::new(TwinOps::new(), cfg, w, BatchOptions { max_batch: 1, room_for }).unwrap();
        check_upstream_tensors(&model, &c.dir, &c.case);
    }
}

#[test]
fn graph_on_twins_matches_the_cpu_tensor_by_tensor() {
    let Some(dir) = common::model_fixtures("graph_on_twins_matches_the_cpu_tensor_by_tensor") else { return };
    let (model, cpu, inputs) = models(&dir, 1);
    check_tensors_against_cpu(&model, &cpu, &inputs);
    check_sentence_snr(&model, &cpu, &inputs, &[2.0], 30.0);
}

#[test]
fn a_batch_decodes_each_window_as_alone() {
    let Some(dir) = common::model_fixtures("a_batch_decodes_each_window_as_alone") else { return };
    let (model, _, inputs) = models(&dir, 4);
    check_batch_equals_alone(&model, &inputs, 4);
}

#[test]
fn graph_streams_like_the_cpu() {
    let Some(dir) = common::model_fixtures("graph_streams_like_the_cpu") else { return };
    let (model, cpu, inputs) = models(&dir, 4);
    check_streaming(&model, &cpu, &inputs);
}

/// The full-size v2 SoVITS (seeded random weights, the released model's sizes) on the twins:
/// FP16 storage keeps 30 dB of waveform SNR against the f32 CPU for a 1 s sentence (53.6 dB
/// measured; the GPU test asks the same of the kernels for 1, 4 and 10 s).
#[test]
fn full_size_graph_on_twins_keeps_30_db() {
    let file = sovits_rt::synthetic::sovits(2);
    let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
    let cpu = CpuSovits::new(cfg.clone(), w.clone());
    let room_for = vec![Shape { items: 1, tokens: 32, phones: 64, out_frames: 64 }];
    let model = BatchedSovits::new(TwinOps::new(), cfg, w, BatchOptions { max_batch: 1, room_for }).unwrap();
    check_sentence_snr(&model, &cpu, &Inputs::synthetic(&cpu), &[1.0], 30.0);
}
