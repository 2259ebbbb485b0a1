//! Cantonese (`yue`) text frontend, mirroring upstream GPT-SoVITS `text/cantonese.py`:
//! `text_normalize` (zh `TextNormalizer` sentences, then Cantonese punctuation cleanup) and `g2p`
//! (ToJyutping 3.2.0 readings split into `Y`-prefixed initial/final phones).

mod phones;
mod punctuation;
mod syllable;
mod trie;

use std::sync::OnceLock;

use crate::text::resource::{build_once, corrupt, gunzip_text};
use crate::text::zh_normalize::normalize_sentences;
use crate::text::TextError;

use punctuation::replace_punctuation;
use trie::JyutpingTrie;

/// Upstream `text/symbols.py::punctuation`: the symbols kept by cleaning, each one phone.
const PUNCTUATION: [char; 6] = ['!', '?', '…', ',', '.', '-'];

/// ToJyutping 3.2.0 `trie.txt`, gzipped.
const TRIE_GZ: &[u8] = include_bytes!("data/trie.txt.gz");
/// Names the trie in load errors.
const TRIE_NAME: &str = "ToJyutping trie.txt";

/// Cantonese grapheme-to-phoneme converter holding the parsed ToJyutping dictionary.
pub struct CantoneseG2p {
    trie: JyutpingTrie,
}

impl CantoneseG2p {
    /// The process-wide instance; the embedded dictionary is decompressed and parsed on first use.
    pub fn shared() -> Result<&'static CantoneseG2p, TextError> {
        static SHARED: OnceLock<Result<CantoneseG2p, (&'static str, String)>> = OnceLock::new();
        build_once(&SHARED, TRIE_NAME, Self::load)
    }

    fn load() -> Result<Self, TextError> {
        let text = gunzip_text(TRIE_NAME, TRIE_GZ)?;
        Ok(Self { trie: JyutpingTrie::parse(&text).map_err(|detail| corrupt(TRIE_NAME, detail))? })
    }

    /// Phones and per-character phone counts (`word2ph`) of normalized text, mirroring upstream
    /// `cantonese.g2p` (`get_jyutping` + `jyuping_to_initials_finals_tones`): punctuation gives
    /// itself (1 phone); every other character gives `Y<initial>`, `Y<final><tone>` (2 phones).
    ///
    /// Phones are returned as upstream's g2p produces them, before the cleaner maps symbols missing
    /// from the v2 table to `UNK` (e.g. `Yp1` from `ap1`, `Yaa1 aa6` from the two-syllable `卅`).
    /// Where upstream raises instead (a character without a reading, such as Latin letters or
    /// `乛`, or a syllable no initial matches: `ik1`, `it6`), the character yields no phones and a
    /// `word2ph` of 0, so `word2ph` still has one entry per character.
    pub fn g2p(&self, norm_text: &str) -> (Vec<String>, Vec<usize>) {
        let chars: Vec<char> = norm_text.chars().collect();
        let mut phones = Vec::with_capacity(2 * chars.len());
        let mut word2ph = Vec::with_capacity(chars.len());
        for (&ch, reading) in chars.iter().zip(self.trie.readings(&chars)) {
            if PUNCTUATION.contains(&ch) {
                phones.push(ch.to_string());
                word2ph.push(1);
                continue;
            }
            match reading.and_then(|r| phones::syllable_phones(&syllable::reading_text(r))) {
                Some(pair) => {
                    phones.extend(pair);
                    word2ph.push(2);
                }
                None => word2ph.push(0),
            }
        }
        (phones, word2ph)
    }
}

/// Normalized Cantonese text, mirroring upstream `cantonese.text_normalize`: the zh
/// `TextNormalizer` splits and normalizes sentences (numbers, traditional→simplified, …), then
/// each sentence goes through the Cantonese punctuation cleanup and the results are concatenated.
pub fn text_normalize(text: &str) -> String {
    normalize_sentences(text).iter().map(|sentence| replace_punctuation(sentence)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g2p(text: &str) -> (Vec<String>, Vec<usize>) {
        match CantoneseG2p::shared() {
            Ok(g2p) => g2p.g2p(text),
            Err(e) => panic!("{e}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn punctuation_is_one_phone_without_prefix() {
        assert_eq!(
            g2p("好!?…,.-"),
            (strings(&["Yh", "You2", "!", "?", "…", ",", ".", "-"]), vec![2, 1, 1, 1, 1, 1, 1])
        );
    }

    #[test]
    fn two_syllable_character_is_one_unit() {
        assert_eq!(g2p("卅"), (strings(&["Ys", "Yaa1 aa6"]), vec![2]));
    }

    #[test]
    fn characters_without_reading_keep_word2ph_aligned() {
        assert_eq!(g2p("a好 乛"), (strings(&["Yh", "You2"]), vec![0, 2, 0, 0]));
        assert_eq!(g2p(""), (vec![], vec![]));
    }
}
