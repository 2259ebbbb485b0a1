//! The HiFi-GAN generator `dec` (upstream `GPT_SoVITS/module/models.py` `Generator`,
//! `modules.py` `ResBlock1`; research/upstream-v2.md §5.3.6): `conv_pre` + `cond(ge)`, then per
//! stage leaky ReLU (0.1) → `ConvTranspose1d(k, stride u, padding (k−u)/2)` → mean of the
//! stage's ResBlock1s; final leaky ReLU (0.01) → `conv_post` (no bias) → tanh.
//!
//! This is 95 % of SoVITS's cost (§7.3), so it runs **time-major** (`[T, C]`, unlike the rest of
//! SoVITS): a stride-1 convolution over a zero-padded `[T + 2p, C]` buffer is then one matrix
//! product whose left operand is the buffer itself, read as overlapping rows of `K·C` values
//! (row `t` starts at `t·C`), so no im2col copy is made. Dilated convolutions (`d > 1`) are
//! split into `d` phases (outputs `t ≡ φ mod d`), each a dilation-1 convolution over a
//! de-interleaved copy. The activation (leaky ReLU, the pending bias, the 1/3 of the resblock
//! mean) is applied while the padded buffer is written, which is a pass the product needs
//! anyway. A ResBlock's `convs2` biases are not added where they occur but carried as a pending
//! per-channel shift into the next activation and the stage sum, which saves a pass per
//! convolution. Elementwise passes run on rayon like the products. Weights are re-laid out
//! once at load.

use rayon::prelude::*;

use crate::cpu::ops::{self, Conv1dSpec, MatRef};
use crate::model::sovits::{Conv1d, Generator, SovitsConfig, FINAL_LRELU_SLOPE, LRELU_SLOPE};
use crate::tensor::Tensor;

/// Output of [`TimeMajorGenerator::generate`] with the one intermediate the fixtures hold.
pub struct GeneratorTrace {
    /// `conv_pre(z)` before `+ cond(ge)` `[C0, T]`.
    pub conv_pre: Tensor,
    /// `cond(ge)` `[C0, 1]`.
    pub cond: Tensor,
    /// Waveform `[T · hop]`.
    pub wav: Vec<f32>,
}

/// A stride-1 convolution laid out for time-major activations.
struct TimeConv {
    /// Row `kk·C_in + ci`, column `co` = upstream `weight[co, ci, kk]`.
    w: Vec<f32>, // [K·C_in, C_out]
    bias: Vec<f32>, // [C_out] (empty: no bias)
    k: usize,
    cin: usize,
    cout: usize,
    dilation: usize,
}

impl TimeConv {
    fn new(c: &Conv1d, dilation: usize) -> Self {
        let (cout, cin, k) = (c.weight.dim(0), c.weight.dim(1), c.weight.dim(2));
        let src = c.weight.data();
        let mut w = vec![0.0; k * cin * cout];
        for co in 0..cout {
            for ci in 0..cin {
                for kk in 0..k {
                    w[(kk * cin + ci) * cout + co] = src[(co * cin + ci) * k + kk];
                }
            }
        }
        let bias = c.bias.as_ref().map(|b| b.data().to_vec()).unwrap_or_default();
        TimeConv { w, bias, k, cin, cout, dilation }
    }

