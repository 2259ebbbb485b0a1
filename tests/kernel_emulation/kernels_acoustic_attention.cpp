// kernels/acoustic_attention.cu's entry point for the driver (registry.h).
#include "registry.h"

namespace acoustic_attention_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts the preludes in front of every kernel
#include "acoustic_attention.cu"
}  // namespace acoustic_attention_cu

REGISTER_ENTRY_POINT(acoustic_attention_cu, attention_f16)
