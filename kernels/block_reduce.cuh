// Block-wide sum and max of one float per thread, shared by the kernels. src/cuda/compile.rs puts
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
