//! The GPU's acoustic graph (`model::acoustic_graph`: batched, padded, FP16 storage, fused
//! epilogues, folded flips) run on the CPU twins of its kernels (`cpu::acoustic_twins`): the GPU
//! path's whole algorithm checked without a GPU, against upstream's tensors and the f32 CPU
//! reference (checks and tolerances: `common/acoustic.rs`). The kernels are checked against the
//! same twins in `tests/kernel_emulation.rs`, and on a GPU in `tests/gpu_acoustic.rs`.
mod common;

use common::acoustic::{
    check_batch_equals_alone, check_cpu_with_noise, check_streaming, check_upstream_tensors, fixture_sovits,
};
use sovits_rt::cpu::acoustic_twins::TwinOps;
use sovits_rt::model::acoustic_graph::{BatchOptions, BatchedSovits, Shape};

fn twins(dir: &std::path::Path, max_batch: usize) -> BatchedSovits<TwinOps> {
    let (cfg, w) = fixture_sovits(dir);
    let capacity = Shape { items: max_batch, tokens: 96, phones: 64, out_frames: 256 };
    BatchedSovits::new(TwinOps::new(), cfg, w, BatchOptions { max_batch, capacity }).unwrap()
}

#[test]
fn graph_on_twins_matches_upstream_tensor_by_tensor() {
    let Some(dir) = common::model_fixtures("graph_on_twins_matches_upstream_tensor_by_tensor") else { return };
    check_upstream_tensors(&twins(&dir, 1), &dir);
}

#[test]
fn graph_on_twins_matches_the_cpu_with_noise() {
    let Some(dir) = common::model_fixtures("graph_on_twins_matches_the_cpu_with_noise") else { return };
    check_cpu_with_noise(&twins(&dir, 1), &dir);
}

#[test]
fn a_batch_decodes_each_window_as_alone() {
    let Some(dir) = common::model_fixtures("a_batch_decodes_each_window_as_alone") else { return };
    check_batch_equals_alone(&twins(&dir, 4), &dir, 4);
}

#[test]
fn graph_streams_like_the_cpu() {
    let Some(dir) = common::model_fixtures("graph_streams_like_the_cpu") else { return };
    check_streaming(&twins(&dir, 4), &dir);
}
