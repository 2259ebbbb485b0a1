//! Korean (`ko`) text frontend, mirroring upstream GPT-SoVITS `text/korean.py::g2p` (v2): Latin
//! letters are spelled out in Hangul, g2pk2 0.0.3 applies the standard pronunciation rules, the
//! result is split into compatibility jamo (one phone each, complex vowels as two), and every
//! character becomes one phone.
//!
//! `korean.py` has no `text_normalize`: `clean_text` uses the input text unchanged as `norm_text`.
//! Upstream g2pk2 tags parts of speech with mecab-ko, which is not shipped; the tags that change
//! the pronunciation are approximated from the surface form (see `g2pk/annotate.rs`).

mod g2pk;
mod jamo;

use std::sync::OnceLock;

use crate::text::resource::{build_once, corrupt};
use crate::text::{SymbolSet, TextError};

/// Names the embedded g2pk2 tables in load errors.
const TABLES: &str = "g2pk2 tables";

use g2pk::G2pk;

/// Spelled-out Latin letters, mirroring `korean._latin_to_hangul` (a–z, case-insensitive).
const LATIN_LETTER_NAMES: [&str; 26] = [
    "에이",
    "비",
    "시",
    "디",
    "이",
    "에프",
    "지",
    "에이치",
    "아이",
    "제이",
    "케이",
    "엘",
    "엠",
    "엔",
    "오",
    "피",
    "큐",
    "아르",
    "에스",
    "티",
    "유",
    "브이",
    "더블유",
    "엑스",
    "와이",
    "제트",
];

/// Korean grapheme-to-phoneme converter holding g2pk2's parsed tables.
pub struct KoreanG2p {
    g2pk: G2pk,
}

/// Index into [`LATIN_LETTER_NAMES`] of a character Python's `re.IGNORECASE` matches against
/// `a`–`z`: ASCII letters plus the Kelvin sign, long s and the dotted/dotless i.
fn latin_letter_index(ch: char) -> Option<usize> {
    let letter = match ch {
        'a'..='z' | 'A'..='Z' => ch.to_ascii_lowercase(),
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        '\u{0130}' | '\u{0131}' => 'i',
        _ => return None,
    };
    Some(letter as usize - 'a' as usize)
}

/// Spells out Latin letters one by one; mirrors `korean.latin_to_hangul`.
fn latin_to_hangul(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for ch in text.chars() {
        match latin_letter_index(ch) {
            Some(i) => out.push_str(LATIN_LETTER_NAMES[i]),
            None => out.push(ch),
        }
    }
    out
}

/// Splits complex vowels into two basic vowels, the second half of `korean.divide_hangul`.
fn split_complex_vowel(ch: char) -> Option<[char; 2]> {
    Some(match ch {
        'ㅘ' => ['ㅗ', 'ㅏ'],
        'ㅙ' => ['ㅗ', 'ㅐ'],
        'ㅚ' => ['ㅗ', 'ㅣ'],
        'ㅝ' => ['ㅜ', 'ㅓ'],
        'ㅞ' => ['ㅜ', 'ㅔ'],
        'ㅟ' => ['ㅜ', 'ㅣ'],
        'ㅢ' => ['ㅡ', 'ㅣ'],
        'ㅑ' => ['ㅣ', 'ㅏ'],
        'ㅒ' => ['ㅣ', 'ㅐ'],
        'ㅕ' => ['ㅣ', 'ㅓ'],
        'ㅖ' => ['ㅣ', 'ㅔ'],
        'ㅛ' => ['ㅣ', 'ㅗ'],
        'ㅠ' => ['ㅣ', 'ㅜ'],
        _ => return None,
    })
}

/// Conjoining jamo → compatibility jamo with complex vowels split; mirrors `korean.divide_hangul`
/// (whose `h2j` is a no-op on g2pk's already decomposed output).
fn divide_hangul(jamo_text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(jamo_text.len());
    for ch in jamo::to_compatibility(jamo_text).chars() {
        match split_complex_vowel(ch) {
            Some(pair) => out.extend(pair),
            None => out.push(ch),
        }
    }
    out
}

