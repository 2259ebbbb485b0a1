// The tensor-core product the GEMM kernels share (linear.cu, acoustic_conv.cu): one
// `mma.sync.aligned.m16n8k16` (sm_80+), the register-pair load its fragments are made of, the
// K step of a 64×64 block tile that 4 warps compute from operands staged in shared memory, and
// the K loop that stages them (each kernel says only how its x rows are gathered).
// src/cuda/compile.rs puts this file in front of every kernels/*.cu; the emulation includes it
// with its inline PTX routed to the warp-level emulation (tests/kernel_emulation/mma_prelude.h).
#include <cuda_fp16.h>

// D = A·B + D for one 16×8×16 tile: A 16×16 row-major (4 registers of 2 halves), B 16×8
// column-major (2 registers), D 16×8 f32 (4 registers). PTX ISA "mma.m16n8k16" fragment layouts.
__device__ __forceinline__ void mma_16x8x16(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ unsigned pair_at(const __half* p) { return *reinterpret_cast<const unsigned*>(p); }

#define MMA_TILE 64    // rows and columns of a block's output tile (4 warps of 32×32)
#define MMA_TILE_K 32  // k staged in shared memory per step
#define MMA_SKEW 8     // pads shared rows (80-byte stride) so a warp's fragment loads hit 32 different banks

// A warp's 32×32 quarter of the block tile: 2×4 mma tiles of 16×8, 4 f32 each.
typedef float MmaAccumulator[2][4][4];

__device__ __forceinline__ void mma_zero(MmaAccumulator acc) {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
}

// acc += the staged 32 k of x rows (warp_m..warp_m + 32) times w rows (warp_n..warp_n + 32,
// each an output column with k contiguous: exactly the column-major B operand). Accumulator
// (i, j) then holds elements 0, 1 at row warp_m + 16i + lane/4, columns warp_n + 8j + 2·(lane%4)
// (+1), and elements 2, 3 eight rows below.
__device__ __forceinline__ void mma_tile_step(MmaAccumulator acc, const __half (*xs)[MMA_TILE_K + MMA_SKEW],
                                              const __half (*ws)[MMA_TILE_K + MMA_SKEW], int warp_m, int warp_n,
                                              int lane) {
    const int g = lane >> 2, t = lane & 3;  // fragment row group and column pair
#pragma unroll
    for (int kk = 0; kk < MMA_TILE_K; kk += 16) {
        unsigned a[2][4], b[4][2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int r = warp_m + 16 * i + g;
            a[i][0] = pair_at(&xs[r][kk + 2 * t]);
            a[i][1] = pair_at(&xs[r + 8][kk + 2 * t]);
            a[i][2] = pair_at(&xs[r][kk + 2 * t + 8]);
            a[i][3] = pair_at(&xs[r + 8][kk + 2 * t + 8]);
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int n = warp_n + 8 * j + g;
            b[j][0] = pair_at(&ws[n][kk + 2 * t]);
            b[j][1] = pair_at(&ws[n][kk + 2 * t + 8]);
        }
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) mma_16x8x16(acc[i][j], a[i], b[j]);
    }
}

typedef __half MmaStage[MMA_TILE][MMA_TILE_K + MMA_SKEW];

// 8 halves at row `row`, k..k+7 of a [rows, K] operand with rows `ld` apart; zeros past the
// operand (row >= rows or k >= K).
__device__ __forceinline__ uint4 load8_or_zero(const __half* p, int row, int rows, int k, int K, int ld) {
    return row < rows && k < K ? *reinterpret_cast<const uint4*>(p + (size_t)row * ld + k) : make_uint4(0, 0, 0, 0);
}

#define MMA_THREADS 128  // 4 warps; every kernel built on mma_block_product launches this many
#define MMA_VECS (MMA_TILE * MMA_TILE_K / 8 / MMA_THREADS)  // 16-byte vectors per thread per operand and k step

// acc = the warp's quarter of x·wᵀ for the block tile at (m_base, n_base): the whole K loop.
// `load_x(row, k)` returns the 8 halves k..k+7 of tile row `row` (k < K; zeros where the row does
// not exist), so linear.cu reads plain rows and acoustic_conv.cu gathers conv taps with masking.
// w is n rows of K contiguous halves; xs and ws are the block's shared staging tiles. The next k
// step's operands are loaded into registers while the tensor cores work on the current one, so
// global-memory latency overlaps the products instead of stalling each step.
template <class LoadX>
__device__ __forceinline__ void mma_block_product(MmaAccumulator acc, MmaStage xs, MmaStage ws, LoadX load_x,
                                                  const __half* w, int n_base, int n, int K) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warp_m = (warp >> 1) * 32, warp_n = (warp & 1) * 32;
    uint4 xv[MMA_VECS], wv[MMA_VECS];
    // Vector i of this thread: tile row `vec / 4`, halves `(vec % 4) · 8` of the 32 k.
    const auto fetch = [&](int k0) {
#pragma unroll
        for (int i = 0; i < MMA_VECS; ++i) {
            const int vec = threadIdx.x + i * MMA_THREADS;
            const int row = vec / (MMA_TILE_K / 8), k = k0 + (vec % (MMA_TILE_K / 8)) * 8;
            xv[i] = k < K ? load_x(row, k) : make_uint4(0, 0, 0, 0);
            wv[i] = load8_or_zero(w, n_base + row, n, k, K, K);
        }
    };
    mma_zero(acc);
    fetch(0);
    for (int k0 = 0; k0 < K; k0 += MMA_TILE_K) {
#pragma unroll
        for (int i = 0; i < MMA_VECS; ++i) {
            const int vec = threadIdx.x + i * MMA_THREADS;
            const int row = vec / (MMA_TILE_K / 8), col = (vec % (MMA_TILE_K / 8)) * 8;
            *reinterpret_cast<uint4*>(&xs[row][col]) = xv[i];
            *reinterpret_cast<uint4*>(&ws[row][col]) = wv[i];
        }
        __syncthreads();
        if (k0 + MMA_TILE_K < K) fetch(k0 + MMA_TILE_K);
        mma_tile_step(acc, xs, ws, warp_m, warp_n, lane);
        __syncthreads();
    }
}
