//! Hangul syllable ⇄ jamo conversions, mirroring the `jamo` 0.4.1 package (`h2j`, `j2hcj`) and
//! g2pk2's `utils.compose`.

/// First precomposed syllable (가).
const SYLLABLE_FIRST: u32 = 0xAC00;
/// Last precomposed syllable (힣).
const SYLLABLE_LAST: u32 = 0xD7A3;
/// Syllables per leading consonant (21 vowels × 28 tail slots).
const SYLLABLES_PER_LEAD: u32 = 588;
/// Tail slots per vowel (27 tails + "no tail").
const TAIL_SLOTS: u32 = 28;
const LEAD_BASE: u32 = 0x1100;
const VOWEL_BASE: u32 = 0x1161;
/// One before the first tail (ᆨ), so that tail index 1 maps to U+11A8.
const TAIL_BASE: u32 = 0x11A7;

/// Conjoining jamo → Hangul Compatibility Jamo, exactly the pairs `jamo.j2hcj` changes (it matches
/// Unicode names, "HANGUL CHOSEONG X" → "HANGUL LETTER X"); conjoining jamo missing here have no
/// compatibility twin and are kept as they are.
const CONJOINING_TO_COMPAT: [(u32, u32); 126] = [
    (0x1100, 0x3131),
    (0x1101, 0x3132),
    (0x1102, 0x3134),
    (0x1103, 0x3137),
    (0x1104, 0x3138),
    (0x1105, 0x3139),
    (0x1106, 0x3141),
    (0x1107, 0x3142),
    (0x1108, 0x3143),
    (0x1109, 0x3145),
    (0x110A, 0x3146),
    (0x110B, 0x3147),
    (0x110C, 0x3148),
    (0x110D, 0x3149),
    (0x110E, 0x314A),
    (0x110F, 0x314B),
    (0x1110, 0x314C),
    (0x1111, 0x314D),
    (0x1112, 0x314E),
    (0x1114, 0x3165),
    (0x1115, 0x3166),
    (0x111A, 0x3140),
    (0x111C, 0x316E),
    (0x111D, 0x3171),
    (0x111E, 0x3172),
    (0x1120, 0x3173),
    (0x1121, 0x3144),
    (0x1122, 0x3174),
    (0x1123, 0x3175),
    (0x1127, 0x3176),
    (0x1129, 0x3177),
    (0x112B, 0x3178),
    (0x112C, 0x3179),
    (0x112D, 0x317A),
    (0x112E, 0x317B),
    (0x112F, 0x317C),
    (0x1132, 0x317D),
    (0x1136, 0x317E),
    (0x1140, 0x317F),
    (0x1147, 0x3180),
    (0x114C, 0x3181),
    (0x1157, 0x3184),
    (0x1158, 0x3185),
    (0x1159, 0x3186),
    (0x115B, 0x3167),
    (0x115C, 0x3135),
    (0x115D, 0x3136),
    (0x1161, 0x314F),
    (0x1162, 0x3150),
    (0x1163, 0x3151),
    (0x1164, 0x3152),
    (0x1165, 0x3153),
    (0x1166, 0x3154),
    (0x1167, 0x3155),
    (0x1168, 0x3156),
    (0x1169, 0x3157),
    (0x116A, 0x3158),
    (0x116B, 0x3159),
    (0x116C, 0x315A),
    (0x116D, 0x315B),
    (0x116E, 0x315C),
    (0x116F, 0x315D),
    (0x1170, 0x315E),
    (0x1171, 0x315F),
    (0x1172, 0x3160),
    (0x1173, 0x3161),
    (0x1174, 0x3162),
    (0x1175, 0x3163),
    (0x1184, 0x3187),
    (0x1185, 0x3188),
    (0x1188, 0x3189),
    (0x1191, 0x318A),
    (0x1192, 0x318B),
    (0x1194, 0x318C),
    (0x119E, 0x318D),
    (0x11A8, 0x3131),
    (0x11A9, 0x3132),
    (0x11AA, 0x3133),
    (0x11AB, 0x3134),
    (0x11AC, 0x3135),
    (0x11AD, 0x3136),
    (0x11AE, 0x3137),
    (0x11AF, 0x3139),
    (0x11B0, 0x313A),
    (0x11B1, 0x313B),
    (0x11B2, 0x313C),
    (0x11B3, 0x313D),
    (0x11B4, 0x313E),
    (0x11B5, 0x313F),
    (0x11B6, 0x3140),
    (0x11B7, 0x3141),
    (0x11B8, 0x3142),
    (0x11B9, 0x3144),
    (0x11BA, 0x3145),
    (0x11BB, 0x3146),
    (0x11BC, 0x3147),
    (0x11BD, 0x3148),
    (0x11BE, 0x314A),
    (0x11BF, 0x314B),
    (0x11C0, 0x314C),
    (0x11C1, 0x314D),
    (0x11C2, 0x314E),
    (0x11C6, 0x3166),
    (0x11C7, 0x3167),
    (0x11C8, 0x3168),
    (0x11CC, 0x3169),
    (0x11CE, 0x316A),
    (0x11D3, 0x316B),
    (0x11D7, 0x316C),
    (0x11D9, 0x316D),
    (0x11DC, 0x316E),
    (0x11DD, 0x316F),
    (0x11DF, 0x3170),
    (0x11E2, 0x3171),
    (0x11E6, 0x3178),
    (0x11E7, 0x317A),
    (0x11E8, 0x317C),
    (0x11EA, 0x317D),
    (0x11EB, 0x317F),
    (0x11EE, 0x3180),
    (0x11F0, 0x3181),
    (0x11F1, 0x3182),
    (0x11F2, 0x3183),
    (0x11F4, 0x3184),
    (0x11F9, 0x3186),
    (0x11FF, 0x3165),
];

