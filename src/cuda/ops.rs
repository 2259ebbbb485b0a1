//! Safe host wrappers of the kernels shared by the GPT prior, BERT and HuBERT, and the pure
//! builders of their launches (`*_launch`: check the operand sizes, pick the kernel and grid).
//! Activations are row-major `[rows, width]` f16.

use half::f16;

use super::launch::{Arg, KernelLaunch};
use super::runtime::{CudaError, Dev, DeviceBuffer, Queue};
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

    /// The operands the launch builders take.
    pub fn weights(&self) -> LinearWeights {
        LinearWeights {
            weight: self.weight.dev(),
            bias: self.bias.as_ref().map(|b| b.dev()),
            n: self.out_features,
            k: self.in_features,
        }
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
        self.run(q, rows_in, LinearOutput::F16(out), self.out_features, act)
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
        self.run(q, x, LinearOutput::F16(out), out_stride, act)
    }

    fn run(&self, q: &Queue, x: Rows, out: LinearOutput, out_stride: usize, act: Activation) -> Result<(), CudaError> {
        if x.count == 0 {
            return Ok(());
        }
        let launch = linear_launch(self.weights(), x, out, out_stride, act)?;
        // SAFETY: built by linear_launch (see there).
        unsafe { q.run(&launch) }
    }
}

/// A linear layer's operands on the device: `weight` `[n, k]` row-major (PyTorch's `[out, in]`),
/// optional `bias` `[n]`.
#[derive(Debug, Clone, Copy)]
pub struct LinearWeights {
    pub weight: Dev<f16>,
    pub bias: Option<Dev<f16>>,
    pub n: usize,
    pub k: usize,
}

/// `count` input rows of a linear layer, `stride` elements apart.
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    pub data: Dev<f16>,
    pub count: usize,
    pub stride: usize,
}

/// Where a linear layer writes.
#[derive(Debug, Clone, Copy)]
pub enum LinearOutput {
    F16(Dev<f16>),
    F32(Dev<f32>),
}

/// `out = act(x · Wᵀ + b)` for `x.count > 0` rows, output row `m` at `out + m·out_stride`: the
/// small-M kernel for decode-sized batches and for f32 output, else the tensor-core GEMM.
pub fn linear_launch(
    w: LinearWeights,
    x: Rows,
    out: LinearOutput,
    out_stride: usize,
    act: Activation,
) -> Result<KernelLaunch, CudaError> {
    match out {
        LinearOutput::F16(o) if x.count > SMALL_M_MAX_ROWS => linear_mma_launch(w, x, o, out_stride, act),
        _ => linear_small_m_launch(w, x, out, out_stride, act),
    }
}

/// The small-M kernel for an `m`-row product of `n` columns: entry point, grid and block. Up to
/// [`FUSED_NORM_MAX_ROWS`] rows, one warp per column on CUDA cores, 8 rows per pass
/// (`linear_small_m_f16`): no tensor-core tile is wasted at batch 1, and a row's result is the
/// same bits whichever batch it runs in, as in the fused kernels that serve those batches (a
/// seeded session gives the same tokens alone or batched). Above, tensor cores
/// (`linear_small_m_mma_f16`): each weight byte is read once per 64 rows instead of once per 8.
pub fn small_m_variant(m: usize, n: usize) -> (&'static str, (u32, u32, u32), u32) {
    if m <= FUSED_NORM_MAX_ROWS {
        ("linear_small_m_f16", (n.div_ceil(4) as u32, m.div_ceil(8) as u32, 1), 128)
    } else {
        ("linear_small_m_mma_f16", (n.div_ceil(16) as u32, m.div_ceil(64) as u32, 1), 256)
    }
}

/// Most rows [`linear_add_norm_launch`] takes: its last block per 8-row group normalises the
/// group's rows, which beats a separate LayerNorm launch for one or two groups only.
pub const FUSED_NORM_MAX_ROWS: usize = 16;

