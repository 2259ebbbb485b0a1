// kernels/mma.cuh for the emulation, included inside a kernel file's namespace (as
// src/cuda/compile.rs puts it in front of every kernel file). mma_16x8x16 is a single inline-PTX
// statement, `asm volatile("mma.sync..." : outputs : inputs);`, which a host compiler cannot run:
// while mma.cuh is included, `asm` expands to nothing and `volatile(...)` to a call of the
// warp-level emulation with the statement's text (checked against the one instruction and
// operand binding the emulation implements, so a changed statement fails instead of being
// emulated wrongly) and mma_16x8x16's operands d, a, b. The kernel files stay unchanged.
#define asm
#define volatile(...) emu::mma_m16n8k16_f32_f16(#__VA_ARGS__, d, a, b)
#include "mma.cuh"
#undef volatile
#undef asm
