// kernels/linear.cu's entry points for the driver (registry.h).
#include "registry.h"

namespace linear_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts the preludes in front of every kernel
#include "mma_prelude.h"
#include "linear.cu"
}  // namespace linear_cu

REGISTER_ENTRY_POINT(linear_cu, linear_small_m_f16)
REGISTER_ENTRY_POINT(linear_cu, linear_small_m_add_norm_f16)
REGISTER_ENTRY_POINT(linear_cu, linear_small_m_mma_f16)
REGISTER_ENTRY_POINT(linear_cu, linear_mma_f16)
REGISTER_ENTRY_POINT(linear_cu, ffn_small_m_f16)
