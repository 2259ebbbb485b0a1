//! The post-LN transformer encoder layer shared by HuBERT (`HubertEncoderLayer`) and BERT
//! (`BertLayer`) in transformers, batch 1 without padding (so no attention mask):
//! `x = LN₁(x + out(softmax(q·kᵀ/√d)·v))`, `x = LN₂(x + W₂·gelu(W₁·x))`.
//!
//! Layout `[T, H]`. q, k and v come from one fused `[3H, H]` product; heads run in parallel.

use rayon::prelude::*;

use crate::model::layers::{Linear, Norm, PostLnLayer};
use crate::tensor::Tensor;

use super::ops::{gelu_slice, layer_norm_rows, matmul_into, MatRef, PackedLinear};
use super::vecmath::softmax;

/// A [`PostLnLayer`] prepared for the CPU: weights packed for gemm once here (see
/// [`PackedLinear`]), so no product repacks them.
pub struct PostLnEncoderLayer {
    qkv: PackedLinear, // [3H, H]: query, key, value rows stacked
    out: PackedLinear, // [H, H]
    attn_norm: Norm,
    ffn_in: PackedLinear,  // [F, H]
    ffn_out: PackedLinear, // [H, F]
    ffn_norm: Norm,
    heads: usize,
    eps: f32,
}

impl PostLnEncoderLayer {
    /// `heads` must divide the hidden size (checked by the model configs).
    pub fn new(layer: PostLnLayer, heads: usize, eps: f32) -> Self {
        let h = layer.query.weight.dim(1);
        assert!(heads > 0 && h.is_multiple_of(heads), "hidden {h} vs {heads} heads");
        let mut w = Vec::with_capacity(3 * h * h);
        let mut b = Vec::with_capacity(3 * h);
        for lin in [&layer.query, &layer.key, &layer.value] {
            w.extend_from_slice(lin.weight.data());
            b.extend_from_slice(lin.bias.data());
        }
        let packed = |l: &Linear| PackedLinear::new(&l.weight, Some(&l.bias));
        PostLnEncoderLayer {
            qkv: PackedLinear::new(&Tensor::new([3 * h, h], w), Some(&Tensor::new([3 * h], b))),
            out: packed(&layer.out),
            attn_norm: layer.attn_norm,
            ffn_in: packed(&layer.ffn_in),
            ffn_out: packed(&layer.ffn_out),
            ffn_norm: layer.ffn_norm,
            heads,
            eps,
        }
    }

    /// `[T, H]` → `[T, H]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let qkv = self.qkv.forward(x);
        let ctx = self.attention(&qkv, x.dim(0), x.dim(1));
        let mut y = self.out.forward(&ctx);
        residual_norm(&mut y, x, &self.attn_norm, self.eps);
        let mut hidden = self.ffn_in.forward(&y);
        gelu_slice(hidden.data_mut());
        let mut z = self.ffn_out.forward(&hidden);
        residual_norm(&mut z, &y, &self.ffn_norm, self.eps);
        z
    }

    /// Scaled dot-product attention of every head on `qkv [T, 3H]` → context `[T, H]`.
    fn attention(&self, qkv: &Tensor, t: usize, h: usize) -> Tensor {
        let hd = h / self.heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let q3 = qkv.data();
        let per_head: Vec<Vec<f32>> = (0..self.heads)
            .into_par_iter()
            .map(|head| {
                let q = MatRef { data: &q3[head * hd..], rs: 3 * h, cs: 1 };
                let kt = MatRef { data: &q3[h + head * hd..], rs: 1, cs: 3 * h };
                let v = MatRef { data: &q3[2 * h + head * hd..], rs: 3 * h, cs: 1 };
                let mut scores = vec![0.0f32; t * t];
                matmul_into(t, t, hd, q, kt, &mut scores, false);
                for row in scores.chunks_exact_mut(t) {
                    row.iter_mut().for_each(|s| *s *= scale);
                    softmax(row);
                }
                let mut ctx = vec![0.0f32; t * hd];
                matmul_into(t, hd, t, MatRef::rows(&scores, t), v, &mut ctx, false);
                ctx
            })
            .collect();
        let mut out = vec![0.0f32; t * h];
        for (head, ctx) in per_head.iter().enumerate() {
            for (row, src) in out.chunks_exact_mut(h).zip(ctx.chunks_exact(hd)) {
                row[head * hd..(head + 1) * hd].copy_from_slice(src);
            }
        }
        Tensor::new([t, h], out)
    }
}

/// `y = LayerNorm(y + residual)` per row (the twin of kernels/norm.cu's `add_layer_norm_f16`).
pub fn residual_norm(y: &mut Tensor, residual: &Tensor, norm: &Norm, eps: f32) {
    y.data_mut().iter_mut().zip(residual.data()).for_each(|(a, b)| *a += b);
    layer_norm_rows(y, &norm.weight, &norm.bias, eps);
}
