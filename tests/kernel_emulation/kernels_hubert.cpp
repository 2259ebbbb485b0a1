// kernels/hubert.cu's entry points for the driver (registry.h).
#include "registry.h"

namespace hubert_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "hubert.cu"
}  // namespace hubert_cu

REGISTER_ENTRY_POINT(hubert_cu, conv_wave_f16)
REGISTER_ENTRY_POINT(hubert_cu, group_norm_time_gelu_f16)
REGISTER_ENTRY_POINT(hubert_cu, gather_groups_padded_f16)
