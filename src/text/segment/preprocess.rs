//! Paragraph → sentence list, the text side of the two upstream front-ends:
//! `TTS_infer_pack/TextPreprocessor.py` (`preprocess` → `pre_seg_text`, used by `api_v2.py` and
//! `inference_webui_fast.py`) and `inference_webui.py::get_tts_wav`.

use super::cut::{is_split_mark, split_big_text, SplitMethod};
use super::SegmentError;
use crate::text::lang_segment::LangMode;
use crate::text::python_chars::{has_word_char, strip};

/// Upstream's `merge_short_text_in_array` threshold in both front-ends.
const MERGE_THRESHOLD: usize = 5;
/// Sentences longer than this go through `split_big_text` (BERT's 512-token window).
const MAX_SENTENCE_CHARS: usize = 510;
/// `TextPreprocessor.punctuation`: runs of these collapse to their first character.
const COLLAPSIBLE_PUNCTUATION: [char; 6] = ['!', '?', '…', ',', '.', '-'];

/// The mark upstream appends to a sentence that does not end with a split mark: `.` for English,
/// `。` for every other language setting.
fn sentence_end_mark(mode: LangMode) -> char {
    if mode == LangMode::En {
        '.'
    } else {
        '。'
    }
}

/// Appends `。` (`.` for `en`) unless the text already ends with a split mark: what upstream does
/// to each sentence and to the reference transcript. Empty text stays empty (upstream would raise).
pub fn ensure_sentence_end(text: &str, mode: LangMode) -> String {
    let mut out = text.to_string();
    if out.chars().last().is_some_and(|c| !is_split_mark(c)) {
        out.push(sentence_end_mark(mode));
    }
    out
}

/// Mirrors `TextPreprocessor.replace_consecutive_punctuation`: every run of two or more characters
/// from `! ? … , . -` becomes its first character (`"?!"` → `"?"`, `"..."` → `"."`).
pub fn replace_consecutive_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_collapsible = false;
    for c in text.chars() {
        let collapsible = COLLAPSIBLE_PUNCTUATION.contains(&c);
        if !(collapsible && previous_collapsible) {
            out.push(c);
        }
        previous_collapsible = collapsible;
    }
    out
}

/// Mirrors `merge_short_text_in_array(texts, threshold)`: consecutive pieces are concatenated until
/// the accumulated piece has at least `threshold` characters; a short tail joins the last piece.
pub fn merge_short_text_in_array(texts: Vec<String>, threshold: usize) -> Vec<String> {
    if texts.len() < 2 {
        return texts;
    }
    let mut result: Vec<String> = Vec::new();
    let mut text = String::new();
    for piece in texts {
        text.push_str(&piece);
        if text.chars().count() >= threshold {
            result.push(std::mem::take(&mut text));
        }
    }
    if !text.is_empty() {
        match result.last_mut() {
            Some(last) => last.push_str(&text),
            None => result.push(text),
        }
    }
    result
}

/// `get_first`: the text before the first split mark, whitespace-stripped.
fn first_clause(text: &str) -> &str {
    strip(text.split(is_split_mark).next().unwrap_or_default())
}

/// The common middle of both front-ends: the method's output with `\n` runs collapsed, split on
/// `\n`, then `filter_text` / `process_text` (an error when every piece is blank, which is how
/// upstream rejects symbol-only input) and `merge_short_text_in_array(…, 5)`.
fn cut_into_pieces(text: &str, method: Option<SplitMethod>) -> Result<Vec<String>, SegmentError> {
    let cut = match method {
        Some(method) => method.apply(text),
        None => text.to_string(),
    };
    let pieces: Vec<&str> = cut.split('\n').filter(|p| !p.is_empty()).collect();
    // Splitting on single `\n`s after collapsing runs leaves no empty pieces inside; dropping them
    // here is the same. `filter_text` then rejects a list of only `""`/`" "` and drops those items.
    if pieces.iter().all(|p| *p == " ") {
        return Err(SegmentError::NoValidText);
    }
    let kept = pieces.into_iter().filter(|p| *p != " ").map(str::to_string).collect();
    Ok(merge_short_text_in_array(kept, MERGE_THRESHOLD))
}

