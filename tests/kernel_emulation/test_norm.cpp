// kernels/norm.cu: add_layer_norm_f16 against cpu::ops::layer_norm_slice of x + residual.
#include "harness.h"
#include "reference.h"

namespace norm_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "norm.cu"
}

namespace {

enum class Residual { Separate, Absent, InPlace };  // InPlace: out == residual, as the blocks call it
const char* const kResidualNames[] = {"residual", "no residual", "out=residual"};

struct NormCase {
    int rows, cols;
    Residual residual;
    float eps, offset;  // offset: added to x, so the rows have a large mean
};
const NormCase kCases[] = {
    {3, 512, Residual::Separate, 1e-5f, 0},  // the GPT's width
    {3, 512, Residual::Absent, 1e-5f, 0},
    {2, 512, Residual::InPlace, 1e-5f, 8},
    {2, 1024, Residual::InPlace, 1e-12f, 0},  // BERT's
    {4, 1024, Residual::Absent, 1e-12f, 30},  // mean >> std: the centred variance matters
    {2, 300, Residual::Separate, 1e-5f, 0},   // not a multiple of the block (256 threads)
    {2, 100, Residual::InPlace, 1e-5f, 0},    // fewer columns than threads
    {2, 33, Residual::Separate, 1e-5f, 0},
    {1, 1, Residual::Absent, 1e-5f, 0},  // variance 0
};

void run_case(const NormCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const size_t n = size_t(c.rows) * c.cols;
    DevBuf<__half> x(n), residual(n), out(n), gamma(c.cols), beta(c.cols);
    std::vector<float> xf(n), rf(n), gf(c.cols), bf(c.cols);
    for (size_t i = 0; i < n; ++i) {
        x[i] = H(c.offset + uni(g, -2, 2));
        residual[i] = H(uni(g, -1, 1));
        xf[i] = F(x[i]);
        rf[i] = F(residual[i]);
    }
    for (int i = 0; i < c.cols; ++i) {
        gamma[i] = H(uni(g, 0.7f, 1.3f));
        beta[i] = H(uni(g, -0.2f, 0.2f));
        gf[i] = F(gamma[i]);
        bf[i] = F(beta[i]);
    }
    out.fill(H(NAN));
    __half* o = c.residual == Residual::InPlace ? residual.p() : out.p();
    const __half* r = c.residual == Residual::Absent ? nullptr : residual.p();
    emu::launch({unsigned(c.rows), 1, 1}, 256,
                [&] { norm_cu::add_layer_norm_f16(o, x.p(), r, gamma.p(), beta.p(), c.rows, c.cols, c.eps); });
    for (int row = 0; row < c.rows; ++row) {
        std::vector<double> v(c.cols);
        double mean = 0, var = 0;
        for (int k = 0; k < c.cols; ++k) {
            const size_t i = size_t(row) * c.cols + k;
            v[k] = c.residual == Residual::Absent ? xf[i] : xf[i] + rf[i];  // the f32 sum, as both do it
            mean += v[k] / c.cols;
        }
        for (double e : v) var += (e - mean) * (e - mean) / c.cols;
        const std::vector<double> want = ref::layer_norm(v, gf, bf, c.eps);
        // f32 statistics: the error of (v - mean) grows with |mean| / std (and |gamma| <= 1.3).
        const double slack = 1.3e-5 * (1 + fabs(mean) / sqrt(var + c.eps));
        for (int k = 0; k < c.cols; ++k)
            check.near(F(o[size_t(row) * c.cols + k]), want[k], ulp16(want[k]) + slack);
    }
}

}  // namespace

void norm_suite(Runner& r) {
    for (const NormCase& c : kCases) {
        const std::string config = fmt("rows=%d cols=%d %s eps=%g mean~%g", c.rows, c.cols,
                                       kResidualNames[int(c.residual)], c.eps, c.offset);
        r.run("add_layer_norm_f16", config, "1 ulp16 + 1.3e-5*(1 + |mean|/std)",
              [&](Check& check) { run_case(c, config, check); });
    }
}
