//! English G2P: upstream `GPT_SoVITS/text/english.py` `g2p(text)` (class `en_G2p(G2p)`, built on
//! g2p_en 2.1.0), for text that already went through English `text_normalize`.
//!
//! Per token of NLTK's `TweetTokenizer` ([`tokenizer`]): non-words stay as they are, single
//! letters come from the CMU lexicon (`A` alone reads `EY1`), homographs pick a reading by the NLTK
//! perceptron POS tag ([`tagger`]), everything else goes through `qryword`: the lexicon
//! ([`lexicon`]), then for title-case words the name dictionary, then ≤ 3 characters spelled out
//! letter by letter, then the possessive `'s`, then a `wordsegment` compound split
//! ([`wordsegment`]), and finally g2p_en's neural predictor ([`predictor`]).
//!
//! Upstream's `g2p` itself neither adds the leading `,` for short output nor maps unknown symbols to
//! `UNK`: both happen in `clean_text`. It drops phones outside the v2 table instead (after `'` → `-`).
//!
//! Where upstream Python would raise (a letter missing from the lexicon, a possessive whose stem has
//! no phones), this emits nothing for that letter / reads the `'s` as `Z`; neither can happen for
//! normalized text.
//!
//! The upper-case split (`GPT-SoVITS` → `G P T- So V I T S`) is not here: upstream does it in
//! `en_normalization/expend.py::normalize`, part of `text_normalize`.

mod lexicon;
mod predictor;
mod pystr;
mod tagger;
mod tokenizer;
mod wordsegment;

use std::sync::OnceLock;

use super::resource::{build_once, corrupt, load_both};
use super::{SymbolSet, TextError};
use lexicon::{Lexicon, Pronunciation};
use predictor::G2pPredictor;
use tagger::PerceptronTagger;
use wordsegment::WordSegmenter;

/// The English G2P with all its data loaded.
pub struct EnglishG2p {
    lexicon: Lexicon,
    tagger: PerceptronTagger,
    segmenter: WordSegmenter,
    predictor: G2pPredictor,
}

/// Tokens `g2p` removes outright (the `" "` word separator and g2p_en's special tokens; also the
/// stressless `UW`, which the v2 table lacks).
const DROPPED: [&str; 5] = [" ", "<pad>", "UW", "</s>", "<s>"];

impl EnglishG2p {
    /// The process-wide instance, built on first use: unpacks and indexes ~11 MB of embedded gzip
    /// data (~27 MB raw); about 0.65 s of CPU, spread over four threads.
    pub fn shared() -> Result<&'static EnglishG2p, TextError> {
        static SHARED: OnceLock<Result<EnglishG2p, (&'static str, String)>> = OnceLock::new();
        build_once(&SHARED, "english g2p data", EnglishG2p::load)
    }

    fn load() -> Result<Self, TextError> {
        if !tokenizer::is_ready() {
            return Err(corrupt("tokenizer patterns", "failed to compile"));
        }
        // The four parts are independent; decompressing and indexing them in parallel roughly
        // halves the start-up time.
        let (tagger, (segmenter, (predictor, lexicon))) = load_both(PerceptronTagger::load, || {
            load_both(WordSegmenter::load, || load_both(G2pPredictor::load, Lexicon::load))
        })?;
        Ok(EnglishG2p { lexicon, tagger, segmenter, predictor })
    }