    /// `out[T, C_out] (+)= conv(act(x))` without the bias, zero "same" padding `d·(K−1)/2`.
    fn run(&self, x: &[f32], t: usize, act: Act<'_>, scratch: &mut Vec<f32>, out: &mut [f32], accumulate: bool) {
        let (c, k, d) = (self.cin, self.k, self.dilation);
        let p = d * (k - 1) / 2;
        let w = MatRef::rows(&self.w, self.cout);
        // Phase φ computes outputs t = φ + d·s from padded rows φ + d·s', s' < n_φ + K − 1.
        let phases: Vec<(usize, usize)> = (0..d.min(t)).map(|phi| (phi, (t - phi).div_ceil(d))).collect();
        let len: usize = phases.iter().map(|&(_, n)| (n + k - 1) * c).sum();
        scratch.resize(len, 0.0);
        let mut off = 0;
        let block = rows_per_block(c) * c;
        for &(phi, n) in &phases {
            let rows = n + k - 1;
            let buf = &mut scratch[off..off + rows * c];
            if d == 1 {
                let (head, rest) = buf.split_at_mut(p * c);
                let (mid, tail) = rest.split_at_mut(t * c);
                head.fill(0.0);
                tail.fill(0.0);
                mid.par_chunks_mut(block).zip(x.par_chunks(block)).for_each(|(dst, src)| act.apply(dst, src, c));
            } else {
                buf.par_chunks_mut(block).enumerate().for_each(|(b, blk)| {
                    for (r, dst) in blk.chunks_exact_mut(c).enumerate() {
                        match (phi + d * (b * block / c + r)).checked_sub(p).filter(|&i| i < t) {
                            Some(i) => act.apply(dst, &x[i * c..(i + 1) * c], c),
                            None => dst.fill(0.0),
                        }
                    }
                });
            }
            let a = MatRef { data: &scratch[off..off + rows * c], rs: c, cs: 1 };
            ops::matmul_into_strided(n, self.cout, k * c, a, w, &mut out[phi * self.cout..], d * self.cout, accumulate);
            off += rows * c;
        }
    }
}

/// Elementwise passes run on rayon in blocks of about this many values.
const PASS_BLOCK: usize = 1 << 15;

fn rows_per_block(c: usize) -> usize {
    (PASS_BLOCK / c).max(1)
}

/// The activation applied while an input buffer is written: `lrelu(v · gain + shift[c], slope)`.
/// `gain` is the resblock mean's `1/n_kernels` as a product (upstream divides; the two differ by
/// at most one rounding).
#[derive(Clone, Copy)]
struct Act<'a> {
    slope: f32,
    gain: f32,
    shift: Option<&'a [f32]>,
}

impl<'a> Act<'a> {
    const IDENTITY: Act<'static> = Act { slope: 1.0, gain: 1.0, shift: None };

    fn lrelu(slope: f32, gain: f32, shift: Option<&'a [f32]>) -> Self {
        Act { slope, gain, shift }
    }

    /// Activates whole rows of `c` values from `src` into `dst`.
    #[inline]
    fn apply(&self, dst: &mut [f32], src: &[f32], c: usize) {
        let (slope, gain) = (self.slope, self.gain);
        let f = |v: f32| if v >= 0.0 { v } else { v * slope };
        match self.shift {
            None => dst.iter_mut().zip(src).for_each(|(o, &v)| *o = f(v * gain)),
            Some(b) => {
                for (dr, sr) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
                    dr.iter_mut().zip(sr).zip(b).for_each(|((o, &v), &b)| *o = f(v * gain + b));
                }
            }
        }
    }
}

/// `ResBlock1` with time-major convolutions; `convs1[i]` carries its dilation.
struct TimeResBlock {
    convs1: Vec<TimeConv>,
    convs2: Vec<TimeConv>,
}

/// Buffers one resblock reuses across its convolutions.
#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    hidden: Vec<f32>,
}

impl TimeResBlock {
    /// `ResBlock1.forward(y)` into `x` (`[T, C]`): for each dilation,
    /// `x += c2(lrelu(c1(lrelu(x)) + b1)) + b2`, except that the `b2` terms are not added to
    /// `x`: their sum is returned, to be added by the caller.
    fn forward(&self, y: &[f32], t: usize, x: &mut Vec<f32>, s: &mut Scratch) -> Vec<f32> {
        x.clear();
        x.extend_from_slice(y);
        let mut pending = vec![0.0; self.convs2.first().map_or(0, |c| c.cout)];
        for (c1, c2) in self.convs1.iter().zip(&self.convs2) {
            s.hidden.resize(t * c1.cout, 0.0);
            c1.run(x, t, Act::lrelu(LRELU_SLOPE, 1.0, Some(&pending)), &mut s.padded, &mut s.hidden, false);
            c2.run(&s.hidden, t, Act::lrelu(LRELU_SLOPE, 1.0, Some(&c1.bias)), &mut s.padded, x, true);
            pending.iter_mut().zip(&c2.bias).for_each(|(p, b)| *p += b);
        }
        pending
    }
}

