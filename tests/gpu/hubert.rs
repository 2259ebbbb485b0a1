//! chinese-hubert-base on the GPU against the CPU reference, on the `v2-small` fixture model
//! (hidden 768, 12 heads, 7 convs, positional conv of 16 groups) and the fixture's reference clip:
//! features within the FP16 tolerance the fixture README suggests (2e-2 × max|expected|), and
//! the prompt tokens a SoVITS quantizer (CPU; the full-size one with seeded random weights, so the
//! fixture's SoVITS file need not be carried) makes of them equal except where the nearest code is
//! tied within that tolerance. Needs an NVIDIA GPU; prints SKIP without one (fails instead with
//! `SOVITS_RT_REQUIRE_GPU=1`).
use crate::common;

use common::assert_close_rel;
use sovits_rt::checkpoint::open_hf_folder;
use sovits_rt::cpu::{CpuHubert, VoiceAnalyzer};
use sovits_rt::cuda::CudaHubert;
use sovits_rt::model::hubert::HubertWeights;
use sovits_rt::model::sovits::SovitsWeights;
use sovits_rt::model::{Hubert, Weights};

#[test]
fn hubert_features_and_prompt_tokens_match_the_cpu() {
    let Some(dir) = common::model_fixtures("hubert_features_and_prompt_tokens_match_the_cpu") else { return };
    let Some(rt) = common::gpu("hubert_features_and_prompt_tokens_match_the_cpu") else { return };
    let weights = HubertWeights::load(&open_hf_folder(&dir.join("chinese-hubert-base")).unwrap()).unwrap();
    let cpu = CpuHubert::new(weights.clone());
    let gpu = CudaHubert::new(rt, &weights).unwrap();
    let case = common::case(&dir, "hubert.safetensors");
    let (_, wav16k) = common::f32s(&case, "wav16k");

    let want = cpu.forward(&wav16k).unwrap();
    let got = gpu.forward(&wav16k).unwrap();
    assert_eq!(got.shape(), want.shape());
    assert_close_rel("HuBERT last_hidden_state", got.data(), want.data(), 2e-2);

    let file = sovits_rt::synthetic::sovits(2);
    let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap();
    let quantizer = VoiceAnalyzer::new(cfg, w.ref_enc, w.speaker, w.ssl_proj, w.codebook);
    let (cpu_tokens, gpu_tokens) =
        (quantizer.extract_latent(&want.t()).unwrap(), quantizer.extract_latent(&got.t()).unwrap());
    let differ = cpu_tokens.iter().zip(&gpu_tokens).filter(|(a, b)| a != b).count();
    println!("prompt tokens: {} of {} differ", differ, cpu_tokens.len());
    // A flip needs two codes within FP16 noise of each other; more than 2 % would be a bug.
    assert!(differ * 50 <= cpu_tokens.len(), "{differ} of {} prompt tokens differ", cpu_tokens.len());

    // Input errors are typed, as on the CPU.
    assert!(gpu.forward(&wav16k[..100]).is_err());
    assert!(gpu.forward(&[f32::NAN; 16_000]).is_err());
}
