//! kernels/linear.cu: `linear_small_m_f16`, `linear_small_m_mma_f16` and `linear_mma_f16` against
//! their CPU twins followed
//! by the same activation (`cpu::ops::relu_slice` / `gelu_slice`): `cpu::gemv::linear_few` (the
//! decode steps' product) for small-M cases, `cpu::ops::linear` for the GEMM, and
//! `cpu::hubert::conv_time_major` for strided rows (HuBERT's convolutions as implicit GEMMs);
//! `linear_small_m_add_norm_f16` against `linear_few`, the f16 store, the residual add and
//! `cpu::ops::layer_norm_slice` (a post-norm block's tail in a decode step); `ffn_small_m_f16`
//! against two `linear_few`, ReLU, the f16 stores of the unfused step, the residual add and
//! `layer_norm_slice` (a decode step's whole FFN).

use half::f16;
use sovits_rt::cpu::gemv::{linear_few, WeightMat};
use sovits_rt::cpu::hubert::conv_time_major;
use sovits_rt::cpu::ops::{gelu_slice, layer_norm_slice, linear, relu_slice};
use sovits_rt::cuda::ops::{
    ffn_add_norm_launch, linear_add_norm_launch, linear_mma_launch, linear_small_m_launch, small_m_variant, Activation,
    FfnScratch, LinearOutput, LinearWeights, NormWeights, Rows,
};
use sovits_rt::tensor::Tensor;

use crate::case::Case;
use crate::inputs::{nan16, ulp16, widen, Rng};
use Activation::{Gelu, None as NoAct, Relu};
use Kernel::{Mma, SmallM};

#[derive(Clone, Copy, PartialEq)]
enum Kernel {
    SmallM,
    Mma,
}

struct LinearCase {
    kernel: Kernel,
    m: usize,
    n: usize,
    k: usize,
    act: Activation,
    bias: bool,
    /// The LM head's f32 logits (small-M kernel only).
    f32_out: bool,
    /// A time-major convolution: `(input channels, stride)`, so `k = taps · channels` and input
    /// rows are `stride · channels` apart (overlapping); `None`: dense rows (`lda = k`).
    conv: Option<(usize, usize)>,
    /// A wider output `[m, width]` of which the case writes the `n` columns from `column` (one
    /// conv group's block, through a `Dev::range` view as `CudaHubert` does): `(width, column)`.
    wide: Option<(usize, usize)>,
}

const fn dense(kernel: Kernel, m: usize, n: usize, k: usize, act: Activation, bias: bool, f32_out: bool) -> LinearCase {
    LinearCase { kernel, m, n, k, act, bias, f32_out, conv: None, wide: None }
}

const fn conv(
    kernel: Kernel,
    m: usize,
    n: usize,
    k: usize,
    act: Activation,
    conv: (usize, usize),
    wide: Option<(usize, usize)>,
) -> LinearCase {
    LinearCase { kernel, m, n, k, act, bias: true, f32_out: false, conv: Some(conv), wide }
}

