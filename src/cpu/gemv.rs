//! A weight matrix times a few activation rows, `torch.nn.functional.linear` for the decode step
//! of an autoregressive model: `out[m] = W · x[m] + b` where M (the sessions of a batch) is small.
//! At M = 1 every weight is read once per token and the product is memory-bound, so weights are
//! kept in f16 whenever that is exact (GPT-SoVITS checkpoints are fp16) and widened to f32 in
//! registers right before the multiply-add (F16C + FMA, chosen at run time, with a portable
//! fallback); sums are f32.
//!
//! Batch invariance: every output element is summed in the same order (8 lanes over `k`, a fixed
//! reduction tree, then the `k mod 8` tail) whatever M is and whichever rows share its block, so
//! a session gets bit-identical numbers alone or in any batch.

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::tensor::Tensor;

/// Width of the partial sums (one AVX register of f32).
const LANES: usize = 8;
/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// Storage of a [`WeightMat`].
#[derive(Debug, Clone)]
enum WeightData {
    F16(Vec<f16>),
    F32(Vec<f32>),
}

/// A row-major `[rows, cols]` weight matrix (`[out, in]`, as PyTorch stores `Linear.weight`) in
/// the narrowest float type that holds every value exactly.
#[derive(Debug, Clone)]
pub struct WeightMat {
    rows: usize,
    cols: usize,
    data: WeightData,
}

impl WeightMat {
    /// Takes a 2-D tensor; keeps it as f16 when the conversion loses nothing.
    pub fn new(w: &Tensor) -> Self {
        assert_eq!(w.shape().len(), 2, "WeightMat needs a 2-D tensor");
        let (rows, cols) = (w.dim(0), w.dim(1));
        let exact = w.data().par_iter().all(|&x| f16::from_f32(x).to_f32().to_bits() == x.to_bits());
        let data = if exact {
            let mut h = vec![f16::ZERO; w.len()];
            h.convert_from_f32_slice(w.data());
            WeightData::F16(h)
        } else {
            WeightData::F32(w.data().to_vec())
        };
        WeightMat { rows, cols, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// True when stored as f16.
    pub fn is_f16(&self) -> bool {
        matches!(self.data, WeightData::F16(_))
    }

    /// The matrix as f32: borrowed when stored so, else widened into `scratch` (for products
    /// with many rows, which go through `ops::matmul_into`).
    pub fn as_f32<'a>(&'a self, scratch: &'a mut Vec<f32>) -> &'a [f32] {
        match &self.data {
            WeightData::F32(v) => v,
            WeightData::F16(h) => {
                scratch.resize(h.len(), 0.0);
                let chunk = 1 << 16;
                scratch.par_chunks_mut(chunk).zip(h.par_chunks(chunk)).for_each(|(o, i)| i.convert_to_f32_slice(o));
                scratch
            }
        }
    }
}

/// Which inner loop runs; decided once per process so that results never mix the two.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

fn best_kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c") {
        return Kernel::Avx2;
    }
    Kernel::Portable
}

/// `out [m, rows] = x [m, cols] · Wᵀ (+ bias)`, for small `m` (see the module docs).
pub fn linear_few(x: &[f32], m: usize, w: &WeightMat, bias: Option<&[f32]>, out: &mut [f32]) {
    linear_few_with(best_kernel(), x, m, w, bias, out)
}

fn linear_few_with(kernel: Kernel, x: &[f32], m: usize, w: &WeightMat, bias: Option<&[f32]>, out: &mut [f32]) {
    let (n, k) = (w.rows, w.cols);
    assert_eq!(x.len(), m * k, "linear_few: input is not [m, cols]");
    assert_eq!(out.len(), m * n, "linear_few: output is not [m, rows]");
    assert!(bias.is_none_or(|b| b.len() == n), "linear_few: bias length");
    if m == 0 || n == 0 {
        return;
    }
    // Tasks own blocks of weight rows, so they write `[rows, m]`; transposed afterwards when m > 1.
    let mut transposed = if m > 1 { vec![0.0; n * m] } else { Vec::new() };
    let target: &mut [f32] = if m > 1 { &mut transposed } else { out };
    target.par_chunks_mut(ROWS_PER_TASK * m).enumerate().for_each(|(task, chunk)| {
        let (r0, nr) = (task * ROWS_PER_TASK, chunk.len() / m);
        match &w.data {
            WeightData::F16(h) => block(kernel, &h[r0 * k..(r0 + nr) * k], k, x, m, chunk),
            WeightData::F32(f) => block(kernel, &f[r0 * k..(r0 + nr) * k], k, x, m, chunk),
        }
    });
    if m > 1 {
        for (r, col) in transposed.chunks_exact(m).enumerate() {
            for (mi, &v) in col.iter().enumerate() {
                out[mi * n + r] = v;
            }
        }
    }
    if let Some(b) = bias {
        for row in out.chunks_exact_mut(n) {
            row.iter_mut().zip(b).for_each(|(o, b)| *o += b);
        }
    }
}

