//! The operations of the batched acoustic graph and the executor interface they run on.
//!
//! Every activation is **time-major and batch-padded**: item `b`'s row `t` of a tensor with
//! `stride` rows per item is row `b·stride + t`, `ld` values apart ([`Seq`]). Only the first
//! `valid(b) = lens[b] · scale` rows of an item hold data; every op reads nothing beyond them
//! (convolutions see zeros there, as upstream's "same" padding does at the ends of a sequence,
//! attention masks those keys) and writes zeros into the rows past them. So items of different
//! lengths share one launch and each computes exactly what it would alone.
//!
//! Storage is FP16 ([`AcousticOps::F16`]), arithmetic FP32; each op rounds its output to FP16
//! once, as the kernels do (the waveform is FP32). The docs on each argument struct are the
//! contract that the CUDA kernels (`kernels/acoustic*.cu`) and their CPU twins
//! (`cpu::acoustic_twins`) both implement.

use super::step::Shape;
use crate::model::ModelError;

/// A typed view of an executor buffer: a start and a length, cheap to copy and to narrow.
pub trait View: Copy + Send + Sync + 'static {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements `start..start + len` of this view (panics when out of range: a bug of the
    /// graph's own sizing, never of user input).
    fn range(self, start: usize, len: usize) -> Self;
}

/// Runs the acoustic graph's operations on some device: the GPU (`cuda::acoustic`) or the CPU
/// twins of its kernels (`cpu::acoustic_twins`). Views stay valid as long as the executor.
pub trait AcousticOps {
    type F16: View;
    type F32: View;
    type I32: View;

    /// A zeroed buffer.
    fn alloc_f16(&self, len: usize) -> Result<Self::F16, ModelError>;
    fn alloc_f32(&self, len: usize) -> Result<Self::F32, ModelError>;
    fn alloc_i32(&self, len: usize) -> Result<Self::I32, ModelError>;

    /// Copies host values in (rounded to FP16 for `F16` views).
    fn write_f16(&self, dst: Self::F16, src: &[f32]) -> Result<(), ModelError>;
    fn write_f32(&self, dst: Self::F32, src: &[f32]) -> Result<(), ModelError>;
    fn write_i32(&self, dst: Self::I32, src: &[i32]) -> Result<(), ModelError>;

    /// Copies a view out, after all queued work.
    fn read_f16(&self, src: Self::F16) -> Result<Vec<f32>, ModelError>;
    fn read_f32(&self, src: Self::F32) -> Result<Vec<f32>, ModelError>;

    fn gather(&self, op: &Gather<Self>) -> Result<(), ModelError>;
    fn conv(&self, op: &Conv<Self>) -> Result<(), ModelError>;
    fn overlap_add(&self, op: &OverlapAdd<Self>) -> Result<(), ModelError>;
    fn attention(&self, op: &Attention<Self>) -> Result<(), ModelError>;
    fn layer_norm(&self, op: &LayerNorm<Self>) -> Result<(), ModelError>;
    fn interpolate(&self, op: &Interpolate<Self>) -> Result<(), ModelError>;
    fn prior_sample(&self, op: &PriorSample<Self>) -> Result<(), ModelError>;

    /// Runs `step`, which queues the fixed operation sequence of a step of `shape` on views that
    /// depend only on `shape`. A device may record the sequence the first time and replay the
    /// recording afterwards (CUDA graphs); the default runs it.
    fn replay(&self, shape: Shape, step: &dyn Fn() -> Result<(), ModelError>) -> Result<(), ModelError> {
        let _ = shape;
        step()
    }
}

/// How many rows of each item of a batch hold data: `valid(b) = lens[b] · scale` of `stride`
/// rows per item (`lens`: i32 `[items]`).
pub struct Seq<O: AcousticOps + ?Sized> {
    pub lens: O::I32,
    pub scale: usize,
    pub stride: usize,
    pub items: usize,
}

/// Rows of a tensor: `data` with row `r` at `r · ld`.
pub struct Rows<V> {
    pub data: V,
    pub ld: usize,
}

/// Applied to every input value a convolution reads (never to its zero padding):
/// `leaky_relu(v · gain, slope)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PreAct {
    None,
    LeakyRelu { slope: f32, gain: f32 },
}

/// Applied to a convolution's output column `n` after its biases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostAct {
    None,
    Relu,
    Tanh,
    /// WaveNet's gate: computed columns `2c` and `2c + 1` become output column `c` =
    /// `tanh(v[2c]) · sigmoid(v[2c + 1])` (the weights are interleaved to pair them).
    Gate,
}

/// Where a convolution writes.
pub enum Out<O: AcousticOps + ?Sized> {
    F16(Rows<O::F16>),
    F32(Rows<O::F32>),
}

/// `out[b, t] = table[ids[b · ids_stride + t / repeat]]` for `t < valid(b)`, else zeros. The
/// codebook lookup with nearest ×2 upsampling (`repeat` 2) and the phone embedding (1). Ids are
/// checked against the table before they are written.
pub struct Gather<O: AcousticOps + ?Sized> {
    pub table: O::F16, // [rows, width]
    pub width: usize,
    pub ids: O::I32,
    pub ids_stride: usize,
    pub repeat: usize,
    pub seq: Seq<O>,
    pub out: O::F16, // [items · stride, width]
}

