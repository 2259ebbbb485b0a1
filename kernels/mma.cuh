// The tensor-core product the GEMM kernels share (linear.cu, acoustic_conv.cu): one
// `mma.sync.aligned.m16n8k16` (sm_80+) and the register-pair load its fragments are made of.
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
