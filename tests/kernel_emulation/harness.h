// What the driver shares with the entry-point registry: guarded "device" buffers, the per-case
// comparison accumulator (Check) and small string helpers.
#pragma once
#include <sys/mman.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "cuda_fp16.h"

// FNV-1a: output hashes, case seeds.
inline uint64_t fnv1a(const void* p, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
    for (size_t i = 0; i < n; ++i) h = (h ^ ((const unsigned char*)p)[i]) * 0x100000001b3ull;
    return h;
}
inline uint64_t fnv1a(const std::string& s) { return fnv1a(s.data(), s.size()); }

// A buffer standing in for device memory, 16-byte aligned, ending less than 16 bytes before a
// PROT_NONE page: a kernel reading or writing past the end crashes the run (the driver names the
// case). 0xA5 canaries fill the rest of its pages (a page in front, and the gap before the
// guard); a kernel that wrote over them is reported when the buffer is freed.
class DevBuf {
  public:
    explicit DevBuf(size_t bytes) : bytes_(bytes) {
        const size_t page = 4096, body = (bytes + 15) & ~size_t(15);
        const size_t pages = (body + page - 1) / page + 1;
        map_len_ = (pages + 1) * page;
        base_ = (unsigned char*)mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base_ == MAP_FAILED) {
            perror("mmap");
            abort();
        }
        mprotect(base_ + pages * page, page, PROT_NONE);
        memset(base_, 0xa5, pages * page);
        p_ = base_ + pages * page - body;
        gap_end_ = base_ + pages * page;
    }
    ~DevBuf() {
        const auto intact = [](const unsigned char* b, const unsigned char* e) {
            return std::all_of(b, e, [](unsigned char c) { return c == 0xa5; });
        };
        if (!intact(base_, p_) || !intact(p_ + bytes_, gap_end_))
            emu::fault("a kernel wrote outside a buffer (canary overwritten)");
        munmap(base_, map_len_);
    }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;

    unsigned char* p() const { return p_; }
    size_t bytes() const { return bytes_; }

  private:
    size_t bytes_, map_len_;
    unsigned char *base_, *gap_end_, *p_;
};

// One element of a safetensors dtype, readable in a failure note.
inline std::string describe_element(const std::string& dtype, const unsigned char* p) {
    char out[64];
    if (dtype == "F16") {
        __half h;
        memcpy(&h, p, 2);
        snprintf(out, sizeof out, "%.8g (0x%04x)", __half2float(h), h.bits);
    } else if (dtype == "F32" || dtype == "I32" || dtype == "U32") {
        uint32_t u;
        memcpy(&u, p, 4);
        float f;
        memcpy(&f, p, 4);
        if (dtype == "F32") snprintf(out, sizeof out, "%.9g", f);
        else if (dtype == "I32") snprintf(out, sizeof out, "%d", int32_t(u));
        else snprintf(out, sizeof out, "%u", u);
    } else if (dtype == "F64" || dtype == "U64") {
        uint64_t u;
        memcpy(&u, p, 8);
        double d;
        memcpy(&d, p, 8);
        if (dtype == "F64") snprintf(out, sizeof out, "%.17g", d);
        else snprintf(out, sizeof out, "%llu", (unsigned long long)u);
    } else {
        snprintf(out, sizeof out, "0x%02x", *p);
    }
    return out;
}

// The comparisons of one case: `near` checks |got - want| <= tol (a NaN `want`: got must be
// NaN, an element never written), `exact` checks bit equality. Every value the kernels produced
// passes through here, so `hash` identifies their output (the driver compares it across
// schedules). Failure notes name the buffer and element.
class Check {
  public:
    void near(double got, double want, double tol, const std::string& buffer, size_t i) {
        mix(&got, sizeof got);
        ++checked;
        ++near_checked;
        if (std::isnan(want)) {
            if (!std::isnan(got)) fail("%s[%zu] = %.8g, want NaN (never written)", buffer.c_str(), i, got);
            return;
        }
        const double err = fabs(got - want);
        max_err = std::max(max_err, err);
        if (tol > 0) worst = std::max(worst, err / tol);
        if (!(err <= tol)) fail("%s[%zu] = %.8g, want %.8g (tolerance %.3g)", buffer.c_str(), i, got, want, tol);
    }
    // One element of `dtype`, bit for bit.
    void exact(const unsigned char* got, const unsigned char* want, const std::string& dtype, size_t size,
               const std::string& buffer, size_t i) {
        mix(got, size);
        ++checked;
        if (memcmp(got, want, size) != 0)
            fail("%s[%zu] = %s, want %s", buffer.c_str(), i, describe_element(dtype, got).c_str(),
                 describe_element(dtype, want).c_str());
    }
    // A failure that is not one compared value (a bad case file, a launch that cannot run).
    template <class... A>
    void fail(const char* format, A... args) {
        if (++failed <= 3) {
            char buf[512];
            snprintf(buf, sizeof buf, format, args...);
            notes += (notes.empty() ? "" : "; ") + std::string(buf);
        }
    }

    double max_err = 0;  // largest |got - want| of the `near` checks
    double worst = 0;    // largest |got - want| / tolerance (passing: <= 1)
    long checked = 0, near_checked = 0, failed = 0;
    uint64_t hash = fnv1a(nullptr, 0);
    std::string notes;

  private:
    void mix(const void* p, size_t n) { hash = fnv1a(p, n, hash); }
};

// printf into a std::string.
template <class... A>
std::string fmt(const char* format, A... args) {
    std::string out(size_t(snprintf(nullptr, 0, format, args...)), '\0');
    snprintf(&out[0], out.size() + 1, format, args...);
    return out;
}
