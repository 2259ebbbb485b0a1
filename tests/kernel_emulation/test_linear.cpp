// kernels/linear.cu: linear_small_m_f16 and linear_mma_f16 against x · Wᵀ + bias and the
// activation (cpu::gemv::linear_few / cpu::ops::linear, cpu::ops::gelu), in f64.
#include "harness.h"
#include "reference.h"

// mma_16x8x16 is a single inline-PTX statement, `asm volatile("mma.sync..." : outputs : inputs);`,
// which a host compiler cannot run. While linear.cu is included, `asm` expands to nothing and
// `volatile(...)` to a call of the warp-level emulation with the statement's text (checked
// against the one instruction and operand binding the emulation implements, so a changed
// statement fails instead of being emulated wrongly) and mma_16x8x16's operands d, a, b. The
// kernel file itself stays unchanged.
#define asm
#define volatile(...) emu::mma_m16n8k16_f32_f16(#__VA_ARGS__, d, a, b)
namespace linear_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "linear.cu"
}
#undef volatile
#undef asm

namespace {

enum class Kernel { SmallM, Mma };
const char* const kActNames[] = {"none", "relu", "gelu"};

struct LinearCase {
    Kernel kernel;
    int M, N, K, act;
    bool bias, f32_out;  // f32_out: the LM head's logits (small-M kernel only)
    // Row strides; 0 = dense (K, N). lda < K: overlapping rows, a time-major convolution
    // (HuBERT: taps·C inputs, stride·C apart); ldo > N: one conv group's column block.
    int lda = 0, ldo = 0;
};
const LinearCase kCases[] = {
    // Decode steps: M = sessions (1..64), grid (ceil(N/4), ceil(M/8)).
    {Kernel::SmallM, 1, 1025, 512, ACT_NONE, false, true},  // the LM head of one session: N = vocab
    {Kernel::SmallM, 13, 70, 264, ACT_NONE, false, true},   // M not a multiple of 8, K = 256 + 8
    {Kernel::SmallM, 64, 36, 512, ACT_GELU, true, false},   // the small-M limit: 8 row blocks
    {Kernel::SmallM, 17, 130, 512, ACT_RELU, true, false},  // one row in the last row block
    {Kernel::SmallM, 3, 7, 8, ACT_RELU, true, false},       // K = 8: only lane 0 loads; N % 4 = 3
    {Kernel::SmallM, 10, 6, 24, ACT_NONE, false, false},
    {Kernel::SmallM, 2, 3, 2056, ACT_GELU, true, false},  // K = 8·257
    // Prefill / BERT: 64×64 tiles, grid (ceil(N/64), ceil(M/64)), K in steps of 32.
    {Kernel::Mma, 65, 64, 512, ACT_NONE, true, false},  // M = 64 + 1
    {Kernel::Mma, 130, 96, 512, ACT_GELU, true, false},
    {Kernel::Mma, 70, 1025, 40, ACT_NONE, false, false},  // N = 1025, K = 32 + 8
    {Kernel::Mma, 66, 70, 8, ACT_RELU, true, false},      // K = 8: one partial k tile
    {Kernel::Mma, 1, 64, 72, ACT_NONE, true, false},      // a single row
    {Kernel::Mma, 17, 9, 1024, ACT_RELU, false, false},   // far below one tile
    {Kernel::Mma, 100, 130, 264, ACT_GELU, true, false},
    // Convolutions as strided products: HuBERT's conv layers (3 taps, stride 2: lda = 2·C) and
    // its positional conv (one group of 48 channels, stride 1, written into a 4-group-wide output).
    {Kernel::Mma, 70, 64, 3 * 32, ACT_GELU, true, false, 2 * 32, 0},
    {Kernel::SmallM, 9, 64, 3 * 32, ACT_GELU, true, false, 2 * 32, 0},
    {Kernel::Mma, 67, 48, 8 * 48, ACT_GELU, true, false, 48, 4 * 48},
    {Kernel::SmallM, 5, 48, 8 * 48, ACT_NONE, true, false, 48, 4 * 48},
};

void run_case(const LinearCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const int lda = c.lda ? c.lda : c.K, ldo = c.ldo ? c.ldo : c.N;
    const size_t mk = size_t(c.M - 1) * lda + c.K, nk = size_t(c.N) * c.K, mn = size_t(c.M - 1) * ldo + c.N;
    DevBuf<__half> x(mk), w(nk), bias(c.N), out_h(mn);
    DevBuf<float> out_f(mn);
    const float w_scale = 2.0f / sqrtf(float(c.K));  // keeps x · Wᵀ of order 1, so GELU sees both sides
    for (size_t i = 0; i < mk; ++i) x[i] = H(uni(g, -1, 1));
    for (size_t i = 0; i < nk; ++i) w[i] = H(uni(g, -w_scale, w_scale));
    for (int i = 0; i < c.N; ++i) bias[i] = H(uni(g, -0.5f, 0.5f));
    out_h.fill(H(NAN));
    out_f.fill(NAN);
    const __half* b = c.bias ? bias.p() : nullptr;
    if (c.kernel == Kernel::SmallM) {
        emu::launch({unsigned(c.N + 3) / 4, unsigned(c.M + 7) / 8, 1}, 128, [&] {
            linear_cu::linear_small_m_f16(x.p(), w.p(), b, c.f32_out ? nullptr : out_h.p(),
                                          c.f32_out ? out_f.p() : nullptr, c.M, c.N, c.K, lda, ldo, c.act);
        });
    } else {
        emu::launch({unsigned(c.N + 63) / 64, unsigned(c.M + 63) / 64, 1}, 128,
                    [&] { linear_cu::linear_mma_f16(x.p(), w.p(), b, out_h.p(), c.M, c.N, c.K, lda, ldo, c.act); });
    }
    for (int m = 0; m < c.M; ++m)
        for (int n = 0; n < c.N; ++n) {
            // magnitude = Σ|terms|: f32 accumulation errs by a few dozen f32 ulps of it at most.
            double s = b ? F(bias[n]) : 0.0, magnitude = fabs(s);
            for (int k = 0; k < c.K; ++k) {
                const double p = double(F(x[size_t(m) * lda + k])) * F(w[size_t(n) * c.K + k]);
                s += p;
                magnitude += fabs(p);
            }
            const double want = c.act == ACT_RELU ? std::max(s, 0.0) : c.act == ACT_GELU ? ref::gelu(s) : s;
            const size_t i = size_t(m) * ldo + n;
            const double got = c.f32_out ? out_f[i] : F(out_h[i]);
            check.near(got, want, (c.f32_out ? 0.0 : ulp16(want)) + 2e-6 * magnitude);
        }
    // Between an output row's N values and the next row's: never written.
    for (int m = 0; m + 1 < c.M; ++m)
        for (int n = c.N; n < ldo; ++n) check.near(std::isnan(F(out_h[size_t(m) * ldo + n])) ? 0.0 : 1.0, 0.0, 0.0);
}

}  // namespace

void linear_suite(Runner& r) {
    for (const LinearCase& c : kCases) {
        const std::string config =
            fmt("M=%d N=%d K=%d act=%s%s%s%s", c.M, c.N, c.K, kActNames[c.act], c.bias ? " bias" : "",
                c.f32_out ? " f32-out" : "", c.lda || c.ldo ? fmt(" lda=%d ldo=%d", c.lda, c.ldo).c_str() : "");
        r.run(c.kernel == Kernel::SmallM ? "linear_small_m_f16" : "linear_mma_f16", config,
              c.f32_out ? "2e-6*sum|x*w|" : "1 ulp16 + 2e-6*sum|x*w|",
              [&](Check& check) { run_case(c, config, check); });
    }
}
