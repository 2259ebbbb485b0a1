//! The Mandarin G2P must never panic and must keep its `word2ph` invariants on any input.

use proptest::prelude::*;
use sovits_rt::text::zh::MandarinG2p;
use sovits_rt::text::TextError;

fn check_invariants(text: &str) -> Result<(), TextError> {
    let (phones, word2ph) = MandarinG2p::shared()?.g2p(text);
    assert_eq!(word2ph.len(), text.chars().count(), "one word2ph entry per char of {text:?}");
    assert_eq!(word2ph.iter().sum::<usize>(), phones.len(), "word2ph sums to the phone count for {text:?}");
    assert!(word2ph.iter().all(|&n| n <= 2));
    Ok(())
}

/// Mostly Mandarin-looking text: Han chars, sandhi triggers, punctuation, noise.
fn mandarin_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::char::range('\u{4E00}', '\u{9FA5}').prop_map(String::from),
        2 => prop::sample::select(vec!["一", "不", "儿", "个", "看一看", "一点儿", "好好", "你好", "蒙古包", "哼", "噷", "呣", "嗯", "欸"])
            .prop_map(String::from),
        2 => prop::sample::select(vec![",", ".", "!", "?", "…", "-", ",,", " ", "\r\n", "a", "7", "%", "#", "😀", "\u{3000}"])
            .prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>()) {
        prop_assert!(check_invariants(&text).is_ok());
    }

    #[test]
    fn mandarin_like_text_never_panics(text in mandarin_like()) {
        prop_assert!(check_invariants(&text).is_ok());
    }
}

#[test]
fn edge_inputs() -> Result<(), TextError> {
    let texts =
        ["", " ", ",", "……", "儿", "一", "不", "\u{0}", "\r\n", "𠀀", "嗯", "呣", "噷", "ǹ", "一,", "不.", ",儿"];
    for text in texts {
        check_invariants(text)?;
    }
    Ok(())
}

#[test]
fn very_long_inputs() -> Result<(), TextError> {
    check_invariants(&"我们一起去看看吧,好不好?".repeat(8_000))?;
    check_invariants(&"😀".repeat(100_000))?;
    // Rare characters in one unpunctuated run: the POS HMM decodes it as a whole.
    let rare: String = (0..5_000u32).filter_map(|i| char::from_u32(0x4E00 + (i * 7919) % 0x51A6)).collect();
    check_invariants(&rare)
}