const CASES: [LinearCase; 23] = [
    // Decode steps: M = sessions. Up to 16 rows one warp per column, 8 rows per pass, grid
    // (ceil(N/4), ceil(M/8)); above, tensor cores on 64 × 16 tiles, grid (ceil(N/16),
    // ceil(M/64)), K split over 8 warps in chunks of 32.
    dense(SmallM, 1, 1025, 512, NoAct, false, true), // the LM head of one session: N = vocab
    dense(SmallM, 13, 70, 264, NoAct, false, true),  // M not a multiple of 8, K = 256 + 8
    dense(SmallM, 21, 70, 264, NoAct, false, true),  // the same above 16 rows: K = 8 chunks + 8
    dense(SmallM, 64, 36, 512, Gelu, true, false),   // the small-M limit: one full 64-row tile
    dense(SmallM, 17, 130, 512, Relu, true, false),  // 2 of 4 row tiles used, the second by one row
    dense(SmallM, 40, 1025, 512, NoAct, false, true), // the LM head at batch 40: 8 rows in the last tile
    dense(SmallM, 100, 1025, 520, NoAct, false, true), // two row blocks; K = 16 chunks + 8
    dense(SmallM, 18, 20, 2048, Relu, true, false),  // one row tile, every warp has 8 chunks
    dense(SmallM, 16, 20, 520, Relu, true, false),   // the largest one-warp-per-column case: two passes
    dense(SmallM, 10, 6, 24, NoAct, false, false),
    dense(SmallM, 3, 7, 8, Relu, true, false), // K = 8: only lane 0 loads; N % 4 = 3
    dense(SmallM, 2, 3, 2056, Gelu, true, false), // K = 8·257
    // Prefill / BERT: 64×64 tiles, grid (ceil(N/64), ceil(M/64)), K in steps of 32.
    dense(Mma, 65, 64, 512, NoAct, true, false), // M = 64 + 1
    dense(Mma, 130, 96, 512, Gelu, true, false),
    dense(Mma, 70, 1025, 40, NoAct, false, false), // N = 1025, K = 32 + 8
    dense(Mma, 66, 70, 8, Relu, true, false),      // K = 8: one partial k tile
    dense(Mma, 1, 64, 72, NoAct, true, false),     // a single row
    dense(Mma, 17, 9, 1024, Relu, false, false),   // far below one tile
    dense(Mma, 100, 130, 264, Gelu, true, false),
    // Convolutions as strided products: HuBERT's conv layers (3 taps of 32 channels, stride 2)
    // and its positional conv (8 taps of one 48-channel group, stride 1, written into group 2 or
    // 1 of a 4-group-wide output).
    conv(Mma, 70, 64, 3 * 32, Gelu, (32, 2), None),
    conv(SmallM, 9, 64, 3 * 32, Gelu, (32, 2), None),
    conv(Mma, 67, 48, 8 * 48, Gelu, (48, 1), Some((4 * 48, 2 * 48))),
    conv(SmallM, 5, 48, 8 * 48, NoAct, (48, 1), Some((4 * 48, 48))),
];

/// The fused product + residual LayerNorm: `(M, N, K)`. The GPT's out-projection (512 × 512)
/// and FFN-down (K = 2048) at batch 1 and 13 (two row groups, one partial: rows share warps), the
/// largest batch it takes with few column blocks, and the smallest shape.
const ADD_NORM_CASES: [(usize, usize, usize); 5] =
    [(1, 512, 512), (13, 512, 2048), (16, 72, 24), (3, 8, 8), (9, 96, 40)];

/// The fused FFN: `(M, D, H)`. The GPT's (512 → 2048) at batch 1 and 16 (two 8-row passes per
/// unit), a hidden size that is no multiple of 32 (the last block's units past H), and the
/// smallest shape.
const FFN_CASES: [(usize, usize, usize); 4] = [(1, 512, 2048), (16, 64, 96), (13, 72, 200), (3, 8, 8)];

pub fn cases() -> Vec<Case> {
    CASES
        .iter()
        .map(linear_case)
        .chain(ADD_NORM_CASES.iter().map(|&(m, n, k)| add_norm_case(m, n, k)))
        .chain(FFN_CASES.iter().map(|&(m, d, h)| ffn_case(m, d, h)))
        .collect()
}

/// `x · Wᵀ (+ b)` of `m` rows by the decode step's CPU product.
fn few(x: &[f32], m: usize, w: &[f32], n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    linear_few(x, m, &WeightMat::new(&Tensor::new([n, w.len() / n], w.to_vec())), bias, &mut out);
    out
}

