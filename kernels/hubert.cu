// HuBERT's feature encoder around the convolutions that run as strided linear products
// (linear.cu): the first conv over the raw waveform, its GroupNorm, and the grouped positional
// conv's input layout. Activations are time-major `[T, C]` f16, statistics in f64 like the CPU.
//
// Entry points:
//   conv_wave_f16(out, wav, w, bias, frames, channels, taps, stride)
//     conv 0: one input channel (the f32 waveform), `channels` outputs, `taps` ≤ 16, no padding:
//     out[t, c] = bias[c] + Σ_k w[c, k] · wav[t·stride + k]. A block handles 16 frames: their
//     waveform span is staged in shared memory, threads stride over the channels.
//     grid = ceil(frames / 16), block = 256.
//   group_norm_time_gelu_f16(x, gamma, beta, frames, channels, eps)
//     `nn.GroupNorm(C, C)` (each channel over time, biased variance) then the affine and exact
//     GELU, in place. A block owns 32 channels: lane = channel (coalesced rows), 8 warps stride
//     over time; two passes (mean, centred variance) in f64, as `group_norm_over_time` in
//     src/cpu/hubert.rs. grid = ceil(channels / 32), block = 256.
//   gather_groups_padded_f16(out, x, frames, channels, groups, pad)
//     The positional conv's input: out[g, r, j] = x[r − pad, g·cg + j] for pad ≤ r < pad + frames,
//     else 0 (cg = channels / groups): each group's channels contiguous and zero-padded, so its
//     conv is one strided product. grid = (frames + 2·pad, groups), block = 64.
#include <cuda_fp16.h>

#define WAVE_FRAMES 16
#define WAVE_MAX_TAPS 16
#define WAVE_MAX_STRIDE 16

extern "C" __global__ void __launch_bounds__(256)
    conv_wave_f16(__half* __restrict__ out, const float* __restrict__ wav, const __half* __restrict__ w,
                  const __half* __restrict__ bias, int frames, int channels, int taps, int stride) {
    __shared__ float span[WAVE_FRAMES * WAVE_MAX_STRIDE + WAVE_MAX_TAPS];
    const int t0 = blockIdx.x * WAVE_FRAMES;
    const int n_frames = min(WAVE_FRAMES, frames - t0);
    const int n_span = (n_frames - 1) * stride + taps;
    for (int i = threadIdx.x; i < n_span; i += blockDim.x) span[i] = wav[(size_t)t0 * stride + i];
    __syncthreads();
    for (int c = threadIdx.x; c < channels; c += blockDim.x) {
        float wc[WAVE_MAX_TAPS];
        for (int k = 0; k < taps; ++k) wc[k] = __half2float(w[c * taps + k]);
        const float b = bias ? __half2float(bias[c]) : 0.0f;
        for (int f = 0; f < n_frames; ++f) {
            float s = b;
            for (int k = 0; k < taps; ++k) s = fmaf(wc[k], span[f * stride + k], s);
            out[(size_t)(t0 + f) * channels + c] = __float2half(s);
        }
    }
}

#define GN_CHANNELS 32
#define GN_ROW_GROUPS 8

// Sum over the block's 8 row groups of one channel's partials; every thread gets its channel's.
__device__ __forceinline__ double sum_row_groups(double v, double (*shared)[GN_CHANNELS]) {
    const int lane = threadIdx.x & 31, group = threadIdx.x >> 5;
    shared[group][lane] = v;
    __syncthreads();
    double total = 0.0;
    for (int g = 0; g < GN_ROW_GROUPS; ++g) total += shared[g][lane];
    __syncthreads();
    return total;
}

extern "C" __global__ void __launch_bounds__(256)
    group_norm_time_gelu_f16(__half* __restrict__ x, const __half* __restrict__ gamma,
                             const __half* __restrict__ beta, int frames, int channels, float eps) {
    __shared__ double shared[GN_ROW_GROUPS][GN_CHANNELS];
    const int lane = threadIdx.x & 31, group = threadIdx.x >> 5;
    const int c = blockIdx.x * GN_CHANNELS + lane;
    const bool live = c < channels;
    double sum = 0.0;
    if (live)
        for (int t = group; t < frames; t += GN_ROW_GROUPS) sum += __half2float(x[(size_t)t * channels + c]);
    const double mean = sum_row_groups(sum, shared) / frames;
    double sq = 0.0;
    if (live)
        for (int t = group; t < frames; t += GN_ROW_GROUPS) {
            const double d = __half2float(x[(size_t)t * channels + c]) - mean;
            sq += d * d;
        }
    const double var = sum_row_groups(sq, shared) / frames;
    if (!live) return;
    const float scale = (float)(1.0 / sqrt(var + (double)eps)) * __half2float(gamma[c]);
    const float shift = __half2float(beta[c]), m = (float)mean;
    for (int t = group; t < frames; t += GN_ROW_GROUPS) {
        const size_t i = (size_t)t * channels + c;
        const float v = (__half2float(x[i]) - m) * scale + shift;
        x[i] = __float2half(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}

extern "C" __global__ void __launch_bounds__(64)
    gather_groups_padded_f16(__half* __restrict__ out, const __half* __restrict__ x, int frames, int channels,
                             int groups, int pad) {
    const int r = blockIdx.x, g = blockIdx.y, cg = channels / groups, rows = frames + 2 * pad;
    const int t = r - pad;
    __half* dst = out + ((size_t)g * rows + r) * cg;
    for (int j = threadIdx.x; j < cg; j += blockDim.x)
        dst[j] = (t >= 0 && t < frames) ? x[(size_t)t * channels + g * cg + j] : __float2half(0.0f);
}
