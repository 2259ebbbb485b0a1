//! kernels/hubert.cu: `conv_wave_f16` against `cpu::hubert::conv_time_major` for conv 0 (one
//! input channel), `group_norm_time_gelu_f16` against `cpu::hubert::group_norm_over_time`
//! followed by `cpu::ops::gelu_slice`, and `gather_groups_padded_f16` against
//! `cpu::hubert::pad_group` (exact).

use sovits_rt::cpu::hubert::{conv_time_major, group_norm_over_time, pad_group};
use sovits_rt::cpu::ops::gelu_slice;
use sovits_rt::cuda::hubert::{conv_wave_launch, gather_groups_launch, group_norm_gelu_launch, WaveConv};
use sovits_rt::cuda::ops::NormWeights;
use sovits_rt::model::hubert::GROUP_NORM_EPS;
use sovits_rt::model::layers::Norm;
use sovits_rt::tensor::Tensor;

use crate::case::Case;
use crate::inputs::{nan16, narrow, ulp16, widen, Rng};

pub fn cases() -> Vec<Case> {
    let waves = WAVE_CASES.iter().map(wave_case);
    let norms = GROUP_NORM_CASES.iter().map(group_norm_case);
    waves.chain(norms).chain(GATHER_CASES.iter().map(gather_case)).collect()
}

// ---- conv_wave_f16: grid ceil(frames / 16), block 256.

struct WaveCase {
    frames: usize,
    channels: usize,
    taps: usize,
    stride: usize,
    bias: bool,
}

const fn wave(frames: usize, channels: usize, taps: usize, stride: usize, bias: bool) -> WaveCase {
    WaveCase { frames, channels, taps, stride, bias }
}

const WAVE_CASES: [WaveCase; 5] = [
    wave(320, 512, 10, 5, false), // HuBERT's conv 0 (no bias), a multiple of the 16-frame block
    wave(299, 512, 10, 5, false), // a partial last block
    wave(1, 512, 10, 5, false),   // one frame: the span is exactly the taps
    wave(37, 40, 3, 2, true),     // fewer channels than threads
    wave(23, 300, 3, 2, true),    // channels not a multiple of the block: the stride loop
];

fn wave_case(c: &WaveCase) -> Case {
    let bias_name = if c.bias { " bias" } else { " no bias" };
    let config = format!("frames={} channels={} taps={} stride={}{bias_name}", c.frames, c.channels, c.taps, c.stride);
    let mut rng = Rng::new(&config);
    // Exactly the samples the frames need: a read past the last window hits the guard page.
    let samples = (c.frames - 1) * c.stride + c.taps;
    let wav: Vec<f32> = (0..samples).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let weight = rng.halves(c.channels * c.taps, -0.5, 0.5);
    let bias = rng.halves(c.channels, -0.3, 0.3);

    let mut case = Case::new("conv_wave_f16", config, "1 ulp16 + 1e-6*sum|w*x|");
    let conv = WaveConv {
        weight: case.buffer("w", &weight),
        bias: c.bias.then(|| case.buffer("bias", &bias)),
        channels: c.channels,
        taps: c.taps,
        stride: c.stride,
    };
    let (wav_dev, out) = (case.buffer("wav", &wav), case.buffer("out", &nan16(c.frames * c.channels)));
    case.launch(conv_wave_launch(conv, wav_dev, c.frames, out));

    // The twin (one input channel: the tap-major weight is the conv weight), and on absolute
    // values the magnitude Σ|w·x| + |b| its f32 sums err by a fraction of an ulp of per tap.
    let conv0 = |wav: Vec<f32>, weight: Vec<f32>, bias: Vec<f32>| {
        let bias = c.bias.then(|| Tensor::new([c.channels], bias));
        let (input, weight) = (Tensor::new([samples, 1], wav), Tensor::new([c.channels, c.taps], weight));
        conv_time_major(&input, &weight, bias.as_ref(), c.stride).into_data()
    };
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect();
    let want = conv0(wav.clone(), widen(&weight), widen(&bias));
    let magnitude = conv0(abs(&wav), abs(&widen(&weight)), abs(&widen(&bias)));
    let want: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
    let tol: Vec<f64> = want.iter().zip(&magnitude).map(|(&w, &m)| ulp16(w) + 1e-6 * f64::from(m)).collect();
    case.expect_near("out", &want, &tol);
    case
}

// ---- group_norm_time_gelu_f16: grid ceil(channels / 32), block 256, in place.

struct GroupNormCase {
    frames: usize,
    channels: usize,
    /// x = offset + uniform(-spread, spread).
    offset: f32,
    spread: f32,
}

const fn group_norm(frames: usize, channels: usize, offset: f32, spread: f32) -> GroupNormCase {
    GroupNormCase { frames, channels, offset, spread }
}

