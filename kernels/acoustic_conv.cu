// The acoustic graph's convolution (model::acoustic_graph::ops::Conv): a stride-1 convolution
// with "same" zero padding over each item of a padded batch, as an implicit GEMM on tensor cores
// (mma.cuh), with the input's activation fused into the operand load and the biases, the
// activation, the WaveNet gate and up to two residuals fused into the store. Every convolution
// and linear layer of the SoVITS decoder and HiFi-GAN is one launch of it. FP16 storage, FP32
// accumulation.
//
// Entry point:
//   conv_mma_f16(x, ldx, cin, lens, len_scale, stride, w, bias, row_bias, n, taps, dilation,
//                pre, pre_slope, pre_gain, post, res0, ld_res0, res1, ld_res1, out_h, out_f, ld_out,
//                rows)
//     Output row m of `rows` is item b = m / stride, time t = m % stride; the item holds
//     valid(b) = lens[b]·len_scale rows. Rows t ≥ valid(b) are written as 0. Otherwise, for
//     computed column j < n:
//       v[j] = Σ_{tap, ci} A(t + tap·dilation − pad, ci) · w[j·K + tap·cin + ci]    (K = taps·cin,
//              pad = dilation·(taps − 1)/2), A(s, ci) = pre(x[(b·stride + s)·ldx + ci]) rounded to
//              f16 (the product's operand) for 0 ≤ s < valid(b), else 0; pre 0: none,
//              1: leaky_relu(v·pre_gain, pre_slope);
//       v[j] += bias[j] + row_bias[b·n + j]   (either may be null);
//       post 0: none, 1: ReLU, 2: tanh — output column c = j; post 3 (WaveNet's gate): column
//       c = j/2 of each pair (2c, 2c + 1) gets tanh(v[2c])·sigmoid(v[2c + 1]);
//       then + res0[m·ld_res0 + c] + res1[m·ld_res1 + c] (null: absent; either may be the output
//       itself: each element is read, then written, by one thread).
//     The result goes to out_f[m·ld_out + c] (f32) when out_f is not null, else to out_h (f16).
//     cin, ldx and K are multiples of 8 and x is 16-byte aligned (16-byte loads): the host checks.
// Thread mapping: 64×64 output tiles (rows × computed columns), grid = (ceil(rows / 64),
// ceil(n / 64)), block = 128: 4 warps of 32×32 (2×4 mma tiles each); K in steps of 32 staged in
// shared memory, the A tile gathered row by row from each row's own item — the convolution's
// input matrix is never materialised.
// CPU twin: `cpu::acoustic_twins::TwinOps::conv`.
#include <cuda_fp16.h>

#define PRE_NONE 0
#define PRE_LEAKY_RELU 1
#define POST_NONE 0
#define POST_RELU 1
#define POST_TANH 2
#define POST_GATE 3

// The input activation on 8 values (one 16-byte load), each rounded back to f16.
__device__ __forceinline__ uint4 conv_pre_act(uint4 v, int pre, float slope, float gain) {
    if (pre == PRE_NONE) return v;
    __half* h = reinterpret_cast<__half*>(&v);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        float f = __half2float(h[i]) * gain;
        f = f >= 0.0f ? f : f * slope;
        h[i] = __float2half(f);
    }
    return v;
}

// Computed column j's value before the activation: the product, then the biases.
__device__ __forceinline__ float conv_biased(float acc, const __half* bias, const __half* row_bias, int b, int n,
                                             int j) {
    if (bias) acc += __half2float(bias[j]);
    if (row_bias) acc += __half2float(row_bias[(size_t)b * n + j]);
    return acc;
}

// Adds the residuals and stores output column c of row m.
__device__ __forceinline__ void conv_store(float v, const __half* res0, int ld_res0, const __half* res1, int ld_res1,
                                           __half* out_h, float* out_f, int ld_out, int m, int c) {
    if (res0) v += __half2float(res0[(size_t)m * ld_res0 + c]);
    if (res1) v += __half2float(res1[(size_t)m * ld_res1 + c]);
    if (out_f) out_f[(size_t)m * ld_out + c] = v;
    else out_h[(size_t)m * ld_out + c] = __float2half(v);
}

