//! Japanese G2P, mirroring GPT-SoVITS v2 `text/japanese.py` (`text_normalize`, `g2p` with prosody marks)
//! on top of a Rust port of the parts of pyopenjtalk 0.4.1 / Open JTalk 1.11 that the phones depend on:
//! MeCab analysis over the user's installed naist-jdic, the NJD passes, and the label structure.
//!
//! The ~100 MB dictionary is not shipped: it is read at run time from `$OPEN_JTALK_DICT_DIR` or Debian's
//! `open-jtalk-mecab-naist-jdic` location.

mod dictionary;
mod njd;
mod prosody;
mod rules;
mod text2mecab;
mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use njd::Njd;
use tokenizer::Tokenizer;

/// Environment variable naming the dictionary folder (the same variable pyopenjtalk reads).
pub const DICT_DIR_ENV: &str = "OPEN_JTALK_DICT_DIR";
/// Where Debian's `open-jtalk-mecab-naist-jdic` installs the compiled dictionary.
pub const DEBIAN_DICT_DIR: &str = "/var/lib/mecab/dic/open-jtalk/naist-jdic";

/// Errors of the Japanese frontend (all about the run-time dictionary).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaError {
    /// No folder with `sys.dic` was found.
    #[error(
        "Open JTalk dictionary not found (looked in: {searched}); install it with \
         `apt-get install open-jtalk-mecab-naist-jdic` or point {DICT_DIR_ENV} at a folder holding \
         sys.dic, unk.dic, matrix.bin and char.bin"
    )]
    DictionaryNotFound { searched: String },
    /// A dictionary file exists but could not be read.
    #[error("cannot read Open JTalk dictionary file {file}: {detail}")]
    DictionaryIo { file: String, detail: String },
    /// A dictionary file is not a MeCab 0.996 compiled dictionary.
    #[error("Open JTalk dictionary file {file} is corrupt or incompatible: {detail}")]
    CorruptDictionary { file: String, detail: String },
}

/// Japanese grapheme-to-phoneme converter (holds the loaded dictionary).
pub struct JapaneseG2p {
    tokenizer: Tokenizer,
}

/// Punctuation kept by the cleaner (`text/symbols.py::punctuation`).
const PUNCTUATION: [char; 6] = ['!', '?', '…', ',', '.', '-'];

/// Mirrors `japanese.py::text_normalize` (= `replace_consecutive_punctuation`): every run of two or
/// more punctuation marks is reduced to its first mark.
pub fn text_normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_is_punctuation = false;
    for c in text.chars() {
        let is_punctuation = PUNCTUATION.contains(&c);
        if !(is_punctuation && previous_is_punctuation) {
            out.push(c);
        }
        previous_is_punctuation = is_punctuation;
    }
    out
}

/// `_japanese_characters`: characters that belong to a run handed to Open JTalk (`\d` is any Unicode
/// decimal digit, as in Python's `re`).
fn is_japanese_char(c: char) -> bool {
    c.is_ascii_alphabetic()
        || is_unicode_decimal_digit(c)
        || matches!(c, '\u{3005}' | '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}' | '\u{ff11}'..='\u{ff19}'
            | '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}' | '\u{ff66}'..='\u{ff9d}')
}

/// Unicode general category Nd (what Python's `\d` matches in `str` patterns).
fn is_unicode_decimal_digit(c: char) -> bool {
    static DIGIT: OnceLock<Option<regex::Regex>> = OnceLock::new();
    if c.is_ascii_digit() {
        return true;
    }
    if c.is_ascii() {
        return false;
    }
    DIGIT
        .get_or_init(|| regex::Regex::new(r"^\d$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}

/// `post_replace_ph`: full-width punctuation and newlines to the ASCII marks of the symbol table.
fn post_replace_ph(mark: char) -> String {
    match mark {
        '：' | '；' | '，' | '·' | '、' => ",".to_string(),
        '。' | '\n' => ".".to_string(),
        '！' => "!".to_string(),
        '？' => "?".to_string(),
        other => other.to_string(),
    }
}

impl JapaneseG2p {
    /// Loads (once per process) the dictionary from `$OPEN_JTALK_DICT_DIR`, else from Debian's location.
    pub fn load() -> Result<&'static JapaneseG2p, JaError> {
        static INSTANCE: OnceLock<Result<JapaneseG2p, JaError>> = OnceLock::new();
        INSTANCE.get_or_init(|| Self::open(&Self::find_dictionary()?)).as_ref().map_err(Clone::clone)
    }

    /// Loads a dictionary from an explicit folder (sys.dic, unk.dic, matrix.bin, char.bin).
    pub fn open(dir: &Path) -> Result<JapaneseG2p, JaError> {
        Ok(JapaneseG2p { tokenizer: Tokenizer::open(dir)? })
    }

    fn find_dictionary() -> Result<PathBuf, JaError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = std::env::var_os(DICT_DIR_ENV).filter(|dir| !dir.is_empty()) {
            candidates.push(PathBuf::from(dir));
        }
        candidates.push(PathBuf::from(DEBIAN_DICT_DIR));
        candidates.iter().find(|dir| dir.join("sys.dic").is_file()).cloned().ok_or_else(|| {
            JaError::DictionaryNotFound {
                searched: candidates.iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>().join(", "),
            }
        })
    }

    /// Mirrors `japanese.py::g2p(norm_text)` (with prosody): `％` → パーセント, lower-case, Japanese runs
    /// through Open JTalk with `[ ] # _` marks, other characters kept as marks (spaces dropped,
    /// full-width punctuation mapped). Symbols outside the v2 table (e.g. `#`) are left for the cleaner.
    pub fn g2p(&self, norm_text: &str) -> Vec<String> {
        let text = norm_text.replace('％', "パーセント").to_lowercase();
        let mut phones = Vec::new();
        let mut run = String::new();
        for c in text.chars() {
            if is_japanese_char(c) {
                run.push(c);
                continue;
            }
            phones.extend(self.sentence_phones(&std::mem::take(&mut run)));
            if c != ' ' {
                phones.push(post_replace_ph(c));
            }
        }
        phones.extend(self.sentence_phones(&run));
        phones
    }

    /// `pyopenjtalk_g2p_prosody(sentence)[1:-1]`.
    fn sentence_phones(&self, sentence: &str) -> Vec<String> {
        if sentence.is_empty() {
            return Vec::new();
        }
        let lines: Vec<String> = self
            .tokenizer
            .analyze(&text2mecab::text2mecab(sentence))
            .into_iter()
            .map(|morpheme| format!("{},{}", morpheme.surface, morpheme.feature))
            .collect();
        let mut njd = Njd::from_mecab(&lines);
        njd.analyze();
        prosody::prosody_phones(&njd)
    }
}

#[cfg(test)]
mod tests {
    use super::{is_japanese_char, post_replace_ph, text_normalize};

    #[test]
    fn collapses_punctuation_runs() {
        assert_eq!(text_normalize("よ……!?。。"), "よ…。。");
        assert_eq!(text_normalize("a-.b"), "a-b");
    }

    #[test]
    fn japanese_character_class() {
        for c in ['a', 'Z', '7', '０', '٣', '々', 'ー', '・', '漢', 'ｶ', 'Ａ'] {
            assert!(is_japanese_char(c), "{c}");
        }
        for c in [' ', '。', '「', '％', 'ﾞ', '〇', '　', '①'] {
            assert!(!is_japanese_char(c), "{c}");
        }
    }

    #[test]
    fn maps_full_width_marks() {
        assert_eq!(post_replace_ph('、'), ",");
        assert_eq!(post_replace_ph('「'), "「");
    }
}