/// One upsampling stage: `ConvTranspose1d` as `cols = act(x) · W` plus an overlap-add.
struct Upsample {
    /// Row `ci`, column `j·C_out + co` = upstream `weight[ci, co, j]`.
    w: Vec<f32>, // [C_in, K·C_out]
    bias: Vec<f32>, // [C_out]
    k: usize,
    cin: usize,
    cout: usize,
    rate: usize,
}

impl Upsample {
    fn new(c: &Conv1d, rate: usize) -> Self {
        let (cin, cout, k) = (c.weight.dim(0), c.weight.dim(1), c.weight.dim(2));
        let src = c.weight.data();
        let mut w = vec![0.0; cin * k * cout];
        for ci in 0..cin {
            for co in 0..cout {
                for j in 0..k {
                    w[ci * k * cout + j * cout + co] = src[(ci * cout + co) * k + j];
                }
            }
        }
        let bias = c.bias.as_ref().map(|b| b.data().to_vec()).unwrap_or_default();
        Upsample { w, bias, k, cin, cout, rate }
    }

    /// `ups(lrelu(x · gain))` on `x [T, C_in]` → `[T·u, C_out]` (padding `(K−u)/2` each side).
    fn forward(&self, x: &[f32], t: usize, gain: f32, scratch: &mut Vec<f32>) -> Vec<f32> {
        let (cin, cout, k, u) = (self.cin, self.cout, self.k, self.rate);
        scratch.resize(t * cin, 0.0);
        let act = Act::lrelu(LRELU_SLOPE, gain, None);
        let block = rows_per_block(cin) * cin;
        scratch.par_chunks_mut(block).zip(x.par_chunks(block)).for_each(|(d, s)| act.apply(d, s, cin));
        let mut cols = vec![0.0; t * k * cout];
        ops::matmul_into(
            t,
            k * cout,
            cin,
            MatRef::rows(scratch, cin),
            MatRef::rows(&self.w, k * cout),
            &mut cols,
            false,
        );
        // Overlap-add as a gather: output row o sums cols[(o + pad − j)/u, j] over the taps j
        // with o + pad − j ≡ 0 (mod u).
        let tout = t * u;
        let pad = (k - u) / 2;
        let mut y = vec![0.0; tout * cout];
        let rpb = rows_per_block(cout);
        y.par_chunks_mut(rpb * cout).enumerate().for_each(|(b, block)| {
            for (r, row) in block.chunks_exact_mut(cout).enumerate() {
                row.copy_from_slice(&self.bias);
                let q = b * rpb + r + pad;
                for j in (q % u..k.min(q + 1)).step_by(u) {
                    let ti = (q - j) / u;
                    if ti < t {
                        let taps = &cols[(ti * k + j) * cout..(ti * k + j + 1) * cout];
                        row.iter_mut().zip(taps).for_each(|(v, w)| *v += w);
                    }
                }
            }
        });
        y
    }
}

/// The generator with weights laid out for time-major activations.
pub struct TimeMajorGenerator {
    conv_pre: TimeConv,
    cond: Conv1d,
    ups: Vec<Upsample>,
    /// `n_kernels` per stage, stage-major.
    resblocks: Vec<TimeResBlock>,
    n_kernels: usize,
    conv_post: TimeConv,
}