const GROUP_NORM_CASES: [GroupNormCase; 6] = [
    group_norm(300, 512, 0.0, 2.0), // frames not a multiple of the 8 row groups
    group_norm(300, 40, 20.0, 1.0), // mean >> std: the centred two-pass variance matters; a partial channel block
    group_norm(7, 512, 20.0, 1.0),  // fewer frames than row groups
    group_norm(7, 40, 0.0, 2.0),
    group_norm(1, 512, 0.0, 2.0), // one frame: variance 0, every output is gelu(beta)
    group_norm(1, 40, 20.0, 1.0),
];

fn group_norm_case(c: &GroupNormCase) -> Case {
    let (frames, channels) = (c.frames, c.channels);
    let config = format!("frames={frames} channels={channels} x~{}+-{} eps={GROUP_NORM_EPS:e}", c.offset, c.spread);
    let mut rng = Rng::new(&config);
    let x = rng.halves(frames * channels, c.offset - c.spread, c.offset + c.spread);
    let gamma = rng.halves(channels, 0.7, 1.3);
    let beta = rng.halves(channels, -0.2, 0.2);

    let mut case = Case::new("group_norm_time_gelu_f16", config, "1 ulp16 + 1e-6*(1+|v|+|mean*scale|)");
    let x_dev = case.buffer("x", &x);
    let norm =
        NormWeights { gamma: case.buffer("gamma", &gamma), beta: case.buffer("beta", &beta), eps: GROUP_NORM_EPS };
    case.launch(group_norm_gelu_launch(norm, x_dev, frames));

    let (gamma, beta) = (widen(&gamma), widen(&beta));
    let mut normed = Tensor::new([frames, channels], widen(&x));
    let norm = Norm { weight: Tensor::new([channels], gamma.clone()), bias: Tensor::new([channels], beta) };
    group_norm_over_time(&mut normed, &norm, GROUP_NORM_EPS);
    let mut want = normed.data().to_vec();
    gelu_slice(&mut want);
    // The affine and GELU run in f32 after the f64 statistics (as on the CPU): the mean rounded
    // to f32 costs |mean|·|scale|·2⁻²⁴, the rest a few f32 ulp of |v| (erff within 2 ulp).
    let mean_scale = mean_times_scale(&widen(&x), channels, &gamma);
    let tol: Vec<f64> = want
        .iter()
        .zip(normed.data())
        .enumerate()
        .map(|(i, (&w, &v))| ulp16(f64::from(w)) + 1e-6 * (1.0 + f64::from(v).abs() + mean_scale[i % channels]))
        .collect();
    let want: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
    case.expect_near("x", &want, &tol);
    case
}

/// `|mean · gamma / std|` per channel of time-major `x [T, C]` (the tolerance model, in f64).
fn mean_times_scale(x: &[f32], channels: usize, gamma: &[f32]) -> Vec<f64> {
    let frames = (x.len() / channels) as f64;
    (0..channels)
        .map(|c| {
            let column = || x.iter().skip(c).step_by(channels).map(|&v| f64::from(v));
            let mean = column().sum::<f64>() / frames;
            let var = column().map(|v| (v - mean).powi(2)).sum::<f64>() / frames;
            (mean * f64::from(gamma[c]) / (var + f64::from(GROUP_NORM_EPS)).sqrt()).abs()
        })
        .collect()
}

// ---- gather_groups_padded_f16: grid (frames + 2·pad, groups), block 64.

struct GatherCase {
    frames: usize,
    channels: usize,
    groups: usize,
    pad: usize,
}

const fn gather(frames: usize, channels: usize, groups: usize, pad: usize) -> GatherCase {
    GatherCase { frames, channels, groups, pad }
}

const GATHER_CASES: [GatherCase; 4] = [
    gather(5, 768, 16, 64), // HuBERT's positional conv (cg 48, kernel 128): mostly padding
    gather(100, 768, 16, 64),
    gather(5, 6, 3, 2),   // small and odd: cg 2
    gather(9, 200, 2, 3), // cg 100 > 64 threads: the stride loop
];

fn gather_case(c: &GatherCase) -> Case {
    let cg = c.channels / c.groups;
    let config = format!("frames={} channels={} groups={} (cg {cg}) pad={}", c.frames, c.channels, c.groups, c.pad);
    let mut rng = Rng::new(&config);
    let x = rng.halves(c.frames * c.channels, -4.0, 4.0);
    let out_len = c.groups * (c.frames + 2 * c.pad) * cg;

    let mut case = Case::new("gather_groups_padded_f16", config, "exact");
    // Every element must be written, the padding with +0.
    let (x_dev, out) = (case.buffer("x", &x), case.buffer("out", &nan16(out_len)));
    case.launch(gather_groups_launch(x_dev, c.frames, c.channels, c.groups, c.pad, out));

    let x = Tensor::new([c.frames, c.channels], widen(&x));
    let want: Vec<f32> = (0..c.groups).flat_map(|g| pad_group(&x, g, c.groups, c.pad).into_data()).collect();
    case.expect_exact("out", &narrow(&want));
    case
}
