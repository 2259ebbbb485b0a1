//! Building blocks of the CPU reference, each named after the PyTorch op it reproduces.
//! Matrix products go through the `gemm` crate (multi-threaded, AVX2/AVX-512 kernels);
//! everything else is plain loops with f32 accumulation, max-subtracted softmax and centred
//! two-pass variance.
//!
//! Layouts: `[T, C]` row-major for the transformer models, `[C, T]` for convolutions.

use rayon::prelude::*;

use crate::tensor::Tensor;

/// Products smaller than this many multiply-adds run on one thread (thread start-up dominates).
const PARALLEL_MIN_FLOPS: usize = 1 << 18;

/// A strided read-only matrix operand: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major `rows × cols`.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        MatRef { data, rs: cols, cs: 1 }
    }
    /// The transpose of a row-major `cols × rows` matrix (e.g. a `[out, in]` weight as `[in, out]`).
    pub fn transposed(data: &'a [f32], rows: usize) -> Self {
        MatRef { data, rs: 1, cs: rows }
    }
}

/// `out[m×n] = a[m×k] · b[k×n]` (+ `out` when `accumulate`); `out` is row-major with row stride `n`.
pub fn matmul_into(m: usize, n: usize, k: usize, a: MatRef<'_>, b: MatRef<'_>, out: &mut [f32], accumulate: bool) {
    matmul_into_strided(m, n, k, a, b, out, n, accumulate)
}

