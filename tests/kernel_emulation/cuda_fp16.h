// Host stand-in for CUDA's <cuda_fp16.h>: only what kernels/*.cu use. The kernels include
// <cuda_fp16.h>; the emulation build puts this directory first on the include path.
//
// __half is kept as its IEEE binary16 bits and converted in software, so the results do not
// depend on the host compiler's _Float16 support: __float2half rounds to nearest even (as the
// device's cvt.rn.f16.f32), __half2float is exact. Arithmetic on __half itself is not provided
// (the kernels convert to float first).
#pragma once
#include <cstdint>
#include <cstring>

#include "emu.h"  // the CUDA dialect and vector types (the real header pulls them in too)

struct __half {
    uint16_t bits;
};
struct alignas(4) __half2 {
    __half x, y;
};

inline __half __float2half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (x >> 16) & 0x8000;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return {uint16_t(sign | 0x7fff)};  // NaN (the device's canonical one)
    if (ax >= 0x477ff000u) return {uint16_t(sign | 0x7c00)};  // >= 65520 rounds to infinity
    if (ax < 0x38800000u) {
        // Below 2^-14: a subnormal half, in units of 2^-24. Scaling by 2^24 is exact and
        // nearbyintf rounds half to even in the default rounding mode.
        float a;
        memcpy(&a, &ax, 4);
        return {uint16_t(sign | (uint16_t)nearbyintf(a * 16777216.0f))};
    }
    // Normal: rebias the exponent (127 → 15) and round the 23-bit mantissa to 10 bits, half to
    // even; a carry out of the mantissa correctly bumps the exponent.
    uint32_t r = ax - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return {uint16_t(sign | (r >> 13))};
}

inline float __half2float(__half h) {
    const uint32_t sign = uint32_t(h.bits & 0x8000) << 16, e = (h.bits >> 10) & 0x1f, m = h.bits & 0x3ff;
    if (e == 0) {  // zero or subnormal: m · 2^-24, exact in float
        const float v = float(m) * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    const uint32_t bits = sign | (e == 31 ? 0x7f800000u | (m << 13) : ((e + 112) << 23) | (m << 13));
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
