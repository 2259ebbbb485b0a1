// Multi-head attention for the GPT prior and BERT: FP16 storage, FP32 softmax and accumulation.
//
// Layouts: the fused projection `qkv` is `[rows, 3d]` (Q | K | V per row, heads of `hd` channels
// side by side, as PyTorch's in_proj produces it); attention output `[rows, d]`. The KV cache of
// one layer is `[slots, max_ctx, d]` for keys and the same for values: a session owns one slot,
// and a position's row is the K (or V) part of its qkv row, so appending is a plain copy.
//
// Entry points (hd = 32 for the GPT's 16 heads × 512, 64 for BERT-large's 16 × 1024):
//   prefill_attention_hd{32,64}_f16(qkv, out, S, d, n_text, scale)
//     Masked attention over a whole prompt (research/upstream-v2.md §4.3): query i sees key j when
//     j < n_text (text keys are visible to everyone) or n_text <= j <= i (audio is causal), so
//     text rows see only text. n_text = S gives BERT's unmasked attention. One thread per query
//     row with q and the output accumulator in registers; keys and values stream through shared
//     memory in tiles of 64 with an online softmax. grid = (ceil(S/64), heads), block = 64.
//   kv_store_rows_f16(k_cache, v_cache, qkv, slot, rows, d, max_ctx)
//     Copies the K and V parts of a prompt's `rows` qkv rows into `slot` at positions 0..rows.
//     grid = rows, block = 128. (A decode step's newest K and V are appended by the decode
//     attention itself.)
//   decode_attention_hd32_f16(qkv, k_cache, v_cache, row_slot, slot_len, partial, counters, out, d,
//                             max_ctx, n_splits, scale)
//     One new query per session against its cache (positions 0..slot_len, the newest included;
//     no mask, as upstream's single-position decode). Each session's live positions are cut into
//     n_splits pieces (decided on the device from slot_len, so the work follows the live length
//     and a captured graph stays valid as sessions grow): grid = (heads, batch, n_splits), block =
//     128; each block writes its piece's (max, sum, weighted values) to `partial`, reading K and
//     V in 16-byte vectors. The newest position (slot_len[slot]) is read from qkv, and the block
//     whose piece holds it appends its head's K and V to the cache (no separate store kernel).
//     Blocks with no positions only mark their piece empty. The last block of each (row, head)
//     to finish (counted in counters[row · heads + head], zero between launches) merges the
//     pieces with the usual log-sum-exp rescaling into `out` (no separate combine kernel).
//   advance_slots(row_slot, slot_len, slot_pos, rows, n_slots)
//     After a decode step: every real slot (< n_slots; the padding slot is skipped) gained one
//     position in the cache and one audio position.
// CPU twins: `prefill_attention` / `decode_attention` in src/cpu/t2s.rs, BERT's in
// src/cpu/encoder.rs.
#include <cuda_fp16.h>

#define NEG_INF __int_as_float(0xff800000)
#define PREFILL_TILE 64
#define DECODE_TILE 256
#define DECODE_THREADS 128

template <int HD>
__device__ __forceinline__ void prefill_attention(const __half* __restrict__ qkv, __half* __restrict__ out, int S,
                                                  int d, int n_text, float scale) {
    __shared__ __half ks[PREFILL_TILE][HD];
    __shared__ __half vs[PREFILL_TILE][HD];
    const int head = blockIdx.y;
    const int first = blockIdx.x * PREFILL_TILE;
    const int i = first + threadIdx.x;
    const bool live = i < S;
    const size_t row3 = 3 * (size_t)d;

    float q[HD], acc[HD];
    float m = NEG_INF, l = 0.0f;
#pragma unroll
    for (int c = 0; c < HD; ++c) {
        q[c] = live ? __half2float(qkv[i * row3 + head * HD + c]) * scale : 0.0f;
        acc[c] = 0.0f;
    }
    // The block's last query sees keys up to itself (or all text keys).
    const int last_query = min(S, first + PREFILL_TILE) - 1;
    const int n_keys = max(n_text, last_query + 1);
    for (int j0 = 0; j0 < n_keys; j0 += PREFILL_TILE) {
        for (int e = threadIdx.x; e < PREFILL_TILE * HD; e += blockDim.x) {
            const int r = e / HD, c = e % HD, j = j0 + r;
            const bool in = j < S;
            ks[r][c] = in ? qkv[j * row3 + d + head * HD + c] : __float2half(0.0f);
            vs[r][c] = in ? qkv[j * row3 + 2 * d + head * HD + c] : __float2half(0.0f);
        }
        __syncthreads();
        if (live) {
            const int tile_end = min(PREFILL_TILE, n_keys - j0);
            for (int r = 0; r < tile_end; ++r) {
                const int j = j0 + r;
                if (!(j < n_text || (i >= n_text && j <= i))) continue;
                float s = 0.0f;
#pragma unroll
                for (int c = 0; c < HD; ++c) s = fmaf(q[c], __half2float(ks[r][c]), s);
                if (s > m) {
                    const float correction = expf(m - s);  // 0 for the first key (m = -inf)
                    l *= correction;
#pragma unroll
                    for (int c = 0; c < HD; ++c) acc[c] *= correction;
                    m = s;
                }
                const float p = expf(s - m);
                l += p;
#pragma unroll
                for (int c = 0; c < HD; ++c) acc[c] = fmaf(p, __half2float(vs[r][c]), acc[c]);
            }
        }
        __syncthreads();
    }
    if (live) {
        // Key 0 is text and visible to every query, so l > 0.
        const float inv = 1.0f / l;
#pragma unroll
        for (int c = 0; c < HD; ++c) out[(size_t)i * d + head * HD + c] = __float2half(acc[c] * inv);
    }
}

