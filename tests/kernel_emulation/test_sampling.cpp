// kernels/sampling.cu: sample_tokens_f32 against model::t2s::Decoder::step (penalty, top-p,
// temperature, top-k, softmax, exponential race, EOS rule) with the slot bookkeeping the kernel
// does on the device, and its Philox generator against model::rng (and Random123's known answers).
#include "harness.h"
#include "reference.h"

namespace sampling_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "sampling.cu"
}
using sampling_cu::SamplerSlot;

namespace {

const int kEosBlockedSteps = 11;  // model::t2s::EOS_BLOCKED_STEPS
const int kHistoryCap = 64;       // the history row of a slot (max_context on the device)

enum class Logits {
    Spread,       // uniform in [-4, 4)
    Peaked,       // uniform in [-16, 16): a few tokens dominate
    Integers,     // integers in [-4, 4] with some -0.0: ties, signed zeros
    EosFavoured,  // Spread, and EOS at 50
    SomeMasked,   // Spread, every third entry -inf
    AllMasked,    // every entry -inf
};
const char* const kLogitsNames[] = {"", " peaked", " integers", " eos=50", " 1/3 -inf", " all -inf"};

struct SamplerCase {
    int vocab, threads, rows;  // rows: batch rows, each on its own slot
    int top_k;
    float top_p, temperature, penalty;
    int step, history_len;  // the slots' state before the step
    Logits logits;
};
const SamplerCase kCases[] = {
    {1025, 1024, 3, 15, 1.0f, 1.0f, 1.35f, 20, 40, Logits::Spread},         // upstream's defaults
    {1025, 1024, 2, 15, 1.0f, 1.0f, 1.35f, 3, 40, Logits::EosFavoured},     // EOS blocked (step < 11)
    {1025, 1024, 2, 15, 1.0f, 1.0f, 1.35f, 11, 40, Logits::EosFavoured},    // EOS allowed from step 11
    {1025, 1024, 2, 1, 1.0f, 1.0f, 1.35f, 30, 40, Logits::Integers},        // greedy, with ties
    {1025, 1024, 2, 1030, 0.8f, 1.0f, 1.35f, 12, 40, Logits::Spread},       // top-p; top-k > V keeps all
    {1025, 1024, 2, 20, 0.5f, 0.7f, 1.35f, 40, 40, Logits::Peaked},         // top-p and top-k
    {1025, 1024, 2, 50, 0.9f, 1e-7f, 1.35f, 40, 40, Logits::Integers},      // temperature below 1e-5
    {1025, 1024, 2, 15, 1.0f, 1.0f, 1.35f, 500, kHistoryCap, Logits::Spread},  // full history row
    {1025, 1024, 2, 15, 0.95f, 1.0f, 1.0f, 20, 40, Logits::Spread},         // no penalty
    {1025, 1024, 2, 100, 0.9f, 1.2f, 1.35f, 20, 40, Logits::SomeMasked},
    {1025, 1024, 1, 15, 0.9f, 1.0f, 1.35f, 20, 40, Logits::AllMasked},
    {2048, 1024, 2, 1000, 0.95f, 1.0f, 1.35f, 20, 40, Logits::Peaked},      // the largest vocabulary
    {2, 1024, 2, 15, 1.0f, 1.0f, 1.35f, 0, 5, Logits::Spread},              // EOS blocked: width 1
    {3, 1024, 2, 2, 0.6f, 1.0f, 1.35f, 20, 5, Logits::Integers},
    {1025, 32, 2, 50, 0.9f, 0.8f, 1.35f, 20, 40, Logits::Spread},           // one warp
    {1025, 96, 2, 30, 0.7f, 1.0f, 1.35f, 20, 40, Logits::Integers},
};

std::vector<float> make_logits(Logits kind, int V, std::mt19937& g) {
    std::vector<float> l(V);
    for (float& x : l) {
        switch (kind) {
            case Logits::Peaked: x = uni(g, -16, 16); break;
            case Logits::Integers: x = g() % 20 == 0 ? -0.0f : float(int(g() % 9) - 4); break;
            case Logits::AllMasked: x = -INFINITY; break;
            default: x = uni(g, -4, 4);
        }
    }
    if (kind == Logits::EosFavoured) l[V - 1] = 50.0f;
    if (kind == Logits::SomeMasked)
        for (int v = 0; v < V; v += 3) l[v] = -INFINITY;
    return l;
}

void run_case(const SamplerCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const int V = c.vocab, n_slots = c.rows + 1;  // one slot outside the batch must stay untouched
    DevBuf<float> logits(size_t(c.rows) * V), probs(size_t(c.rows) * V);
    DevBuf<int> row_slot(c.rows), history(size_t(n_slots) * kHistoryCap), tokens(c.rows), eos(c.rows);
    DevBuf<SamplerSlot> slots(n_slots);
    for (int s = 0; s < n_slots; ++s) {
        const uint64_t high = g(), seed = high << 32 | g();
        slots[s] = SamplerSlot{seed, c.top_k, c.top_p, c.temperature, c.penalty, c.step, c.history_len};
        // Never EOS; every other entry among the first 8 ids, so some tokens repeat (penalised once).
        for (int i = 0; i < kHistoryCap; ++i)
            history[size_t(s) * kHistoryCap + i] = int(g() % (i % 2 ? V - 1 : std::min(8, V - 1)));
    }
    std::vector<int> order(n_slots);
    for (int s = 0; s < n_slots; ++s) order[s] = s;
    std::shuffle(order.begin(), order.end(), g);
    for (int b = 0; b < c.rows; ++b) {
        row_slot[b] = order[b];
        const std::vector<float> row = make_logits(c.logits, V, g);
        std::copy(row.begin(), row.end(), &logits[size_t(b) * V]);
    }
    probs.fill(NAN);
    tokens.fill(-1);
    eos.fill(-1);
    const std::vector<SamplerSlot> slots0(slots.p(), slots.p() + n_slots);
    const std::vector<int> history0(history.p(), history.p() + history.size());
    emu::launch({unsigned(c.rows), 1, 1}, unsigned(c.threads), [&] {
        sampling_cu::sample_tokens_f32(logits.p(), V, row_slot.p(), slots.p(), history.p(), kHistoryCap,
                                       kEosBlockedSteps, tokens.p(), eos.p(), probs.p());
    });

    std::vector<int> expected_history = history0;
    std::vector<SamplerSlot> expected_slots = slots0;
    for (int b = 0; b < c.rows; ++b) {
        const int s = row_slot[b];
        const SamplerSlot& before = slots0[s];
        const std::vector<int> previous(&history0[size_t(s) * kHistoryCap],
                                        &history0[size_t(s) * kHistoryCap] + std::min(before.history_len, kHistoryCap));
        const ref::Sampled want =
            ref::decoder_step(&logits[size_t(b) * V], V, {before.seed, c.top_k, c.top_p, c.temperature, c.penalty},
                              before.step, previous, kEosBlockedSteps);
        check.exact(tokens[b], want.token, "token");
        check.exact(eos[b], int(want.eos), "eos");
        for (int v = 0; v < V; ++v) check.near(probs[size_t(b) * V + v], want.probs[v], 2e-5 * want.probs[v]);
        // The kernel appends the token to the slot's history (while there is room) and counts the step.
        if (before.history_len < kHistoryCap) {
            expected_history[size_t(s) * kHistoryCap + before.history_len] = want.token;
            expected_slots[s].history_len = before.history_len + 1;
        }
        expected_slots[s].step = before.step + 1;
    }
    for (int s = 0; s < n_slots; ++s) check.exact(slots[s], expected_slots[s], "slot");  // 32 bytes, no padding
    for (size_t i = 0; i < history.size(); ++i) check.exact(history[i], expected_history[i], "history");
}

// Philox4x32-10 on the device against Random123's known answers (the vectors
// model::rng::tests::philox_known_answers pins the CPU to) and philox_uniform against
// model::rng::uniform.
void run_philox(Check& check) {
    struct Known {
        uint32_t counter[4], key[2], out[4];
    };
    const Known known[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    };
    for (const Known& k : known) {
        const uint4 got = sampling_cu::philox4x32(make_uint4(k.counter[0], k.counter[1], k.counter[2], k.counter[3]),
                                                  k.key[0], k.key[1]);
        uint32_t cpu[4];
        ref::philox4x32(k.counter, k.key, cpu);
        for (int i = 0; i < 4; ++i) {
            check.exact((&got.x)[i], k.out[i], "philox4x32 vs Random123");
            check.exact(cpu[i], k.out[i], "ref::philox4x32 vs Random123");
        }
    }
    std::mt19937_64 g(7);
    for (int i = 0; i < 2000; ++i) {
        const uint64_t seed = g();
        const unsigned step = unsigned(g() % 1500), index = unsigned(g() % 2048);
        check.exact(sampling_cu::philox_uniform(seed, PURPOSE_SAMPLING, step, index),
                    ref::uniform(seed, PURPOSE_SAMPLING, step, index), "philox_uniform");
    }
}

// A seeded sweep of random settings, on top of the table's chosen ones.
std::vector<SamplerCase> random_cases(int n) {
    std::mt19937 g(2024);
    std::vector<SamplerCase> out;
    for (int i = 0; i < n; ++i) {
        SamplerCase c;
        c.vocab = 2 + int(g() % 2047);
        c.threads = 32 << (g() % 6);  // 32 .. 1024
        c.rows = 1 + int(g() % 3);
        const int k_kind = int(g() % 3);
        c.top_k = k_kind == 0 ? 1 : k_kind == 1 ? 1 + int(g() % 64) : c.vocab + 5;
        c.top_p = g() % 2 ? 1.0f : uni(g, 0.05f, 0.95f);
        c.temperature = g() % 5 == 0 ? 1e-7f : uni(g, 0.3f, 2.3f);
        c.penalty = g() % 3 == 0 ? 1.0f : 1.35f;
        c.step = int(g() % 2 ? g() % 20 : g() % 1500);
        c.history_len = int(g() % (kHistoryCap + 1));
        c.logits = Logits(g() % 5);  // all but AllMasked
        out.push_back(c);
    }
    return out;
}

}  // namespace

void sampling_suite(Runner& r) {
    r.run("philox4x32 / philox_uniform", "Random123 known answers; 2000 draws vs model::rng", "exact", run_philox);
    std::vector<SamplerCase> cases(std::begin(kCases), std::end(kCases));
    for (const SamplerCase& c : random_cases(8)) cases.push_back(c);
    for (const SamplerCase& c : cases) {
        std::string config = fmt("V=%d k=%d p=%.3g T=%.3g pen=%g step=%d hist=%d rows=%d", c.vocab, c.top_k, c.top_p,
                                 c.temperature, c.penalty, c.step, c.history_len, c.rows);
        if (c.threads != 1024) config += fmt(" threads=%d", c.threads);
        config += kLogitsNames[int(c.logits)];
        r.run("sample_tokens_f32", config, "tokens, EOS, slots exact; p 2e-5 rel",
              [&](Check& check) { run_case(c, config, check); });
    }
}
