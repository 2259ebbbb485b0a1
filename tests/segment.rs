//! Golden-fixture parity for sentence segmentation: for every paragraph of `splits.jsonl` and every
//! method `cut0`…`cut5`, the cut function's output, the `TTS_infer_pack` sentence list and the webui
//! sentence list must equal upstream's exactly (errors included). Plus robustness properties of the
//! cut functions and of the incremental splitter.

mod common;

use proptest::prelude::*;
use serde_json::Value;
use sovits_rt::text::lang_segment::LangMode;
use sovits_rt::text::segment::{
    preprocess, preprocess_webui, IncrementalSplitter, SegmentError, SplitMethod, SplitterConfig,
};

/// Exact matches required, as a rate over the comparisons present (paragraphs × 6 methods × 3
/// outputs; the developer set matches all).
const MIN_RATE: f64 = 0.98;

/// `<fixtures>/text-v2/splits.jsonl` as JSON values; `None` (with a SKIP line) when absent.
fn split_cases() -> Option<Vec<Value>> {
    let dir = common::text_fixtures("split_methods_match_fixtures")?;
    Some(common::json_lines(&dir, "splits.jsonl"))
}

/// The expected sentence list, or `Err(message)` where upstream raised.
fn expected_texts(method: &Value, key: &str) -> Result<Vec<String>, String> {
    match method[key].as_array() {
        Some(list) => Ok(list.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
        None => Err(method["errors"][key].as_str().unwrap_or("?").to_string()),
    }
}

fn same(got: &Result<Vec<String>, SegmentError>, expected: &Result<Vec<String>, String>) -> bool {
    match (got, expected) {
        (Ok(got), Ok(expected)) => got == expected,
        (Err(SegmentError::NoValidText), Err(message)) => message.starts_with("ValueError"),
        _ => false,
    }
}

#[test]
fn split_methods_match_fixtures() {
    let Some(cases) = split_cases() else { return };
    let (mut passed, mut total) = (0, 0);
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("?");
        let text = case["text"].as_str().unwrap_or_default();
        let mode = LangMode::parse(case["lang"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{id}: {e}"));
        for method in SplitMethod::ALL {
            let expected = &case["methods"][method.name()];
            total += 3;
            let cut = method.apply(text);
            if Some(cut.as_str()) == expected["cut_output"].as_str() {
                passed += 1;
            } else {
                eprintln!(
                    "MISMATCH {id} {method} cut_output\n  expected {:?}\n  got      {cut:?}",
                    expected["cut_output"]
                );
            }
            let outputs = [
                ("tts_infer_pack_texts", preprocess(text, mode, method)),
                ("webui_texts", preprocess_webui(text, mode, method)),
            ];
            for (key, got) in outputs {
                let want = expected_texts(expected, key);
                if same(&got, &want) {
                    passed += 1;
                } else {
                    eprintln!("MISMATCH {id} {method} {key}\n  expected {want:?}\n  got      {got:?}");
                }
            }
        }
    }
    assert_eq!(total, 3 * SplitMethod::ALL.len() * cases.len());
    common::assert_rate("segmentation (cut_output, tts_infer_pack_texts, webui_texts)", passed, total, MIN_RATE);
}

fn split_in_pieces(config: SplitterConfig, pieces: &[&str]) -> Vec<String> {
    let mut splitter = IncrementalSplitter::new(config);
    let mut out: Vec<String> = pieces.iter().flat_map(|piece| splitter.push(piece)).collect();
    out.extend(splitter.flush());
    out
}

/// Characters that exercise every rule of the incremental splitter.
fn streamy_text() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "ab Dr.Mre.gUS3,14:/@\n\t!?;…。！？，、：“”\"')你好の한😀 ".chars().collect();
    proptest::collection::vec(proptest::sample::select(alphabet), 0..120).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn cut_functions_never_panic(text in any::<String>()) {
        for method in SplitMethod::ALL {
            let _ = method.apply(&text);
            for mode in [LangMode::Zh, LangMode::En] {
                let _ = preprocess(&text, mode, method);
                let _ = preprocess_webui(&text, mode, method);
            }
        }
    }

    #[test]
    fn incremental_output_does_not_depend_on_chunking(text in streamy_text(), cuts in proptest::collection::vec(0usize..200, 0..8), min_chars in 0usize..8, clauses in any::<bool>()) {
        let config = SplitterConfig { min_chars, split_at_clauses: clauses };
        let whole = split_in_pieces(config, &[text.as_str()]);
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let one_by_one = split_in_pieces(config, &chars.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(&whole, &one_by_one);
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (text.chars().count() + 1)).collect();
        bounds.sort_unstable();
        let mut pieces = Vec::new();
        let mut previous = 0;
        for bound in bounds.into_iter().chain([text.chars().count()]) {
            pieces.push(text.chars().skip(previous).take(bound - previous).collect::<String>());
            previous = bound;
        }
        let chunked = split_in_pieces(config, &pieces.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(&whole, &chunked);
        // Nothing but whitespace is lost or added.
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let joined: String = whole.iter().map(|s| squeeze(s)).collect();
        let original = squeeze(&text);
        prop_assert!(original.starts_with(&joined), "{:?} vs {:?}", joined, original);
        prop_assert!(whole.iter().all(|s| !s.is_empty() && s.trim() == s));
    }

    #[test]
    fn incremental_never_panics(text in any::<String>()) {
        let _ = split_in_pieces(SplitterConfig::default(), &[text.as_str()]);
    }
}

#[test]
fn long_inputs_do_not_panic() {
    let unit = "Hello, world! 你好，世界。3.14 e.g. https://x.y/z.html\n😀\u{1c}\u{300}…";
    let text = unit.repeat(100_000 / unit.chars().count() + 1);
    for method in SplitMethod::ALL {
        assert!(!method.apply(&text).is_empty());
        assert!(preprocess(&text, LangMode::Zh, method).is_ok());
        assert!(preprocess_webui(&text, LangMode::En, method).is_ok());
    }
    assert!(split_in_pieces(SplitterConfig::default(), &[text.as_str()]).len() > 1000);
    let marks = "!".repeat(100_000);
    assert!(split_in_pieces(SplitterConfig::default(), &[marks.as_str()]).is_empty());
}
