// The fiber scheduler, the warp collectives and the mma.sync emulation behind emu.h.
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cuda_fp16.h"

dim3 threadIdx, blockIdx, blockDim, gridDim;

// Bounds of the "emu_shared" section, where every __shared__ variable lives (GNU ld provides
// __start_/__stop_ symbols for sections named like C identifiers). The anchor makes sure the
// section exists even in a build without shared memory.
extern "C" char __start_emu_shared[], __stop_emu_shared[];
__attribute__((section("emu_shared"), used)) static char shared_anchor[16];

// Context switch (x86-64 System V): pushes the callee-saved registers on the current stack,
// saves the stack pointer to *save_sp, loads new_sp and pops that context's registers; `ret`
// resumes it. Floating-point control state (MXCSR, x87 control word) is shared by all fibers.
extern "C" void emu_switch(void** save_sp, void* new_sp);
asm(R"(
    .text
    .globl emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");

namespace emu {
namespace {

constexpr unsigned kWarp = 32, kMaxThreads = 1024, kMaxWarps = kMaxThreads / kWarp;
constexpr size_t kStack = 64 * 1024, kGuard = 4096;  // per fiber; a guard page below each stack

enum class State : uint8_t { Runnable, AtBlockBarrier, AtWarpCollective, Exited };
struct Fiber {
    void* sp;
    State state;
    uint32_t collective;  // at a warp collective: which one (kind, phase, shuffle offset)
};
// Collective tags: a warp's lanes must all wait at the same one.
constexpr uint32_t kShuffle = 1u << 16, kMma = 2u << 16, kShuffleIndexed = 3u << 16, kSecondPhase = 1u << 8;

std::vector<Fiber> fibers;
unsigned current;  // the running fiber's thread index
void* scheduler_sp;
const std::function<void()>* kernel_body;
Schedule schedule = Schedule::Ascending;
std::mt19937_64 rng;
std::string faults;
int fault_count = 0;

void suspend(State s, uint32_t collective = 0) {
    fibers[current].state = s;
    fibers[current].collective = collective;
    emu_switch(&fibers[current].sp, scheduler_sp);
}

[[noreturn]] void fiber_entry() {
    (*kernel_body)();
    suspend(State::Exited);
    abort();  // an exited fiber is never resumed
}

char* fiber_stacks() {
    static char* stacks = [] {
        const size_t each = kStack + kGuard;
        void* p = mmap(nullptr, each * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap fiber stacks");
            abort();
        }
        for (unsigned t = 0; t < kMaxThreads; ++t) mprotect((char*)p + each * t, kGuard, PROT_NONE);
        return (char*)p;
    }();
    return stacks;
}

// A fresh fiber whose first switch enters fiber_entry with the stack aligned as after a call.
void* new_fiber_stack(unsigned t) {
    char* top = fiber_stacks() + (kStack + kGuard) * (t + 1);
    void** sp = (void**)top;
    *--sp = nullptr;                  // fiber_entry's (never used) return address
    *--sp = (void*)&fiber_entry;      // popped by emu_switch's `ret`
    for (int i = 0; i < 6; ++i) *--sp = nullptr;  // rbp rbx r12 r13 r14 r15
    return sp;
}

// Puts threads or blocks in the schedule's order (they come in ascending order).
template <class T>
void arrange(std::vector<T>& items) {
    if (schedule == Schedule::Descending) std::reverse(items.begin(), items.end());
    if (schedule == Schedule::Random || schedule == Schedule::SlowedWarps)
        std::shuffle(items.begin(), items.end(), rng);
}

// Releases the warps whose lanes all reached a collective, then the block barrier once every
// live thread reached it. Returns whether anything was released.
bool release_barriers(unsigned n) {
    bool released = false;
    unsigned at_block = 0, exited = 0;
    for (unsigned w = 0; w < n / kWarp; ++w) {
        Fiber* lanes = &fibers[w * kWarp];
        unsigned waiting = 0, gone = 0;
        bool same = true;  // every waiting lane at the same collective
        const Fiber* first = nullptr;
        for (unsigned l = 0; l < kWarp; ++l) {
            waiting += lanes[l].state == State::AtWarpCollective;
            gone += lanes[l].state == State::Exited;
            at_block += lanes[l].state == State::AtBlockBarrier;
            if (lanes[l].state != State::AtWarpCollective) continue;
            if (!first) first = &lanes[l];
            same &= lanes[l].collective == first->collective;
        }
        exited += gone;
        if (waiting == 0 || waiting + gone < kWarp) continue;  // lanes still to come (or never: deadlock)
        if (gone > 0) fault("warp collective with exited lanes (undefined on the device)");
        if (!same) fault("divergent warp: lanes at different collectives (or shuffle offsets)");
        for (unsigned l = 0; l < kWarp; ++l)
            if (lanes[l].state == State::AtWarpCollective) lanes[l].state = State::Runnable;
        released = true;
    }
    if (at_block > 0 && at_block + exited == n) {
        for (auto& f : fibers)
            if (f.state == State::AtBlockBarrier) f.state = State::Runnable;
        released = true;
    }
    return released;
}

void run_block(unsigned n) {
    memset(__start_emu_shared, 0xff, size_t(__stop_emu_shared - __start_emu_shared));
    fibers.assign(n, Fiber{nullptr, State::Runnable, 0});
    for (unsigned t = 0; t < n; ++t) fibers[t].sp = new_fiber_stack(t);
    // SlowedWarps: each warp gets a speed, the chance that it runs in a given pass.
    static constexpr double kSpeeds[] = {0.02, 0.2, 1.0};
    double speed[kMaxWarps];
    for (unsigned w = 0; w < n / kWarp; ++w) speed[w] = kSpeeds[rng() % 3];
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    std::vector<unsigned> order;
    for (;;) {
        bool go[kMaxWarps];
        for (unsigned w = 0; w < n / kWarp; ++w) go[w] = schedule != Schedule::SlowedWarps || coin(rng) < speed[w];
        order.clear();
        for (unsigned t = 0; t < n; ++t)
            if (fibers[t].state == State::Runnable && go[t / kWarp]) order.push_back(t);
        if (order.empty())  // no selected warp could run: let the first runnable thread's warp run
            for (unsigned t = 0; t < n; ++t)
                if (fibers[t].state == State::Runnable) {
                    for (unsigned l = t; l < (t / kWarp + 1) * kWarp; ++l)
                        if (fibers[l].state == State::Runnable) order.push_back(l);
                    break;
                }
        arrange(order);
        for (unsigned t : order) {
            current = t;
            threadIdx = dim3{t, 0, 0};
            emu_switch(&scheduler_sp, fibers[t].sp);
        }
        const bool released = release_barriers(n);
        if (std::all_of(fibers.begin(), fibers.end(), [](const Fiber& f) { return f.state == State::Exited; })) return;
        if (order.empty() && !released) {
            fault("deadlock: threads wait at barriers that can never complete (block abandoned)");
            return;
        }
    }
}

// ---- mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
//
// PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type": with groupID = lane >> 2
// and threadID_in_group = lane % 4, a lane holds
//   A (16×16 f16, row-major): a0..a7 in 4 .f16x2 registers (a_2r in the low half of register r)
//     row = groupID for a0, a1, a4, a5 and groupID + 8 for a2, a3, a6, a7
//     col = threadID_in_group·2 + (i & 1), plus 8 for i >= 4
//   B (16×8 f16, column-major): b0..b3 in 2 .f16x2 registers
//     row = threadID_in_group·2 + (i & 1), plus 8 for i >= 2;  col = groupID
//   C, D (16×8 f32): c0..c3 in 4 registers
//     row = groupID for c0, c1 and groupID + 8 for c2, c3;  col = threadID_in_group·2 + (i & 1)
struct Cell {
    int row, col;
};
Cell a_cell(unsigned lane, int i) {
    return {int(lane >> 2) + 8 * ((i >> 1) & 1), int(lane % 4) * 2 + (i & 1) + 8 * (i >> 2)};
}
Cell b_cell(unsigned lane, int i) { return {int(lane % 4) * 2 + (i & 1) + 8 * (i >> 1), int(lane >> 2)}; }
Cell c_cell(unsigned lane, int i) { return {int(lane >> 2) + 8 * (i >> 1), int(lane % 4) * 2 + (i & 1)}; }

// The three maps must cover their matrices exactly once (a guard against editing mistakes here).
bool mma_layouts_are_bijective() {
    int a[16][16] = {}, b[16][8] = {}, c[16][8] = {};
    for (unsigned lane = 0; lane < kWarp; ++lane) {
        for (int i = 0; i < 8; ++i) a[a_cell(lane, i).row][a_cell(lane, i).col]++;
        for (int i = 0; i < 4; ++i) b[b_cell(lane, i).row][b_cell(lane, i).col]++;
        for (int i = 0; i < 4; ++i) c[c_cell(lane, i).row][c_cell(lane, i).col]++;
    }
    bool ok = true;
    for (int r = 0; r < 16; ++r)
        for (int k = 0; k < 16; ++k) ok &= a[r][k] == 1 && (k >= 8 || (b[r][k] == 1 && c[r][k] == 1));
    return ok;
}

// The asm statement this emulates, compared with whitespace and quotes removed (so re-wrapping
// the source does not matter, but any change to the instruction or its operands does).
const char* const kMmaAsm =
    R"(mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32{%0,%1,%2,%3},{%4,%5,%6,%7},{%8,%9},{%0,%1,%2,%3};\n)"
    R"(:+f(d[0]),+f(d[1]),+f(d[2]),+f(d[3]):r(a[0]),r(a[1]),r(a[2]),r(a[3]),r(b[0]),r(b[1]))";

std::string squeeze(const char* s) {
    std::string out;
    for (; *s; ++s)
        if (!isspace((unsigned char)*s) && *s != '"') out += *s;
    return out;
}

struct MmaLane {
    unsigned a[4], b[2];
    float c[4];
};
MmaLane mma_in[kMaxWarps][kWarp];
float mma_d[kMaxWarps][16][8];
bool mma_done[kMaxWarps];

float half_of(unsigned reg, int i) { return __half2float(__half{uint16_t(i % 2 ? reg >> 16 : reg & 0xffff)}); }

void mma_compute(unsigned w) {
    float A[16][16], B[16][8], C[16][8];
    for (unsigned lane = 0; lane < kWarp; ++lane) {
        const MmaLane& in = mma_in[w][lane];
        for (int i = 0; i < 8; ++i) A[a_cell(lane, i).row][a_cell(lane, i).col] = half_of(in.a[i / 2], i);
        for (int i = 0; i < 4; ++i) B[b_cell(lane, i).row][b_cell(lane, i).col] = half_of(in.b[i / 2], i);
        for (int i = 0; i < 4; ++i) C[c_cell(lane, i).row][c_cell(lane, i).col] = in.c[i];
    }
    for (int r = 0; r < 16; ++r)
        for (int n = 0; n < 8; ++n) {
            double s = C[r][n];
            for (int k = 0; k < 16; ++k) s += double(A[r][k]) * B[k][n];  // products of halves are exact
            mma_d[w][r][n] = float(s);
        }
}

}  // namespace

const char* schedule_name(Schedule s) {
    switch (s) {
        case Schedule::Ascending: return "ascending";
        case Schedule::Descending: return "descending";
        case Schedule::Random: return "random";
        case Schedule::SlowedWarps: return "slowed warps";
    }
    return "?";
}

void reset(Schedule s, uint64_t seed) {
    schedule = s;
    rng.seed(seed);
}

void launch(dim3 grid, unsigned block, const std::function<void()>& kernel_call) {
    if (block == 0 || block % kWarp != 0 || block > kMaxThreads) {
        fault("launch: block of " + std::to_string(block) + " threads (the emulator needs whole warps, at most 1024)");
        return;
    }
    gridDim = grid;
    blockDim = dim3{block, 1, 1};
    kernel_body = &kernel_call;
    std::vector<dim3> blocks;
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) blocks.push_back(dim3{x, y, z});
    arrange(blocks);
    for (const dim3& b : blocks) {
        blockIdx = b;
        run_block(block);
    }
}

void fault(const std::string& what) {
    if (fault_count++ < 3) faults += (faults.empty() ? "" : "; ") + what;
}

std::string take_faults() {
    std::string out = faults;
    if (fault_count > 3) out += "; " + std::to_string(fault_count - 3) + " more";
    faults.clear();
    fault_count = 0;
    return out;
}

void sync_block() { suspend(State::AtBlockBarrier); }

uint64_t shfl_xor(unsigned mask, uint64_t bits, int lane_mask) {
    static uint64_t exchange[kMaxWarps][kWarp];
    if (mask != 0xffffffffu) fault("__shfl_xor_sync with a partial mask (not emulated)");
    const unsigned w = current / kWarp, lane = current % kWarp, src = lane ^ unsigned(lane_mask);
    const uint32_t tag = kShuffle | (unsigned(lane_mask) & 0xff);
    exchange[w][lane] = bits;
    suspend(State::AtWarpCollective, tag);
    const uint64_t out = src < kWarp ? exchange[w][src] : bits;
    suspend(State::AtWarpCollective, tag | kSecondPhase);  // every lane has read before any rewrites
    return out;
}

uint64_t shfl_idx(unsigned mask, uint64_t bits, int src_lane) {
    static uint64_t exchange[kMaxWarps][kWarp];
    if (mask != 0xffffffffu) fault("__shfl_sync with a partial mask (not emulated)");
    const unsigned w = current / kWarp, lane = current % kWarp;
    exchange[w][lane] = bits;
    suspend(State::AtWarpCollective, kShuffleIndexed);  // lanes may read different sources
    const uint64_t out = exchange[w][unsigned(src_lane) % kWarp];  // CUDA takes srcLane modulo the width
    suspend(State::AtWarpCollective, kShuffleIndexed | kSecondPhase);
    return out;
}

void mma_m16n8k16_f32_f16(const char* asm_text, float* d, const unsigned* a, const unsigned* b) {
    static const bool layouts_ok = mma_layouts_are_bijective();
    static const char* verified = nullptr;  // the asm text already compared
    if (!layouts_ok) fault("mma emulation: fragment maps are not bijective");
    if (asm_text != verified) {
        if (squeeze(asm_text) != kMmaAsm) fault(std::string("mma emulation does not implement: ") + asm_text);
        verified = asm_text;
    }
    const unsigned w = current / kWarp, lane = current % kWarp;
    MmaLane& in = mma_in[w][lane];
    std::copy(a, a + 4, in.a);
    std::copy(b, b + 2, in.b);
    std::copy(d, d + 4, in.c);
    mma_done[w] = false;
    suspend(State::AtWarpCollective, kMma);
    if (!mma_done[w]) {  // the first lane to resume computes the warp's product
        mma_compute(w);
        mma_done[w] = true;
    }
    for (int i = 0; i < 4; ++i) d[i] = mma_d[w][c_cell(lane, i).row][c_cell(lane, i).col];
    suspend(State::AtWarpCollective, kMma | kSecondPhase);  // every lane has its D before the next deposit
}

}  // namespace emu
