// kernels/hubert.cu: conv_wave_f16 against cpu::hubert's TimeMajorConv::forward for conv 0
// (C_in = 1), group_norm_time_gelu_f16 against group_norm_over_time followed by cpu::ops::gelu,
// and gather_groups_padded_f16 against PosConv::forward's per-group zero-padded copy (exact).
#include "harness.h"
#include "reference.h"

namespace hubert_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "hubert.cu"
}

namespace {

// ---- conv_wave_f16: grid ceil(frames / 16), block 256.
struct WaveCase {
    int frames, channels, taps, stride;
    bool bias;
};
const WaveCase kWaveCases[] = {
    {320, 512, 10, 5, false},  // HuBERT's conv 0 (no bias), a multiple of the 16-frame block
    {299, 512, 10, 5, false},  // a partial last block
    {1, 512, 10, 5, false},    // one frame: the span is exactly the taps
    {37, 40, 3, 2, true},      // fewer channels than threads
    {23, 300, 3, 2, true},     // channels not a multiple of the block: the stride loop
};

void run_wave(const WaveCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    // Exactly the samples the frames need: a read past the last window hits the guard page.
    const size_t samples = size_t(c.frames - 1) * c.stride + c.taps;
    DevBuf<float> wav(samples);
    DevBuf<__half> w(size_t(c.channels) * c.taps), bias(c.channels), out(size_t(c.frames) * c.channels);
    for (size_t i = 0; i < samples; ++i) wav[i] = uni(g, -1, 1);
    for (size_t i = 0; i < w.size(); ++i) w[i] = H(uni(g, -0.5f, 0.5f));
    for (int i = 0; i < c.channels; ++i) bias[i] = H(uni(g, -0.3f, 0.3f));
    out.fill(H(NAN));
    emu::launch({unsigned((c.frames + 15) / 16), 1, 1}, 256, [&] {
        hubert_cu::conv_wave_f16(out.p(), wav.p(), w.p(), c.bias ? bias.p() : nullptr, c.frames, c.channels, c.taps,
                                 c.stride);
    });
    for (int t = 0; t < c.frames; ++t)
        for (int o = 0; o < c.channels; ++o) {
            // out[t, o] = bias[o] + Σ_k w[o, k] · wav[t·stride + k], in f64.
            double want = c.bias ? F(bias[o]) : 0.0, magnitude = fabs(want);
            for (int k = 0; k < c.taps; ++k) {
                const double term = double(F(w[size_t(o) * c.taps + k])) * wav[size_t(t) * c.stride + k];
                want += term;
                magnitude += fabs(term);
            }
            // f32 accumulation over ≤ 16 taps (fmaf on both sides): under 1e-6 of Σ|terms|.
            check.near(F(out[size_t(t) * c.channels + o]), want, ulp16(want) + 1e-6 * magnitude);
        }
}

// ---- group_norm_time_gelu_f16: grid ceil(channels / 32), block 256, in place.
struct GroupNormCase {
    int frames, channels;
    float offset, spread;  // x = offset + uniform(-spread, spread)
};
const GroupNormCase kGroupNormCases[] = {
    {300, 512, 0, 2},   // frames not a multiple of the 8 row groups
    {300, 40, 20, 1},   // mean >> std: the centred two-pass variance matters; a partial channel block
    {7, 512, 20, 1},    // fewer frames than row groups
    {7, 40, 0, 2},
    {1, 512, 0, 2},     // one frame: variance 0, every output is gelu(beta)
    {1, 40, 20, 1},
};

void run_group_norm(const GroupNormCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const size_t n = size_t(c.frames) * c.channels;
    const float eps = 1e-5f;  // model::hubert::GROUP_NORM_EPS
    DevBuf<__half> x(n), gamma(c.channels), beta(c.channels);
    std::vector<double> xd(n);
    std::vector<float> gf(c.channels), bf(c.channels);
    for (size_t i = 0; i < n; ++i) {
        x[i] = H(c.offset + uni(g, -c.spread, c.spread));
        xd[i] = F(x[i]);
    }
    for (int i = 0; i < c.channels; ++i) {
        gamma[i] = H(uni(g, 0.7f, 1.3f));
        beta[i] = H(uni(g, -0.2f, 0.2f));
        gf[i] = F(gamma[i]);
        bf[i] = F(beta[i]);
    }
    emu::launch({unsigned((c.channels + 31) / 32), 1, 1}, 256, [&] {
        hubert_cu::group_norm_time_gelu_f16(x.p(), gamma.p(), beta.p(), c.frames, c.channels, eps);
    });
    const std::vector<double> normed = ref::group_norm_over_time(xd, c.frames, c.channels, gf, bf, eps);
    std::vector<double> mean(c.channels), scale(c.channels);
    for (int t = 0; t < c.frames; ++t)
        for (int k = 0; k < c.channels; ++k) mean[k] += xd[size_t(t) * c.channels + k] / c.frames;
    for (int t = 0; t < c.frames; ++t)
        for (int k = 0; k < c.channels; ++k) {
            const double d = xd[size_t(t) * c.channels + k] - mean[k];
            scale[k] += d * d / c.frames;
        }
    for (int k = 0; k < c.channels; ++k) scale[k] = gf[k] / sqrt(scale[k] + eps);
    for (size_t i = 0; i < n; ++i) {
        const int k = int(i % c.channels);
        const double want = ref::gelu(normed[i]);
        // The affine and GELU run in f32 after the f64 statistics (as on the CPU): the mean rounded
        // to f32 costs |mean|·|scale|·2^-24, the rest a few f32 ulp of |v| (erff within 2 ulp).
        const double slack = 1e-6 * (1 + fabs(normed[i]) + fabs(mean[k] * scale[k]));
        check.near(F(x[i]), want, ulp16(want) + slack);
    }
}

// ---- gather_groups_padded_f16: grid (frames + 2·pad, groups), block 64.
struct GatherCase {
    int frames, channels, groups, pad;
};
const GatherCase kGatherCases[] = {
    {5, 768, 16, 64},    // HuBERT's positional conv (cg 48, kernel 128): mostly padding
    {100, 768, 16, 64},
    {5, 6, 3, 2},        // small and odd: cg 2
    {9, 200, 2, 3},      // cg 100 > 64 threads: the stride loop
};

void run_gather(const GatherCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const int cg = c.channels / c.groups, rows = c.frames + 2 * c.pad;
    DevBuf<__half> x(size_t(c.frames) * c.channels), out(size_t(c.groups) * rows * cg);
    for (size_t i = 0; i < x.size(); ++i) x[i] = H(uni(g, -4, 4));
    out.fill(H(NAN));  // every element must be written, the padding with +0
    emu::launch({unsigned(rows), unsigned(c.groups), 1}, 64, [&] {
        hubert_cu::gather_groups_padded_f16(out.p(), x.p(), c.frames, c.channels, c.groups, c.pad);
    });
    const __half zero = H(0.0f);
    for (int gr = 0; gr < c.groups; ++gr)
        for (int r = 0; r < rows; ++r)
            for (int j = 0; j < cg; ++j) {
                const int t = r - c.pad;
                const __half want = t >= 0 && t < c.frames ? x[size_t(t) * c.channels + gr * cg + j] : zero;
                check.exact(out[(size_t(gr) * rows + r) * cg + j].bits, want.bits,
                            t >= 0 && t < c.frames ? "copied value" : "padding");
            }
}

}  // namespace

void hubert_suite(Runner& r) {
    for (const WaveCase& c : kWaveCases) {
        const std::string config = fmt("frames=%d channels=%d taps=%d stride=%d%s", c.frames, c.channels, c.taps,
                                       c.stride, c.bias ? " bias" : " no bias");
        r.run("conv_wave_f16", config, "1 ulp16 + 1e-6*sum|w*x|", [&](Check& check) { run_wave(c, config, check); });
    }
    for (const GroupNormCase& c : kGroupNormCases) {
        const std::string config =
            fmt("frames=%d channels=%d x~%g+-%g eps=1e-5", c.frames, c.channels, c.offset, c.spread);
        r.run("group_norm_time_gelu_f16", config, "1 ulp16 + 1e-6*(1+|v|+|mean*scale|)",
              [&](Check& check) { run_group_norm(c, config, check); });
    }
    for (const GatherCase& c : kGatherCases) {
        const std::string config = fmt("frames=%d channels=%d groups=%d (cg %d) pad=%d", c.frames, c.channels,
                                       c.groups, c.channels / c.groups, c.pad);
        r.run("gather_groups_padded_f16", config, "exact", [&](Check& check) { run_gather(c, config, check); });
    }
}
