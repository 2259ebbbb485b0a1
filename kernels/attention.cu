// Multi-head attention for the GPT prior and BERT: FP16 storage, FP32 softmax and accumulation.
//
// Layouts: the fused projection `qkv` is `[rows, 3d]` (Q | K | V per row, heads of `hd` channels
// side by side, as PyTorch's in_proj produces it); attention output `[rows, d]`. The KV cache of
// one layer is `[slots, max_ctx, d]` for keys and the same for values: a session owns one slot,
// and a position's row is the K (or V) part of its qkv row, so appending is a plain copy.
//
// Entry points (hd = 32 for the GPT's 16 heads × 512, 64 for BERT-large's 16 × 1024):
//   prefill_attention_hd{32,64}_f16(qkv, out, S, d, n_text, scale, k_cache, v_cache)
//     Masked attention over a whole prompt (research/upstream-v2.md §4.3): query i sees key j when
//     j < n_text (text keys are visible to everyone) or n_text <= j <= i (audio is causal), so
//     text rows see only text. n_text = S gives BERT's unmasked attention. Flash-style on tensor
//     cores (`mma.m16n8k16`): each warp holds 16 queries as A fragments; keys and values stream
//     through shared memory in tiles of 64 (K as rows, V transposed); a tile's scores Q·Kᵀ,
//     masked and scaled, update an online softmax in f32, and P·V accumulates in f32 with P
//     passed as f16 plus its f16 rounding error (two products), so the probabilities keep ~22
//     bits. The score accumulators are the A fragments of P·V as they stand (no shuffles).
//     k_cache / v_cache (the session's slot, rows d apart; null for BERT) receive the prompt's K
//     and V: the block whose queries are a key tile's rows stores that tile as it stages it (no
//     separate store kernel). grid = (ceil(S/64), heads), block = 128.
//   decode_attention_hd32_f16(qkv, k_cache, v_cache, row_slot, slot_len, partial, counters, out, d,
//                             max_ctx, n_splits, scale)
//     One new query per session against its cache (positions 0..slot_len, the newest included;
//     no mask, as upstream's single-position decode). Each session's live positions are cut into
//     n_splits pieces (decided on the device from slot_len, so the work follows the live length
//     and a captured graph stays valid as sessions grow): grid = (heads, batch, n_splits), block =
//     128; each block writes its piece's (max, sum, weighted values) to `partial`, reading K and
//     V in 16-byte vectors, each warp with its own online softmax (no barrier until the piece is
//     done). The newest position (slot_len[slot]) is read from qkv, and the block
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
#define PREFILL_TILE 64  // queries per block (4 warps × 16) and keys per staged tile
#define PREFILL_SKEW 8   // pads shared rows so fragment loads spread over the banks
#define DECODE_THREADS 128

// Two f16 values as the 32-bit register pair an mma fragment holds (first value in the low half).
__device__ __forceinline__ unsigned pack_pair(float a, float b) {
    __half2 h;
    h.x = __float2half(a);
    h.y = __float2half(b);
    return *reinterpret_cast<const unsigned*>(&h);
}

// The rest of a after rounding it to f16: P = f16(P) + f16(rest) keeps ~22 bits of the
// probabilities through the f16 product with V.
__device__ __forceinline__ float f16_rest(float a) { return a - __half2float(__float2half(a)); }

