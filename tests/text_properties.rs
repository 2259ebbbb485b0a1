//! Whatever a user types, the text frontend answers with phones or a typed error, never a panic:
//! arbitrary Unicode (emoji, control characters, right-to-left scripts, lone combining marks),
//! punctuation only, empty and very long input, in every language mode and cut method.
use proptest::prelude::*;
use sovits_rt::text::lang_segment::LangSegmentError;
use sovits_rt::text::segment::{SegmentError, SplitMethod};
use sovits_rt::text::{phonemize_text, LangMode, SymbolSet, TextError};

const MODES: [&str; 11] = ["zh", "en", "ja", "ko", "yue", "auto", "auto_yue", "all_zh", "all_ja", "all_ko", "all_yue"];

/// Runs the whole frontend as `sovits-rt phonemize` and `synth` do; only typed errors may come back.
fn frontend(text: &str, mode: &str, method: &str) -> Result<usize, TextError> {
    let mode = LangMode::parse(mode)?;
    let sentences = phonemize_text(text, mode, SplitMethod::parse(method)?, SymbolSet::V2)?;
    Ok(sentences.iter().map(|(_, p)| p.phone_ids().len()).sum())
}

fn mixed_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<char>().prop_map(String::from),
        Just("你好，世界。".to_string()),
        Just("Hello, world! ".to_string()),
        Just("3.14".to_string()),
        Just("2024年3月15日".to_string()),
        Just("😀👍🏽".to_string()),
        Just("\u{202e}مرحبا\u{202c}".to_string()),
        Just("\u{0}\u{7}\r\n\t".to_string()),
        Just("…——!!??,,..".to_string()),
        Just("￥^".to_string()),
        Just("안녕하세요".to_string()),
        Just("こんにちは".to_string()),
    ];
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_text_gives_phones_or_a_typed_error(text in mixed_text(), mode in 0usize..MODES.len(), cut in 0usize..6) {
        match frontend(&text, MODES[mode], &format!("cut{cut}")) {
            Ok(phones) => prop_assert!(phones > 0, "{text:?} in {}: no phones and no error", MODES[mode]),
            Err(e) => prop_assert!(!e.to_string().is_empty(), "{text:?}: an error without a message"),
        }
    }
}

#[test]
fn edge_inputs_never_panic() {
    let long = "今天天气很好，我们去公园散步吧。The weather is nice today! ".repeat(2_500);
    assert!(long.chars().count() > 100_000);
    for text in ["", " ", "\n\n", "。。。", "...", "!?", "😀", "\u{200f}\u{200e}", &long] {
        for mode in MODES {
            match frontend(text, mode, "cut5") {
                Ok(phones) => assert!(phones > 0, "{text:?} in {mode}: no phones and no error"),
                Err(e) => assert!(!e.to_string().is_empty(), "{text:?} in {mode}: an error without a message"),
            }
        }
    }
}

#[test]
fn long_text_is_spoken_sentence_by_sentence() {
    let text = "今天天气很好，我们去公园散步吧。".repeat(50);
    let phones = frontend(&text, "zh", "cut5").unwrap();
    assert_eq!(phones, 50 * frontend("今天天气很好，我们去公园散步吧。", "zh", "cut0").unwrap());
}

#[test]
fn user_mistakes_get_typed_errors() {
    assert!(matches!(LangMode::parse("xx"), Err(LangSegmentError::UnknownLanguage { .. })));
    assert!(matches!(SplitMethod::parse("cut9"), Err(SegmentError::UnknownSplitMethod { .. })));
    // Upstream raises "Please enter valid text." when cut5 leaves only punctuation.
    assert!(matches!(frontend("，，，。。。！！！", "zh", "cut5"), Err(TextError::Segment(SegmentError::NoValidText))));
}
