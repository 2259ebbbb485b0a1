//! The fixed rewrite rules of g2pk2 0.0.3 that run on decomposed jamo: `special.py` (before the
//! rule table, may read the `/P` and `/E` marks) and `regular.py` (linking, after the table).
//! Upstream writes every pattern with conjoining jamo, so `[그]` is the class {ᄀ, ᅳ}: the jamo-name
//! rule (16항) therefore also rewrites e.g. 늦어 → 느서 and 끝이 → 끄시, as upstream does.
//! `ye`, `vowel_ui` and the `의/J` → 에 branch of `josa_ui` only act in the descriptive mode, which
//! GPT-SoVITS does not use.

use regex::Regex;

/// `special.py`, in upstream's order (`jyeo`, `consonant_ui`, `jamo`, `rieulgiyeok`, `rieulbieub`,
/// `verb_nieun`, `balb`, `palatalize`, `modifying_rieul`), as (pattern, replacement) pairs.
const SPECIAL_RULES: [(&str, &str); 41] = [
    // jyeo (표준 발음법 5항 다만 1): 져, 쪄, 쳐 → 저, 쩌, 처.
    ("([ᄌᄍᄎ])ᅧ", "${1}ᅥ"),
    // consonant_ui (5항 다만 3): ㅢ after a consonant → ㅣ.
    ("([ᄀᄁᄂᄃᄄᄅᄆᄇᄈᄉᄊᄌᄍᄎᄏᄐᄑᄒ])ᅴ", "${1}ᅵ"),
    // jamo (16항): names of letters before a vowel (디귿이 → 디그시, 키읔이 → 키으기), written
    // upstream with the classes [그] = {ᄀ, ᅳ} and [으] = {ᄋ, ᅳ}.
    ("([\u{1100}\u{1173}])\u{11AE}\u{110B}", "${1}\u{1109}"),
    ("([\u{110B}\u{1173}])[\u{11BD}\u{11BE}\u{11C0}\u{11C2}]\u{110B}", "${1}\u{1109}"),
    ("([\u{110B}\u{1173}])[\u{11BF}]\u{110B}", "${1}\u{1100}"),
    ("([\u{110B}\u{1173}])[\u{11C1}]\u{110B}", "${1}\u{1107}"),
    // rieulgiyeok (11항 다만): verb-stem ㄺ before ㄱ → ㄹ + ㄲ.
    ("ᆰ/P([ᄀᄁ])", "ᆯᄁ"),
    // rieulbieub (25항): verb-stem ㄼ, ㄾ tense the next ㄱ, ㄷ, ㅅ, ㅈ.
    ("([ᆲᆴ])/Pᄀ", "${1}ᄁ"),
    ("([ᆲᆴ])/Pᄃ", "${1}ᄄ"),
    ("([ᆲᆴ])/Pᄉ", "${1}ᄊ"),
    ("([ᆲᆴ])/Pᄌ", "${1}ᄍ"),
    // verb_nieun (24항): verb-stem ㄴ(ㄵ), ㅁ(ㄻ) tense the next ㄱ, ㄷ, ㅅ, ㅈ.
    ("([ᆫᆷ])/Pᄀ", "${1}ᄁ"),
    ("([ᆫᆷ])/Pᄃ", "${1}ᄄ"),
    ("([ᆫᆷ])/Pᄉ", "${1}ᄊ"),
    ("([ᆫᆷ])/Pᄌ", "${1}ᄍ"),
    ("ᆬ/Pᄀ", "ᆫᄁ"),
    ("ᆬ/Pᄃ", "ᆫᄄ"),
    ("ᆬ/Pᄉ", "ᆫᄊ"),
    ("ᆬ/Pᄌ", "ᆫᄍ"),
    ("ᆱ/Pᄀ", "ᆷᄁ"),
    ("ᆱ/Pᄃ", "ᆷᄄ"),
    ("ᆱ/Pᄉ", "ᆷᄊ"),
    ("ᆱ/Pᄌ", "ᆷᄍ"),
    // balb (10항 다만): 밟 before a consonant or the end → 밥; 넓 in 넓죽, 넓둥 → 넙.
    ("(\u{1107}\u{1161})\u{11B2}(($|[^\u{110B}\u{1112}]))", "${1}\u{11B8}${2}"),
    ("(\u{1102}\u{1165})\u{11B2}([\u{110C}\u{110D}]\u{116E}|[\u{1103}\u{1104}]\u{116E})", "${1}\u{11B8}${2}"),
    // palatalize (17항): ㄷ, ㅌ(ㄾ) + 이/여 → 지/져, 치/쳐; ㄷ + 히 → 치.
    ("ᆮᄋ([ᅵᅧ])", "ᄌ${1}"),
    ("ᇀᄋ([ᅵᅧ])", "ᄎ${1}"),
    ("ᆴᄋ([ᅵᅧ])", "ᆯᄎ${1}"),
    ("ᆮᄒ([ᅵ])", "ᄎ${1}"),
    // modifying_rieul (27항): after the adnominal ending -(으)ㄹ, the next word's ㄱ, ㄷ, ㅂ, ㅅ, ㅈ
    // is tensed.
    ("ᆯ/E ᄀ", "ᆯ ᄁ"),
    ("ᆯ/E ᄃ", "ᆯ ᄄ"),
    ("ᆯ/E ᄇ", "ᆯ ᄈ"),
    ("ᆯ/E ᄉ", "ᆯ ᄊ"),
    ("ᆯ/E ᄌ", "ᆯ ᄍ"),
    // … and inside endings starting with -ㄹ: -ㄹ걸, -ㄹ밖에, -ㄹ세라, -ㄹ수록, -ㄹ지라도, -ㄹ지언정, -ㄹ진대.
    ("\u{11AF}\u{1100}\u{1165}\u{11AF}", "\u{11AF}\u{1101}\u{1165}\u{11AF}"),
    ("\u{11AF}\u{1107}\u{1161}\u{11A9}\u{110B}\u{1166}", "\u{11AF}\u{1108}\u{1161}\u{1101}\u{1166}"),
    ("\u{11AF}\u{1109}\u{1166}\u{1105}\u{1161}", "\u{11AF}\u{110A}\u{1166}\u{1105}\u{1161}"),
    ("\u{11AF}\u{1109}\u{116E}\u{1105}\u{1169}\u{11A8}", "\u{11AF}\u{110A}\u{116E}\u{1105}\u{1169}\u{11A8}"),
    (
        "\u{11AF}\u{110C}\u{1175}\u{1105}\u{1161}\u{1103}\u{1169}",
        "\u{11AF}\u{110D}\u{1175}\u{1105}\u{1161}\u{1103}\u{1169}",
    ),
    (
        "\u{11AF}\u{110C}\u{1175}\u{110B}\u{1165}\u{11AB}\u{110C}\u{1165}\u{11BC}",
        "\u{11AF}\u{110D}\u{1175}\u{110B}\u{1165}\u{11AB}\u{110C}\u{1165}\u{11BC}",
    ),
    ("\u{11AF}\u{110C}\u{1175}\u{11AB}\u{1103}\u{1162}", "\u{11AF}\u{110D}\u{1175}\u{11AB}\u{1103}\u{1162}"),
];

