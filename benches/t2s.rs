//! CPU speed of the GPT prior on a full-size v2 model with seeded random weights: prefill of 200
//! positions, batch-1 decode from context 300 to 500, and batched decode throughput. Upstream
//! PyTorch on the same kind of machine (`../shared/research/anchor-upstream-cpu.md`, f32, 2
//! threads): prefill 235 ms, decode 24.6 tok/s. Run with `cargo bench --bench t2s`.
//!
//! Napkin math: a decode step streams every layer weight once (75.7 M params, f16 = 151 MB)
//! plus the KV cache (24 layers × 2 × d × 4 B = 96 KiB per position, f32); the printed GB/s is
//! that traffic over the measured time.

use std::time::Instant;

use sovits_rt::cpu::CpuT2s;
use sovits_rt::model::t2s::{T2sConfig, T2sModel};
use sovits_rt::model::T2sLogits;
use sovits_rt::synthetic;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Decodes `steps` tokens for `batch` sessions prefilled with 150 phones + 150 prompt tokens;
/// returns seconds per step.
fn decode(model: &CpuT2s, batch: usize, steps: usize) -> f64 {
    let c = model.config().clone();
    let mut sessions: Vec<_> =
        (0..batch).map(|i| model.prefill_logits(&synthetic::t2s_prompt(&c, 150, 150, i as u32)).unwrap().0).collect();
    let mut tokens: Vec<u32> = (0..batch as u32).collect();
    let t = Instant::now();
    for _ in 0..steps {
        let mut refs: Vec<_> = sessions.iter_mut().collect();
        let logits = model.step_logits(&mut refs, &tokens).unwrap();
        for (tok, l) in tokens.iter_mut().zip(&logits) {
            *tok = sovits_rt::model::sampling::argmax(&l[..c.vocab - 1]) as u32;
        }
    }
    t.elapsed().as_secs_f64() / steps as f64
}

fn main() {
    // `cargo bench --bench t2s -- prefill|decode|batch` runs one part (for profiling).
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let config = T2sConfig::v2();
    let t = Instant::now();
    let model = CpuT2s::new(T2sModel::random(config.clone(), 1));
    println!("threads {}, model built in {:.1} s", rayon::current_num_threads(), t.elapsed().as_secs_f64());

    if run("prefill") {
        let p200 = synthetic::t2s_prompt(&config, 120, 80, 0);
        model.prefill_logits(&p200).unwrap();
        let times = (0..7).map(|_| {
            let t = Instant::now();
            model.prefill_logits(&p200).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        });
        println!("prefill 200 positions: {:.1} ms (upstream 235 ms)", median(times.collect()));
    }

    let weights_bytes = 2.0
        * (config.n_layer * (4 * config.d_model * config.d_model + 2 * config.d_model * config.ffn_dim)
            + config.vocab * config.d_model) as f64;
    let kv_bytes_per_pos = (config.n_layer * 2 * config.d_model * 4) as f64;
    if run("decode") {
        decode(&model, 1, 10);
        let per_step = median((0..3).map(|_| decode(&model, 1, 200)).collect());
        let gbs = (weights_bytes + kv_bytes_per_pos * 400.0) / per_step / 1e9;
        println!(
            "decode batch 1, context 300 -> 500: {:.1} tok/s ({:.2} ms/token, {gbs:.1} GB/s) (upstream 24.6 tok/s)",
            1.0 / per_step,
            per_step * 1e3
        );
    }
    if run("batch") {
        for batch in [2, 4, 8, 16] {
            let per_step = decode(&model, batch, 50);
            println!(
                "decode batch {batch}: {:.1} tok/s total ({:.2} ms/step)",
                batch as f64 / per_step,
                per_step * 1e3
            );
        }
    }
}
