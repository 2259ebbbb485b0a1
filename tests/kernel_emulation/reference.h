// C++ ports of the CPU code each kernel must match (no CUDA here). Ports marked "bit for bit"
// keep the Rust code's f32 operations in its order; the others compute the same formula in f64,
// as the ideal the f16/f32 kernels are compared against with a tolerance.
#pragma once
#include <cstdint>
#include <vector>

namespace ref {

// cpu::ops::layer_norm_slice (src/cpu/ops.rs), in f64: two passes (mean, centred variance),
// (v - mean) / sqrt(var + eps) · gamma + beta.
std::vector<double> layer_norm(const std::vector<double>& v, const std::vector<float>& gamma,
                               const std::vector<float>& beta, double eps);

// cpu::ops::gelu: exact (erf) GELU, in f64.
double gelu(double x);

// cpu::hubert::group_norm_over_time (src/cpu/hubert.rs), in f64, on time-major x [T, C]: each
// channel over time, two passes (mean, centred biased variance), (v - mean) / sqrt(var + eps) ·
// gamma + beta. Returns [T, C].
std::vector<double> group_norm_over_time(const std::vector<double>& x, int T, int C, const std::vector<float>& gamma,
                                         const std::vector<float>& beta, double eps);

// model::t2s::add_sine_position (src/model/t2s.rs), bit for bit: ω and p·ω rounded to f32,
// exp/sin/cos in f64, row[2i] += α·sin, row[2i+1] += α·cos.
void add_sine_position(float* row, int d, int pos, float alpha);

// cpu::t2s::prefill_attention with masked_softmax_columns (src/cpu/t2s.rs), in f64, on qkv rows
// [S, 3d] (Q | K | V, heads side by side). Key j is visible to query i when it is text
// (j < n_text) or i >= j. Returns [S, d].
std::vector<double> prefill_attention(const std::vector<float>& qkv, int S, int d, int n_head, int n_text);

// cpu::t2s::decode_attention (src/cpu/t2s.rs) for one session, in f64: query q [d] against its
// n cached keys/values ([n][d], the newest included), no mask. Returns [d].
std::vector<double> decode_attention(const std::vector<float>& q, const std::vector<std::vector<float>>& keys,
                                     const std::vector<std::vector<float>>& values, int n_head);

// model::rng::philox4x32 and model::rng::uniform (src/model/rng.rs), bit for bit.
void philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
float uniform(uint64_t seed, uint32_t purpose, uint32_t step, uint32_t index);

// One sampling step of model::t2s::Decoder::step (src/model/t2s.rs) with model::sampling's
// apply_repetition_penalty, probs_from_penalised, sample and argmax, bit for bit.
struct Sampling {
    uint64_t seed;
    int top_k;
    float top_p, temperature, repetition_penalty;
};
struct Sampled {
    int token;
    bool eos;                  // sampled EOS, or EOS is the arg-max of the penalised logits
    std::vector<float> probs;  // [V]; 0 past the width (the EOS column while it is blocked)
};
// EOS is token V - 1 and is excluded for steps < eos_blocked_steps; `history` holds the previous
// tokens (prompt and generated, all < V - 1).
Sampled decoder_step(const float* logits, int V, const Sampling& s, int step, const std::vector<int>& history,
                     int eos_blocked_steps);

}  // namespace ref
