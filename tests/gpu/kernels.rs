//! Single kernels against their CPU twins. Needs an NVIDIA GPU; prints SKIP without one (fails
//! instead with `SOVITS_RT_REQUIRE_GPU=1`).
use crate::common;

use half::f16;
use sovits_rt::cpu::gemv::{linear_few, WeightMat};
use sovits_rt::cpu::ops::layer_norm_slice;
use sovits_rt::cuda::ops::{
    ffn_add_norm_launch, linear_add_norm_launch, linear_launch, Activation, DeviceLinear, DeviceNorm, FfnScratch,
    LinearOutput, Rows,
};
use sovits_rt::cuda::t2s::SamplerSlot;
use sovits_rt::cuda::t2s_kernels::{sample_tokens_launch, SamplerOutput, SamplerState, StepRows};
use sovits_rt::model::rng::{exp1, uniform, Purpose};
use sovits_rt::model::sampling::{apply_repetition_penalty, argmax, probs_from_penalised, SamplingParams};
use sovits_rt::model::t2s::EOS_BLOCKED_STEPS;
use sovits_rt::tensor::Tensor;

fn value(i: usize, s: f32) -> f32 {
    (i as f32 * 0.7311 + s).sin() * 2.0
}

#[test]
fn add_layer_norm_matches_the_cpu() {
    let Some(rt) = common::gpu("add_layer_norm_matches_the_cpu") else { return };
    let q = rt.queue().unwrap();
    let (rows, cols) = (37usize, 1024usize);
    let round = |v: f32| f16::from_f32(v).to_f32();
    let x: Vec<f32> = (0..rows * cols).map(|i| round(value(i, 0.0))).collect();
    let r: Vec<f32> = (0..rows * cols).map(|i| round(value(i, 1.3))).collect();
    let g: Vec<f32> = (0..cols).map(|i| round(1.0 + 0.1 * value(i, 2.0))).collect();
    let b: Vec<f32> = (0..cols).map(|i| round(0.1 * value(i, 3.0))).collect();
    let norm = DeviceNorm::new(&q, &g, &b, 1e-5).unwrap();
    let (xd, rd) = (q.upload_f16(&x).unwrap(), q.upload_f16(&r).unwrap());
    // In place, as the transformer blocks call it: out = residual.
    norm.forward(&q, rd.dev(), xd.dev(), Some(rd.dev()), rows).unwrap();
    let got = q.read(&rd, rows * cols).unwrap();
    let mut worst = 0.0f32;
    for row in 0..rows {
        let mut want: Vec<f32> = (0..cols).map(|c| x[row * cols + c] + r[row * cols + c]).collect();
        layer_norm_slice(&mut want, &g, &b, 1e-5);
        for c in 0..cols {
            worst = worst.max((got[row * cols + c].to_f32() - want[c]).abs());
        }
    }
    println!("add_layer_norm_f16 vs CPU: max abs error {worst:.2e}");
    assert!(worst < 1e-2, "max abs error {worst}");
}