template <int HD>
__device__ __forceinline__ void prefill_attention(const __half* __restrict__ qkv, __half* __restrict__ out, int S,
                                                  int d, int n_text, float scale, __half* __restrict__ k_cache,
                                                  __half* __restrict__ v_cache) {
    __shared__ __align__(16) __half ks[PREFILL_TILE][HD + PREFILL_SKEW];  // keys × channels
    __shared__ __align__(16) __half vt[HD][PREFILL_TILE + PREFILL_SKEW];  // channels × keys
    const int head = blockIdx.y, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;  // fragment row group and column pair
    const int q0 = blockIdx.x * PREFILL_TILE + 16 * warp;  // the warp's 16 queries
    const size_t row3 = 3 * (size_t)d;
    const __half* base = qkv + head * HD;

    // This lane's two query rows (fragment rows g and g + 8) and the keys each sees: all text
    // keys, and audio rows also the audio up to themselves (j < limit). Rows past S see every
    // key and are never stored.
    int row[2], limit[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        row[h] = q0 + g + 8 * h;
        limit[h] = min(S, row[h] >= n_text ? row[h] + 1 : n_text);
    }
    // Q as A fragments, k = channels in steps of 16 (zeros past S).
    unsigned qa[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const int i = row[r & 1], c = 16 * kk + 2 * t + 8 * (r >> 1);
            qa[kk][r] = i < S ? *reinterpret_cast<const unsigned*>(base + i * row3 + c) : 0u;
        }
    float o[HD / 8][4], m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[nt][e] = 0.0f;

    // Keys the block's last query sees (or all text keys), and those any of this warp's do.
    const int n_keys = max(n_text, min(S, (int)(blockIdx.x + 1) * PREFILL_TILE));  // n_text <= S
    const int warp_keys = min(S, max(n_text, q0 + 16));
    for (int j0 = 0; j0 < n_keys; j0 += PREFILL_TILE) {
        // Stage 64 keys: K as rows (the B operand of Q·Kᵀ), V transposed (the B operand of P·V).
        for (int e = threadIdx.x; e < PREFILL_TILE * HD / 8; e += blockDim.x) {
            const int r = e / (HD / 8), c = (e % (HD / 8)) * 8, j = j0 + r;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
            if (j < S) {
                kv = *reinterpret_cast<const uint4*>(base + j * row3 + d + c);
                vv = *reinterpret_cast<const uint4*>(base + j * row3 + 2 * d + c);
            }
            *reinterpret_cast<uint4*>(&ks[r][c]) = kv;
            if (k_cache && j0 == (int)blockIdx.x * PREFILL_TILE && j < S) {  // this block's own rows
                *reinterpret_cast<uint4*>(k_cache + (size_t)j * d + head * HD + c) = kv;
                *reinterpret_cast<uint4*>(v_cache + (size_t)j * d + head * HD + c) = vv;
            }
            const __half* vh = reinterpret_cast<const __half*>(&vv);
#pragma unroll
            for (int u = 0; u < 8; ++u) vt[c + u][r] = vh[u];
        }
        __syncthreads();
        if (j0 < warp_keys) {
            // Scores of the warp's 16 queries × 64 keys: 8 tiles of 16 × 8. Element e of tile jt
            // is row g + 8·(e / 2), key j0 + 8·jt + 2t + e % 2.
            float sc[8][4];
#pragma unroll
            for (int jt = 0; jt < 8; ++jt) {
#pragma unroll
                for (int e = 0; e < 4; ++e) sc[jt][e] = 0.0f;
#pragma unroll
                for (int kk = 0; kk < HD / 16; ++kk) {
                    const unsigned kb[2] = {*reinterpret_cast<const unsigned*>(&ks[8 * jt + g][16 * kk + 2 * t]),
                                            *reinterpret_cast<const unsigned*>(&ks[8 * jt + g][16 * kk + 2 * t + 8])};
                    mma_16x8x16(sc[jt], qa[kk], kb);
                }
            }
            // Mask and scale; the online softmax's running max per row (a row's 64 scores are
            // spread over the 4 lanes of its group).
            float tile_max[2] = {NEG_INF, NEG_INF};
#pragma unroll
            for (int jt = 0; jt < 8; ++jt)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int h = e >> 1, j = j0 + 8 * jt + 2 * t + (e & 1);
                    sc[jt][e] = j < limit[h] ? sc[jt][e] * scale : NEG_INF;
                    tile_max[h] = fmaxf(tile_max[h], sc[jt][e]);
                }
            float correction[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffffu, tile_max[h], 1));
                tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffffu, tile_max[h], 2));
                const float m_new = fmaxf(m[h], tile_max[h]);
                correction[h] = m_new == NEG_INF ? 1.0f : expf(m[h] - m_new);  // 0 when m was -inf
                m[h] = m_new;
                l[h] *= correction[h];
            }
#pragma unroll
            for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) o[nt][e] *= correction[e >> 1];
            // P = exp(score - max), 0 where masked; score tiles 2u and 2u + 1 are exactly the A
            // fragment of keys 16u..16u+15, taken twice: its f16 rounding and the rest.
