//! The GPU's acoustic graph (`model::acoustic_graph`: batched, padded, FP16 storage, fused
//! epilogues, folded flips) run on the CPU twins of its kernels (`cpu::acoustic_twins`), against
//! upstream's tensors (fixture `sovits.safetensors`) and the f32 CPU reference (`cpu::sovits`).
//! This is the GPU path's whole algorithm checked without a GPU; the kernels are checked against
//! the same twins in `tests/kernel_emulation.rs`, and on a GPU against the CPU in
//! `tests/gpu_acoustic.rs`.
//!
//! Tolerances (fixture README, "Tolerances"): FP16 storage against f32, every tensor within
//! 2e-2 × max|expected|. Batching is exact: a window decoded among others gives the same samples,
//! bit for bit, as decoded alone (the twins compute each row from its own item only).
mod common;

use std::sync::Arc;

use common::{assert_close_rel, f32s, u32s};
use sovits_rt::checkpoint::{open_sovits, TensorStore};
use sovits_rt::cpu::acoustic_twins::TwinOps;
use sovits_rt::cpu::CpuSovits;
use sovits_rt::model::acoustic::{snr_db, stream_sentence, Window};
use sovits_rt::model::acoustic_graph::{BatchOptions, BatchedSovits, Shape};
use sovits_rt::model::chunk::ChunkPlan;
use sovits_rt::model::sovits::{SovitsConfig, SovitsWeights};
use sovits_rt::model::{DecodeParams, PriorNoise, SemanticToAudio, Weights};
use sovits_rt::tensor::Tensor;

/// FP16 storage against f32 (fixture README).
const FP16_REL: f32 = 2e-2;

fn load(dir: &std::path::Path) -> (SovitsConfig, SovitsWeights) {
    let file = open_sovits(&dir.join("sovits.pth")).unwrap();
    SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap()
}

fn graph(cfg: &SovitsConfig, w: &SovitsWeights, max_batch: usize) -> BatchedSovits<TwinOps> {
    let capacity = Shape { items: max_batch, tokens: 96, phones: 64, out_frames: 256 };
    BatchedSovits::new(TwinOps::new(), cfg.clone(), w.clone(), BatchOptions { max_batch, capacity }).unwrap()
}

/// A fixture tensor without its leading dimensions of size 1.
fn tensor(store: &TensorStore, name: &str) -> Tensor {
    let (shape, data) = f32s(store, name);
    let dims: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
    Tensor::new(dims, data)
}

fn seeded(speed: f32, noise_scale: f32, seed: u64) -> DecodeParams {
    DecodeParams { speed, noise_scale, noise: PriorNoise::Seeded { seed, first_frame: 0 } }
}

