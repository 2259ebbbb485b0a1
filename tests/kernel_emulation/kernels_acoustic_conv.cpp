// kernels/acoustic_conv.cu's entry point for the driver (registry.h).
#include "registry.h"

namespace acoustic_conv_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts the preludes in front of every kernel
#include "mma_prelude.h"
#include "acoustic_conv.cu"
}  // namespace acoustic_conv_cu

REGISTER_ENTRY_POINT(acoustic_conv_cu, conv_mma_f16)
