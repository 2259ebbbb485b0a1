//! Safe host wrappers of the kernels shared by the GPT prior and BERT: each checks the sizes of
//! its operands, picks the grid and launches. Activations are row-major `[rows, width]` f16.

use half::f16;

use super::runtime::{Arg, CudaError, Dev, DeviceBuffer, Queue};
use crate::tensor::Tensor;

/// Rows up to which a linear layer runs as the bandwidth-bound small-M kernel (decode steps)
/// rather than the tensor-core GEMM (prompts).
pub const SMALL_M_MAX_ROWS: usize = 64;

/// Activation fused into a linear layer's epilogue (kernels/linear.cu `ACT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None = 0,
    Relu = 1,
    Gelu = 2,
}

/// An `nn.Linear` on the device: weight `[out, in]` as PyTorch stores it, optional bias.
pub struct DeviceLinear {
    weight: DeviceBuffer<f16>,
    bias: Option<DeviceBuffer<f16>>,
    pub out_features: usize,
    pub in_features: usize,
}

impl DeviceLinear {
    /// Uploads `weight` `[out, in]` (row-major) and `bias` `[out]`.
    pub fn new(q: &Queue, weight: &[f32], bias: Option<&[f32]>, out: usize, inp: usize) -> Result<Self, CudaError> {
        assert_eq!(weight.len(), out * inp, "weight size");
        if !inp.is_multiple_of(8) {
            return Err(CudaError::Unsupported(format!(
                "a linear layer with {inp} inputs (the kernels read 8 halves at a time: a multiple of 8 is needed)"
            )));
        }
        let bias = match bias {
            Some(b) => {
                assert_eq!(b.len(), out, "bias size");
                Some(q.upload_f16(b)?)
            }
            None => None,
        };
        Ok(DeviceLinear { weight: q.upload_f16(weight)?, bias, out_features: out, in_features: inp })
    }

    /// From `[out, in]` and `[out]` tensors.
    pub fn from_tensors(q: &Queue, weight: &Tensor, bias: Option<&Tensor>) -> Result<Self, CudaError> {
        let (out, inp) = (weight.dim(0), weight.dim(1));
        Self::new(q, weight.data(), bias.map(|b| b.data()), out, inp)
    }

    /// `out[rows, out] = act(x[rows, in] · Wᵀ + b)`.
    pub fn forward(
        &self,
        q: &Queue,
        x: Dev<f16>,
        rows: usize,
        out: Dev<f16>,
        act: Activation,
    ) -> Result<(), CudaError> {
        let rows_in = Rows { data: x, count: rows, stride: self.in_features };
        self.launch(q, rows_in, Output::F16(out), self.out_features, act)
    }

    /// The same with f32 output (the LM head's logits); always the small-M kernel.
    pub fn forward_f32(&self, q: &Queue, x: Dev<f16>, rows: usize, out: Dev<f32>) -> Result<(), CudaError> {
        let rows_in = Rows { data: x, count: rows, stride: self.in_features };
        self.launch(q, rows_in, Output::F32(out), self.out_features, Activation::None)
    }

    /// A time-major convolution as this product (kernels/linear.cu): input row `t` is the
    /// `in_features` values from `x + t·x_stride` (overlapping when `x_stride < in_features`), and
    /// output row `t` goes to `out + t·out_stride`.
    pub fn forward_strided(
        &self,
        q: &Queue,
        x: Rows,
        out: Dev<f16>,
        out_stride: usize,
        act: Activation,
    ) -> Result<(), CudaError> {
        self.launch(q, x, Output::F16(out), out_stride, act)
    }

    fn launch(&self, q: &Queue, x: Rows, out: Output, out_stride: usize, act: Activation) -> Result<(), CudaError> {
        let (n, k, rows) = (self.out_features, self.in_features, x.count);
        if rows == 0 {
            return Ok(());
        }
        if !x.stride.is_multiple_of(8) {
            return Err(CudaError::Unsupported(format!(
                "input rows {} elements apart (a multiple of 8 is needed)",
                x.stride
            )));
        }
        let out_len = match out {
            Output::F16(o) => o.len(),
            Output::F32(o) => o.len(),
        };
        assert!(
            x.data.len() >= (rows - 1) * x.stride + k && out_stride >= n && out_len >= (rows - 1) * out_stride + n,
            "linear operands too small for {rows} rows"
        );
        let (out_h, out_f) = match out {
            Output::F16(o) => (Arg::ptr(o), Arg::NULL),
            Output::F32(o) => (Arg::NULL, Arg::ptr(o)),
        };
        let common = [Arg::ptr(x.data), Arg::ptr(self.weight.dev()), Arg::opt(self.bias.as_ref().map(|b| b.dev()))];
        let sizes =
            [Arg::int(rows), Arg::int(n), Arg::int(k), Arg::int(x.stride), Arg::int(out_stride), Arg::I32(act as i32)];
        if rows <= SMALL_M_MAX_ROWS || matches!(out, Output::F32(_)) {
            let grid = (n.div_ceil(4) as u32, rows.div_ceil(8) as u32, 1);
            let args: Vec<Arg> = common.into_iter().chain([out_h, out_f]).chain(sizes).collect();
            // SAFETY: matches linear_small_m_f16(x, w, bias, out_h, out_f, M, N, K, lda, ldo, act);
            // sizes checked above.
            unsafe { q.launch("linear_small_m_f16", grid, 128, &args) }
        } else {
            let grid = (n.div_ceil(64) as u32, rows.div_ceil(64) as u32, 1);
            let args: Vec<Arg> = common.into_iter().chain([out_h]).chain(sizes).collect();
            // SAFETY: matches linear_mma_f16(x, w, bias, out, M, N, K, lda, ldo, act); sizes checked above.
            unsafe { q.launch("linear_mma_f16", grid, 128, &args) }
        }
    }
}