/// Mirrors `TextPreprocessor.pre_seg_text(text, lang, method)`: the sentences `TTS.run` phonemizes.
///
/// Strips `\n`; when the text does not start with a split mark and its first clause is shorter
/// than 4 characters, prepends `。` (`.` for `en`); cuts; skips blank and symbol-only pieces
/// (no `\w` character); closes each piece with `。`/`.`; splits pieces over 510 characters with
/// [`split_big_text`]. Empty input gives no sentences.
pub fn pre_seg_text(text: &str, mode: LangMode, method: SplitMethod) -> Result<Vec<String>, SegmentError> {
    let text = text.trim_matches('\n');
    let Some(first) = text.chars().next() else {
        return Ok(Vec::new());
    };
    let text = if !is_split_mark(first) && first_clause(text).chars().count() < 4 {
        format!("{}{text}", sentence_end_mark(mode))
    } else {
        text.to_string()
    };
    let mut sentences = Vec::new();
    for piece in cut_into_pieces(&text, Some(method))? {
        if strip(&piece).is_empty() || !has_word_char(&piece) {
            continue;
        }
        let sentence = ensure_sentence_end(&piece, mode);
        if sentence.chars().count() > MAX_SENTENCE_CHARS {
            sentences.extend(split_big_text(&sentence, MAX_SENTENCE_CHARS));
        } else {
            sentences.push(sentence);
        }
    }
    Ok(sentences)
}

/// Mirrors the text side of `TextPreprocessor.preprocess`: [`replace_consecutive_punctuation`] then
/// [`pre_seg_text`]. `SegmentError::NoValidText` where upstream raised "Please enter valid text.".
pub fn preprocess(text: &str, mode: LangMode, method: SplitMethod) -> Result<Vec<String>, SegmentError> {
    pre_seg_text(&replace_consecutive_punctuation(text), mode, method)
}

/// Mirrors the text side of `inference_webui.py::get_tts_wav`: strip `\n`; no `。` prefix (that
/// line is commented out there); `cut0` is the UI's "no cut" (no function applied); no punctuation
/// collapsing and no symbol-only filter; blank pieces skipped; each piece closed with `。`/`.`.
/// `SegmentError::NoValidText` where upstream raised "请输入有效文本" (empty text included, for
/// which `cut1`/`cut2` raise `IndexError` upstream).
pub fn preprocess_webui(text: &str, mode: LangMode, method: SplitMethod) -> Result<Vec<String>, SegmentError> {
    let text = text.trim_matches('\n');
    let method = (method != SplitMethod::Cut0).then_some(method);
    Ok(cut_into_pieces(text, method)?
        .into_iter()
        .filter(|piece| !strip(piece).is_empty())
        .map(|piece| ensure_sentence_end(&piece, mode))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_punctuation_collapses_to_first() {
        assert_eq!(replace_consecutive_punctuation("Wait...what?!"), "Wait.what?");
        assert_eq!(replace_consecutive_punctuation("a-.b……c"), "a-b…c");
        assert_eq!(replace_consecutive_punctuation("。。"), "。。");
    }

    #[test]
    fn merge_short_pieces() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(merge_short_text_in_array(v(&["ab", "cde", "f"]), 5), v(&["abcdef"]));
        assert_eq!(merge_short_text_in_array(v(&["abcde", "f"]), 5), v(&["abcdef"]));
        assert_eq!(merge_short_text_in_array(v(&["a", "b"]), 5), v(&["ab"]));
        assert_eq!(merge_short_text_in_array(v(&["a"]), 5), v(&["a"]));
    }

    #[test]
    fn prefix_rule_for_short_first_clause() {
        let got = pre_seg_text("你好。", LangMode::Zh, SplitMethod::Cut0).ok();
        assert_eq!(got, Some(vec!["。你好。".to_string()]));
        let got = pre_seg_text("Hi", LangMode::En, SplitMethod::Cut0).ok();
        assert_eq!(got, Some(vec![".Hi.".to_string()]));
        let got = pre_seg_text(" 你好世界吗", LangMode::Zh, SplitMethod::Cut0).ok();
        assert_eq!(got, Some(vec![" 你好世界吗。".to_string()]));
    }

    #[test]
    fn symbol_only_text_is_an_error_or_skipped() {
        assert!(matches!(preprocess("，。！", LangMode::Zh, SplitMethod::Cut5), Err(SegmentError::NoValidText)));
        assert_eq!(preprocess("，。！", LangMode::Zh, SplitMethod::Cut3).ok(), Some(Vec::new()));
        // cut0's "/n" quirk survives into the sentence list, as upstream.
        assert_eq!(preprocess("...", LangMode::Zh, SplitMethod::Cut0).ok(), Some(vec!["/n。".to_string()]));
        assert!(matches!(preprocess_webui("", LangMode::Zh, SplitMethod::Cut1), Err(SegmentError::NoValidText)));
        assert_eq!(preprocess("\n\n", LangMode::Zh, SplitMethod::Cut1).ok(), Some(Vec::new()));
    }

    #[test]
    fn sentence_end() {
        assert_eq!(ensure_sentence_end("Hi", LangMode::En), "Hi.");
        assert_eq!(ensure_sentence_end("你好", LangMode::Auto), "你好。");
        assert_eq!(ensure_sentence_end("好~", LangMode::Zh), "好~");
        assert_eq!(ensure_sentence_end("", LangMode::Zh), "");
    }
}