/// [`linear_launch`] on the small-M kernels: matches `linear_small_m_f16` /
/// `linear_small_m_mma_f16` `(x, w, bias, out_h, out_f, M, N, K, lda, ldo, act)`, on the grid of
/// [`small_m_variant`].
pub fn linear_small_m_launch(
    w: LinearWeights,
    x: Rows,
    out: LinearOutput,
    out_stride: usize,
    act: Activation,
) -> Result<KernelLaunch, CudaError> {
    let (out_h, out_f, out_len) = match out {
        LinearOutput::F16(o) => (Arg::ptr(o), Arg::NULL, o.len()),
        LinearOutput::F32(o) => (Arg::NULL, Arg::ptr(o), o.len()),
    };
    let sizes = linear_sizes(&w, &x, out_len, out_stride, act)?;
    let args = [Arg::ptr(x.data), Arg::ptr(w.weight), Arg::opt(w.bias), out_h, out_f].into_iter().chain(sizes);
    let (kernel, grid, block) = small_m_variant(x.count, w.n);
    Ok(KernelLaunch { kernel, grid, block, args: args.collect() })
}

/// A post-norm block's sublayer output with its residual LayerNorm, for a decode step of
/// `x.count ≤ FUSED_NORM_MAX_ROWS` rows: `out = x · Wᵀ + b` (`[rows, n]`), then `state =
/// LayerNorm(out + state)` per row. Matches `linear_small_m_add_norm_f16(x, w, bias, out, M, N,
/// K, lda, state, gamma, beta, eps, counters)` on the 8-row small-M grid; `counters` holds one
/// zero per 8-row group and is zero again afterwards.
pub fn linear_add_norm_launch(
    w: LinearWeights,
    x: Rows,
    out: Dev<f16>,
    state: Dev<f16>,
    norm: NormWeights,
    counters: Dev<i32>,
) -> Result<KernelLaunch, CudaError> {
    let (n, rows) = (w.n, x.count);
    if !n.is_multiple_of(8) || rows > FUSED_NORM_MAX_ROWS {
        return Err(CudaError::Unsupported(format!(
            "the fused LayerNorm takes up to {FUSED_NORM_MAX_ROWS} rows of a multiple of 8 columns, not {rows} × {n}"
        )));
    }
    let sizes = linear_sizes(&w, &x, out.len(), n, Activation::None)?;
    assert!(norm.gamma.len() == n && norm.beta.len() == n, "LayerNorm of {n} columns");
    assert!(state.len() >= rows * n && counters.len() >= rows.div_ceil(8), "fused LayerNorm operands too small");
    let args = [Arg::ptr(x.data), Arg::ptr(w.weight), Arg::opt(w.bias), Arg::ptr(out)]
        .into_iter()
        .chain(sizes.into_iter().take(4))
        .chain([Arg::ptr(state), Arg::ptr(norm.gamma), Arg::ptr(norm.beta), Arg::F32(norm.eps), Arg::ptr(counters)]);
    let grid = (n.div_ceil(4) as u32, rows.div_ceil(8) as u32, 1);
    Ok(KernelLaunch { kernel: "linear_small_m_add_norm_f16", grid, block: 128, args: args.collect() })
}

/// Hidden units per block of `ffn_small_m_f16` (`FFN_UNITS` in kernels/linear.cu).
pub const FFN_UNITS: usize = 32;

/// The fused FFN's scratch, zero before each launch and zero again after it: `accum` holds the
/// down product's partial sums (32.32 fixed point) for up to [`FUSED_NORM_MAX_ROWS`] rows of the
/// model width, `counter` one arrival count.
#[derive(Debug, Clone, Copy)]
pub struct FfnScratch {
    pub accum: Dev<u64>,
    pub counter: Dev<i32>,
}