/// `count` input rows of a linear layer, `stride` elements apart.
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    pub data: Dev<f16>,
    pub count: usize,
    pub stride: usize,
}

/// Where a linear layer writes.
#[derive(Clone, Copy)]
enum Output {
    F16(Dev<f16>),
    F32(Dev<f32>),
}

/// A LayerNorm's gain and shift on the device.
pub struct DeviceNorm {
    gamma: DeviceBuffer<f16>,
    beta: DeviceBuffer<f16>,
    eps: f32,
}

impl DeviceNorm {
    pub fn new(q: &Queue, gamma: &[f32], beta: &[f32], eps: f32) -> Result<Self, CudaError> {
        assert_eq!(gamma.len(), beta.len(), "LayerNorm sizes");
        Ok(DeviceNorm { gamma: q.upload_f16(gamma)?, beta: q.upload_f16(beta)?, eps })
    }

    /// `out = LayerNorm(x + residual)` per row; `out` may be `residual` (in-place blocks).
    pub fn forward(
        &self,
        q: &Queue,
        out: Dev<f16>,
        x: Dev<f16>,
        residual: Option<Dev<f16>>,
        rows: usize,
    ) -> Result<(), CudaError> {
        let cols = self.gamma.len();
        assert!(out.len() >= rows * cols && x.len() >= rows * cols, "LayerNorm operands too small");
        assert!(residual.is_none_or(|r| r.len() >= rows * cols), "LayerNorm residual too small");
        if rows == 0 {
            return Ok(());
        }
        let args = [
            Arg::ptr(out),
            Arg::ptr(x),
            Arg::opt(residual),
            Arg::ptr(self.gamma.dev()),
            Arg::ptr(self.beta.dev()),
            Arg::int(rows),
            Arg::int(cols),
            Arg::F32(self.eps),
        ];
        // SAFETY: matches add_layer_norm_f16(out, x, residual, gamma, beta, rows, cols, eps).
        unsafe { q.launch("add_layer_norm_f16", (rows as u32, 1, 1), 256, &args) }
    }
}

/// Head widths the prefill attention kernels are built for.
pub const PREFILL_HEAD_DIMS: [usize; 2] = [32, 64];

/// Checks that `d` channels in `heads` heads have a width the attention kernels handle.
pub fn check_heads(d: usize, heads: usize) -> Result<usize, CudaError> {
    let hd = d / heads.max(1);
    if heads > 0 && hd * heads == d && PREFILL_HEAD_DIMS.contains(&hd) {
        Ok(hd)
    } else {
        Err(CudaError::Unsupported(format!(
            "{heads} attention heads over {d} channels (kernels for heads of {PREFILL_HEAD_DIMS:?} channels)"
        )))
    }
}

/// Masked attention over a whole prompt (`qkv [S, 3d]` → `out [S, d]`): text rows see the
/// first `n_text` rows, the others those and every row up to themselves; `n_text = S` is
/// unmasked (BERT).
pub fn prefill_attention(
    q: &Queue,
    qkv: Dev<f16>,
    out: Dev<f16>,
    rows: usize,
    d: usize,
    heads: usize,
    n_text: usize,
) -> Result<(), CudaError> {
    assert!(qkv.len() >= rows * 3 * d && out.len() >= rows * d && n_text <= rows, "attention operands");
    let hd = check_heads(d, heads)?;
    let kernel = format!("prefill_attention_hd{hd}_f16");
    let args = [
        Arg::ptr(qkv),
        Arg::ptr(out),
        Arg::int(rows),
        Arg::int(d),
        Arg::int(n_text),
        Arg::F32(1.0 / (hd as f32).sqrt()),
    ];
    // SAFETY: matches prefill_attention_hd{32,64}_f16(qkv, out, S, d, n_text, scale).
    unsafe { q.launch(&kernel, (rows.div_ceil(64) as u32, heads as u32, 1), 64, &args) }
}
