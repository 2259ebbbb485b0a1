// kernels/norm.cu's entry points for the driver (registry.h).
#include "registry.h"

namespace norm_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "norm.cu"
}  // namespace norm_cu

REGISTER_ENTRY_POINT(norm_cu, add_layer_norm_f16)