#[test]
fn fused_product_and_layer_norm_match_the_cpu() {
    let Some(rt) = common::gpu("fused_product_and_layer_norm_match_the_cpu") else { return };
    let q = rt.queue().unwrap();
    let round = |v: f32| f16::from_f32(v).to_f32();
    // The GPT's FFN-down at 13 rows: two row groups, K = 2048.
    let (rows, n, k) = (13usize, 512usize, 2048usize);
    let x: Vec<f32> = (0..rows * k).map(|i| round(0.5 * value(i, 0.3))).collect();
    let w: Vec<f32> = (0..n * k).map(|i| round(0.02 * value(i, 1.1))).collect();
    let b: Vec<f32> = (0..n).map(|i| round(0.1 * value(i, 2.2))).collect();
    let state: Vec<f32> = (0..rows * n).map(|i| round(value(i, 3.3))).collect();
    let g: Vec<f32> = (0..n).map(|i| round(1.0 + 0.1 * value(i, 4.4))).collect();
    let beta: Vec<f32> = (0..n).map(|i| round(0.1 * value(i, 5.5))).collect();
    let linear =
        DeviceLinear::from_tensors(&q, &Tensor::new([n, k], w.clone()), Some(&Tensor::new([n], b.clone()))).unwrap();
    let norm = DeviceNorm::new(&q, &g, &beta, 1e-5).unwrap();
    let (x_d, state_d) = (q.upload_f16(&x).unwrap(), q.upload_f16(&state).unwrap());
    let (out_d, counters) = (q.zeros::<f16>(rows * n).unwrap(), q.zeros::<i32>(2).unwrap());
    // Twice: the counters must be re-armed by the first launch.
    for _ in 0..2 {
        let x_rows = Rows { data: x_d.dev(), count: rows, stride: k };
        let launch = linear_add_norm_launch(
            linear.weights(),
            x_rows,
            out_d.dev(),
            state_d.dev(),
            norm.weights(),
            counters.dev(),
        );
        // SAFETY: built by linear_add_norm_launch (see there).
        unsafe { q.run(&launch.unwrap()) }.unwrap();
    }
    let got = q.read(&state_d, rows * n).unwrap();
    let mut want = state.clone();
    for _ in 0..2 {
        let mut product = vec![0.0; rows * n];
        linear_few(&x, rows, &WeightMat::new(&Tensor::new([n, k], w.clone())), Some(&b), &mut product);
        for (p, s) in product.chunks_exact(n).zip(want.chunks_exact_mut(n)) {
            let mut summed: Vec<f32> = p.iter().zip(s.iter()).map(|(&p, &s)| round(p) + s).collect();
            layer_norm_slice(&mut summed, &g, &beta, 1e-5);
            s.iter_mut().zip(summed).for_each(|(s, v)| *s = round(v));
        }
    }
    let worst = got.iter().zip(&want).map(|(g, w)| (g.to_f32() - w).abs()).fold(0.0f32, f32::max);
    println!("linear_small_m_add_norm_f16 vs CPU (two launches): max abs error {worst:.2e}");
    assert!(worst < 2e-2, "max abs error {worst}");
    assert_eq!(q.read(&counters, 2).unwrap(), [0, 0], "counters re-armed");
}

/// The whole FFN in one launch: against the CPU, and bit for bit equal when launched again on the
/// same input (the scratch re-armed; the fixed-point sums do not depend on the atomics' order).
#[test]
fn fused_ffn_matches_the_cpu_and_repeats_bit_for_bit() {
    let Some(rt) = common::gpu("fused_ffn_matches_the_cpu_and_repeats_bit_for_bit") else { return };
    let q = rt.queue().unwrap();
    let round = |v: f32| f16::from_f32(v).to_f32();
    let (rows, d, h) = (13usize, 512usize, 2048usize);
    let state: Vec<f32> = (0..rows * d).map(|i| round(value(i, 0.4))).collect();
    let w1: Vec<f32> = (0..h * d).map(|i| round(0.04 * value(i, 1.2))).collect();
    let b1: Vec<f32> = (0..h).map(|i| round(0.1 * value(i, 2.1))).collect();
    let w2: Vec<f32> = (0..d * h).map(|i| round(0.02 * value(i, 3.4))).collect();
    let b2: Vec<f32> = (0..d).map(|i| round(0.1 * value(i, 4.3))).collect();
    let g: Vec<f32> = (0..d).map(|i| round(1.0 + 0.1 * value(i, 5.2))).collect();
    let beta: Vec<f32> = (0..d).map(|i| round(0.1 * value(i, 6.1))).collect();
    let (w1_t, w2_t) = (Tensor::new([h, d], w1), Tensor::new([d, h], w2));
    let up = DeviceLinear::from_tensors(&q, &w1_t, Some(&Tensor::new([h], b1.clone()))).unwrap();
    let down = DeviceLinear::from_tensors(&q, &w2_t, Some(&Tensor::new([d], b2.clone()))).unwrap();
    let norm = DeviceNorm::new(&q, &g, &beta, 1e-5).unwrap();
    let (accum, counter) = (q.zeros::<u64>(rows * d).unwrap(), q.zeros::<i32>(1).unwrap());
    let scratch = FfnScratch { accum: accum.dev(), counter: counter.dev() };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let state_d = q.upload_f16(&state).unwrap();
        let launch = ffn_add_norm_launch(up.weights(), down.weights(), state_d.dev(), rows, norm.weights(), scratch);
        // SAFETY: built by ffn_add_norm_launch (see there).
        unsafe { q.run(&launch.unwrap()) }.unwrap();
        runs.push(q.read(&state_d, rows * d).unwrap());
    }
    assert!(runs[0].iter().zip(&runs[1]).all(|(a, b)| a.to_bits() == b.to_bits()), "two launches differ");
    assert!(q.read(&accum, rows * d).unwrap().iter().all(|&v| v == 0), "accum re-armed");
    assert_eq!(q.read(&counter, 1).unwrap(), [0], "counter re-armed");

    let mut hidden = vec![0.0; rows * h];
    linear_few(&state, rows, &WeightMat::new(&w1_t), Some(&b1), &mut hidden);
    hidden.iter_mut().for_each(|v| *v = round(v.max(0.0)));
    let mut want = vec![0.0; rows * d];
    linear_few(&hidden, rows, &WeightMat::new(&w2_t), Some(&b2), &mut want);
    for (out, s) in want.chunks_exact_mut(d).zip(state.chunks_exact(d)) {
        out.iter_mut().zip(s).for_each(|(o, &s)| *o = round(*o) + s);
        layer_norm_slice(out, &g, &beta, 1e-5);
    }
    let worst = runs[0].iter().zip(&want).map(|(g, w)| (g.to_f32() - w).abs()).fold(0.0f32, f32::max);
    println!("ffn_small_m_f16 vs CPU: max abs error {worst:.2e}");
    assert!(worst < 2e-2, "max abs error {worst}");
}

