//! GPU speed of the stages on the GPU, full-size v2 models with seeded random weights (issue 4's
//! table, and HuBERT's line of issue 5): decode tokens/s at batch 1, 8, 32, 64 and context 300 /
//! 800 (sampler on the device, CUDA graphs vs kernel-by-kernel launches), the achieved memory
//! traffic as a share of the measured device copy bandwidth, prefill of 400 positions, BERT on a
//! 40-character sentence, HuBERT on a 5 s clip, GPU memory, and the acoustic stage (`acoustic`:
//! sentences, a streaming chunk, aggregate audio-seconds per second over 1–256 sessions). Prints
//! `no GPU` and exits 0 elsewhere. Run with `cargo bench --bench cuda` (or the built binary with
//! `--bench`).
//!
//! Traffic per decode step: every weight once (f16: 24 × (4d² + 2·d·ffn) + V·d elements) plus
//! each session's KV cache (24 layers × K and V × d × 2 bytes = 48 KiB per position).

#[path = "cuda/acoustic.rs"]
mod acoustic;

use std::sync::Arc;
use std::time::Instant;

use sovits_rt::cuda::{CudaBert, CudaError, CudaHubert, CudaT2s, CudaT2sOptions, GpuRuntime, SamplerSetup};
use sovits_rt::model::bert::BertWeights;
use sovits_rt::model::hubert::HubertWeights;
use sovits_rt::model::t2s::{GenerateOptions, T2sConfig, T2sModel};
use sovits_rt::model::{Bert, Hubert, ModelError, T2sLogits};
use sovits_rt::synthetic;

const STEPS: usize = 64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median wall time in ms of `runs` calls of `f` after one warm-up call; the first error aborts.
fn median_ms<T>(runs: usize, mut f: impl FnMut() -> Result<T, ModelError>) -> Result<f64, ModelError> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(times))
}

/// Device-to-device copy bandwidth (read + write bytes per second) over a 1 GiB buffer.
fn copy_bandwidth(rt: &Arc<GpuRuntime>) -> Result<f64, CudaError> {
    let q = rt.queue()?;
    let n = 1usize << 29; // f16 elements: 1 GiB
    let src = q.zeros::<half::f16>(n)?;
    let mut dst = q.zeros::<half::f16>(n)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        q.copy(&src, &mut dst)?;
        q.synchronize()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(2.0 * (n * 2) as f64 / median(times))
}

/// Seconds per decode step for `batch` sessions at about `context` positions.
fn decode(gpu: &CudaT2s, c: &T2sConfig, batch: usize, context: usize) -> Result<f64, ModelError> {
    let phones = context / 3;
    let options = GenerateOptions { sampling: Default::default(), seed: 0, early_stop: None };
    let mut sessions = Vec::with_capacity(batch);
    let mut tokens = Vec::with_capacity(batch);
    for i in 0..batch {
        let prompt = synthetic::t2s_prompt(c, phones, context - phones, i as u32);
        let (s, first) = gpu.prefill_and_sample(&prompt, &SamplerSetup::new(&options))?;
        sessions.push(s);
        tokens.push(first.token.min(c.eos() - 1));
    }
    let mut refs: Vec<_> = sessions.iter_mut().collect();
    // Warm-up: captures this bucket's graph.
    gpu.step_and_sample(&mut refs, &tokens)?;
    let t = Instant::now();
    for _ in 0..STEPS {
        let next = gpu.step_and_sample(&mut refs, &tokens)?;
        // EOS or not, keep feeding an audio token: this measures steps, not utterances.
        tokens = next.iter().map(|s| s.token.min(c.eos() - 1)).collect();
    }
    Ok(t.elapsed().as_secs_f64() / STEPS as f64)
}