/// Whether `ch` is a modern leading consonant (ᄀ–ᄒ), the onsets g2pk2's regexes work with.
pub fn is_modern_lead(ch: char) -> bool {
    ('\u{1100}'..='\u{1112}').contains(&ch)
}

/// Whether `ch` is a modern vowel jamo (ᅡ–ᅵ).
pub fn is_modern_vowel(ch: char) -> bool {
    ('\u{1161}'..='\u{1175}').contains(&ch)
}

/// Lead, vowel and optional tail jamo of a precomposed syllable; `None` for any other character.
pub fn decompose_syllable(ch: char) -> Option<(char, char, Option<char>)> {
    let code = u32::from(ch);
    if !(SYLLABLE_FIRST..=SYLLABLE_LAST).contains(&code) {
        return None;
    }
    let index = code - SYLLABLE_FIRST;
    let lead = char::from_u32(LEAD_BASE + index / SYLLABLES_PER_LEAD)?;
    let vowel = char::from_u32(VOWEL_BASE + (index % SYLLABLES_PER_LEAD) / TAIL_SLOTS)?;
    let tail = match index % TAIL_SLOTS {
        0 => None,
        t => Some(char::from_u32(TAIL_BASE + t)?),
    };
    Some((lead, vowel, tail))
}

/// Splits every precomposed syllable into conjoining jamo (U+11xx); mirrors `jamo.h2j`.
pub fn decompose(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for ch in text.chars() {
        match decompose_syllable(ch) {
            Some((lead, vowel, tail)) => {
                out.push(lead);
                out.push(vowel);
                out.extend(tail);
            }
            None => out.push(ch),
        }
    }
    out
}

/// Conjoining jamo → compatibility jamo (U+31xx); mirrors `jamo.j2hcj`. Upstream raises on the
/// extended jamo blocks (U+A960…, U+D7B0…) that have no name table; those are kept unchanged here.
pub fn to_compatibility(text: &str) -> String {
    text.chars()
        .map(|ch| {
            CONJOINING_TO_COMPAT
                .binary_search_by_key(&u32::from(ch), |&(from, _)| from)
                .ok()
                .and_then(|i| char::from_u32(CONJOINING_TO_COMPAT[i].1))
                .unwrap_or(ch)
        })
        .collect()
}

/// Inserts the silent onset ᄋ before every vowel jamo that does not follow a leading consonant,
/// the first step of g2pk2's `compose`. Like upstream's regex, a vowel whose predecessor was itself
/// consumed by the previous insertion (two bare vowels in a row) is left without an onset.
pub fn insert_silent_onsets(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    // Whether the previous character may serve as the `(^|[^ᄀ-ᄒ])` part of a new match.
    let mut prev_free_non_lead = true;
    for ch in text.chars() {
        if is_modern_vowel(ch) && prev_free_non_lead {
            out.push('\u{110B}');
            out.push(ch);
            prev_free_non_lead = false;
        } else {
            out.push(ch);
            prev_free_non_lead = !is_modern_lead(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposes_and_maps_to_compatibility_jamo() {
        assert_eq!(decompose("값a"), "\u{1100}\u{1161}\u{11B9}a");
        assert_eq!(to_compatibility(&decompose("값")), "ㄱㅏㅄ");
        assert_eq!(to_compatibility("\u{A960}ㅋ"), "\u{A960}ㅋ");
    }

    #[test]
    fn silent_onsets_follow_upstream_regex_quirks() {
        // A vowel at the start gets ᄋ; the second of two bare vowels does not.
        assert_eq!(insert_silent_onsets("\u{1161}\u{1161}"), "\u{110B}\u{1161}\u{1161}");
        // After a syllable, a bare vowel is preceded by a non-lead and gets ᄋ.
        assert_eq!(insert_silent_onsets("\u{1100}\u{1161}\u{1161}"), "\u{1100}\u{1161}\u{110B}\u{1161}");
        assert_eq!(insert_silent_onsets(" \u{1161}"), " \u{110B}\u{1161}");
    }
}
