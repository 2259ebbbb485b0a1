//! English G2P against the golden fixtures: every `en` case of `text.cleaner.clean_text` and every
//! `en` segment of the pipeline cases must give exactly upstream's phones from its `norm_text`.
//! Needs `SOVITS_RT_FIXTURES` (e.g. `/work/shared/fixtures`). Also: no panic on arbitrary input.

mod common;

use proptest::prelude::*;
use sovits_rt::text::en::EnglishG2p;

/// Exact matches required, as a rate over the cases present (the developer set matches all).
const MIN_RATE: f64 = 0.95;

/// `clean_text` (not `g2p`) prepends `,` when English yields fewer phones than this.
const CLEANER_MIN_PHONES: usize = 4;

/// What `clean_text` makes of the G2P output: short results get a leading `,`.
fn as_cleaner_would(mut phones: Vec<String>) -> Vec<String> {
    if phones.len() < CLEANER_MIN_PHONES {
        phones.insert(0, ",".to_string());
    }
    phones
}

#[test]
fn english_g2p_matches_fixtures() {
    let Some(dir) = common::text_fixtures("english_g2p_matches_fixtures") else { return };
    let g2p = EnglishG2p::shared().unwrap();
    let cases = common::g2p_cases(&dir, "en");
    let got = |c: &common::G2pCase| as_cleaner_would(g2p.g2p(&c.norm_text));
    common::assert_matches("en g2p", &cases, |c| c.phones.clone(), got, MIN_RATE);
}

#[test]
fn long_and_odd_inputs_do_not_panic() {
    let g2p = EnglishG2p::shared().expect("embedded data loads");
    for text in [
        "a".repeat(3000),
        "ab'".repeat(2000),
        "Hello.World.".repeat(500),
        "-".repeat(1000),
        "\u{0}\u{1c}\r\n\t x \u{200d}\u{1f469}\u{200d}\u{1f4bb} \u{1F1EF}\u{1F1F5} ſ \u{212A} İ ǅ".to_string(),
        "'s".to_string(),
        "x's".to_string(),
        // ~100k characters: words, punctuation, CJK, emoji, controls, an e-mail and a URL.
        "The record, I read it! 你好 \u{1f600}\u{200d} \u{7}\t... a@b.co http://x.io/y (z) -- ".repeat(1400),
    ] {
        let phones = g2p.g2p(&text);
        assert!(phones.iter().all(|p| !p.is_empty() && p != " "), "{text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = EnglishG2p::shared().expect("embedded data loads").g2p(&text);
    }

    #[test]
    fn never_panics_on_normalized_alphabet(text in "[ A-Za-z'.,?!-]{0,80}") {
        let _ = EnglishG2p::shared().expect("embedded data loads").g2p(&text);
    }
}
