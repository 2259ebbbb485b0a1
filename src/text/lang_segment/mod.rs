//! Language routing of one sentence: which parts go to which language's G2P. Mirrors the text side
//! of `TTS_infer_pack/TextPreprocessor.py::get_phones_and_bert` (same code in
//! `inference_webui.py`): `LangSegmenter.getTexts` (`segmenter.rs`) on top of split-lang 2.1.1
//! (`split_lang.rs`, with BudouX phrases from `budoux.rs`) and the per-mode rules of
//! research/upstream-v2.md §2.4.
//!
//! Deviation: fastText language id is replaced by the script rule of `script.rs` (Han-only text is
//! `zh`); that module's doc says exactly what changes. Everything else follows upstream, quirks
//! included.

mod budoux;
pub(crate) mod script;
mod segmenter;
mod split_lang;

use segmenter::{get_texts, Item};
use split_lang::Label;
use std::fmt;

/// A language that has its own G2P (`clean_text`'s language argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Mandarin Chinese.
    Zh,
    /// English.
    En,
    /// Japanese.
    Ja,
    /// Korean.
    Ko,
    /// Cantonese.
    Yue,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::Zh, Lang::En, Lang::Ja, Lang::Ko, Lang::Yue];

    /// The language of a `clean_text` language code (`zh`, `en`, `ja`, `ko`, `yue`).
    pub fn parse(code: &str) -> Result<Self, LangSegmentError> {
        Self::ALL
            .into_iter()
            .find(|lang| lang.as_str() == code)
            .ok_or_else(|| LangSegmentError::UnknownLanguage { given: code.to_string() })
    }

    /// The upstream language code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
            Self::Ja => "ja",
            Self::Ko => "ko",
            Self::Yue => "yue",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user's language setting (upstream `text_lang` / the webui's language choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LangMode {
    /// `zh`: Chinese with English parts.
    Zh,
    /// `en`: the whole text is English.
    En,
    /// `ja`: Japanese with English parts.
    Ja,
    /// `ko`: Korean with English parts.
    Ko,
    /// `yue`: Cantonese with English parts.
    Yue,
    /// `auto`: each part in its detected language.
    Auto,
    /// `auto_yue`: as `auto`, Chinese read as Cantonese.
    AutoYue,
    /// `all_zh`: everything Chinese except English-looking parts.
    AllZh,
    /// `all_ja`: everything Japanese except English-looking parts.
    AllJa,
    /// `all_ko`: everything Korean except English-looking parts.
    AllKo,
    /// `all_yue`: everything Cantonese except English-looking parts.
    AllYue,
}

impl LangMode {
    /// Every mode, in the order of [`LangMode::NAMES`].
    pub const ALL: [LangMode; 11] = [
        Self::Zh,
        Self::En,
        Self::Ja,
        Self::Ko,
        Self::Yue,
        Self::Auto,
        Self::AutoYue,
        Self::AllZh,
        Self::AllJa,
        Self::AllKo,
        Self::AllYue,
    ];

    /// The upstream names of the modes (v2 UI languages).
    pub const NAMES: [&'static str; 11] =
        ["zh", "en", "ja", "ko", "yue", "auto", "auto_yue", "all_zh", "all_ja", "all_ko", "all_yue"];

    /// The upstream name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
            Self::Ja => "ja",
            Self::Ko => "ko",
            Self::Yue => "yue",
            Self::Auto => "auto",
            Self::AutoYue => "auto_yue",
            Self::AllZh => "all_zh",
            Self::AllJa => "all_ja",
            Self::AllKo => "all_ko",
            Self::AllYue => "all_yue",
        }
    }

    /// Parses an upstream name; unknown names are an error that lists the valid ones.
    pub fn parse(name: &str) -> Result<Self, LangSegmentError> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str() == name)
            .ok_or_else(|| LangSegmentError::UnknownLanguage { given: name.to_string() })
    }
}

impl std::str::FromStr for LangMode {
    type Err = LangSegmentError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for LangMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of language routing.
#[derive(Debug, thiserror::Error)]
pub enum LangSegmentError {
    /// A language setting that upstream does not offer.
    #[error("unknown language {given:?}; expected one of {}", LangMode::NAMES.join(", "))]
    UnknownLanguage { given: String },
}

/// One part of a sentence and the language whose G2P reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangSegment {
    pub lang: Lang,
    pub text: String,
}

/// `re.sub(r' {2,}', ' ', text)`: runs of ASCII spaces become one.
fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

