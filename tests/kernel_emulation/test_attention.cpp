// kernels/attention.cu: the masked prefill attention (hd 32 and 64) against
// cpu::t2s::prefill_attention, and the decode step (kv_store_rows, split + combine attention,
// advance_slots, launched in CudaT2s's order) against cpu::t2s::decode_attention over a host
// copy of every slot's history, with the cache and slot counters checked exactly.
#include "harness.h"
#include "reference.h"

namespace attention_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "attention.cu"
}
using namespace attention_cu;

namespace {

const char* const kAttentionTolerance = "1 ulp16 + 2e-5*max|v|";

// ---- Prefill: grid (ceil(S/64), heads), block 64.
struct PrefillCase {
    int S, n_text;
    bool rising;  // keys grow with their index: the running max changes at almost every key
};
const PrefillCase kPrefillCases[] = {
    {1, 1, false},    {63, 63, false}, {63, 20, false}, {64, 64, false},   {64, 1, false},
    {65, 64, false},  {65, 65, false}, {65, 3, false},  {130, 129, true}, {130, 5, true},
};
const int kPrefillHeads = 2;

void run_prefill(int hd, const PrefillCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const int d = kPrefillHeads * hd;
    DevBuf<__half> qkv(size_t(c.S) * 3 * d), out(size_t(c.S) * d);
    std::vector<float> qkv_f(qkv.size());
    for (int row = 0; row < c.S; ++row)
        for (int col = 0; col < 3 * d; ++col) {
            float v = uni(g, -1, 1);
            if (col < 2 * d) v *= 2.0f;  // Q and K: scores of a few units
            if (c.rising && col >= d && col < 2 * d) v += 0.05f * row * (col % 2 ? 1.0f : 0.5f);
            qkv[size_t(row) * 3 * d + col] = H(v);
            qkv_f[size_t(row) * 3 * d + col] = F(qkv[size_t(row) * 3 * d + col]);
        }
    out.fill(H(NAN));
    const float scale = 1.0f / sqrtf(float(hd));
    emu::launch({unsigned(c.S + 63) / 64, kPrefillHeads, 1}, 64, [&] {
        if (hd == 32)
            prefill_attention_hd32_f16(qkv.p(), out.p(), c.S, d, c.n_text, scale);
        else
            prefill_attention_hd64_f16(qkv.p(), out.p(), c.S, d, c.n_text, scale);
    });
    const std::vector<double> want = ref::prefill_attention(qkv_f, c.S, d, kPrefillHeads, c.n_text);
    for (size_t i = 0; i < want.size(); ++i) check.near(F(out[i]), want[i], ulp16(want[i]) + 2e-5);  // |v| <= 1
}

// ---- Decode: a KV cache of n_slots slots (+ the padding slot) × max_ctx positions, filled by
// prefills, then decode steps of some slots plus padding rows (the graphs' unused rows). A step
// is the four launches kv_store_rows_f16, decode_attention_split_hd32_f16,
// decode_attention_combine_hd32_f16 and advance_slots, checked together.
const int kDecodeHeads = 2, kDecodeHd = 32, kD = kDecodeHeads * kDecodeHd;
const float kMaxV = 2;  // Q, K, V entries in [-kMaxV, kMaxV)

struct DecodeStep {
    std::vector<int> slots;  // the batch's real rows, in row order
    int padding;             // rows of the padding slot after them
};
struct DecodeScenario {
    int max_ctx, n_slots;
    std::vector<std::pair<int, int>> prefill;  // (slot, prompt length); other slots start empty
    std::vector<DecodeStep> steps;
};
// Lengths straddle the DECODE_SPLIT (256) boundaries: after its step a slot attends to n = len + 1
// positions; the first scenario ends with one slot at n = max_ctx. Unlisted slots stay untouched.
const DecodeScenario kScenarios[] = {
    {1024, 7, {{3, 1}, {0, 255}, {5, 256}, {1, 257}, {6, 600}, {2, 1022}},
     {{{5, 3, 6, 0, 1, 2}, 2}, {{2, 1}, 2}, {{3}, 0}}},
    {1024, 5, {{0, 254}, {2, 511}, {3, 767}}, {{{4, 0, 2, 3}, 4}, {{3, 2, 4, 0}, 0}}},
};

class DecodeCache {
  public:
    DecodeCache(int max_ctx, int n_slots)
        : max_ctx_(max_ctx), n_slots_(n_slots), k_(size_t(n_slots + 1) * max_ctx * kD),
          v_(k_.size()), len_(n_slots + 1), pos_(n_slots + 1), keys_(n_slots + 1), values_(n_slots + 1) {
        k_.fill(H(NAN));  // never-written positions stay NaN: attending to one poisons the output
        v_.fill(H(NAN));
        for (int s = 0; s <= n_slots; ++s) {
            len_[s] = 0;
            pos_[s] = 100 + s;  // audio positions: only their increments matter
        }
    }