/// The decode products at every batch size the step takes: one warp per column up to 16 rows,
/// tensor cores above (one and two 64-row blocks), f16 out with ReLU and the LM head's f32 out.
#[test]
fn decode_products_match_the_cpu_at_every_batch_size() {
    let Some(rt) = common::gpu("decode_products_match_the_cpu_at_every_batch_size") else { return };
    let q = rt.queue().unwrap();
    let round = |v: f32| f16::from_f32(v).to_f32();
    // The GPT's FFN-down (K = 2048) and LM head (N = vocab, f32 logits).
    for (n, k, logits) in [(512usize, 2048usize, false), (1025, 512, true)] {
        let w: Vec<f32> = (0..n * k).map(|i| round(0.03 * value(i, 0.7))).collect();
        let b: Vec<f32> = (0..n).map(|i| round(0.1 * value(i, 1.9))).collect();
        let weights = Tensor::new([n, k], w);
        let linear = DeviceLinear::from_tensors(&q, &weights, Some(&Tensor::new([n], b.clone()))).unwrap();
        for rows in [1usize, 8, 9, 16, 17, 64, 100] {
            let x: Vec<f32> = (0..rows * k).map(|i| round(0.5 * value(i, rows as f32))).collect();
            let x_d = q.upload_f16(&x).unwrap();
            let got: Vec<f32> = if logits {
                let out = q.zeros::<f32>(rows * n).unwrap();
                let x_rows = Rows { data: x_d.dev(), count: rows, stride: k };
                let launch = linear_launch(linear.weights(), x_rows, LinearOutput::F32(out.dev()), n, Activation::None);
                // SAFETY: built by linear_launch (see there).
                unsafe { q.run(&launch.unwrap()) }.unwrap();
                q.read(&out, rows * n).unwrap()
            } else {
                let out = q.zeros::<f16>(rows * n).unwrap();
                linear.forward(&q, x_d.dev(), rows, out.dev(), Activation::Relu).unwrap();
                q.read(&out, rows * n).unwrap().iter().map(|h| h.to_f32()).collect()
            };
            let mut want = vec![0.0; rows * n];
            linear_few(&x, rows, &WeightMat::new(&weights), Some(&b), &mut want);
            if !logits {
                want.iter_mut().for_each(|v| *v = round(v.max(0.0)));
            }
            let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
            println!("decode product {rows} × {n} × {k} vs CPU: max abs error {worst:.2e}");
            assert!(worst < 1e-2, "{rows} rows × {n} × {k}: max abs error {worst}");
        }
    }
}

