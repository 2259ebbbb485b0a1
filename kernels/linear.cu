// Linear layers `out = act(x · Wᵀ + bias)`, FP16 storage, FP32 accumulation.
//
// W is stored as PyTorch's nn.Linear keeps it, `[N, K]` row-major, so no weight is transposed on
// upload. Row m of x starts at x + m·lda and row m of out at out + m·ldo (lda = K and ldo = N for
// plain activations); bias `[N]` may be null. An lda below K makes the rows overlap: a convolution
// of stride s over time-major `[T, C]` activations is then this same product with K = taps·C and
// lda = s·C, an implicit GEMM with no im2col copy (HuBERT's feature encoder and positional conv);
// an ldo above N writes into a column block of a wider output (one conv group). lda must be a
// multiple of 8 like K. act: 0 none, 1 ReLU, 2 exact
// (erf) GELU. The blocks' residual add is fused into the LayerNorm that follows (norm.cu). K must
// be a multiple of 8 (16-byte loads); the host checks.
//
// Entry points:
//   linear_small_m_f16(x, w, bias, out_h, out_f, M, N, K, lda, ldo, act)
//     Decode steps of up to 16 rows (M = sessions in the batch): bandwidth-bound, every weight
//     byte is read once per 8 rows; a row's result does not depend on the other rows. One warp
//     per output column n; lane j reads 16 bytes of W's row n at k = 8j, 8j+256, ... (a warp
//     reads 512 contiguous bytes), dots them with 8 rows of x and reduces by shuffles.
//     grid = (ceil(N / 4), ceil(M / 8)), block = 128. Writes out_f (f32, the LM head's logits)
//     when non-null, else out_h.
//   linear_small_m_mma_f16(...)  (same arguments)
//     Larger decode batches (M > 16) on tensor cores: each weight byte is read once per 64 rows.
//     A block computes 64 rows × 16 columns (4 × 2 tiles of `mma.m16n8k16`, tiles past M
//     skipped) and splits K over its 8 warps in chunks of 32; the warps' sums meet in shared
//     memory. Operands come straight from global memory, no staging: the dot product does not
//     depend on the order of k, so a lane's fragment slots are mapped onto the 8 contiguous halves
//     k0 + 8t .. k0 + 8t + 7 of its rows (t = lane % 4), one 16-byte load per row and chunk, for x
//     and W alike. grid = (ceil(N / 16), ceil(M / 64)), block = 256.
//   linear_small_m_add_norm_f16(x, w, bias, out, M, N, K, lda, state, gamma, beta, eps, counters)
//     A decode step's out-projection with the post-norm block's residual add and LayerNorm
//     fused, for M <= 16: out = x · Wᵀ + b (f16, ldo = N), then state =
//     LayerNorm(out + state) · gamma + beta per row. The 8-row small-M grid; the last block to
//     finish a row group (counted in counters[blockIdx.y], zero on entry and re-armed to zero on
//     exit) normalises its rows, one warp per row, reading `out` past L1. N must be a multiple of
//     8. (Larger batches normalise in add_layer_norm_f16, one block per row: a last block would
//     serialise too many rows.)
//   ffn_small_m_f16(state, w1, b1, w2, b2, gamma, beta, eps, accum, counter, M, D, H)
//     A decode step's whole FFN for M <= 16, in place: state = LayerNorm(f16(ReLU(state · W1ᵀ +
//     b1)) · W2ᵀ + b2 + state) · gamma + beta (W1 [H, D], W2 [D, H]). Block b computes hidden units
//     32b .. 32b + 31 for every row (each of 8 warps 4 units, their loads in flight together, as
//     linear_small_m_f16 computes one column), rounds them to f16
//     as the unfused step stores them, and adds their share of the down product into accum
//     [M, D] in 32.32 fixed point with 64-bit atomics (integer sums: the result does not depend
//     on the order they land in). The last block to arrive (counter) adds b2, rounds to f16, adds
//     the residual and normalises, one warp per row, then zeroes accum; accum and counter are
//     zero on entry and on exit. D and H multiples of 8. grid = ceil(H / 32), block = 256.
//   linear_mma_f16(x, w, bias, out, M, N, K, lda, ldo, act)
//     Prefill and BERT (M = positions): tensor cores through `mma.sync.m16n8k16` (sm_80+),
//     64×64 tiles per block of 4 warps (each 32×32 = 2×4 mma tiles), K in steps of 32 staged in
//     shared memory; bias and activation applied to the accumulators as they are stored.
//     grid = (ceil(N / 64), ceil(M / 64)), block = 128.
// CPU twins: `cpu::gemv::linear_few` / `cpu::ops::linear` followed by the same activation.
#include <cuda_fp16.h>

