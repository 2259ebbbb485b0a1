// kernels/sampling.cu's entry point for the driver (registry.h), and two probes: its Philox
// device functions, which are not entry points, as kernels of their own (one thread per item),
// so a case can compare them with model::rng.
#include "registry.h"

namespace sampling_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts the preludes in front of every kernel
#include "philox.cuh"
#include "sampling.cu"
}  // namespace sampling_cu

REGISTER_ENTRY_POINT(sampling_cu, sample_tokens_f32)

namespace probes {

// words[4i..4i+4] = philox4x32(counters[4i..4i+4], keys[2i], keys[2i+1]).
void philox4x32(const unsigned* counters, const unsigned* keys, unsigned* words, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned* c = counters + 4 * i;
    const uint4 r = sampling_cu::philox4x32(make_uint4(c[0], c[1], c[2], c[3]), keys[2 * i], keys[2 * i + 1]);
    words[4 * i] = r.x;
    words[4 * i + 1] = r.y;
    words[4 * i + 2] = r.z;
    words[4 * i + 3] = r.w;
}

// out[i] = philox_uniform(seeds[i], PURPOSE_SAMPLING, steps[i], indices[i]).
void philox_uniform(const unsigned long long* seeds, const unsigned* steps, const unsigned* indices, float* out,
                    int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = sampling_cu::philox_uniform(seeds[i], PURPOSE_SAMPLING, steps[i], indices[i]);
}

}  // namespace probes

REGISTER_ENTRY_POINT(probes, philox4x32)
REGISTER_ENTRY_POINT(probes, philox_uniform)
