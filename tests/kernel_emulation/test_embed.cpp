// kernels/embed.cu: embed_positions_f16 against the GPT's embedding + model::t2s::add_sine_position
// (prompt rows, and decode rows whose position comes from their slot), and bert_embed_f16
// against BERT's f32 sum word + token_type + position (exact).
#include "harness.h"
#include "reference.h"

namespace embed_cu {
#include "block_reduce.cuh"  // src/cuda/compile.rs puts it in front of every kernel
#include "embed.cu"
}

namespace {

// ---- embed_positions_f16: grid rows, block 128.
struct PositionsCase {
    int rows, d, vocab;
    bool accumulate;  // text rows: onto the BERT projection already in `out`
    int n_slots;      // 0: a prompt (position = row); else a decode step over these slots
};
const PositionsCase kPositionsCases[] = {
    {200, 512, 732, true, 0},    // the text rows of a prompt
    {65, 512, 1025, false, 0},   // its audio rows
    {1, 512, 1025, false, 0},
    {7, 96, 50, true, 0},
    {5, 512, 1025, false, 8},    // a decode step: 4 sessions and a padding row
    {16, 512, 1025, false, 64},
    {4, 258, 50, false, 6},      // d/2 = 129 pairs > 128 threads: the stride loop
};

void run_positions(const PositionsCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    const size_t n = size_t(c.rows) * c.d;
    DevBuf<__half> out(n), table(size_t(c.vocab) * c.d);
    DevBuf<int> ids(c.rows), row_slot(c.rows), slot_pos(c.n_slots + 1);
    for (size_t i = 0; i < table.size(); ++i) table[i] = H(uni(g, -1, 1));
    for (size_t i = 0; i < n; ++i) out[i] = c.accumulate ? H(uni(g, -2, 2)) : H(NAN);
    std::vector<float> before(n);
    for (size_t i = 0; i < n; ++i) before[i] = F(out[i]);
    for (int r = 0; r < c.rows; ++r) ids[r] = int(g() % c.vocab);
    const bool decode = c.n_slots > 0;
    if (decode) {
        // Distinct slots for all rows but the last, which is padding (slot n_slots, position 0);
        // positions up to 2047, including 0, 1 and 2047.
        std::vector<int> slots(c.n_slots);
        for (int s = 0; s < c.n_slots; ++s) slots[s] = s;
        std::shuffle(slots.begin(), slots.end(), g);
        for (int r = 0; r < c.rows; ++r) row_slot[r] = r + 1 < c.rows ? slots[r] : c.n_slots;
        for (int s = 0; s < c.n_slots; ++s) slot_pos[s] = int(g() % 2048);
        slot_pos[slots[0]] = 0;
        slot_pos[slots[1]] = 1;
        slot_pos[slots[2]] = 2047;
        slot_pos[c.n_slots] = 0;
    }
    const float alpha = uni(g, 0.5f, 1.5f);
    emu::launch({unsigned(c.rows), 1, 1}, 128, [&] {
        embed_cu::embed_positions_f16(out.p(), c.accumulate, table.p(), ids.p(), decode ? row_slot.p() : nullptr,
                                      decode ? slot_pos.p() : nullptr, alpha, c.rows, c.d);
    });
    for (int r = 0; r < c.rows; ++r) {
        // The CPU's order: (BERT projection + embedding) + alpha·PE; the kernel adds alpha·PE
        // first, so the f32 sums may differ in their last bit before the f16 rounding.
        std::vector<float> want(c.d);
        for (int k = 0; k < c.d; ++k)
            want[k] = (c.accumulate ? before[size_t(r) * c.d + k] : 0.0f) + F(table[size_t(ids[r]) * c.d + k]);
        ref::add_sine_position(want.data(), c.d, decode ? slot_pos[row_slot[r]] : r, alpha);
        for (int k = 0; k < c.d; ++k) check.near(F(out[size_t(r) * c.d + k]), want[k], ulp16(want[k]) + 1e-6);
    }
}

// ---- bert_embed_f16: grid rows, block 128.
struct BertCase {
    int rows, d, vocab;
    // word = ±2^k, position = -word and a subnormal token_type: the sum cancels, and w + tt rounds
    // at w's ulp while tt - w (just below a power of two) is exact, so the f16 result depends on
    // the order of the two additions.
    bool cancelling;
};
const BertCase kBertCases[] = {{1, 1024, 300, false}, {63, 1024, 500, false}, {130, 1024, 500, false},
                               {3, 100, 10, false}, {20, 1024, 50, true}};

void run_bert(const BertCase& c, const std::string& config, Check& check) {
    std::mt19937 g = data_rng(config);
    DevBuf<__half> out(size_t(c.rows) * c.d), word(size_t(c.vocab) * c.d), token_type(c.d),
        position(size_t(c.rows) * c.d);
    DevBuf<int> ids(c.rows);
    for (size_t i = 0; i < word.size(); ++i) {
        const float sign = g() % 2 ? 1.0f : -1.0f;
        word[i] = H(c.cancelling ? ldexpf(sign, int(g() % 4)) : uni(g, -1, 1));
    }
    for (int i = 0; i < c.d; ++i) token_type[i] = c.cancelling ? H(float(g() % 16) * 0x1p-24f) : H(uni(g, -0.1f, 0.1f));
    for (int r = 0; r < c.rows; ++r) ids[r] = int(g() % c.vocab);
    for (size_t i = 0; i < position.size(); ++i)
        position[i] = c.cancelling ? H(-F(word[size_t(ids[i / c.d]) * c.d + i % c.d])) : H(uni(g, -0.3f, 0.3f));
    out.fill(H(NAN));
    emu::launch({unsigned(c.rows), 1, 1}, 128, [&] {
        embed_cu::bert_embed_f16(out.p(), word.p(), token_type.p(), position.p(), ids.p(), c.rows, c.d);
    });
    for (int r = 0; r < c.rows; ++r)
        for (int k = 0; k < c.d; ++k) {
            const size_t i = size_t(r) * c.d + k;
            const float want = (F(word[size_t(ids[r]) * c.d + k]) + F(token_type[k])) + F(position[i]);
            check.exact(out[i].bits, H(want).bits, "bert_embed");
        }
}

}  // namespace

void embed_suite(Runner& r) {
    for (const PositionsCase& c : kPositionsCases) {
        const std::string config =
            fmt("rows=%d d=%d vocab=%d%s%s", c.rows, c.d, c.vocab, c.accumulate ? " accumulate" : "",
                c.n_slots ? fmt(" decode (%d slots, last row padding)", c.n_slots).c_str() : " prompt");
        r.run("embed_positions_f16", config, "1 ulp16 + 1e-6", [&](Check& check) { run_positions(c, config, check); });
    }
    for (const BertCase& c : kBertCases) {
        const std::string config =
            fmt("rows=%d d=%d vocab=%d%s", c.rows, c.d, c.vocab, c.cancelling ? " cancelling sum" : "");
        r.run("bert_embed_f16", config, "exact", [&](Check& check) { run_bert(c, config, check); });
    }
}