fn ffn_case(m: usize, d: usize, h: usize) -> Case {
    let config = format!("M={m} D={d} H={h}, state=LN(W2·relu(W1·state+b1)+b2+state)");
    let mut rng = Rng::new(&config);
    let state = rng.halves(m * d, -1.5, 1.5);
    let (s1, s2) = (2.0 / (d as f32).sqrt(), 2.0 / (h as f32).sqrt());
    let (w1, b1) = (rng.halves(h * d, -s1, s1), rng.halves(h, -0.5, 0.5));
    let (w2, b2) = (rng.halves(d * h, -s2, s2), rng.halves(d, -0.5, 0.5));
    let gamma = rng.halves(d, 0.7, 1.3);
    let beta = rng.halves(d, -0.2, 0.2);
    let eps = 1e-5;

    let tolerance = "down: 1 ulp16 + |W2|·ulp16(hidden) + 2e-6*sum|h*w2|; state: as the fused LayerNorm's";
    let mut case = Case::new("ffn_small_m_f16", config, tolerance);
    let up = LinearWeights { weight: case.buffer("w1", &w1), bias: Some(case.buffer("b1", &b1)), n: h, k: d };
    let down = LinearWeights { weight: case.buffer("w2", &w2), bias: Some(case.buffer("b2", &b2)), n: d, k: h };
    let state_dev = case.buffer("state", &state);
    let norm = NormWeights { gamma: case.buffer("gamma", &gamma), beta: case.buffer("beta", &beta), eps };
    let scratch =
        FfnScratch { accum: case.buffer("accum", &vec![0u64; m * d]), counter: case.buffer("counter", &[0i32]) };
    case.launch(ffn_add_norm_launch(up, down, state_dev, m, norm, scratch).expect("a supported FFN"));

    // The twin: the unfused step's products with their f16 stores (hidden, then the down
    // product), the residual add and the LayerNorm.
    let (x, w1, w2, gamma, beta) = (widen(&state), widen(&w1), widen(&w2), widen(&gamma), widen(&beta));
    let round = |v: &[f32]| -> Vec<f32> { v.iter().map(|&x| f16::from_f32(x).to_f32()).collect() };
    let abs = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x.abs()).collect() };
    let hidden = round(&few(&x, m, &w1, h, Some(&widen(&b1))).iter().map(|v| v.max(0.0)).collect::<Vec<_>>());
    let stored = round(&few(&hidden, m, &w2, d, Some(&widen(&b2))));
    // A hidden value may round the other way (its f32 sums differ by a few ulps): one f16 ulp of
    // it times |W2|, plus the f32 sums' error on Σ|h·w2|.
    let hidden_ulps: Vec<f32> = hidden.iter().map(|&v| ulp16(f64::from(v)) as f32).collect();
    let flips = few(&hidden_ulps, m, &abs(&w2), d, None);
    let magnitude = few(&abs(&hidden), m, &abs(&w2), d, None);
    let (mut want, mut tol) = (Vec::with_capacity(m * d), Vec::with_capacity(m * d));
    for (r, (row, state_row)) in stored.chunks_exact(d).zip(x.chunks_exact(d)).enumerate() {
        let summed: Vec<f32> = row.iter().zip(state_row).map(|(o, s)| o + s).collect();
        let (mean, std) = mean_std(&summed, eps);
        let mut normed = summed.clone();
        layer_norm_slice(&mut normed, &gamma, &beta, eps);
        for (c, &v) in normed.iter().enumerate() {
            let i = r * d + c;
            let down_err = ulp16(f64::from(row[c])) + f64::from(flips[i]) + 2e-6 * f64::from(magnitude[i]);
            want.push(f64::from(v));
            tol.push(ulp16(f64::from(v)) + 1.3e-5 * (1.0 + mean.abs() / std) + f64::from(gamma[c]) / std * down_err);
        }
    }
    case.expect_near("state", &want, &tol);
    case.expect_exact("accum", &vec![0u64; m * d]);
    case.expect_exact("counter", &[0i32]);
    case
}

