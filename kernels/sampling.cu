// The GPT prior's token sampler: repetition penalty, top-p, temperature, top-k, softmax and the
// exponential race, all on the GPU, so a decode step hands back one token id per session instead
// of a [V] row of logits.
//
// Entry points:
//   sample_tokens_f32(logits, vocab, row_slot, slots, history, history_cap, eos_blocked_steps,
//                     tokens_out, eos_out, probs_out)
//     Batch row b samples from logits[b] with the settings and RNG state of
//     slots[row_slot[b]], appends the token to that slot's history row and advances its step.
//     eos_out[b] = 1 when EOS ends decoding (sampled EOS, or arg-max of the penalised logits is
//     EOS). probs_out (may be null) receives the final probabilities, for the tests.
// Thread mapping: one block per batch row (grid.x = batch), blockDim.x = 1024 (any multiple of
// 32 up to 1024 works), threads striding over the vocabulary; the whole row (V <= 2048) lives in
// shared memory. Block-wide max/arg-max and sums through warp shuffles and shared memory; top-p
// and top-k share one bitonic sort of (value, index) keys. Rows must map to distinct slots.
// Accumulation: f32 everywhere (expf/logf, IEEE division, no fast-math intrinsics), except the
// top-p cumulative sum, in f64 like torch.
// CPU twins: `model::t2s::Decoder::step` with `model::sampling::{apply_repetition_penalty,
// probs_from_penalised, sample, argmax}` and `model::rng::uniform`; the tokens are identical
// up to f32 rounding of exp/log and of the softmax sums (tree order here, sequential there).

#define SAMPLER_MAX_VOCAB 2048
#define PURPOSE_SAMPLING 1u  // model::rng::Purpose::Sampling
#define NO_INDEX 0x7fffffff

// Host mirror: #[repr(C)], 32 bytes. One per KV-cache slot, written when a session starts.
struct SamplerSlot {
    unsigned long long seed;   // Philox key: low 32 bits = key[0], high 32 = key[1]
    int top_k;                 // >= 1
    float top_p;               // (0, 1]; 1 = off
    float temperature;         // > 0
    float repetition_penalty;  // > 0; 1 = off
    int step;                  // steps sampled so far (upstream idx); the kernel increments it
    int history_len;           // tokens in this slot's history row; the kernel appends
};
static_assert(sizeof(SamplerSlot) == 32, "SamplerSlot must match the host's #[repr(C)] mirror");

// (v, i) beats (bv, bi): larger value, or the same value at a smaller index (torch.argmax).
__device__ __forceinline__ bool beats(float v, int i, float bv, int bi) {
    return v > bv || (v == bv && i < bi);
}

// Block-wide arg-max; every thread gets the winner. Non-candidates pass (-inf, NO_INDEX).
__device__ void block_argmax(float& v, int& i, float* sv, int* si) {
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (beats(ov, oi, v, i)) v = ov, i = oi;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sv[warp] = v, si[warp] = i;
    __syncthreads();
    if (warp == 0) {
        const bool live = threadIdx.x < (blockDim.x >> 5);
        v = live ? sv[lane] : __int_as_float(0xff800000);
        i = live ? si[lane] : NO_INDEX;
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, v, o);
            const int oi = __shfl_xor_sync(0xffffffffu, i, o);
            if (beats(ov, oi, v, i)) v = ov, i = oi;
        }
        if (lane == 0) sv[0] = v, si[0] = i;
    }
    __syncthreads();
    v = sv[0];
    i = si[0];
    __syncthreads();  // sv/si are reused by the next reduction
}

// Sort key: descending key order = descending `f32::total_cmp` order of x, then ascending index,
// exactly the CPU's stable order. The value's bits are flipped into an unsigned total order; the
// low word holds ~i so that smaller indices sort first among equal values. Padding (key 0) sorts
// after every real entry, whose low word is at least ~2047.
__device__ __forceinline__ unsigned long long sort_key(float x, int i) {
    unsigned u = __float_as_uint(x);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((unsigned long long)u << 32) | (unsigned)~i;
}
__device__ __forceinline__ int key_index(unsigned long long key) { return (int)~(unsigned)key; }