#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_GELU 2

__device__ __forceinline__ float activate(float v, int act) {
    if (act == ACT_RELU) return fmaxf(v, 0.0f);
    if (act == ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    return v;
}

// bias then activation: the shared epilogue of the products.
__device__ __forceinline__ float epilogue(float acc, const __half* bias, int n, int act) {
    if (bias) acc += __half2float(bias[n]);
    return activate(acc, act);
}

// 8 halves (one 16-byte load) dotted with 8 others, accumulated in f32.
__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
    const __half2* ha = reinterpret_cast<const __half2*>(&a);
    const __half2* hb = reinterpret_cast<const __half2*>(&b);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 fa = __half22float2(ha[i]);
        const float2 fb = __half22float2(hb[i]);
        s = fmaf(fa.x, fb.x, s);
        s = fmaf(fa.y, fb.y, s);
    }
    return s;
}

#define SMALL_M_WARPS 4

// Sums each of the warp's 8 per-lane partials over the 32 lanes; lane r < 8 gets row r's total.
__device__ __forceinline__ float reduce_rows(float (&acc)[8], int lane) {
#pragma unroll
    for (int r = 0; r < 8; ++r) {
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    }
    // A register array indexed by a lane-dependent value would spill, so the select is unrolled.
    float mine = 0.0f;
#pragma unroll
    for (int r = 0; r < 8; ++r)
        if (lane == r) mine = acc[r];
    return mine;
}

#define SMALL_M_ROWS 8

// UNITS consecutive weight rows (output columns or hidden units; the first `live` exist) dotted
// with up to 8 rows of x by one warp: lane j reads each row's 16 bytes at k = 8j, 8j + 256, ...
// once for all rows, the UNITS rows' loads in flight together; total[u] of lane r < rows is row
// r's dot with weight row u. Row r's sums take the same steps whatever the other rows, so a row's
// result does not depend on its batch.
template <int UNITS>
__device__ __forceinline__ void columns_dot_rows(const __half* __restrict__ x, int lda, int rows,
                                                 const __half* __restrict__ w, int K, int live, int lane,
                                                 float (&total)[UNITS]) {
    float acc[UNITS][SMALL_M_ROWS];
#pragma unroll
    for (int u = 0; u < UNITS; ++u)
#pragma unroll
        for (int r = 0; r < SMALL_M_ROWS; ++r) acc[u][r] = 0.0f;
    for (int k = lane * 8; k < K; k += 256) {
        uint4 wv[UNITS];
#pragma unroll
        for (int u = 0; u < UNITS; ++u)
            wv[u] = u < live ? *reinterpret_cast<const uint4*>(w + (size_t)u * K + k) : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int r = 0; r < SMALL_M_ROWS; ++r) {
            if (r < rows) {
                const uint4 xv = *reinterpret_cast<const uint4*>(x + (size_t)r * lda + k);
#pragma unroll
                for (int u = 0; u < UNITS; ++u) acc[u][r] += dot8(wv[u], xv);
            }
        }
    }
#pragma unroll
    for (int u = 0; u < UNITS; ++u) total[u] = reduce_rows(acc[u], lane);
}

// The small-M product of block (blockIdx.x, blockIdx.y): warp w computes column
// blockIdx.x * SMALL_M_WARPS + w for rows blockIdx.y * 8 + 0..7.
__device__ __forceinline__ void small_m_product(const __half* __restrict__ x, const __half* __restrict__ w,
                                                const __half* __restrict__ bias, __half* __restrict__ out_h,
                                                float* __restrict__ out_f, int M, int N, int K, int lda, int ldo,
                                                int act) {
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * SMALL_M_WARPS + (threadIdx.x >> 5);
    const int m0 = blockIdx.y * SMALL_M_ROWS;
    if (n >= N) return;
    const int rows = min(SMALL_M_ROWS, M - m0);
    float total[1];
    columns_dot_rows<1>(x + (size_t)m0 * lda, lda, rows, w + (size_t)n * K, K, 1, lane, total);
    const float mine = total[0];
    if (lane < rows) {
        const int m = m0 + lane;
        const float v = epilogue(mine, bias, n, act);
        if (out_f) out_f[(size_t)m * ldo + n] = v;
        else out_h[(size_t)m * ldo + n] = __float2half(v);
    }
}

