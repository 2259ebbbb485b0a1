//! Pronunciation of out-of-vocabulary words: g2p_en 2.1.0 `G2p.predict(word)`, a GRU
//! encoder–decoder over letters with greedy decoding (`checkpoint20.npz`, Apache-2.0; converted to
//! raw little-endian f32 by `tools/convert_data.py`).
//!
//! g2p_en runs it in numpy float32: every matrix product, bias add and activation is rounded to
//! f32 separately. This does the same; the products are summed in f64 before rounding, so they
//! can differ from numpy's BLAS by an ulp, which only matters if two phone logits nearly tie.

use crate::text::resource::{corrupt, gunzip};
use crate::text::TextError;

const CHECKPOINT: &[u8] = include_bytes!("data/g2p_en_checkpoint20.f32le.gz");

const EMBEDDING: usize = 256;
const HIDDEN: usize = 256;
/// `["<pad>", "<unk>", "</s>"]` + `a`..`z`.
const GRAPHEMES: usize = 29;
const GRAPHEME_UNK: usize = 1;
const GRAPHEME_END: usize = 2;
/// Decoding starts from `<s>` and stops at `</s>`, after at most `MAX_PHONES` steps.
const PHONEME_START: usize = 2;
const PHONEME_END: usize = 3;
const MAX_PHONES: usize = 20;

/// `G2p.phonemes`, in index order.
const PHONEMES: [&str; 74] = [
    "<pad>", "<unk>", "<s>", "</s>", "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1",
    "AO2", "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2",
    "EY0", "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N", "NG",
    "OW0", "OW1", "OW2", "OY0", "OY1", "OY2", "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1",
    "UW2", "V", "W", "Y", "Z", "ZH",
];

/// One GRU layer (PyTorch gate layout: rows are reset, update, new). Its inputs are always
/// embedding rows, so `W_ih x + b_ih` is computed once per vocabulary entry at load time.
struct Gru {
    /// Row `v`: `W_ih · embedding[v] + b_ih` (3 × HIDDEN).
    input_gates: Vec<Vec<f32>>,
    w_hh: Vec<f32>,
    b_hh: Vec<f32>,
}

pub(super) struct G2pPredictor {
    encoder: Gru,
    decoder: Gru,
    fc_w: Vec<f32>,
    fc_b: Vec<f32>,
}

impl G2pPredictor {
    pub fn load() -> Result<Self, TextError> {
        const WHAT: &str = "g2p_en_checkpoint20.f32le";
        let bytes = gunzip(WHAT, CHECKPOINT)?;
        let gates = 3 * HIDDEN;
        let gru_len = gates * EMBEDDING + gates * HIDDEN + 2 * gates;
        let expected = GRAPHEMES * EMBEDDING + 2 * gru_len + PHONEMES.len() * (EMBEDDING + HIDDEN + 1);
        if bytes.len() != 4 * expected {
            return Err(corrupt(WHAT, format!("{} bytes, expected {}", bytes.len(), 4 * expected)));
        }
        let mut values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let mut take = |len: usize| -> Vec<f32> { values.by_ref().take(len).collect() };
        let enc_emb = take(GRAPHEMES * EMBEDDING);
        let encoder = Gru::new(&enc_emb, &take(gates * EMBEDDING), take(gates * HIDDEN), &take(gates), take(gates));
        let dec_emb = take(PHONEMES.len() * EMBEDDING);
        let decoder = Gru::new(&dec_emb, &take(gates * EMBEDDING), take(gates * HIDDEN), &take(gates), take(gates));
        let fc_w = take(PHONEMES.len() * HIDDEN);
        let fc_b = take(PHONEMES.len());
        Ok(G2pPredictor { encoder, decoder, fc_w, fc_b })
    }

    /// `G2p.predict(word)`: phones for a lower-case word (other characters read as `<unk>`).
    pub fn predict(&self, word: &str) -> Vec<&'static str> {
        let mut h = vec![0.0f32; HIDDEN];
        let letters =
            word.chars().map(|c| if c.is_ascii_lowercase() { 3 + (c as usize - 'a' as usize) } else { GRAPHEME_UNK });
        for index in letters.chain([GRAPHEME_END]) {
            h = self.encoder.step(index, &h);
        }
        let mut phones = Vec::new();
        let mut previous = PHONEME_START;
        for _ in 0..MAX_PHONES {
            h = self.decoder.step(previous, &h);
            let logits = affine(&self.fc_w, &self.fc_b, &h);
            let predicted = argmax(&logits);
            if predicted == PHONEME_END {
                break;
            }
            phones.push(PHONEMES.get(predicted).copied().unwrap_or("<unk>"));
            previous = predicted;
        }
        phones
    }
}

impl Gru {
    /// Arguments in checkpoint order: the embedding feeding the layer, `w_ih`, `w_hh`, `b_ih`, `b_hh`.
    fn new(embedding: &[f32], w_ih: &[f32], w_hh: Vec<f32>, b_ih: &[f32], b_hh: Vec<f32>) -> Self {
        let input_gates = embedding.chunks_exact(EMBEDDING).map(|x| affine(w_ih, b_ih, x)).collect();
        Gru { input_gates, w_hh, b_hh }
    }

    /// `G2p.grucell`: `r, z = σ(W_ih x + b_ih + W_hh h + b_hh)` split, `n = tanh(n_ih + r·n_hh)`,
    /// `h' = (1 − z)·n + z·h`, each operation rounded to f32 like numpy.
    fn step(&self, input: usize, h: &[f32]) -> Vec<f32> {
        let Some(ih) = self.input_gates.get(input) else {
            return h.to_vec();
        };
        let hh = affine(&self.w_hh, &self.b_hh, h);
        (0..HIDDEN)
            .map(|j| {
                let r = sigmoid(ih[j] + hh[j]);
                let z = sigmoid(ih[HIDDEN + j] + hh[HIDDEN + j]);
                let n = tanh(ih[2 * HIDDEN + j] + r * hh[2 * HIDDEN + j]);
                (1.0 - z) * n + z * h[j]
            })
            .collect()
    }
}

/// `np.matmul(x, w.T) + b` for one row vector `x`: the product rounded to f32, then the bias
/// added in f32.
fn affine(w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks_exact(x.len().max(1)).zip(b).map(|(w_row, &bias)| dot(w_row, x) as f32 + bias).collect()
}

/// Dot product in f64 (eight partial sums, so it vectorizes; exact enough that rounding to f32
/// does not depend on the order).
fn dot(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 =
        a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            lanes[k] += f64::from(x[k]) * f64::from(y[k]);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `1 / (1 + np.exp(-x))` in f32.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + ((-f64::from(x)).exp() as f32))
}

/// `np.tanh(x)` in f32.
fn tanh(x: f32) -> f32 {
    f64::from(x).tanh() as f32
}

/// `ndarray.argmax()`: index of the first maximum.
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected phones from g2p_en 2.1.0 `G2p().predict(word)` (numpy 1.26.4).
    #[test]
    fn predicts_like_g2p_en() {
        let predictor = G2pPredictor::load().unwrap();
        assert_eq!(predictor.predict("conda"), ["K", "AA1", "N", "D", "AH0"]);
        assert!(predictor.predict("").len() <= MAX_PHONES);
        assert!(predictor.predict("x-y'z").len() <= MAX_PHONES);
    }
}