/// The segments `get_phones_and_bert(text, mode)` hands to `clean_text`, in order (the `< 6 phones`
/// retry with a `"."` prefix is the caller's). Runs of spaces are collapsed first, as upstream.
///
/// * `en`: the whole text, one English segment.
/// * `all_zh`/`all_ja`/`all_ko`/`all_yue`: `getTexts` with that default language — everything but
///   English-looking parts gets it (`all_yue`: Chinese read as Cantonese).
/// * `auto`/`auto_yue`: `getTexts` without a default, each part in its detected language
///   (`auto_yue`: `zh` → `yue`).
/// * `zh`/`ja`/`ko`/`yue`: `getTexts` without a default, then consecutive non-English parts are
///   joined and read in the user's language; English parts stay English.
///
/// Where upstream would fail, this returns something usable instead: text that is empty or only
/// whitespace gives no segments (split-lang raises `IndexError`), and in `auto` modes a part that
/// split-lang leaves labelled `punctuation` or `newline` (e.g. the text `"。"`, which makes
/// upstream's `clean_text` raise `KeyError`) takes the previous part's language, else the next
/// one's, else Chinese.
pub fn split_by_language(text: &str, mode: LangMode) -> Vec<LangSegment> {
    let text = collapse_spaces(text);
    let forced = |lang: Lang| get_texts(&text, Some(Label::from(lang)));
    let (items, yue) = match mode {
        LangMode::En => return vec![LangSegment { lang: Lang::En, text }],
        LangMode::AllZh => (forced(Lang::Zh), false),
        LangMode::AllYue => (forced(Lang::Zh), true),
        LangMode::AllJa => (forced(Lang::Ja), false),
        LangMode::AllKo => (forced(Lang::Ko), false),
        LangMode::Auto => (get_texts(&text, None), false),
        LangMode::AutoYue => (get_texts(&text, None), true),
        LangMode::Zh => return in_user_language(get_texts(&text, None), Lang::Zh),
        LangMode::Ja => return in_user_language(get_texts(&text, None), Lang::Ja),
        LangMode::Ko => return in_user_language(get_texts(&text, None), Lang::Ko),
        LangMode::Yue => return in_user_language(get_texts(&text, None), Lang::Yue),
    };
    let mut segments = in_detected_language(items);
    if yue {
        segments.iter_mut().filter(|s| s.lang == Lang::Zh).for_each(|s| s.lang = Lang::Yue);
    }
    segments
}

/// The `zh`/`ja`/`ko`/`yue` branch: runs of non-`en` items joined, labelled with the user language.
fn in_user_language(items: Vec<Item>, user: Lang) -> Vec<LangSegment> {
    let mut segments: Vec<LangSegment> = Vec::new();
    for item in items {
        let lang = if item.lang == Label::En { Lang::En } else { user };
        match segments.last_mut() {
            Some(last) if last.lang == lang => last.text.push_str(&item.text),
            _ => segments.push(LangSegment { lang, text: item.text }),
        }
    }
    segments
}

/// The item's language, if it is one (not split-lang's `x`/`digit`/`punctuation`/`newline`).
fn language_of(label: Label) -> Option<Lang> {
    match label {
        Label::Zh => Some(Lang::Zh),
        Label::Ja => Some(Lang::Ja),
        Label::Ko => Some(Lang::Ko),
        Label::En => Some(Lang::En),
        Label::X | Label::Digit | Label::Punctuation | Label::Newline => None,
    }
}

/// Items as segments; non-language labels (only reachable in `auto` modes) take the previous
/// segment's language, else the next language item's, else `zh`, and join their neighbour.
fn in_detected_language(items: Vec<Item>) -> Vec<LangSegment> {
    let langs: Vec<Option<Lang>> = items.iter().map(|item| language_of(item.lang)).collect();
    let mut segments: Vec<LangSegment> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let lang = langs[i]
            .or_else(|| segments.last().map(|s| s.lang))
            .or_else(|| langs[i..].iter().flatten().next().copied())
            .unwrap_or(Lang::Zh);
        match segments.last_mut() {
            Some(last) if last.lang == lang => last.text.push_str(&item.text),
            _ => segments.push(LangSegment { lang, text: item.text }),
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(text: &str, mode: LangMode) -> Vec<(&'static str, String)> {
        split_by_language(text, mode).into_iter().map(|s| (s.lang.as_str(), s.text)).collect()
    }

    #[test]
    fn modes_parse_and_reject() {
        for name in LangMode::NAMES {
            assert_eq!(LangMode::parse(name).map(LangMode::as_str).ok(), Some(name));
        }
        let message = LangMode::parse("fr").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("\"fr\"") && message.contains("all_yue"), "{message}");
    }

    #[test]
    fn user_language_joins_non_english() {
        assert_eq!(
            segs("Hello，欢迎使用GPT-SoVITS", LangMode::Yue),
            vec![("en", "Hello，".into()), ("yue", "欢迎使用".into()), ("en", "GPT-SoVITS".into())]
        );
        assert_eq!(segs("a  b", LangMode::En), vec![("en", "a b".into())]);
    }

    #[test]
    fn degenerate_text() {
        assert!(split_by_language("", LangMode::Auto).is_empty());
        assert!(split_by_language("  \n ", LangMode::Zh).is_empty());
        assert_eq!(segs("。", LangMode::Auto), vec![("zh", "。".into())]);
        assert_eq!(segs("。", LangMode::AutoYue), vec![("yue", "。".into())]);
        assert_eq!(segs("。", LangMode::Ja), vec![("ja", "。".into())]);
    }
}