extern "C" __global__ void __launch_bounds__(128)
    linear_small_m_f16(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                       __half* __restrict__ out_h, float* __restrict__ out_f, int M, int N, int K, int lda, int ldo,
                       int act) {
    small_m_product(x, w, bias, out_h, out_f, M, N, K, lda, ldo, act);
}

#define SMALL_MMA_WARPS 8  // 256 threads, as the kernel's __launch_bounds__ says
#define SMALL_MMA_ROWS 64   // 4 row tiles of 16
#define SMALL_MMA_COLS 16   // 2 column tiles of 8

extern "C" __global__ void __launch_bounds__(256)
    linear_small_m_mma_f16(const __half* __restrict__ x, const __half* __restrict__ w,
                           const __half* __restrict__ bias, __half* __restrict__ out_h, float* __restrict__ out_f,
                           int M, int N, int K, int lda, int ldo, int act) {
    __shared__ float sums[SMALL_MMA_WARPS][SMALL_MMA_ROWS][SMALL_MMA_COLS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;  // fragment row group, and the lane's 8 halves of a chunk
    const int m0 = blockIdx.y * SMALL_MMA_ROWS, n0 = blockIdx.x * SMALL_MMA_COLS;
    const int tiles = min(4, (M - m0 + 15) / 16);  // row tiles holding rows; the same for the whole warp

    float acc[4][2][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

#pragma unroll 2
    for (int k0 = warp * 32; k0 < K; k0 += SMALL_MMA_WARPS * 32) {
        const int k = k0 + 8 * t;
        // Registers .x .y .z .w hold k + 0..1, 2..3, 4..5, 6..7. In mma step s a lane's fragment
        // slots (k 2t, 2t+1 then 2t+8, 2t+9 of the step's 16) take registers 2s and 2s+1, in x and
        // W alike: a permutation of the chunk's 32 k, so the product is unchanged.
        uint4 wv[2], xv[4][2];
#pragma unroll
        for (int j = 0; j < 2; ++j) wv[j] = load8_or_zero(w, n0 + 8 * j + g, N, k, K, K);
#pragma unroll
        for (int i = 0; i < 4; ++i)
            if (i < tiles) {
                xv[i][0] = load8_or_zero(x, m0 + 16 * i + g, M, k, K, lda);
                xv[i][1] = load8_or_zero(x, m0 + 16 * i + g + 8, M, k, K, lda);
            }
#pragma unroll
        for (int s = 0; s < 2; ++s) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                if (i >= tiles) continue;
                const unsigned* lo = reinterpret_cast<const unsigned*>(&xv[i][0]);
                const unsigned* hi = reinterpret_cast<const unsigned*>(&xv[i][1]);
                const unsigned a[4] = {lo[2 * s], hi[2 * s], lo[2 * s + 1], hi[2 * s + 1]};
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    const unsigned* wr = reinterpret_cast<const unsigned*>(&wv[j]);
                    const unsigned b[2] = {wr[2 * s], wr[2 * s + 1]};
                    mma_16x8x16(acc[i][j], a, b);
                }
            }
        }
    }

    // Accumulator (i, j): elements 0, 1 at row 16i + g, columns 8j + 2t, 8j + 2t + 1; 2, 3 eight
    // rows below. Each warp parks its partial sums; then every thread finishes whole outputs.
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) sums[warp][16 * i + g + (e >> 1) * 8][8 * j + 2 * t + (e & 1)] = acc[i][j][e];
    __syncthreads();
    for (int o = threadIdx.x; o < SMALL_MMA_ROWS * SMALL_MMA_COLS; o += blockDim.x) {
        const int r = o / SMALL_MMA_COLS, c = o % SMALL_MMA_COLS;
        const int m = m0 + r, n = n0 + c;
        if (m >= M || n >= N) continue;
        float v = 0.0f;
#pragma unroll
        for (int wi = 0; wi < SMALL_MMA_WARPS; ++wi) v += sums[wi][r][c];
        v = epilogue(v, bias, n, act);
        if (out_f) out_f[(size_t)m * ldo + n] = v;
        else out_h[(size_t)m * ldo + n] = __float2half(v);
    }
}

