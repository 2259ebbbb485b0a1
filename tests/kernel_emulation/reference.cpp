#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ref {
namespace {

const float kNegInf = -INFINITY;

// f32::total_cmp: IEEE totalOrder (-NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN).
int total_cmp(float a, float b) {
    int32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    x ^= int32_t(uint32_t(x >> 31) >> 1);
    y ^= int32_t(uint32_t(y >> 31) >> 1);
    return x < y ? -1 : x > y;
}

// cpu::ops::softmax_in_place: max-subtracted, sequential f32 sum; an all -inf row becomes zeros.
void softmax_in_place(std::vector<float>& row) {
    float max = kNegInf;
    for (float v : row) max = std::fmax(max, v);
    if (max == kNegInf) {
        std::fill(row.begin(), row.end(), 0.0f);
        return;
    }
    float sum = 0.0f;
    for (float& v : row) {
        v = expf(v - max);
        sum += v;
    }
    const float inv = 1.0f / sum;
    for (float& v : row) v *= inv;
}

// Softmax-weighted sum of values for one query, in f64. `score(j)` is q·k_j (unscaled) or NaN
// for a masked key.
template <class Score, class Value>
void attend(int n, double scale, int hd, Score score, Value value, double* out) {
    std::vector<double> p(n);
    double max = -INFINITY;
    for (int j = 0; j < n; ++j) {
        p[j] = score(j) * scale;
        if (!std::isnan(p[j])) max = std::max(max, p[j]);
    }
    double sum = 0;
    for (double& x : p) {
        x = std::isnan(x) ? 0.0 : exp(x - max);
        sum += x;
    }
    for (int c = 0; c < hd; ++c) {
        double acc = 0;
        for (int j = 0; j < n; ++j) acc += p[j] * value(j, c);
        out[c] = acc / sum;
    }
}

// model::sampling::apply_repetition_penalty (history ids are < logits.size()).
void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int>& history, float penalty) {
    if (penalty == 1.0f) return;
    std::vector<bool> seen(logits.size());
    for (int t : history)
        if (!seen[t]) {
            seen[t] = true;
            float& l = logits[t];
            l = l < 0.0f ? l * penalty : l / penalty;
        }
}

// model::sampling::probs_from_penalised: top-p on the untempered logits, temperature, top-k
// (ties with the pivot survive), softmax.
std::vector<float> probs_from_penalised(std::vector<float> l, const Sampling& s) {
    const int v = int(l.size());
    if (v == 0) return l;
    if (s.top_p < 1.0f) {
        std::vector<int> order(v);
        for (int i = 0; i < v; ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            const int c = total_cmp(l[b], l[a]);
            return c != 0 ? c < 0 : a < b;
        });
        std::vector<float> sorted(v);
        for (int r = 0; r < v; ++r) sorted[r] = l[order[r]];
        softmax_in_place(sorted);
        double cum = 0;  // torch's CPU cumsum: f64 accumulator, each partial sum rounded to f32
        for (int r = 0; r < v; ++r) {
            cum += double(sorted[r]);
            if (r > 0 && float(cum) > s.top_p) l[order[r]] = kNegInf;
        }
    }
    const float t = std::fmax(s.temperature, 1e-5f);
    for (float& x : l) x /= t;
    const int k = std::clamp(s.top_k, 1, v);
    std::vector<float> scratch = l;
    std::nth_element(scratch.begin(), scratch.begin() + (k - 1), scratch.end(),
                     [](float a, float b) { return total_cmp(b, a) < 0; });
    const float pivot = scratch[k - 1];
    for (float& x : l)
        if (x < pivot) x = kNegInf;
    softmax_in_place(l);
    return l;
}

// model::sampling::sample: the exponential race argmax p / Exp(1).
int sample(const std::vector<float>& probs, uint64_t seed, uint32_t step) {
    int best = 0;
    float best_r = kNegInf;
    for (int v = 0; v < int(probs.size()); ++v)
        if (probs[v] > 0.0f) {
            const float r = probs[v] / -logf(uniform(seed, 1 /* Purpose::Sampling */, step, uint32_t(v)));
            if (r > best_r) best = v, best_r = r;
        }
    return best;
}

// model::sampling::argmax: the first index of the largest value.
int argmax(const std::vector<float>& x) {
    int best = 0;
    for (int i = 0; i < int(x.size()); ++i)
        if (x[i] > x[best]) best = i;
    return best;
}

}  // namespace