    /// `english.g2p(norm_text)`: ARPAbet phones (with stress digits) and punctuation.
    pub fn g2p(&self, norm_text: &str) -> Vec<String> {
        let words = tokenizer::tokenize(norm_text);
        // Tags only choose homograph readings; skip the tagger when no token needs one.
        let needs_tags = words.iter().any(|w| self.lexicon.is_homograph(&w.to_lowercase()));
        let tags = if needs_tags { self.tagger.tag(&words) } else { Vec::new() };
        let mut phones = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let tag = tags.get(i).copied().unwrap_or("");
            for phone in self.pronounce_token(word, tag) {
                if DROPPED.contains(&phone.as_str()) {
                    continue;
                }
                // `replace_phs`: keep table symbols, `'` becomes `-`, anything else is dropped.
                let phone = if phone == "<unk>" { "UNK".to_string() } else { phone };
                if SymbolSet::V2.id(&phone).is_some() {
                    phones.push(phone);
                } else if phone == "'" {
                    phones.push("-".to_string());
                }
            }
        }
        phones
    }

    /// One token of `en_G2p.__call__`.
    fn pronounce_token(&self, o_word: &str, pos: &str) -> Vec<String> {
        let word = o_word.to_lowercase();
        if !word.chars().any(|c| c.is_ascii_lowercase()) {
            return vec![word];
        }
        if word.chars().count() == 1 {
            return if o_word == "A" { vec!["EY1".to_string()] } else { self.cmu_phones(&word) };
        }
        if let Some(homograph) = self.lexicon.homograph(&word) {
            let tag_matches =
                pos.starts_with(&*homograph.pos) || (pos.len() < homograph.pos.len() && homograph.pos.starts_with(pos));
            let reading = if tag_matches { &homograph.reading_if_pos } else { &homograph.reading_otherwise };
            return to_strings(reading);
        }
        self.query_word(o_word)
    }

    /// `en_G2p.qryword`: the out-of-context lookup chain for one word.
    fn query_word(&self, o_word: &str) -> Vec<String> {
        let word = o_word.to_lowercase();
        let len = word.chars().count();
        if len > 1 {
            if let Some(phones) = self.lexicon.cmu(&word) {
                return to_strings(phones);
            }
        }
        if pystr::is_title(o_word) {
            if let Some(phones) = self.lexicon.name(&word) {
                return to_strings(phones);
            }
        }
        if len <= 3 {
            return word.chars().flat_map(|c| self.spell_letter(c)).collect();
        }
        if let Some(stem) = possessive_stem(&word) {
            let mut phones = self.query_word(stem);
            let ending: &[&str] = match phones.last().map(String::as_str) {
                Some("P" | "T" | "K" | "F" | "TH" | "HH") => &["S"],
                Some("S" | "Z" | "SH" | "ZH" | "CH" | "JH") => &["AH0", "Z"],
                _ => &["Z"],
            };
            phones.extend(ending.iter().map(|p| p.to_string()));
            return phones;
        }
        let parts = self.segmenter.segment(&word);
        if parts.len() == 1 {
            return self.predictor.predict(&word).into_iter().map(str::to_string).collect();
        }
        parts.iter().flat_map(|part| self.query_word(part)).collect()
    }

    /// One character of a short unknown word: `a` reads `EY1`, non-letters stay themselves.
    fn spell_letter(&self, c: char) -> Vec<String> {
        if c == 'a' {
            vec!["EY1".to_string()]
        } else if !pystr::is_alpha(c) {
            vec![c.to_string()]
        } else {
            self.cmu_phones(c.encode_utf8(&mut [0u8; 4]))
        }
    }

    fn cmu_phones(&self, word: &str) -> Vec<String> {
        self.lexicon.cmu(word).map(to_strings).unwrap_or_default()
    }
}

/// `re.match(r"^([a-z]+)('s)$", word)`: the stem of an ASCII possessive.
fn possessive_stem(word: &str) -> Option<&str> {
    word.strip_suffix("'s").filter(|stem| !stem.is_empty() && stem.chars().all(|c| c.is_ascii_lowercase()))
}

fn to_strings(pronunciation: &Pronunciation) -> Vec<String> {
    pronunciation.phones().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g2p(text: &str) -> String {
        EnglishG2p::shared().unwrap().g2p(text).join(" ")
    }

    // Expected phones below come from upstream `english.g2p` (the Python reference).
    #[test]
    fn lookup_chain() {
        assert_eq!(g2p("A a"), "EY1 AH0");
        assert_eq!(g2p("Zhang"), "ZH AE1 NG");
        assert_eq!(g2p("I's cat's dog's box's"), "AY1 Z K AE1 T S D AO1 G Z B AA1 K S AH0 Z");
        assert_eq!(g2p("ios"), "AY1 OW1 EH1 S");
        assert_eq!(g2p("sunflowerseed"), "S AH1 N F L AW2 ER0 S IY1 D");
    }

    #[test]
    fn punctuation_and_apostrophes() {
        assert_eq!(g2p("Hmm. really? Yes!"), "HH AH0 M . R IH1 L IY0 ? Y EH1 S !");
        assert_eq!(g2p("the dogs' owner"), "DH AH0 D AA1 G Z - OW1 N ER0");
        assert_eq!(g2p("G P T- So"), "JH IY1 P IY1 T IY1 - S OW1");
        assert_eq!(g2p("... . ."), "");
        assert_eq!(g2p(""), "");
    }

    #[test]
    fn homographs_follow_the_tagger() {
        assert_eq!(g2p("Please record the record."), "P L IY1 Z R IH0 K AO1 R D DH AH0 R EH1 K ER0 D .");
        assert_eq!(g2p("I read the book"), "AY1 R IY1 D DH AH0 B UH1 K");
    }
}