/// A post-norm block's FFN with its residual LayerNorm for a decode step of up to
/// [`FUSED_NORM_MAX_ROWS`] rows: `state = LayerNorm(ReLU(state · W1ᵀ + b1) · W2ᵀ + b2 + state)`,
/// in place. Each block computes 32 hidden units for every row and adds their share of the down
/// product into `accum`; the last block to arrive normalises. Matches `ffn_small_m_f16(state, w1,
/// b1, w2, b2, gamma, beta, eps, accum, counter, M, D, H)`, grid `⌈H / 32⌉`, 256 threads.
pub fn ffn_add_norm_launch(
    up: LinearWeights,
    down: LinearWeights,
    state: Dev<f16>,
    rows: usize,
    norm: NormWeights,
    scratch: FfnScratch,
) -> Result<KernelLaunch, CudaError> {
    let (d, h) = (up.k, up.n);
    let (Some(b1), Some(b2)) = (up.bias, down.bias) else {
        return Err(CudaError::Unsupported("the fused FFN needs both projections' biases".into()));
    };
    if down.n != d || down.k != h {
        return Err(CudaError::Unsupported(format!(
            "an FFN of {d} → {h} needs a down-projection of {h} → {d}, not {} → {}",
            down.k, down.n
        )));
    }
    if !(1..=FUSED_NORM_MAX_ROWS).contains(&rows) || !d.is_multiple_of(8) || !h.is_multiple_of(8) {
        return Err(CudaError::Unsupported(format!(
            "the fused FFN takes 1 to {FUSED_NORM_MAX_ROWS} rows and sizes that are multiples of 8, not {rows} × {d} → {h}"
        )));
    }
    assert!(up.weight.len() >= h * d && down.weight.len() >= d * h, "FFN weights smaller than {d} × {h}");
    assert!(b1.len() >= h && b2.len() >= d && norm.gamma.len() == d && norm.beta.len() == d, "FFN vectors");
    assert!(
        state.len() >= rows * d && scratch.accum.len() >= rows * d && !scratch.counter.is_empty(),
        "fused FFN operands too small for {rows} rows"
    );
    let args = vec![
        Arg::ptr(state),
        Arg::ptr(up.weight),
        Arg::ptr(b1),
        Arg::ptr(down.weight),
        Arg::ptr(b2),
        Arg::ptr(norm.gamma),
        Arg::ptr(norm.beta),
        Arg::F32(norm.eps),
        Arg::ptr(scratch.accum),
        Arg::ptr(scratch.counter),
        Arg::int(rows),
        Arg::int(d),
        Arg::int(h),
    ];
    Ok(KernelLaunch { kernel: "ffn_small_m_f16", grid: (h.div_ceil(FFN_UNITS) as u32, 1, 1), block: 256, args })
}

/// [`linear_launch`] on the tensor-core GEMM: matches `linear_mma_f16(x, w, bias, out, M, N, K,
/// lda, ldo, act)`, grid `(⌈N/64⌉, ⌈M/64⌉)`, 128 threads.
pub fn linear_mma_launch(
    w: LinearWeights,
    x: Rows,
    out: Dev<f16>,
    out_stride: usize,
    act: Activation,
) -> Result<KernelLaunch, CudaError> {
    let sizes = linear_sizes(&w, &x, out.len(), out_stride, act)?;
    let args = [Arg::ptr(x.data), Arg::ptr(w.weight), Arg::opt(w.bias), Arg::ptr(out)].into_iter().chain(sizes);
    let grid = (w.n.div_ceil(64) as u32, x.count.div_ceil(64) as u32, 1);
    Ok(KernelLaunch { kernel: "linear_mma_f16", grid, block: 128, args: args.collect() })
}