#[test]
fn sampler_kernel_matches_the_cpu_sampler() {
    let Some(rt) = common::gpu("sampler_kernel_matches_the_cpu_sampler") else { return };
    let q = rt.queue().unwrap();
    let (v, cap, blocked) = (1025usize, 64usize, EOS_BLOCKED_STEPS as i32);
    let params = [
        SamplingParams::default(),
        SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.35 },
        SamplingParams { top_k: 50, top_p: 0.8, temperature: 0.7, repetition_penalty: 1.0 },
        SamplingParams { top_k: 1025, top_p: 0.95, temperature: 1.3, repetition_penalty: 1.2 },
        SamplingParams { top_k: 5, top_p: 1.0, temperature: 1e-6, repetition_penalty: 2.0 },
    ];
    // Rows: every parameter set at a blocked step (3) and a free one (40).
    let cases: Vec<(usize, i32)> = (0..params.len()).flat_map(|p| [(p, 3), (p, 40)]).collect();
    let rows = cases.len();
    let logits: Vec<f32> = (0..rows * v).map(|i| 6.0 * uniform(5, Purpose::RandomWeights, 0, i as u32) - 3.0).collect();
    let mut slots = Vec::new();
    let mut history = vec![0i32; rows * cap];
    for (row, &(p, step)) in cases.iter().enumerate() {
        // Upstream's histories hold prompt and sampled tokens, never EOS (token v - 1).
        let h: Vec<i32> = (0..20).map(|j| ((row * 97 + j * 31) % (v - 1)) as i32).collect();
        history[row * cap..row * cap + h.len()].copy_from_slice(&h);
        let s = &params[p];
        slots.push(SamplerSlot {
            seed: 1000 + row as u64,
            top_k: s.top_k as i32,
            top_p: s.top_p,
            temperature: s.temperature,
            repetition_penalty: s.repetition_penalty,
            step,
            history_len: h.len() as i32,
        });
    }
    let row_slot: Vec<i32> = (0..rows as i32).collect();
    let logits_d = q.upload(&logits).unwrap();
    let slot_d = q.upload(bytemuck::cast_slice::<SamplerSlot, u8>(&slots)).unwrap();
    let history_d = q.upload(&history).unwrap();
    let row_slot_d = q.upload(&row_slot).unwrap();
    let (tokens_d, eos_d, probs_d) =
        (q.zeros::<i32>(rows).unwrap(), q.zeros::<i32>(rows).unwrap(), q.zeros::<f32>(rows * v).unwrap());
    let launch = sample_tokens_launch(
        logits_d.dev(),
        v,
        StepRows { row_slot: row_slot_d.dev(), rows },
        SamplerState { slots: slot_d.dev(), history: history_d.dev(), history_cap: cap },
        SamplerOutput { tokens: tokens_d.dev(), eos: eos_d.dev(), probs: Some(probs_d.dev()) },
    );
    // SAFETY: built by sample_tokens_launch (see there).
    unsafe { q.run(&launch) }.unwrap();
    let (tokens, eos, probs) =
        (q.read(&tokens_d, rows).unwrap(), q.read(&eos_d, rows).unwrap(), q.read(&probs_d, rows * v).unwrap());
    let after: Vec<SamplerSlot> =
        q.read(&slot_d, slots.len() * 32).unwrap().chunks_exact(32).map(bytemuck::pod_read_unaligned).collect();
    let history_after = q.read(&history_d, rows * cap).unwrap();

    for (row, &(p, step)) in cases.iter().enumerate() {
        let width = if step < blocked { v - 1 } else { v };
        let prev: Vec<u32> = history[row * cap..row * cap + 20].iter().map(|&t| t as u32).collect();
        let mut decision = logits[row * v..row * v + width].to_vec();
        apply_repetition_penalty(&mut decision, &prev, params[p].repetition_penalty).unwrap();
        let mut want = probs_from_penalised(&decision, &params[p]);
        want.resize(v, 0.0);
        let got = &probs[row * v..(row + 1) * v];
        common::assert_close_abs(&format!("row {row} probabilities"), got, &want, 1e-5);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g == 0.0, w == 0.0, "row {row} token {i}: kept by one sampler only");
        }
        // The CPU race on the GPU's probabilities must pick the same token.
        let race = |i: usize| got[i] / exp1(1000 + row as u64, Purpose::Sampling, step as u32, i as u32);
        let best = (0..v).filter(|&i| got[i] > 0.0).max_by(|&a, &b| race(a).total_cmp(&race(b)).then(b.cmp(&a)));
        assert_eq!(tokens[row] as usize, best.unwrap(), "row {row}: sampled token");
        let eos_expected = tokens[row] as usize == v - 1 || argmax(&decision) == v - 1;
        assert_eq!(eos[row] != 0, eos_expected, "row {row}: EOS verdict");
        assert_eq!((after[row].step, after[row].history_len), (step + 1, 21), "row {row}: state advanced");
        assert_eq!(history_after[row * cap + 20], tokens[row], "row {row}: token appended to the history");
    }
    println!("sampler kernel: {rows} rows, probabilities within 1e-5, tokens and EOS verdicts equal");
}