// Bitonic sort of n (a power of two) keys into descending order; ends synchronised.
__device__ void bitonic_sort_desc(unsigned long long* a, int n) {
    for (int size = 2; size <= n; size <<= 1) {
        for (int j = size >> 1; j > 0; j >>= 1) {
            for (int t = threadIdx.x; t < (n >> 1); t += blockDim.x) {
                const int lo = ((t & ~(j - 1)) << 1) | (t & (j - 1)), hi = lo + j;
                const bool desc = (lo & size) == 0;
                const unsigned long long x = a[lo], y = a[hi];
                if (desc ? x < y : x > y) a[lo] = y, a[hi] = x;
            }
            __syncthreads();
        }
    }
}

extern "C" __global__ void __launch_bounds__(1024) sample_tokens_f32(const float* __restrict__ logits, int vocab,
                                             const int* __restrict__ row_slot,
                                             SamplerSlot* __restrict__ slots,
                                             int* __restrict__ history, int history_cap,
                                             int eos_blocked_steps, int* __restrict__ tokens_out,
                                             int* __restrict__ eos_out,
                                             float* __restrict__ probs_out) {
    __shared__ float lg[SAMPLER_MAX_VOCAB];  // penalised logits, later exp values, then probs
    __shared__ float ex[SAMPLER_MAX_VOCAB];  // top-p: exp of the sorted logits
    __shared__ unsigned long long keys[SAMPLER_MAX_VOCAB];
    __shared__ unsigned char seen[SAMPLER_MAX_VOCAB];
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    __shared__ int kept_s;

    const int b = blockIdx.x, tid = threadIdx.x, nt = blockDim.x;
    const float NEG_INF = __int_as_float(0xff800000);
    // The host checks V; should it not, end the session rather than overrun shared memory.
    if (vocab < 1 || vocab > SAMPLER_MAX_VOCAB) {
        if (tid == 0) tokens_out[b] = 0, eos_out[b] = 1;
        return;
    }
    const int slot = row_slot[b];
    // Every thread reads the slot now; thread 0 rewrites it only after many barriers.
    const SamplerSlot s = slots[slot];
    const int idx = s.step;
    const int width = (idx < eos_blocked_steps) ? vocab - 1 : vocab;  // EOS column removed early
    const float* row = logits + (size_t)b * vocab;
    int* hist = history + (size_t)slot * history_cap;
    const int n_hist = min(s.history_len, history_cap);

    // 1. Repetition penalty, once per distinct history token (the flags deduplicate).
    const bool penalise = s.repetition_penalty != 1.0f;
    if (penalise) {
        for (int v = tid; v < vocab; v += nt) seen[v] = 0;
        __syncthreads();
        for (int i = tid; i < n_hist; i += nt)  // racing writes all store 1
            if ((unsigned)hist[i] < (unsigned)vocab) seen[hist[i]] = 1;
        __syncthreads();
    }
    float best = NEG_INF;
    int best_i = NO_INDEX;
    for (int v = tid; v < width; v += nt) {
        float l = row[v];
        if (penalise && seen[v]) l = l < 0.0f ? l * s.repetition_penalty : l / s.repetition_penalty;
        lg[v] = l;
        if (beats(l, v, best, best_i)) best = l, best_i = v;
    }
    // 2. The decision logits' arg-max (EOS check); also the row max for both softmaxes.
    block_argmax(best, best_i, red_v, red_i);  // its barriers also publish lg
    const float dmax = best;
    const int amax = (best_i == NO_INDEX) ? 0 : best_i;

    const float t = fmaxf(s.temperature, 1e-5f);
    const int k = min(max(s.top_k, 1), width);
    const bool top_p = s.top_p < 1.0f;
    // Dividing by t > 0 is monotone under round-to-nearest and top-p removes a suffix of the
    // sorted order, so the k-th largest tempered logit is (k-th of the sorted untempered ones) / t,
    // or -inf if top-p removed it: one sort serves both filters, and the pivot is still compared
    // with tempered values, as the CPU does. Greedy and keep-all top-k need no sort.
    float pivot = (k == 1) ? dmax / t : NEG_INF;
    if (width > 0 && (top_p || (k > 1 && k < width))) {
        int n = 1;
        while (n < width) n <<= 1;
        for (int i = tid; i < n; i += nt) keys[i] = (i < width) ? sort_key(lg[i], i) : 0ull;
        __syncthreads();
        bitonic_sort_desc(keys, n);

        // 3. Top-p on the untempered logits: softmax in sorted order (max = rank 0 = dmax).
        int kept = width;
        if (top_p && dmax != NEG_INF) {
            float part = 0.0f;
            for (int r = tid; r < width; r += nt) {
                ex[r] = expf(lg[key_index(keys[r])] - dmax);
                part += ex[r];
            }
            const float inv = 1.0f / block_sum(part, red_v);  // its barriers also publish ex
            if (tid == 0) {
                // Sequential f64 prefix sum of the f32 probabilities, torch's CPU cumsum order, so
                // the rank where the mass crosses top_p is the CPU's. One thread: it stops at the
                // crossing (usually within a few ranks) and runs only when top_p < 1.
                double cum = 0.0;
                int r = 0;
                for (; r < width; ++r) {
                    cum += (double)(ex[r] * inv);
                    if (r > 0 && (float)cum > s.top_p) break;
                }
                kept_s = r;  // ranks >= r are removed: cum only grows
            }
            __syncthreads();
            kept = kept_s;
            for (int r = kept + tid; r < width; r += nt) lg[key_index(keys[r])] = NEG_INF;
            __syncthreads();
        }
        // 4. Top-k pivot (ranks below `kept` were not touched by top-p).
        pivot = (k - 1 < kept) ? lg[key_index(keys[k - 1])] / t : NEG_INF;
        __syncthreads();  // every thread has read the pivot before lg is overwritten below
    }

    // 5. Temperature, top-k (ties with the pivot survive), softmax. The tempered max is dmax / t
    // (monotone division) and both filters keep it.
    const float mx = dmax / t;
    float part = 0.0f;
    for (int v = tid; v < width; v += nt) {
        const float x = lg[v] / t;
        const float e = (x >= pivot && mx != NEG_INF) ? expf(x - mx) : 0.0f;
        lg[v] = e;
        part += e;
    }
    const float sum = block_sum(part, red_v);
    // Every entry -inf: all p = 0 and the token is 0, like the CPU's softmax and sample.
    const float inv = (mx != NEG_INF) ? 1.0f / sum : 0.0f;
    float* prow = probs_out ? probs_out + (size_t)b * vocab : nullptr;

    // 6. Exponential race: argmax p / Exp(1), the draw keyed by (seed, Sampling, step, v). An
    // r of -inf (u = 1, q = -0) can never win, as on the CPU.
    best = NEG_INF;
    best_i = NO_INDEX;
    for (int v = tid; v < vocab; v += nt) {
        const float p = (v < width) ? lg[v] * inv : 0.0f;
        if (prow) prow[v] = p;
        if (p > 0.0f) {
            const float u = philox_uniform(s.seed, PURPOSE_SAMPLING, (unsigned)idx, (unsigned)v);
            const float q = -logf(u);
            const float r = p / q;
            if (r > NEG_INF && beats(r, v, best, best_i)) best = r, best_i = v;
        }
    }
    block_argmax(best, best_i, red_v, red_i);

    if (tid == 0) {
        const int token = (best_i == NO_INDEX) ? 0 : best_i;
        tokens_out[b] = token;
        eos_out[b] = (token == vocab - 1 || amax == vocab - 1) ? 1 : 0;
        // Appended even on a stop: the CPU pops it again, but its session ends there and this
        // slot is rewritten before it is reused, so the extra entry is never read.
        if (s.history_len < history_cap) {
            hist[s.history_len] = token;
            slots[slot].history_len = s.history_len + 1;
        }
        slots[slot].step = idx + 1;
    }
}
