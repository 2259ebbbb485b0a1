//! Jyutping syllable → GPT-SoVITS phones, mirroring upstream
//! `text/cantonese.py::jyuping_to_initials_finals_tones`.

/// Upstream's `INITIALS`, in its order. The split takes the FIRST entry the syllable starts with,
/// not the longest, which yields upstream's quirks: `aai3` → `aa` + `i3`, `ng5` → `ng` + `g5`,
/// `ung1` → `ung` + `g1`; `aai`, `ts`, `dz`, `sp`… can never match before a shorter entry.
const INITIALS: [&str; 47] = [
    "aa", "aai", "aak", "aap", "aat", "aau", "ai", "au", "ap", "at", "ak", "a", "p", "b", "e", "ts", "t", "dz", "d",
    "kw", "k", "gw", "g", "f", "h", "l", "m", "ng", "n", "s", "y", "w", "c", "z", "j", "ong", "on", "ou", "oi", "ok",
    "o", "uk", "ung", "sp", "spl", "spn", "sil",
];

/// Marks Cantonese phones so they do not collide with Mandarin ones in the shared v2 table.
const CANTONESE_PREFIX: &str = "Y";

/// Splits one syllable text (tone digit last, e.g. `ngaam1`) into `[initial, final+tone]`, both
/// prefixed with `Y`. The text may be a multi-syllable reading such as `saa1 aa6`, which upstream
/// also treats as one syllable (`Ys`, `Yaa1 aa6`). Returns `None` when no initial matches
/// (`ik1`, `it6`): upstream then emits nothing for the syllable.
///
/// Upstream's separate `nga…` branch produces exactly what the general rule does (`ng` is the first
/// matching initial and the rest is non-empty), so it needs no code of its own. Neither part can
/// equal a punctuation symbol, so the `Y` prefix is unconditional.
pub(super) fn syllable_phones(syllable: &str) -> Option<[String; 2]> {
    let (body, tone) = match syllable.chars().last().and_then(|c| c.to_digit(10)) {
        Some(tone) => (syllable.strip_suffix(|c: char| c.is_ascii_digit()).unwrap_or(syllable), tone),
        None => (syllable, 0),
    };
    let (initial, rest) =
        INITIALS.iter().find_map(|initial| body.strip_prefix(initial).map(|rest| (*initial, rest)))?;
    // A syllable that is all initial (`aa3`, `m4`, `ng5`) takes the initial's last letter (all
    // initials are ASCII) as its final.
    let final_part = if rest.is_empty() { initial.split_at(initial.len() - 1).1 } else { rest };
    let final_phone = if tone == 0 {
        format!("{CANTONESE_PREFIX}{final_part}")
    } else {
        format!("{CANTONESE_PREFIX}{final_part}{tone}")
    };
    Some([format!("{CANTONESE_PREFIX}{initial}"), final_phone])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(syllable: &str) -> Option<[String; 2]> {
        syllable_phones(syllable)
    }

    fn phones(initial: &str, final_phone: &str) -> Option<[String; 2]> {
        Some([initial.to_string(), final_phone.to_string()])
    }

    #[test]
    fn first_match_not_longest() {
        assert_eq!(split("gwong2"), phones("Ygw", "Yong2"));
        assert_eq!(split("aai3"), phones("Yaa", "Yi3"));
        assert_eq!(split("aa3"), phones("Yaa", "Ya3"));
        assert_eq!(split("ung1"), phones("Yung", "Yg1"));
        assert_eq!(split("ong3"), phones("Yong", "Yg3"));
        assert_eq!(split("oi3"), phones("Yoi", "Yi3"));
        assert_eq!(split("uk1"), phones("Yuk", "Yk1"));
    }

    #[test]
    fn syllabic_nasals_and_nga() {
        assert_eq!(split("ng5"), phones("Yng", "Yg5"));
        assert_eq!(split("m4"), phones("Ym", "Ym4"));
        assert_eq!(split("ngaam1"), phones("Yng", "Yaam1"));
        assert_eq!(split("nga4"), phones("Yng", "Ya4"));
    }

    #[test]
    fn multi_syllable_reading_stays_one_unit() {
        assert_eq!(split("saa1 aa6"), phones("Ys", "Yaa1 aa6"));
    }

    #[test]
    fn unmatched_initial_and_missing_tone() {
        assert_eq!(split("ik1"), None);
        assert_eq!(split("it6"), None);
        assert_eq!(split("gaa"), phones("Yg", "Yaa"));
        assert_eq!(split(""), None);
    }
}
