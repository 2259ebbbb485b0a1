// kernels/linear.cu's entry points for the driver (registry.h).
#include "registry.h"

// mma_16x8x16 is a single inline-PTX statement, `asm volatile("mma.sync..." : outputs : inputs);`,
// which a host compiler cannot run. While linear.cu is included, `asm` expands to nothing and
// `volatile(...)` to a call of the warp-level emulation with the statement's text (checked
// against the one instruction and operand binding the emulation implements, so a changed
// statement fails instead of being emulated wrongly) and mma_16x8x16's operands d, a, b. The
// kernel file itself stays unchanged.
#define asm
#define volatile(...) emu::mma_m16n8k16_f32_f16(#__VA_ARGS__, d, a, b)
namespace linear_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "linear.cu"
}  // namespace linear_cu
#undef volatile
#undef asm

REGISTER_ENTRY_POINT(linear_cu, linear_small_m_f16)
REGISTER_ENTRY_POINT(linear_cu, linear_mma_f16)