/// A stride-1 convolution with "same" zero padding `dilation · (taps − 1) / 2` over each item
/// (taps = 1: a linear layer), as one implicit GEMM with everything around it fused:
///
/// `v[n] = Σ_{tap, ci} pre(x[b, t + tap·dilation − pad, ci]) · w[n, tap·cin + ci]` (sources
/// outside `[0, valid(b))` are zero), then `+ bias[n] + row_bias[b, n]`, then `post`, then
/// `+ residual[0] + residual[1]` (either may be the output itself: each element is read before
/// it is written by the same thread). Rows `t ≥ valid(b)` are written as zeros.
pub struct Conv<O: AcousticOps + ?Sized> {
    pub x: Rows<O::F16>,
    pub cin: usize,
    pub seq: Seq<O>,
    /// `[n, taps · cin]`, row `n` = computed column `n`, tap-major within a row.
    pub w: O::F16,
    /// Computed columns (the output has `n / 2` with [`PostAct::Gate`]).
    pub n: usize,
    pub taps: usize,
    pub dilation: usize,
    pub bias: Option<O::F16>,
    /// `[items, n]`: a per-item bias (a voice's conditioning).
    pub row_bias: Option<O::F16>,
    pub pre: PreAct,
    pub post: PostAct,
    pub residual: [Option<Rows<O::F16>>; 2],
    pub out: Out<O>,
}

/// The scatter half of `ConvTranspose1d(kernel k, stride u, padding (k − u)/2)`, whose product
/// half is a [`Conv`] into `cols` (`[rows, k · cout]`: input row `i`'s contribution to output
/// row `i·u − pad + j` at columns `j·cout..`): output row `o < valid_in(b) · u` of item `b` is
/// `bias + Σ_j cols[b, (o + pad − j) / u, j·cout..]` over the taps `j` with
/// `(o + pad − j) ≡ 0 (mod u)` and a source row inside `[0, valid_in(b))`; later rows are zeros.
/// The output has `stride · u` rows per item.
pub struct OverlapAdd<O: AcousticOps + ?Sized> {
    pub cols: O::F16,
    pub seq_in: Seq<O>,
    pub k: usize,
    pub u: usize,
    pub cout: usize,
    pub bias: O::F16,
    pub out: O::F16, // [items · stride · u, cout]
}

/// Windowed relative positions of the VITS encoders' attention (heads share the tables).
pub struct Relative<O: AcousticOps + ?Sized> {
    /// `[2·window + 1, head_dim]`: row `r` is offset `r − window`.
    pub emb_k: O::F16,
    pub emb_v: O::F16,
    pub window: usize,
}

/// Multi-head attention of query rows over key/value rows, head `h` in columns
/// `h·head_dim..(h+1)·head_dim` of `q`, `k`, `v` and `out`. For query `i < valid_q(b)`, over
/// keys `j < valid_k(b)`: `s[j] = (q_i·scale)·k_j (+ (q_i·scale)·E_k[j−i+w] for |j − i| ≤ w)`,
/// `p = softmax(s)`, `out_i = Σ_j p[j]·v_j (+ Σ_{|j−i|≤w} p[j]·E_v[j−i+w])`. Other rows, and
/// items without keys, are zeros.
pub struct Attention<O: AcousticOps + ?Sized> {
    pub q: Rows<O::F16>,
    pub k: Rows<O::F16>,
    pub v: Rows<O::F16>,
    pub out: Rows<O::F16>,
    pub heads: usize,
    pub head_dim: usize,
    pub q_seq: Seq<O>,
    pub k_seq: Seq<O>,
    pub scale: f32,
    pub relative: Option<Relative<O>>,
}

/// `out[r] = LayerNorm(x[r] + residual[r]) · gamma + beta` over `cols` values, every row `r <
/// rows` (`out` may be `residual`). The transformer blocks' post-norm (kernels/norm.cu).
pub struct LayerNorm<O: AcousticOps + ?Sized> {
    pub out: O::F16,
    pub x: O::F16,
    pub residual: O::F16,
    pub gamma: O::F16,
    pub beta: O::F16,
    pub rows: usize,
    pub cols: usize,
    pub eps: f32,
}

/// `F.interpolate(mode="linear", align_corners=False)` over time, per item from `valid_in(b)`
/// to `valid_out(b)` rows (upstream's speed change in latent space; equal lengths copy exactly).
pub struct Interpolate<O: AcousticOps + ?Sized> {
    pub x: O::F16,
    pub seq_in: Seq<O>,
    pub out: O::F16,
    pub seq_out: Seq<O>,
    pub width: usize,
}

/// `z_p = m_p + ε · exp(logs_p) · noise_scale[b]` with `[m_p | logs_p]` the rows of `stats`
/// (`2·width` wide) and `ε` = `model::rng::normal(seed[b], PriorNoise, channel, first_frame[b] + t)`
/// (the CPU's draw, so chunks and whole decodes see the same noise). `seeds` holds each item's
/// seed as two i32 words (low, high).
pub struct PriorSample<O: AcousticOps + ?Sized> {
    pub stats: O::F16,
    pub seq: Seq<O>,
    pub seeds: O::I32,
    pub first_frame: O::I32,
    pub noise_scale: O::F32,
    pub width: usize,
    pub out: O::F16,
}

// The argument structs hold only views (Copy), whatever the executor.
macro_rules! copy_struct {
    ($($name:ident),*) => {$(
        impl<O: AcousticOps + ?Sized> Clone for $name<O> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<O: AcousticOps + ?Sized> Copy for $name<O> {}
    )*};
}
copy_struct!(Seq, Relative);

impl<V: Copy> Clone for Rows<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V: Copy> Copy for Rows<V> {}

impl<O: AcousticOps + ?Sized> Seq<O> {
    /// The same items with `factor` times as many rows each (after an upsampling stage).
    pub fn upsampled(self, factor: usize) -> Self {
        Seq { scale: self.scale * factor, stride: self.stride * factor, ..self }
    }

    /// Rows of the whole batch.
    pub fn rows(&self) -> usize {
        self.items * self.stride
    }
}
