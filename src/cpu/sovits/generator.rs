//! The HiFi-GAN generator `dec` (upstream `GPT_SoVITS/module/models.py` `Generator`,
//! `modules.py` `ResBlock1`; research/upstream-v2.md §5.3.6): `conv_pre` + `cond(ge)`, then per
//! stage leaky ReLU (0.1) → `ConvTranspose1d(k, stride u, padding (k−u)/2)` → mean of the
//! stage's ResBlock1s; final leaky ReLU (0.01) → `conv_post` (no bias) → tanh.

use crate::cpu::ops::{self, Conv1dSpec};
use crate::model::sovits::{Generator, ResBlock1, SovitsConfig, FINAL_LRELU_SLOPE, LRELU_SLOPE};
use crate::tensor::Tensor;

use super::conv;

/// Output of [`generate`] with the one intermediate the fixtures hold.
pub struct GeneratorTrace {
    /// `conv_pre(z)` before `+ cond(ge)` `[C0, T]`.
    pub conv_pre: Tensor,
    /// Waveform `[T · hop]`.
    pub wav: Vec<f32>,
}

fn lrelu(x: &Tensor, slope: f32) -> Tensor {
    let mut y = x.clone();
    ops::map_in_place(&mut y, |v| ops::leaky_relu(v, slope));
    y
}

/// `ResBlock1.forward(x)`: for each dilation `d`, `x += c2(lrelu(c1_d(lrelu(x))))`.
fn resblock(rb: &ResBlock1, dilations: &[usize], mut x: Tensor) -> Tensor {
    for ((c1, c2), &d) in rb.convs1.iter().zip(&rb.convs2).zip(dilations) {
        let k = c1.weight.dim(2);
        let spec = Conv1dSpec { stride: 1, padding: d * (k - 1) / 2, dilation: d, groups: 1 };
        let t = conv(&lrelu(&x, LRELU_SLOPE), c1, spec);
        let t = conv(&lrelu(&t, LRELU_SLOPE), c2, Conv1dSpec::same((k - 1) / 2));
        ops::add_in_place(&mut x, &t);
    }
    x
}

/// `Generator.forward(z, g=ge)` on `z [inter, T]`, `ge [gin, 1]`.
pub fn generate(cfg: &SovitsConfig, g: &Generator, z: &Tensor, ge: &Tensor) -> GeneratorTrace {
    let conv_pre = conv(z, &g.conv_pre, Conv1dSpec::same(g.conv_pre.weight.dim(2) / 2));
    let cond = conv(ge, &g.cond, Conv1dSpec::same(0));
    let mut x = conv_pre.clone();
    let t = x.dim(1);
    for (row, &c) in x.data_mut().chunks_exact_mut(t).zip(cond.data()) {
        row.iter_mut().for_each(|v| *v += c);
    }
    let nk = cfg.resblock_kernel_sizes.len();
    for (i, (up, &u)) in g.ups.iter().zip(&cfg.upsample_rates).enumerate() {
        let k = up.weight.dim(2);
        let y = ops::conv_transpose1d(&lrelu(&x, LRELU_SLOPE), &up.weight, up.bias.as_ref(), u, (k - u) / 2);
        let mut sum = Tensor::zeros(y.shape().to_vec());
        for j in 0..nk {
            let r = resblock(&g.resblocks[i * nk + j], &cfg.resblock_dilations[j], y.clone());
            ops::add_in_place(&mut sum, &r);
        }
        ops::map_in_place(&mut sum, |v| v / nk as f32);
        x = sum;
    }
    let post = g.conv_post.weight.dim(2);
    let mut wav = conv(&lrelu(&x, FINAL_LRELU_SLOPE), &g.conv_post, Conv1dSpec::same(post / 2));
    ops::map_in_place(&mut wav, f32::tanh);
    GeneratorTrace { conv_pre, wav: wav.into_data() }
}