fn add_norm_case(m: usize, n: usize, k: usize) -> Case {
    let config = format!("M={m} N={n} K={k} bias, state=LN(out+state)");
    let mut rng = Rng::new(&config);
    let x = rng.halves(m * k, -1.0, 1.0);
    let w_scale = 2.0 / (k as f32).sqrt();
    let w = rng.halves(n * k, -w_scale, w_scale);
    let bias = rng.halves(n, -0.5, 0.5);
    let state = rng.halves(m * n, -2.0, 2.0);
    let gamma = rng.halves(n, 0.7, 1.3);
    let beta = rng.halves(n, -0.2, 0.2);
    let eps = 1e-5;

    let tolerance =
        "out: 1 ulp16 + 2e-6*sum|x*w|; state: 1 ulp16 + 1.3e-5*(1 + |mean|/std) + |gamma|/std * 1 ulp16 of out";
    let mut case = Case::new("linear_small_m_add_norm_f16", config, tolerance);
    let rows = Rows { data: case.buffer("x", &x), count: m, stride: k };
    let weights = LinearWeights { weight: case.buffer("w", &w), bias: Some(case.buffer("bias", &bias)), n, k };
    let out = case.buffer("out", &nan16(m * n));
    let state_dev = case.buffer("state", &state);
    let norm = NormWeights { gamma: case.buffer("gamma", &gamma), beta: case.buffer("beta", &beta), eps };
    let counters = case.buffer("counters", &vec![0i32; m.div_ceil(8)]);
    case.launch(linear_add_norm_launch(weights, rows, out, state_dev, norm, counters).expect("a supported shape"));

    // The twin: the product as the decode step's CPU code computes it, stored as f16 like the
    // kernel's `out`, added to the state and normalised.
    let (bias, gamma, beta) = (widen(&bias), widen(&gamma), widen(&beta));
    let mut product = vec![0.0; m * n];
    linear_few(&widen(&x), m, &WeightMat::new(&Tensor::new([n, k], widen(&w))), Some(&bias), &mut product);
    let magnitude: Vec<f32> = {
        let abs = |v: &[f16]| -> Vec<f32> { v.iter().map(|h| h.to_f32().abs()).collect() };
        let mut mag = vec![0.0; m * n];
        let abs_bias: Vec<f32> = bias.iter().map(|b| b.abs()).collect();
        linear_few(&abs(&x), m, &WeightMat::new(&Tensor::new([n, k], abs(&w))), Some(&abs_bias), &mut mag);
        mag
    };
    let stored: Vec<f32> = product.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
    let out_tol: Vec<f64> =
        stored.iter().zip(&magnitude).map(|(&v, &mag)| ulp16(f64::from(v)) + 2e-6 * f64::from(mag)).collect();
    case.expect_near("out", &stored.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), &out_tol);
    let (mut want, mut tol) = (Vec::with_capacity(m * n), Vec::with_capacity(m * n));
    for (row, state_row) in stored.chunks_exact(n).zip(widen(&state).chunks_exact(n)) {
        let summed: Vec<f32> = row.iter().zip(state_row).map(|(o, s)| o + s).collect();
        let (mean, std) = mean_std(&summed, eps);
        let mut normed = summed.clone();
        layer_norm_slice(&mut normed, &gamma, &beta, eps);
        for (c, &v) in normed.iter().enumerate() {
            want.push(f64::from(v));
            let rounding = f64::from(gamma[c]) / std * ulp16(f64::from(row[c]));
            tol.push(ulp16(f64::from(v)) + 1.3e-5 * (1.0 + mean.abs() / std) + rounding);
        }
    }
    case.expect_near("state", &want, &tol);
    case.expect_exact("counters", &vec![0i32; m.div_ceil(8)]);
    case
}

/// Mean and standard deviation of a row (f64), as the tolerance model sees them.
fn mean_std(row: &[f32], eps: f32) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, (var + f64::from(eps)).sqrt())
}

