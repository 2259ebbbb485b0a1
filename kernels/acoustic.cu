// The acoustic graph's elementwise and data-movement operations (model::acoustic_graph::ops): the
// codebook / phone-embedding lookups, the scatter half of the transposed convolutions, the
// speed change in latent space and the prior sample. Activations are time-major and
// batch-padded: item b's row t is row b·stride + t, and only its first valid(b) =
// lens[b]·len_scale rows hold data; rows past them are written as zeros. FP16 storage, FP32
// arithmetic. One thread per output element (8 per thread for the row copies); block = 256.
//
// Entry points:
//   gather_rows_f16(table, width, ids, ids_stride, repeat, lens, len_scale, stride, rows, out)
//     out[m, c] = table[ids[b·ids_stride + t/repeat]·width + c] for t < valid(b) (ops::Gather:
//     the codebook rows with ssl_proj folded in, each token twice; the phone embedding).
//     width % 8 == 0. grid = ceil(rows · width / 8 / 256).
//   overlap_add_f16(cols, lens, len_scale, stride_in, k, u, cout, bias, out, rows_out)
//     ConvTranspose1d(k, stride u, padding (k − u)/2) from its product `cols` [rows_in, k·cout]:
//     out[b·stride_in·u + o, c] = bias[c] + Σ_j cols[b·stride_in + (o + pad − j)/u, j·cout + c]
//     over taps j ≡ o + pad (mod u) whose source row is inside [0, valid(b)), for o < valid(b)·u
//     (ops::OverlapAdd). grid = ceil(rows_out · cout / 256).
//   interpolate_linear_f16(x, lens_in, scale_in, stride_in, out, lens_out, scale_out, stride_out,
//                          width, rows_out)
//     F.interpolate(mode="linear", align_corners=False) per item from valid_in(b) rows to
//     valid_out(b) rows, with cpu::ops::interpolate_linear's f32 arithmetic (ops::Interpolate).
//     grid = ceil(rows_out · width / 256).
//   prior_sample_f16(stats, lens, len_scale, stride, seeds, first_frame, noise_scale, width, out,
//                    rows)
//     out[m, c] = m_p + ε·exp(logs_p)·noise_scale[b] with [m_p | logs_p] = stats[m, c],
//     stats[m, width + c] and ε = model::rng::normal(seed_b, PriorNoise, c, first_frame[b] + t):
//     Box–Muller over Philox words 2i, 2i+1 (philox.cuh), seed_b = seeds[2b] | seeds[2b+1] << 32
//     (ops::PriorSample). grid = ceil(rows · width / 256).
// CPU twins: `cpu::acoustic_twins::TwinOps::{gather, overlap_add, interpolate, prior_sample}`.
#include <cuda_fp16.h>

#define PURPOSE_PRIOR_NOISE 2u  // model::rng::Purpose::PriorNoise

// Item, time and valid rows of batch row m.
struct BatchRow {
    int b, t, valid;
};

__device__ __forceinline__ BatchRow batch_row(int m, const int* lens, int len_scale, int stride) {
    const int b = m / stride;
    return BatchRow{b, m - b * stride, lens[b] * len_scale};
}

extern "C" __global__ void __launch_bounds__(256)
    gather_rows_f16(const __half* __restrict__ table, int width, const int* __restrict__ ids, int ids_stride,
                    int repeat, const int* __restrict__ lens, int len_scale, int stride, int rows,
                    __half* __restrict__ out) {
    const int vectors = width / 8;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * vectors) return;
    const int m = (int)(i / vectors), c = (int)(i % vectors) * 8;
    const BatchRow r = batch_row(m, lens, len_scale, stride);
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r.t < r.valid) {
        const int id = ids[(size_t)r.b * ids_stride + r.t / repeat];
        v = *reinterpret_cast<const uint4*>(table + (size_t)id * width + c);
    }
    *reinterpret_cast<uint4*>(out + (size_t)m * width + c) = v;
}

extern "C" __global__ void __launch_bounds__(256)
    overlap_add_f16(const __half* __restrict__ cols, const int* __restrict__ lens, int len_scale, int stride_in,
                    int k, int u, int cout, const __half* __restrict__ bias, __half* __restrict__ out, int rows_out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows_out * cout) return;
    const int m = (int)(i / cout), c = (int)(i % cout);
    const int stride_out = stride_in * u;
    const int b = m / stride_out, o = m - b * stride_out;
    const int valid = lens[b] * len_scale;
    float v = 0.0f;
    if (o < valid * u) {
        v = __half2float(bias[c]);
        const int q = o + (k - u) / 2;
        for (int j = q % u; j < k && j <= q; j += u) {
            const int src = (q - j) / u;
            if (src < valid) v += __half2float(cols[((size_t)b * stride_in + src) * k * cout + (size_t)j * cout + c]);
        }
    }
    out[(size_t)m * cout + c] = __float2half(v);
}

extern "C" __global__ void __launch_bounds__(256)
    interpolate_linear_f16(const __half* __restrict__ x, const int* __restrict__ lens_in, int scale_in, int stride_in,
                           __half* __restrict__ out, const int* __restrict__ lens_out, int scale_out, int stride_out,
                           int width, int rows_out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows_out * width) return;
    const int m = (int)(i / width), c = (int)(i % width);
    const BatchRow r = batch_row(m, lens_out, scale_out, stride_out);
    const int t_in = lens_in[r.b] * scale_in;
    float v = 0.0f;
    if (r.t < r.valid && t_in > 0) {
        const float scale = (float)t_in / (float)r.valid;
        const float src = fmaxf(((float)r.t + 0.5f) * scale - 0.5f, 0.0f);
        const int i0 = min((int)src, t_in - 1);
        const int i1 = min(i0 + 1, t_in - 1);
        const float l = src - (float)i0;
        const __half* item = x + (size_t)r.b * stride_in * width;
        v = (1.0f - l) * __half2float(item[(size_t)i0 * width + c]) + l * __half2float(item[(size_t)i1 * width + c]);
    }
    out[(size_t)m * width + c] = __float2half(v);
}

extern "C" __global__ void __launch_bounds__(256)
    prior_sample_f16(const __half* __restrict__ stats, const int* __restrict__ lens, int len_scale, int stride,
                     const int* __restrict__ seeds, const int* __restrict__ first_frame,
                     const float* __restrict__ noise_scale, int width, __half* __restrict__ out, int rows) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * width) return;
    const int m = (int)(i / width), c = (int)(i % width);
    const BatchRow r = batch_row(m, lens, len_scale, stride);
    float z = 0.0f;
    if (r.t < r.valid) {
        const unsigned long long seed =
            (unsigned long long)(unsigned)seeds[2 * r.b] | ((unsigned long long)(unsigned)seeds[2 * r.b + 1] << 32);
        const unsigned frame = (unsigned)(first_frame[r.b] + r.t);
        const float u1 = philox_uniform(seed, PURPOSE_PRIOR_NOISE, (unsigned)c, 2u * frame);
        const float u2 = philox_uniform(seed, PURPOSE_PRIOR_NOISE, (unsigned)c, 2u * frame + 1u);
        const float eps = sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
        const float mean = __half2float(stats[(size_t)m * 2 * width + c]);
        const float logs = __half2float(stats[(size_t)m * 2 * width + width + c]);
        z = mean + eps * expf(logs) * noise_scale[r.b];
    }
    out[(size_t)m * width + c] = __float2half(z);
}
