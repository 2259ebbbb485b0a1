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

/// `out [n] = w [n, k] · x [k]` on one thread (small products inside a parallel loop, e.g.
/// attention scores of one head over a block of cached keys), summed like [`linear_few`].
pub fn matvec(w: &[f32], x: &[f32], out: &mut [f32]) {
    let k = x.len();
    assert!(k > 0 && w.len() == out.len() * k, "matvec: w is not [out.len(), x.len()]");
    block(best_kernel(), w, k, x, 1, out)
}

/// `out [k] += Σ_r s[r] · w[r, :]` with `w [n, k]` on one thread (attention-weighted sum of
/// cached values); each element is accumulated over `r` in order.
pub fn matvec_t_acc(w: &[f32], s: &[f32], out: &mut [f32]) {
    let k = out.len();
    assert!(k > 0 && w.len() == s.len() * k, "matvec_t_acc: w is not [s.len(), out.len()]");
    match best_kernel() {
        Kernel::Portable => {
            for (wr, &sr) in w.chunks_exact(k).zip(s) {
                out.iter_mut().zip(wr).for_each(|(o, v)| *o += sr * v);
            }
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2/FMA detected; lengths checked above.
        Kernel::Avx2 => unsafe { avx2::matvec_t_acc(w, s, out) },
    }
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

    /// Software prefetch distance, in elements ahead of the current load.
    const PREFETCH: usize = 1024;

    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(v: __m256) -> f32 {
        // Same tree as `hsum_lanes`: (0+4, 1+5, 2+6, 3+7), then (0+2, 1+3), then 0+1.
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
    }

    /// `out[i·m + c] = w_i · x_c` for `R` weight rows starting at row `r` of `w` and `C`
    /// activation rows starting at row `j` of `x`: 8-lane FMA partial sums over the first
    /// `k8` elements, the shared reduction tree, then the tail.
    ///
    /// # Safety
    /// Rows `r..r+R` of `w` and `j..j+C` of `x` exist (`[·, k]` layouts), `out` holds
    /// `(r+R)·m` values; AVX2, FMA and F16C are present.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile<T: Widen, const R: usize, const C: usize>(
        w: &[T],
        r: usize,
        x: &[f32],
        j: usize,
        k: usize,
        m: usize,
        out: &mut [f32],
    ) {
        let k8 = k / LANES * LANES;
        let wr: [&[T]; R] = std::array::from_fn(|i| &w[(r + i) * k..(r + i + 1) * k]);
        let xr: [&[f32]; C] = std::array::from_fn(|c| &x[(j + c) * k..(j + c + 1) * k]);
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let mut kk = 0;
        while kk < k8 {
            let mut xs = [_mm256_setzero_ps(); C];
            for c in 0..C {
                // SAFETY: kk + 8 ≤ k8 ≤ k = xr[c].len().
                xs[c] = unsafe { _mm256_loadu_ps(xr[c].as_ptr().add(kk)) };
            }
            if kk % 32 == 0 {
                for row in wr.iter() {
                    _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().wrapping_add(kk + PREFETCH).cast());
                }
            }
            for i in 0..R {
                // SAFETY: as above for wr[i].
                let wv = unsafe { T::load8(wr[i].as_ptr().add(kk)) };
                for c in 0..C {
                    acc[i][c] = _mm256_fmadd_ps(wv, xs[c], acc[i][c]);
                }
            }
            kk += LANES;
        }
        for i in 0..R {
            for c in 0..C {
                out[(r + i) * m + j + c] = hsum(acc[i][c]) + tail(&wr[i][k8..], &xr[c][k8..]);
            }
        }
    }

    /// All activation rows against weight rows `r..r+R`: tiles of 2 rows of `x`, then 1.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<T: Widen, const R: usize>(w: &[T], r: usize, x: &[f32], k: usize, m: usize, out: &mut [f32]) {
        let mut j = 0;
        while j + 2 <= m {
            // SAFETY: rows j, j+1 of x exist (j + 2 ≤ m); rows r..r+R of w are the caller's.
            unsafe { tile::<T, R, 2>(w, r, x, j, k, m, out) };
            j += 2;
        }
        if j < m {
            // SAFETY: row j of x exists (j < m); rows r..r+R of w are the caller's.
            unsafe { tile::<T, R, 1>(w, r, x, j, k, m, out) };
        }
    }

    /// See `super::matvec_t_acc`: 32 columns (4 registers) at a time, then 8, then scalar.
    ///
    /// # Safety
    /// `w` is `[s.len(), out.len()]`; AVX2 and FMA present.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn matvec_t_acc(w: &[f32], s: &[f32], out: &mut [f32]) {
        let k = out.len();
        let mut c = 0;
        while c + 4 * LANES <= k {
            // SAFETY: c + 32 ≤ k, and every row r has k values.
            unsafe {
                let o = out.as_mut_ptr().add(c);
                let mut acc = [
                    _mm256_loadu_ps(o),
                    _mm256_loadu_ps(o.add(8)),
                    _mm256_loadu_ps(o.add(16)),
                    _mm256_loadu_ps(o.add(24)),
                ];
                for (r, &sr) in s.iter().enumerate() {
                    let (b, p) = (_mm256_set1_ps(sr), w.as_ptr().add(r * k + c));
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_fmadd_ps(b, _mm256_loadu_ps(p.add(i * LANES)), *a);
                    }
                }
                for (i, a) in acc.iter().enumerate() {
                    _mm256_storeu_ps(o.add(i * LANES), *a);
                }
            }
            c += 4 * LANES;
        }
        while c + LANES <= k {
            // SAFETY: c + 8 ≤ k, and every row r has k values.
            unsafe {
                let o = out.as_mut_ptr().add(c);
                let mut acc = _mm256_loadu_ps(o);
                for (r, &sr) in s.iter().enumerate() {
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(sr), _mm256_loadu_ps(w.as_ptr().add(r * k + c)), acc);
                }
                _mm256_storeu_ps(o, acc);
            }
            c += LANES;
        }
        for (j, o) in out.iter_mut().enumerate().skip(c) {
            for (r, &sr) in s.iter().enumerate() {
                *o = sr.mul_add(w[r * k + j], *o);
            }
        }
    }

    /// See `super::block`.
    ///
    /// # Safety
    /// `w` is `[nr, k]`, `x` is `[m, k]`, `out` has `nr · m` values; AVX2, FMA and F16C present.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn block<T: Widen>(w: &[T], k: usize, x: &[f32], m: usize, out: &mut [f32]) {
        let nr = w.len() / k;
        let mut r = 0;
        while r + 4 <= nr {
            // SAFETY: rows r..r+4 of w exist (r + 4 ≤ nr); x, out and the CPU are the caller's.
            unsafe { rows::<T, 4>(w, r, x, k, m, out) };
            r += 4;
        }
        while r < nr {
            // SAFETY: row r of w exists (r < nr); x, out and the CPU are the caller's.
            unsafe { rows::<T, 1>(w, r, x, k, m, out) };
            r += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| half::f16::from_f32((i as f32 * 0.61 + seed).sin() * 0.5).to_f32()).collect()
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
    fn matvec_and_transpose_match_reference() {
        for (n, k) in [(9, 32), (5, 44), (3, 5)] {
            let w = values(n * k, 0.4);
            let x = values(k, 1.1);
            let s = values(n, 2.2);
            let mut out = vec![0.0; n];
            matvec(&w, &x, &mut out);
            for r in 0..n {
                let e: f32 = (0..k).map(|i| w[r * k + i] * x[i]).sum();
                assert!((out[r] - e).abs() < 1e-5, "matvec n={n} k={k}");
            }
            let mut acc = vec![1.0; k];
            matvec_t_acc(&w, &s, &mut acc);
            for j in 0..k {
                let e: f32 = 1.0 + (0..n).map(|r| s[r] * w[r * k + j]).sum::<f32>();
                assert!((acc[j] - e).abs() < 1e-5, "matvec_t_acc n={n} k={k}");
            }
        }
    }

    #[test]
    fn f16_storage_only_when_exact() {
        assert!(WeightMat::new(&Tensor::new([1, 2], vec![0.5, -3.0])).is_f16());
        assert!(!WeightMat::new(&Tensor::new([1, 2], vec![0.1, -3.0])).is_f16());
    }
}