/// [`matmul_into`] with output row `i` at `out[i · out_rs ..]` (`out_rs ≥ n`): writes into every
/// `out_rs / n`-th row of a wider matrix, or a column block of one.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into_strided(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    out: &mut [f32],
    out_rs: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(out_rs >= n && out.len() >= (m - 1) * out_rs + n, "matmul output too small");
    if k == 0 {
        if !accumulate {
            out.chunks_mut(out_rs).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    let last = |r: MatRef<'_>, rows: usize, cols: usize| (rows - 1) * r.rs + (cols - 1) * r.cs;
    assert!(last(a, m, k) < a.data.len() && last(b, k, n) < b.data.len(), "matmul operand out of bounds");
    let par = if m * n * k >= PARALLEL_MIN_FLOPS { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above keep every strided access of a, b and out inside its slice;
    // out does not alias a or b (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            out_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// `torch.nn.functional.linear`: `x [T, in] · wᵀ + b` with `w [out, in]` → `[T, out]`. For a
/// weight applied many times, [`PackedLinear`] avoids gemm repacking it on every call.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    let (t, din, dout) = (x.dim(0), x.dim(1), w.dim(0));
    assert_eq!(w.dim(1), din, "linear: input width");
    let mut out = vec![0.0; t * dout];
    if let Some(b) = b {
        for row in out.chunks_exact_mut(dout) {
            row.copy_from_slice(b.data());
        }
    }
    matmul_into(t, dout, din, MatRef::rows(x.data(), din), MatRef::transposed(w.data(), din), &mut out, b.is_some());
    Tensor::new([t, dout], out)
}

/// Output features per panel of a [`PackedLinear`] (a multiple of gemm's f32 row tile).
const PANEL: usize = 64;

/// A `nn.Linear` with its weight laid out once for gemm: `[out, in]` cut into panels of
/// [`PANEL`] output features, each stored `[in, PANEL]` (the last one zero-padded). Each panel is
/// a contiguous operand gemm's kernel streams as it is; a plain `[out, in]` or `[in, out]`
/// weight would be repacked (or read with a page-sized stride) on every call, which dominates
/// when the input has few rows (BERT's ~40 tokens). Panels run in parallel.
#[derive(Debug, Clone)]
pub struct PackedLinear {
    panels: Vec<f32>, // [⌈out/PANEL⌉, in, PANEL]
    bias: Option<Vec<f32>>,
    din: usize,
    dout: usize,
}

/// The output buffer shared by the panel jobs of [`PackedLinear::forward`].
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);

impl SharedOut {
    /// A method (not the field) so closures capture the whole `Send` wrapper.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}
// SAFETY: each panel job writes only its own disjoint set of output columns.
unsafe impl Send for SharedOut {}
// SAFETY: as above; no job reads what another writes.
unsafe impl Sync for SharedOut {}

impl PackedLinear {
    /// From a PyTorch weight `w [out, in]` and optional bias `[out]`.
    pub fn new(w: &Tensor, b: Option<&Tensor>) -> Self {
        let (dout, din) = (w.dim(0), w.dim(1));
        let n_panels = dout.div_ceil(PANEL);
        let mut panels = vec![0.0f32; n_panels * din * PANEL];
        for o in 0..dout {
            let (p, i) = (o / PANEL, o % PANEL);
            for (k, &v) in w.row(o).iter().enumerate() {
                panels[(p * din + k) * PANEL + i] = v;
            }
        }
        PackedLinear { panels, bias: b.map(|b| b.data().to_vec()), din, dout }
    }

    /// `x [T, in]` → `x · wᵀ + b` `[T, out]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (t, din, dout) = (x.dim(0), self.din, self.dout);
        assert_eq!(x.dim(1), din, "PackedLinear: input width");
        let mut out = vec![0.0f32; t * dout];
        if let Some(b) = &self.bias {
            for row in out.chunks_exact_mut(dout) {
                row.copy_from_slice(b);
            }
        }
        if t == 0 || dout == 0 {
            return Tensor::new([t, dout], out);
        }
        let dst = SharedOut(out.as_mut_ptr());
        let accumulate = self.bias.is_some();
        let xs = x.data();
        let job = |p: usize| {
            let rows = PANEL.min(dout - p * PANEL);
            let panel = &self.panels[p * din * PANEL..(p + 1) * din * PANEL];
            // SAFETY: gemm reads panel (rows ≤ PANEL, din × PANEL elements) and x (t × din), and
            // writes out[ti·dout + p·PANEL + i] for ti < t, i < rows: all inside the buffers
            // (out has t × dout elements, p·PANEL + rows ≤ dout); panels write disjoint columns.
            unsafe {
                gemm::gemm(
                    rows,
                    t,
                    din,
                    dst.at(p * PANEL),
                    dout as isize,
                    1,
                    accumulate,
                    panel.as_ptr(),
                    PANEL as isize,
                    1,
                    xs.as_ptr(),
                    din as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        };
        let n_panels = dout.div_ceil(PANEL);
        if t * din * dout < PARALLEL_MIN_FLOPS {
            (0..n_panels).for_each(job);
        } else {
            (0..n_panels).into_par_iter().for_each(job);
        }
        Tensor::new([t, dout], out)
    }
}

/// Hyper-parameters of a 1-D convolution (PyTorch `Conv1d` semantics, zero padding).
#[derive(Debug, Clone, Copy)]
pub struct Conv1dSpec {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Conv1dSpec {
    /// Stride 1, no dilation, one group, `padding` zeros on each side.
    pub fn same(padding: usize) -> Self {
        Conv1dSpec { stride: 1, padding, dilation: 1, groups: 1 }
    }
}

/// `torch.nn.functional.conv1d` on `x [C_in, T]` with `w [C_out, C_in/groups, K]` → `[C_out, T_out]`.
pub fn conv1d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, spec: Conv1dSpec) -> Tensor {
    let (cin, t) = (x.dim(0), x.dim(1));
    let (cout, cin_g, k) = (w.dim(0), w.dim(1), w.dim(2));
    let g = spec.groups;
    assert!(g >= 1 && cin == cin_g * g && cout % g == 0, "conv1d: channels {cin} vs weight {:?} groups {g}", w.shape());
    let span = spec.dilation * (k - 1) + 1;
    let padded = t + 2 * spec.padding;
    let tout = if padded >= span { (padded - span) / spec.stride + 1 } else { 0 };
    let mut out = vec![0.0; cout * tout];
    if let Some(b) = b {
        for (row, &bv) in out.chunks_exact_mut(tout.max(1)).zip(b.data()) {
            row.fill(bv);
        }
    }
    if tout == 0 {
        return Tensor::new([cout, 0], out);
    }
    let cout_g = cout / g;
    let direct = k == 1 && spec.stride == 1 && spec.padding == 0;
    let mut col = if direct { Vec::new() } else { vec![0.0; cin_g * k * tout] };
    for gi in 0..g {
        let xg = &x.data()[gi * cin_g * t..(gi + 1) * cin_g * t];
        let bmat = if direct {
            MatRef::rows(xg, t)
        } else {
            im2col(xg, cin_g, t, k, spec, tout, &mut col);
            MatRef::rows(&col, tout)
        };
        let wg = &w.data()[gi * cout_g * cin_g * k..(gi + 1) * cout_g * cin_g * k];
        let og = &mut out[gi * cout_g * tout..(gi + 1) * cout_g * tout];
        matmul_into(cout_g, tout, cin_g * k, MatRef::rows(wg, cin_g * k), bmat, og, b.is_some());
    }
    Tensor::new([cout, tout], out)
}

/// Unfolds `x [C, T]` into `col [C·K, T_out]` for a convolution as one matrix product.
fn im2col(x: &[f32], c: usize, t: usize, k: usize, spec: Conv1dSpec, tout: usize, col: &mut [f32]) {
    for ci in 0..c {
        let xr = &x[ci * t..(ci + 1) * t];
        for kk in 0..k {
            let row = &mut col[(ci * k + kk) * tout..(ci * k + kk + 1) * tout];
            let shift = (kk * spec.dilation) as isize - spec.padding as isize;
            for (o, v) in row.iter_mut().enumerate() {
                let src = (o * spec.stride) as isize + shift;
                *v = if src >= 0 && (src as usize) < t { xr[src as usize] } else { 0.0 };
            }
        }
    }
}

/// `torch.nn.functional.conv_transpose1d` on `x [C_in, T]` with `w [C_in, C_out, K]`
/// → `[C_out, (T−1)·stride − 2·padding + K]`.
pub fn conv_transpose1d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, padding: usize) -> Tensor {
    let (cin, t) = (x.dim(0), x.dim(1));
    let (wcin, cout, k) = (w.dim(0), w.dim(1), w.dim(2));
    assert_eq!(cin, wcin, "conv_transpose1d: input channels");
    let full = (t.max(1) - 1) * stride + k;
    let tout = full.saturating_sub(2 * padding);
    // cols[C_out·K, T] = wᵀ[C_out·K, C_in] · x[C_in, T], then scatter-add (col2im).
    let mut cols = vec![0.0; cout * k * t];
    matmul_into(cout * k, t, cin, MatRef::transposed(w.data(), cout * k), MatRef::rows(x.data(), t), &mut cols, false);
    let mut out = vec![0.0; cout * tout];
    for co in 0..cout {
        let orow = &mut out[co * tout..(co + 1) * tout];
        if let Some(b) = b {
            orow.fill(b.data()[co]);
        }
        for kk in 0..k {
            let crow = &cols[(co * k + kk) * t..(co * k + kk + 1) * t];
            for (ti, &v) in crow.iter().enumerate() {
                let pos = ti * stride + kk;
                if pos >= padding && pos - padding < tout {
                    orow[pos - padding] += v;
                }
            }
        }
    }
    Tensor::new([cout, tout], out)
}

/// `torch.nn.LayerNorm` over the last dimension of `[rows, C]`, in place.
pub fn layer_norm_rows(x: &mut Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) {
    let c = *x.shape().last().unwrap_or(&0);
    for row in x.data_mut().chunks_exact_mut(c) {
        layer_norm_slice(row, gamma.data(), beta.data(), eps);
    }
}

/// LayerNorm of one vector with affine parameters (centred two-pass variance).
pub fn layer_norm_slice(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Softmax of one row in place (max-subtracted; an all `-inf` row becomes all zeros).
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Exact (erf) GELU, `torch.nn.functional.gelu` default.
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `torch.relu` over a buffer in place.
pub fn relu_slice(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Elementwise maps below this many elements stay on one thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

/// Exact GELU, `0.5·x·(1 + erf(x/√2))`, over a buffer in place (multi-threaded when large).
/// erf is a rational approximation (Eigen's `generic_fast_erf_float` coefficients, max error
/// 6.5e-8 on [-4, 4]; ±1 beyond, as in f32) that compiles to vector code, unlike libm's `erff`:
/// results agree with [`gelu`] to a few ulp at roughly 10× the speed.
pub fn gelu_slice(x: &mut [f32]) {
    if x.len() < PARALLEL_MIN_ELEMENTS {
        gelu_dispatch(x);
    } else {
        x.par_chunks_mut(PARALLEL_MIN_ELEMENTS / 4).for_each(gelu_dispatch);
    }
}

/// Picks the widest vector unit the CPU has for [`gelu_chunk`] (same arithmetic, no FMA
/// contraction, so every path gives identical results).
fn gelu_dispatch(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { gelu_chunk_avx512(x) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { gelu_chunk_avx2(x) };
            return;
        }
    }
    gelu_chunk(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_chunk_avx512(x: &mut [f32]) {
    gelu_chunk(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_chunk_avx2(x: &mut [f32]) {
    gelu_chunk(x)
}

#[inline(always)]
fn gelu_chunk(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf_rational(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf as `x·P(x²) / Q(x²)` on `x` clamped to [-4, 4] (branch-free, vectorisable).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Eigen's published coefficients, kept verbatim
fn erf_rational(x: f32) -> f32 {
    const A: [f32; 7] = [
        -1.609_603_3e-2,
        -2.954_599_8e-3,
        -7.349_906_3e-4,
        -5.692_506_4e-5,
        -2.101_024e-6,
        2.770_681_4e-8,
        -2.726_142_3e-10,
    ];
    const B: [f32; 5] = [-1.426_474e-2, -7.373_329e-3, -1.682_827e-3, -2.133_740_6e-4, -1.456_607_2e-5];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ((((((A[6] * x2 + A[5]) * x2 + A[4]) * x2 + A[3]) * x2 + A[2]) * x2 + A[1]) * x2 + A[0]) * x;
    let q = (((B[4] * x2 + B[3]) * x2 + B[2]) * x2 + B[1]) * x2 + B[0];
    p / q
}

/// `torch.nn.functional.leaky_relu`.
pub fn leaky_relu(x: f32, slope: f32) -> f32 {
    if x >= 0.0 {
        x
    } else {
        x * slope
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Mish: `x · tanh(softplus(x))` (softplus with PyTorch's threshold 20).
pub fn mish(x: f32) -> f32 {
    let sp = if x > 20.0 { x } else { x.exp().ln_1p() };
    x * sp.tanh()
}

/// Applies `f` to every element in place.
pub fn map_in_place(x: &mut Tensor, f: impl Fn(f32) -> f32 + Sync) {
    x.data_mut().iter_mut().for_each(|v| *v = f(*v));
}

/// `a += b` elementwise.
pub fn add_in_place(a: &mut Tensor, b: &Tensor) {
    assert_eq!(a.shape(), b.shape(), "add: shapes");
    a.data_mut().iter_mut().zip(b.data()).for_each(|(x, y)| *x += y);
}

/// `torch.nn.LayerNorm` over the channels of a channel-first `[C, T]` tensor, i.e. over dim 0
/// at every time step (VITS `attentions.LayerNorm`), in place. Centred two-pass variance.
pub fn layer_norm_channels(x: &mut Tensor, gamma: &[f32], beta: &[f32], eps: f32) {
    let (c, t) = (x.dim(0), x.dim(1));
    assert!(gamma.len() == c && beta.len() == c, "layer_norm_channels: {c} channels");
    let data = x.data_mut();
    let mut mean = vec![0.0f32; t];
    for row in data.chunks_exact(t) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= c as f32);
    let mut var = vec![0.0f32; t];
    for row in data.chunks_exact(t) {
        var.iter_mut().zip(row).zip(&mean).for_each(|((s, v), m)| *s += (v - m) * (v - m));
    }
    let inv: Vec<f32> = var.iter().map(|s| 1.0 / (s / c as f32 + eps).sqrt()).collect();
    for (ci, row) in data.chunks_exact_mut(t).enumerate() {
        let (g, b) = (gamma[ci], beta[ci]);
        for ((v, m), i) in row.iter_mut().zip(&mean).zip(&inv) {
            *v = (*v - m) * i * g + b;
        }
    }
}

/// `F.interpolate(x[None], size=tout, mode="linear", align_corners=False)` on `x [C, T]`:
/// source position `(o + 0.5)·T/tout − 0.5`, clamped at 0, computed in f32 as PyTorch's CPU kernel does.
pub fn interpolate_linear(x: &Tensor, tout: usize) -> Tensor {
    let (c, t) = (x.dim(0), x.dim(1));
    assert!(t > 0, "interpolate_linear: empty input");
    let scale = t as f32 / tout as f32;
    let taps: Vec<(usize, usize, f32)> = (0..tout)
        .map(|o| {
            let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(t - 1);
            let i1 = (i0 + 1).min(t - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect();
    let mut out = vec![0.0; c * tout];
    for (orow, xrow) in out.chunks_exact_mut(tout).zip(x.data().chunks_exact(t)) {
        for (v, &(i0, i1, l)) in orow.iter_mut().zip(&taps) {
            *v = (1.0 - l) * xrow[i0] + l * xrow[i1];
        }
    }
    Tensor::new([c, tout], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_conv(x: &Tensor, w: &Tensor, spec: Conv1dSpec) -> Tensor {
        let (cin, t) = (x.dim(0), x.dim(1));
        let (cout, cing, k) = (w.dim(0), w.dim(1), w.dim(2));
        let span = spec.dilation * (k - 1) + 1;
        let tout = (t + 2 * spec.padding - span) / spec.stride + 1;
        let cog = cout / spec.groups;
        let mut out = vec![0.0; cout * tout];
        for co in 0..cout {
            let g = co / cog;
            for o in 0..tout {
                let mut acc = 0.0;
                for ci in 0..cing {
                    for kk in 0..k {
                        let p = (o * spec.stride + kk * spec.dilation) as isize - spec.padding as isize;
                        if p >= 0 && (p as usize) < t {
                            acc += w.data()[(co * cing + ci) * k + kk] * x.data()[(g * cing + ci) * t + p as usize];
                        }
                    }
                }
                out[co * tout + o] = acc;
            }
        }
        let _ = cin;
        Tensor::new([cout, tout], out)
    }

    fn seq(n: usize, s: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + s).sin()).collect()
    }

    #[test]
    fn gelu_slice_matches_exact_gelu() {
        let xs: Vec<f32> = (-12_000..=12_000).map(|i| i as f32 * 1e-3).chain([f32::MAX, -f32::MAX, 1e-30]).collect();
        let mut fast = xs.clone();
        gelu_slice(&mut fast);
        for (&x, &f) in xs.iter().zip(&fast) {
            let exact = gelu(x);
            assert!((f - exact).abs() <= 4e-7 * x.abs().max(1.0), "gelu({x}) = {f}, exact {exact}");
        }
        let mut single = xs[..1000].to_vec();
        gelu_chunk(&mut single);
        assert_eq!(single, fast[..1000]);
    }

    #[test]
    fn packed_linear_matches_linear() {
        for (t, din, dout) in [(5, 7, 9), (3, 130, 150), (70, 64, 128), (1, 3, 1)] {
            let x = Tensor::new([t, din], seq(t * din, 0.3));
            let w = Tensor::new([dout, din], seq(dout * din, 1.1));
            let b = Tensor::new([dout], seq(dout, 2.0));
            for bias in [Some(&b), None] {
                let (a, c) = (linear(&x, &w, bias), PackedLinear::new(&w, bias).forward(&x));
                assert_eq!(a.shape(), c.shape());
                for (p, q) in a.data().iter().zip(c.data()) {
                    assert!((p - q).abs() < 1e-4, "{t}x{din}x{dout}: {p} vs {q}");
                }
            }
        }
    }

    #[test]
    fn conv1d_matches_naive() {
        for spec in [
            Conv1dSpec::same(1),
            Conv1dSpec { stride: 2, padding: 0, dilation: 1, groups: 1 },
            Conv1dSpec { stride: 1, padding: 5, dilation: 5, groups: 1 },
            Conv1dSpec { stride: 1, padding: 2, dilation: 1, groups: 2 },
        ] {
            let x = Tensor::new([4, 23], seq(92, 0.1));
            let w = Tensor::new([6, 4 / spec.groups, 3], seq(72 / spec.groups, 0.7));
            let a = conv1d(&x, &w, None, spec);
            let b = naive_conv(&x, &w, spec);
            assert_eq!(a.shape(), b.shape());
            for (p, q) in a.data().iter().zip(b.data()) {
                assert!((p - q).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn conv_transpose_matches_definition() {
        let (cin, cout, k, s, p, t) = (3, 2, 4, 2, 1, 5);
        let x = Tensor::new([cin, t], seq(cin * t, 0.2));
        let w = Tensor::new([cin, cout, k], seq(cin * cout * k, 0.9));
        let y = conv_transpose1d(&x, &w, None, s, p);
        let tout = (t - 1) * s - 2 * p + k;
        assert_eq!(y.shape(), &[cout, tout]);
        for co in 0..cout {
            for o in 0..tout {
                let mut acc = 0.0;
                for ci in 0..cin {
                    for ti in 0..t {
                        for kk in 0..k {
                            if ti * s + kk == o + p {
                                acc += x.data()[ci * t + ti] * w.data()[(ci * cout + co) * k + kk];
                            }
                        }
                    }
                }
                assert!((y.data()[co * tout + o] - acc).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn layer_norm_channels_matches_rows() {
        let x = Tensor::new([5, 7], seq(35, 0.3));
        let (g, b): (Vec<f32>, Vec<f32>) = ((0..5).map(|i| 1.0 + i as f32 * 0.1).collect(), seq(5, 2.0));
        let mut a = x.clone();
        layer_norm_channels(&mut a, &g, &b, 1e-5);
        let mut r = x.t();
        layer_norm_rows(&mut r, &Tensor::new([5], g), &Tensor::new([5], b), 1e-5);
        for (p, q) in a.t().data().iter().zip(r.data()) {
            assert!((p - q).abs() < 1e-5);
        }
    }

    /// Against values from `torch.nn.functional.interpolate(x, size, mode="linear")`.
    #[test]
    fn interpolate_linear_matches_torch() {
        let x = Tensor::new([1, 4], vec![0.0, 1.0, 4.0, 9.0]);
        let down = interpolate_linear(&x, 3);
        for (g, e) in down.data().iter().zip([1.0 / 6.0, 2.5, 4.0 + 5.0 * 5.0 / 6.0]) {
            assert!((g - e).abs() < 1e-5, "{g} vs {e}");
        }
        let up = interpolate_linear(&x, 8);
        assert_eq!(up.data(), &[0.0, 0.25, 0.75, 1.75, 3.25, 5.25, 7.75, 9.0]);
    }

    #[test]
    fn strided_output_matmul() {
        let (m, n, k) = (3, 2, 4);
        let a = seq(m * k, 0.1);
        let b = seq(k * n, 0.5);
        let mut full = vec![0.0; m * n];
        matmul_into(m, n, k, MatRef::rows(&a, k), MatRef::rows(&b, n), &mut full, false);
        let mut wide = vec![7.0; (m - 1) * 5 + n + 1];
        matmul_into_strided(m, n, k, MatRef::rows(&a, k), MatRef::rows(&b, n), &mut wide[1..], 5, false);
        for i in 0..m {
            for j in 0..n {
                assert!((wide[1 + i * 5 + j] - full[i * n + j]).abs() < 1e-6);
            }
        }
        assert_eq!((wide[0], wide[3]), (7.0, 7.0));
    }
}