impl TimeMajorGenerator {
    pub fn new(cfg: &SovitsConfig, g: &Generator) -> Self {
        let n_kernels = cfg.generator.resblock_kernel_sizes.len();
        let resblocks = g
            .resblocks
            .iter()
            .enumerate()
            .map(|(i, rb)| TimeResBlock {
                convs1: rb
                    .convs1
                    .iter()
                    .zip(&cfg.generator.resblock_dilations[i % n_kernels])
                    .map(|(c, &d)| TimeConv::new(c, d))
                    .collect(),
                convs2: rb.convs2.iter().map(|c| TimeConv::new(c, 1)).collect(),
            })
            .collect();
        TimeMajorGenerator {
            conv_pre: TimeConv::new(&g.conv_pre, 1),
            cond: g.cond.clone(),
            ups: g.ups.iter().zip(&cfg.generator.upsample_rates).map(|(c, &u)| Upsample::new(c, u)).collect(),
            resblocks,
            n_kernels,
            conv_post: TimeConv::new(&g.conv_post, 1),
        }
    }

    /// `Generator.forward(z, g=ge)` on `z [inter, T]`, `ge [gin, 1]`.
    pub fn generate(&self, z: &Tensor, ge: &Tensor) -> GeneratorTrace {
        let mut t = z.dim(1);
        let zt = z.t();
        let c0 = self.conv_pre.cout;
        let mut x = vec![0.0; t * c0];
        let mut padded = Vec::new();
        self.conv_pre.run(zt.data(), t, Act::IDENTITY, &mut padded, &mut x, false);
        let cond = ops::conv1d(ge, &self.cond.weight, self.cond.bias.as_ref(), Conv1dSpec::same(0));
        for row in x.chunks_exact_mut(c0) {
            row.iter_mut().zip(&self.conv_pre.bias).for_each(|(v, b)| *v += b);
        }
        let conv_pre = Tensor::new([t, c0], x.clone()).t();
        for row in x.chunks_exact_mut(c0) {
            row.iter_mut().zip(cond.data()).for_each(|(v, c)| *v += c);
        }

        // `x` holds the sum of the stage's resblocks; the mean's 1/n happens in the next fill.
        let mut gain = 1.0;
        let mut scratch: Vec<Scratch> = (0..self.n_kernels).map(|_| Scratch::default()).collect();
        let mut outs: Vec<Vec<f32>> = vec![Vec::new(); self.n_kernels];
        for (i, up) in self.ups.iter().enumerate() {
            let y = up.forward(&x, t, gain, &mut padded);
            t *= up.rate;
            let c = up.cout;
            let blocks = &self.resblocks[i * self.n_kernels..(i + 1) * self.n_kernels];
            let mut shift = vec![0.0; c];
            for ((rb, out), s) in blocks.iter().zip(outs.iter_mut()).zip(scratch.iter_mut()) {
                let pending = rb.forward(&y, t, out, s);
                shift.iter_mut().zip(&pending).for_each(|(a, b)| *a += b);
            }
            // x = Σ resblock outputs + their pending biases.
            x.resize(t * c, 0.0);
            let rpb = rows_per_block(c);
            let outs = &outs;
            x.par_chunks_mut(rpb * c).enumerate().for_each(|(b, block)| {
                let base = b * rpb * c;
                for (r, row) in block.chunks_exact_mut(c).enumerate() {
                    let at = base + r * c;
                    row.copy_from_slice(&outs[0][at..at + c]);
                    for o in &outs[1..] {
                        row.iter_mut().zip(&o[at..at + c]).for_each(|(a, v)| *a += v);
                    }
                    row.iter_mut().zip(&shift).for_each(|(a, s)| *a += s);
                }
            });
            gain = 1.0 / self.n_kernels as f32;
        }
        let mut wav = vec![0.0; t];
        self.conv_post.run(&x, t, Act::lrelu(FINAL_LRELU_SLOPE, gain, None), &mut padded, &mut wav, false);
        wav.par_iter_mut().for_each(|v| *v = v.tanh());
        GeneratorTrace { conv_pre, cond, wav }
    }
}
