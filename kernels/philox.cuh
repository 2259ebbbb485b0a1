// Counter-based random numbers on the device: Philox4x32-10, bit for bit the CPU's
// `model::rng`, so a seed draws the same numbers on either backend. src/cuda/compile.rs puts this
// file in front of every kernels/*.cu; the emulation includes it the same way. Used by the token
// sampler (sampling.cu) and the SoVITS prior noise (acoustic.cu).

// One Philox4x32-10 block; twins `model::rng::philox4x32`.
__device__ __forceinline__ uint4 philox4x32(uint4 c, unsigned k0, unsigned k1) {
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const unsigned hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const unsigned hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

// `model::rng::uniform`: word `index` of stream (seed, purpose, step), as 24 bits in (0, 1].
__device__ __forceinline__ float philox_uniform(unsigned long long seed, unsigned purpose,
                                                unsigned step, unsigned index) {
    const uint4 r = philox4x32(make_uint4(index / 4, step, purpose, 0u), (unsigned)seed,
                               (unsigned)(seed >> 32));
    const unsigned i = index % 4;
    const unsigned w = (i == 0) ? r.x : (i == 1) ? r.y : (i == 2) ? r.z : r.w;
    return (float)((w >> 8) + 1u) * (1.0f / 16777216.0f);
}
