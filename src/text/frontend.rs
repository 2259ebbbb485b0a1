//! Text of one sentence to phone ids, language segment by language segment: the text side of
//! upstream `TextPreprocessor.get_phones_and_bert` (research/upstream-v2.md §2.4). The BERT side
//! (features for Chinese segments, zeros elsewhere) is computed by the pipeline from
//! [`Phonemized::segments`], because it needs the model.

use super::cleaner::{clean_text, CleanedText};
use super::lang_segment::{split_by_language, Lang, LangMode};
use super::segment::{preprocess, SegmentError, SplitMethod};
use super::{SymbolSet, TextError};

/// Fewer phones than this and upstream redoes the sentence with a `"."` in front, once.
const MIN_PHONES: usize = 6;

/// One language segment after G2P.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonemizedSegment {
    pub lang: Lang,
    /// The segment's raw text as the language splitter cut it.
    pub text: String,
    pub cleaned: CleanedText,
    pub phone_ids: Vec<u32>,
}

/// A sentence after G2P: its segments in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phonemized {
    pub segments: Vec<PhonemizedSegment>,
    /// The text actually segmented (spaces collapsed, maybe the `"."` prefix added).
    pub effective_text: String,
    pub retried_with_dot_prefix: bool,
}

impl Phonemized {
    /// All phone ids, segments concatenated.
    pub fn phone_ids(&self) -> Vec<u32> {
        self.segments.iter().flat_map(|s| s.phone_ids.iter().copied()).collect()
    }

    /// All phone symbols, segments concatenated.
    pub fn phones(&self) -> Vec<&str> {
        self.segments.iter().flat_map(|s| s.cleaned.phones.iter().map(String::as_str)).collect()
    }

    /// The normalized text, segments concatenated (upstream's `norm_text`).
    pub fn norm_text(&self) -> String {
        self.segments.iter().map(|s| s.cleaned.norm_text.as_str()).collect()
    }
}

/// A whole text as `TTS.run` speaks it: cut into sentences with `method`, each phonemized; an
/// error when nothing in it has a phone to speak (empty, or only punctuation, symbols or spaces).
pub fn phonemize_text(
    text: &str,
    mode: LangMode,
    method: SplitMethod,
    symbols: SymbolSet,
) -> Result<Vec<(String, Phonemized)>, TextError> {
    let sentences = preprocess(text, mode, method)?
        .into_iter()
        .map(|sentence| phonemize(&sentence, mode, symbols).map(|p| (sentence, p)))
        .collect::<Result<Vec<_>, _>>()?;
    if sentences.iter().all(|(_, p)| p.phone_ids().is_empty()) {
        return Err(SegmentError::NoValidText.into());
    }
    Ok(sentences)
}

/// `get_phones_and_bert(text, mode, "v2")` without the BERT features.
pub fn phonemize(text: &str, mode: LangMode, symbols: SymbolSet) -> Result<Phonemized, TextError> {
    if symbols == SymbolSet::V1 {
        return Err(TextError::V1Frontend);
    }
    let text = collapse_spaces(text);
    let first = phonemize_segments(&text, mode, symbols)?;
    if first.iter().map(|s| s.phone_ids.len()).sum::<usize>() >= MIN_PHONES {
        return Ok(Phonemized { segments: first, effective_text: text, retried_with_dot_prefix: false });
    }
    let retry = format!(".{text}");
    let segments = phonemize_segments(&retry, mode, symbols)?;
    Ok(Phonemized { segments, effective_text: retry, retried_with_dot_prefix: true })
}

fn phonemize_segments(text: &str, mode: LangMode, symbols: SymbolSet) -> Result<Vec<PhonemizedSegment>, TextError> {
    split_by_language(text, mode)
        .into_iter()
        .map(|segment| {
            let cleaned = clean_text(&segment.text, segment.lang, symbols)?;
            let phone_ids = cleaned.phones.iter().map(|p| symbols.id_or_unk(p)).collect();
            Ok(PhonemizedSegment { lang: segment.lang, text: segment.text, cleaned, phone_ids })
        })
        .collect()
}

/// Runs of two or more spaces become one (`re.sub(r' {2,}', ' ', text)`).
fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_only_plain_spaces() {
        assert_eq!(collapse_spaces("a  b   c\t\td"), "a b c\t\td");
        assert_eq!(collapse_spaces(""), "");
    }
}