/// Checks a linear layer's operands; returns the kernels' trailing `M, N, K, lda, ldo, act`.
fn linear_sizes(
    w: &LinearWeights,
    x: &Rows,
    out_len: usize,
    out_stride: usize,
    act: Activation,
) -> Result<[Arg; 6], CudaError> {
    let (n, k, rows) = (w.n, w.k, x.count);
    if !x.stride.is_multiple_of(8) || !k.is_multiple_of(8) {
        return Err(CudaError::Unsupported(format!(
            "input rows of {k} elements, {} apart (the kernels read 8 halves at a time: multiples of 8 are needed)",
            x.stride
        )));
    }
    assert!(rows > 0, "a linear launch needs rows");
    assert!(w.weight.len() >= n * k && w.bias.is_none_or(|b| b.len() >= n), "linear weights smaller than [{n}, {k}]");
    assert!(
        x.data.len() >= (rows - 1) * x.stride + k && out_stride >= n && out_len >= (rows - 1) * out_stride + n,
        "linear operands too small for {rows} rows"
    );
    Ok([Arg::int(rows), Arg::int(n), Arg::int(k), Arg::int(x.stride), Arg::int(out_stride), Arg::I32(act as i32)])
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

    /// The operands the launch builders take.
    pub fn weights(&self) -> NormWeights {
        NormWeights { gamma: self.gamma.dev(), beta: self.beta.dev(), eps: self.eps }
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
        if rows == 0 {
            return Ok(());
        }
        let launch = layer_norm_launch(self.weights(), out, x, residual, rows);
        // SAFETY: built by layer_norm_launch (see there).
        unsafe { q.run(&launch) }
    }
}

/// A normalisation's per-channel gain and shift `[C]` on the device, and its epsilon.
#[derive(Debug, Clone, Copy)]
pub struct NormWeights {
    pub gamma: Dev<f16>,
    pub beta: Dev<f16>,
    pub eps: f32,
}

/// `out = LayerNorm(x + residual)` over `rows > 0` rows of `C` channels (`out` may be
/// `residual`): matches `add_layer_norm_f16(out, x, residual, gamma, beta, rows, cols, eps)`, one
/// block of 256 threads per row.
pub fn layer_norm_launch(
    norm: NormWeights,
    out: Dev<f16>,
    x: Dev<f16>,
    residual: Option<Dev<f16>>,
    rows: usize,
) -> KernelLaunch {
    let cols = norm.gamma.len();
    assert!(norm.beta.len() == cols, "LayerNorm gain and shift differ in size");
    assert!(out.len() >= rows * cols && x.len() >= rows * cols, "LayerNorm operands too small");
    assert!(residual.is_none_or(|r| r.len() >= rows * cols), "LayerNorm residual too small");
    let args = vec![
        Arg::ptr(out),
        Arg::ptr(x),
        Arg::opt(residual),
        Arg::ptr(norm.gamma),
        Arg::ptr(norm.beta),
        Arg::int(rows),
        Arg::int(cols),
        Arg::F32(norm.eps),
    ];
    KernelLaunch { kernel: "add_layer_norm_f16", grid: (rows as u32, 1, 1), block: 256, args }
}

/// The prefill attention kernels by head width.
const PREFILL_KERNELS: [(usize, &str); 2] = [(32, "prefill_attention_hd32_f16"), (64, "prefill_attention_hd64_f16")];

