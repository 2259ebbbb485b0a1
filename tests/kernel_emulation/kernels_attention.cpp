// kernels/attention.cu's entry points for the driver (registry.h).
#include "registry.h"

namespace attention_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "mma_prelude.h"
#include "attention.cu"
}  // namespace attention_cu

REGISTER_ENTRY_POINT(attention_cu, prefill_attention_hd32_f16)
REGISTER_ENTRY_POINT(attention_cu, prefill_attention_hd64_f16)
REGISTER_ENTRY_POINT(attention_cu, decode_attention_hd32_f16)
REGISTER_ENTRY_POINT(attention_cu, advance_slots)
