//! Cantonese punctuation cleanup, mirroring upstream `text/cantonese.py::replace_punctuation`: the
//! Mandarin cleaner's map-then-filter with Cantonese's own map (no 嗯/呣 step).

use crate::text::zh_normalize::replace_punctuation_with;

/// Upstream's `rep_map`. Mapping to `'` deletes the character, since `'` is not kept by the filter.
const CANTONESE_PUNCTUATION: [(&str, &str); 31] = [
    ("...", "…"),
    ("：", ","),
    ("；", ","),
    ("，", ","),
    ("。", "."),
    ("！", "!"),
    ("？", "?"),
    ("\n", "."),
    ("·", ","),
    ("、", ","),
    ("$", "."),
    ("“", "'"),
    ("”", "'"),
    ("\"", "'"),
    ("‘", "'"),
    ("’", "'"),
    ("（", "'"),
    ("）", "'"),
    ("(", "'"),
    (")", "'"),
    ("《", "'"),
    ("》", "'"),
    ("【", "'"),
    ("】", "'"),
    ("[", "'"),
    ("]", "'"),
    ("—", "-"),
    ("～", "-"),
    ("~", "-"),
    ("「", "'"),
    ("」", "'"),
];

/// Maps Chinese/ASCII punctuation to the six kept symbols, then drops every character that is
/// neither in U+4E00–U+9FA5 nor one of `!?…,.-`.
pub(super) fn replace_punctuation(text: &str) -> String {
    replace_punctuation_with(text, &CANTONESE_PUNCTUATION)
}

#[cfg(test)]
mod tests {
    use super::replace_punctuation;

    #[test]
    fn maps_chinese_punctuation() {
        assert_eq!(replace_punctuation("佢個鋤頭太短啦。"), "佢個鋤頭太短啦.");
        assert_eq!(replace_punctuation("唔該晒，我：你；佢！咩？"), "唔該晒,我,你,佢!咩?");
        assert_eq!(replace_punctuation("甲·乙、丙\n"), "甲,乙,丙.");
        assert_eq!(replace_punctuation("一—二～三~四-五"), "一-二-三-四-五");
    }

    #[test]
    fn quotes_and_brackets_vanish() {
        assert_eq!(
            replace_punctuation("「你好」“好”‘好’（好）(好)《好》【好】[好]\"好\"'好'"),
            "你好好好好好好好好好好"
        );
    }

    #[test]
    fn ellipsis_dots_scan_left_to_right() {
        assert_eq!(replace_punctuation("好..."), "好…");
        assert_eq!(replace_punctuation("好...."), "好….");
        assert_eq!(replace_punctuation("好......."), "好…….");
        assert_eq!(replace_punctuation("好.."), "好..");
        assert_eq!(replace_punctuation("好…"), "好…");
    }

    #[test]
    fn drops_everything_else() {
        assert_eq!(replace_punctuation("我有$100 HKD😀\t"), "我有.");
        // U+9FA6 and CJK extension characters are outside upstream's range.
        assert_eq!(replace_punctuation("\u{9fa5}\u{9fa6}㐀𠀀"), "\u{9fa5}");
        assert_eq!(replace_punctuation(""), "");
    }
}
