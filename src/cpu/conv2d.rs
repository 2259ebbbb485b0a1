//! `torch.nn.functional.conv2d` (zero padding, one group, square kernel, the same stride on both
//! axes) on channel-major images `[C, H, W]`, as one gemm product: the weight `[C_out, C_in·K·K]`
//! times the unfolded input `[C_in·K·K, H_out·W_out]` (im2col; skipped for 1×1 stride-1 convs).

use rayon::prelude::*;

use crate::tensor::Tensor;

use super::ops::{matmul_into, MatRef};

/// Unfold rows this long or longer are filled in parallel.
const PARALLEL_MIN_ROW: usize = 1 << 12;

/// Stride and zero padding of a square 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub stride: usize,
    pub padding: usize,
}

impl Conv2dSpec {
    /// Output extent along an axis of `n` for kernel size `k`: `⌊(n + 2p − k) / s⌋ + 1` (0 if the
    /// kernel does not fit).
    pub fn out_len(&self, n: usize, k: usize) -> usize {
        let padded = n + 2 * self.padding;
        if padded < k {
            0
        } else {
            (padded - k) / self.stride + 1
        }
    }
}

/// `conv2d` of `x` (`[C_in, h, w]`, flat) with `weight` `[C_out, C_in, K, K]` and `bias` `[C_out]`
/// into `out` (`[C_out, H_out, W_out]`, overwritten). Returns `(H_out, W_out)`.
pub fn conv2d_into(
    x: &[f32],
    (h, w): (usize, usize),
    weight: &Tensor,
    bias: &[f32],
    spec: Conv2dSpec,
    out: &mut [f32],
) -> (usize, usize) {
    let (cout, cin, k) = (weight.dim(0), weight.dim(1), weight.dim(2));
    assert!(
        weight.dim(3) == k && x.len() == cin * h * w && bias.len() == cout && spec.stride > 0,
        "conv2d: input {} values as [{cin}, {h}, {w}], weight {:?}, {} biases",
        x.len(),
        weight.shape(),
        bias.len()
    );
    let (ho, wo) = (spec.out_len(h, k), spec.out_len(w, k));
    let n = ho * wo;
    assert_eq!(out.len(), cout * n, "conv2d: output buffer");
    for (row, &b) in out.chunks_exact_mut(n.max(1)).zip(bias) {
        row.fill(b);
    }
    if n == 0 {
        return (ho, wo);
    }
    let kk = cin * k * k;
    let w_mat = MatRef::rows(weight.data(), kk);
    if k == 1 && spec.stride == 1 && spec.padding == 0 {
        matmul_into(cout, n, kk, w_mat, MatRef::rows(x, n), out, true);
        return (ho, wo);
    }
    let mut col = vec![0.0f32; kk * n];
    let fill = |(r, row): (usize, &mut [f32])| {
        let (ci, ky, kx) = (r / (k * k), r / k % k, r % k);
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for (oy, dst) in row.chunks_exact_mut(wo).enumerate() {
            let iy = (oy * spec.stride + ky) as isize - spec.padding as isize;
            if iy < 0 || iy as usize >= h {
                continue; // already zero
            }
            let src = &plane[iy as usize * w..(iy as usize + 1) * w];
            for (ox, d) in dst.iter_mut().enumerate() {
                let ix = (ox * spec.stride + kx) as isize - spec.padding as isize;
                if ix >= 0 && (ix as usize) < w {
                    *d = src[ix as usize];
                }
            }
        }
    };
    if n >= PARALLEL_MIN_ROW {
        col.par_chunks_exact_mut(n).enumerate().for_each(fill);
    } else {
        col.chunks_exact_mut(n).enumerate().for_each(fill);
    }
    matmul_into(cout, n, kk, w_mat, MatRef::rows(&col, n), out, true);
    (ho, wo)
}

/// [`conv2d_into`] on a `[C_in, H, W]` tensor → `[C_out, H_out, W_out]`.
pub fn conv2d(x: &Tensor, weight: &Tensor, bias: &[f32], spec: Conv2dSpec) -> Tensor {
    let (h, w) = (x.dim(1), x.dim(2));
    let k = weight.dim(2);
    let (ho, wo) = (spec.out_len(h, k), spec.out_len(w, k));
    let mut out = vec![0.0f32; weight.dim(0) * ho * wo];
    conv2d_into(x.data(), (h, w), weight, bias, spec, &mut out);
    Tensor::new([weight.dim(0), ho, wo], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct definition, for checking the im2col path.
    fn conv2d_naive(x: &Tensor, wt: &Tensor, bias: &[f32], spec: Conv2dSpec) -> Tensor {
        let (cin, h, w) = (x.dim(0), x.dim(1), x.dim(2));
        let (cout, k) = (wt.dim(0), wt.dim(2));
        let (ho, wo) = (spec.out_len(h, k), spec.out_len(w, k));
        let mut out = vec![0.0f32; cout * ho * wo];
        for o in 0..cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = bias[o] as f64;
                    for i in 0..cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * spec.stride + ky) as isize - spec.padding as isize;
                                let ix = (ox * spec.stride + kx) as isize - spec.padding as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += wt.data()[((o * cin + i) * k + ky) * k + kx] as f64
                                        * x.data()[(i * h + iy as usize) * w + ix as usize] as f64;
                                }
                            }
                        }
                    }
                    out[(o * ho + oy) * wo + ox] = acc as f32;
                }
            }
        }
        Tensor::new([cout, ho, wo], out)
    }

    #[test]
    fn matches_the_definition() {
        let x = Tensor::new([3, 7, 9], (0..189).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect());
        for (k, stride, padding) in [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0), (3, 2, 0)] {
            let wt =
                Tensor::new([4, 3, k, k], (0..4 * 3 * k * k).map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0).collect());
            let bias = [0.5, -0.25, 0.0, 1.0];
            let spec = Conv2dSpec { stride, padding };
            let got = conv2d(&x, &wt, &bias, spec);
            let want = conv2d_naive(&x, &wt, &bias, spec);
            assert_eq!(got.shape(), want.shape(), "k {k} stride {stride}");
            for (g, e) in got.data().iter().zip(want.data()) {
                assert!((g - e).abs() < 1e-5, "k {k} stride {stride}: {g} vs {e}");
            }
        }
        // Stride 2 gives ⌈n/2⌉ for 3×3 padding 1 and for 1×1 (ERes2NetV2's downsampling).
        let spec = Conv2dSpec { stride: 2, padding: 1 };
        assert_eq!((spec.out_len(85, 3), spec.out_len(80, 3)), (43, 40));
        assert_eq!(Conv2dSpec { stride: 2, padding: 0 }.out_len(85, 1), 43);
    }
}
