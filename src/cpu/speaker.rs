//! `ERes2NetV2.forward3` on the CPU (GPT-SoVITS `eres2net/ERes2NetV2.py`, the speaker embedding
//! of v2Pro/v2ProPlus voices): the fbank `[T, F]` becomes a one-channel image `[1, F, T]`
//! (frequency × time); stem 3×3 conv + ReLU; four layers of Res2Net blocks; layer3's output
//! downsampled by `layer3_ds` and fused with layer4's by an AFF; the `[C, F', T']` result is
//! flattened channel-major (`c·F' + f`) and averaged over time.
//!
//! Activations are channel-major `[C, H, W]` (H frequency, W time), so a channel group is one
//! contiguous run and every conv is one gemm product ([`super::conv2d`]).

use rayon::prelude::*;

use crate::model::speaker::{Aff, FoldedConv, SpeakerBlock, SpeakerConfig, SpeakerWeights, DOWNSAMPLE};
use crate::model::ModelError;
use crate::tensor::Tensor;

use super::conv2d::{conv2d, conv2d_into, Conv2dSpec};
use super::ops::{matmul_into, sigmoid, MatRef};

/// Upstream's block activation: `ReLU` in `ERes2NetV2.py` is `Hardtanh(0, 20)`.
const HARDTANH_MAX: f32 = 20.0;
/// Element-wise passes over buffers this long or longer run in parallel.
const PARALLEL_MIN_LEN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

const SAME_3X3: Conv2dSpec = Conv2dSpec { stride: 1, padding: 1 };

/// ERes2NetV2 ready to run.
pub struct CpuSpeakerNet {
    config: SpeakerConfig,
    weights: SpeakerWeights,
}

/// `forward3`'s output with the stem and stage outputs averaged over time, `[C, H]` each (the
/// fixture's `sv_*_tmean` tensors, for locating a mismatch).
#[derive(Debug, Clone)]
pub struct SpeakerTrace {
    pub stem: Tensor,
    /// layer1..layer4 outputs.
    pub layers: Vec<Tensor>,
    /// `layer3_ds(layer3 output)`.
    pub layer3_ds: Tensor,
    /// `[embedding_dim]`, the fused map flattened channel-major and averaged over time.
    pub embedding: Tensor,
}

/// `x[i] = f(x[i])`, in parallel on long buffers.
fn map_in_place(x: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    if x.len() >= PARALLEL_MIN_LEN {
        x.par_chunks_mut(CHUNK).for_each(|c| c.iter_mut().for_each(|v| *v = f(*v)));
    } else {
        x.iter_mut().for_each(|v| *v = f(*v));
    }
}

fn hardtanh(x: &mut [f32]) {
    map_in_place(x, |v| v.clamp(0.0, HARDTANH_MAX));
}

/// `x[i] = f(x[i], a[i])`, in parallel on long buffers.
fn zip_in_place(x: &mut [f32], a: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    let job = |(x, a): (&mut [f32], &[f32])| x.iter_mut().zip(a).for_each(|(x, &a)| *x = f(*x, a));
    if x.len() >= PARALLEL_MIN_LEN {
        x.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(job);
    } else {
        job((x, a));
    }
}

/// `x[i] = f(x[i], a[i], b[i])`, in parallel on long buffers.
fn zip2_in_place(x: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) {
    let job = |((x, a), b): ((&mut [f32], &[f32]), &[f32])| {
        x.iter_mut().zip(a).zip(b).for_each(|((x, &a), &b)| *x = f(*x, a, b));
    };
    if x.len() >= PARALLEL_MIN_LEN {
        x.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(job);
    } else {
        job(((x, a), b));
    }
}

/// Mean over the last axis of `[C, H, W]` → `[C, H]` (f64 accumulation).
fn time_mean(x: &Tensor) -> Tensor {
    let (c, h, w) = (x.dim(0), x.dim(1), x.dim(2));
    let data = x.data().chunks_exact(w).map(|r| (r.iter().map(|&v| v as f64).sum::<f64>() / w as f64) as f32).collect();
    Tensor::new([c, h], data)
}

/// `AFF.forward(x, y)` on `[C, n]` maps: `a = local_att(cat(x, y))`, `t = 1 + tanh(a)`,
/// `x·t + y·(2 − t)`. The concatenation is never built: the squeeze weight's two column blocks
/// multiply `x` and `y` separately.
fn aff(a: &Aff, x: &[f32], y: &[f32], n: usize) -> Vec<f32> {
    let (inter, c) = (a.squeeze.out_channels(), a.expand.out_channels());
    let w0 = a.squeeze.weight.data();
    let mut hidden = vec![0.0f32; inter * n];
    for (row, &b) in hidden.chunks_exact_mut(n).zip(a.squeeze.bias.data()) {
        row.fill(b);
    }
    matmul_into(inter, n, c, MatRef { data: w0, rs: 2 * c, cs: 1 }, MatRef::rows(x, n), &mut hidden, true);
    matmul_into(inter, n, c, MatRef { data: &w0[c..], rs: 2 * c, cs: 1 }, MatRef::rows(y, n), &mut hidden, true);
    map_in_place(&mut hidden, |v| v * sigmoid(v));
    let mut att = vec![0.0f32; c * n];
    for (row, &b) in att.chunks_exact_mut(n).zip(a.expand.bias.data()) {
        row.fill(b);
    }
    matmul_into(c, n, inter, MatRef::rows(a.expand.weight.data(), inter), MatRef::rows(&hidden, n), &mut att, true);
    zip2_in_place(&mut att, x, y, |a, x, y| {
        let t = 1.0 + a.tanh();
        x * t + y * (2.0 - t)
    });
    att
}