#pragma unroll
            for (int jt = 0; jt < 8; ++jt)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float v = sc[jt][e];
                    sc[jt][e] = v == NEG_INF ? 0.0f : expf(v - m[e >> 1]);
                    l[e >> 1] += sc[jt][e];
                }
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const float* lo = sc[2 * u];
                const float* hi = sc[2 * u + 1];
                const unsigned p_main[4] = {pack_pair(lo[0], lo[1]), pack_pair(lo[2], lo[3]), pack_pair(hi[0], hi[1]),
                                            pack_pair(hi[2], hi[3])};
                const unsigned p_rest[4] = {pack_pair(f16_rest(lo[0]), f16_rest(lo[1])),
                                            pack_pair(f16_rest(lo[2]), f16_rest(lo[3])),
                                            pack_pair(f16_rest(hi[0]), f16_rest(hi[1])),
                                            pack_pair(f16_rest(hi[2]), f16_rest(hi[3]))};
#pragma unroll
                for (int nt = 0; nt < HD / 8; ++nt) {
                    const unsigned vb[2] = {*reinterpret_cast<const unsigned*>(&vt[8 * nt + g][16 * u + 2 * t]),
                                            *reinterpret_cast<const unsigned*>(&vt[8 * nt + g][16 * u + 2 * t + 8])};
                    mma_16x8x16(o[nt], p_main, vb);
                    mma_16x8x16(o[nt], p_rest, vb);
                }
            }
        }
        __syncthreads();
    }
    // Each row's sum from its 4 lanes; key 0 is visible to every row, so l > 0.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    }
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int h = e >> 1, i = row[h];
            if (i < S) out[(size_t)i * d + head * HD + 8 * nt + 2 * t + (e & 1)] = __float2half(o[nt][e] / l[h]);
        }
}

extern "C" __global__ void __launch_bounds__(128)
    prefill_attention_hd32_f16(const __half* qkv, __half* out, int S, int d, int n_text, float scale, __half* k_cache,
                               __half* v_cache) {
    prefill_attention<32>(qkv, out, S, d, n_text, scale, k_cache, v_cache);
}

extern "C" __global__ void __launch_bounds__(128)
    prefill_attention_hd64_f16(const __half* qkv, __half* out, int S, int d, int n_text, float scale, __half* k_cache,
                               __half* v_cache) {
    prefill_attention<64>(qkv, out, S, d, n_text, scale, k_cache, v_cache);
}

// partial layout per (row, head, split): [HD weighted values, max, sum].
// The pieces follow the live length: a session of n cached positions is cut into n_splits
// pieces of ceil(n / n_splits) positions (a multiple of 32), so every block of the grid has work
// whatever the context, and the grid (fixed per batch bucket) stays valid in a CUDA graph.
// Within a piece each warp runs its own online softmax over every 4th run of 32 positions, with
// no block-wide barrier until the end: per run, lane j scores position j (its 64-byte key row,
// 4 loads), the warp takes the run's max by shuffles, and lane (g, c) — position group g = lane
// / 4, channels 8c..8c+7 — adds the weighted values of positions g, g + 8, g + 16, g + 24 (one
// 16-byte load each, the weights shuffled from the scoring lanes). The warps' states are merged
// once, in shared memory.
#define DECODE_WARPS (DECODE_THREADS / 32)

#define DECODE_HD 32
typedef float DecodeWarpState[DECODE_WARPS][DECODE_HD + 2];  // weighted values, max, sum per warp