fn run(rt: Arc<GpuRuntime>) -> Result<(), Box<dyn std::error::Error>> {
    let c = T2sConfig::v2();
    let bandwidth = copy_bandwidth(&rt)?;
    println!(
        "device: {} (sm_{}{}), copy bandwidth {:.0} GB/s",
        rt.gpu.name,
        rt.gpu.capability.0,
        rt.gpu.capability.1,
        bandwidth / 1e9
    );
    let t = Instant::now();
    let model = T2sModel::random(c.clone(), 1);
    let options = CudaT2sOptions { slots: 64, max_context: 2560, max_batch: 64, graphs: true };
    let gpu = CudaT2s::new(rt.clone(), &model, options.clone())?;
    let eager = CudaT2s::new(rt.clone(), &model, CudaT2sOptions { graphs: false, ..options.clone() })?;
    let (free, total) = rt.memory()?;
    println!(
        "GPT uploaded twice (graphs / eager) in {:.1} s; KV cache {} slots × {} positions = {:.2} GiB per copy \
         ({:.0} MiB per slot); GPU memory used {:.1} GiB of {:.1}",
        t.elapsed().as_secs_f64(),
        options.slots,
        options.max_context,
        options.reserved_bytes(&c) as f64 / f64::from(1 << 30),
        options.bytes_per_slot(&c) as f64 / f64::from(1 << 20),
        (total - free) as f64 / (1u64 << 30) as f64,
        total as f64 / (1u64 << 30) as f64
    );

    let weights =
        2.0 * (c.n_layer * (4 * c.d_model * c.d_model + 2 * c.d_model * c.ffn_dim) + c.vocab * c.d_model) as f64;
    let kv_per_position = (c.n_layer * 2 * c.d_model * 2) as f64;
    let mut table = Vec::new();
    for context in [300, 800] {
        for batch in [1, 8, 32, 64] {
            let graph = decode(&gpu, &c, batch, context)?;
            let plain = decode(&eager, &c, batch, context)?;
            let gbs = (weights + kv_per_position * (batch * (context + STEPS / 2)) as f64) / graph / 1e9;
            table.push(format!(
                "| {batch:>5} | {context:>7} | {:>10.0} | {:>15.1} | {:>15.1} | {gbs:>4.0} | {:>8.0} % |",
                batch as f64 / graph,
                graph * 1e6,
                plain * 1e6,
                100.0 * gbs * 1e9 / bandwidth
            ));
        }
    }

    let prompt = synthetic::t2s_prompt(&c, 150, 250, 7);
    let prefill = median_ms(9, || gpu.prefill_logits(&prompt))?;

    let bert = CudaBert::new(rt.clone(), &BertWeights::load(&synthetic::bert(3))?)?;
    let ids: Vec<u32> = (0..42u32).map(|i| 100 + i * 37).collect();
    let bert_ms = median_ms(9, || bert.hidden_states_sel(&ids))?;

    let hubert = CudaHubert::new(rt.clone(), &HubertWeights::load(&synthetic::hubert(4))?)?;
    // 5 s at 16 kHz plus the 0.6 s of zeros upstream appends.
    let clip: Vec<f32> = (0..89_600).map(|i| if i < 80_000 { (i as f32 * 0.0123).sin() * 0.3 } else { 0.0 }).collect();
    let hubert_ms = median_ms(5, || hubert.forward(&clip))?;
    let (free, total) = rt.memory()?;

    println!();
    println!("| batch | context | tokens/s   | µs/step (graph) | µs/step (eager) | GB/s | of copy bw |");
    println!("|------:|--------:|-----------:|----------------:|----------------:|-----:|-----------:|");
    for row in table {
        println!("{row}");
    }
    println!("prefill 400 positions: {prefill:.2} ms (incl. logits copy to the host)");
    println!("BERT 40 characters (42 tokens, 22 layers): {bert_ms:.2} ms (incl. copy to the host)");
    println!("HuBERT 5 s clip (+0.6 s padding): {hubert_ms:.2} ms (incl. copies)");
    println!("GPU memory in use at the end: {:.1} GiB", (total - free) as f64 / f64::from(1 << 30));
    acoustic::run(&rt)
}

fn main() {
    match GpuRuntime::open(0) {
        Ok(rt) => {
            if let Err(e) = run(rt) {
                eprintln!("cuda benchmark failed: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => println!("no GPU: {e}"),
    }
}