/// Undoes g2pk2's ㄹ-nasalisation after a word-final `을`/`를` (`-을 리` → `-을 니`); mirrors
/// `korean.fix_g2pk2_error`, including its scan that stops four characters before the end.
fn fix_rieul_after_object_particle(chars: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i + 4 < chars.len() {
        let window = &chars[i..i + 5];
        if matches!(window, ['ㅇ' | 'ㄹ', 'ㅡ', 'ㄹ', ' ', 'ㄹ']) {
            out.extend_from_slice(&window[..3]);
            out.extend([' ', 'ㄴ']);
            i += 5;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&chars[i..]);
    out
}

/// Whether `ch` is in `[\u3131-\u3163]` (modern compatibility jamo).
fn is_modern_compat_jamo(ch: char) -> bool {
    ('\u{3131}'..='\u{3163}').contains(&ch)
}

/// Appends `.` when the text ends in a jamo; mirrors `re.sub(r'([\u3131-\u3163])$', r'\1.', …)`,
/// whose `$` also matches before a final newline.
fn add_final_period(chars: &mut Vec<char>) {
    let end = if chars.last() == Some(&'\n') { chars.len() - 1 } else { chars.len() };
    if end > 0 && is_modern_compat_jamo(chars[end - 1]) {
        chars.insert(end, '.');
    }
}

/// One character → one phone; mirrors `korean.post_replace_ph`.
fn post_replace_ph(ch: char) -> String {
    let mapped = match ch {
        '：' | '；' | '，' | '·' | '、' => ',',
        '。' | '\n' => '.',
        '！' => '!',
        '？' => '?',
        ' ' => '空',
        _ => ch,
    };
    // Upstream checks against the v2 phone table (`symbols2.py`); anything else becomes 停.
    let phone = mapped.to_string();
    if SymbolSet::V2.id(&phone).is_some() {
        phone
    } else {
        "停".to_string()
    }
}

impl KoreanG2p {
    /// The process-wide instance; the embedded tables are parsed on first use.
    pub fn shared() -> Result<&'static KoreanG2p, TextError> {
        static SHARED: OnceLock<Result<KoreanG2p, (&'static str, String)>> = OnceLock::new();
        build_once(&SHARED, TABLES, || G2pk::load().map(|g2pk| KoreanG2p { g2pk }).map_err(|e| corrupt(TABLES, e)))
    }

    /// Phones of `text` (which is also its `norm_text`), mirroring upstream `korean.g2p`: one per
    /// character of the pronounced jamo string, spaces as `空`, unknown characters as `停`.
    pub fn g2p(&self, text: &str) -> Vec<String> {
        let pronounced = self.g2pk.pronounce(&latin_to_hangul(text));
        let mut chars = fix_rieul_after_object_particle(&divide_hangul(&pronounced));
        add_final_period(&mut chars);
        chars.into_iter().map(post_replace_ph).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g2p(text: &str) -> String {
        KoreanG2p::shared().unwrap_or_else(|e| panic!("{e}")).g2p(text).concat()
    }

    #[test]
    fn spells_latin_letters_like_python_ignorecase() {
        assert_eq!(latin_to_hangul("Ab\u{212A}ſİ!"), "에이비케이에스아이!");
    }

    #[test]
    fn applies_liaison_tensing_and_vowel_splitting() {
        assert_eq!(g2p("책을 읽었다"), "ㅊㅐㄱㅡㄹ空ㅇㅣㄹㄱㅓㄷㄸㅏ.");
        assert_eq!(g2p("값이"), "ㄱㅏㅂㅆㅣ.");
        assert_eq!(g2p("같이"), "ㄱㅏㅊㅣ.");
        // g2pk2's letter-name rule matches any ㅡ before ㅈ/ㅊ/ㅌ/ㅎ + vowel, not only 지읒 etc.
        assert_eq!(g2p("디귿이 늦어"), "ㄷㅣㄱㅡㅅㅣ空ㄴㅡㅅㅓ.");
    }

    #[test]
    fn maps_punctuation_and_unknown_characters() {
        assert_eq!(g2p("가，😀"), "ㄱㅏ,停");
        assert_eq!(g2p(""), "");
    }

    #[test]
    fn fixes_rieul_nasalisation_after_particles() {
        let chars: Vec<char> = "ㅇㅡㄹ ㄹㅣ".chars().collect();
        assert_eq!(fix_rieul_after_object_particle(&chars).into_iter().collect::<String>(), "ㅇㅡㄹ ㄴㅣ");
    }

    #[test]
    fn final_period_goes_before_a_trailing_newline() {
        let mut chars: Vec<char> = "ㅏ\n".chars().collect();
        add_final_period(&mut chars);
        assert_eq!(chars.into_iter().collect::<String>(), "ㅏ.\n");
    }
}