/// An element type weights can be stored in.
trait Widen: Copy + Send + Sync + 'static {
    fn widen(self) -> f32;
    #[cfg(target_arch = "x86_64")]
    /// Eight consecutive values as f32.
    ///
    /// # Safety
    /// `p` must point to 8 readable values and the CPU must have AVX2, FMA and F16C.
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

impl Widen for f32 {
    fn widen(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller guarantees 8 readable values (unaligned load).
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

impl Widen for f16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const f16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller guarantees 8 readable f16 = 16 bytes (unaligned load); f16 is the
        // IEEE binary16 bit pattern F16C converts.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}

/// `out[r·m + j] = w[r] · x[j]` for the rows of `w` (`[nr, k]`) and the `m` rows of `x`.
fn block<T: Widen>(kernel: Kernel, w: &[T], k: usize, x: &[f32], m: usize, out: &mut [f32]) {
    match kernel {
        Kernel::Portable => {
            for (r, wr) in w.chunks_exact(k).enumerate() {
                for (j, xr) in x.chunks_exact(k).enumerate() {
                    out[r * m + j] = dot_portable(wr, xr);
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::Avx2` is only chosen after detecting AVX2, FMA and F16C; slice
        // lengths are checked by the caller (`w` is `[nr, k]`, `x` is `[m, k]`, `out` `[nr, m]`).
        Kernel::Avx2 => unsafe { avx2::block(w, k, x, m, out) },
    }
}

/// The reduction order shared by both kernels: lanes `((0+4)+(2+6)) + ((1+5)+(3+7))`.
fn hsum_lanes(a: [f32; LANES]) -> f32 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// `a · b` summed in the kernels' lane order (8 partial sums, fixed tree, then the tail).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths");
    dot_portable(a, b)
}

fn dot_portable<T: Widen>(w: &[T], x: &[f32]) -> f32 {
    let k8 = w.len() / LANES * LANES;
    let mut acc = [0f32; LANES];
    for (wc, xc) in w[..k8].chunks_exact(LANES).zip(x[..k8].chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += wc[l].widen() * xc[l];
        }
    }
    hsum_lanes(acc) + tail(&w[k8..], &x[k8..])
}

fn tail<T: Widen>(w: &[T], x: &[f32]) -> f32 {
    w.iter().zip(x).fold(0.0, |s, (a, b)| s + a.widen() * b)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{tail, Widen, LANES};

    /// Register block: 4 weight rows × 2 activation rows = 8 accumulators.
    const R: usize = 4;
    const C: usize = 2;

    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(v: __m256) -> f32 {
        // Same tree as `hsum_lanes`: (0+4, 1+5, 2+6, 3+7), then (0+2, 1+3), then 0+1.
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
    }

    /// Dot products of `rows` weight rows with `cols` activation rows over the first `k8`
    /// (a multiple of 8) elements, as 8-lane partial sums.
    ///
    /// # Safety
    /// Each pointer must have `k8` readable values; AVX2, FMA and F16C must be present.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn micro<T: Widen>(
        w: [*const T; R],
        rows: usize,
        x: [*const f32; C],
        cols: usize,
        k8: usize,
    ) -> [[__m256; C]; R] {
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let mut kk = 0;
        while kk < k8 {
            let mut xs = [_mm256_setzero_ps(); C];
            for j in 0..cols {
                // SAFETY: kk + 8 ≤ k8 and x[j] has k8 values.
                xs[j] = unsafe { _mm256_loadu_ps(x[j].add(kk)) };
            }
            for i in 0..rows {
                // SAFETY: as above for w[i].
                let wv = unsafe { T::load8(w[i].add(kk)) };
                for j in 0..cols {
                    acc[i][j] = _mm256_fmadd_ps(wv, xs[j], acc[i][j]);
                }
            }
            kk += LANES;
        }
        acc
    }

    /// See `super::block`.
    ///
    /// # Safety
    /// `w` is `[nr, k]`, `x` is `[m, k]`, `out` has `nr · m` values; AVX2, FMA and F16C present.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn block<T: Widen>(w: &[T], k: usize, x: &[f32], m: usize, out: &mut [f32]) {
        let nr = w.len() / k;
        let k8 = k / LANES * LANES;
        let mut r = 0;
        while r < nr {
            let rows = R.min(nr - r);
            let mut wp = [w.as_ptr(); R];
            for (i, p) in wp.iter_mut().enumerate().take(rows) {
                *p = w[(r + i) * k..].as_ptr();
            }
            let mut j = 0;
            while j < m {
                let cols = C.min(m - j);
                let mut xp = [x.as_ptr(); C];
                for (c, p) in xp.iter_mut().enumerate().take(cols) {
                    *p = x[(j + c) * k..].as_ptr();
                }
                // SAFETY: every selected row has k ≥ k8 values (slices of `w` and `x`).
                let acc = unsafe {
                    match (rows, cols) {
                        (R, C) => micro(wp, R, xp, C, k8),
                        _ => micro(wp, rows, xp, cols, k8),
                    }
                };
                for i in 0..rows {
                    let wr = &w[(r + i) * k..(r + i + 1) * k];
                    for c in 0..cols {
                        let xr = &x[(j + c) * k..(j + c + 1) * k];
                        out[(r + i) * m + j + c] = hsum(acc[i][c]) + tail(&wr[k8..], &xr[k8..]);
                    }
                }
                j += cols;
            }
            r += rows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| half::f16::from_f32(((i as f32 * 0.61 + seed).sin()) * 0.5).to_f32()).collect()
    }

    fn reference(x: &[f32], m: usize, w: &Tensor, b: &[f32]) -> Vec<f32> {
        let (n, k) = (w.dim(0), w.dim(1));
        let mut out = vec![0.0; m * n];
        for j in 0..m {
            for r in 0..n {
                let s: f64 = (0..k).map(|i| x[j * k + i] as f64 * w.data()[r * k + i] as f64).sum();
                out[j * n + r] = (s + b[r] as f64) as f32;
            }
        }
        out
    }

    /// Both kernels, f16 and f32 storage, odd sizes (row and column tails): close to an f64
    /// reference, and each session's row is bit-identical for every batch size.
    #[test]
    fn matches_reference_and_is_batch_invariant() {
        let mut kernels = vec![Kernel::Portable];
        if best_kernel() != Kernel::Portable {
            kernels.push(best_kernel());
        }
        for (n, k) in [(70, 37), (33, 64), (5, 3)] {
            let w16 = Tensor::new([n, k], values(n * k, 0.3));
            let mut w32 = w16.clone();
            w32.data_mut()[0] += 1e-4; // not an f16 any more
            let b = values(n, 1.7);
            for w in [WeightMat::new(&w16), WeightMat::new(&w32)] {
                let dense = Tensor::new([n, k], w.as_f32(&mut Vec::new()).to_vec());
                for &kernel in &kernels {
                    let x = values(7 * k, 2.9);
                    let mut all = vec![0.0; 7 * n];
                    linear_few_with(kernel, &x, 7, &w, Some(&b), &mut all);
                    let expect = reference(&x, 7, &dense, &b);
                    for (g, e) in all.iter().zip(&expect) {
                        assert!((g - e).abs() < 1e-5, "{kernel:?} n={n} k={k}: {g} vs {e}");
                    }
                    for m in 1..7 {
                        let mut part = vec![0.0; m * n];
                        linear_few_with(kernel, &x[..m * k], m, &w, Some(&b), &mut part);
                        assert_eq!(part, all[..m * n], "{kernel:?} m={m}");
                    }
                }
            }
        }
    }

    #[test]
    fn f16_storage_only_when_exact() {
        assert!(WeightMat::new(&Tensor::new([1, 2], vec![0.5, -3.0])).is_f16());
        assert!(!WeightMat::new(&Tensor::new([1, 2], vec![0.1, -3.0])).is_f16());
    }
}