std::vector<double> layer_norm(const std::vector<double>& v, const std::vector<float>& gamma,
                               const std::vector<float>& beta, double eps) {
    const size_t n = v.size();
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= double(n);
    for (double x : v) var += (x - mean) * (x - mean);
    var /= double(n);
    const double inv = 1.0 / sqrt(var + eps);
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = (v[i] - mean) * inv * gamma[i] + beta[i];
    return out;
}

double gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

std::vector<double> group_norm_over_time(const std::vector<double>& x, int T, int C, const std::vector<float>& gamma,
                                         const std::vector<float>& beta, double eps) {
    std::vector<double> mean(C), var(C), out(x.size());
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c) mean[c] += x[size_t(t) * C + c];
    for (int c = 0; c < C; ++c) mean[c] /= T;
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c) {
            const double d = x[size_t(t) * C + c] - mean[c];
            var[c] += d * d;
        }
    for (int c = 0; c < C; ++c) var[c] /= T;
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c) {
            const size_t i = size_t(t) * C + c;
            out[i] = (x[i] - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c];
        }
    return out;
}

void add_sine_position(float* row, int d, int pos, float alpha) {
    const float rate = float(-(log(10000.0) / double(d)));
    for (int i = 0; i < d / 2; ++i) {
        const float omega = float(exp(double(float(2 * i) * rate)));
        const double angle = double(float(pos) * omega);
        row[2 * i] += alpha * float(sin(angle));
        row[2 * i + 1] += alpha * float(cos(angle));
    }
}

std::vector<double> prefill_attention(const std::vector<float>& qkv, int S, int d, int n_head, int n_text) {
    const int hd = d / n_head;
    const double scale = 1.0f / sqrtf(float(hd));
    const auto at = [&](int row, int col) { return double(qkv[size_t(row) * 3 * d + col]); };
    std::vector<double> out(size_t(S) * d);
    for (int h = 0; h < n_head; ++h)
        for (int i = 0; i < S; ++i) {
            const auto score = [&](int j) {
                if (!(j < n_text || i >= j)) return double(NAN);  // masked_softmax_columns' first_query
                double s = 0;
                for (int c = 0; c < hd; ++c) s += at(i, h * hd + c) * at(j, d + h * hd + c);
                return s;
            };
            attend(S, scale, hd, score, [&](int j, int c) { return at(j, 2 * d + h * hd + c); },
                   &out[size_t(i) * d + h * hd]);
        }
    return out;
}

std::vector<double> decode_attention(const std::vector<float>& q, const std::vector<std::vector<float>>& keys,
                                     const std::vector<std::vector<float>>& values, int n_head) {
    const int d = int(q.size()), hd = d / n_head, n = int(keys.size());
    const double scale = 1.0f / sqrtf(float(hd));
    std::vector<double> out(d);
    for (int h = 0; h < n_head; ++h) {
        const auto score = [&](int j) {
            double s = 0;
            for (int c = 0; c < hd; ++c) s += double(q[h * hd + c]) * keys[j][h * hd + c];
            return s;
        };
        attend(n, scale, hd, score, [&](int j, int c) { return double(values[j][h * hd + c]); }, &out[h * hd]);
    }
    return out;
}

void philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]}, k[2] = {key[0], key[1]};
    for (int round = 0; round < 10; ++round) {
        const uint64_t p0 = uint64_t(0xD2511F53u) * c[0], p1 = uint64_t(0xCD9E8D57u) * c[2];
        const uint32_t next[4] = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1],
                                  uint32_t(p0)};
        memcpy(c, next, sizeof c);
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof c);
}

float uniform(uint64_t seed, uint32_t purpose, uint32_t step, uint32_t index) {
    const uint32_t counter[4] = {index / 4, step, purpose, 0}, key[2] = {uint32_t(seed), uint32_t(seed >> 32)};
    uint32_t r[4];
    philox4x32(counter, key, r);
    return float((r[index % 4] >> 8) + 1) * (1.0f / 16777216.0f);
}

Sampled decoder_step(const float* logits, int V, const Sampling& s, int step, const std::vector<int>& history,
                     int eos_blocked_steps) {
    const int width = step < eos_blocked_steps ? V - 1 : V;
    std::vector<float> decision(logits, logits + width);
    apply_repetition_penalty(decision, history, s.repetition_penalty);
    Sampled out;
    out.probs = probs_from_penalised(decision, s);
    out.token = sample(out.probs, s.seed, uint32_t(step));
    out.eos = out.token == V - 1 || argmax(decision) == V - 1;
    out.probs.resize(V, 0.0f);
    return out;
}

}  // namespace ref
