//! Port of GPT-SoVITS `text/LangSegmenter/langsegmenter.py::LangSegmenter.getTexts`: split-lang's
//! pieces re-labelled by GPT-SoVITS' rules (ASCII-looking text → `en`, kana/Hangul runs inside
//! other text split out, unknown CJK → `zh`, digits attached to a neighbour, `x` inheriting).

use super::split_lang::{split_by_lang, Label};
use crate::text::python_chars::is_space;

/// One `{'lang': …, 'text': …}` item of `getTexts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    pub(super) lang: Label,
    pub(super) text: String,
}

/// Mirrors `merge_lang`: an item with the same label as the last one is appended to it.
fn merge_lang(list: &mut Vec<Item>, item: Item) {
    match list.last_mut() {
        Some(last) if last.lang == item.lang => last.text.push_str(&item.text),
        _ => list.push(item),
    }
}

/// Mirrors `full_en`: at least one ASCII letter before the first line break (the regex's
/// `(?=.*[A-Za-z])`) and every character ASCII, whitespace, General Punctuation (U+2000–U+206F),
/// CJK Symbols and Punctuation (U+3000–U+303F) or Halfwidth/Fullwidth Forms (U+FF00–U+FFEF).
fn full_en(text: &str) -> bool {
    let letter_on_first_line =
        text.split('\n').next().is_some_and(|line| line.chars().any(|c| c.is_ascii_alphabetic()));
    let allowed = |c: char| {
        is_space(c)
            || matches!(c, '\u{20}'..='\u{7e}' | '\u{2000}'..='\u{206f}' | '\u{3000}'..='\u{303f}' | '\u{ff00}'..='\u{ffef}')
    };
    letter_on_first_line && text.chars().all(allowed)
}

/// Separators that may continue a kana or Hangul run in `split_jako` and that `full_cjk` keeps:
/// `[0-9、-〜。！？.!?… ]` (`、-〜` is the range U+3001–U+301C).
fn is_run_separator(c: char) -> bool {
    matches!(c, '0'..='9' | '\u{3001}'..='\u{301c}' | '！' | '？' | '.' | '!' | '?' | '…' | ' ')
}

/// Mirrors `full_cjk`: only the characters in upstream's CJK ideograph ranges, the separators
/// above, and `/` (everything else is dropped).
fn full_cjk(text: &str) -> String {
    let cjk = |c: char| {
        matches!(
            c,
            '\u{4e00}'..='\u{9fff}'
                | '\u{3400}'..='\u{4db5}'
                | '\u{20000}'..='\u{2a6dd}'
                | '\u{2a700}'..='\u{2b73f}'
                | '\u{2b740}'..='\u{2b81f}'
                | '\u{2b820}'..='\u{2ceaf}'
                | '\u{2ceb0}'..='\u{2ebef}'
                | '\u{30000}'..='\u{3134a}'
                | '\u{31350}'..='\u{323af}'
                | '\u{2ebf0}'..='\u{2ee5d}'
        )
    };
    text.chars().filter(|&c| cjk(c) || is_run_separator(c) || c == '/').collect()
}

/// The script `split_jako` cuts out: kana (`ja`) or Hangul (`ko`).
#[derive(Clone, Copy)]
enum Embedded {
    Kana,
    Hangul,
}

impl Embedded {
    fn label(self) -> Label {
        match self {
            Self::Kana => Label::Ja,
            Self::Hangul => Label::Ko,
        }
    }

    fn starts_run(self, c: char) -> bool {
        match self {
            Self::Kana => {
                matches!(c, '\u{3041}'..='\u{3096}' | '\u{3099}' | '\u{309a}' | '\u{30a1}'..='\u{30fa}' | '\u{30fc}')
            }
            Self::Hangul => matches!(c, '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}' | '\u{ac00}'..='\u{d7af}'),
        }
    }
}

/// Mirrors `split_jako`: runs matching `([script]+(?:[sep]+[script]*)*)` (a script character then
/// any mix of script characters and separators — the two sets are disjoint, so the greedy regex
/// match is exactly that maximal run) become `ja`/`ko` items; the text around them keeps the item's
/// label.
fn split_embedded(script: Embedded, item: &Item) -> Vec<Item> {
    let mut out = Vec::new();
    let mut outside = String::new();
    let mut chars = item.text.chars().peekable();
    while let Some(c) = chars.next() {
        if !script.starts_run(c) {
            outside.push(c);
            continue;
        }
        if !outside.is_empty() {
            out.push(Item { lang: item.lang, text: std::mem::take(&mut outside) });
        }
        let mut run = c.to_string();
        while let Some(&next) = chars.peek() {
            if !script.starts_run(next) && !is_run_separator(next) {
                break;
            }
            run.push(next);
            chars.next();
        }
        out.push(Item { lang: script.label(), text: run });
    }
    if !outside.is_empty() {
        out.push(Item { lang: item.lang, text: outside });
    }
    out
}

/// `x` items become `zh` holding only their CJK characters when they have any.
fn merge_unknown_as_cjk(list: &mut Vec<Item>, item: Item) {
    let cjk = if item.lang == Label::X { full_cjk(&item.text) } else { String::new() };
    if cjk.is_empty() {
        merge_lang(list, item);
    } else {
        merge_lang(list, Item { lang: Label::Zh, text: cjk });
    }
}