// One block's piece; warp_state is the caller's shared memory.
__device__ __forceinline__ void attend_piece_hd32(const __half* __restrict__ qkv, __half* __restrict__ k_cache,
                                                  __half* __restrict__ v_cache, const int* __restrict__ row_slot,
                                                  const int* __restrict__ slot_len, float* __restrict__ partial,
                                                  int d, int max_ctx, int n_splits, float scale,
                                                  DecodeWarpState warp_state) {
    constexpr int HD = DECODE_HD;
    const int head = blockIdx.x, b = blockIdx.y, split = blockIdx.z, heads = gridDim.x;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
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
    const size_t base = (size_t)slot * max_ctx * d + head * HD;
    const __half* k_new = qkv + (size_t)b * 3 * d + d + head * HD;
    const __half* v_new = k_new + d;
    // The block whose piece holds the newest position appends this head's K and V to the cache.
    if (newest < max_ctx && newest >= start && newest < end && threadIdx.x < 2 * (HD / 8)) {
        const int chunk = threadIdx.x % (HD / 8);
        const __half* src = threadIdx.x < HD / 8 ? k_new : v_new;
        __half* dst = (threadIdx.x < HD / 8 ? k_cache : v_cache) + base + (size_t)newest * d;
        reinterpret_cast<uint4*>(dst)[chunk] = reinterpret_cast<const uint4*>(src)[chunk];
    }
    float q[HD];
    {
        const uint4* qv = reinterpret_cast<const uint4*>(qkv + (size_t)b * 3 * d + head * HD);
#pragma unroll
        for (int v = 0; v < HD / 8; ++v) {
            const uint4 h = qv[v];
            const __half2* h2 = reinterpret_cast<const __half2*>(&h);
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float2 f = __half22float2(h2[e]);
                q[8 * v + 2 * e] = f.x * scale;
                q[8 * v + 2 * e + 1] = f.y * scale;
            }
        }
    }
    const int g = lane >> 2, c = lane & 3;  // value rows g, g+8, g+16, g+24 of a run; channels 8c..8c+7
    float m_run = NEG_INF, l_lane = 0.0f, acc[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] = 0.0f;
    for (int r0 = start + 32 * warp; r0 < end; r0 += 32 * DECODE_WARPS) {
        const int p = r0 + lane;
        float s = NEG_INF;
        if (p < end) {
            const uint4* k = reinterpret_cast<const uint4*>(p == newest ? k_new : k_cache + base + (size_t)p * d);
            s = 0.0f;
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
        }
        float run_max = s;
        for (int o = 16; o > 0; o >>= 1) run_max = fmaxf(run_max, __shfl_xor_sync(0xffffffffu, run_max, o));
        const float m_new = fmaxf(m_run, run_max);  // finite: the run's first position is live
        const float correction = expf(m_run - m_new);  // 0 on the first run (m_run = -inf)
        const float weight = p < end ? expf(s - m_new) : 0.0f;
        m_run = m_new;
        l_lane = fmaf(l_lane, correction, weight);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] *= correction;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int j = g + 8 * i, pj = r0 + j;
            const float wj = __shfl_sync(0xffffffffu, weight, j);
            if (pj < end) {
                const __half* v_row = pj == newest ? v_new : v_cache + base + (size_t)pj * d;
                const uint4 vv = reinterpret_cast<const uint4*>(v_row)[c];
                const __half2* h = reinterpret_cast<const __half2*>(&vv);
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float2 f = __half22float2(h[e]);
                    acc[2 * e] = fmaf(wj, f.x, acc[2 * e]);
                    acc[2 * e + 1] = fmaf(wj, f.y, acc[2 * e + 1]);
                }
            }
        }
    }
    // The warp's totals: the sum over its lanes, the weighted values over the 8 position groups.
    for (int o = 16; o > 0; o >>= 1) l_lane += __shfl_xor_sync(0xffffffffu, l_lane, o);
#pragma unroll
    for (int e = 0; e < 8; ++e)
        for (int o = 4; o < 32; o <<= 1) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], o);
    if (g == 0) {
#pragma unroll
        for (int e = 0; e < 8; ++e) warp_state[warp][8 * c + e] = acc[e];
    }
    if (lane == 0) {
        warp_state[warp][HD] = m_run;  // -inf for a warp whose runs all lie past the piece
        warp_state[warp][HD + 1] = l_lane;
    }
    __syncthreads();
    // The piece: the warps merged with the log-sum-exp rescaling, one channel per thread.
    if (threadIdx.x < HD) {
        float m = NEG_INF;
        for (int w = 0; w < DECODE_WARPS; ++w) m = fmaxf(m, warp_state[w][HD]);
        float total = 0.0f, value = 0.0f;
        for (int w = 0; w < DECODE_WARPS; ++w) {
            const float f = expf(warp_state[w][HD] - m);  // 0 for a warp without runs (-inf, sums 0)
            total = fmaf(warp_state[w][HD + 1], f, total);
            value = fmaf(warp_state[w][threadIdx.x], f, value);
        }
        part[threadIdx.x] = value;
        if (threadIdx.x == 0) {
            part[HD] = m;
            part[HD + 1] = total;
        }
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
    __shared__ DecodeWarpState warp_state;
    attend_piece_hd32(qkv, k_cache, v_cache, row_slot, slot_len, partial, d, max_ctx, n_splits, scale, warp_state);
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