    // kv_store_rows_f16 in prefill mode (row_slot null): rows 0..len-1 of `slot`.
    void prefill(const std::string& config, int slot, int len) {
        std::mt19937 g = data_rng(config + std::to_string(slot));
        DevBuf<__half> qkv(size_t(len) * 3 * kD);
        for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = H(uni(g, -kMaxV, kMaxV));
        emu::launch({unsigned(len), 1, 1}, 128,
                    [&] { kv_store_rows_f16(k_.p(), v_.p(), qkv.p(), nullptr, nullptr, slot, len, kD, max_ctx_); });
        for (int r = 0; r < len; ++r) append(slot, &qkv[size_t(r) * 3 * kD]);
        len_[slot] = len;
    }

    void step(const std::string& config, const DecodeStep& step, Check& check) {
        std::mt19937 g = data_rng(config);
        const int real = int(step.slots.size()), rows = real + step.padding;
        const int n_splits = (max_ctx_ + DECODE_SPLIT - 1) / DECODE_SPLIT;
        DevBuf<__half> qkv(size_t(rows) * 3 * kD), out(size_t(rows) * kD);
        DevBuf<int> row_slot(rows);
        DevBuf<float> partial(size_t(rows) * kDecodeHeads * n_splits * (kDecodeHd + 2));
        std::vector<float> pad_row(3 * kD);
        for (float& v : pad_row) v = uni(g, -kMaxV, kMaxV);
        for (int r = 0; r < rows; ++r) {
            row_slot[r] = r < real ? step.slots[r] : n_slots_;
            for (int c = 0; c < 3 * kD; ++c)  // padding rows are all alike (same token, same position)
                qkv[size_t(r) * 3 * kD + c] = H(r < real ? uni(g, -kMaxV, kMaxV) : pad_row[c]);
        }
        out.fill(H(NAN));
        partial.fill(NAN);
        const std::vector<int> len0(len_.p(), len_.p() + n_slots_ + 1), pos0(pos_.p(), pos_.p() + n_slots_ + 1);
        const float scale = 1.0f / sqrtf(float(kDecodeHd));
        // The launch sequence of CudaT2s::step_launches.
        emu::launch({unsigned(rows), 1, 1}, 128, [&] {
            kv_store_rows_f16(k_.p(), v_.p(), qkv.p(), row_slot.p(), len_.p(), 0, rows, kD, max_ctx_);
        });
        emu::launch({kDecodeHeads, unsigned(rows), unsigned(n_splits)}, DECODE_THREADS, [&] {
            decode_attention_split_hd32_f16(qkv.p(), k_.p(), v_.p(), row_slot.p(), len_.p(), partial.p(), kD,
                                            max_ctx_, n_splits, scale);
        });
        emu::launch({kDecodeHeads, unsigned(rows), 1}, kDecodeHd,
                    [&] { decode_attention_combine_hd32_f16(partial.p(), out.p(), kD, n_splits); });
        emu::launch({unsigned(rows + 127) / 128, 1, 1}, 128,
                    [&] { advance_slots(row_slot.p(), len_.p(), pos_.p(), rows, n_slots_); });

        // Expected: every real row's K/V appended to its slot, the padding slot holding the padding
        // row at position 0; real rows attend over their slot, padding rows over that one position.
        for (int r = 0; r < real; ++r) append(step.slots[r], &qkv[size_t(r) * 3 * kD]);
        if (step.padding > 0) {
            keys_[n_slots_].clear();
            values_[n_slots_].clear();
            append(n_slots_, &qkv[size_t(real) * 3 * kD]);
        }
        for (int r = 0; r < rows; ++r) {
            std::vector<float> q(kD);
            for (int c = 0; c < kD; ++c) q[c] = F(qkv[size_t(r) * 3 * kD + c]);
            const int slot = row_slot[r];
            const std::vector<double> want = ref::decode_attention(q, keys_[slot], values_[slot], kDecodeHeads);
            for (int c = 0; c < kD; ++c)
                check.near(F(out[size_t(r) * kD + c]), want[c], ulp16(want[c]) + 2e-5 * kMaxV);
        }
        for (int s = 0; s <= n_slots_; ++s) {
            const int gained = s < n_slots_ && std::count(step.slots.begin(), step.slots.end(), s) ? 1 : 0;
            check.exact(len_[s], len0[s] + gained, "slot_len");
            check.exact(pos_[s], pos0[s] + gained, "slot_pos");
        }
        check_cache(check);
    }

    // The slot lengths of the real rows of a step after it, for the case's name.
    std::string lengths(const DecodeStep& step) const {
        std::string out;
        for (int s : step.slots) out += (out.empty() ? "" : " ") + std::to_string(keys_[s].size() + 1);
        return out;
    }