/// The annotation marks, removed after the special rules (upstream `re.sub("/[PJEB]", "", inp)`).
const MARKS: &str = "/[PJEB]";

/// `regular.py` `link1`, `link2` and `link4` (13항, 14항, 12항 4), applied as plain substring
/// replacements in this order; `link3` (15항) is commented out upstream.
const LINK_PAIRS: [(&str, &str); 26] = [
    ("ᆨᄋ", "ᄀ"),
    ("ᆩᄋ", "ᄁ"),
    ("ᆫᄋ", "ᄂ"),
    ("ᆮᄋ", "ᄃ"),
    ("ᆯᄋ", "ᄅ"),
    ("ᆷᄋ", "ᄆ"),
    ("ᆸᄋ", "ᄇ"),
    ("ᆺᄋ", "ᄉ"),
    ("ᆻᄋ", "ᄊ"),
    ("ᆽᄋ", "ᄌ"),
    ("ᆾᄋ", "ᄎ"),
    ("ᆿᄋ", "ᄏ"),
    ("ᇀᄋ", "ᄐ"),
    ("ᇁᄋ", "ᄑ"),
    ("ᆪᄋ", "ᆨᄊ"),
    ("ᆬᄋ", "ᆫᄌ"),
    ("ᆰᄋ", "ᆯᄀ"),
    ("ᆱᄋ", "ᆯᄆ"),
    ("ᆲᄋ", "ᆯᄇ"),
    ("ᆳᄋ", "ᆯᄊ"),
    ("ᆴᄋ", "ᆯᄐ"),
    ("ᆵᄋ", "ᆯᄑ"),
    ("ᆹᄋ", "ᆸᄊ"),
    ("ᇂᄋ", "ᄋ"),
    ("ᆭᄋ", "ᄂ"),
    ("ᆶᄋ", "ᄅ"),
];

/// A compiled regex rewrite, applied to the whole text like Python's `re.sub`.
pub struct RegexRule {
    pattern: Regex,
    replacement: String,
}

impl RegexRule {
    /// Compiles one rule; `replacement` uses the `regex` crate's `${n}` syntax.
    pub fn new(pattern: &str, replacement: &str) -> Result<Self, String> {
        let pattern = Regex::new(pattern).map_err(|e| format!("rule {pattern:?}: {e}"))?;
        Ok(Self { pattern, replacement: replacement.to_string() })
    }

    /// Replaces every non-overlapping match, leftmost first.
    pub fn apply(&self, text: &str) -> String {
        self.pattern.replace_all(text, self.replacement.as_str()).into_owned()
    }
}

/// The special rules followed by the removal of the annotation marks.
pub fn special_rules() -> Result<Vec<RegexRule>, String> {
    SPECIAL_RULES
        .iter()
        .map(|&(pattern, replacement)| RegexRule::new(pattern, replacement))
        .chain(std::iter::once(RegexRule::new(MARKS, "")))
        .collect()
}

/// Applies the linking rules.
pub fn link(text: &str) -> String {
    LINK_PAIRS.iter().fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}