impl CpuSpeakerNet {
    pub fn new(config: SpeakerConfig, weights: SpeakerWeights) -> Self {
        CpuSpeakerNet { config, weights }
    }

    pub fn config(&self) -> &SpeakerConfig {
        &self.config
    }

    /// `forward3` of one fbank `[frames, feat_dim]` → `[embedding_dim]`.
    pub fn embed(&self, fbank: &Tensor) -> Result<Tensor, ModelError> {
        Ok(self.embed_traced(fbank)?.embedding)
    }

    /// Rejects input the net cannot take: not `[frames ≥ 1, feat_dim]`, or not finite.
    pub fn check_input(&self, fbank: &Tensor) -> Result<(), ModelError> {
        let f = self.config.feat_dim;
        match fbank.shape() {
            [t, w] if *w == f && *t >= 1 => {}
            s => {
                return Err(ModelError::Input(format!(
                    "the speaker-verification net takes a [frames ≥ 1, {f}] fbank, got shape {s:?}"
                )))
            }
        }
        if let Some(i) = fbank.data().iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input(format!("fbank value {i} is NaN or infinite")));
        }
        Ok(())
    }

    /// [`embed`](Self::embed) keeping the time-averaged stem and stage outputs.
    pub fn embed_traced(&self, fbank: &Tensor) -> Result<SpeakerTrace, ModelError> {
        self.check_input(fbank)?;
        let w = &self.weights;
        let (t, f) = (fbank.dim(0), fbank.dim(1));
        let image = fbank.t().reshape([1, f, t]);
        let mut x = conv2d(&image, &w.stem.weight, w.stem.bias.data(), SAME_3X3);
        map_in_place(x.data_mut(), |v| v.max(0.0));
        let stem = time_mean(&x);
        let mut layers = Vec::with_capacity(w.layers.len());
        // layer3_ds reads layer3's output, the input of the last layer.
        let (head, last) = w.layers.split_at(w.layers.len().saturating_sub(1));
        for blocks in head {
            x = blocks.iter().fold(x, |x, b| self.block(b, &x));
            layers.push(time_mean(&x));
        }
        let layer3 = x.clone();
        for blocks in last {
            x = blocks.iter().fold(x, |x, b| self.block(b, &x));
            layers.push(time_mean(&x));
        }
        let ds_spec = Conv2dSpec { stride: DOWNSAMPLE, padding: 1 };
        let ds = conv2d(&layer3, &w.layer3_ds.weight, w.layer3_ds.bias.data(), ds_spec);
        debug_assert_eq!(ds.shape(), x.shape(), "layer3_ds vs layer4 output");
        let n = x.dim(1) * x.dim(2);
        let fused = Tensor::new(x.shape().to_vec(), aff(&w.fuse34, x.data(), ds.data(), n));
        let embedding = time_mean(&fused);
        let len = embedding.len();
        Ok(SpeakerTrace { stem, layers, layer3_ds: time_mean(&ds), embedding: embedding.reshape([len]) })
    }

    /// `BasicBlockERes2NetV2[AFF].forward`: 1×1 conv (stride) → split into `scale` groups;
    /// `y_0 = act(conv_0(g_0))`, `y_k = act(conv_k(y_{k−1} + g_k))` (or `AFF(y_{k−1}, g_k)`);
    /// concat → 1×1 conv; + shortcut; act.
    fn block(&self, b: &SpeakerBlock, x: &Tensor) -> Tensor {
        let down = Conv2dSpec { stride: b.stride, padding: 0 };
        let mut split = conv2d(x, &b.conv1.weight, b.conv1.bias.data(), down);
        hardtanh(split.data_mut());
        let (h, w) = (split.dim(1), split.dim(2));
        let n = h * w;
        let group = b.convs.first().map_or(0, FoldedConv::out_channels) * n;
        let mut cat = vec![0.0f32; b.convs.len() * group];
        for (k, conv) in b.convs.iter().enumerate() {
            let g = &split.data()[k * group..(k + 1) * group];
            let (done, rest) = cat.split_at_mut(k * group);
            let out = &mut rest[..group];
            if k == 0 {
                conv2d_into(g, (h, w), &conv.weight, conv.bias.data(), SAME_3X3, out);
            } else {
                let prev = &done[(k - 1) * group..];
                let input = match b.fuse.get(k - 1) {
                    Some(a) => aff(a, prev, g, n),
                    None => {
                        let mut s = prev.to_vec();
                        zip_in_place(&mut s, g, |p, g| p + g);
                        s
                    }
                };
                conv2d_into(&input, (h, w), &conv.weight, conv.bias.data(), SAME_3X3, out);
            }
            hardtanh(out);
        }
        let mut out = vec![0.0f32; b.conv3.out_channels() * n];
        conv2d_into(&cat, (h, w), &b.conv3.weight, b.conv3.bias.data(), Conv2dSpec { stride: 1, padding: 0 }, &mut out);
        let residual = match &b.shortcut {
            Some(s) => conv2d(x, &s.weight, s.bias.data(), down),
            None => x.clone(),
        };
        zip_in_place(&mut out, residual.data(), |o, r| (o + r).clamp(0.0, HARDTANH_MAX));
        Tensor::new([b.conv3.out_channels(), h, w], out)
    }
}
