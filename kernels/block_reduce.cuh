// Block-wide sum and max of one float per thread, and the last-block vote, shared by the kernels. src/cuda/compile.rs puts
// this file in front of every kernels/*.cu (NVRTC compiles one source per file), and the emulation
// test includes it the same way. blockDim.x must be a multiple of 32 and every thread must call;
// every thread gets the result. `shared` holds 32 floats and is free again on return.

template <bool IS_MAX>
__device__ __forceinline__ float block_reduce(float v, float* shared) {
    const float identity = IS_MAX ? __int_as_float(0xff800000) : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
        const float other = __shfl_xor_sync(0xffffffffu, v, o);
        v = IS_MAX ? fmaxf(v, other) : v + other;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = (lane < (int)(blockDim.x >> 5)) ? shared[lane] : identity;
        for (int o = 16; o > 0; o >>= 1) {
            const float other = __shfl_xor_sync(0xffffffffu, v, o);
            v = IS_MAX ? fmaxf(v, other) : v + other;
        }
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    const float total = shared[0];
    __syncthreads();
    return total;
}

__device__ __forceinline__ float block_sum(float v, float* shared) { return block_reduce<false>(v, shared); }
__device__ __forceinline__ float block_max(float v, float* shared) { return block_reduce<true>(v, shared); }

// The last-block vote of a launch whose blocks publish partial results for one consumer: each of
// the `arrivals` blocks calls it once, every thread, after its stores; it returns true (in every
// thread) in the block that arrives last, which may then read the others' results past L1
// (__ldcg). `*counter` is zero before the launch and re-armed to zero by the last block. `last`
// is one int of the caller's shared memory (as `shared` above: the preludes declare none).
__device__ __forceinline__ bool last_to_arrive(int* counter, int arrivals, int* last) {
    __threadfence();  // this thread's stores are visible before its block is counted
    __syncthreads();
    if (threadIdx.x == 0) {
        *last = atomicAdd(counter, 1) == arrivals - 1;
        if (*last) *counter = 0;  // every other block has counted already
    }
    __syncthreads();
    const bool is_last = *last;
    if (is_last) __threadfence();
    return is_last;
}
