//! The acoustic stage on the GPU (full-size v2 SoVITS + HiFi-GAN with seeded random weights):
//! one session's whole sentence of 1, 4 and 10 s, a streaming chunk (8 new tokens + 24 of left
//! context over a 60-phone sentence), and the aggregate audio produced per second when 1, 16,
//! 64 or 256 sessions each decode their next steady-state chunk (64 new tokens + 24 of context),
//! with CUDA graphs and with eager launches; then GPU memory. Peer for comparison (measured the
//! same day on the same H200, research/gpu-baseline-2026-12-04.md): GSV-TTS-Lite 0.4.7 decodes
//! 4 s in 17.8 ms and 10 s in 17.8 ms.

use std::sync::Arc;
use std::time::Instant;

use sovits_rt::cuda::{CudaSovits, CudaSovitsOptions, GpuRuntime};
use sovits_rt::model::acoustic::Window;
use sovits_rt::model::acoustic_graph::PreparedVoice;
use sovits_rt::model::sovits::SovitsWeights;
use sovits_rt::model::{DecodeParams, ModelError, PriorNoise, SemanticToAudio, Weights};
use sovits_rt::tensor::Tensor;

use crate::median_ms;

/// Tokens per second of audio (25 Hz).
const TOKENS_PER_S: f64 = 25.0;

fn params(seed: u64) -> DecodeParams {
    DecodeParams { speed: 1.0, noise_scale: 0.5, noise: PriorNoise::Seeded { seed, first_frame: 0 } }
}

/// Median ms of one decode call over `windows` windows of `tokens` tokens each.
fn decode_ms(
    model: &CudaSovits,
    voice: &PreparedVoice,
    phones: &[u32],
    windows: usize,
    tokens: usize,
) -> Result<f64, ModelError> {
    let vocab = model.config().quantizer.codebook_size as u32;
    let ids: Vec<Vec<u32>> =
        (0..windows).map(|w| (0..tokens as u32).map(|i| (i * 7919 + 13 * w as u32) % vocab).collect()).collect();
    let p: Vec<DecodeParams> = (0..windows).map(|w| params(w as u64)).collect();
    let batch: Vec<Window<'_, PreparedVoice>> =
        (0..windows).map(|w| Window { voice, tokens: &ids[w], phones, params: &p[w] }).collect();
    let runs = if windows * tokens > 4000 { 5 } else { 11 };
    median_ms(runs, || {
        let out = model.decode(&batch)?;
        out.into_iter().collect::<Result<Vec<_>, _>>()
    })
}

pub fn run(rt: &Arc<GpuRuntime>) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let file = sovits_rt::synthetic::sovits(2);
    let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config)?;
    let graphs = CudaSovits::on_gpu(rt.clone(), cfg.clone(), w.clone(), CudaSovitsOptions::for_batch(64))?;
    let eager = CudaSovits::on_gpu(
        rt.clone(),
        cfg.clone(),
        w,
        CudaSovitsOptions { graphs: false, ..CudaSovitsOptions::for_batch(64) },
    )?;
    println!("\nSoVITS + HiFi-GAN (full-size v2) uploaded twice in {:.1} s", t.elapsed().as_secs_f64());
    let ge =
        Tensor::new([cfg.gin_channels], (0..cfg.gin_channels).map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5).collect());
    let (v_graphs, v_eager) = (graphs.prepare_voice(&ge)?, eager.prepare_voice(&ge)?);
    let phones: Vec<u32> = (0..60u32).map(|i| 1 + (i * 31) % (cfg.text.text_vocab as u32 - 1)).collect();

    println!("| what | tokens | graphs ms | eager ms | audio-s / s (graphs) |");
    println!("|---|---:|---:|---:|---:|");
    for seconds in [1.0, 4.0, 10.0] {
        let tokens = (seconds * TOKENS_PER_S) as usize;
        let g = decode_ms(&graphs, &v_graphs, &phones, 1, tokens)?;
        let e = decode_ms(&eager, &v_eager, &phones, 1, tokens)?;
        println!("| one session, {seconds} s sentence | {tokens} | {g:.2} | {e:.2} | {:.0} |", seconds * 1e3 / g);
    }
    let g = decode_ms(&graphs, &v_graphs, &phones, 1, 32)?;
    let e = decode_ms(&eager, &v_eager, &phones, 1, 32)?;
    println!("| one chunk: 8 new + 24 context | 32 | {g:.2} | {e:.2} | {:.0} |", 8.0 / TOKENS_PER_S * 1e3 / g);
    for sessions in [1, 16, 64, 256] {
        let g = decode_ms(&graphs, &v_graphs, &phones, sessions, 88)?;
        let e = decode_ms(&eager, &v_eager, &phones, sessions, 88)?;
        let audio = sessions as f64 * 64.0 / TOKENS_PER_S;
        println!(
            "| {sessions} sessions × next chunk (64 new + 24 context) | {} | {g:.2} | {e:.2} | {:.0} |",
            sessions * 88,
            audio * 1e3 / g
        );
    }
    let (free, total) = rt.memory()?;
    println!("GPU memory in use after the acoustic runs: {:.1} GiB", (total - free) as f64 / f64::from(1 << 30));
    Ok(())
}
