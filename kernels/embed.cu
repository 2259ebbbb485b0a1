// Embedding lookups, FP16 storage.
//
// Entry points:
//   embed_positions_f16(out, accumulate, table, ids, row_slot, slot_pos, alpha, rows, d)
//     The GPT's inputs (research/upstream-v2.md §4.2–4.3): out[r] = (accumulate ? out[r] : 0)
//     + table[ids[r]] + alpha · PE[pos], with the sine positions of `add_sine_position` in
//     src/model/t2s.rs, computed the same way (ω and p·ω rounded to f32, sin/cos in f64) so the
//     positions agree with the CPU to f32 rounding. pos = r when row_slot is null (a prompt's
//     rows), else slot_pos[row_slot[r]] (a decode step's newest token per session). Text rows
//     accumulate onto the BERT projection already in `out`. grid = rows, block = 128.
//   bert_embed_f16(out, word, token_type0, position, ids, rows, d)
//     BERT's embeddings before their LayerNorm: word[ids[r]] + token_type[0] + position[r],
//     summed in that order in f32 like `CpuBert::forward_traced`. grid = rows, block = 128.
#include <cuda_fp16.h>

extern "C" __global__ void __launch_bounds__(128) embed_positions_f16(__half* __restrict__ out, int accumulate,
                                               const __half* __restrict__ table, const int* __restrict__ ids,
                                               const int* __restrict__ row_slot, const int* __restrict__ slot_pos,
                                               float alpha, int rows, int d) {
    const int r = blockIdx.x;
    if (r >= rows) return;
    const int pos = row_slot ? slot_pos[row_slot[r]] : r;
    const float rate = (float)(-(log(10000.0) / (double)d));
    const __half* e = table + (size_t)ids[r] * d;
    __half* o = out + (size_t)r * d;
    for (int i = threadIdx.x; 2 * i < d; i += blockDim.x) {
        const float omega = (float)exp((double)((float)(2 * i) * rate));
        const double angle = (double)((float)pos * omega);
        float even = __half2float(e[2 * i]) + alpha * (float)sin(angle);
        float odd = __half2float(e[2 * i + 1]) + alpha * (float)cos(angle);
        if (accumulate) {
            even += __half2float(o[2 * i]);
            odd += __half2float(o[2 * i + 1]);
        }
        o[2 * i] = __float2half(even);
        o[2 * i + 1] = __float2half(odd);
    }
}

extern "C" __global__ void __launch_bounds__(128) bert_embed_f16(__half* __restrict__ out, const __half* __restrict__ word,
                                          const __half* __restrict__ token_type0, const __half* __restrict__ position,
                                          const int* __restrict__ ids, int rows, int d) {
    const int r = blockIdx.x;
    if (r >= rows) return;
    const __half* w = word + (size_t)ids[r] * d;
    const __half* p = position + (size_t)r * d;
    for (int c = threadIdx.x; c < d; c += blockDim.x)
        out[(size_t)r * d + c] =
            __float2half((__half2float(w[c]) + __half2float(token_type0[c])) + __half2float(p[c]));
}
