//! Japanese G2P against the golden fixtures: every `ja` case of `text.cleaner.clean_text` and every `ja`
//! segment of the pipeline cases must give exactly upstream's `norm_text` and phones (after the
//! cleaner's mapping of symbols outside the v2 table to `UNK`). Needs `SOVITS_RT_FIXTURES` (e.g.
//! `/work/shared/fixtures`) and the Open JTalk dictionary (`apt-get install open-jtalk-mecab-naist-jdic`
//! or `OPEN_JTALK_DICT_DIR`); without either the tests print `SKIP` and pass.

mod common;

use proptest::prelude::*;
use sovits_rt::text::ja::{text_normalize, JapaneseG2p};

/// Exact matches required, as a rate over the cases present (the developer set matches all).
const MIN_RATE: f64 = 0.9;

/// The loaded dictionary, or `None` (with a SKIP line) when it is not installed and not required.
fn g2p() -> Option<&'static JapaneseG2p> {
    common::japanese_dictionary("ja")
}

#[test]
fn japanese_g2p_matches_fixtures() {
    let Some(dir) = common::text_fixtures("japanese_g2p_matches_fixtures") else { return };
    let Some(g2p) = g2p() else { return };
    let cases = common::g2p_cases(&dir, "ja");
    let want = |c: &common::G2pCase| (c.norm_text.clone(), c.phones.clone());
    let got = |c: &common::G2pCase| {
        let norm_text = text_normalize(&c.text);
        let phones = common::unk_mapped(g2p.g2p(&norm_text));
        (norm_text, phones)
    };
    common::assert_matches("ja", &cases, want, got, MIN_RATE);
}

#[test]
fn prosody_marks_of_a_known_sentence() {
    let Some(g2p) = g2p() else { return };
    // Accent phrases: きょ]お-わ | い]い | て]んきですね (rise/fall marks, `#` between phrases).
    let phones = g2p.g2p("今日はいい天気ですね");
    assert_eq!(phones.join(" "), "ky o ] o w a # i ] i # t e ] N k i d e s u n e");
}

/// Reference outputs of upstream `japanese.py::g2p` (pyopenjtalk 0.4.1, Debian naist-jdic 1.11-3) for
/// inputs outside the fixtures: digits and counters, half-width kana, long vowels.
#[test]
fn numbers_counters_and_kana_forms_match_reference() {
    let Some(g2p) = g2p() else { return };
    let expected = [
        ("価格は300円です", "k a [ k a k u w a # s a [ N by a k u ] e N d e s u"),
        ("4月1日", "sh i [ g a ts u # ts u [ i t a ch i"),
        ("二十日", "h a [ ts u k a"),
        ("1,000円", "i [ ch i , z e [ r o z e ] r o # z e [ r o ] e N"),
        ("ｶﾞｯｺｳ", "k a ﾞ cl ] k o o"),
        ("すごーい", "s u [ g o o ] i"),
    ];
    for (text, phones) in expected {
        assert_eq!(g2p.g2p(&text_normalize(text)).join(" "), phones, "{text}");
    }
}

#[test]
fn marks_between_runs_are_kept_and_mapped() {
    let Some(g2p) = g2p() else { return };
    let phones = g2p.g2p("「はい」、 ５０％！");
    assert_eq!(phones.first().map(String::as_str), Some("「"));
    assert!(phones.contains(&"」".to_string()) && phones.contains(&",".to_string()));
    assert_eq!(phones.last().map(String::as_str), Some("!"));
    assert!(!phones.contains(&" ".to_string()), "spaces are dropped");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        if let Ok(g2p) = JapaneseG2p::load() {
            let _ = g2p.g2p(&text_normalize(&text));
        }
    }

    #[test]
    fn never_panics_on_japanese_like_text(text in "[ぁ-ゖァ-ヺー々〇一-龥0-9０-９a-zＡ-Ｚｦ-ﾟ、。！？「」・．，％ 　]{0,60}") {
        if let Ok(g2p) = JapaneseG2p::load() {
            let _ = g2p.g2p(&text_normalize(&text));
        }
    }
}

#[test]
fn long_and_odd_inputs_do_not_panic() {
    let Some(g2p) = g2p() else { return };
    let long = "日本語のテキスト123、".repeat(8_000);
    assert!(!g2p.g2p(&long).is_empty());
    for text in [
        "",
        " ",
        "\u{0}\u{7}\n",
        "😀🎉👍",
        "𝟘𝟙𝟚",
        "９９９９９９９９９９９９９９９９９９９９９９９９９９９９",
        "ーーー",
        "ﾞﾟ",
    ] {
        let _ = g2p.g2p(&text_normalize(text));
    }
}
