// The CUDA execution model on the host, so that kernels/*.cu compile unchanged as C++17 and run
// on a machine without a GPU (tests/kernel_emulation.rs; the test driver is main.cpp).
//
// Emulated:
//   * The CUDA C++ dialect the kernels use: __global__ / __device__ / __forceinline__ /
//     __shared__ / __align__, threadIdx / blockIdx / blockDim / gridDim, uint4 / float2, and
//     the intrinsics __syncthreads, __shfl_xor_sync, __shfl_sync, __int_as_float, __float_as_uint, __umulhi,
//     rsqrtf (host libm), min / max, and atomicAdd / __threadfence / __ldcg as their sequential
//     meaning (blocks never overlap here).
//   * Threads: every CUDA thread of a block is a fiber (own stack, cooperative switch), so the
//     kernel's own code runs as written. A fiber runs until it reaches a barrier: __syncthreads
//     (all threads of the block, exited ones count as arrived), or a warp collective
//     (__shfl_xor_sync, __shfl_sync, mma.sync: all 32 lanes of the warp, which must be at the
//     same collective and xor offset, else the warp diverged). Between barriers the threads run one after
//     another in the order of a Schedule; a kernel whose output depends on that order has a race
//     (a missing barrier, a read of another thread's unpublished write), which the driver
//     detects by comparing the outputs of every schedule bit for bit. Blocks run one after
//     another (ascending, or reversed / shuffled by the schedule), so a kernel whose blocks
//     depend on each other's writes also shows up. Deadlocks and divergent collectives are
//     reported as faults.
//   * Shared memory is filled with 0xFF bytes (NaN as float and half, -1 as int) before every
//     block, so reading shared memory nobody wrote poisons the output.
//   * mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 (linear.cu's tensor-core product) from
//     the PTX ISA's fragment layouts: the warp's 32 lanes deposit their registers, the A, B and C
//     matrices are assembled from the documented (lane, register) → (row, column) maps, and each
//     lane gets its D registers back. kernels_linear.cpp routes linear.cu's inline asm here.
//   * Device memory: harness.h's DevBuf puts a guard page after every buffer and canaries around.
//
// Not emulated (the GPU tests, tests/gpu_*.rs, cover these on real hardware):
//   * Tensor-core arithmetic: here the 16 products (exact) and C are summed in double and
//     rounded once to f32; the hardware's internal alignment/truncation differs in the last bits.
//   * The device math library: expf, logf, erff, exp, sin, cos, log are the host's (glibc) and
//     rsqrtf is 1/sqrtf; the device's are within a few ulp of them. The host build does not
//     contract a·b + c into FMAs (-ffp-contract=off); NVRTC does. Tolerances cover both.
//   * Concurrency: blocks never overlap in time and a warp's lanes are not in lockstep, so
//     inter-block races, atomics, memory ordering/fences, bank conflicts, occupancy, register
//     or shared-memory limits and timing are not modelled. Grids, block sizes and arguments are
//     those src/cuda's launch builders return; tests/kernel_emulation.rs checks each block
//     against its entry point's `__launch_bounds__`, which the emulator itself ignores.
//
// x86-64 Linux only (hand-written context switch, ELF section bounds for shared memory).
#pragma once
#include <math.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

// ---- The CUDA C++ dialect.
#define __global__
#define __launch_bounds__(...)  // a register-allocation hint for the JIT: nothing to emulate
#define __device__
#define __forceinline__ inline
#define __align__(n) __attribute__((aligned(n)))
// Shared memory: a function-local static (one instance for the block, as blocks run one at a
// time), placed in its own section so the emulator can poison all of it between blocks.
#define __shared__ static __attribute__((section("emu_shared")))

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
extern dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, 4);
    return u;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
using std::max;
using std::min;

namespace emu {

// The order in which the runnable threads of a block run between two barriers, and the order of
// the blocks of a grid.
enum class Schedule {
    Ascending,    // threads and blocks in index order
    Descending,   // both reversed
    Random,       // both shuffled
    SlowedWarps,  // shuffled, and each warp runs in only some passes (2%, 20% or 100% of them),
                  // so fast warps get many collectives ahead of slow ones
};
constexpr int kSchedules = 4;
const char* schedule_name(Schedule s);

// Sets the schedule and reseeds its random generator (per case, so runs are reproducible).
void reset(Schedule s, uint64_t seed);

// Runs `kernel_call` (a call of one __global__ function) for every block of `grid`, with `block`
// threads per block (a multiple of 32, at most 1024).
void launch(dim3 grid, unsigned block, const std::function<void()>& kernel_call);

// Problems the emulator or a test buffer detected (deadlock, divergent collective, buffer
// overrun...): recorded during a case, collected by the driver after it.
void fault(const std::string& what);
std::string take_faults();

// The bodies of the warp collectives; the CUDA-named wrappers below and in kernels_linear.cpp call
// these. `mask` must be the full warp.
uint64_t shfl_xor(unsigned mask, uint64_t bits, int lane_mask);
uint64_t shfl_idx(unsigned mask, uint64_t bits, int src_lane);
void mma_m16n8k16_f32_f16(const char* asm_text, float* d, const unsigned* a, const unsigned* b);
void sync_block();

}  // namespace emu

inline void __syncthreads() { emu::sync_block(); }

// Blocks run one after another, so an atomic is a plain read-modify-write, a fence has nothing
// to order and every load sees the latest store (the GPU tests cover the real memory model).
template <class T>
T atomicAdd(T* p, T v) {
    const T old = *p;
    *p = old + v;
    return old;
}
inline void __threadfence() {}
template <class T>
T __ldcg(const T* p) {
    return *p;
}

// A shuffle of any value of up to 64 bits: its bits through `exchange` (one of emu's shuffles).
template <class T, class Exchange>
T shuffle_bits(T v, Exchange exchange) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move up to 64 bits");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = exchange(bits);
    T out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane) {
    return shuffle_bits(v, [&](uint64_t bits) { return emu::shfl_idx(mask, bits, src_lane); });
}

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    return shuffle_bits(v, [&](uint64_t bits) { return emu::shfl_xor(mask, bits, lane_mask); });
}