extern "C" __global__ void __launch_bounds__(64) prefill_attention_hd32_f16(const __half* qkv, __half* out, int S, int d, int n_text,
                                                      float scale) {
    prefill_attention<32>(qkv, out, S, d, n_text, scale);
}

extern "C" __global__ void __launch_bounds__(64) prefill_attention_hd64_f16(const __half* qkv, __half* out, int S, int d, int n_text,
                                                      float scale) {
    prefill_attention<64>(qkv, out, S, d, n_text, scale);
}

extern "C" __global__ void __launch_bounds__(128) kv_store_rows_f16(__half* __restrict__ k_cache, __half* __restrict__ v_cache,
                                             const __half* __restrict__ qkv, int slot, int rows, int d, int max_ctx) {
    const int r = blockIdx.x;
    if (r >= rows || r >= max_ctx) return;  // the host checks; never write out of bounds
    const size_t at = ((size_t)slot * max_ctx + r) * d;
    const __half* src = qkv + (size_t)r * 3 * d;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        k_cache[at + c] = src[d + c];
        v_cache[at + c] = src[2 * d + c];
    }
}

// partial layout per (row, head, split): [HD weighted values, max, sum].
// The pieces follow the live length: a session of n cached positions is cut into n_splits
// pieces of ceil(n / n_splits) positions (a multiple of 32), so every block of the grid has work
// whatever the context, and the grid (fixed per batch bucket) stays valid in a CUDA graph. A
// piece is read in tiles of DECODE_TILE positions with an online softmax.
template <int HD>
__device__ __forceinline__ void attend_piece(const __half* __restrict__ qkv, __half* __restrict__ k_cache,
                                                       __half* __restrict__ v_cache,
                                                       const int* __restrict__ row_slot,
                                                       const int* __restrict__ slot_len, float* __restrict__ partial,
                                                       int d, int max_ctx, int n_splits, float scale) {
    constexpr int LANES = HD / 8;                      // threads per value row, 8 channels each
    constexpr int GROUPS = DECODE_THREADS / LANES;     // value rows read at once
    __shared__ float q[HD];
    __shared__ float w[DECODE_TILE];
    __shared__ float reduce[32];
    __shared__ float group_acc[DECODE_THREADS * 8];
    const int head = blockIdx.x, b = blockIdx.y, split = blockIdx.z, heads = gridDim.x;
    const int slot = row_slot[b];
    const int newest = slot_len[slot];               // this step's position, read from qkv
    const int n = min(newest + 1, max_ctx);          // positions attended, the newest included
    const int piece = (((n + n_splits - 1) / n_splits) + 31) & ~31;
    const int start = split * piece;
    float* part = partial + (((size_t)b * heads + head) * n_splits + split) * (HD + 2);
    if (start >= n) {
        if (threadIdx.x == 0) {
            part[HD] = NEG_INF;
            part[HD + 1] = 0.0f;
        }
        return;
    }
    const int end = min(n, start + piece);
    for (int c = threadIdx.x; c < HD; c += blockDim.x)
        q[c] = __half2float(qkv[(size_t)b * 3 * d + head * HD + c]) * scale;
    __syncthreads();

    const size_t base = (size_t)slot * max_ctx * d + head * HD;
    const __half* k_new = qkv + (size_t)b * 3 * d + d + head * HD;
    const __half* v_new = k_new + d;
    const int lane = threadIdx.x % LANES, group = threadIdx.x / LANES;
    // The block whose piece holds the newest position appends this head's K and V to the cache.
    if (newest < max_ctx && newest >= start && newest < end && threadIdx.x < 2 * LANES) {
        const __half* src = threadIdx.x < LANES ? k_new : v_new;
        __half* dst = (threadIdx.x < LANES ? k_cache : v_cache) + base + (size_t)newest * d;
        reinterpret_cast<uint4*>(dst)[lane] = reinterpret_cast<const uint4*>(src)[lane];
    }
    float m_run = NEG_INF, l_run = 0.0f;
    float acc[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] = 0.0f;
    for (int t0 = start; t0 < end; t0 += DECODE_TILE) {
        const int t1 = min(end, t0 + DECODE_TILE);
        float local_max = NEG_INF;
        for (int p = t0 + threadIdx.x; p < t1; p += blockDim.x) {
            const uint4* k = reinterpret_cast<const uint4*>(p == newest ? k_new : k_cache + base + (size_t)p * d);
            float s = 0.0f;
#pragma unroll
            for (int v = 0; v < HD / 8; ++v) {
                const uint4 kv = k[v];
                const __half2* h = reinterpret_cast<const __half2*>(&kv);
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float2 f = __half22float2(h[e]);
                    s = fmaf(q[8 * v + 2 * e], f.x, s);
                    s = fmaf(q[8 * v + 2 * e + 1], f.y, s);
                }
            }
            w[p - t0] = s;
            local_max = fmaxf(local_max, s);
        }
        const float m_new = fmaxf(m_run, block_max(local_max, reduce));
        float local_sum = 0.0f;
        for (int p = t0 + threadIdx.x; p < t1; p += blockDim.x) {
            const float e = expf(w[p - t0] - m_new);
            w[p - t0] = e;
            local_sum += e;
        }
        const float l_tile = block_sum(local_sum, reduce);  // also orders the w writes before the reads below
        const float correction = expf(m_run - m_new);      // 0 on the first tile (m_run = -inf)
        l_run = fmaf(l_run, correction, l_tile);
        m_run = m_new;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] *= correction;
        // Weighted values: thread (group, lane) reads 8 channels of every GROUPS-th position.
        for (int p = t0 + group; p < t1; p += GROUPS) {
            const __half* v_row = p == newest ? v_new : v_cache + base + (size_t)p * d;
            const uint4 vv = reinterpret_cast<const uint4*>(v_row)[lane];
            const __half2* h = reinterpret_cast<const __half2*>(&vv);
            const float wp = w[p - t0];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float2 f = __half22float2(h[e]);
                acc[2 * e] = fmaf(wp, f.x, acc[2 * e]);
                acc[2 * e + 1] = fmaf(wp, f.y, acc[2 * e + 1]);
            }
        }
        __syncthreads();  // every w read before the next tile overwrites it
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) group_acc[threadIdx.x * 8 + e] = acc[e];
    __syncthreads();
    if (threadIdx.x < HD) {
        const int c_lane = threadIdx.x / 8, e = threadIdx.x % 8;
        float total = 0.0f;
        for (int g = 0; g < GROUPS; ++g) total += group_acc[(g * LANES + c_lane) * 8 + e];
        part[threadIdx.x] = total;
    }
    if (threadIdx.x == 0) {
        part[HD] = m_run;
        part[HD + 1] = l_run;
    }
}

