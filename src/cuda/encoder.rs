//! The post-LN transformer encoder layer shared by BERT and HuBERT (the GPU twin of
//! `cpu::encoder::PostLnEncoderLayer`): `x = LN₁(x + out(attention(qkv(x))))`,
//! `x = LN₂(x + W₂·gelu(W₁·x))`, unmasked attention, in place on time-major `[T, H]` f16.

use half::f16;

use super::ops::{check_heads, prefill_attention, Activation, DeviceLinear, DeviceNorm};
use super::runtime::{CudaError, Dev, DeviceBuffer, Queue};
use crate::model::layers::{Linear, Norm, PostLnLayer};

pub struct DeviceEncoderLayer {
    /// query, key and value stacked into one `[3H, H]` product, as the CPU's encoder does.
    qkv: DeviceLinear,
    out: DeviceLinear,
    attn_norm: DeviceNorm,
    ffn_in: DeviceLinear,
    ffn_out: DeviceLinear,
    ffn_norm: DeviceNorm,
    heads: usize,
}

/// Activations a layer needs besides `x`, for up to `rows` rows.
pub struct EncoderScratch {
    qkv: DeviceBuffer<f16>,
    attn: DeviceBuffer<f16>,
    proj: DeviceBuffer<f16>,
    ffn: DeviceBuffer<f16>,
}

impl EncoderScratch {
    pub fn new(q: &Queue, rows: usize, hidden: usize, ffn: usize) -> Result<Self, CudaError> {
        Ok(EncoderScratch {
            qkv: q.zeros(rows * 3 * hidden)?,
            attn: q.zeros(rows * hidden)?,
            proj: q.zeros(rows * hidden)?,
            ffn: q.zeros(rows * ffn)?,
        })
    }

    /// A `[rows, hidden]` buffer free between layers (BERT's embeddings land there first).
    pub fn proj(&self) -> Dev<f16> {
        self.proj.dev()
    }
}

impl DeviceEncoderLayer {
    pub fn new(q: &Queue, layer: &PostLnLayer, heads: usize, eps: f32) -> Result<Self, CudaError> {
        let h = layer.query.weight.dim(1);
        check_heads(h, heads)?;
        let mut qkv_w = Vec::with_capacity(3 * h * h);
        let mut qkv_b = Vec::with_capacity(3 * h);
        for part in [&layer.query, &layer.key, &layer.value] {
            qkv_w.extend_from_slice(part.weight.data());
            qkv_b.extend_from_slice(part.bias.data());
        }
        let lin = |l: &Linear| DeviceLinear::from_tensors(q, &l.weight, Some(&l.bias));
        let norm = |n: &Norm| DeviceNorm::new(q, n.weight.data(), n.bias.data(), eps);
        Ok(DeviceEncoderLayer {
            qkv: DeviceLinear::new(q, &qkv_w, Some(&qkv_b), 3 * h, h)?,
            out: lin(&layer.out)?,
            attn_norm: norm(&layer.attn_norm)?,
            ffn_in: lin(&layer.ffn_in)?,
            ffn_out: lin(&layer.ffn_out)?,
            ffn_norm: norm(&layer.ffn_norm)?,
            heads,
        })
    }

    /// Runs the layer on `rows` rows of `x` in place.
    pub fn forward(&self, q: &Queue, x: Dev<f16>, rows: usize, s: &EncoderScratch) -> Result<(), CudaError> {
        let h = self.out.out_features;
        let (proj, ffn) = (s.proj.dev(), s.ffn.dev());
        self.qkv.forward(q, x, rows, s.qkv.dev(), Activation::None)?;
        prefill_attention(q, s.qkv.dev(), s.attn.dev(), rows, h, self.heads, rows)?;
        self.out.forward(q, s.attn.dev(), rows, proj, Activation::None)?;
        self.attn_norm.forward(q, x, proj, Some(x), rows)?;
        self.ffn_in.forward(q, x, rows, ffn, Activation::Gelu)?;
        self.ffn_out.forward(q, ffn, rows, proj, Activation::None)?;
        self.ffn_norm.forward(q, x, proj, Some(x), rows)
    }
}
