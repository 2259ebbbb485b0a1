// kernels/acoustic.cu's entry points for the driver (registry.h).
#include "registry.h"

namespace acoustic_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts the preludes in front of every kernel
#include "philox.cuh"
#include "acoustic.cu"
}  // namespace acoustic_cu

REGISTER_ENTRY_POINT(acoustic_cu, gather_rows_f16)
REGISTER_ENTRY_POINT(acoustic_cu, overlap_add_f16)
REGISTER_ENTRY_POINT(acoustic_cu, interpolate_linear_f16)
REGISTER_ENTRY_POINT(acoustic_cu, prior_sample_f16)
