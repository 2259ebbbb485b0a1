//! The reference (style) encoder `ref_enc` (upstream `GPT_SoVITS/module/modules.py`
//! `MelStyleEncoder`, `Conv1dGLU`, `MultiHeadAttention`, `ScaledDotProductAttention`;
//! research/upstream-v2.md §5.3.5): spectrogram `[F, T]` → global style vector `ge [gin]`; and
//! the v2Pro/v2ProPlus speaker conditioning around it (`SynthesizerTrn.decode`'s `get_ge` and
//! `ge_to512`; fixtures/v2pro-small/README.md).

use crate::cpu::ops::{self, Conv1dSpec, MatRef};
use crate::model::sovits::{Linear, MelStyleEncoder, SpeakerConditioning, StyleAttention, REF_ENC_HEADS};
use crate::tensor::Tensor;

use super::conv;

/// Self-attention over `x [T, D]` with `REF_ENC_HEADS` heads; scores are divided by `√D`
/// (upstream's temperature is `d_model ** 0.5`, not the head width); `fc(attn) + x`.
fn self_attention(a: &StyleAttention, x: &Tensor) -> Tensor {
    let (t, d) = (x.dim(0), x.dim(1));
    let q = ops::linear(x, &a.w_qs.weight, Some(&a.w_qs.bias));
    let k = ops::linear(x, &a.w_ks.weight, Some(&a.w_ks.bias));
    let v = ops::linear(x, &a.w_vs.weight, Some(&a.w_vs.bias));
    let dk = d / REF_ENC_HEADS;
    let inv_temp = 1.0 / (d as f32).sqrt();
    let mut out = vec![0.0; t * d];
    let mut p = vec![0.0; t * t];
    for h in 0..REF_ENC_HEADS {
        // p[T, T] = q_h · k_hᵀ
        ops::matmul_into(
            t,
            t,
            dk,
            MatRef { data: &q.data()[h * dk..], rs: d, cs: 1 },
            MatRef { data: &k.data()[h * dk..], rs: 1, cs: d },
            &mut p,
            false,
        );
        for row in p.chunks_exact_mut(t) {
            row.iter_mut().for_each(|s| *s *= inv_temp);
            ops::softmax_in_place(row);
        }
        // out[:, h·dk..] = p · v_h, written through a strided view of the [T, D] output.
        let mut oh = vec![0.0; t * dk];
        ops::matmul_into(
            t,
            dk,
            t,
            MatRef::rows(&p, t),
            MatRef { data: &v.data()[h * dk..], rs: d, cs: 1 },
            &mut oh,
            false,
        );
        for (orow, hrow) in out.chunks_exact_mut(d).zip(oh.chunks_exact(dk)) {
            orow[h * dk..(h + 1) * dk].copy_from_slice(hrow);
        }
    }
    let mut y = ops::linear(&Tensor::new([t, d], out), &a.fc.weight, Some(&a.fc.bias));
    ops::add_in_place(&mut y, x);
    y
}

/// `MelStyleEncoder.forward(spec[:bins], mask=1)` → `ge [gin]`. `spec` is `[F ≥ bins, T]`; only
/// the first `bins` rows are read (v2: 704 of 1025).
pub fn style_vector(e: &MelStyleEncoder, spec: &Tensor) -> Tensor {
    let (bins, t) = (e.spectral_0.weight.dim(1), spec.dim(1));
    let x = Tensor::new([bins, t], spec.data()[..bins * t].to_vec()).t();
    let mut x = ops::linear(&x, &e.spectral_0.weight, Some(&e.spectral_0.bias));
    ops::map_in_place(&mut x, ops::mish);
    let mut x = ops::linear(&x, &e.spectral_3.weight, Some(&e.spectral_3.bias));
    ops::map_in_place(&mut x, ops::mish);
    // Conv1dGLU blocks, channel-first: x + a·sigmoid(b) with [a; b] = conv(x).
    let mut x = x.t();
    let d = x.dim(0);
    for c in &e.temporal {
        let h = conv(&x, c, Conv1dSpec::same(c.weight.dim(2) / 2));
        let (a, b) = h.data().split_at(d * t);
        x.data_mut().iter_mut().zip(a).zip(b).for_each(|((x, &a), &b)| *x += a * ops::sigmoid(b));
    }
    let x = self_attention(&e.slf_attn, &x.t());
    let y = ops::linear(&x, &e.fc.weight, Some(&e.fc.bias));
    // temporal_avg_pool with a mask: divide by the length, then sum over time.
    let g = y.dim(1);
    let mut ge = vec![0.0; g];
    for row in y.data().chunks_exact(g) {
        ge.iter_mut().zip(row).for_each(|(s, v)| *s += v / t as f32);
    }
    Tensor::new([g], ge)
}

/// `w · x + b` for one vector `x`.
fn affine(l: &Linear, x: &[f32]) -> Vec<f32> {
    ops::linear(&Tensor::new([1, x.len()], x.to_vec()), &l.weight, Some(&l.bias)).data().to_vec()
}

/// `sv_emb(embedding)` `[gin]`: a Pro reference's speaker term.
pub fn speaker_projection(s: &SpeakerConditioning, embedding: &[f32]) -> Vec<f32> {
    affine(&s.sv_emb, embedding)
}

/// A Pro reference's style: `PReLU(ref_enc(spec) + sv_emb(embedding))` from its two terms.
pub fn speaker_style(s: &SpeakerConditioning, ref_enc: &[f32], speaker: &[f32]) -> Vec<f32> {
    let prelu = |(x, slope): (f32, &f32)| if x >= 0.0 { x } else { slope * x };
    ref_enc.iter().zip(speaker).map(|(a, b)| a + b).zip(s.prelu.data()).map(prelu).collect()
}

/// The style MRTE adds: `ge_to512(ge)` for Pro models, `ge` itself for v1/v2.
pub fn mrte_style(s: Option<&SpeakerConditioning>, ge: &[f32]) -> Vec<f32> {
    match s {
        Some(s) => affine(&s.ge_to_mrte, ge),
        None => ge.to_vec(),
    }
}
