// What the kernel tests share: guarded "device" buffers, f16 helpers, the per-case comparison
// accumulator (Check) and the Runner interface main.cpp implements.
#pragma once
#include <sys/mman.h>

#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda_fp16.h"

// FNV-1a: output hashes, case seeds.
inline uint64_t fnv1a(const void* p, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
    for (size_t i = 0; i < n; ++i) h = (h ^ ((const unsigned char*)p)[i]) * 0x100000001b3ull;
    return h;
}
inline uint64_t fnv1a(const std::string& s) { return fnv1a(s.data(), s.size()); }

inline __half H(float f) { return __float2half(f); }
inline float F(__half h) { return __half2float(h); }

// One unit in the last place of binary16 at |x| (the subnormal spacing below 2^-14).
inline double ulp16(double x) {
    const double a = fabs(x);
    if (a < 6.103515625e-05) return 5.9604644775390625e-08;
    int e;
    frexp(a, &e);  // a = m · 2^e with m in [0.5, 1)
    return ldexp(1.0, e - 11);
}

// A buffer standing in for device memory, 16-byte aligned, ending less than 16 bytes before a
// PROT_NONE page: a kernel reading or writing past the end crashes the run (the driver names the
// case). 0xA5 canaries fill the rest of its pages (a page in front, and the gap before the
// guard); a kernel that wrote over them is reported when the buffer is freed.
template <class T>
class DevBuf {
  public:
    explicit DevBuf(size_t n) : n_(n) {
        const size_t page = 4096, bytes = n * sizeof(T), body = (bytes + 15) & ~size_t(15);
        const size_t pages = (body + page - 1) / page + 1;
        map_len_ = (pages + 1) * page;
        base_ = (char*)mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base_ == MAP_FAILED) {
            perror("mmap");
            abort();
        }
        mprotect(base_ + pages * page, page, PROT_NONE);
        memset(base_, 0xa5, pages * page);
        p_ = (T*)(base_ + pages * page - body);
        gap_end_ = base_ + pages * page;
    }
    ~DevBuf() {
        check_canaries();
        munmap(base_, map_len_);
    }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;

    T* p() { return p_; }
    size_t size() const { return n_; }
    T& operator[](size_t i) { return p_[i]; }
    void fill(T v) { std::fill(p_, p_ + n_, v); }
    // Buffers freed at the end of a case are checked then; long-lived ones should call this.
    void check_canaries() const {
        const auto intact = [](const char* b, const char* e) {
            return std::all_of(b, e, [](char c) { return (unsigned char)c == 0xa5; });
        };
        if (!intact(base_, (const char*)p_) || !intact((const char*)(p_ + n_), gap_end_))
            emu::fault("a kernel wrote outside a buffer (canary overwritten)");
    }

  private:
    size_t n_, map_len_;
    char *base_, *gap_end_;
    T* p_;
};

// The comparisons of one case. `near` checks |got - ref| <= tol; `exact` checks bit equality.
// Every value the kernel produced passes through here, so `hash` identifies the kernel's output
// (the driver compares it across schedules).
class Check {
  public:
    void near(double got, double ref, double tol) {
        mix(&got, sizeof got);
        const double err = fabs(got - ref);
        ++checked;
        max_err = std::max(max_err, err);
        if (tol > 0) worst = std::max(worst, err / tol);
        if (!(err <= tol)) fail("got %.8g, want %.8g (tolerance %.3g)", got, ref, tol);  // NaN fails too
    }
    template <class T>
    void exact(const T& got, const T& ref, const char* what) {
        mix(&got, sizeof got);
        ++checked;
        if (memcmp(&got, &ref, sizeof got) != 0) fail("%s differs", what);
    }
    // A failure that is not one compared value (a broken invariant).
    template <class... A>
    void fail(const char* format, A... args) {
        if (++failed <= 3) {
            char buf[256];
            snprintf(buf, sizeof buf, format, args...);
            notes += (notes.empty() ? "" : "; ") + std::string(buf);
        }
    }

    double max_err = 0;  // largest |got - ref| of the `near` checks
    double worst = 0;    // largest |got - ref| / tolerance (passing: <= 1)
    long checked = 0, failed = 0;
    uint64_t hash = fnv1a(nullptr, 0);
    std::string notes;

  private:
    void mix(const void* p, size_t n) { hash = fnv1a(p, n, hash); }
};

// Runs one case: `kernel` is the entry point (or group) tested, `config` its parameters,
// `tolerance` how `near` tolerances are set (shown in the report). Cases run in the order they
// are given and may share state (a decode sequence), so a suite runs whole or not at all.
class Runner {
  public:
    virtual void run(const std::string& kernel, const std::string& config, const std::string& tolerance,
                     const std::function<void(Check&)>& body) = 0;

  protected:
    ~Runner() = default;
};

// Test data: a generator seeded from the case's configuration, so a case's data does not depend
// on which cases ran before it; `uni` is uniform in [lo, hi).
inline std::mt19937 data_rng(const std::string& key) { return std::mt19937(uint32_t(fnv1a(key))); }
inline float uni(std::mt19937& g, float lo, float hi) {
    return lo + (hi - lo) * float(g() >> 8) * (1.0f / 16777216.0f);
}

// printf into a std::string (case configurations).
template <class... A>
std::string fmt(const char* format, A... args) {
    std::string out(size_t(snprintf(nullptr, 0, format, args...)), '\0');
    snprintf(&out[0], out.size() + 1, format, args...);
    return out;
}

// The suites, one per kernel file (each in its own translation unit: the .cu files define
// helpers with the same names, e.g. block_sum, so they cannot share one).
void norm_suite(Runner& r);
void linear_suite(Runner& r);
void attention_suite(Runner& r);
void embed_suite(Runner& r);
void sampling_suite(Runner& r);
void hubert_suite(Runner& r);
