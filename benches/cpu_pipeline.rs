//! CPU performance of every stage on full-size v2 models with seeded random weights, printed
//! beside upstream PyTorch's figures on the same kind of machine
//! (`../shared/research/anchor-upstream-cpu.md`: f32, 2 threads). Run with
//! `cargo bench --bench cpu_pipeline`; the figures go to `docs/PERFORMANCE.md`.
//!
//! Each figure is the median of several timed runs after one warm-up, like the anchor's.

use std::time::Instant;

use sovits_rt::cpu::{CpuBert, CpuHubert, CpuSovits, CpuSpeakerNet, CpuT2s};
use sovits_rt::model::sampling::SamplingParams;
use sovits_rt::model::speaker::SpeakerWeights;
use sovits_rt::model::t2s::{generate, GenerateOptions};
use sovits_rt::model::{Bert, DecodeParams, Hubert, PriorNoise, SemanticToAudio, T2sLogits, T2sPrompt, Weights};
use sovits_rt::speaker_verifier::embed_reference;
use sovits_rt::synthetic;
use sovits_rt::tensor::Tensor;

/// Median wall time in milliseconds of `runs` calls after one warm-up.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

/// Peak resident set size of this process so far, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ramp(n: usize, modulo: u32, offset: u32) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 7919 + offset) % modulo).collect()
}

fn prompt(phones: usize, prompt_tokens: usize) -> T2sPrompt {
    let bert = Tensor::new([1024, phones], (0..1024 * phones).map(|i| ((i % 97) as f32 / 97.0 - 0.5) * 0.2).collect());
    T2sPrompt { phone_ids: ramp(phones, 732, 3), bert, prompt_tokens: ramp(prompt_tokens, 1024, 11) }
}

struct Row {
    figure: &'static str,
    ours: String,
    upstream: &'static str,
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("sovits-rt CPU benchmark: full-size v2 models, random weights, {threads} threads");
    let mut rows = Vec::new();
    let rss_start = peak_rss_mb();

    // --- GPT prior ---------------------------------------------------------------------------
    let t2s = CpuT2s::load(&synthetic::gpt(1)).unwrap();
    let p200 = prompt(120, 80);
    let prefill = median_ms(7, || {
        t2s.prefill_logits(&p200).unwrap();
    });
    rows.push(Row { figure: "T2S prefill, 200 positions", ours: format!("{prefill:.1} ms"), upstream: "235 ms" });

    let greedy = SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.35 };
    let options = GenerateOptions { sampling: greedy, seed: 0, early_stop: Some(200) };
    let p300 = prompt(150, 150);
    let mut rates = Vec::new();
    for _ in 0..3 {
        let g = generate(&t2s, &p300, &options).unwrap();
        assert_eq!(g.tokens.len(), 200, "the benchmark needs 200 decode steps");
        rates.push(200.0 / (g.decode_ms / 1e3));
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    rows.push(Row {
        figure: "T2S decode, context 300 -> 500",
        ours: format!("{:.1} tok/s", rates[1]),
        upstream: "25 tok/s",
    });

    // --- SoVITS decoder + HiFi-GAN -----------------------------------------------------------
    let sovits = CpuSovits::load(&synthetic::sovits(2)).unwrap();
    let spec = Tensor::new([1025, 250], (0..1025 * 250).map(|i| ((i * 37 % 101) as f32 / 101.0) * 2.0).collect());
    for (secs, phones, upstream) in [(1usize, 15usize, "0.27"), (4, 60, "0.26"), (10, 150, "0.26")] {
        let tokens = ramp(25 * secs, 1024, 5);
        let phone_ids = ramp(phones, 732, 9);
        let params =
            DecodeParams { speed: 1.0, noise_scale: 0.5, noise: PriorNoise::Seeded { seed: 3, first_frame: 0 } };
        let t = median_ms(if secs == 10 { 3 } else { 5 }, || {
            let style = sovits.prepare_voice(&sovits.reference_style(&spec, None).unwrap()).unwrap();
            let z = sovits.decode_latent(&tokens, &phone_ids, &style, &params).unwrap();
            let wav = sovits.vocode(&z, &style).unwrap();
            assert_eq!(wav.len(), 1280 * tokens.len());
        });
        let figure = match secs {
            1 => "SoVITS + HiFi-GAN RTF, 1 s",
            4 => "SoVITS + HiFi-GAN RTF, 4 s",
            _ => "SoVITS + HiFi-GAN RTF, 10 s",
        };
        rows.push(Row { figure, ours: format!("{:.3} ({t:.0} ms)", t / 1e3 / secs as f64), upstream });
    }
    let rss_t2s_sovits = peak_rss_mb();
    rows.push(Row {
        figure: "peak RSS, T2S + SoVITS built and run",
        ours: format!("{rss_t2s_sovits:.0} MB ({:.0} MB at start)", rss_start),
        upstream: "2,051 MB (923 MB imports)",
    });
    drop((t2s, sovits));

    // --- HuBERT and BERT ----------------------------------------------------------------------
    let hubert = CpuHubert::load(&synthetic::hubert(4)).unwrap();
    let mut wav: Vec<f32> = (0..80_000).map(|i| 0.3 * (i as f32 * 0.031).sin() * (i as f32 * 0.0007).cos()).collect();
    wav.extend(std::iter::repeat_n(0.0, 9_600));
    let t = median_ms(7, || {
        hubert.forward(&wav).unwrap();
    });
    rows.push(Row { figure: "HuBERT, 5 s clip (+0.6 s zeros)", ours: format!("{t:.0} ms"), upstream: "559 ms" });
    drop(hubert);

    let bert = CpuBert::load(&synthetic::bert(5)).unwrap();
    let mut ids = vec![101u32];
    ids.extend(ramp(40, 20_000, 700).into_iter().map(|i| i + 1000));
    ids.push(102);
    let t = median_ms(7, || {
        bert.hidden_states_sel(&ids).unwrap();
    });
    rows.push(Row { figure: "BERT-large, 40 characters", ours: format!("{t:.0} ms"), upstream: "292 ms" });
    drop(bert);

    // --- Speaker verification (v2Pro/v2ProPlus voices, once per reference clip) ---------------
    let file = synthetic::speaker_verifier(6);
    let (cfg, w) = SpeakerWeights::load(&Weights::new(&file.weights)).unwrap();
    let sv = CpuSpeakerNet::new(cfg, w);
    drop(file);
    let clip: Vec<f32> = (0..320_000).map(|i| 0.3 * (i as f32 * 0.013).sin() * (i as f32 * 0.0003).cos()).collect();
    let t = median_ms(3, || {
        embed_reference(&sv, &clip).unwrap();
    });
    rows.push(Row {
        figure: "SV embedding (full-size ERes2NetV2), 10 s clip",
        ours: format!("{t:.0} ms"),
        upstream: "not measured",
    });
    drop(sv);
    rows.push(Row {
        figure: "peak RSS, whole benchmark",
        ours: format!("{:.0} MB", peak_rss_mb()),
        upstream: "3,196 MB",
    });

    println!("\n| figure | sovits-rt | upstream PyTorch |\n|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.figure, r.ours, r.upstream);
    }
}