// 8 halves as floats.
__device__ __forceinline__ void widen8(const uint4& h, float* v) {
    const __half2* h2 = reinterpret_cast<const __half2*>(&h);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(h2[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// A post-norm block's residual LayerNorm in the last block of a launch: state row r =
// LayerNorm(sublayer row r + state row r) · gamma + beta for r < rows, one warp per row (rows in
// parallel, reductions by shuffles only). `sublayer(r, c, v)` writes the sublayer output's values
// 8c..8c+7 of row r into v (published by other blocks of the launch: read past L1). Two passes for
// the mean and the centred variance, as add_layer_norm_f16, then the normalised row. N is a
// multiple of 8.
template <class Sublayer>
__device__ __forceinline__ void normalise_rows_by_warp(int rows, int N, __half* state, const __half* gamma,
                                                       const __half* beta, float eps, Sublayer sublayer) {
    const int lane = threadIdx.x & 31, chunks = N / 8;
    const auto load = [&](int r, int c, float* v) {
        float s[8];
        sublayer(r, c, v);
        widen8(*reinterpret_cast<const uint4*>(state + (size_t)r * N + 8 * c), s);
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] += s[i];
    };
    for (int r = threadIdx.x >> 5; r < rows; r += blockDim.x >> 5) {
        float v[8], sum = 0.0f, sq = 0.0f;
        for (int c = lane; c < chunks; c += 32) {
            load(r, c, v);
#pragma unroll
            for (int i = 0; i < 8; ++i) sum += v[i];
        }
        const float mean = warp_sum(sum) / N;
        for (int c = lane; c < chunks; c += 32) {
            load(r, c, v);
#pragma unroll
            for (int i = 0; i < 8; ++i) sq += (v[i] - mean) * (v[i] - mean);
        }
        const float inv = rsqrtf(warp_sum(sq) / N + eps);
        for (int c = lane; c < chunks; c += 32) {
            load(r, c, v);
            __align__(16) __half y[8];
#pragma unroll
            for (int i = 0; i < 8; ++i)
                y[i] = __float2half((v[i] - mean) * inv * __half2float(gamma[8 * c + i]) + __half2float(beta[8 * c + i]));
            *reinterpret_cast<uint4*>(state + (size_t)r * N + 8 * c) = *reinterpret_cast<const uint4*>(y);
        }
    }
}

extern "C" __global__ void __launch_bounds__(128)
    linear_small_m_add_norm_f16(const __half* __restrict__ x, const __half* __restrict__ w,
                                const __half* __restrict__ bias, __half* out, int M, int N, int K, int lda,
                                __half* state, const __half* __restrict__ gamma, const __half* __restrict__ beta,
                                float eps, int* __restrict__ counters) {
    __shared__ int last;
    small_m_product(x, w, bias, out, nullptr, M, N, K, lda, N, ACT_NONE);
    // The last block of this row group to store its columns normalises the group's rows.
    if (!last_to_arrive(&counters[blockIdx.y], gridDim.x, &last)) return;
    const size_t m0 = (size_t)blockIdx.y * SMALL_M_ROWS;
    normalise_rows_by_warp(min(SMALL_M_ROWS, M - (int)m0), N, state + m0 * N, gamma, beta, eps,
                           [&](int r, int c, float* v) {
                               widen8(__ldcg(reinterpret_cast<const uint4*>(out + (m0 + r) * N + 8 * c)), v);
                           });
}

#define FFN_UNITS 32            // hidden units per block of ffn_small_m_f16
#define FFN_WARPS 8             // 256 threads, as its __launch_bounds__ says
#define FFN_UNITS_PER_WARP (FFN_UNITS / FFN_WARPS)
#define FFN_MAX_ROWS 16         // as FUSED_NORM_MAX_ROWS in src/cuda/ops.rs
#define FIXED_ONE 4294967296.0f  // 2^32: the down product's partial sums in 32.32 fixed point

extern "C" __global__ void __launch_bounds__(256)
    ffn_small_m_f16(__half* state, const __half* __restrict__ w1, const __half* __restrict__ b1,
                    const __half* __restrict__ w2, const __half* __restrict__ b2, const __half* __restrict__ gamma,
                    const __half* __restrict__ beta, float eps, unsigned long long* __restrict__ accum,
                    int* __restrict__ counter, int M, int D, int H) {
    __shared__ float hidden[FFN_MAX_ROWS][FFN_UNITS];
    __shared__ int last;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // 1. The block's hidden units for every row: ReLU(state · W1ᵀ + b1), rounded to f16 as the
    //    unfused step stores them; each warp 4 consecutive units, 8 rows at a time. Units past H
    //    (a multiple of 8, not necessarily of 32) are zero.
    const int u0 = warp * FFN_UNITS_PER_WARP, j0 = blockIdx.x * FFN_UNITS + u0;
    const int live = max(0, min(FFN_UNITS_PER_WARP, H - j0));
    for (int m0 = 0; m0 < M; m0 += SMALL_M_ROWS) {
        const int rows = min(SMALL_M_ROWS, M - m0);
        float v[FFN_UNITS_PER_WARP];
        columns_dot_rows<FFN_UNITS_PER_WARP>(state + (size_t)m0 * D, D, rows, w1 + (size_t)j0 * D, D, live, lane, v);
        if (lane < rows) {
#pragma unroll
            for (int u = 0; u < FFN_UNITS_PER_WARP; ++u)
                hidden[m0 + lane][u0 + u] =
                    u < live ? __half2float(__float2half(epilogue(v[u], b1, j0 + u, ACT_RELU))) : 0.0f;
        }
    }
    __syncthreads();
    // 2. Their share of the down product, added into accum in fixed point: integer sums do not
    //    depend on the order the blocks' atomics land in, so a step is reproducible bit for bit.
    //    (A partial sum beyond ±2^31, far past f16's range where the f16 result is inf anyway,
    //    would wrap.)
    for (int n = threadIdx.x; n < D; n += blockDim.x) {
        float wf[FFN_UNITS];
#pragma unroll
        for (int q = 0; q < FFN_UNITS / 8; ++q) {
            const int j = blockIdx.x * FFN_UNITS + 8 * q;
            widen8(j < H ? *reinterpret_cast<const uint4*>(w2 + (size_t)n * H + j) : make_uint4(0, 0, 0, 0),
                   wf + 8 * q);
        }
        for (int m = 0; m < M; ++m) {
            float p = 0.0f;
#pragma unroll
            for (int u = 0; u < FFN_UNITS; ++u) p = fmaf(hidden[m][u], wf[u], p);
            atomicAdd(&accum[(size_t)m * D + n], (unsigned long long)llrintf(p * FIXED_ONE));
        }
    }
    // 3. The last block: state = LayerNorm(f16(down + b2) + state), then accum back to zero.
    if (!last_to_arrive(counter, gridDim.x, &last)) return;
    normalise_rows_by_warp(M, D, state, gamma, beta, eps, [&](int r, int c, float* v) {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int n = 8 * c + i;
            const float down = (float)(long long)__ldcg(&accum[(size_t)r * D + n]) / FIXED_ONE;
            v[i] = __half2float(__float2half(down + __half2float(b2[n])));
        }
    });
    __syncthreads();
    for (int i = threadIdx.x; i < M * D; i += blockDim.x) accum[i] = 0ull;
}

extern "C" __global__ void __launch_bounds__(128)
    linear_mma_f16(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                   __half* __restrict__ out, int M, int N, int K, int lda, int ldo, int act) {
    __shared__ __align__(16) MmaStage xs, ws;

    const int m_base = blockIdx.y * MMA_TILE, n_base = blockIdx.x * MMA_TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warp_m = (warp >> 1) * 32, warp_n = (warp & 1) * 32;
    const int g = lane >> 2, t = lane & 3;  // fragment row group and column pair

    MmaAccumulator acc;
    const auto row_of_x = [&](int row, int k) {
        const int m = m_base + row;
        return m < M ? *reinterpret_cast<const uint4*>(x + (size_t)m * lda + k) : make_uint4(0, 0, 0, 0);
    };
    mma_block_product(acc, xs, ws, row_of_x, w, n_base, N, K);
    // Accumulator (i, j): elements 0, 1 at row g, columns 2t, 2t+1; elements 2, 3 at row g + 8.
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int m = m_base + warp_m + 16 * i + g + (e >> 1) * 8;
                const int n = n_base + warp_n + 8 * j + 2 * t + (e & 1);
                if (m < M && n < N) out[(size_t)m * ldo + n] = __float2half(epilogue(acc[i][j][e], bias, n, act));
            }
}
