//! Mandarin text normalization: a port of upstream GPT-SoVITS's `text/zh_normalization`
//! package (PaddleSpeech's `TextNormalizer`) and of `text/chinese2.py::text_normalize`.
//!
//! Numbers, dates, times, phone numbers, units, arithmetic and symbols become Chinese words;
//! traditional characters become simplified; the result keeps only CJK characters and `!?…,.-`.
//! Behaviour, quirks included, is upstream's (commit 48b1a01), so phones match the reference.

mod char_convert;
mod chronology;
mod normalizer;
mod numbers;
mod pattern;
mod phonecode;
mod punctuation;
mod quantifier;
mod verbalize;
mod width;

pub use char_convert::traditional_to_simplified;
pub use normalizer::normalize_sentences;
pub use punctuation::{replace_consecutive_punctuation, replace_punctuation, replace_punctuation_with};

/// Mirrors `chinese2.py::text_normalize` (what `clean_text(…, "zh")` runs): normalize every
/// sentence, map and filter its punctuation, join, and collapse runs of punctuation.
/// Upstream's cleaner replaces `￥`/`^` by `,` before calling this; that is the caller's job.
pub fn text_normalize(text: &str) -> String {
    let joined: String = normalize_sentences(text).iter().map(|sentence| replace_punctuation(sentence)).collect();
    replace_consecutive_punctuation(&joined)
}