    // Every written position holds its row; every other one is still NaN.
    void check_cache(Check& check) {
        const uint16_t nan = H(NAN).bits;
        for (int s = 0; s <= n_slots_; ++s)
            for (int p = 0; p < max_ctx_; ++p)
                for (int c = 0; c < kD; ++c) {
                    const size_t at = (size_t(s) * max_ctx_ + p) * kD + c;
                    const bool written = p < int(keys_[s].size());
                    check.exact(k_[at].bits, written ? H(keys_[s][p][c]).bits : nan, "k_cache");
                    check.exact(v_[at].bits, written ? H(values_[s][p][c]).bits : nan, "v_cache");
                }
        k_.check_canaries();
        v_.check_canaries();
        len_.check_canaries();
        pos_.check_canaries();
    }

  private:
    void append(int slot, const __half* qkv_row) {
        keys_[slot].emplace_back(kD);
        values_[slot].emplace_back(kD);
        for (int c = 0; c < kD; ++c) {
            keys_[slot].back()[c] = F(qkv_row[kD + c]);
            values_[slot].back()[c] = F(qkv_row[2 * kD + c]);
        }
    }
    int max_ctx_, n_slots_;
    DevBuf<__half> k_, v_;
    DevBuf<int> len_, pos_;
    std::vector<std::vector<std::vector<float>>> keys_, values_;  // per slot: [position][d]
};

// ---- advance_slots alone: grid ceil(rows/128), block 128.
struct AdvanceCase {
    int rows, n_slots, real;  // rows past `real` are padding
};
const AdvanceCase kAdvanceCases[] = {{200, 300, 150}, {64, 64, 64}, {1, 1, 0}};

void run_advance(const AdvanceCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    DevBuf<int> row_slot(c.rows), len(c.n_slots + 1), pos(c.n_slots + 1);
    std::vector<int> slots(c.n_slots);
    for (int i = 0; i < c.n_slots; ++i) slots[i] = i;
    std::shuffle(slots.begin(), slots.end(), g);
    for (int r = 0; r < c.rows; ++r) row_slot[r] = r < c.real ? slots[r] : c.n_slots;
    for (int s = 0; s <= c.n_slots; ++s) len[s] = int(g() % 1000), pos[s] = int(g() % 1000);
    const std::vector<int> len0(len.p(), len.p() + c.n_slots + 1), pos0(pos.p(), pos.p() + c.n_slots + 1);
    emu::launch({unsigned(c.rows + 127) / 128, 1, 1}, 128,
                [&] { advance_slots(row_slot.p(), len.p(), pos.p(), c.rows, c.n_slots); });
    for (int s = 0; s <= c.n_slots; ++s) {
        const int gained = int(std::count(slots.begin(), slots.begin() + c.real, s));
        check.exact(len[s], len0[s] + gained, "slot_len");
        check.exact(pos[s], pos0[s] + gained, "slot_pos");
    }
}

}  // namespace

void attention_suite(Runner& r) {
    for (int hd : {32, 64})
        for (const PrefillCase& c : kPrefillCases) {
            const std::string config = fmt("hd=%d heads=%d S=%d n_text=%d%s", hd, kPrefillHeads, c.S, c.n_text,
                                           c.rising ? " rising keys" : "");
            r.run(fmt("prefill_attention_hd%d_f16", hd), config, kAttentionTolerance,
                  [&](Check& check) { run_prefill(hd, c, config, check); });
        }
    int scenario = 0;
    for (const DecodeScenario& sc : kScenarios) {
        DecodeCache cache(sc.max_ctx, sc.n_slots);
        ++scenario;
        std::string prompts;
        for (const auto& [slot, len] : sc.prefill) prompts += fmt(" %d:%d", slot, len);
        const std::string config = fmt("#%d max_ctx=%d slot:len", scenario, sc.max_ctx) + prompts;
        r.run("kv_store_rows_f16 (prefill)", config, "exact", [&](Check& check) {
            for (const auto& [slot, len] : sc.prefill) cache.prefill(config, slot, len);
            cache.check_cache(check);
        });
        for (const DecodeStep& step : sc.steps) {
            const std::string step_config =
                fmt("#%d n=[%s] +%d padding", scenario, cache.lengths(step).c_str(), step.padding);
            r.run("kv_store+split+combine+advance", step_config,
                  std::string(kAttentionTolerance) + "; cache exact",
                  [&](Check& check) { cache.step(step_config, step, check); });
        }
    }
    for (const AdvanceCase& c : kAdvanceCases) {
        const std::string config = fmt("rows=%d real=%d n_slots=%d", c.rows, c.real, c.n_slots);
        r.run("advance_slots", config, "exact", [&](Check& check) { run_advance(c, config, check); });
    }
}
