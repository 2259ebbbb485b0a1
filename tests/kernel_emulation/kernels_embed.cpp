// kernels/embed.cu's entry points for the driver (registry.h).
#include "registry.h"

namespace embed_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "embed.cu"
}  // namespace embed_cu

REGISTER_ENTRY_POINT(embed_cu, embed_positions_f16)
REGISTER_ENTRY_POINT(embed_cu, bert_embed_f16)