/// Checks that `d` channels in `heads` heads have a width the attention kernels handle; returns
/// the head width and its prefill kernel.
pub fn check_heads(d: usize, heads: usize) -> Result<(usize, &'static str), CudaError> {
    let hd = d / heads.max(1);
    match PREFILL_KERNELS.iter().find(|(width, _)| *width == hd) {
        Some(&(_, kernel)) if heads > 0 && hd * heads == d => Ok((hd, kernel)),
        _ => Err(CudaError::Unsupported(format!(
            "{heads} attention heads over {d} channels (kernels for heads of {:?} channels)",
            PREFILL_KERNELS.map(|(width, _)| width)
        ))),
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
    let launch = prefill_attention_launch(qkv, out, rows, d, heads, n_text, None)?;
    // SAFETY: built by prefill_attention_launch (see there).
    unsafe { q.run(&launch) }
}

/// Where a prompt's keys and values go besides the attention: one session's rows of a KV cache
/// (position `p` at `p·d` in each).
#[derive(Debug, Clone, Copy)]
pub struct PromptCache {
    pub keys: Dev<f16>,
    pub values: Dev<f16>,
}

/// [`prefill_attention`]'s launch, also storing the prompt's K and V rows into `cache` when
/// given: matches `prefill_attention_hd{32,64}_f16(qkv, out, S, d, n_text, scale, k_cache,
/// v_cache)`, grid `(⌈S/64⌉, heads)`, 128 threads.
pub fn prefill_attention_launch(
    qkv: Dev<f16>,
    out: Dev<f16>,
    rows: usize,
    d: usize,
    heads: usize,
    n_text: usize,
    cache: Option<PromptCache>,
) -> Result<KernelLaunch, CudaError> {
    assert!(qkv.len() >= rows * 3 * d && out.len() >= rows * d && n_text <= rows, "attention operands");
    assert!(
        cache.is_none_or(|c| c.keys.len() >= rows * d && c.values.len() >= rows * d),
        "a KV cache slot smaller than the prompt's {rows} rows"
    );
    let (hd, kernel) = check_heads(d, heads)?;
    let args = vec![
        Arg::ptr(qkv),
        Arg::ptr(out),
        Arg::int(rows),
        Arg::int(d),
        Arg::int(n_text),
        Arg::F32(1.0 / (hd as f32).sqrt()),
        Arg::opt(cache.map(|c| c.keys)),
        Arg::opt(cache.map(|c| c.values)),
    ];
    Ok(KernelLaunch { kernel, grid: (rows.div_ceil(64) as u32, heads as u32, 1), block: 128, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused LayerNorm is for small batches only: its last block serialises a group's rows.
    #[test]
    fn the_fused_layer_norm_refuses_large_batches() {
        let fake = |n: usize| Dev::<f16>::from_raw(0x1000_0000, n);
        let w = LinearWeights { weight: fake(512 * 512), bias: None, n: 512, k: 512 };
        let norm = NormWeights { gamma: fake(512), beta: fake(512), eps: 1e-5 };
        let counters = Dev::<i32>::from_raw(0x2000_0000, 8);
        let launch = |rows: usize| {
            let x = Rows { data: fake(rows * 512), count: rows, stride: 512 };
            linear_add_norm_launch(w, x, fake(rows * 512), fake(rows * 512), norm, counters)
        };
        assert_eq!(launch(16).unwrap().grid, (128, 2, 1));
        assert!(matches!(launch(17), Err(CudaError::Unsupported(_))));
        assert_eq!(small_m_variant(16, 512), ("linear_small_m_f16", (128, 2, 1), 128));
        assert_eq!(small_m_variant(17, 512), ("linear_small_m_mma_f16", (32, 1, 1), 256));
        assert_eq!(small_m_variant(65, 1025), ("linear_small_m_mma_f16", (65, 2, 1), 256));
    }

    /// The fused FFN takes the small batches only, matching projections and both biases.
    #[test]
    fn the_fused_ffn_checks_its_shapes() {
        let fake = |n: usize| Dev::<f16>::from_raw(0x1000_0000, n);
        let (d, h) = (512, 2048);
        let up = LinearWeights { weight: fake(h * d), bias: Some(fake(h)), n: h, k: d };
        let down = LinearWeights { weight: fake(d * h), bias: Some(fake(d)), n: d, k: h };
        let norm = NormWeights { gamma: fake(d), beta: fake(d), eps: 1e-5 };
        let scratch = FfnScratch { accum: Dev::from_raw(0x2000_0000, 16 * d), counter: Dev::from_raw(0x3000_0000, 1) };
        let launch = |up, down, rows| ffn_add_norm_launch(up, down, fake(16 * d), rows, norm, scratch);
        assert_eq!(launch(up, down, 16).unwrap().grid, (64, 1, 1));
        let odd = LinearWeights { n: 200, bias: Some(fake(200)), ..up };
        let odd_down = LinearWeights { k: 200, ..down };
        assert_eq!(launch(odd, odd_down, 1).unwrap().grid, (7, 1, 1));
        for (up, down, rows) in [
            (up, down, 17),
            (up, down, 0),
            (up, LinearWeights { n: 256, ..down }, 1),
            (LinearWeights { bias: None, ..up }, down, 1),
        ] {
            assert!(matches!(launch(up, down, rows), Err(CudaError::Unsupported(_))));
        }
    }
}