// Merges a (row, head)'s pieces with the usual log-sum-exp rescaling into its HD outputs; the
// pieces were written by other blocks, so they are read past L1.
template <int HD>
__device__ __forceinline__ void merge_pieces(const float* __restrict__ partial, __half* __restrict__ out, int d,
                                             int n_splits) {
    const int head = blockIdx.x, b = blockIdx.y, heads = gridDim.x, c = threadIdx.x;
    if (c >= HD) return;
    const float* parts = partial + ((size_t)b * heads + head) * n_splits * (HD + 2);
    float m = NEG_INF;
    for (int s = 0; s < n_splits; ++s)
        if (__ldcg(parts + s * (HD + 2) + HD + 1) > 0.0f) m = fmaxf(m, __ldcg(parts + s * (HD + 2) + HD));
    float total = 0.0f, acc = 0.0f;
    for (int s = 0; s < n_splits; ++s) {
        const float* p = parts + s * (HD + 2);
        const float l = __ldcg(p + HD + 1);
        if (l > 0.0f) {
            const float scale = expf(__ldcg(p + HD) - m);
            total = fmaf(l, scale, total);
            acc = fmaf(__ldcg(p + c), scale, acc);
        }
    }
    out[(size_t)b * d + head * HD + c] = __float2half(acc / total);
}

extern "C" __global__ void __launch_bounds__(128)
    decode_attention_hd32_f16(const __half* qkv, __half* k_cache, __half* v_cache, const int* row_slot,
                              const int* slot_len, float* partial, int* counters, __half* out, int d, int max_ctx,
                              int n_splits, float scale) {
    __shared__ int last;
    attend_piece<32>(qkv, k_cache, v_cache, row_slot, slot_len, partial, d, max_ctx, n_splits, scale);
    // The last piece of this (row, head) to be written merges them all.
    if (last_to_arrive(counters + (size_t)blockIdx.y * gridDim.x + blockIdx.x, n_splits, &last))
        merge_pieces<32>(partial, out, d, n_splits);
}

extern "C" __global__ void __launch_bounds__(128) advance_slots(const int* __restrict__ row_slot, int* __restrict__ slot_len,
                                         int* __restrict__ slot_pos, int rows, int n_slots) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const int slot = row_slot[r];
    if (slot >= n_slots) return;  // the padding slot of a graph's unused rows stays empty
    slot_len[slot] += 1;
    slot_pos[slot] += 1;
}