/// Every intermediate of the graph against upstream's, for the main case (noise 0) and the
/// other speed.
#[test]
fn graph_on_twins_matches_upstream_tensor_by_tensor() {
    let Some(dir) = common::model_fixtures("graph_on_twins_matches_upstream_tensor_by_tensor") else { return };
    let (cfg, w) = load(&dir);
    let model = graph(&cfg, &w, 4);
    let case = common::case(&dir, "sovits.safetensors");
    let (tokens, phones) = (u32s(&case, "codes"), u32s(&case, "text"));
    let voice = model.prepare_voice(&tensor(&case, "ge")).unwrap();
    let meta = |k: &str| case.metadata()[k].parse::<f32>().unwrap();

    let main = seeded(f32s(&case, "speed").1[0], meta("noise_scale_main"), 0);
    let window = Window { voice: &voice, tokens: &tokens, phones: &phones, params: &main };
    let (waves, traces) = model.decode_traced(&[window]).unwrap();
    let trace = &traces[0];
    let n_flows = cfg.flow.n_flows;
    let mut names: Vec<(String, String)> = [
        ("ssl_proj", "enc_p_ssl_proj"),
        ("encoder_ssl", "enc_p_encoder_ssl"),
        ("encoder_text", "enc_p_encoder_text"),
        ("mrte", "enc_p_mrte"),
        ("x", "enc_p_x"),
        ("m_p", "m_p"),
        ("logs_p", "logs_p"),
        ("z_p", "z_p"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    names.extend((0..n_flows).map(|i| (format!("flow_rev_{i}"), format!("flow_rev_{i}"))));
    for (ours, theirs) in &names {
        let got = trace.get(ours, 0).unwrap_or_else(|| panic!("no trace of {ours}"));
        let want = tensor(&case, theirs);
        assert_eq!(got.shape(), want.shape(), "{ours}");
        assert_close_rel(ours, got.data(), want.data(), FP16_REL);
    }
    assert_close_rel("wav", &waves[0], &f32s(&case, "wav").1, FP16_REL);

    let alt = seeded(meta("speed_alt"), 0.0, 0);
    let window = Window { voice: &voice, tokens: &tokens, phones: &phones, params: &alt };
    let (waves, traces) = model.decode_traced(&[window]).unwrap();
    for (ours, theirs) in [("m_p", "speedalt_m_p"), ("logs_p", "speedalt_logs_p")] {
        assert_close_rel(ours, traces[0].get(ours, 0).unwrap().data(), tensor(&case, theirs).data(), FP16_REL);
    }
    let last = format!("flow_rev_{}", n_flows - 1);
    assert_close_rel(
        "speedalt_z",
        traces[0].get(&last, 0).unwrap().data(),
        tensor(&case, "speedalt_z").data(),
        FP16_REL,
    );
    assert_close_rel("speedalt_wav", &waves[0], &f32s(&case, "speedalt_wav").1, FP16_REL);
}

/// With prior noise (which upstream draws from torch's RNG, so only the CPU reference can be
/// compared): the graph's noise is the CPU's draw, per absolute frame.
#[test]
fn graph_on_twins_matches_the_cpu_with_noise() {
    let Some(dir) = common::model_fixtures("graph_on_twins_matches_the_cpu_with_noise") else { return };
    let (cfg, w) = load(&dir);
    let (model, cpu) = (graph(&cfg, &w, 4), CpuSovits::new(cfg.clone(), w.clone()));
    let case = common::case(&dir, "sovits.safetensors");
    let (tokens, phones, ge) = (u32s(&case, "codes"), u32s(&case, "text"), tensor(&case, "ge"));
    let voice = model.prepare_voice(&ge).unwrap();
    for params in [
        seeded(1.0, 0.5, 7),
        DecodeParams { noise: PriorNoise::Seeded { seed: 3, first_frame: 17 }, ..seeded(0.8, 0.7, 3) },
    ] {
        let window = Window { voice: &voice, tokens: &tokens, phones: &phones, params: &params };
        let (waves, traces) = model.decode_traced(&[window]).unwrap();
        let want = cpu.decode_traced(&tokens, &phones, &ge, &params).unwrap();
        assert_close_rel("z_p", traces[0].get("z_p", 0).unwrap().data(), want.z_p.data(), FP16_REL);
        let last = format!("flow_rev_{}", cfg.flow.n_flows - 1);
        assert_close_rel("z", traces[0].get(&last, 0).unwrap().data(), want.z.data(), FP16_REL);
        let wav = cpu.vocode(&want.z, &ge).unwrap();
        assert_close_rel("wav", &waves[0], &wav, FP16_REL);
        println!("speed {}: waveform SNR vs the f32 CPU {:.1} dB", params.speed, snr_db(&wav, &waves[0]));
    }
}

/// Windows of different voices, lengths, speeds and noise positions decoded in one step give
/// exactly what each gives alone, however the step is padded.
#[test]
fn a_batch_decodes_each_window_as_alone() {
    let Some(dir) = common::model_fixtures("a_batch_decodes_each_window_as_alone") else { return };
    let (cfg, w) = load(&dir);
    let model = graph(&cfg, &w, 4);
    let case = common::case(&dir, "sovits.safetensors");
    let (codes, text, ge) = (u32s(&case, "codes"), u32s(&case, "text"), tensor(&case, "ge"));
    let voices: Vec<_> = [1.0f32, -0.5, 2.0]
        .iter()
        .map(|s| model.prepare_voice(&Tensor::new([ge.len()], ge.data().iter().map(|v| v * s).collect())).unwrap())
        .collect();
    let windows_spec = [(&codes[..], &text[..]), (&codes[7..19], &text[3..11]), (&codes[20..], &text[..25])];
    let params = [
        seeded(1.0, 0.5, 1),
        DecodeParams { noise: PriorNoise::Seeded { seed: 2, first_frame: 40 }, ..seeded(1.0, 0.6, 2) },
        seeded(0.8, 0.5, 3),
    ];
    let windows: Vec<Window<'_, _>> = windows_spec
        .iter()
        .zip(&voices)
        .zip(&params)
        .map(|(((tokens, phones), voice), params)| Window { voice, tokens, phones, params })
        .collect();
    let together = model.decode(&windows).unwrap();
    for (i, w) in windows.iter().enumerate() {
        let alone = model.decode(std::slice::from_ref(w)).unwrap().pop().unwrap().unwrap();
        let with_others = together[i].as_ref().unwrap();
        assert_eq!(with_others.len(), alone.len(), "window {i}");
        assert!(with_others == &alone, "window {i}: batched samples differ from the window decoded alone");
        assert_eq!(alone.len(), cfg.hop_length() * cfg.latent_frames(w.tokens.len(), w.params.speed));
    }
}

/// Streaming through the graph: chunked decode vs whole decode is as close as on the CPU (the
/// chunk plan, not the graph, sets the SNR), and bad windows are typed errors of their own.
#[test]
fn graph_streams_like_the_cpu() {
    let Some(dir) = common::model_fixtures("graph_streams_like_the_cpu") else { return };
    let (cfg, w) = load(&dir);
    let (model, cpu) = (graph(&cfg, &w, 4), CpuSovits::new(cfg.clone(), w.clone()));
    let case = common::case(&dir, "sovits.safetensors");
    let (phones, ge) = (u32s(&case, "text"), tensor(&case, "ge"));
    let mut tokens = u32s(&case, "codes");
    let vocab = cfg.quantizer.codebook_size as u32;
    while tokens.len() < 100 {
        let prev = tokens[tokens.len() - 1];
        tokens.push((prev * 1103 + 12345 + tokens.len() as u32) % vocab);
    }
    let params = seeded(1.0, 0.5, 5);
    let plan = ChunkPlan::default();
    let snr = |m: &dyn Fn() -> (Vec<f32>, Vec<f32>)| {
        let (whole, streamed) = m();
        snr_db(&whole, &streamed)
    };
    let gpu_voice = Arc::new(model.prepare_voice(&ge).unwrap());
    let graph_snr = snr(&|| {
        let whole = model.synthesize(&gpu_voice, &tokens, &phones, &params).unwrap();
        (whole, stream_sentence(&model, &plan, gpu_voice.clone(), &tokens, &phones, &params).unwrap().0)
    });
    let cpu_voice = Arc::new(cpu.prepare_voice(&ge).unwrap());
    let cpu_snr = snr(&|| {
        let whole = cpu.synthesize(&cpu_voice, &tokens, &phones, &params).unwrap();
        (whole, stream_sentence(&cpu, &plan, cpu_voice.clone(), &tokens, &phones, &params).unwrap().0)
    });
    println!("streamed vs whole decode: graph {graph_snr:.2} dB, CPU {cpu_snr:.2} dB");
    assert!((graph_snr - cpu_snr).abs() <= 1.0, "graph {graph_snr:.2} dB vs CPU {cpu_snr:.2} dB");

    let bad = [tokens[0], vocab];
    let windows = [
        Window { voice: gpu_voice.as_ref(), tokens: &tokens[..10], phones: &phones, params: &params },
        Window { voice: gpu_voice.as_ref(), tokens: &bad, phones: &phones, params: &params },
    ];
    let out = model.decode(&windows).unwrap();
    assert!(out[0].is_ok());
    assert!(out[1].as_ref().unwrap_err().to_string().contains("outside"), "{:?}", out[1].as_ref().err());
}
