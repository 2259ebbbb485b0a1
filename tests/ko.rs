//! Korean frontend against the upstream golden fixtures (`$SOVITS_RT_FIXTURES/text-v2`).

mod common;

use proptest::prelude::*;
use sovits_rt::text::ko::KoreanG2p;

/// Exact matches required, as a rate over the cases present (the developer set matches all).
const MIN_RATE: f64 = 0.9;

fn g2p() -> &'static KoreanG2p {
    KoreanG2p::shared().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn fixtures_match_exactly() {
    let Some(dir) = common::text_fixtures("ko fixtures_match_exactly") else { return };
    let cases = common::g2p_cases(&dir, "ko");
    // `korean.py` has no `text_normalize`: the cleaner's `norm_text` is the text itself.
    let want = |c: &common::G2pCase| (c.norm_text.clone(), c.phones.clone());
    common::assert_matches("ko", &cases, want, |c| (c.text.clone(), g2p().g2p(&c.text)), MIN_RATE);
}

#[test]
fn long_and_odd_input_does_not_panic() {
    let long = "할 수 있는 3개의 값이 ".repeat(5_000);
    assert!(!g2p().g2p(&long).is_empty());
    for text in ["", " ", "\n", "\u{0}", "123456789012345678901234567890개", "ㄺ/P고", "\u{1161}\u{11AF}", "A/B"] {
        let _ = g2p().g2p(text);
    }
}

proptest! {
    #[test]
    fn arbitrary_text_does_not_panic(text in "(?s:.){0,64}") {
        let phones = g2p().g2p(&text);
        prop_assert!(phones.iter().all(|p| p.chars().count() == 1));
    }

    #[test]
    fn arbitrary_korean_like_text_does_not_panic(text in "[가-힣0-9ㄱ-ㅣ\u{1100}-\u{11FF} ,.!?a-zA-Z\n]{0,64}") {
        let phones = g2p().g2p(&text);
        prop_assert!(phones.iter().all(|p| p.chars().count() == 1));
    }
}
