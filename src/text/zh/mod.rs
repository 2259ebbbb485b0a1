//! Mandarin grapheme-to-phoneme for the v2 symbol set: upstream
//! `GPT_SoVITS/text/chinese2.py::g2p` on the pypinyin branch (`is_g2pw = False`), given text
//! already normalized by `text_normalize`.
//!
//! Pipeline per sentence: jieba POS segmentation ([`segment`]), tone-sandhi word merges,
//! pypinyin readings per word ([`pinyin`]), tone sandhi ([`tone_sandhi`]), erhua ([`erhua`]),
//! and the opencpop syllable table ([`phones`]). Every Han char yields two phones and every kept
//! punctuation mark one.

mod char_str;
mod erhua;
mod phones;
mod pinyin;
mod segment;
mod tone_sandhi;

use std::sync::OnceLock;

use char_str::CharStr;
use phones::{PhoneMap, PUNCTUATION};
use pinyin::PinyinDict;
use segment::Segmenter;
use tone_sandhi::ToneSandhi;

use crate::text::{resource, TextError};

/// The Mandarin G2P with its dictionaries and models loaded.
pub struct MandarinG2p {
    segmenter: Segmenter,
    pinyin: PinyinDict,
    sandhi: ToneSandhi,
    phone_map: PhoneMap,
}

/// Python's `str.isspace()` (which is also what `\s` matches in `re`): Rust's `White_Space`
/// plus the information separators U+001C..U+001F.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

impl MandarinG2p {
    /// The process-wide instance, built on first use (inflating and parsing the embedded data
    /// takes roughly 0.1-0.2 s of CPU, spread over a few threads).
    pub fn shared() -> Result<&'static MandarinG2p, TextError> {
        static SHARED: OnceLock<Result<MandarinG2p, (&'static str, String)>> = OnceLock::new();
        resource::build_once(&SHARED, "Mandarin G2P data", Self::load)
    }

    fn load() -> Result<Self, TextError> {
        let (segmenter, pinyin) = resource::load_both(Segmenter::load, PinyinDict::load)?;
        Ok(Self { segmenter, pinyin, sandhi: ToneSandhi::load()?, phone_map: PhoneMap::load()? })
    }

    /// Phones and `word2ph` (phones per char of `norm_text`) for normalized Mandarin text.
    ///
    /// On the text `text_normalize` produces (Han chars and `!?…,.-`) this equals upstream
    /// exactly. Chars upstream would drop or fail on (Latin letters, whitespace, digits, symbols,
    /// syllables missing from the opencpop table) get no phones and a `word2ph` entry of 0, so
    /// `word2ph` always has one entry per char and sums to the number of phones.
    pub fn g2p(&self, norm_text: &str) -> (Vec<String>, Vec<usize>) {
        let text = CharStr::new(norm_text);
        let mut phones = Vec::new();
        let mut word2ph = vec![0; text.len()];
        for (start, end) in split_sentences(norm_text) {
            // Upstream deletes `[a-zA-Z]+` before segmenting; remember where the kept chars were.
            let kept: Vec<(usize, char)> =
                text.slice(start, end).chars().enumerate().filter(|(_, c)| !c.is_ascii_alphabetic()).collect();
            let sentence: String = kept.iter().map(|&(_, c)| c).collect();
            let mut cursor = 0;
            let tokens = self.sandhi.pre_merge_for_modify(&self.pinyin, self.segmenter.pos_cut(&sentence));
            for token in tokens {
                let positions = &kept[cursor.min(kept.len())..];
                cursor += token.word.chars().count();
                if token.pos == "eng" {
                    continue;
                }
                let units = self.pinyin.lazy_pinyin(&token.word);
                let finals = units.iter().map(|u| u.final_.clone()).collect();
                let mut finals = self.sandhi.modified_tone(&self.segmenter, &token.word, &token.pos, finals);
                erhua::merge_erhua(&token.word, &token.pos, &mut finals);
                let mut unit_start = 0;
                for (unit, final_) in units.iter().zip(&finals) {
                    let unit_positions = positions.get(unit_start..unit_start + unit.chars);
                    unit_start += unit.chars;
                    // A unit covering several chars is a non-Han run, which upstream rejects too.
                    if let (Some([(offset, _)]), Some(unit_phones)) =
                        (unit_positions, self.phone_map.phones(&unit.initial, final_))
                    {
                        word2ph[start + offset] = unit_phones.len();
                        phones.extend(unit_phones);
                    }
                }
            }
        }
        (phones, word2ph)
    }
}

/// `re.split(r"(?<=[!?…,.-])\s*", text)` minus blank pieces: a sentence ends after each
/// punctuation mark, and whitespace right after it belongs to no sentence. Char ranges.
fn split_sentences(text: &str) -> Vec<(usize, usize)> {
    let mut sentences = Vec::new();
    let mut push = |chars: &[char], start: usize, end: usize| {
        if chars[start..end].iter().any(|&c| !py_isspace(c)) {
            sentences.push((start, end));
        }
    };
    let chars: Vec<char> = text.chars().collect();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let mut buf = [0; 4];
        let is_mark = PUNCTUATION.contains(&&*chars[i].encode_utf8(&mut buf));
        i += 1;
        if is_mark {
            push(&chars, start, i);
            while i < chars.len() && py_isspace(chars[i]) {
                i += 1;
            }
            start = i;
        }
    }
    push(&chars, start, chars.len());
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_after_punctuation() {
        assert_eq!(split_sentences("你好, 世界.再见"), vec![(0, 3), (4, 7), (7, 9)]);
        assert_eq!(split_sentences("a,,b"), vec![(0, 2), (2, 3), (3, 4)]);
        assert_eq!(split_sentences("  "), vec![]);
        assert_eq!(split_sentences(""), vec![]);
    }
}
