//! The SoVITS flow in reverse (upstream `GPT_SoVITS/module/models.py` `ResidualCouplingBlock`,
//! `modules.py` `ResidualCouplingLayer` (mean only) and `WN`; research/upstream-v2.md §5.3.4).
//! Reverse order: for each coupling from last to first, Flip (reverse the channels) and then
//! undo the coupling, `x1 −= post(WN(pre(x0), ge))`. Activations are `[C, T]`.

use crate::cpu::ops::{self, Conv1dSpec};
use crate::model::sovits::{CouplingLayer, WaveNet, FLOW_DILATION_RATE};
use crate::tensor::Tensor;

use super::conv;

/// `WN.forward(x, mask=1, g)`: gated tanh·sigmoid layers with the conditioning `cond_layer(g)`
/// sliced per layer; residual on the first `H` channels, skip sum on the rest.
fn wavenet(wn: &WaveNet, mut h: Tensor, ge: &Tensor) -> Tensor {
    let (hc, t) = (h.dim(0), h.dim(1));
    let gc = conv(ge, &wn.cond_layer, Conv1dSpec::same(0));
    let mut out = vec![0.0; hc * t];
    let n = wn.in_layers.len();
    let mut dilation = 1;
    for (i, (inl, rs)) in wn.in_layers.iter().zip(&wn.res_skip_layers).enumerate() {
        let k = inl.weight.dim(2);
        let spec = Conv1dSpec { stride: 1, padding: dilation * (k - 1) / 2, dilation, groups: 1 };
        let x_in = conv(&h, inl, spec);
        let g = &gc.data()[i * 2 * hc..(i + 1) * 2 * hc];
        let mut acts = vec![0.0; hc * t];
        for c in 0..hc {
            let (a, b) = (&x_in.data()[c * t..(c + 1) * t], &x_in.data()[(hc + c) * t..(hc + c + 1) * t]);
            let (ga, gb) = (g[c], g[hc + c]);
            for ((o, &va), &vb) in acts[c * t..(c + 1) * t].iter_mut().zip(a).zip(b) {
                *o = (va + ga).tanh() * ops::sigmoid(vb + gb);
            }
        }
        let r = conv(&Tensor::new([hc, t], acts), rs, Conv1dSpec::same(0));
        if i + 1 < n {
            h.data_mut().iter_mut().zip(&r.data()[..hc * t]).for_each(|(x, v)| *x += v);
            out.iter_mut().zip(&r.data()[hc * t..]).for_each(|(x, v)| *x += v);
        } else {
            out.iter_mut().zip(r.data()).for_each(|(x, v)| *x += v);
        }
        dilation *= FLOW_DILATION_RATE;
    }
    Tensor::new([hc, t], out)
}

/// Flip followed by `ResidualCouplingLayer.forward(x, reverse=True)` on `x [C, T]`.
pub fn flip_and_uncouple(layer: &CouplingLayer, x: &mut Tensor, ge: &Tensor) {
    let (c, t) = (x.dim(0), x.dim(1));
    let half = c / 2;
    let data = x.data_mut();
    // Flip: reverse the channel order.
    for i in 0..half {
        let (lo, hi) = data.split_at_mut((c - 1 - i) * t);
        lo[i * t..(i + 1) * t].swap_with_slice(&mut hi[..t]);
    }
    let x0 = Tensor::new([half, t], data[..half * t].to_vec());
    let h = conv(&x0, &layer.pre, Conv1dSpec::same(0));
    let h = wavenet(&layer.enc, h, ge);
    let m = conv(&h, &layer.post, Conv1dSpec::same(0));
    data[half * t..].iter_mut().zip(m.data()).for_each(|(x, v)| *x -= v);
}