/// Marks after which (or before which) a digit run is attached to the other neighbour.
fn is_clause_end(c: char) -> bool {
    matches!(c, ',' | '.' | '!' | '?' | '，' | '。' | '！' | '？')
}

/// Mirrors the `have_num` pass: each `digit` item (only present without a default language) takes
/// a neighbour's label — the previous one at the end, the next one at the start, otherwise the
/// shared label, or the side away from a clause end, or the previous one when the digits end in
/// `。`/`.`, or the longer side (previous on ties); a lone digit item becomes `zh`.
fn attach_digits(items: Vec<Item>) -> Vec<Item> {
    let mut list: Vec<Item> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut item = item.clone();
        if item.lang == Label::Digit {
            let next = items.get(i + 1);
            item.lang = match (list.last(), next) {
                (Some(prev), None) => prev.lang,
                (None, Some(next)) => next.lang,
                (Some(prev), Some(next)) => {
                    let after_clause_end = prev.text.chars().last().is_some_and(is_clause_end);
                    let leans_left = next.text.chars().next().is_some_and(is_clause_end)
                        || item.text.ends_with(['。', '.'])
                        || prev.text.chars().count() >= next.text.chars().count();
                    if prev.lang == next.lang || (!after_clause_end && leans_left) {
                        prev.lang
                    } else {
                        next.lang
                    }
                }
                (None, None) => Label::Zh,
            };
        }
        merge_lang(&mut list, item);
    }
    list
}

/// Mirrors the final pass: each `x` item takes the previous item's label, else the second item's,
/// else `zh`.
fn inherit_unknown(items: Vec<Item>) -> Vec<Item> {
    let second = items.get(1).map(|item| item.lang);
    let mut list: Vec<Item> = Vec::with_capacity(items.len());
    for mut item in items {
        if item.lang == Label::X {
            item.lang = list.last().map(|prev| prev.lang).or(second).unwrap_or(Label::Zh);
        }
        merge_lang(&mut list, item);
    }
    list
}

/// Mirrors `LangSegmenter.getTexts(text, default_lang)`. With a default language every item that
/// does not look English (and every digit run) gets it; without one, kana and Hangul runs are cut
/// out of other items and unknown CJK text becomes `zh`.
pub(super) fn get_texts(text: &str, default_lang: Option<Label>) -> Vec<Item> {
    let mut list: Vec<Item> = Vec::new();
    let mut have_num = false;
    for piece in split_by_lang(text) {
        let mut item = Item { lang: piece.lang, text: piece.text };
        if item.lang == Label::Digit {
            match default_lang {
                Some(lang) => item.lang = lang,
                None => have_num = true,
            }
            merge_lang(&mut list, item);
            continue;
        }
        if full_en(&item.text) {
            item.lang = Label::En;
            merge_lang(&mut list, item);
            continue;
        }
        if let Some(lang) = default_lang {
            item.lang = lang;
            merge_lang(&mut list, item);
            continue;
        }
        let kana_split =
            if item.lang == Label::Ja { vec![item.clone()] } else { split_embedded(Embedded::Kana, &item) };
        // Upstream keeps the previous Hangul split when an item is already `ko` (a quirk that
        // cannot trigger: `ko` pieces never contain kana); mirrored for fidelity.
        let mut hangul_split: Vec<Item> = Vec::new();
        let mut parts: Vec<Item> = Vec::new();
        for part in &kana_split {
            if part.lang != Label::Ko {
                hangul_split = split_embedded(Embedded::Hangul, part);
            }
            if hangul_split.is_empty() {
                parts.push(part.clone());
            } else {
                parts.extend(hangul_split.iter().cloned());
            }
        }
        if parts.len() == 1 {
            // Nothing was cut out: the original item goes on (an all-kana item keeps its label).
            merge_unknown_as_cjk(&mut list, item);
        } else {
            parts.into_iter().for_each(|part| merge_unknown_as_cjk(&mut list, part));
        }
    }
    if have_num {
        list = attach_digits(list);
    }
    inherit_unknown(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(lang: Label, text: &str) -> Item {
        Item { lang, text: text.to_string() }
    }

    #[test]
    fn full_en_rules() {
        assert!(full_en("Hello，"));
        assert!(full_en("iPhone 15 Pro Max"));
        assert!(!full_en("123 !"));
        assert!(!full_en("\nHello"), "the letter must come before the first line break");
        assert!(!full_en("café"));
    }

    #[test]
    fn embedded_runs_include_separators() {
        let got = split_embedded(Embedded::Kana, &item(Label::Zh, "你也喜欢まいご 123吗"));
        assert_eq!(got, vec![item(Label::Zh, "你也喜欢"), item(Label::Ja, "まいご 123"), item(Label::Zh, "吗")]);
        assert_eq!(split_embedded(Embedded::Hangul, &item(Label::X, "abc")), vec![item(Label::X, "abc")]);
    }

    #[test]
    fn full_cjk_drops_other_characters() {
        assert_eq!(full_cjk("繁體，abc。/"), "繁體。/");
    }

    #[test]
    fn digits_follow_neighbours() {
        let got =
            attach_digits(vec![item(Label::En, "ThinkPad T"), item(Label::Digit, "60"), item(Label::Zh, "刚刚发布。")]);
        assert_eq!(got, vec![item(Label::En, "ThinkPad T60"), item(Label::Zh, "刚刚发布。")]);
        assert_eq!(attach_digits(vec![item(Label::Digit, "42")]), vec![item(Label::Zh, "42")]);
    }
}