fn linear_case(c: &LinearCase) -> Case {
    let (m, n, k) = (c.m, c.n, c.k);
    let lda = c.conv.map_or(k, |(channels, stride)| channels * stride);
    let (ldo, column) = c.wide.unwrap_or((n, 0));
    let act_name = match c.act {
        Activation::None => "none",
        Activation::Relu => "relu",
        Activation::Gelu => "gelu",
    };
    let mut config = format!("M={m} N={n} K={k} act={act_name}");
    config += if c.bias { " bias" } else { "" };
    config += if c.f32_out { " f32-out" } else { "" };
    if c.conv.is_some() {
        config += &format!(" lda={lda} ldo={ldo}");
    }
    if column > 0 {
        config += &format!(" from column {column}");
    }
    let mut rng = Rng::new(&config);
    let x = rng.halves((m - 1) * lda + k, -1.0, 1.0);
    let w_scale = 2.0 / (k as f32).sqrt(); // keeps x · Wᵀ of order 1, so GELU sees both sides
    let w = rng.halves(n * k, -w_scale, w_scale);
    let bias = rng.halves(n, -0.5, 0.5);
    let out_len = (m - 1) * ldo + column + n;

    let kernel = if c.kernel == Kernel::SmallM { small_m_variant(m, n).0 } else { "linear_mma_f16" };
    let tolerance = if c.f32_out { "2e-6*sum|x*w|" } else { "1 ulp16 + 2e-6*sum|x*w|" };
    let mut case = Case::new(kernel, config, tolerance);
    let rows = Rows { data: case.buffer("x", &x), count: m, stride: lda };
    let weights =
        LinearWeights { weight: case.buffer("w", &w), bias: c.bias.then(|| case.buffer("bias", &bias)), n, k };
    let view = out_len - column;
    let out = if c.f32_out {
        LinearOutput::F32(case.buffer("out", &vec![f32::NAN; out_len]).range(column, view))
    } else {
        LinearOutput::F16(case.buffer("out", &nan16(out_len)).range(column, view))
    };
    let launch = match (c.kernel, out) {
        (Kernel::Mma, LinearOutput::F16(o)) => linear_mma_launch(weights, rows, o, ldo, c.act),
        (Kernel::Mma, LinearOutput::F32(_)) => panic!("the tensor-core GEMM writes f16"),
        (Kernel::SmallM, _) => linear_small_m_launch(weights, rows, out, ldo, c.act),
    };
    case.launch(launch.expect("a supported linear layer"));

    // The twin, and on absolute values the magnitude Σ|x·w| + |b| its f32 sums err by a few
    // dozen ulps of at most.
    let bias = c.bias.then_some(bias.as_slice());
    let mut want = product(c, &widen(&x), &widen(&w), bias.map(widen).as_deref());
    match c.act {
        Activation::None => {}
        Activation::Relu => relu_slice(&mut want),
        Activation::Gelu => gelu_slice(&mut want),
    }
    let abs = |v: &[f16]| -> Vec<f32> { v.iter().map(|h| h.to_f32().abs()).collect() };
    let magnitude = product(c, &abs(&x), &abs(&w), bias.map(abs).as_deref());

    // Row m's n values at m·ldo + column; the wider output's other columns: never written.
    let mut expected = vec![f64::NAN; out_len];
    let mut tol = vec![0.0; out_len];
    for (i, (&v, &mag)) in want.iter().zip(&magnitude).enumerate() {
        let at = i / n * ldo + column + i % n;
        expected[at] = f64::from(v);
        tol[at] = if c.f32_out { 0.0 } else { ulp16(expected[at]) } + 2e-6 * f64::from(mag);
    }
    case.expect_near("out", &expected, &tol);
    case
}

/// `x · Wᵀ + b` for the case's `m` rows by the CPU twin of its kind, `[m, n]`.
fn product(c: &LinearCase, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (m, n, k) = (c.m, c.n, c.k);
    let weight = Tensor::new([n, k], w.to_vec());
    let bias_tensor = bias.map(|b| Tensor::new([n], b.to_vec()));
    match (c.conv, c.kernel) {
        (Some((channels, stride)), _) => {
            let input = Tensor::new([x.len() / channels, channels], x.to_vec());
            conv_time_major(&input, &weight, bias_tensor.as_ref(), stride).into_data()
        }
        (None, Kernel::SmallM) => {
            let mut out = vec![0.0; m * n];
            linear_few(x, m, &WeightMat::new(&weight), bias, &mut out);
            out
        }
        (None, Kernel::Mma) => linear(&Tensor::new([m, k], x.to_vec()), &weight, bias_tensor.as_ref()).into_data(),
    }
}