extern "C" __global__ void __launch_bounds__(128)
    conv_mma_f16(const __half* x, int ldx, int cin, const int* __restrict__ lens, int len_scale, int stride,
                 const __half* __restrict__ w, const __half* __restrict__ bias, const __half* __restrict__ row_bias,
                 int n, int taps, int dilation, int pre, float pre_slope, float pre_gain, int post, const __half* res0,
                 int ld_res0, const __half* res1, int ld_res1, __half* out_h, float* out_f, int ld_out, int rows) {
    __shared__ __align__(16) MmaStage xs, ws;

    const int m_base = blockIdx.x * MMA_TILE, n_base = blockIdx.y * MMA_TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warp_m = (warp >> 1) * 32, warp_n = (warp & 1) * 32;
    const int g = lane >> 2, t4 = lane & 3;  // fragment row group and column pair
    const int K = taps * cin, pad = dilation * (taps - 1) / 2;

    // A(row, k..k+7), gathered from the row's own item: the convolution's input matrix is never
    // materialised (see the entry point's comment for A).
    const auto taps_of_x = [&](int row, int k) {
        const int m = m_base + row;
        if (m >= rows) return make_uint4(0, 0, 0, 0);
        const int b = m / stride, t = m - b * stride;
        const int valid = lens[b] * len_scale;
        const int tap = k / cin, ci = k - tap * cin;
        const int s = t + tap * dilation - pad;
        if (t >= valid || s < 0 || s >= valid) return make_uint4(0, 0, 0, 0);
        const uint4 raw = *reinterpret_cast<const uint4*>(x + ((size_t)b * stride + s) * ldx + ci);
        return conv_pre_act(raw, pre, pre_slope, pre_gain);
    };
    MmaAccumulator acc;
    mma_block_product(acc, xs, ws, taps_of_x, w, n_base, n, K);

    // Accumulator (i, j): elements 0, 1 at row g, columns 2·t4, 2·t4 + 1; elements 2, 3 at row g + 8.
    // So a thread holds both halves of each gate pair (the host interleaves the gate's weights).
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int m = m_base + warp_m + 16 * i + g + half * 8;
                const int j0 = n_base + warp_n + 8 * j + 2 * t4;  // even
                if (m >= rows) continue;
                const int b = m / stride, t = m - b * stride;
                const bool live = t < lens[b] * len_scale;
                const float* pair = &acc[i][j][2 * half];
                if (post == POST_GATE) {
                    if (j0 + 1 >= n) continue;
                    float v = 0.0f;
                    if (live) {
                        const float a = conv_biased(pair[0], bias, row_bias, b, n, j0);
                        const float s = conv_biased(pair[1], bias, row_bias, b, n, j0 + 1);
                        v = tanhf(a) * (1.0f / (1.0f + expf(-s)));
                    }
                    if (live) conv_store(v, res0, ld_res0, res1, ld_res1, out_h, out_f, ld_out, m, j0 / 2);
                    else conv_store(0.0f, nullptr, 0, nullptr, 0, out_h, out_f, ld_out, m, j0 / 2);
                    continue;
                }
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int c = j0 + e;
                    if (c >= n) continue;
                    if (!live) {
                        conv_store(0.0f, nullptr, 0, nullptr, 0, out_h, out_f, ld_out, m, c);
                        continue;
                    }
                    float v = conv_biased(pair[e], bias, row_bias, b, n, c);
                    if (post == POST_RELU) v = fmaxf(v, 0.0f);
                    else if (post == POST_TANH) v = tanhf(v);
                    conv_store(v, res0, ld_res0, res1, ld_res1, out_h, out_f, ld_out, m, c);
                }
            }
}
