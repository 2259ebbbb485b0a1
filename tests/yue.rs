//! Cantonese frontend against the upstream golden fixtures (`$SOVITS_RT_FIXTURES/text-v2`).

mod common;

use proptest::prelude::*;
use sovits_rt::text::yue::{text_normalize, CantoneseG2p};

/// Exact matches required, as a rate over the cases present (the developer set matches all).
const MIN_RATE: f64 = 0.9;

fn g2p() -> &'static CantoneseG2p {
    CantoneseG2p::shared().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn g2p_matches_fixtures() {
    let Some(dir) = common::text_fixtures("yue g2p_matches_fixtures") else { return };
    let cases = common::g2p_cases(&dir, "yue");
    let want = |c: &common::G2pCase| (c.phones.clone(), c.word2ph.clone().unwrap_or_default());
    let got = |c: &common::G2pCase| {
        let (phones, word2ph) = g2p().g2p(&c.norm_text);
        (common::unk_mapped(phones), word2ph)
    };
    common::assert_matches("yue g2p", &cases, want, got, MIN_RATE);
}

#[test]
fn text_normalize_matches_fixtures() {
    let Some(dir) = common::text_fixtures("yue text_normalize_matches_fixtures") else { return };
    let cases = common::g2p_cases(&dir, "yue");
    common::assert_matches("yue norm_text", &cases, |c| c.norm_text.clone(), |c| text_normalize(&c.text), MIN_RATE);
}

#[test]
fn long_input() {
    let text = "我哋今日去飲茶，好開心。abc😀\u{0}".repeat(6_000);
    let (phones, word2ph) = g2p().g2p(&text);
    assert_eq!(word2ph.len(), text.chars().count());
    assert_eq!(word2ph.iter().sum::<usize>(), phones.len());
    assert!(text_normalize(&text).chars().count() < text.chars().count());
}

/// What `text_normalize` may output, whatever the normalizer did before the punctuation step.
fn is_normalized_char(ch: char) -> bool {
    ('\u{4e00}'..='\u{9fa5}').contains(&ch) || "!?…,.-".contains(ch)
}

proptest! {

    #[test]
    fn g2p_never_panics_and_stays_aligned(text in any::<String>()) {
        let (phones, word2ph) = g2p().g2p(&text);
        prop_assert_eq!(word2ph.len(), text.chars().count());
        prop_assert_eq!(word2ph.iter().sum::<usize>(), phones.len());
        prop_assert!(word2ph.iter().all(|&n| n <= 2));
    }

    #[test]
    fn cjk_heavy_text(text in "[\u{3400}-\u{9fff}\u{20000}-\u{2a6df}，。！？…a-z0-9 ]{0,64}") {
        let (phones, word2ph) = g2p().g2p(&text);
        prop_assert_eq!(word2ph.len(), text.chars().count());
        prop_assert_eq!(word2ph.iter().sum::<usize>(), phones.len());
        let normalized = text_normalize(&text);
        prop_assert!(normalized.chars().all(is_normalized_char), "{:?}", normalized);
        let (_, word2ph) = g2p().g2p(&normalized);
        prop_assert_eq!(word2ph.len(), normalized.chars().count());
    }

    #[test]
    fn text_normalize_never_panics(text in any::<String>()) {
        prop_assert!(text_normalize(&text).chars().all(is_normalized_char));
    }
}
