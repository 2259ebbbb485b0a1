//! VITS attention blocks of the SoVITS text encoder (upstream `GPT_SoVITS/module/attentions.py`,
//! research/upstream-v2.md §5.3.2–5.3.3): multi-head attention over 1×1-conv projections with
//! optional windowed relative positions (heads share one table), the post-norm `Encoder` and
//! its FFN. Activations are channel-first `[C, T]`.
//!
//! Masks: at batch 1 every sequence fills its tensor, so upstream's masks are all ones and its
//! `masked_fill(mask == 0, -1e4)` ([`ATTENTION_MASK_FILL`](crate::model::sovits::ATTENTION_MASK_FILL))
//! and `x * mask` products change nothing; they are left out here.

use crate::cpu::ops::{self, Conv1dSpec, MatRef};
use crate::model::sovits::{Encoder, Ffn, MultiHeadAttention, LAYER_NORM_EPS};
use crate::tensor::Tensor;

use super::conv;

/// `MultiHeadAttention.forward(x, c)`: queries from `x [C, Tq]`, keys and values from
/// `c [C, Tk]`, `n_heads` heads. With relative tables (self-attention only, `Tq == Tk`):
/// `score[i,j] = (q_i/√d)·k_j + (q_i/√d)·E_k[j−i+w]` and
/// `out_i = Σ_j p[i,j] v_j + Σ_{|j−i|≤w} p[i,j] E_v[j−i+w]`.
pub fn multi_head_attention(a: &MultiHeadAttention, x: &Tensor, c: &Tensor, n_heads: usize) -> Tensor {
    let q = conv(x, &a.conv_q, Conv1dSpec::same(0));
    let k = conv(c, &a.conv_k, Conv1dSpec::same(0));
    let v = conv(c, &a.conv_v, Conv1dSpec::same(0));
    let (ch, tq, tk) = (q.dim(0), q.dim(1), k.dim(1));
    let d = ch / n_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0.0; ch * tq];
    let mut scores = vec![0.0; tq * tk];
    for h in 0..n_heads {
        // Upstream scales the query before both products.
        let qh: Vec<f32> = q.data()[h * d * tq..(h + 1) * d * tq].iter().map(|v| v * scale).collect();
        let kh = &k.data()[h * d * tk..(h + 1) * d * tk];
        let vh = &v.data()[h * d * tk..(h + 1) * d * tk];
        // scores[Tq, Tk] = qhᵀ · kh
        ops::matmul_into(tq, tk, d, MatRef::transposed(&qh, tq), MatRef::rows(kh, tk), &mut scores, false);
        let rel = a.emb_rel_k.as_ref().zip(a.emb_rel_v.as_ref());
        if let Some((ek, _)) = rel {
            let r = ek.dim(0);
            let w = r / 2;
            // rel_logits[Tq, 2w+1] = qhᵀ · E_kᵀ, added on the band |j − i| ≤ w.
            let mut logits = vec![0.0; tq * r];
            ops::matmul_into(
                tq,
                r,
                d,
                MatRef::transposed(&qh, tq),
                MatRef::transposed(ek.data(), d),
                &mut logits,
                false,
            );
            for i in 0..tq {
                for j in i.saturating_sub(w)..(i + w + 1).min(tk) {
                    scores[i * tk + j] += logits[i * r + j + w - i];
                }
            }
        }
        scores.chunks_exact_mut(tk).for_each(ops::softmax_in_place);
        // out_h[d, Tq] = vh · pᵀ
        let oh = &mut out[h * d * tq..(h + 1) * d * tq];
        ops::matmul_into(d, tq, tk, MatRef::rows(vh, tk), MatRef::transposed(&scores, tk), oh, false);
        if let Some((_, ev)) = rel {
            let r = ev.dim(0);
            let w = r / 2;
            // relative weights [Tq, 2w+1]: p[i, i+r−w] inside the sequence, 0 outside.
            let mut relw = vec![0.0; tq * r];
            for i in 0..tq {
                for j in i.saturating_sub(w)..(i + w + 1).min(tk) {
                    relw[i * r + j + w - i] = scores[i * tk + j];
                }
            }
            // out_h[d, Tq] += E_vᵀ · relwᵀ
            ops::matmul_into(d, tq, r, MatRef::transposed(ev.data(), d), MatRef::transposed(&relw, r), oh, true);
        }
    }
    conv(&Tensor::new([ch, tq], out), &a.conv_o, Conv1dSpec::same(0))
}

/// `attentions.FFN` with ReLU: `conv_2(relu(conv_1(x)))`, kernel `K` with `(K−1)/2` zeros on
/// each side (upstream's `_same_padding` for odd `K`).
fn ffn(f: &Ffn, x: &Tensor) -> Tensor {
    let pad = Conv1dSpec::same(f.conv_1.weight.dim(2) / 2);
    let mut h = conv(x, &f.conv_1, pad);
    ops::map_in_place(&mut h, |v| v.max(0.0));
    conv(&h, &f.conv_2, Conv1dSpec::same(f.conv_2.weight.dim(2) / 2))
}

/// `attentions.Encoder.forward` (post-norm): per layer `x = LN1(x + MHA(x, x))`,
/// `x = LN2(x + FFN(x))`.
pub fn encoder(e: &Encoder, mut x: Tensor, n_heads: usize) -> Tensor {
    for l in &e.layers {
        let y = multi_head_attention(&l.attn, &x, &x, n_heads);
        ops::add_in_place(&mut x, &y);
        ops::layer_norm_channels(&mut x, l.norm_1.gamma.data(), l.norm_1.beta.data(), LAYER_NORM_EPS);
        let y = ffn(&l.ffn, &x);
        ops::add_in_place(&mut x, &y);
        ops::layer_norm_channels(&mut x, l.norm_2.gamma.data(), l.norm_2.beta.data(), LAYER_NORM_EPS);
    }
    x
}
