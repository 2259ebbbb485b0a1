// LayerNorm over the last dimension, FP16 storage, FP32 accumulation.
//
// Entry points:
//   add_layer_norm_f16(out, x, residual, gamma, beta, rows, cols, eps)
//     out[r] = LayerNorm(x[r] + residual[r]) * gamma + beta   (residual may be null)
//     The post-norm transformer blocks of the GPT (research/upstream-v2.md §4.4) and BERT add the
//     sublayer output to its input and normalise: fusing the add saves one pass over memory.
// Thread mapping: one block per row, blockDim.x threads striding over the columns; block-wide
// sums through `block_sum` (block_reduce.cuh). Two passes (mean, then centred variance), like
// the CPU twin `cpu::ops::layer_norm_slice`, so FP32 results agree to rounding.
#include <cuda_fp16.h>

// `out` may be `residual` (the blocks normalise their running state in place): each element is
// read and then written by the same thread, so neither carries __restrict__.
extern "C" __global__ void __launch_bounds__(256) add_layer_norm_f16(__half* out, const __half* __restrict__ x, const __half* residual,
                                              const __half* __restrict__ gamma,
                                              const __half* __restrict__ beta, int rows, int cols,
                                              float eps) {
    __shared__ float shared[32];
    const int row = blockIdx.x;
    if (row >= rows) return;
    const __half* xr = x + (size_t)row * cols;
    const __half* rr = residual ? residual + (size_t)row * cols : nullptr;
    __half* outr = out + (size_t)row * cols;

    float sum = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = __half2float(xr[c]);
        if (rr) v += __half2float(rr[c]);
        sum += v;
    }
    const float mean = block_sum(sum, shared) / cols;
    float sq = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = __half2float(xr[c]);
        if (rr) v += __half2float(rr[c]);
        sq += (v - mean) * (v - mean);
    }
    const float inv = rsqrtf(block_sum(sq, shared) / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = __half2float(xr[c]);
        if (rr) v += __half2float(rr[c]);
        outr[c] = __float2half((v - mean) * inv * __half2float(gamma[c]) + __half2float(beta[c]));
    }
}
