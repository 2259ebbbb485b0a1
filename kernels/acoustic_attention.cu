// The acoustic graph's attention (model::acoustic_graph::ops::Attention): the VITS encoders'
// self-attention with windowed relative positions (research/upstream-v2.md §5.3.2) and MRTE's
// cross-attention from latent frames to phones (§5.3.3), per item of a padded batch. FP16
// storage, FP32 arithmetic, softmax in one pass (running maximum and sum).
//
// Entry point:
//   attention_f16(q, ldq, k, ldk, v, ldv, out, ldo, heads, head_dim, q_lens, q_scale, q_stride,
//                 k_lens, k_scale, k_stride, scale, emb_k, emb_v, window, q_rows)
//     Query row m of q_rows is item b = m / q_stride, position i = m % q_stride; the item has
//     valid_q = q_lens[b]·q_scale query rows and valid_k = k_lens[b]·k_scale key rows (key j is
//     row b·k_stride + j of k and v). Head h uses columns h·head_dim.. of q, k, v and out. For
//     i < valid_q and valid_k > 0:
//       s_j = (q_i·scale)·k_j (+ (q_i·scale)·emb_k[j − i + window] when emb_k and |j − i| ≤ window),
//       p = softmax_j(s), out_i = Σ_j p_j·(v_j (+ emb_v[j − i + window] in the window));
//     otherwise out_i = 0. emb_k / emb_v are [2·window + 1, head_dim] (null: no relative positions).
//     head_dim is a multiple of 32, at most 128.
// Thread mapping: one warp per (query row, head): lane l holds dimensions l, l + 32, ... of the
// query and of the running output; each key's score is a warp sum. grid = (ceil(q_rows / 4),
// heads), block = 128 (4 query rows).
// CPU twin: `cpu::acoustic_twins::TwinOps::attention`.
#include <cuda_fp16.h>

#define ATTN_MAX_PER_LANE 4  // head_dim ≤ 128

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

extern "C" __global__ void __launch_bounds__(128)
    attention_f16(const __half* __restrict__ q, int ldq, const __half* __restrict__ k, int ldk,
                  const __half* __restrict__ v, int ldv, __half* __restrict__ out, int ldo, int heads, int head_dim,
                  const int* __restrict__ q_lens, int q_scale, int q_stride, const int* __restrict__ k_lens,
                  int k_scale, int k_stride, float scale, const __half* __restrict__ emb_k,
                  const __half* __restrict__ emb_v, int window, int q_rows) {
    const int lane = threadIdx.x & 31;
    const int m = blockIdx.x * 4 + (threadIdx.x >> 5);
    const int h = blockIdx.y;
    if (m >= q_rows || h >= heads) return;
    const int per_lane = head_dim / 32;
    const int b = m / q_stride, i = m - b * q_stride;
    const int valid_q = q_lens[b] * q_scale, valid_k = k_lens[b] * k_scale;
    __half* o = out + (size_t)m * ldo + (size_t)h * head_dim;
    if (i >= valid_q || valid_k == 0) {
        for (int r = 0; r < per_lane; ++r) o[lane + 32 * r] = __float2half(0.0f);
        return;
    }

    float qs[ATTN_MAX_PER_LANE], acc[ATTN_MAX_PER_LANE];
    const __half* qi = q + (size_t)m * ldq + (size_t)h * head_dim;
#pragma unroll
    for (int r = 0; r < ATTN_MAX_PER_LANE; ++r) {
        qs[r] = r < per_lane ? __half2float(qi[lane + 32 * r]) * scale : 0.0f;
        acc[r] = 0.0f;
    }
    float running_max = __int_as_float(0xff800000), sum = 0.0f;  // -inf
    const size_t k_item = (size_t)b * k_stride;
    for (int j = 0; j < valid_k; ++j) {
        const __half* kj = k + (k_item + j) * ldk + (size_t)h * head_dim;
        const __half* vj = v + (k_item + j) * ldv + (size_t)h * head_dim;
        const int rel = j - i + window;
        const bool in_window = emb_k && rel >= 0 && rel <= 2 * window;
        float part = 0.0f;
#pragma unroll
        for (int r = 0; r < ATTN_MAX_PER_LANE; ++r) {
            if (r >= per_lane) break;
            float kv = __half2float(kj[lane + 32 * r]);
            part += qs[r] * kv;
        }
        float s = warp_sum(part);
        if (in_window) {
            float relative = 0.0f;
#pragma unroll
            for (int r = 0; r < ATTN_MAX_PER_LANE; ++r) {
                if (r >= per_lane) break;
                relative += qs[r] * __half2float(emb_k[(size_t)rel * head_dim + lane + 32 * r]);
            }
            s += warp_sum(relative);
        }
        // One-pass softmax: rescale what was summed so far when the maximum grows.
        const float next_max = fmaxf(running_max, s);
        const float keep = expf(running_max - next_max), p = expf(s - next_max);
        sum = sum * keep + p;
#pragma unroll
        for (int r = 0; r < ATTN_MAX_PER_LANE; ++r) {
            if (r >= per_lane) break;
            float value = __half2float(vj[lane + 32 * r]);
            if (in_window) value += __half2float(emb_v[(size_t)rel * head_dim + lane + 32 * r]);
            acc[r] = acc[r] * keep + p * value;
        }
        running_max = next_max;
    }
    const float inv = 1.0f / sum;
    for (int r = 0; r < per_lane; ++r) o[lane + 32 * r] = __float2half(acc[r] * inv);
}
